//! `iec104-gateway demo`: everything in one process — an embedded MQTT broker on
//! 127.0.0.1:1883 (or a free port), simulated substations (the `iec104_sim` library with
//! `simulators/scenarios/substation-110kv.toml` and generated stations), the gateway with
//! `config/demo.toml`, and a live view of what flows.

mod broker;
mod stations;
pub mod view;

use std::time::Duration;

use crate::config;

const DEMO_TOML: &str = include_str!("../../../../config/demo.toml");

/// Runs the demo for `duration` seconds (or until Ctrl-C).
pub async fn run(duration: Option<f64>, mqtt_port: u16) -> Result<(), String> {
    let port = broker::pick_port(mqtt_port)?;
    broker::start(port)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if tokio::time::Instant::now() > deadline {
            return Err(format!(
                "the embedded broker did not listen on 127.0.0.1:{port}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut loaded = config::parse(DEMO_TOML, "config/demo.toml").map_err(|e| e.to_string())?;
    loaded.broker.port = port;
    let dir = std::env::temp_dir().join(format!("iec104-gateway-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    loaded.gateway.store_path = dir.join("queue.redb");
    let http = broker::pick_port(9104)?;
    loaded.gateway.http_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], http)));
    let (sim_stop, sim_stop_rx) = tokio::sync::watch::channel(false);
    let mut stations = Vec::new();
    let mut sims = Vec::new();
    for (infos, fut) in stations::start(sim_stop_rx).await? {
        stations.extend(infos);
        sims.push(tokio::spawn(fut));
    }
    for rtu in loaded.rtus.iter_mut() {
        let ca = rtu.common_addresses.first().copied().unwrap_or(0);
        let station = stations.iter().find(|s| s.ca == ca).ok_or_else(|| {
            format!(
                "no simulated station with common address {ca} for rtu {}",
                rtu.name
            )
        })?;
        rtu.addresses = vec![station.addr.to_string()];
    }
    let prefix = loaded.mqtt.topic_prefix.clone();
    say!("iec104-gateway demo");
    say!("  MQTT broker (embedded): 127.0.0.1:{port}");
    for r in &loaded.rtus {
        let sim = stations
            .iter()
            .find(|s| Some(&s.ca) == r.common_addresses.first());
        say!(
            "  rtu {:<8} <- simulated station {:?} (iec104_sim) at {}, common address {:?}",
            r.name,
            sim.map(|s| s.name.as_str()).unwrap_or("?"),
            r.addresses.join(","),
            r.common_addresses
        );
    }
    say!("  metrics: http://127.0.0.1:{http}/metrics");
    say!("Watch from outside (the embedded broker wants a client id: -i):");
    say!("  mosquitto_sub -i watch -h 127.0.0.1 -p {port} -t '{prefix}/#' -v");
    say!("Open breaker Q0 of line Süd in the 110 kV substation (select-before-operate):");
    say!("  mosquitto_pub -i operator -h 127.0.0.1 -p {port} -t '{prefix}/uw-nord/line_sued_q0_cmd/command' -m '{{\"type\":\"C_DC_NA_1\",\"value\":\"off\",\"select\":true,\"id\":\"op-1\"}}'");
    say!("");
    let view = tokio::spawn(view::run(port, prefix));
    let stop: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> = match duration {
        Some(s) if s.is_finite() && s > 0.0 => Box::pin(async move {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs_f64(s)) => {}
                _ = crate::app::signals() => {}
            }
        }),
        _ => Box::pin(crate::app::signals()),
    };
    let result = crate::app::run(loaded, Some(stop)).await;
    let _ = sim_stop.send(true);
    for s in sims {
        let _ = tokio::time::timeout(Duration::from_secs(3), s).await;
    }
    view.abort();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

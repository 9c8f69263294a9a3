//! `iec104-gateway demo`: everything in one process — an embedded MQTT broker on
//! 127.0.0.1:1883 (or a free port), simulated substations (the `iec104_sim` library with
//! `simulators/scenarios/substation-110kv.toml` and generated stations), the gateway with
//! `config/demo.toml`, and a live view of what flows.

mod broker;
mod front;
mod stations;
pub mod view;

use std::time::Duration;

use crate::config;

const DEMO_TOML: &str = include_str!("../../../../config/demo.toml");

/// Runs the demo for `duration` seconds (or until Ctrl-C).
pub async fn run(duration: Option<f64>, mqtt_port: u16) -> Result<(), String> {
    let mqtt = broker::bind_front(mqtt_port).await?;
    let port = mqtt.local_addr().map_err(|e| e.to_string())?.port();
    let (v4, v5) = broker::start()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for internal in [v4, v5] {
        while tokio::net::TcpStream::connect(internal).await.is_err() {
            if tokio::time::Instant::now() > deadline {
                return Err(format!("the embedded broker did not listen on {internal}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let front = tokio::spawn(front::run(mqtt, v4, v5));
    let mut loaded = config::parse(DEMO_TOML, "config/demo.toml").map_err(|e| e.to_string())?;
    loaded.broker.port = port;
    let dir = std::env::temp_dir().join(format!("iec104-gateway-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    loaded.gateway.store_path = dir.join("queue.redb");
    let (sim_stop, sim_stop_rx) = tokio::sync::watch::channel(false);
    let mut stations = Vec::new();
    let mut sims = Vec::new();
    // One station (CA 3) over IEC 62351-3 TLS, with a test PKI made now (rcgen).
    let pki = iec104::tls::testing::TestPki::generate(&dir)
        .map_err(|e| format!("demo certificates in {}: {e}", dir.display()))?;
    let station_tls = iec104_sim::StationTls {
        cert_file: pki.server.cert.clone(),
        key_file: pki.server.key.clone(),
        ca_file: Some(pki.ca.clone()),
        allowed_certs: Vec::new(),
        crl_file: Some(pki.crl.clone()),
    };
    for (infos, fut) in stations::start(sim_stop_rx, Some(station_tls)).await? {
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
        if ca == stations::TLS_CA {
            rtu.tls = Some(pki.client_config());
        }
    }
    let prefix = loaded.mqtt.topic_prefix.clone();
    say!("iec104-gateway demo");
    say!("  MQTT broker (embedded): 127.0.0.1:{port}");
    for r in &loaded.rtus {
        let sim = stations
            .iter()
            .find(|s| Some(&s.ca) == r.common_addresses.first());
        say!(
            "  rtu {:<8} <- simulated station {:?} (iec104_sim) at {}, common address {:?}{}",
            r.name,
            sim.map(|s| s.name.as_str()).unwrap_or("?"),
            r.addresses.join(","),
            r.common_addresses,
            if r.tls.is_some() {
                ", over IEC 62351-3 TLS (demo certificates)"
            } else {
                ""
            }
        );
    }
    say!("Watch from outside (MQTT 3.1.1 or 5; the client id may be left out):");
    say!("  mosquitto_sub -i watch -h 127.0.0.1 -p {port} -t '{prefix}/#' -v");
    say!("Open breaker Q0 of line Süd in the 110 kV substation (select-before-operate):");
    say!("  mosquitto_pub -i operator -h 127.0.0.1 -p {port} -t '{prefix}/uw-nord/line_sued_q0_cmd/command' -m '{{\"type\":\"C_DC_NA_1\",\"value\":\"off\",\"select\":true,\"id\":\"op-1\"}}'");
    let gateway = start_gateway(loaded).await?;
    if let Some(http) = gateway.http_addr() {
        say!("Status page (live) and metrics:");
        say!("  status page: http://{http}/");
        say!("  metrics: http://{http}/metrics");
    }
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
    gateway.run_until(stop).await;
    let result = Ok(());
    let _ = sim_stop.send(true);
    for s in sims {
        let _ = tokio::time::timeout(Duration::from_secs(3), s).await;
    }
    view.abort();
    front.abort();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Starts the gateway with its HTTP endpoint on 127.0.0.1:9104, or on a free port when 9104
/// is taken.
async fn start_gateway(mut loaded: config::Loaded) -> Result<crate::app::Gateway, String> {
    let mut last = String::new();
    for port in [9104, 0] {
        loaded.gateway.http_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
        match crate::app::start(loaded.clone()).await {
            Ok(g) => return Ok(g),
            Err(e @ crate::app::StartError::HttpBind { .. }) => last = e.to_string(),
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(last)
}

//! `iec104-gateway demo`: everything in one process — an embedded MQTT broker on
//! 127.0.0.1:1883 (or a free port), simulated substations, the gateway with
//! `config/demo.toml`, and a live view of what flows.

mod broker;
mod stations;
pub mod view;

use std::time::Duration;

use toml::Spanned;

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
    loaded.config.gateway.store_path = Some(dir.join("queue.redb").display().to_string());
    let http = broker::pick_port(9104)?;
    loaded.config.gateway.http_listen = Some(Spanned::new(0..0, format!("127.0.0.1:{http}")));
    for (i, rtu) in loaded.rtus.iter_mut().enumerate() {
        let ca = rtu
            .common_addresses
            .first()
            .copied()
            .unwrap_or(i as u16 + 1);
        let (addr, fut) = stations::station(ca).await?;
        tokio::spawn(fut);
        rtu.addresses = vec![addr.to_string()];
    }
    let prefix = loaded.config.mqtt.topic_prefix.get_ref().clone();
    println!("iec104-gateway demo");
    println!("  MQTT broker (embedded): 127.0.0.1:{port}");
    for r in &loaded.rtus {
        println!(
            "  simulated substation {:<6} at {} (common address {:?})",
            r.name,
            r.addresses.join(","),
            r.common_addresses
        );
    }
    println!("  metrics: http://127.0.0.1:{http}/metrics");
    println!("Watch from outside (the embedded broker wants a client id: -i):");
    println!("  mosquitto_sub -i watch -h 127.0.0.1 -p {port} -t '{prefix}/#' -v");
    println!("Operate the breaker of 'north' (select-before-operate):");
    println!("  mosquitto_pub -i operator -h 127.0.0.1 -p {port} -t '{prefix}/north/breaker_q1/command' -m '{{\"type\":\"C_DC_NA_1\",\"value\":\"off\",\"select\":true,\"id\":\"op-1\"}}'");
    println!();
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
    view.abort();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

//! The demo's live view: a subscriber on `{prefix}/#` printing what flows, readably and
//! throttled, with a rate summary every 5 seconds.

use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;

/// One line for a message.
pub fn line(topic: &str, payload: &[u8]) -> String {
    let v: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    let now = chrono::Local::now().format("%H:%M:%S%.3f");
    if topic.ends_with("/status") {
        return format!(
            "{now}  STATUS   {:<28} {} {}",
            topic,
            v["state"].as_str().unwrap_or("?"),
            v["reason"].as_str().unwrap_or("")
        );
    }
    if topic.ends_with("/result") {
        return format!(
            "{now}  RESULT   {:<28} id={} {} {}",
            topic,
            v["id"],
            v["status"].as_str().unwrap_or("?"),
            v["error"].as_str().unwrap_or("")
        );
    }
    if topic.ends_with("/command") {
        return format!(
            "{now}  COMMAND  {:<28} {}",
            topic,
            String::from_utf8_lossy(payload)
        );
    }
    if topic.contains("/_gateway/") {
        return format!(
            "{now}  GATEWAY  {:<28} {}",
            topic,
            v["status"].as_str().unwrap_or("?")
        );
    }
    let quality = match &v["quality"] {
        Value::Array(a) if !a.is_empty() => format!(" quality={}", Value::Array(a.clone())),
        _ => String::new(),
    };
    format!(
        "{now}  DATA     {:<28} {:<10} {:<8} {:>12}{quality}",
        topic,
        v["type"].as_str().unwrap_or("?"),
        v["cot"].as_str().unwrap_or("?"),
        v["value"].to_string()
    )
}

/// Subscribes and prints until the future is dropped.
pub async fn run(port: u16, prefix: String) {
    let mut o = MqttOptions::new(
        format!("demo-view-{}", std::process::id()),
        "127.0.0.1",
        port,
    );
    o.set_keep_alive(Duration::from_secs(30));
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut el) = AsyncClient::new(o, 16);
    let mut window = Instant::now();
    let mut shown = 0u32;
    let mut count = 0u64;
    let mut summary = Instant::now();
    loop {
        match el.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                let _ = client
                    .subscribe(format!("{prefix}/#"), QoS::AtMostOnce)
                    .await;
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                count += 1;
                if window.elapsed() >= Duration::from_secs(1) {
                    window = Instant::now();
                    shown = 0;
                }
                let important = p.topic.ends_with("/status")
                    || p.topic.ends_with("/result")
                    || p.topic.ends_with("/command")
                    || p.topic.contains("/_gateway/");
                if important || shown < 15 {
                    shown += 1;
                    say!("{}", line(&p.topic, &p.payload));
                }
                if summary.elapsed() >= Duration::from_secs(5) {
                    say!(
                        "--- {count} messages in the last {:.0} s (lines are throttled to 15/s) ---",
                        summary.elapsed().as_secs_f64()
                    );
                    summary = Instant::now();
                    count = 0;
                }
            }
            Ok(_) => {}
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

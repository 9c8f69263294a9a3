//! The reference: a bare rumqttc publisher loop sending the gateway's own payloads with the
//! same QoS and in-flight window to the same broker, as fast as the broker acknowledges.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

/// Publishes `samples` round-robin (topics under `bare/`) for `duration`; returns the number
/// of messages the broker acknowledged (QoS 1) or sent (QoS 0) and the time taken.
pub async fn run(
    port: u16,
    samples: &[(String, Vec<u8>)],
    qos1: bool,
    inflight: u16,
    duration: Duration,
) -> Result<(u64, Duration), String> {
    if samples.is_empty() {
        return Err("no gateway payloads to replay".into());
    }
    let mut o = MqttOptions::new("loadbench-bare", "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_inflight(inflight);
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut el) = AsyncClient::new(o, 1000);
    // The same socket setting as the gateway's client (no Nagle delay).
    let mut net = el.network_options();
    net.set_tcp_nodelay(true);
    el.set_network_options(net);
    let done = Arc::new(AtomicU64::new(0));
    let d = done.clone();
    let poller = tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) if qos1 => {
                    d.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Publish(_))) if !qos1 => {
                    d.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("bare publisher: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
    let topics: Vec<(String, Vec<u8>)> = samples
        .iter()
        .map(|(t, p)| {
            (
                format!("bare/{}", t.strip_prefix("gw/").unwrap_or(t)),
                p.clone(),
            )
        })
        .collect();
    let qos = if qos1 {
        QoS::AtLeastOnce
    } else {
        QoS::AtMostOnce
    };
    let start = Instant::now();
    let end = start + duration;
    let mut i = 0usize;
    while Instant::now() < end {
        if let Some((t, p)) = topics.get(i % topics.len()) {
            let publish = client.publish(t.clone(), qos, false, p.clone());
            if tokio::time::timeout_at(end.into(), publish).await.is_err() {
                break;
            }
        }
        i += 1;
    }
    let elapsed = start.elapsed();
    let count = done.load(Ordering::Relaxed);
    poller.abort();
    Ok((count, elapsed))
}

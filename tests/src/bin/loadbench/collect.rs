//! The measuring subscriber: a rumqttc client on `{gw,bare}/#` that counts per topic, keeps
//! the distinct events of the measurement window and their latency (receive time − source
//! time tag), and notes when each RTU's initial interrogation has fully arrived.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;

/// What the subscriber has seen so far.
#[derive(Default)]
pub struct Stats {
    /// Source-time window start (ms since the epoch): events tagged earlier are ignored.
    pub window_start_ms: Option<i64>,
    /// Source-time window end (ms since the epoch): events tagged later are ignored.
    pub window_end_ms: Option<i64>,
    /// Distinct events (topic, time tag, value) of the window.
    pub events: HashSet<String>,
    /// Window events received more than once (at-least-once redelivery).
    pub duplicates: u64,
    /// Latency of each window event, ms.
    pub latencies_ms: Vec<i64>,
    /// Of which: source time tag → the gateway's `received` field (station, link, gateway
    /// receive path), ms.
    pub to_gateway_ms: Vec<i64>,
    /// And: the gateway's `received` field → subscriber (gateway, broker, subscriber), ms.
    pub from_gateway_ms: Vec<i64>,
    /// Messages per topic.
    pub per_topic: HashMap<String, u64>,
    /// Gateway data messages received in total.
    pub gateway_messages: u64,
    /// Bare-publisher messages received in total.
    pub bare_messages: u64,
    /// Some gateway payloads (topic, payload) for the bare publisher to replay.
    pub samples: Vec<(String, Vec<u8>)>,
    /// Interrogated IOAs per RTU so far.
    gi_seen: HashMap<String, HashSet<u64>>,
    /// When each RTU's interrogation answers were all in (since `started`).
    pub gi_done: HashMap<String, Duration>,
    /// Monitored points per RTU (an interrogation is complete when this many arrived).
    pub gi_expected: usize,
}

/// The event key shared with the simulator's events log.
pub fn event_key(v: &Value) -> Option<String> {
    let time = v.get("time")?.as_str()?;
    Some(format!(
        "{}/{}|{}|{}",
        v.get("ca")?,
        v.get("ioa")?,
        time,
        v.get("value")?
    ))
}

/// Milliseconds since the epoch of an RFC 3339 time.
pub fn time_ms(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

impl Stats {
    fn take(&mut self, topic: &str, payload: &[u8], now_ms: i64, since_start: Duration) {
        *self.per_topic.entry(topic.to_owned()).or_default() += 1;
        if topic.starts_with("bare/") {
            self.bare_messages += 1;
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(payload) else {
            return;
        };
        if v.get("ioa").is_none() {
            return; // status or presence
        }
        self.gateway_messages += 1;
        if self.samples.len() < 1000 && v.get("time").is_some() {
            self.samples.push((topic.to_owned(), payload.to_vec()));
        }
        if v.get("cot").and_then(Value::as_str) == Some("inrogen") {
            let rtu = v
                .get("rtu")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned();
            let ioa = v.get("ioa").and_then(Value::as_u64).unwrap_or(0);
            let seen = self.gi_seen.entry(rtu.clone()).or_default();
            seen.insert(ioa);
            if seen.len() >= self.gi_expected && !self.gi_done.contains_key(&rtu) {
                self.gi_done.insert(rtu, since_start);
            }
            return;
        }
        let (Some(start), Some(key), Some(t)) = (
            self.window_start_ms,
            event_key(&v),
            v.get("time").and_then(Value::as_str).and_then(time_ms),
        ) else {
            return;
        };
        if t < start || self.window_end_ms.is_some_and(|end| t > end) {
            return;
        }
        if self.events.insert(key) {
            self.latencies_ms.push(now_ms - t);
            if let Some(r) = v.get("received").and_then(Value::as_str).and_then(time_ms) {
                self.to_gateway_ms.push(r - t);
                self.from_gateway_ms.push(now_ms - r);
            }
        } else {
            self.duplicates += 1;
        }
    }
}

/// Connects to 127.0.0.1:`port`, subscribes to `gw/#` and `bare/#` with QoS 1 and collects
/// into the returned stats until the task is aborted. Returns once subscribed.
pub async fn start(
    port: u16,
    gi_expected: usize,
    started: Instant,
) -> Result<(Arc<Mutex<Stats>>, tokio::task::JoinHandle<()>), String> {
    let stats = Arc::new(Mutex::new(Stats {
        gi_expected,
        ..Stats::default()
    }));
    let mut o = MqttOptions::new("loadbench-sub", "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut el) = AsyncClient::new(o, 100);
    // The same socket setting as the gateway's client (no Nagle delay).
    let mut net = el.network_options();
    net.set_tcp_nodelay(true);
    el.set_network_options(net);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
    let s = stats.clone();
    let task = tokio::spawn(async move {
        let mut ready = Some(ready_tx);
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = client.subscribe("gw/#", QoS::AtLeastOnce).await;
                    let _ = client.subscribe("bare/#", QoS::AtLeastOnce).await;
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let now_ms = chrono::Utc::now().timestamp_millis();
                    let mut st = s.lock().unwrap_or_else(|e| e.into_inner());
                    st.take(&p.topic, &p.payload, now_ms, started.elapsed());
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("subscriber: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), ready_rx)
        .await
        .map_err(|_| "the subscriber was not subscribed within 10 s".to_string())?
        .map_err(|_| "the subscriber task ended".to_string())?;
    Ok((stats, task))
}

/// Percentile `p` (0..=100) of sorted values.
pub fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted.get(rank.min(sorted.len() - 1)).copied()
}

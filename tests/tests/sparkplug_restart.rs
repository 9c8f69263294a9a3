//! The Sparkplug history survives a gateway restart: a primary host is configured but never
//! online, so the edge node publishes no birth and no data and holds every event; the gateway
//! (a process) is stopped and started again on the same store path while the simulator keeps
//! producing events; then the host comes online (STATE). The host sees NBIRTH, DBIRTH, then
//! DDATA with `is_historical = true` carrying every event the station logged before the
//! host came online, from both runs (simulator events log as ground truth). Every payload is
//! decoded by Eclipse Tahu's JavaScript codec (`crates/sparkplug/tests/tahu`).
//!
//! IEC104_INTEROP=require: a missing mosquitto, node or npm package fails the test;
//! otherwise it is skipped with the reason printed.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use iec104_e2e::broker::{self, Broker};
use iec104_e2e::cluster::sim::Sim;
use iec104_e2e::gateway::GatewayProcess;
use iec104_e2e::raw_host;
use iec104_e2e::scratch;
use iec104_e2e::sparkplug_peers::{tahu_available, tahu_decode};
use rumqttc::{AsyncClient, QoS};
use serde_json::Value;
use tokio::sync::mpsc;

/// Bound of every wait, so that a broken test ends instead of hanging (not a timing target).
const WAIT: Duration = Duration::from_secs(60);
const STATE: &str = "spBv1.0/STATE/scada";

/// Every message under `spBv1.0/#` and the JSON data topics `e2e/#`, in arrival order.
async fn host(port: u16) -> (AsyncClient, mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    raw_host::start(port, "spb-restart-host", &["spBv1.0/#", "e2e/#"], WAIT).await
}

/// Waits for `n` JSON data messages of spontaneous events (the gateway has them), keeping
/// every Sparkplug message that came meanwhile in `spb`; returns the oldest and newest time
/// tags (ms).
async fn json_events(
    rx: &mut mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    n: usize,
    spb: &mut Vec<(String, Vec<u8>)>,
) -> (u64, u64) {
    let mut seen = 0;
    let (mut oldest, mut newest) = (u64::MAX, 0);
    while seen < n {
        match tokio::time::timeout(WAIT, rx.recv()).await {
            Ok(Some((t, p))) if t.starts_with("spBv1.0/") => spb.push((t, p)),
            Ok(Some((t, p))) if t.starts_with("e2e/s1/1/") => {
                let v: Value = serde_json::from_slice(&p).unwrap_or_default();
                let time = v["time"]
                    .as_str()
                    .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
                if let (true, Some(time)) = (v["cot"] == "spont", time) {
                    seen += 1;
                    let ms = u64::try_from(time.timestamp_millis()).unwrap_or(0);
                    (oldest, newest) = (oldest.min(ms), newest.max(ms));
                }
            }
            Ok(Some(_)) => {}
            other => panic!("waiting for JSON events: {other:?}"),
        }
    }
    (oldest, newest)
}

/// (metric name, time tag ms) of the station's spontaneous events logged from `from` to
/// before `until`.
fn logged_between(log: &std::path::Path, from: u64, until: u64) -> Vec<(String, u64)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("outcome").is_none() && v["cot"] == "spont")
        .filter_map(|v| {
            let t = chrono::DateTime::parse_from_rfc3339(v["time"].as_str()?).ok()?;
            let ms = u64::try_from(t.timestamp_millis()).ok()?;
            Some((format!("{}/{}", v["ca"], v["ioa"]), ms))
        })
        .filter(|(_, ms)| (from..until).contains(ms))
        .collect()
}

fn now_ms() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or_default()
}

/// A protobufjs 64-bit number (written as a decimal string) or a plain number.
fn num(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

/// The edge node's messages (decoded by Tahu) until every `logged` event was seen as a
/// historical metric of a DDATA (bounded in count): the messages and the (metric name, time
/// tag) of every historical metric.
async fn follow_history(
    rx: &mut mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    rtu: &str,
    logged: &[(String, u64)],
) -> (Vec<(String, Vec<u8>)>, HashSet<(String, u64)>) {
    let dbirth_t = format!("spBv1.0/plant/DBIRTH/{rtu}/{rtu}");
    let ddata_t = format!("spBv1.0/plant/DDATA/{rtu}/{rtu}");
    let mut messages: Vec<(String, Vec<u8>)> = Vec::new();
    let mut names: HashMap<u64, String> = HashMap::new();
    let mut historical: HashSet<(String, u64)> = HashSet::new();
    for _ in 0..2000 {
        let (topic, payload) = match tokio::time::timeout(WAIT, rx.recv()).await {
            Ok(Some(m)) => m,
            other => panic!("waiting for the history: {other:?}"),
        };
        if !topic.starts_with("spBv1.0/plant/") {
            continue;
        }
        let decoded = tahu_decode(&[&payload]).remove(0);
        let metrics = decoded["raw"]["metrics"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if topic == dbirth_t {
            for m in &metrics {
                if let (Some(a), Some(n)) = (num(&m["alias"]), m["name"].as_str()) {
                    names.insert(a, n.to_owned());
                }
            }
        }
        if topic == ddata_t {
            for m in metrics.iter().filter(|m| m["isHistorical"] == true) {
                let name = num(&m["alias"]).and_then(|a| names.get(&a).cloned());
                let time = num(&m["timestamp"]);
                if let (Some(n), Some(t)) = (name, time) {
                    historical.insert((n, t));
                }
            }
        }
        messages.push((topic, payload));
        if logged.iter().all(|k| historical.contains(k)) {
            break;
        }
    }
    (messages, historical)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_events_survive_a_restart_and_follow_the_births_as_historical() {
    if !broker::available() || !tahu_available() {
        return;
    }
    let dir = scratch("spb-restart").into_kept();
    let broker = Broker::start(&dir).await;
    let sim = Sim::start(&dir, 1, 20.0).await;
    let st = &sim.stations[0];
    let (client, mut rx) = host(broker.port).await;
    let config = format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:{}\"\ntopic_prefix = \"e2e\"\n\n[gateway]\nnode = \"gw-r\"\nstore_path = \"{}\"\n\n[sparkplug]\ngroup_id = \"plant\"\nprimary_host_id = \"scada\"\n\n[[rtu]]\nname = \"{}\"\naddress = \"127.0.0.1:{}\"\ncommon_address = {}\n",
        broker.port,
        dir.join("queue.redb").display(),
        st.name,
        st.port,
        st.ca
    );
    let mut before_online = Vec::new();

    // First run: events reach the gateway (its JSON output shows them), none is published
    // as Sparkplug.
    let gateway = GatewayProcess::start(&dir, &config);
    // The ground truth is every event the station logged while the gateway received its
    // events: the simulator keeps none from before the first connection, and an event sent
    // while the gateway closes its connection is lost on the IEC 104 link (no Sparkplug
    // matter). So each run's window is bounded by the time tags of the first and newest
    // events the gateway published as JSON (exclusive, since several points share a tick).
    let (first1, newest1) = json_events(&mut rx, 40, &mut before_online).await;
    gateway.stop().await;
    let stopped_ms = now_ms();
    assert!(
        dir.join("queue.sparkplug.redb").exists(),
        "the history file beside the queue"
    );

    // Second run on the same store path; still no host.
    let gateway = GatewayProcess::start(&dir, &config);
    let (first2, newest2) = json_events(&mut rx, 40, &mut before_online).await;
    // Events the gateway had a second before its newest JSON message were surely given to
    // the edge node before the STATE reaches it (later ones may come live, not historical).
    let held_until = newest2.saturating_sub(1000);
    let online_ms = now_ms();
    let state = format!("{{\"online\":true,\"timestamp\":{online_ms}}}");
    client
        .publish(STATE, QoS::AtLeastOnce, true, state.into_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for (t, _) in &before_online {
        assert!(
            !t.contains("BIRTH") && !t.contains("DATA"),
            "{t} published before the host was online"
        );
    }

    // Births, then the history: collect until every event logged before the host came
    // online is seen (bounded in count).
    let dbirth_t = format!("spBv1.0/plant/DBIRTH/{0}/{0}", st.name);
    let ddata_t = format!("spBv1.0/plant/DDATA/{0}/{0}", st.name);
    let nbirth_t = format!("spBv1.0/plant/NBIRTH/{}", st.name);
    let mut logged = logged_between(&sim.events_log, first1 + 1, newest1);
    logged.extend(logged_between(&sim.events_log, first2 + 1, held_until));
    assert!(
        logged.iter().filter(|(_, t)| *t < stopped_ms).count() >= 20,
        "events of the first run are expected"
    );
    let (messages, historical) = follow_history(&mut rx, &st.name, &logged).await;
    let missing: Vec<_> = logged.iter().filter(|k| !historical.contains(*k)).collect();
    let topics: Vec<&str> = messages.iter().map(|(t, _)| t.as_str()).collect();
    assert!(
        missing.is_empty(),
        "{} of {} logged events not sent as history, e.g. {:?}; messages {:?}",
        missing.len(),
        logged.len(),
        &missing[..missing.len().min(5)],
        &topics[..topics.len().min(10)]
    );
    assert_eq!(
        topics.iter().position(|t| *t == nbirth_t),
        Some(0),
        "NBIRTH first: {topics:?}"
    );
    let dbirth = topics.iter().position(|t| *t == dbirth_t);
    let first_data = topics.iter().position(|t| *t == ddata_t);
    assert!(dbirth.is_some() && dbirth < first_data, "{topics:?}");
    eprintln!(
        "{} events logged in the windows, from the gateway's first one up to a second before the host came online ({} before the restart), all sent as history in {} messages",
        logged.len(),
        logged.iter().filter(|(_, t)| *t < stopped_ms).count(),
        messages.len()
    );
    gateway.stop().await;
}

//! Sparkplug B across failover: two gateway nodes (processes) with `[cluster]` and
//! `[sparkplug]`, one simulated station, mosquitto, a host played by the test. The node
//! carrying the RTU is killed with SIGKILL: the host sees its NDEATH (the will, the bdSeq of
//! its NBIRTH), then the other node's NBIRTH with the next bdSeq under the same topics, the
//! DBIRTH and DDATA again; every event the station logged after the kill arrives (in a
//! DBIRTH as the point's latest value, or as DDATA).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use iec104_e2e::broker::{self, Broker};
use iec104_e2e::cluster::sim::Sim;
use iec104_e2e::cluster::{self, Cluster, Settings};
use iec104_e2e::raw_host;
use iec104_e2e::scratch;
use iec104_sparkplug::proto::{MetricValue, Payload};
use prost::Message;
use serde_json::Value;
use tokio::sync::mpsc;

/// Bound of every wait, so that a broken test ends instead of hanging (not a timing target).
const WAIT: Duration = Duration::from_secs(60);

async fn host(port: u16) -> mpsc::UnboundedReceiver<(String, Payload)> {
    raw_host::start_decoded(port, "spb-cluster-host", &["spBv1.0/#"], WAIT, decode)
        .await
        .1
}

/// A Sparkplug payload, or a panic naming the topic.
fn decode(topic: &str, bytes: &[u8]) -> Payload {
    Payload::decode(bytes).unwrap_or_else(|e| panic!("{topic}: {e}"))
}

async fn next(rx: &mut mpsc::UnboundedReceiver<(String, Payload)>, topic: &str) -> Payload {
    loop {
        match tokio::time::timeout(WAIT, rx.recv()).await {
            Ok(Some((t, p))) if t == topic => return p,
            Ok(Some(_)) => {}
            other => panic!("waiting for {topic}: {other:?}"),
        }
    }
}

fn long(p: &Payload, name: &str) -> Option<u64> {
    p.metrics
        .iter()
        .find(|m| m.name.as_deref() == Some(name))
        .and_then(|m| match m.value {
            Some(MetricValue::LongValue(v)) => Some(v),
            _ => None,
        })
}

fn text(p: &Payload, name: &str) -> Option<String> {
    p.metrics
        .iter()
        .find(|m| m.name.as_deref() == Some(name))
        .and_then(|m| match &m.value {
            Some(MetricValue::StringValue(v)) => Some(v.clone()),
            _ => None,
        })
}

/// Names by alias and (name, time tag) of every metric of a birth.
fn take_birth(p: &Payload, names: &mut HashMap<u64, String>, seen: &mut HashSet<(String, u64)>) {
    for m in &p.metrics {
        if let (Some(a), Some(n)) = (m.alias, &m.name) {
            names.insert(a, n.clone());
        }
        if let (Some(n), Some(t)) = (&m.name, m.timestamp) {
            seen.insert((n.clone(), t));
        }
    }
}

/// (metric name, time tag ms) of the station's spontaneous events logged at or after `from`.
fn logged_since(log: &std::path::Path, from: u64) -> Vec<(String, u64)> {
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
        .filter(|(_, ms)| *ms >= from)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_carrier_hands_the_edge_node_to_the_survivor_with_the_next_bd_seq() {
    if !broker::available() {
        return;
    }
    let dir = scratch("spb-cluster").into_kept();
    let broker = Broker::start(&dir).await;
    let sim = Sim::start(&dir, 1, 20.0).await;
    let mut spb = host(broker.port).await;
    let config = format!(
        "{}\n[sparkplug]\ngroup_id = \"plant\"\n",
        cluster::config(&Settings::new(broker.port), &sim.stations)
    );
    let ids = ["gw-a", "gw-b"];
    let mut nodes = Cluster::start(&dir, &config, &ids);
    let rtu = sim.stations[0].name.clone();
    let (nbirth_t, ndeath_t, dbirth_t, ddata_t) = (
        format!("spBv1.0/plant/NBIRTH/{rtu}"),
        format!("spBv1.0/plant/NDEATH/{rtu}"),
        format!("spBv1.0/plant/DBIRTH/{rtu}/{rtu}"),
        format!("spBv1.0/plant/DDATA/{rtu}/{rtu}"),
    );

    let first = next(&mut spb, &nbirth_t).await;
    let carrier = text(&first, "Node Info/Gateway").unwrap_or_else(|| panic!("{first:?}"));
    let bd_seq = long(&first, "bdSeq").unwrap_or_else(|| panic!("{first:?}"));
    next(&mut spb, &dbirth_t).await;
    next(&mut spb, &ddata_t).await;

    nodes.node(&carrier).kill9().await;
    // Events stamped from here on cannot have reached the killed node (a margin for the
    // instant of the kill): each must reach the host through the survivor.
    let killed_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or_default() + 200;
    let death = next(&mut spb, &ndeath_t).await;
    assert_eq!(
        long(&death, "bdSeq"),
        Some(bd_seq),
        "the will of the killed carrier"
    );
    let second = next(&mut spb, &nbirth_t).await;
    let survivor = text(&second, "Node Info/Gateway");
    assert!(
        survivor
            .as_deref()
            .is_some_and(|s| s != carrier && ids.contains(&s)),
        "{survivor:?}"
    );
    assert_eq!(
        long(&second, "bdSeq"),
        Some((bd_seq + 1) % 256),
        "the next bdSeq"
    );
    assert_eq!(second.seq, Some(0));
    let dbirth = next(&mut spb, &dbirth_t).await;
    let since = killed_ms;
    // Every event the station logs after the kill arrives, in a DBIRTH (a point's latest
    // value) or as DDATA (events during the new carrier's interrogation as history; names by
    // alias).
    let mut names: HashMap<u64, String> = HashMap::new();
    let mut seen: HashSet<(String, u64)> = HashSet::new();
    take_birth(&dbirth, &mut names, &mut seen);
    let mut checked = 0;
    for _ in 0..600 {
        // DDATA, or a new DBIRTH (a point seen for the first time, e.g. an integrated total,
        // which no general interrogation reports, makes the edge node born again).
        let (topic, p) = match tokio::time::timeout(WAIT, spb.recv()).await {
            Ok(Some(m)) => m,
            other => panic!("waiting for data: {other:?}"),
        };
        if topic == dbirth_t {
            take_birth(&p, &mut names, &mut seen);
            continue;
        }
        if topic != ddata_t {
            continue;
        }
        for m in &p.metrics {
            if let (Some(a), Some(t)) = (m.alias, m.timestamp) {
                seen.insert((names.get(&a).cloned().unwrap_or_default(), t));
            }
        }
        let logged = logged_since(&sim.events_log, since);
        // Events logged up to a second before the newest arrival must all be there.
        let newest = seen.iter().map(|(_, t)| *t).max().unwrap_or_default();
        let due: Vec<_> = logged
            .into_iter()
            .filter(|(_, t)| *t + 1000 <= newest)
            .collect();
        let missing: Vec<_> = due.iter().filter(|k| !seen.contains(*k)).collect();
        assert!(missing.is_empty(), "lost after the takeover: {missing:?}");
        checked = due.len();
        if checked >= 40 {
            break;
        }
    }
    assert!(checked >= 40, "only {checked} events checked");
    drop(nodes);
}

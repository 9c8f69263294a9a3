//! End-to-end: a gateway with two broker addresses, both nodes of one clustered broker
//! (aedes on Redis). The broker node the gateway uses is killed with SIGKILL; the gateway
//! moves to the other node, no event acknowledged to the RTU is lost and data resumes. The
//! gap (kill to the first new event at a subscriber on the surviving node) is printed.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use iec104::asdu::Quality;
use iec104_e2e::aedes::{self, AedesCluster};
use iec104_e2e::gateway::Gateway;
use iec104_e2e::station::Station;
use iec104_e2e::subscriber::{Received, Subscriber};
use serde_json::Value;

/// Bound of every wait for an event: the test waits for events, not for a time; a lost event
/// makes it fail after this bound (never pass).
const FOREVER: Duration = Duration::from_secs(60);
const DATA: &str = "e2e/north/1/2000";

/// The gateway on broker nodes `ports` and the station `rtu` (t2 = 1 s: the station sees its
/// last events acknowledged a second after the gateway stored them, not after the default 10 s).
fn config(dir: &std::path::Path, ports: &[u16], rtu: &str, extra: &str) -> String {
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("\"mqtt://127.0.0.1:{p}\""))
        .collect();
    format!(
        "[mqtt]\nurls = [{}]\nversion = 4\nconnect_timeout = 2.0\ntopic_prefix = \"e2e\"\n{extra}\n[gateway]\nnode = \"gw-test\"\nstore_path = \"{}\"\n\n[[rtu]]\nname = \"north\"\naddress = \"{rtu}\"\ncommon_address = 1\nt0 = 2\nt2 = 1\n",
        urls.join(", "),
        dir.join("queue.redb").display()
    )
}

/// Sends events `first..first + n`; returns their time tags (the ground truth, one per event).
fn burst(st: &Station, first: u32, n: u32) -> Vec<String> {
    let t0 = Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap();
    (first..first + n)
        .map(|i| {
            let t = t0 + chrono::Duration::milliseconds(i64::from(i));
            let v = st.float(2000, i as f32, Quality::GOOD, t);
            v["time"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

/// Receives data until every time tag of `truth` came (duplicates allowed: at least once);
/// returns when the first of `watch` arrived.
async fn all_arrive(sub: &mut Subscriber, truth: &[String], watch: &[String]) -> Instant {
    all_arrive_keeping(sub, truth, watch, &mut Vec::new()).await
}

/// As [`all_arrive`], keeping the presence messages that arrive meanwhile in `presence`.
async fn all_arrive_keeping(
    sub: &mut Subscriber,
    truth: &[String],
    watch: &[String],
    presence: &mut Vec<Received>,
) -> Instant {
    let mut missing: BTreeSet<&str> = truth.iter().map(String::as_str).collect();
    let mut first = None;
    while !missing.is_empty() {
        let m = sub
            .wait_for(FOREVER, |m| m.topic == DATA || m.topic == PRESENCE)
            .await
            .unwrap_or_else(|| {
                panic!(
                    "{} of {} events lost, e.g. {:?}",
                    missing.len(),
                    truth.len(),
                    missing.iter().take(5).collect::<Vec<_>>()
                )
            });
        if m.topic == PRESENCE {
            presence.push(m);
            continue;
        }
        if let Some(t) = m.json["time"].as_str() {
            if missing.remove(t) && watch.iter().any(|w| w == t) {
                first.get_or_insert(m.at);
            }
        }
        assert_eq!(m.json["rtu"], Value::from("north"));
    }
    first.unwrap_or_else(Instant::now)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_broker_node_the_gateway_moves_on_and_loses_nothing() {
    if !aedes::available() {
        return;
    }
    let dir = iec104_e2e::scratch("broker-failover");
    let mut cluster = AedesCluster::start(&dir, 2, Duration::from_millis(200));
    let (p0, p1) = (cluster.ports[0], cluster.ports[1]);
    let st = Station::start(1).await;
    // The subscriber is on node 1; the gateway starts on node 0 (listed first).
    let mut sub = Subscriber::start(p1, "e2e/#").await;
    let gw = Gateway::start(&dir, &config(&dir, &[p0, p1], &st.addr.to_string(), ""));
    sub.wait_for(FOREVER, |m| {
        m.topic == "e2e/north/status" && m.json["state"] == "started"
    })
    .await
    .expect("north started");
    let before = burst(&st, 0, 200);
    all_arrive(&mut sub, &before, &[]).await;

    // Node 0 dies with events on their way: some in flight to it, some still in the station.
    let during = burst(&st, 200, 200);
    let killed = Instant::now();
    cluster.kill9(0);
    let after = burst(&st, 400, 300);
    let mut truth = during;
    truth.extend(after.iter().cloned());
    // Data resumes: events made after the kill reach the subscriber on node 1, through node 1
    // (node 0 is gone), and none of those sent before is lost.
    let mut presence = Vec::new();
    let resumed = all_arrive_keeping(&mut sub, &truth, &after, &mut presence).await;
    eprintln!(
        "FIGURE broker node killed -> first event made after the kill at a subscriber on the other node: {:?}",
        resumed.saturating_duration_since(killed)
    );
    // aedes publishes the gateway's will from node 1 once node 0 missed three heartbeats,
    // although the gateway is alive there: the gateway sees a foreign message on its own
    // presence topic and publishes its online presence again.
    // (It may come while the data is still arriving: kept by all_arrive_keeping.)
    let mut seen = presence.into_iter();
    let will = match seen.find(|m| m.json["status"] == "offline") {
        Some(m) => m,
        None => sub
            .wait_for(FOREVER, |m| {
                m.topic == PRESENCE && m.json["status"] == "offline"
            })
            .await
            .expect("the late will"),
    };
    let online = match seen.find(|m| m.json["status"] == "online") {
        Some(m) => m,
        None => sub
            .wait_for(FOREVER, |m| {
                m.topic == PRESENCE && m.json["status"] == "online"
            })
            .await
            .expect("online again after the late will"),
    };
    eprintln!(
        "FIGURE broker node killed -> late will of the gateway {:?}, online again {:?} later",
        will.at.saturating_duration_since(killed),
        online.at.saturating_duration_since(will.at)
    );
    // Everything the station sent was acknowledged by the gateway.
    while st.unacknowledged() > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gw.stop().await;
}

/// The gateway's presence topic.
const PRESENCE: &str = "e2e/_gateway/gw-test";
/// The gateway's MQTT client id (`iec104-gateway-{node}`).
const CLIENT: &str = "iec104-gateway-gw-test";
/// Bound of a wait for the gateway to connect to a broker node.
const MOVE_WITHIN: Duration = Duration::from_secs(60);

/// `return_to_first = true`: after its first broker node died, the gateway is on the second;
/// when the first is back it moves back to it (checked every second), and no event is lost
/// across both moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn told_to_return_the_gateway_moves_back_to_its_first_broker_losing_nothing() {
    if !aedes::available() {
        return;
    }
    let dir = iec104_e2e::scratch("broker-return");
    let mut cluster = AedesCluster::start(&dir, 2, Duration::from_millis(200));
    let (p0, p1) = (cluster.ports[0], cluster.ports[1]);
    let st = Station::start(1).await;
    let mut sub = Subscriber::start(p1, "e2e/#").await;
    let extra = "return_to_first = true\nreturn_check = 1.0\n";
    let gw = Gateway::start(&dir, &config(&dir, &[p0, p1], &st.addr.to_string(), extra));
    sub.wait_for(FOREVER, |m| {
        m.topic == "e2e/north/status" && m.json["state"] == "started"
    })
    .await
    .expect("north started");
    assert!(
        cluster.client_connected(0, CLIENT, MOVE_WITHIN),
        "not on node 0"
    );
    all_arrive(&mut sub, &burst(&st, 0, 100), &[]).await;
    cluster.kill9(0);
    assert!(
        cluster.client_connected(1, CLIENT, MOVE_WITHIN),
        "not on node 1"
    );
    all_arrive(&mut sub, &burst(&st, 100, 100), &[]).await;
    // Node 0 is back: the gateway moves back to it, with events on their way.
    let during = burst(&st, 200, 100);
    cluster.restart(0);
    let back_at = Instant::now();
    assert!(
        cluster.client_connected(0, CLIENT, MOVE_WITHIN),
        "did not move back to node 0"
    );
    eprintln!(
        "FIGURE first broker node restarted -> the gateway connected to it again: {:?}",
        back_at.elapsed()
    );
    let mut truth = during;
    truth.extend(burst(&st, 300, 100));
    all_arrive(&mut sub, &truth, &[]).await;
    while st.unacknowledged() > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gw.stop().await;
}

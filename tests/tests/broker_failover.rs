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
use iec104_e2e::subscriber::Subscriber;
use serde_json::Value;

/// Waits for events, not for a time: a lost event makes the test hang and fail at the
/// harness's bound, never pass.
const FOREVER: Duration = Duration::from_secs(3600);
const DATA: &str = "e2e/north/1/2000";

fn config(dir: &std::path::Path, ports: &[u16], rtu: &str) -> String {
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("\"mqtt://127.0.0.1:{p}\""))
        .collect();
    format!(
        "[mqtt]\nurls = [{}]\nversion = 4\nconnect_timeout = 2.0\ntopic_prefix = \"e2e\"\n\n[gateway]\nnode = \"gw-test\"\nstore_path = \"{}\"\n\n[[rtu]]\nname = \"north\"\naddress = \"{rtu}\"\ncommon_address = 1\nt0 = 2\n",
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
    let mut missing: BTreeSet<&str> = truth.iter().map(String::as_str).collect();
    let mut first = None;
    while !missing.is_empty() {
        let m = sub
            .wait_for(FOREVER, |m| m.topic == DATA)
            .await
            .unwrap_or_else(|| panic!("{} of {} events lost", missing.len(), truth.len()));
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
    let gw = Gateway::start(&dir, &config(&dir, &[p0, p1], &st.addr.to_string()));
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
    let resumed = all_arrive(&mut sub, &truth, &after).await;
    eprintln!(
        "FIGURE broker node killed -> first event made after the kill at a subscriber on the other node: {:?}",
        resumed.saturating_duration_since(killed)
    );
    // Everything the station sent was acknowledged by the gateway.
    while st.unacknowledged() > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gw.stop().await;
}

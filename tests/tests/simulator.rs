//! End-to-end against the simulator process: every event in `iec104-sim --events-log` arrives
//! on its topic with type, cause, value, quality and time intact.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use iec104_e2e::broker::{self, Broker};
use iec104_e2e::gateway::Gateway;
use iec104_e2e::subscriber::Subscriber;
use iec104_e2e::{free_port, scratch, wait_listening};
use serde_json::Value;

/// What must arrive unchanged: topic and the fields the RTU gave.
fn key(topic: &str, v: &Value) -> String {
    let mut k = format!(
        "{topic} {} {} {} {}",
        v["type"], v["cot"], v["value"], v["quality"]
    );
    // A CP24Time2a tag is completed with the receiver's clock: compare full tags only.
    if v.get("time_partial").is_none() {
        k.push_str(&format!(" {}", v["time"]));
    }
    for extra in ["raw", "transient", "sequence", "raw_float"] {
        if let Some(x) = v.get(extra) {
            k.push_str(&format!(" {extra}={x}"));
        }
    }
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_logged_event_arrives_intact() {
    if !broker::available() {
        return;
    }
    let dir = scratch("sim");
    let broker = Broker::start(&dir).await;
    let port = free_port();
    let log = dir.join("events.jsonl");
    let mut sim = tokio::process::Command::new(iec104_e2e::gateway::simulator())
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--ca",
            "1",
            "--points",
            "60",
            "--rate",
            "40",
            "--seed",
            "11",
        ])
        .arg("--events-log")
        .arg(&log)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start iec104-sim");
    assert!(
        wait_listening(port, Duration::from_secs(10)).await,
        "simulator not listening"
    );
    let mut sub = Subscriber::start(broker.port, "e2e/#").await;
    let config = format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:{}\"\ntopic_prefix = \"e2e\"\n[gateway]\nnode = \"gw-sim\"\nstore_path = \"{}\"\n[[rtu]]\nname = \"sim\"\naddress = \"127.0.0.1:{port}\"\ncommon_address = 1\n",
        broker.port,
        dir.join("queue.redb").display()
    );
    let gw = Gateway::start(&dir, &config);
    // Let the simulator produce until its log holds 100 lines (an event, not a guessed time),
    // then take its log as the ground truth.
    let mut received: BTreeMap<String, usize> = BTreeMap::new();
    let logged = || {
        std::fs::read_to_string(&log)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    let end = tokio::time::Instant::now() + Duration::from_secs(30);
    while logged() < 100 {
        assert!(
            tokio::time::Instant::now() < end,
            "the simulator logged only {} events",
            logged()
        );
        if let Some(m) = sub.wait_for(Duration::from_millis(100), |_| true).await {
            *received.entry(key(&m.topic, &m.json)).or_default() += 1;
        }
    }
    let text = std::fs::read_to_string(&log).expect("events log");
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    let mut events = 0;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("log line is JSON");
        if v.get("outcome").is_some() {
            continue;
        }
        events += 1;
        let topic = format!("e2e/sim/{}/{}", v["ca"], v["ioa"]);
        *expected.entry(key(&topic, &v)).or_default() += 1;
    }
    // Everything logged so far must arrive (the simulator keeps running, so nothing is cut).
    let end = tokio::time::Instant::now() + Duration::from_secs(20);
    let missing = |received: &BTreeMap<String, usize>| -> Vec<String> {
        expected
            .iter()
            .filter(|(k, n)| received.get(*k).copied().unwrap_or(0) < **n)
            .map(|(k, _)| k.clone())
            .collect()
    };
    while !missing(&received).is_empty() {
        let left = end.saturating_duration_since(tokio::time::Instant::now());
        match sub.wait_for(left, |_| true).await {
            Some(m) => *received.entry(key(&m.topic, &m.json)).or_default() += 1,
            None => {
                let m = missing(&received);
                panic!(
                    "{} of {events} logged events never arrived, e.g. {:?}",
                    m.len(),
                    m.first()
                );
            }
        }
    }
    let _ = sim.kill().await;
    gw.stop().await;
}

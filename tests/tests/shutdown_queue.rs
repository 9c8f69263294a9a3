//! SIGTERM while the broker does not acknowledge (docs/gateway.md, "Clean shutdown"): the
//! gateway writes what the broker has not acknowledged to its queue, exits 0, and the next run
//! publishes it. The station is gone by then, so the queue is the only way those events can
//! arrive.

use std::process::Stdio;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use iec104::asdu::Quality;
use iec104_e2e::broker::{self, Broker};
use iec104_e2e::gateway::binary;
use iec104_e2e::scratch;
use iec104_e2e::station::Station;
use iec104_e2e::subscriber::Subscriber;
use testkit::Signal;

/// Every wait ends within this.
const WAIT: Duration = Duration::from_secs(30);

fn config(broker: u16, dir: &std::path::Path, rtu: &str, http: u16) -> String {
    format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:{broker}\"\ntopic_prefix = \"e2e\"\n\n[gateway]\n\
         node = \"gw-term\"\nstore_path = \"{}\"\nhttp_listen = \"127.0.0.1:{http}\"\n\n\
         [[rtu]]\nname = \"north\"\naddress = \"{rtu}\"\ncommon_address = 1\n",
        dir.join("queue.redb").display()
    )
}

fn start(dir: &std::path::Path, text: &str) -> tokio::process::Child {
    let file = dir.join("gw.toml");
    std::fs::write(&file, text).expect("write config");
    tokio::process::Command::new(binary())
        .args(["run", "--config"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the gateway")
}

/// Reads the gateway's objects-received counter until it reaches `at_least`.
async fn received(http: u16, at_least: f64) -> f64 {
    let name = "iec104gw_rtu_objects_received_total{rtu=\"north\"}";
    let end = tokio::time::Instant::now() + WAIT;
    loop {
        let got = testkit::http_get(http, "/metrics", Duration::from_secs(5))
            .await
            .ok()
            .and_then(|r| r.metric(name));
        if let Some(v) = got.filter(|v| *v >= at_least) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "{name} stayed at {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_keeps_unacknowledged_messages_for_the_next_run() {
    if !broker::available() {
        return;
    }
    let dir = scratch("term-queue");
    let broker = Broker::start(&dir).await;
    let port = broker.port;
    let st = Station::start(1).await;
    let mut sub = Subscriber::start(port, "e2e/north/#").await;
    let http = testkit::free_port();
    let mut gw = start(&dir, &config(port, &dir, &st.addr.to_string(), http));
    sub.wait_for(WAIT, |m| m.topic == "e2e/north/1/1")
        .await
        .expect("the interrogation's object");
    let base = received(http, 1.0).await;
    // The broker freezes: publications go out and are never acknowledged.
    testkit::signal(broker.pid().expect("broker pid"), Signal::Stop).expect("SIGSTOP");
    let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 10, 15, 30).unwrap();
    let truth: Vec<_> = (0..10u32)
        .map(|i| {
            let t = t0 + chrono::Duration::milliseconds(i64::from(i) * 100);
            st.float(2000 + i, 1.5 + i as f32, Quality::GOOD, t)
        })
        .collect();
    received(http, base + 10.0).await;
    let exit = testkit::signal::signal_and_wait(&mut gw, Signal::Term, WAIT)
        .await
        .expect("the gateway ends after SIGTERM");
    assert_eq!(exit.code(), Some(0), "{exit:?}");
    // The frozen broker never takes what it was sent; a new one comes on the same port. The
    // station is gone.
    drop(broker);
    drop(st);
    let dir2 = scratch("term-queue-broker");
    let _broker = Broker::start_on(&dir2, port, String::new()).await;
    let mut sub = Subscriber::start(port, "e2e/north/#").await;
    let _gw = start(&dir, &config(port, &dir, "127.0.0.1:9", http));
    for t in &truth {
        let topic = format!("e2e/north/1/{}", t["ioa"]);
        let got = sub
            .wait_for(WAIT, |m| m.topic == topic && m.json["time"] == t["time"])
            .await
            .unwrap_or_else(|| panic!("{t} was lost across SIGTERM"));
        assert_eq!(got.json["value"], t["value"]);
    }
}

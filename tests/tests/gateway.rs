//! End-to-end: the real gateway binary between scripted stations and a real mosquitto.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use iec104::asdu::Quality;
use iec104_e2e::broker::{self, Broker};
use iec104_e2e::gateway::{self, Gateway};
use iec104_e2e::scratch;
use iec104_e2e::station::{self, Station};
use iec104_e2e::subscriber::{Received, Subscriber};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(15);

fn config(port: u16, dir: &std::path::Path, rtus: &[(&str, String)]) -> String {
    let mut s = format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\ntopic_prefix = \"e2e\"\n\n[gateway]\nnode = \"gw-test\"\nstore_path = \"{}\"\ncommand_timeout = 1.5\n",
        dir.join("queue.redb").display()
    );
    for (name, addr) in rtus {
        s.push_str(&format!(
            "\n[[rtu]]\nname = \"{name}\"\naddress = \"{addr}\"\ncommon_address = 1\nt0 = 2\n[[rtu.point]]\nioa = {}\ncommands = true\n[[rtu.point]]\nioa = {}\ncommands = true\n[[rtu.point]]\nioa = {}\ncommands = true\nname = \"silent\"\n",
            station::CONFIRM,
            station::REFUSE,
            station::SILENT
        ));
    }
    s
}

async fn started(sub: &mut Subscriber, rtu: &str) {
    let topic = format!("e2e/{rtu}/status");
    sub.wait_for(WAIT, |m| m.topic == topic && m.json["state"] == "started")
        .await
        .unwrap_or_else(|| panic!("{rtu} never reported started"));
}

/// The fields of the ground truth must be in the payload unchanged.
fn assert_intact(truth: &Value, got: &Received) {
    for (k, v) in truth.as_object().expect("object") {
        assert_eq!(&got.json[k], v, "field {k} of {} ({})", got.topic, got.json);
    }
    assert_eq!(got.json["rtu"], "north");
    assert_eq!(got.json["node"], "gw-test");
    assert!(got.json["received"].is_string());
}

fn qualities(i: u32) -> (Quality, Value) {
    match i % 3 {
        0 => (Quality::GOOD, serde_json::json!([])),
        1 => (Quality::IV, serde_json::json!(["IV"])),
        _ => (
            Quality::from_bits(0x40 | 0x01),
            serde_json::json!(["NT", "OV"]),
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_intact_with_status_and_presence() {
    if !broker::available() {
        return;
    }
    let dir = scratch("data");
    let broker = Broker::start(&dir).await;
    let st = Station::start(1).await;
    let mut sub = Subscriber::start(broker.port, "e2e/#").await;
    let gw = Gateway::start(
        &dir,
        &config(broker.port, &dir, &[("north", st.addr.to_string())]),
    );
    let presence = sub
        .wait_for(WAIT, |m| m.topic == "e2e/_gateway/gw-test")
        .await
        .expect("presence");
    assert_eq!(presence.json["status"], "online");
    started(&mut sub, "north").await;
    // The general interrogation after STARTDT.
    let gi = sub
        .wait_for(WAIT, |m| m.topic == "e2e/north/1/1")
        .await
        .expect("GI object");
    assert_eq!(gi.json["cot"], "inrogen");
    assert_eq!(gi.json["value"], true);
    let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 10, 15, 30).unwrap();
    let mut truth = Vec::new();
    for i in 0..60u32 {
        let (q, names) = qualities(i);
        let t = t0 + chrono::Duration::milliseconds(i64::from(i) * 1234);
        let mut v = st.float(1000 + i % 5, 200.0 + i as f32 * 0.25, q, t);
        v["quality"] = names;
        truth.push(v);
    }
    for t in &truth {
        let topic = format!("e2e/north/1/{}", t["ioa"]);
        let got = sub
            .wait_for(WAIT, |m| m.topic == topic && m.json["time"] == t["time"])
            .await
            .unwrap_or_else(|| panic!("event {t} never arrived"));
        assert_intact(t, &got);
    }
    gw.stop().await;
    let offline = sub
        .wait_for(WAIT, |m| {
            m.topic == "e2e/_gateway/gw-test" && m.json["status"] == "offline"
        })
        .await;
    assert!(offline.is_some(), "no offline presence after a clean stop");
}

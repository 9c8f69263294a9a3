//! The gateway's `/metrics` after a known exchange, every figure read as an exact sample (name
//! and labels matched whole, so `... 6` is not found in `... 61`): objects and ASDUs received,
//! the RTU state, the broker connection, commands, nothing dropped, bad or reconnected.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use iec104::asdu::Quality;
use iec104_e2e::broker::{self, Broker};
use iec104_e2e::gateway::Gateway;
use iec104_e2e::scratch;
use iec104_e2e::station::{self, Station};
use iec104_e2e::subscriber::Subscriber;

/// Every wait ends within this.
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_exactly_what_happened() {
    if !broker::available() {
        return;
    }
    let dir = scratch("metrics");
    let broker = Broker::start(&dir).await;
    let st = Station::start(1).await;
    let mut sub = Subscriber::start(broker.port, "e2e/#").await;
    let http = testkit::free_port();
    let config = format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:{}\"\ntopic_prefix = \"e2e\"\n\n[gateway]\n\
         node = \"gw-metrics\"\nstore_path = \"{}\"\nhttp_listen = \"127.0.0.1:{http}\"\n\n\
         [[rtu]]\nname = \"north\"\naddress = \"{}\"\ncommon_address = 1\n\
         [[rtu.point]]\nioa = {}\ncommands = true\n",
        broker.port,
        dir.join("queue.redb").display(),
        st.addr,
        station::CONFIRM
    );
    let gw = Gateway::start(&dir, &config);
    sub.wait_for(WAIT, |m| m.topic == "e2e/north/1/1")
        .await
        .expect("the interrogation's object");
    // Seven spontaneous objects, one ASDU each, all published.
    let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 10, 15, 30).unwrap();
    for i in 0..7u32 {
        let t = t0 + chrono::Duration::milliseconds(i64::from(i));
        let truth = st.float(3000 + i, i as f32, Quality::GOOD, t);
        let topic = format!("e2e/north/1/{}", truth["ioa"]);
        sub.wait_for(WAIT, |m| m.topic == topic)
            .await
            .expect("published");
    }
    // One command, confirmed and terminated.
    let topic = format!("e2e/north/1/{}/command", station::CONFIRM);
    sub.publish(&topic, r#"{"type":"C_SC_NA_1","value":true,"id":"m-1"}"#)
        .await;
    let result = format!("{topic}/result");
    sub.wait_for(WAIT, |m| {
        m.topic == result && m.json["status"] == "terminated"
    })
    .await
    .expect("the command terminated");

    let r = testkit::http_get(http, "/metrics", WAIT)
        .await
        .expect("/metrics");
    assert_eq!(r.status, 200);
    let want = [
        // Every object of every I-frame, one object each: the interrogation's ActCon, object
        // and ActTerm, the seven, the command's ActCon and ActTerm.
        ("iec104gw_rtu_objects_received_total{rtu=\"north\"}", 12.0),
        ("iec104gw_rtu_asdus_received_total{rtu=\"north\"}", 12.0),
        ("iec104gw_rtu_state{rtu=\"north\",state=\"started\"}", 1.0),
        (
            "iec104gw_rtu_state{rtu=\"north\",state=\"connecting\"}",
            0.0,
        ),
        (
            "iec104gw_rtu_state{rtu=\"north\",state=\"disconnected\"}",
            0.0,
        ),
        ("iec104gw_rtu_reconnects_total{rtu=\"north\"}", 0.0),
        ("iec104gw_rtu_bad_asdus_total{rtu=\"north\"}", 0.0),
        ("iec104gw_mqtt_connected", 1.0),
        ("iec104gw_mqtt_connects_total", 1.0),
        ("iec104gw_commands_total", 1.0),
        ("iec104gw_queue_dropped_total", 0.0),
        ("iec104gw_queue_depth", 0.0),
    ];
    let mut wrong = Vec::new();
    for (name, value) in want {
        let got = r.metric(name);
        if got != Some(value) {
            wrong.push(format!("{name}: {got:?}, expected {value}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}\n{}", r.body);
    gw.stop().await;
}

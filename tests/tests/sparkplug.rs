//! End-to-end: the gateway with `[sparkplug]` between a scripted station and mosquitto: the
//! RTU's edge node is born, its device after the general interrogation, a spontaneous value
//! arrives as DDATA (alias, value, time tag) while the JSON topics go on as before, and a
//! clean stop publishes the NDEATH.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use iec104::asdu::Quality;
use iec104_e2e::broker::{self, Broker};
use iec104_e2e::gateway::Gateway;
use iec104_e2e::raw_host;
use iec104_e2e::scratch;
use iec104_e2e::station::Station;
use iec104_e2e::subscriber::Subscriber;
use iec104_sparkplug::proto::{Metric, MetricValue, Payload};
use prost::Message;
use tokio::sync::mpsc;

/// Bound of every wait, so that a broken test ends instead of hanging (not a timing target).
const WAIT: Duration = Duration::from_secs(20);

/// A Sparkplug host played by the test: every `spBv1.0/#` message, raw.
async fn host(port: u16) -> mpsc::UnboundedReceiver<(String, Vec<u8>)> {
    raw_host::start(port, "spb-host", &["spBv1.0/#"], WAIT)
        .await
        .1
}

async fn next(rx: &mut mpsc::UnboundedReceiver<(String, Vec<u8>)>, topic: &str) -> Payload {
    loop {
        match tokio::time::timeout(WAIT, rx.recv()).await {
            Ok(Some((t, bytes))) if t == topic => {
                return Payload::decode(bytes.as_slice()).unwrap_or_else(|e| panic!("{t}: {e}"))
            }
            Ok(Some(_)) => {}
            other => panic!("waiting for {topic}: {other:?}"),
        }
    }
}

fn metric<'a>(p: &'a Payload, name: &str) -> &'a Metric {
    p.metrics
        .iter()
        .find(|m| m.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no {name} in {p:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_speaks_sparkplug_beside_json() {
    if !broker::available() {
        return;
    }
    let dir = scratch("sparkplug");
    let broker = Broker::start(&dir).await;
    let station = Station::start(1).await;
    let mut spb = host(broker.port).await;
    let mut json = Subscriber::start(broker.port, "e2e/#").await;
    let config = format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:{}\"\ntopic_prefix = \"e2e\"\n\n[gateway]\nnode = \"gw-test\"\nstore_path = \"{}\"\n\n[sparkplug]\ngroup_id = \"plant\"\n\n[[rtu]]\nname = \"north\"\naddress = \"{}\"\ncommon_address = 1\n[[rtu.point]]\nioa = 1\nname = \"breaker\"\n[[rtu.point]]\nioa = 7\nname = \"feeder_kw\"\n",
        broker.port,
        dir.join("queue.redb").display(),
        station.addr
    );
    let gateway = Gateway::start(&dir, &config);

    let nbirth = next(&mut spb, "spBv1.0/plant/NBIRTH/north").await;
    assert_eq!(nbirth.seq, Some(0));
    assert_eq!(
        metric(&nbirth, "bdSeq").value,
        Some(MetricValue::LongValue(0))
    );
    assert_eq!(
        metric(&nbirth, "Node Info/Gateway").value,
        Some(MetricValue::StringValue("gw-test".into()))
    );
    // The station answers the interrogation with M_SP_NA_1 ioa 1 = on, then ActTerm.
    let dbirth = next(&mut spb, "spBv1.0/plant/DBIRTH/north/north").await;
    assert_eq!(dbirth.seq, Some(1));
    let breaker = metric(&dbirth, "breaker");
    assert_eq!(
        (breaker.datatype, &breaker.value),
        (Some(11), &Some(MetricValue::BooleanValue(true)))
    );

    let time = Utc
        .with_ymd_and_hms(2025, 5, 6, 7, 8, 9)
        .single()
        .unwrap_or_else(|| panic!("time"));
    station.float(7, 12.5, Quality::GOOD, time);
    // feeder_kw had no value at the DBIRTH: it is a new metric, so the node is born again.
    let rebirth = next(&mut spb, "spBv1.0/plant/DBIRTH/north/north").await;
    let feeder = metric(&rebirth, "feeder_kw");
    assert_eq!(
        (feeder.datatype, &feeder.value),
        (Some(9), &Some(MetricValue::FloatValue(12.5)))
    );
    assert_eq!(
        feeder.timestamp,
        Some(time.timestamp_millis() as u64),
        "the CP56Time2a tag"
    );
    station.float(7, 13.0, Quality::NT, time);
    let data = next(&mut spb, "spBv1.0/plant/DDATA/north/north").await;
    let m = &data.metrics[0];
    assert_eq!(
        (m.alias, &m.name, &m.value),
        (feeder.alias, &None, &Some(MetricValue::FloatValue(13.0)))
    );

    // The JSON output is unchanged beside it.
    let got = json
        .wait_for(WAIT, |m| {
            m.topic == "e2e/north/feeder_kw" && m.json["value"] == 13.0
        })
        .await;
    assert!(got.is_some(), "JSON message of the same value");

    gateway.stop().await;
    let death = next(&mut spb, "spBv1.0/plant/NDEATH/north").await;
    assert_eq!(
        metric(&death, "bdSeq").value,
        Some(MetricValue::LongValue(0))
    );
}

/// `[mqtt] urls` with `[sparkplug]` and `json_data = false`: the first broker refuses every
/// connection (nothing listens on its port), so the edge node's session moves on to the
/// second one, as the JSON output does: NBIRTH, DBIRTH and a spontaneous value's DDATA
/// arrive there, and the RTU's JSON status too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sparkplug_only_goes_on_to_the_next_broker_of_the_list() {
    if !broker::available() {
        return;
    }
    let dir = scratch("sparkplug-urls");
    let broker = Broker::start(&dir).await;
    let dead = testkit::net::free_port();
    let station = Station::start(1).await;
    let mut spb = host(broker.port).await;
    let mut json = Subscriber::start(broker.port, "e2e/#").await;
    let config = format!(
        "[mqtt]\nurls = [\"mqtt://127.0.0.1:{dead}\", \"mqtt://127.0.0.1:{}\"]\ntopic_prefix = \"e2e\"\njson_data = false\n\n[gateway]\nnode = \"gw-test\"\nstore_path = \"{}\"\n\n[sparkplug]\ngroup_id = \"plant\"\n\n[[rtu]]\nname = \"north\"\naddress = \"{}\"\ncommon_address = 1\n[[rtu.point]]\nioa = 7\nname = \"feeder_kw\"\n",
        broker.port,
        dir.join("queue.redb").display(),
        station.addr
    );
    let gateway = Gateway::start(&dir, &config);
    let nbirth = next(&mut spb, "spBv1.0/plant/NBIRTH/north").await;
    assert_eq!(nbirth.seq, Some(0));
    next(&mut spb, "spBv1.0/plant/DBIRTH/north/north").await;
    let time = Utc
        .with_ymd_and_hms(2025, 5, 6, 7, 8, 9)
        .single()
        .unwrap_or_else(|| panic!("time"));
    // A new metric: born again first, then its next value is DDATA.
    station.float(7, 12.5, Quality::GOOD, time);
    let rebirth = next(&mut spb, "spBv1.0/plant/DBIRTH/north/north").await;
    let feeder = metric(&rebirth, "feeder_kw");
    station.float(7, 13.0, Quality::GOOD, time);
    let data = next(&mut spb, "spBv1.0/plant/DDATA/north/north").await;
    let m = &data.metrics[0];
    assert_eq!(
        (m.alias, &m.value),
        (feeder.alias, &Some(MetricValue::FloatValue(13.0)))
    );
    let status = json
        .wait_for(WAIT, |m| {
            m.topic == "e2e/north/status" && m.json["state"] == "started"
        })
        .await;
    assert!(status.is_some(), "the JSON status on the same broker");
    gateway.stop().await;
    next(&mut spb, "spBv1.0/plant/NDEATH/north").await;
}

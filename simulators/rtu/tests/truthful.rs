//! The simulator as a truthful instrument (in-process, library API, 127.0.0.1:0): one event
//! per point and time tag over a long, busy run; quality under faults and from the scenario;
//! protection events before the breaker opens; a command's ActTerm after the change it caused.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use iec104::asdu::{Element, Qoi, SingleCommand};
use iec104::cot::Cause;
use iec104_sim::{Options, Scenario, StationInfo};
use serde_json::Value;

/// Starts `scenario` in-process; the stations and a stop sender (the run ends when it is
/// sent or dropped) with the run's join handle.
async fn start(
    scenario: &str,
    events_log: Option<std::path::PathBuf>,
) -> (
    Vec<StationInfo>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<iec104_sim::Summary, iec104_sim::SimError>>,
) {
    let scenario = Scenario::from_toml_str(scenario).expect("valid scenario");
    let mut options = Options::new("127.0.0.1:0".parse().unwrap());
    options.seed = Some(13);
    options.events_log = events_log;
    let sim = iec104_sim::start(&scenario, options).await.expect("binds");
    let stations = sim.stations().to_vec();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(sim.run(async move {
        let _ = stopped.await;
    }));
    (stations, stop, running)
}

async fn finish(
    stop: tokio::sync::oneshot::Sender<()>,
    running: tokio::task::JoinHandle<Result<iec104_sim::Summary, iec104_sim::SimError>>,
) -> iec104_sim::Summary {
    let _ = stop.send(());
    tokio::time::timeout(BOUND, running)
        .await
        .expect("stops within the bound")
        .expect("no panic")
        .expect("no error")
}

/// Every object of `got` with its ASDU's cause.
fn objects(got: &[Got]) -> Vec<(Cause, Value)> {
    got.iter()
        .flat_map(|g| g.objects.iter().map(move |o| (g.cause, o.clone())))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_busy_run_logs_one_event_per_point_and_time_tag() {
    // Ten stations of 200 generated points at 3000 events/s each (300 per 100 ms tick over
    // 160 changing points: most points change several times per tick), and a breaker with
    // a rate of its own of 400 changes/s (40 per tick).
    let mut text = String::new();
    for ca in 1..=10 {
        text.push_str(&format!(
            "[[station]]\nca = {ca}\nrate = 3000.0\ngenerate = 200\nqueue_size = 100\n\
             [[station.point]]\nioa = 5000\ntype = \"M_DP_TB_1\"\nbehaviour = {{ kind = \"toggle\" }}\nrate = 400.0\n"
        ));
    }
    let dir = scratch("truthful-long");
    let log = dir.join("events.jsonl");
    let (_stations, stop, running) = start(&text, Some(log.clone())).await;
    // A bounded run: two seconds of events (no assertion on timing; counts below).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let summary = finish(stop, running).await;
    let lines = read_jsonl(&log);
    assert!(
        lines.len() as u64 >= summary.objects.min(5000),
        "{} lines",
        lines.len()
    );
    assert!(lines.len() >= 5000, "a busy run: {} events", lines.len());

    let mut seen: HashMap<(u64, u64, String), Value> = HashMap::new();
    let mut tagged = 0usize;
    let mut breaker: HashMap<u64, Vec<(String, String)>> = HashMap::new();
    for line in &lines {
        let Some(time) = line["time"].as_str() else {
            continue;
        };
        tagged += 1;
        let key = (
            line["ca"].as_u64().unwrap(),
            line["ioa"].as_u64().unwrap(),
            time.to_string(),
        );
        if let Some(before) = seen.insert(key.clone(), line.clone()) {
            panic!("two events of one point with one time tag {key:?}:\n{before}\n{line}");
        }
        if key.1 == 5000 {
            breaker.entry(key.0).or_default().push((
                time.to_string(),
                line["value"].as_str().unwrap().to_string(),
            ));
        }
    }
    assert!(tagged > 1000, "{tagged} time-tagged events");
    for (ca, changes) in breaker {
        assert!(
            changes.len() > 40,
            "station {ca}: breaker changed {} times",
            changes.len()
        );
        // A breaker is reported once per change: states alternate, times rise.
        for pair in changes.windows(2) {
            assert!(pair[0].0 < pair[1].0, "station {ca}: {pair:?}");
            assert_ne!(pair[0].1, pair[1].1, "station {ca}: {pair:?}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

const QUALITY: &str = r#"
[[station]]
ca = 5
rate = 0.0

[[station.point]]
ioa = 1
type = "M_SP_TB_1"
value = true
quality = ["SB"]

[[station.point]]
ioa = 2
type = "M_DP_NA_1"
value = "on"
quality = ["BL"]

[[station.point]]
ioa = 3
type = "M_ME_TF_1"
behaviour = { kind = "sine", offset = 230.0, amplitude = 5.0, period = 10.0 }
rate = 20.0

[[station.fault]]
kind = "quality"
from = "startdt"
at = 0.3
duration = 0.5
flags = ["IV", "NT"]
points = [3]
"#;

#[tokio::test]
async fn quality_flags_come_from_the_scenario_and_from_an_active_fault() {
    let (stations, stop, running) = start(QUALITY, None).await;
    let mut peer = Peer::started(stations[0].addr).await;
    peer.send(asdu(
        Cause::Activation,
        5,
        0,
        Element::C_IC_NA_1(Qoi::STATION),
    ))
    .await;
    let gi = peer
        .until(|g| g.type_name == "C_IC_NA_1" && g.cause == Cause::ActivationTerm)
        .await;
    let quality: HashMap<u64, Value> = objects(&gi)
        .into_iter()
        .filter(|(c, _)| *c == Cause::InterrogatedByStation)
        .map(|(_, o)| (o["ioa"].as_u64().unwrap(), o["quality"].clone()))
        .collect();
    assert_eq!(quality[&1], serde_json::json!(["SB"]));
    assert_eq!(quality[&2], serde_json::json!(["BL"]));
    assert_eq!(quality[&3], serde_json::json!([]));

    // Point 3's events: good, then IV NT while the fault lasts, then good again.
    let mut phases: Vec<Value> = Vec::new();
    let mut flagged = 0;
    peer.until(|g| {
        for o in g.objects.iter().filter(|o| o["ioa"] == 3) {
            assert_eq!(g.cause, Cause::Spontaneous);
            let q = o["quality"].clone();
            if q == serde_json::json!(["IV", "NT"]) {
                flagged += 1;
            }
            if phases.last() != Some(&q) {
                phases.push(q);
            }
        }
        phases.len() >= 2 && phases.last() == Some(&serde_json::json!([]))
    })
    .await;
    let tail: Vec<Value> = phases.iter().rev().take(2).rev().cloned().collect();
    assert_eq!(
        tail,
        [serde_json::json!(["IV", "NT"]), serde_json::json!([])],
        "{phases:?}"
    );
    assert!(flagged >= 1);
    finish(stop, running).await;
}

const PROTECTION: &str = r#"
[[station]]
ca = 6
rate = 0.0

[[station.point]]
ioa = 10
name = "feeder breaker"
type = "M_DP_TB_1"
value = "on"

[[station.point]]
ioa = 300
type = "M_EP_TE_1"

[[station.point]]
ioa = 301
type = "M_EP_TD_1"

[[station.point]]
ioa = 302
type = "M_EP_TF_1"

[[station.fault]]
kind = "protection_trip"
from = "startdt"
at = 0.5
start = 300
event = 301
trip = 302
breaker = 10
operate_ms = 30
breaker_ms = 50
"#;

/// Milliseconds of an ISO time of the JSON shape.
fn ms(o: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(o["time"].as_str().expect("a time tag"))
        .expect("RFC 3339")
        .timestamp_millis()
}

#[tokio::test]
async fn a_protection_trip_reports_start_trip_then_the_breaker_opening() {
    let (stations, stop, running) = start(PROTECTION, None).await;
    let mut peer = Peer::started(stations[0].addr).await;
    peer.send(asdu(
        Cause::Activation,
        6,
        0,
        Element::C_IC_NA_1(Qoi::STATION),
    ))
    .await;
    let gi = peer
        .until(|g| g.type_name == "C_IC_NA_1" && g.cause == Cause::ActivationTerm)
        .await;
    let listed: Vec<u64> = objects(&gi)
        .into_iter()
        .filter(|(c, _)| *c == Cause::InterrogatedByStation)
        .map(|(_, o)| o["ioa"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, [10], "protection events are not interrogated");

    let got = peer
        .until(|g| {
            g.objects
                .iter()
                .any(|o| o["ioa"] == 301 && o["value"] == "off")
        })
        .await;
    let events: Vec<Value> = objects(&got)
        .into_iter()
        .filter(|(c, _)| *c == Cause::Spontaneous)
        .map(|(_, o)| o)
        .collect();
    let order: Vec<(u64, &str)> = events
        .iter()
        .map(|o| (o["ioa"].as_u64().unwrap(), o["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        order,
        [
            (300, "M_EP_TE_1"),
            (301, "M_EP_TD_1"),
            (302, "M_EP_TF_1"),
            (10, "M_DP_TB_1"),
            (301, "M_EP_TD_1"),
        ]
    );
    let [start, on, trip, breaker, off] = &events[..] else {
        unreachable!()
    };
    assert_eq!(
        start["value"],
        serde_json::json!(["GS", "SL1", "SL2", "SL3"])
    );
    assert_eq!(start["relay_duration_ms"], 30);
    assert_eq!(
        (on["value"].as_str(), on["elapsed_ms"].as_u64()),
        (Some("on"), Some(30))
    );
    assert_eq!(
        trip["value"],
        serde_json::json!(["GC", "CL1", "CL2", "CL3"])
    );
    assert_eq!(trip["relay_operating_ms"], 30);
    assert_eq!(breaker["value"], "off");
    assert_eq!(
        (off["value"].as_str(), off["elapsed_ms"].as_u64()),
        (Some("off"), Some(80))
    );
    // Each with its own time: start, trip 30 ms later, the breaker open 50 ms after the trip.
    assert_eq!(ms(on) - ms(start), 30);
    assert_eq!(ms(trip), ms(on));
    assert_eq!(ms(breaker) - ms(trip), 50);
    assert_eq!(ms(off), ms(breaker));
    finish(stop, running).await;
}

const BUSY_COMMANDS: &str = r#"
[[station]]
ca = 7
rate = 0.0
k = 4
w = 2
queue_size = 10000
generate = 20

[[station.fault]]
kind = "burst"
from = "startdt"
at = 0.0
events = 6000
"#;

#[tokio::test]
async fn a_commands_actterm_comes_after_the_change_it_caused() {
    let (stations, stop, running) = start(BUSY_COMMANDS, None).await;
    let mut config = iec104::client::ClientConfig::default();
    config.link.w = 2;
    let mut peer = Peer::connect_with(stations[0].addr, config)
        .await
        .expect("connect");
    tokio::time::timeout(BOUND, peer.client.start_dt())
        .await
        .expect("STARTDT con within the bound")
        .expect("STARTDT");
    // The burst has been enqueued (in one go) once its first ASDU arrives; the command then
    // waits behind the rest of it.
    let mut got = peer.until(|g| g.cause == Cause::Spontaneous).await;
    // C_SC_NA_1 on IOA 17 drives the single point at IOA 1 (no operation delay).
    peer.send(asdu(
        Cause::Activation,
        7,
        17,
        Element::C_SC_NA_1(SingleCommand::new(true, 0, false)),
    ))
    .await;
    got.extend(
        peer.until(|g| g.type_name == "C_SC_NA_1" && g.cause == Cause::ActivationTerm)
            .await,
    );
    let retrem = got
        .iter()
        .position(|g| g.cause == Cause::ReturnRemote && g.objects.iter().any(|o| o["ioa"] == 1))
        .expect("the driven point's change arrived before the ActTerm");
    let actcon = got
        .iter()
        .position(|g| g.type_name == "C_SC_NA_1" && g.cause == Cause::ActivationCon)
        .expect("ActCon");
    let spont: usize = got
        .iter()
        .filter(|g| g.cause == Cause::Spontaneous)
        .map(|g| g.objects.len())
        .sum();
    assert_eq!(spont, 6000, "every event of the burst before the ActTerm");
    assert!(actcon < got.len() - 1 && retrem < got.len() - 1);
    finish(stop, running).await;
}

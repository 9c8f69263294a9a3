//! The library API (`iec104_sim::start` / `Simulation::run`) without the binary: one station
//! from a TOML string on 127.0.0.1:0, interrogated with the `iec104` client, then shut down.

mod common;

use std::collections::BTreeMap;

use common::*;
use iec104::asdu::{Element, Qoi};
use iec104::cot::Cause;
use iec104_sim::{Options, Scenario};
use serde_json::{json, Value};

const STATION: &str = r#"
[[station]]
name = "lib-9"
ca = 9
rate = 0.0

[[station.point]]
ioa = 10
type = "M_SP_NA_1"
value = true

[[station.point]]
ioa = 20
type = "M_ME_NC_1"
value = 110.25
"#;

#[tokio::test]
async fn one_station_from_a_string_is_interrogated_then_shut_down() {
    let scenario = Scenario::from_toml_str(STATION).expect("valid scenario");
    let mut options = Options::new("127.0.0.1:0".parse().unwrap());
    options.seed = Some(1);
    let sim = iec104_sim::start(&scenario, options)
        .await
        .expect("station binds");
    assert_eq!(sim.stations().len(), 1);
    let station = sim.stations()[0].clone();
    assert_eq!((station.name.as_str(), station.ca), ("lib-9", 9));
    assert!(station.addr.ip().is_loopback());
    assert_ne!(station.addr.port(), 0, "the bound port, not 0");

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(sim.run(async move {
        let _ = stopped.await;
    }));

    let mut peer = Peer::started(station.addr).await;
    peer.send(asdu(
        Cause::Activation,
        9,
        0,
        Element::C_IC_NA_1(Qoi::STATION),
    ))
    .await;
    let got = peer
        .until(|g| g.type_name == "C_IC_NA_1" && g.cause == Cause::ActivationTerm)
        .await;
    assert!(got[0].type_name == "C_IC_NA_1" && got[0].cause == Cause::ActivationCon);
    assert!(!got[0].negative);
    let values: BTreeMap<u64, Value> = got
        .iter()
        .flat_map(|g| g.objects.iter())
        .filter(|o| o["cot"] == "inrogen")
        .map(|o| (o["ioa"].as_u64().unwrap(), o["value"].clone()))
        .collect();
    assert_eq!(
        values,
        [(10, json!(true)), (20, json!(110.25))]
            .into_iter()
            .collect()
    );

    stop.send(()).unwrap();
    let summary = tokio::time::timeout(BOUND, running)
        .await
        .expect("the simulation stops within the bound")
        .expect("no panic")
        .expect("no error");
    assert_eq!(summary.commands, 1, "the interrogation");
    // The station is gone: its server closed the connection.
    let reason = peer.closed(BOUND).await;
    assert!(!reason.is_empty());
}

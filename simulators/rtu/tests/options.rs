//! Options and scenario keys of the real `iec104-sim` binary that no other test drives:
//! repeated `--fault`, `--redundancy`, `--queue-size`, and the scenario's redundancy `groups`,
//! `deadband` and `period`. Every wait is for an event (bounded), never for a guessed time.

mod common;

use std::net::Ipv4Addr;

use common::*;
use iec104::cot::Cause;
use serde_json::Value;

async fn sim_with(name: &str, scenario_text: &str, extra: &[&str]) -> (Sim, u16, Scratch) {
    let run = run_scenario(name, scenario_text, extra).await;
    (run.sim, run.port, run.dir)
}

#[tokio::test]
async fn every_repeated_fault_flag_is_injected() {
    // Two bursts of different sizes: only both together make 12 objects.
    let (sim, port, _dir) = sim_with(
        "faults",
        QUIET,
        &[
            "--fault",
            "kind=burst,at=0,from=startdt,events=7",
            "--fault",
            "kind=burst,at=0.05,from=startdt,events=5",
        ],
    )
    .await;
    let mut peer = Peer::started(addr(port)).await;
    assert_eq!(peer.spontaneous_objects(12).await, 12);
    assert_nothing_more_before_an_interrogation(&mut peer, 9).await;
    sim.terminate().await;
}

#[tokio::test]
async fn redundancy_connection_flag_sends_every_event_to_every_started_client() {
    let (sim, port) = run_generated(&[
        "--points",
        "4",
        "--rate",
        "50",
        "--redundancy",
        "connection",
    ])
    .await;
    let mut a = Peer::started(addr(port)).await;
    let mut b = Peer::started(addr(port)).await;
    // An event B receives after both started must reach A too: with the default (single) mode
    // B's STARTDT would have taken the events away from A.
    let seen = b.until(|g| g.cause == Cause::Spontaneous).await;
    a.until_same(seen.last().expect("one")).await;
    sim.terminate().await;
}

#[tokio::test]
async fn redundancy_flag_refuses_groups_and_unknown_modes() {
    for mode in ["groups", "Connection", "dual"] {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_iec104-sim"))
            .args(["--listen", "127.0.0.1:0", "--redundancy", mode])
            .output()
            .await
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{mode}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--redundancy") && err.contains(&format!("{mode:?}")),
            "{mode}: {err}"
        );
    }
}

/// The values of bitstring point 13 (a counter in the generated set) among `objects`.
fn counter13<'a>(objects: impl Iterator<Item = &'a Value>) -> Vec<u64> {
    objects
        .filter(|o| o["ioa"] == 13 && o["type"] == "M_BO_NA_1")
        .map(|o| {
            o["value"]
                .as_u64()
                .unwrap_or_else(|| panic!("a counted bitstring: {o}"))
        })
        .collect()
}

#[tokio::test]
async fn queue_size_flag_keeps_only_the_newest_events_while_no_client_is_started() {
    let dir = scratch("queue");
    let log = dir.join("events.jsonl");
    let (sim, port) = run_generated(&[
        "--points",
        "13",
        "--rate",
        "400",
        "--queue-size",
        "3",
        "--events-log",
        log.to_str().unwrap(),
    ])
    .await;
    // Point 13 counts up by one per update. Wait until it has counted well past what three
    // ASDUs can hold, with no client started.
    let deadline = tokio::time::Instant::now() + BOUND;
    let before = loop {
        let logged = counter13(read_jsonl(&log).iter())
            .last()
            .copied()
            .unwrap_or(0);
        if logged >= 60 {
            break logged;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "point 13 counted only to {logged}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let mut peer = Peer::started(addr(port)).await;
    let got = peer
        .until(|g| !counter13(g.objects.iter()).is_empty())
        .await;
    let first = counter13(got.iter().flat_map(|g| g.objects.iter()))[0];
    // The queue held three ASDUs at STARTDT (a few updates of point 13 at most); every older
    // event was dropped. Without the limit the first value received would be 1.
    assert!(
        first > before / 2,
        "first value of point 13 received: {first}, logged before STARTDT: up to {before}: \
         more than --queue-size 3 ASDUs were kept"
    );
    sim.terminate().await;
}

const GROUPS: &str = r#"
[[station]]
ca = 4
rate = 50.0
redundancy = "groups"
groups = [
  { name = "a", addresses = ["127.0.0.2"] },
  { name = "b", addresses = ["127.0.0.3"] },
]
point = [
  { ioa = 1, type = "M_ME_NB_1", behaviour = { kind = "counter", increment = 1.0 } },
]
"#;

#[tokio::test]
async fn redundancy_groups_are_chosen_by_client_address() {
    let (sim, port, _dir) = sim_with("groups", GROUPS, &[]).await;
    let started = |source: Ipv4Addr| async move {
        let peer = Peer::connect_from(source, addr(port))
            .await
            .expect("connect");
        tokio::time::timeout(BOUND, peer.client.start_dt())
            .await
            .expect("STARTDT con within the bound")
            .expect("STARTDT");
        peer
    };
    let mut a = started(Ipv4Addr::new(127, 0, 0, 2)).await;
    let mut b = started(Ipv4Addr::new(127, 0, 0, 3)).await;
    // Two groups: each gets every event.
    let seen = b.until(|g| g.cause == Cause::Spontaneous).await;
    a.until_same(seen.last().expect("one")).await;
    // A second client of group a takes it over; group b goes on unaffected.
    let mut a2 = started(Ipv4Addr::new(127, 0, 0, 2)).await;
    // (It gets group a's events a did not acknowledge first, then the new ones: every event
    // b receives from now on comes to a2 as well.)
    let seen = b.until(|g| g.cause == Cause::Spontaneous).await;
    a2.until_same(seen.last().expect("one")).await;
    // An address in no group (and no catch-all group) is refused.
    let refused = match Peer::connect_from(Ipv4Addr::LOCALHOST, addr(port)).await {
        Err(e) => e.to_string(),
        Ok(mut p) => match tokio::time::timeout(BOUND, p.client.start_dt()).await {
            Ok(Ok(())) => panic!("127.0.0.1 belongs to no group but was started"),
            Ok(Err(e)) => e.to_string(),
            Err(_) => p.closed(BOUND).await,
        },
    };
    assert!(!refused.is_empty());
    drop(a);
    sim.terminate().await;
}

const DEADBAND_PERIOD: &str = r#"
[[station]]
ca = 5
rate = 100.0
point = [
  { ioa = 1, type = "M_ME_NB_1", behaviour = { kind = "counter", increment = 1.0 }, deadband = 3.0 },
  { ioa = 2, type = "M_ME_NB_1", behaviour = { kind = "counter", increment = 1.0 } },
  { ioa = 3, type = "M_ME_NC_1", value = 1.5, period = 0.2 },
  { ioa = 4, type = "M_ME_NC_1", value = 2.5 },
]
"#;

#[tokio::test]
async fn deadband_suppresses_small_changes_and_period_reports_cyclically() {
    let (sim, port, _dir) = sim_with("deadband", DEADBAND_PERIOD, &[]).await;
    let mut peer = Peer::started(addr(port)).await;
    let objects = |got: &[Got], cause: Cause, ioa: u64| -> Vec<Value> {
        got.iter()
            .filter(|g| g.cause == cause)
            .flat_map(|g| g.objects.iter())
            .filter(|o| o["ioa"] == ioa)
            .map(|o| o["value"].clone())
            .collect()
    };
    let mut got = Vec::new();
    while objects(&got, Cause::Spontaneous, 1).len() < 5
        || objects(&got, Cause::Spontaneous, 2).len() < 5
        || objects(&got, Cause::Periodic, 3).len() < 3
    {
        got.extend(peer.until(|_| true).await);
    }
    // Counting up by 1: with deadband 3 only every third value is reported ...
    let banded: Vec<i64> = objects(&got, Cause::Spontaneous, 1)
        .iter()
        .map(|v| v.as_i64().expect("scaled"))
        .collect();
    assert!(
        banded.windows(2).all(|w| w[1] - w[0] == 3) && banded[0] % 3 == 0,
        "deadband 3: {banded:?}"
    );
    // ... without one, every value.
    let plain: Vec<i64> = objects(&got, Cause::Spontaneous, 2)
        .iter()
        .map(|v| v.as_i64().expect("scaled"))
        .collect();
    assert!(
        plain.windows(2).all(|w| w[1] - w[0] == 1),
        "no deadband: {plain:?}"
    );
    // The periodic point comes with cause 1 and its value; the other constant never cyclically.
    assert!(objects(&got, Cause::Periodic, 3).iter().all(|v| v == 1.5));
    assert!(objects(&got, Cause::Periodic, 4).is_empty());
    assert!(objects(&got, Cause::Spontaneous, 3).is_empty());
    sim.terminate().await;
}

//! Redundancy (a second client's STARTDT takes over, unacknowledged events come again in
//! order, the events log shows nothing lost), injected faults as the client sees them, and the
//! command-line client against the simulator.

mod common;

use std::time::{Duration, Instant};

use common::*;
use iec104::asdu::{AsduParams, AsduView, Element, Qoi};
use iec104::cot::Cause;
use iec104::json::JsonObject;
use serde_json::Value;

/// Objects of an ASDU as the events log writes them (without `"station"`).
fn objects(asdu: &[u8]) -> Vec<Value> {
    let view = AsduView::parse(asdu, &AsduParams::IEC104).unwrap();
    JsonObject::from_view(&view, chrono::Utc::now())
        .map(|o| o.to_value())
        .collect()
}

const REDUNDANT: &str = r#"
[[station]]
name = "red"
ca = 5
rate = 200.0
k = 12
queue_size = 100000
redundancy = "single"
point = [
  { ioa = 1, type = "M_ME_NB_1", behaviour = { kind = "counter", increment = 1.0 } },
  { ioa = 2, type = "M_IT_NA_1", behaviour = { kind = "counter", increment = 1.0 } },
  { ioa = 3, type = "M_SP_NA_1", behaviour = { kind = "toggle" } },
]
"#;

#[tokio::test]
async fn second_startdt_takes_over_and_nothing_is_lost() {
    let Run {
        sim,
        port,
        log,
        dir: _dir,
    } = run_scenario("redundancy", REDUNDANT, &[]).await;

    // Client A starts and never acknowledges: the station sends k = 12 I-frames, then waits.
    let mut a = Peer::connect(addr(port), false).await.expect("connect A");
    a.client.start_dt().await.expect("STARTDT A");
    let mut from_a = Vec::new();
    for _ in 0..12 {
        let asdu = a.next(BOUND).await.expect("an event on A");
        from_a.extend(objects(&asdu));
    }
    // Client B of the same group starts: A is closed, B gets A's unacknowledged events again,
    // in order, then the rest.
    let mut b = Peer::connect(addr(port), true).await.expect("connect B");
    b.client.start_dt().await.expect("STARTDT B");
    let reason = a.closed(BOUND).await;
    assert!(
        reason.contains("PeerClosed") || reason.contains("Io"),
        "{reason}"
    );
    let mut from_b = Vec::new();
    while from_b.len() < from_a.len() + 200 {
        let asdu = b.next(BOUND).await.expect("an event on B");
        from_b.extend(objects(&asdu));
    }
    sim.terminate().await;

    // The log: what the station sent, in order (enqueued while nobody was started, too).
    let logged: Vec<Value> = read_jsonl(&log)
        .into_iter()
        .map(|mut l| {
            let station = l.as_object_mut().unwrap().remove("station");
            assert_eq!(station, Some(Value::from("red")));
            l
        })
        .collect();
    assert!(logged.len() >= from_b.len());
    assert_eq!(
        from_a[..],
        logged[..from_a.len()],
        "A: the log's first events"
    );
    assert_eq!(
        from_b[..],
        logged[..from_b.len()],
        "B: everything from the first event on, A's unacknowledged ones included, in order"
    );
}

#[tokio::test]
async fn connection_mode_sends_every_event_to_every_started_client() {
    let Run {
        sim,
        port,
        dir: _dir,
        ..
    } = run_scenario(
        "multi",
        &REDUNDANT.replace("\"single\"", "\"connection\""),
        &[],
    )
    .await;
    let mut a = Peer::started(addr(port)).await;
    let mut b = Peer::started(addr(port)).await;
    let mut from_a = Vec::new();
    let mut from_b = Vec::new();
    while from_b.len() < 300 {
        from_b.extend(objects(&b.next(BOUND).await.expect("events on B")));
    }
    while from_a.len() < from_b.len() + 300 {
        from_a.extend(objects(&a.next(BOUND).await.expect("events on A")));
    }
    // B started later: its events are a contiguous run of A's (neither was superseded). (The
    // toggling point repeats its objects, so look for the whole run.)
    let n = from_b.len();
    assert!(
        (0..from_a.len()).any(|s| from_a.get(s..s + n) == Some(&from_b[..])),
        "B's events are not a run of A's"
    );
    sim.terminate().await;
}

#[tokio::test]
async fn events_log_is_flushed_while_running() {
    let Run {
        sim,
        port,
        log,
        dir: _dir,
    } = run_scenario(
        "flush",
        QUIET,
        &["--fault", "kind=burst,at=0,from=startdt,events=200"],
    )
    .await;
    let mut peer = Peer::started(addr(port)).await;
    peer.spontaneous_objects(200).await;
    // Logged before they were sent, and written out while the simulator runs (it is only
    // terminated below): the test waits for the file to hold them, not for a guessed time.
    let complete_lines = || {
        std::fs::read_to_string(&log)
            .map(|t| t.matches('\n').count())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + BOUND;
    while complete_lines() < 200 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        complete_lines(),
        200,
        "the running simulator did not flush its events log"
    );
    assert_eq!(read_jsonl(&log).len(), 200);
    sim.terminate().await;
}

async fn quiet_sim(name: &str, fault: &str) -> (Sim, u16) {
    let Run {
        sim,
        port,
        dir: _dir,
        ..
    } = run_scenario(name, QUIET, &["--fault", fault]).await;
    (sim, port)
}

#[tokio::test]
async fn drop_connections_is_seen_as_a_peer_close() {
    let (sim, port) = quiet_sim("drop", "kind=drop_connections,at=0.2,from=startdt").await;
    let mut peer = Peer::started(addr(port)).await;
    let reason = peer.closed(BOUND).await;
    assert!(reason.contains("PeerClosed"), "{reason}");
    sim.terminate().await;
}

#[tokio::test]
async fn restart_closes_then_comes_back_with_end_of_initialization() {
    let (sim, port) = quiet_sim("restart", "kind=restart,at=0.2,from=startdt,down_ms=300").await;
    let mut peer = Peer::started(addr(port)).await;
    let reason = peer.closed(BOUND).await;
    assert!(
        reason.contains("PeerClosed") || reason.contains("Io"),
        "{reason}"
    );
    // Down for 300 ms: connecting fails (refused, or reset by the listener going away) until
    // the station is back; a real client retries the same way (bounded here).
    let deadline = Instant::now() + BOUND;
    let mut peer = loop {
        let attempt = match Peer::connect(addr(port), true).await {
            Ok(p) => p.client.start_dt().await.map(|()| p),
            Err(e) => Err(e),
        };
        match attempt {
            Ok(p) => break p,
            Err(e) if Instant::now() < deadline => {
                let text = e.to_string();
                assert!(text.contains("io") || text.contains("closed"), "{text}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("station not back: {e}"),
        }
    };
    let got = peer.until(|g| g.type_name == "M_EI_NA_1").await;
    assert_eq!(got.last().unwrap().cause, Cause::Initialized);
    sim.terminate().await;
}

#[tokio::test]
async fn delayed_responses_arrive_late_but_arrive() {
    let (sim, port) = quiet_sim("delay", "kind=delay_responses,at=0,delay_ms=600").await;
    let mut peer = Peer::started(addr(port)).await;
    let sent = Instant::now();
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
    assert!(
        sent.elapsed() >= Duration::from_millis(600),
        "{:?} {got:#?}\n{}",
        sent.elapsed(),
        sim.stderr.lock().unwrap().join("\n")
    );
    assert_eq!(got.len(), 4, "ActCon, two data ASDUs, ActTerm: {got:#?}");
    sim.terminate().await;
}

#[tokio::test]
async fn burst_delivers_every_event() {
    let (sim, port) = quiet_sim("burst", "kind=burst,at=0.1,from=startdt,events=500").await;
    let mut peer = Peer::started(addr(port)).await;
    assert_eq!(peer.spontaneous_objects(500).await, 500);
    assert_nothing_more_before_an_interrogation(&mut peer, 9).await;
    sim.terminate().await;
}

#[tokio::test]
async fn stop_acknowledging_makes_the_client_t1_expire() {
    let (sim, port) = quiet_sim("mute", "kind=stop_acknowledging,at=0,from=startdt").await;
    // An idle link: after t3 = 1 s the client sends TESTFR act; no con comes, t1 = 1 s expires.
    let mut config = iec104::client::ClientConfig::default();
    config.link.t1 = Duration::from_secs(1);
    config.link.t2 = Duration::from_millis(500);
    config.link.t3 = Duration::from_secs(1);
    let mut peer = Peer::connect_with(addr(port), config)
        .await
        .expect("connect");
    peer.client.start_dt().await.expect("STARTDT");
    let reason = peer.closed(BOUND).await;
    assert!(
        reason.contains("T1") || reason.contains("t1") || reason.contains("Timeout"),
        "{reason}"
    );
    sim.terminate().await;
}

#[tokio::test]
async fn malformed_frame_is_reported_by_the_client() {
    let (sim, port) = quiet_sim("malformed", "kind=malformed_frame,at=0.1,from=startdt").await;
    let mut peer = Peer::started(addr(port)).await;
    let reason = peer.closed(BOUND).await;
    // The client names the bad frame and shows its octets.
    assert!(reason.contains("Frame"), "{reason}");
    assert!(reason.to_lowercase().contains("68 04 47"), "{reason}");
    sim.terminate().await;
}

#[tokio::test]
async fn bad_malformed_octets_are_refused_at_start() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_iec104-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--points",
            "1",
            "--fault",
            "kind=malformed_frame,at=1,octets=XYZ",
        ])
        .output()
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hex octets"));
}

/// The `iec104` command-line client (built by `cargo build -p iec104-cli`, found next to the
/// simulator binary) interrogates the simulator.
#[tokio::test]
async fn cli_interrogates_the_simulator() {
    let sim_bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_iec104-sim"));
    let cli = sim_bin.with_file_name("iec104");
    let built = if cli.exists() {
        Ok(())
    } else {
        Err(format!(
            "{} missing: run `cargo build -p iec104-cli` first",
            cli.display()
        ))
    };
    if testkit::interop::require("the iec104 binary", built).is_err() {
        return;
    }
    let (sim, port) = quiet_sim("cli", "kind=burst,at=3600").await;
    let out = tokio::time::timeout(
        BOUND,
        tokio::process::Command::new(&cli)
            .args([
                "interrogate",
                &format!("127.0.0.1:{port}"),
                "--format",
                "json",
                "--ca",
                "9",
                "--timeout",
                "10",
            ])
            .output(),
    )
    .await
    .expect("the CLI ends within the bound")
    .expect("run the CLI");
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let ioas: Vec<u64> = lines
        .iter()
        .filter(|l| l["cot"] == "inrogen")
        .map(|l| l["ioa"].as_u64().unwrap())
        .collect();
    assert_eq!(ioas, vec![1, 2], "{lines:#?}");
    sim.terminate().await;
}

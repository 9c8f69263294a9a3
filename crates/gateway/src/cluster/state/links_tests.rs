//! Virtual-time tests of what the loss of each broker connection means (issue #11): the
//! coordination connection carries presence, beats, deltas and snapshots; the data connection
//! carries RTU data, statuses and commands.

use super::*;
use crate::cluster::ownership::owner;

/// `coordination_loss_hold` of these nodes.
const HOLD: Duration = Duration::from_secs(10);
const MS: Duration = Duration::from_millis(1);

fn node(me: &str, rtus: &[&str]) -> ClusterState {
    ClusterState::new(
        Settings {
            coordination_loss_hold: HOLD,
            ..Settings::quiet(me)
        },
        rtus.iter().map(|r| (r.to_string(), None)).collect(),
    )
}

fn presence(node: &str, status: &str, active: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&Presence {
        ready: active.iter().map(|s| s.to_string()).collect(),
        ..Presence::of(node, status, active)
    })
    .unwrap()
}

/// Steps `s` at `now` and delivers the echo of what it published.
fn step_echo(s: &mut ClusterState, now: Instant) -> Output {
    let out = s.step(now);
    if let Some(p) = &out.publish {
        let me = s.settings.me.clone();
        s.presence(&me, &serde_json::to_vec(p).unwrap(), now);
    }
    out
}

/// An RTU `a` owns among {a, b}.
fn rtu_of_a() -> String {
    (0..50)
        .map(|i| format!("s{i}"))
        .find(|r| owner(r, None, &["a", "b"]) == Some("a"))
        .unwrap()
}

/// Node `a`, both connections up, synced with `b` (online, holding nothing), carrying its
/// RTU (Active, started).
fn carrying(rtu: &str, now: Instant) -> ClusterState {
    let mut a = node("a", &[rtu]);
    a.data_link(true);
    a.coordination(true);
    a.presence("b", &presence("b", ONLINE, &[]), now);
    step_echo(&mut a, now);
    assert!(a.synced());
    step_echo(&mut a, now);
    a.session(0, Report::Connected);
    a.session(0, Report::Started);
    step_echo(&mut a, now);
    assert_eq!(a.rtus()[0].role, Role::Active);
    a
}

#[test]
fn the_data_connection_lost_alone_changes_no_role() {
    let t0 = Instant::now();
    let rtu = rtu_of_a();
    let mut a = carrying(&rtu, t0);
    a.data_link(false);
    for later in [MS, HOLD, HOLD * 100] {
        let out = step_echo(&mut a, t0 + later);
        assert!(out.changes.is_empty(), "{out:?}");
        assert!(
            a.synced(),
            "still acting: the coordination connection is up"
        );
    }
    assert_eq!(a.rtus()[0].role, Role::Active);
    // Back: still nothing changes.
    a.data_link(true);
    assert!(step_echo(&mut a, t0 + HOLD * 101).changes.is_empty());
}

#[test]
fn coordination_lost_with_the_data_connection_up_steps_down_after_the_hold() {
    let t0 = Instant::now();
    let rtu = rtu_of_a();
    let mut a = carrying(&rtu, t0);
    a.coordination(false);
    // Kept through the hold (a short loss of the coordination connection moves nothing)…
    let out = a.step(t0);
    assert!(out.changes.is_empty(), "{out:?}");
    assert_eq!(out.wake_at, Some(t0 + HOLD), "woken when the hold ends");
    assert!(a.step(t0 + HOLD - MS).changes.is_empty());
    assert_eq!(a.rtus()[0].role, Role::Active);
    // …then the others have declared us dead and carry it: Standby (STOPDT), no duplicates.
    let out = a.step(t0 + HOLD);
    assert_eq!(out.changes.len(), 1, "{out:?}");
    assert_eq!(out.changes[0].role, Role::Standby);
    a.session(0, Report::Stopped);
    a.step(t0 + HOLD);
    // The coordination connection returns; b carries it now: we wait for b to hand it back.
    let t1 = t0 + HOLD * 2;
    a.coordination(true);
    a.presence("b", &presence("b", ONLINE, &[&rtu]), t1);
    a.beat("b", b"inc-b", t1);
    // The board publishes our presence again on the new connection: its echo syncs.
    let own = serde_json::to_vec(&a.announced).unwrap();
    a.presence("a", &own, t1);
    step_echo(&mut a, t1);
    assert!(a.synced());
    assert_eq!(a.rtus()[0].role, Role::Standby, "b still holds it");
    // b releases it (it saw us ready): ours again.
    a.presence("b", &presence("b", ONLINE, &[]), t1 + MS);
    step_echo(&mut a, t1 + MS);
    assert_eq!(a.rtus()[0].role, Role::Active);
}

#[test]
fn both_connections_lost_keep_carrying_into_the_store() {
    let t0 = Instant::now();
    let rtu = rtu_of_a();
    let mut a = carrying(&rtu, t0);
    // The broker is unreachable: the data goes to the store, the RTU stays ours.
    a.coordination(false);
    a.data_link(false);
    for later in [MS, HOLD, HOLD * 100] {
        assert!(a.step(t0 + later).changes.is_empty());
    }
    assert_eq!(a.rtus()[0].role, Role::Active);
}

#[test]
fn the_hold_counts_only_while_the_data_connection_is_up() {
    let t0 = Instant::now();
    let rtu = rtu_of_a();
    let mut a = carrying(&rtu, t0);
    a.coordination(false);
    a.step(t0);
    // The data connection drops too before the hold ends: partition, the count starts over.
    a.data_link(false);
    assert!(a.step(t0 + HOLD / 2).changes.is_empty());
    let t1 = t0 + HOLD;
    a.data_link(true);
    assert!(a.step(t1).changes.is_empty());
    assert!(a.step(t1 + HOLD - MS).changes.is_empty());
    assert_eq!(a.rtus()[0].role, Role::Active);
    let out = a.step(t1 + HOLD);
    assert_eq!(out.changes.first().map(|c| c.role), Some(Role::Standby));
}

//! Virtual-time tests of the coordination that needs no retained messages: numbered states,
//! deltas, snapshots on request, held wills and coalesced publications (state/ and
//! membership.rs together, the broker played by the test).

use std::time::{Duration, Instant};

use super::membership::{Delta, Presence, ONLINE};
use super::ownership::owner;
use super::state::{ClusterState, Output, Settings};
use crate::model::{Report, Role};

const MS: Duration = Duration::from_millis(1);

fn settings(me: &str) -> Settings {
    Settings {
        liveness: Duration::from_millis(3000),
        startup_grace: Duration::from_millis(2000),
        reconnect_hold: Duration::from_millis(3000),
        coalesce: 100 * MS,
        will_wait: 750 * MS,
        snapshot_after: 250 * MS,
        ..Settings::quiet(me)
    }
}

fn node(me: &str, rtus: &[&str]) -> ClusterState {
    ClusterState::new(
        settings(me),
        rtus.iter().map(|r| (r.to_string(), None)).collect(),
    )
}

/// An RTU owned by `a` among {a, b} and one owned by `b`.
fn split() -> (String, String) {
    let nodes = ["a", "b"];
    let find = |n: &str| {
        (0..100)
            .map(|i| format!("s{i}"))
            .find(|r| owner(r, None, &nodes) == Some(n))
            .unwrap()
    };
    (find("a"), find("b"))
}

fn json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// Steps `s` at `now` and delivers its own publication back to it (it is a live subscriber
/// of its own topic, which needs no retained message).
fn step_echo(s: &mut ClusterState, now: Instant) -> Output {
    let out = s.step(now);
    if let Some(p) = &out.publish {
        let me = p.node.clone();
        s.presence(&me, &json(p), now);
    }
    out
}

fn role(s: &ClusterState, rtu: &str) -> Role {
    s.rtus().iter().find(|r| r.name == rtu).unwrap().role
}

/// `b` alone, carrying both RTUs, at state number `seq`.
fn b_alone(ra: &str, rb: &str, t0: Instant) -> (ClusterState, Output) {
    let mut b = node("b", &[ra, rb]);
    b.coordination(true);
    step_echo(&mut b, t0);
    b.beat_seq("b", b"inc-b", 1, t0);
    b.session(0, Report::Started);
    b.session(1, Report::Started);
    let t = t0 + Duration::from_secs(3);
    b.beat_seq("b", b"inc-b", 1, t);
    let out = step_echo(&mut b, t);
    (b, out)
}

#[test]
fn the_view_converges_without_retained_messages() {
    // A broker whose retained store is per broker node: a, joining, never gets b's
    // retained presence; it hears b's beats, asks, and gets b's state as a snapshot.
    let t0 = Instant::now();
    let (ra, rb) = split();
    let (mut b, _) = b_alone(&ra, &rb, t0);
    assert_eq!(b.announced_seq(), 2, "b announced its two started RTUs");
    let t = t0 + Duration::from_secs(4);
    let mut a = node("a", &[&ra, &rb]);
    a.coordination(true);
    step_echo(&mut a, t);
    a.beat_seq("a", b"inc-a", 1, t);
    assert!(a.synced());
    // b's beat: a knows nothing of b: after `snapshot_after` it asks b.
    a.beat_seq("b", b"inc-b", b.announced_seq(), t + MS);
    let out = a.step(t + MS);
    assert!(out.requests.is_empty(), "{out:?}");
    let asked = t + 251 * MS;
    a.beat_seq("a", b"inc-a", 1, asked);
    let out = a.step(asked);
    assert_eq!(out.requests, vec!["b".to_owned()]);
    // b answers once, with its full state (not retained).
    b.sync_request();
    b.sync_request();
    let out = b.step(asked + MS);
    let snapshot = out.snapshot.expect("a snapshot");
    assert_eq!(snapshot.seq, 2);
    assert!(b.step(asked + 2 * MS).snapshot.is_none());
    a.presence("b", &json(&snapshot), asked + 3 * MS);
    // Within one heartbeat of a's start (2 s: beats every 500 ms), a's view holds b's
    // state: after the startup grace it does not take ra, which b carries, but waits for
    // its own connection and b's handover.
    let after_grace = t + Duration::from_millis(2100);
    a.beat_seq("a", b"inc-a", 1, after_grace);
    a.beat_seq("b", b"inc-b", 2, after_grace);
    let out = a.step(after_grace);
    assert!(out.requests.is_empty(), "no longer behind: {out:?}");
    assert_eq!(role(&a, &ra), Role::Standby);
    assert_eq!(role(&a, &rb), Role::Standby);
    assert_eq!(a.view().member("b").map(|m| m.active.len()), Some(2));
}

#[test]
fn a_late_will_about_a_live_node_moves_nothing() {
    // a's old broker node publishes a's will seconds late, while a (reconnected through
    // another broker node) beats on.
    let t0 = Instant::now();
    let (ra, _) = split();
    let mut b = node("b", &[&ra]);
    b.coordination(true);
    let a_state = Presence {
        node: "a".into(),
        status: ONLINE.into(),
        incarnation: "inc-a".into(),
        config_hash: "h".into(),
        active: vec![ra.clone()],
        seq: 3,
        ..Default::default()
    };
    b.presence("a", &json(&a_state), t0);
    b.beat_seq("a", b"inc-a", 3, t0);
    step_echo(&mut b, t0);
    b.beat_seq("b", b"inc-b", 1, t0);
    let out = b.step(t0);
    assert!(out.changes.iter().all(|c| c.role == Role::Standby));
    let will = Presence {
        status: "offline".into(),
        active: vec![],
        seq: 0,
        ..a_state.clone()
    };
    let late = t0 + 400 * MS;
    b.presence("a", &json(&will), late);
    let out = b.step(late);
    assert!(out.changes.is_empty() && !out.probe, "{out:?}");
    // a's next beat: the will was late.
    b.beat_seq("a", b"inc-a", 3, late + 200 * MS);
    assert_eq!(b.late_wills(), 1);
    for ms in [700, 1500, 2500] {
        let t = t0 + ms * MS;
        b.beat_seq("a", b"inc-a", 3, t);
        b.beat_seq("b", b"inc-b", 1, t);
        let out = b.step(t);
        assert!(out.changes.is_empty() && !out.probe, "{out:?}");
    }
    assert_eq!(role(&b, &ra), Role::Standby);
    assert_eq!(b.view().live_others().collect::<Vec<_>>(), vec!["a"]);

    // The same will when a really died (no beat after it): acted on once a beat period
    // and a half passed since a's last beat, then the usual probe, then the takeover.
    let will_at = t0 + 3000 * MS;
    b.presence("a", &json(&will), will_at);
    let out = b.step(will_at);
    assert!(out.changes.is_empty() && !out.probe, "{out:?}");
    let due = t0 + 2500 * MS + 750 * MS;
    assert_eq!(out.wake_at, Some(due));
    let out = b.step(due);
    assert!(out.probe, "{out:?}");
    b.beat_seq("b", b"inc-b", 1, due + MS);
    let out = b.step(due + MS);
    assert_eq!(out.changes.first().map(|c| c.role), Some(Role::Active));
    // An old life's will (another incarnation) about a node we know online moves nothing.
    let mut c = node("b", &[&ra]);
    c.presence("a", &json(&a_state), t0);
    let old_life = Presence {
        incarnation: "inc-a-before".into(),
        ..will.clone()
    };
    c.presence("a", &json(&old_life), t0 + MS);
    assert_eq!(c.view().live_others().collect::<Vec<_>>(), vec!["a"]);
}

#[test]
fn a_gap_in_the_deltas_asks_for_a_snapshot() {
    let t0 = Instant::now();
    let (ra, rb) = split();
    let mut b = node("b", &[&ra, &rb]);
    let a1 = Presence {
        node: "a".into(),
        status: ONLINE.into(),
        incarnation: "inc-a".into(),
        config_hash: "h".into(),
        seq: 1,
        ..Default::default()
    };
    b.presence("a", &json(&a1), t0);
    let a2 = Presence {
        active: vec![ra.clone()],
        seq: 2,
        ..a1.clone()
    };
    // The delta that follows applies; the same again is stale.
    let d2 = Delta::between(&a1, &a2);
    assert!(b.delta("a", &json(&d2), t0 + MS).is_empty());
    assert_eq!(b.view().holders(&ra).collect::<Vec<_>>(), vec!["a"]);
    b.delta("a", &json(&d2), t0 + 2 * MS);
    let out = b.step(t0 + 2 * MS);
    assert!(out.requests.is_empty(), "{out:?}");
    // Delta 3 is lost; delta 4 does not follow: a is asked at once, once.
    let a4 = Presence {
        active: vec![ra.clone(), rb.clone()],
        ready: vec![],
        seq: 4,
        ..a1.clone()
    };
    let a3 = Presence {
        active: vec![],
        seq: 3,
        ..a1.clone()
    };
    b.delta("a", &json(&Delta::between(&a3, &a4)), t0 + 10 * MS);
    assert_eq!(b.view().member("a").map(|m| m.seq), Some(2), "not applied");
    let out = b.step(t0 + 10 * MS);
    assert_eq!(out.requests, vec!["a".to_owned()]);
    b.delta("a", &json(&Delta::between(&a3, &a4)), t0 + 20 * MS);
    let out = b.step(t0 + 20 * MS);
    assert!(out.requests.is_empty(), "asked again too soon: {out:?}");
    assert_eq!(out.wake_at, Some(t0 + 260 * MS));
    // The snapshot arrives: up to date; an older retained presence after it changes nothing.
    b.presence("a", &json(&a4), t0 + 30 * MS);
    b.presence("a", &json(&a2), t0 + 31 * MS);
    assert_eq!(b.view().member("a").map(|m| m.seq), Some(4));
    assert_eq!(b.view().holders(&rb).collect::<Vec<_>>(), vec!["a"]);
    b.beat_seq("a", b"inc-a", 4, t0 + 300 * MS);
    let out = b.step(t0 + 300 * MS);
    assert!(out.requests.is_empty(), "{out:?}");
    // A beat ahead of the view (a delta on its way): asked only if it stays behind.
    b.beat_seq("a", b"inc-a", 5, t0 + 400 * MS);
    assert!(b.step(t0 + 400 * MS).requests.is_empty());
    let a5 = Presence {
        active: vec![rb.clone()],
        seq: 5,
        ..a1.clone()
    };
    b.delta("a", &json(&Delta::between(&a4, &a5)), t0 + 450 * MS);
    assert!(b.step(t0 + 700 * MS).requests.is_empty());
    b.beat_seq("a", b"inc-a", 6, t0 + 800 * MS);
    assert!(b.step(t0 + 800 * MS).requests.is_empty());
    assert_eq!(b.step(t0 + 1050 * MS).requests, vec!["a".to_owned()]);
}

#[test]
fn changes_within_one_window_go_out_as_one_publication() {
    let t0 = Instant::now();
    let rtus = ["r1", "r2", "r3", "r4", "r5"];
    let mut a = node("a", &rtus);
    a.coordination(true);
    let first = step_echo(&mut a, t0);
    assert_eq!(first.publish.map(|p| p.seq), Some(1));
    // The burst (3 with the first): the next two changes go out at once, each alone.
    for (i, ms, seq) in [(0, 10, 2), (1, 20, 3)] {
        a.session(i, Report::Connected);
        let out = step_echo(&mut a, t0 + ms * MS);
        assert_eq!(
            out.delta.map(|d| (d.seq, d.ready_add.len())),
            Some((seq, 1))
        );
    }
    // Then the window paces them: three changes wait and go out as one.
    for (i, ms) in [(2, 30), (3, 40), (4, 50)] {
        a.session(i, Report::Connected);
        let out = a.step(t0 + ms * MS);
        assert!(out.publish.is_none() && out.delta.is_none(), "{out:?}");
        assert_eq!(out.wake_at.map(|w| w <= t0 + 100 * MS), Some(true));
    }
    let out = step_echo(&mut a, t0 + 100 * MS);
    let d = out.delta.expect("one delta");
    assert_eq!((d.seq, d.ready_add.len(), d.active_add.len()), (4, 3, 0));
    // Nothing changed since: nothing goes out, however often it steps.
    let later = a.step(t0 + 300 * MS);
    assert!(later.publish.is_none() && later.delta.is_none());
}

#[test]
fn the_full_presence_goes_out_at_most_once_per_window_and_deltas_between() {
    let t0 = Instant::now();
    let rtus = ["r1", "r2", "r3"];
    let mut a = ClusterState::new(
        Settings {
            presence_every: Duration::from_secs(1),
            ..settings("a")
        },
        rtus.iter().map(|r| (r.to_string(), None)).collect(),
    );
    a.coordination(true);
    // The first publication on a connection goes out in full at once (its echo syncs).
    let first = step_echo(&mut a, t0);
    assert_eq!(first.publish.map(|p| p.seq), Some(1));
    assert!(a.synced());
    // Changes 100 ms apart: the first two still fit in the burst (3 per window, the first
    // publication included) and go out in full; the third is a delta only, the full
    // presence waits for the window. All the time in sync.
    for (i, ms, full) in [(0, 100, true), (1, 200, true), (2, 300, false)] {
        a.session(i, Report::Connected);
        let out = a.step(t0 + ms * MS);
        assert_eq!(out.publish.is_some(), full, "{out:?}");
        assert_eq!(out.delta.map(|d| d.ready_add.len()), Some(1));
        assert!(a.synced());
        if !full {
            assert_eq!(out.wake_at, Some(t0 + 1000 * MS));
        }
    }
    // One window after the first: the full presence with the latest state.
    let out = a.step(t0 + 1000 * MS);
    let p = out.publish.expect("the full presence");
    assert_eq!((p.seq, p.ready.len()), (4, 3));
    // A connection lost on a started RTU: that publication goes out in full at once (a
    // release always does) and nothing is decided before its echo.
    a.session(0, Report::Started);
    let out = step_echo(&mut a, t0 + 1100 * MS);
    assert!(out.publish.is_none());
    a.session(0, Report::Closed);
    let out = a.step(t0 + 1200 * MS);
    assert!(out.publish.is_some(), "{out:?}");
    assert!(!a.synced());
}

#[test]
fn a_long_run_of_changes_averages_one_full_presence_per_window() {
    let t0 = Instant::now();
    let n = 40;
    let mut a = ClusterState::new(
        Settings {
            presence_every: Duration::from_secs(1),
            ..settings("a")
        },
        (0..n).map(|i| (format!("r{i}"), None)).collect(),
    );
    a.coordination(true);
    step_echo(&mut a, t0);
    // A change every 100 ms for 4 s: 40 deltas, but only the burst and then one full
    // presence per second.
    let mut fulls = 0;
    let mut deltas = 0;
    for i in 0..n {
        a.session(i, Report::Connected);
        let out = a.step(t0 + (100 * (i as u32 + 1)) * MS);
        fulls += usize::from(out.publish.is_some());
        deltas += usize::from(out.delta.is_some());
    }
    assert_eq!(deltas, n);
    // The burst left after the first publication (2), then one at 1 s, 2 s, 3 s and 4 s.
    assert_eq!(fulls, 2 + 4);
}

#[test]
fn our_own_late_will_is_answered_with_our_presence_at_once() {
    // b's broker node died; b went on through another, and the dead node's peers publish
    // b's will late: the retained presence now says b is offline while b runs.
    let t0 = Instant::now();
    let mut b = ClusterState::new(
        Settings {
            presence_every: Duration::from_secs(10),
            ..settings("b")
        },
        vec![("r1".to_string(), None)],
    );
    b.coordination(true);
    let first = step_echo(&mut b, t0).publish.expect("first presence");
    assert_eq!(first.status, ONLINE);
    let quiet = b.step(t0 + 100 * MS);
    assert!(quiet.publish.is_none(), "{quiet:?}");
    let will = Presence {
        node: "b".into(),
        status: "offline".into(),
        incarnation: "inc-b".into(),
        config_hash: "h".into(),
        ..Presence::default()
    };
    b.presence("b", &json(&will), t0 + 200 * MS);
    // Within the full-presence window, yet at once: online again, the same state.
    let out = b.step(t0 + 200 * MS);
    let again = out
        .publish
        .expect("our presence again after our own late will");
    assert_eq!((again.status.as_str(), again.seq), (ONLINE, first.seq));
    // Once: the next step publishes nothing more.
    b.presence("b", &json(&again), t0 + 210 * MS);
    assert!(b.step(t0 + 300 * MS).publish.is_none());
}

#[test]
fn a_dead_node_is_not_asked_for_its_state() {
    // a beat at state 5 while we know state 3, then a died: its will is its last word, and
    // no snapshot request goes to it while its last beat is still within the liveness window.
    let t0 = Instant::now();
    let (ra, _) = split();
    let mut b = ClusterState::new(
        Settings {
            will_wait: Duration::ZERO,
            ..settings("b")
        },
        vec![(ra.clone(), None)],
    );
    b.coordination(true);
    let a_state = Presence {
        node: "a".into(),
        status: ONLINE.into(),
        incarnation: "inc-a".into(),
        config_hash: "h".into(),
        active: vec![ra.clone()],
        seq: 3,
        ..Default::default()
    };
    b.presence("a", &json(&a_state), t0);
    step_echo(&mut b, t0);
    b.beat_seq("a", b"inc-a", 5, t0 + 10 * MS);
    let will = Presence {
        status: "offline".into(),
        active: vec![],
        seq: 0,
        ..a_state
    };
    b.presence("a", &json(&will), t0 + 20 * MS);
    for ms in (20..2000).step_by(50) {
        let t = t0 + ms * MS;
        b.beat_seq("b", b"inc-b", 1, t);
        let out = b.step(t);
        assert!(
            out.requests.is_empty(),
            "asked a dead node at {ms} ms: {out:?}"
        );
    }
}

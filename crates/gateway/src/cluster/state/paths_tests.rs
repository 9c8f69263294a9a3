//! Virtual-time tests of path failover and orphans (issue #11 points 4 and 5): two nodes whose
//! presence publications are delivered to both at once (the broker), sessions played by the
//! test through their reports.

use super::*;
use crate::cluster::ownership::owner;
use crate::cluster::paths::HOLD_DOWN_FACTOR;

const PF: Duration = Duration::from_secs(3);
const MS: Duration = Duration::from_millis(1);

fn node(me: &str, rtu: &str) -> ClusterState {
    ClusterState::new(Settings::quiet(me), vec![(rtu.to_owned(), None)]).with_path_failover(PF)
}

/// Steps both nodes at `now` and delivers what they publish to both, until quiet.
fn pump(nodes: &mut [&mut ClusterState; 2], now: Instant) {
    for _ in 0..20 {
        let mut published = Vec::new();
        for n in nodes.iter_mut() {
            if let Some(p) = n.step(now).publish {
                published.push(p);
            }
        }
        if published.is_empty() {
            return;
        }
        for p in published {
            let payload = serde_json::to_vec(&p).unwrap();
            for n in nodes.iter_mut() {
                n.presence(&p.node, &payload, now);
            }
        }
    }
    panic!("the nodes never settle");
}

fn role(s: &ClusterState) -> Role {
    s.rtus()[0].role
}

/// An RTU owned by `a` among {a, b}.
fn rtu_of_a() -> String {
    (0..50)
        .map(|i| format!("s{i}"))
        .find(|r| owner(r, None, &["a", "b"]) == Some("a"))
        .unwrap()
}

/// a carries the RTU (started), b is connected in standby, at `t0`.
fn carried_by_a(t0: Instant) -> (ClusterState, ClusterState) {
    let rtu = rtu_of_a();
    let mut a = node("a", &rtu);
    let mut b = node("b", &rtu);
    a.coordination(true);
    b.coordination(true);
    pump(&mut [&mut a, &mut b], t0);
    assert_eq!((role(&a), role(&b)), (Role::Active, Role::Standby));
    a.session(0, Report::Started);
    b.session(0, Report::Connected);
    pump(&mut [&mut a, &mut b], t0);
    assert_eq!((role(&a), role(&b)), (Role::Active, Role::Standby));
    (a, b)
}

#[test]
fn a_lost_path_moves_the_rtu_after_path_failover_to_the_node_that_reaches_it() {
    let t0 = Instant::now();
    let (mut a, mut b) = carried_by_a(t0);
    // a's connection ends (a reset, a refusal, or a silent cut once t1 noticed it).
    let t1 = t0 + Duration::from_secs(10);
    a.session(0, Report::Closed);
    pump(&mut [&mut a, &mut b], t1);
    // Nothing moves before path_failover: a keeps trying as the owner.
    pump(&mut [&mut a, &mut b], t1 + PF - MS);
    assert_eq!((role(&a), role(&b)), (Role::Active, Role::Standby));
    // Both wake up for it.
    assert!(a.step(t1 + PF - MS).wake_at.is_some_and(|w| w <= t1 + PF));
    // At path_failover: b (connected) takes over, a reconnects in standby.
    pump(&mut [&mut a, &mut b], t1 + PF);
    assert_eq!((role(&a), role(&b)), (Role::Standby, Role::Active));
    assert!(a.orphans().is_empty() && b.orphans().is_empty());
}

#[test]
fn a_silent_cut_moves_nothing_until_the_link_layer_ends_the_connection() {
    // The cluster acts on the session's report: a silent cut is reported when the link layer
    // gives up (t1 after its TESTFR), and path_failover runs from there.
    let t0 = Instant::now();
    let (mut a, mut b) = carried_by_a(t0);
    for s in 1..=20 {
        pump(&mut [&mut a, &mut b], t0 + PF * s);
    }
    assert_eq!((role(&a), role(&b)), (Role::Active, Role::Standby));
    let t1 = t0 + PF * 21;
    a.session(0, Report::Closed);
    pump(&mut [&mut a, &mut b], t1);
    pump(&mut [&mut a, &mut b], t1 + PF - MS);
    assert_eq!(role(&b), Role::Standby);
    pump(&mut [&mut a, &mut b], t1 + PF);
    assert_eq!((role(&a), role(&b)), (Role::Standby, Role::Active));
}

#[test]
fn a_reconnection_within_path_failover_moves_nothing() {
    let t0 = Instant::now();
    let (mut a, mut b) = carried_by_a(t0);
    a.session(0, Report::Closed);
    pump(&mut [&mut a, &mut b], t0);
    a.session(0, Report::Started);
    pump(&mut [&mut a, &mut b], t0 + PF - MS);
    for s in 1..5 {
        pump(&mut [&mut a, &mut b], t0 + PF * s);
    }
    assert_eq!((role(&a), role(&b)), (Role::Active, Role::Standby));
}

#[test]
fn no_takeover_when_no_other_node_reaches_it_but_one_orphan_status() {
    let t0 = Instant::now();
    let (mut a, mut b) = carried_by_a(t0);
    // b's standby connection is gone too, then a's.
    b.session(0, Report::Closed);
    a.session(0, Report::Closed);
    pump(&mut [&mut a, &mut b], t0);
    pump(&mut [&mut a, &mut b], t0 + PF - MS);
    assert_eq!((role(&a), role(&b)), (Role::Active, Role::Standby));
    assert!(a.orphans().is_empty() && b.orphans().is_empty());
    // After path_failover nobody took it over; exactly one node (a, first in the ranking)
    // publishes it unowned and answers its commands; both keep trying in standby.
    pump(&mut [&mut a, &mut b], t0 + PF);
    assert_eq!((role(&a), role(&b)), (Role::Standby, Role::Standby));
    assert_eq!(a.orphans().iter().copied().collect::<Vec<_>>(), vec![0]);
    assert!(b.orphans().is_empty());
    // b gets its connection back: nobody publishes it unowned any more; a (the owner) gets
    // path_failover from then to connect too, then b carries it.
    let t1 = t0 + PF * 2;
    b.session(0, Report::Connected);
    pump(&mut [&mut a, &mut b], t1);
    assert!(a.orphans().is_empty() && b.orphans().is_empty());
    assert_eq!((role(&a), role(&b)), (Role::Active, Role::Standby));
    pump(&mut [&mut a, &mut b], t1 + PF - MS);
    assert_eq!((role(&a), role(&b)), (Role::Active, Role::Standby));
    pump(&mut [&mut a, &mut b], t1 + PF);
    assert_eq!((role(&a), role(&b)), (Role::Standby, Role::Active));
}

#[test]
fn the_old_owner_gets_the_rtu_back_only_after_the_hold_down() {
    let t0 = Instant::now();
    let (mut a, mut b) = carried_by_a(t0);
    a.session(0, Report::Closed);
    pump(&mut [&mut a, &mut b], t0);
    pump(&mut [&mut a, &mut b], t0 + PF);
    b.session(0, Report::Started);
    pump(&mut [&mut a, &mut b], t0 + PF);
    assert_eq!((role(&a), role(&b)), (Role::Standby, Role::Active));
    // a's path is back at t1: the RTU stays with b through the hold-down.
    let hold = PF * HOLD_DOWN_FACTOR;
    let t1 = t0 + PF * 2;
    a.session(0, Report::Connected);
    pump(&mut [&mut a, &mut b], t1);
    pump(&mut [&mut a, &mut b], t1 + hold - MS);
    assert_eq!((role(&a), role(&b)), (Role::Standby, Role::Active));
    // A break within the hold-down starts it over.
    let t2 = t1 + hold / 2;
    a.session(0, Report::Closed);
    pump(&mut [&mut a, &mut b], t2);
    a.session(0, Report::Connected);
    pump(&mut [&mut a, &mut b], t2 + MS);
    pump(&mut [&mut a, &mut b], t1 + hold);
    assert_eq!((role(&a), role(&b)), (Role::Standby, Role::Active));
    // After the hold-down: a graceful handover back (b stops first, then a starts).
    pump(&mut [&mut a, &mut b], t2 + MS + hold);
    assert_eq!(role(&b), Role::Standby);
    assert_eq!(role(&a), Role::Standby, "a waits for b's STOPDT");
    b.session(0, Report::Stopped);
    pump(&mut [&mut a, &mut b], t2 + MS + hold);
    assert_eq!((role(&a), role(&b)), (Role::Active, Role::Standby));
}

#[test]
fn commands_for_unknown_rtus_are_answered_by_exactly_one_node() {
    let t0 = Instant::now();
    let (a, b) = carried_by_a(t0);
    // The live node with the smallest id.
    assert!(a.answers_unknown());
    assert!(!b.answers_unknown());
}

#[test]
fn our_own_path_loss_counts_from_the_report_not_from_the_echo_of_our_presence() {
    // a loses its path at t1 and its presence echo comes back only 500 ms later; b hears of it
    // at once. a must demote itself no later than b takes over (else, with a path back at
    // that moment, both would carry the RTU).
    let t0 = Instant::now();
    let (mut a, mut b) = carried_by_a(t0);
    let t1 = t0 + Duration::from_secs(10);
    a.session(0, Report::Closed);
    let p = a.step(t1).publish.expect("a announces the loss");
    let payload = serde_json::to_vec(&p).unwrap();
    b.presence("a", &payload, t1);
    b.step(t1);
    let late = t1 + Duration::from_millis(500);
    a.presence("a", &payload, late);
    pump(&mut [&mut a, &mut b], late);
    pump(&mut [&mut a, &mut b], t1 + PF);
    assert_eq!((role(&a), role(&b)), (Role::Standby, Role::Active));
}

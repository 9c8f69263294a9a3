//! The state machine's decisions in virtual time: ownership, handover, takeover, wills,
//! fencing.

use super::*;
use crate::cluster::ownership::owner;

const T: Duration = Duration::from_secs(5);

fn node(me: &str, rtus: &[&str]) -> ClusterState {
    ClusterState::new(
        Settings {
            handover_timeout: T,
            ..Settings::quiet(me)
        },
        rtus.iter().map(|r| (r.to_string(), None)).collect(),
    )
}

fn presence(node: &str, status: &str, active: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&Presence::of(node, status, active)).unwrap()
}

/// Delivers the echo of what `out` published (as the broker would).
fn echo(s: &mut ClusterState, out: &Output, now: Instant) {
    if let Some(p) = &out.publish {
        let me = s.settings.me.clone();
        s.presence(&me, &serde_json::to_vec(p).unwrap(), now);
    }
}

/// Delivers the echo of our latest announced state (as the broker does on a new
/// connection: it republishes the retained presence).
fn echo_own(s: &mut ClusterState, now: Instant) {
    let me = s.settings.me.clone();
    let p = serde_json::to_vec(&s.announced).unwrap();
    s.presence(&me, &p, now);
}

fn role_of(s: &ClusterState, rtu: &str) -> Role {
    s.rtus().iter().find(|r| r.name == rtu).unwrap().role
}

/// An RTU owned by `a` among {a, b} and one owned by `b`.
fn split() -> (String, String) {
    let nodes = ["a", "b"];
    let mut of_a = None;
    let mut of_b = None;
    for i in 0..50 {
        let r = format!("s{i}");
        match owner(&r, None, &nodes) {
            Some("a") if of_a.is_none() => of_a = Some(r),
            Some("b") if of_b.is_none() => of_b = Some(r),
            _ => {}
        }
    }
    (of_a.unwrap(), of_b.unwrap())
}

/// Node `me` connected and synced with peer `other` online holding `held`.
fn synced_with(me: &str, other: &str, held: &[&str], rtus: &[&str], now: Instant) -> ClusterState {
    let mut s = node(me, rtus);
    s.coordination(true);
    s.presence(other, &presence(other, ONLINE, held), now);
    let out = s.step(now);
    assert!(out.publish.is_some());
    assert!(!s.synced());
    echo(&mut s, &out, now);
    assert!(s.synced());
    s
}

#[test]
fn nothing_happens_before_the_first_echo() {
    let now = Instant::now();
    let mut s = node("a", &["s1"]);
    s.coordination(true);
    let out = s.step(now);
    assert_eq!(
        out.publish.as_ref().map(|p| p.status.as_str()),
        Some(ONLINE)
    );
    assert!(out.changes.is_empty());
    assert_eq!(role_of(&s, "s1"), Role::Off);
    // An echo of a different publication (an old retained one) does not sync.
    s.presence("a", &presence("a", ONLINE, &["s1"]), now);
    assert!(!s.synced());
    echo(&mut s, &out, now);
    let out = s.step(now);
    assert_eq!(out.changes.len(), 1);
    assert_eq!(role_of(&s, "s1"), Role::Active);
}

#[test]
fn each_rtu_has_one_owner_and_a_standby() {
    let now = Instant::now();
    let (ra, rb) = split();
    let rtus = [ra.as_str(), rb.as_str()];
    let mut a = synced_with("a", "b", &[], &rtus, now);
    let mut b = synced_with("b", "a", &[], &rtus, now);
    a.step(now);
    b.step(now);
    assert_eq!(role_of(&a, &ra), Role::Active);
    assert_eq!(role_of(&a, &rb), Role::Standby);
    assert_eq!(role_of(&b, &rb), Role::Active);
    assert_eq!(role_of(&b, &ra), Role::Standby);
}

#[test]
fn takeover_on_will() {
    let now = Instant::now();
    let (ra, _) = split();
    let mut b = synced_with("b", "a", &[&ra], &[&ra], now);
    assert!(b.step(now).changes.iter().all(|c| c.role == Role::Standby));
    // a's last will: offline (its active list no longer counts). First a probe: a broker
    // shutting down delivers the wills of the clients it drops first to the others.
    let t = now + Duration::from_millis(1);
    b.presence("a", &presence("a", "offline", &[]), t);
    let out = b.step(t);
    assert!(out.probe);
    assert!(out.changes.is_empty(), "{out:?}");
    // Our connection drops before the probe comes back (the broker went down): nothing.
    b.coordination(false);
    let out = b.step(t);
    assert!(out.changes.is_empty() && !out.probe, "{out:?}");
    // Up again, our presence echoed: the reconnection hold (the others may be
    // reconnecting too) keeps ra until one liveness window passed.
    b.coordination(true);
    let t = t + Duration::from_millis(5);
    echo_own(&mut b, t);
    assert!(b.step(t).changes.is_empty());
    // a comes back within the window, carrying ra: nothing moves.
    // (hold = liveness, 3600 s in these tests: the hold itself is tested below.)

    // The same will on a live link: the probe's echo comes back, then ra is taken.
    let mut b = synced_with("b", "a", &[&ra], &[&ra], now);
    b.step(now);
    let t = now + Duration::from_millis(1);
    b.presence("a", &presence("a", "offline", &[]), t);
    assert!(b.step(t).probe);
    b.beat("b", b"inc-b", t + Duration::from_millis(1));
    let out = b.step(t + Duration::from_millis(1));
    assert_eq!(out.changes[0].role, Role::Active);
}

#[test]
fn after_a_reconnection_nothing_unheld_is_taken_for_one_liveness_window() {
    // A broker restart: every node's will is retained; the first node back must not take
    // the RTUs of the others, which are reconnecting too.
    let now = Instant::now();
    let (ra, rb) = split();
    let mut b = synced_then_cut("b", &ra, now);
    assert_eq!(role_of(&b, &ra), Role::Standby);
    // Back 1 s later (steps keep coming: no pause of our own).
    let t = now + Duration::from_secs(1);
    b.coordination(true);
    // Retained: a's will (published when the broker went down).
    b.presence("a", &presence("a", "offline", &[]), t);
    echo_own(&mut b, t);
    b.beat("b", b"inc-b", t + Duration::from_millis(1));
    let out = b.step(t + Duration::from_millis(1));
    assert!(out.changes.is_empty(), "{out:?}");
    assert!(out
        .wake_at
        .is_some_and(|w| w <= t + Duration::from_millis(1500)));
    // a reconnects within the window and still carries ra: nothing moves, ever.
    let u = t + Duration::from_millis(400);
    b.presence("a", &presence("a", ONLINE, &[&ra]), u);
    b.beat("b", b"inc-b", u);
    assert!(b.step(u).changes.is_empty());
    let v = t + Duration::from_millis(1400);
    b.beat("b", b"inc-b", v);
    b.beat("a", b"inc-a", v);
    assert!(b.step(t + Duration::from_millis(1600)).changes.is_empty());
    assert_eq!(role_of(&b, &ra), Role::Standby);

    // a does not come back: ra is taken once the window has passed.
    let mut c = synced_then_cut("b", &ra, now);
    c.coordination(true);
    c.presence("a", &presence("a", "offline", &[]), t);
    echo_own(&mut c, t);
    c.beat("b", b"inc-b", t + Duration::from_millis(1));
    assert!(c.step(t + Duration::from_millis(1)).changes.is_empty());
    let w = t + Duration::from_millis(1501);
    c.beat("b", b"inc-b", w);
    let out = c.step(w);
    assert_eq!(out.changes[0].role, Role::Active, "{out:?}");
    // Within the hold, a live node handing an RTU over to us (it drops it and stays
    // online) is no reason to wait: taken at once.
    let mut d = synced_then_cut("b", &rb, now);
    d.coordination(true);
    // (A short outage: steps keep coming, no pause of our own.)
    let t = now + Duration::from_millis(1000);
    d.presence("a", &presence("a", ONLINE, &[&rb]), t);
    echo_own(&mut d, t);
    d.session(0, Report::Connected);
    let out = d.step(t);
    echo(&mut d, &out, t);
    d.beat("b", b"inc-b", t);
    assert!(d.step(t).changes.is_empty());
    let u = t + Duration::from_millis(100);
    d.presence("a", &presence("a", ONLINE, &[]), u);
    d.beat("b", b"inc-b", u);
    let out = d.step(u);
    assert_eq!(out.changes[0].role, Role::Active, "{out:?}");

    // B7: the hold ends once every node live before our outage was heard again; a later
    // failure is ordinary failure detection (no 8 s blindness of a successor).
    let mut e = synced_then_cut("b", &ra, now);
    e.coordination(true);
    let t = now + Duration::from_millis(500);
    e.presence("a", &presence("a", ONLINE, &[&ra]), t);
    echo_own(&mut e, t);
    e.beat("b", b"inc-b", t);
    e.beat("a", b"inc-a", t);
    assert!(e.step(t).changes.is_empty());
    // a dies 200 ms later: its will, our probe comes back, ra is taken at once.
    let u = t + Duration::from_millis(200);
    e.presence("a", &presence("a", "offline", &[]), u);
    assert!(e.step(u).probe);
    let v = u + Duration::from_millis(2);
    e.beat("b", b"inc-b", v);
    let out = e.step(v);
    assert_eq!(out.changes[0].role, Role::Active, "{out:?}");
}

#[test]
fn new_owner_waits_for_release_then_starts() {
    let now = Instant::now();
    let (_, rb) = split();
    // b joins while a holds rb (which b owns among {a, b}).
    let mut b = synced_with("b", "a", &[&rb], &[&rb], now);
    b.session(0, Report::Connected);
    let out = b.step(now);
    echo(&mut b, &out, now);
    let out = b.step(now);
    assert_eq!(role_of(&b, &rb), Role::Standby);
    assert_eq!(out.wake_at, Some(now + T));
    // Still held a second later.
    b.step(now + Duration::from_secs(1));
    assert_eq!(role_of(&b, &rb), Role::Standby);
    // a drops it after its STOPDT con.
    b.presence("a", &presence("a", ONLINE, &[]), now);
    b.step(now + Duration::from_secs(2));
    assert_eq!(role_of(&b, &rb), Role::Active);
}

#[test]
fn handover_timeout_starts_anyway() {
    let now = Instant::now();
    let (_, rb) = split();
    let mut b = synced_with("b", "a", &[&rb], &[&rb], now);
    // Not connected yet: no timer runs (the holder hands over once we are ready).
    b.step(now);
    let out = b.step(now + T * 2);
    assert!(out.changes.is_empty(), "{out:?}");
    assert_eq!(role_of(&b, &rb), Role::Standby);
    let now = now + T * 2;
    b.beat("b", b"inc-b", now);
    b.session(0, Report::Connected);
    let out = b.step(now);
    echo(&mut b, &out, now);
    b.step(now);
    b.step(now + T - Duration::from_millis(1));
    assert_eq!(role_of(&b, &rb), Role::Standby);
    let out = b.step(now + T);
    assert_eq!(out.changes[0].role, Role::Active);
    assert_eq!(out.changes[0].reason, "owner, handover timeout passed");
}

#[test]
fn yield_when_no_longer_owner() {
    let now = Instant::now();
    let (_, rb) = split();
    // a alone: owns rb and starts it.
    let mut a = node("a", &[&rb]);
    a.coordination(true);
    let out = a.step(now);
    echo(&mut a, &out, now);
    a.step(now);
    assert_eq!(role_of(&a, &rb), Role::Active);
    a.session(0, Report::Started);
    let out = a.step(now);
    assert_eq!(
        out.publish.as_ref().map(|p| p.active.clone()),
        Some(vec![rb.clone()])
    );
    echo(&mut a, &out, now);
    // b comes online: rb is b's, but b has no connection to it yet: a keeps carrying it.
    a.presence("b", &presence("b", ONLINE, &[]), now);
    let out = a.step(now);
    assert!(out.changes.is_empty(), "{out:?}");
    assert_eq!(role_of(&a, &rb), Role::Active);
    // b's standby connection is up (ready): a stops data transfer (Standby: a is b's
    // standby).
    let ready = serde_json::to_vec(&Presence {
        node: "b".into(),
        status: ONLINE.into(),
        incarnation: "inc-b".into(),
        config_hash: "h".into(),
        ready: vec![rb.clone()],
        ..Default::default()
    })
    .unwrap();
    a.presence("b", &ready, now);
    let out = a.step(now);
    assert_eq!(out.changes[0].role, Role::Standby);
    // STOPDT con: rb leaves our active list.
    a.session(0, Report::Stopped);
    let out = a.step(now);
    assert_eq!(out.publish.map(|p| p.active), Some(vec![]));
}

#[test]
fn off_when_not_in_the_standby_set() {
    let now = Instant::now();
    let rtus: Vec<String> = (0..20).map(|i| format!("s{i}")).collect();
    let names: Vec<&str> = rtus.iter().map(|s| s.as_str()).collect();
    let mut a = node("a", &names);
    a.coordination(true);
    a.presence("b", &presence("b", ONLINE, &[]), now);
    a.presence("c", &presence("c", ONLINE, &[]), now);
    let out = a.step(now);
    echo(&mut a, &out, now);
    a.step(now);
    for r in &rtus {
        let rank = ranking(r, None, &["a", "b", "c"]);
        let want = match rank.iter().position(|n| *n == "a") {
            Some(0) => Role::Active,
            Some(1) => Role::Standby,
            _ => Role::Off,
        };
        assert_eq!(role_of(&a, r), want, "{r}: {rank:?}");
    }
}

#[test]
fn preferred_node_owns_while_live() {
    let now = Instant::now();
    let (ra, _) = split();
    // ra is a's by score; prefer b.
    let mut b = node("b", &[]);
    b.rtus.push(RtuState::new(ra.clone(), Some("b".into())));
    b.coordination(true);
    b.presence("a", &presence("a", ONLINE, &[]), now);
    let out = b.step(now);
    echo(&mut b, &out, now);
    b.step(now);
    assert_eq!(role_of(&b, &ra), Role::Active);
}

#[test]
fn partition_keeps_started_and_takes_nothing_new() {
    let now = Instant::now();
    let (ra, rb) = split();
    let rtus = [ra.as_str(), rb.as_str()];
    let mut a = synced_with("a", "b", &[&rb], &rtus, now);
    a.step(now);
    a.session(0, Report::Started);
    let out = a.step(now);
    echo(&mut a, &out, now);
    // Cut from the broker.
    a.coordination(false);
    // b's will arrives... it cannot (we are cut), but even a stale message must not act.
    a.presence("b", &presence("b", "offline", &[]), now);
    let out = a.step(now);
    assert!(out.changes.is_empty(), "{out:?}");
    assert_eq!(role_of(&a, &ra), Role::Active);
    assert_eq!(role_of(&a, &rb), Role::Standby);
    // The RTU closes our connection (another node took it over): do not fight back.
    a.session(0, Report::Closed);
    let out = a.step(now);
    assert_eq!(out.changes[0].role, Role::Standby);
    assert_eq!(role_of(&a, &rb), Role::Standby);
    // Reconnected: nothing before the echo; then the fresh view decides.
    a.coordination(true);
    a.presence("b", &presence("b", ONLINE, &[&ra, &rb]), now);
    assert!(a.step(now).changes.is_empty());
    echo_own(&mut a, now);
    assert!(a.synced());
    // a owns ra by score but b holds it: wait for b to hand it back.
    a.step(now);
    assert_eq!(role_of(&a, &ra), Role::Standby);
}

#[test]
fn a_lost_connection_with_a_dead_broker_link_does_not_restart() {
    // Frozen and resumed (SIGSTOP/SIGCONT): the broker link looks up but is dead; the RTU
    // closed our connection. Dropping the RTU from our presence unsyncs until the echo,
    // which never comes over a dead link: no STARTDT.
    let now = Instant::now();
    let (ra, _) = split();
    let mut a = synced_with("a", "b", &[], &[&ra], now);
    a.step(now);
    a.session(0, Report::Started);
    let out = a.step(now);
    echo(&mut a, &out, now);
    a.session(0, Report::Closed);
    let out = a.step(now);
    assert!(out.publish.is_some());
    assert_eq!(role_of(&a, &ra), Role::Standby);
    // With the echo (the link is alive) and nobody else holding it: started again.
    echo(&mut a, &out, now);
    a.step(now);
    assert_eq!(role_of(&a, &ra), Role::Active);
}

#[test]
fn leaving_stops_everything_then_is_done() {
    let now = Instant::now();
    let (ra, _) = split();
    let mut a = synced_with("a", "b", &[], &[&ra], now);
    a.step(now);
    a.session(0, Report::Started);
    let out = a.step(now);
    echo(&mut a, &out, now);
    a.leave();
    let out = a.step(now);
    assert_eq!(
        out.publish.as_ref().map(|p| p.status.as_str()),
        Some(LEAVING)
    );
    assert_eq!(out.changes[0].role, Role::Off);
    echo(&mut a, &out, now);
    assert!(!a.left());
    a.session(0, Report::Stopped);
    let out = a.step(now);
    assert_eq!(out.publish.as_ref().map(|p| p.active.len()), Some(0));
    assert!(!a.left());
    echo(&mut a, &out, now);
    assert!(a.left());
}

#[test]
fn others_do_not_count_a_leaving_node_as_candidate() {
    let now = Instant::now();
    let (ra, _) = split();
    let mut b = synced_with("b", "a", &[&ra], &[&ra], now);
    b.step(now);
    assert_eq!(role_of(&b, &ra), Role::Standby);
    b.presence("a", &presence("a", LEAVING, &[&ra]), now);
    b.step(now);
    // b owns it now, but a still holds it: wait for its release.
    assert_eq!(role_of(&b, &ra), Role::Standby);
    b.presence("a", &presence("a", LEAVING, &[]), now);
    b.step(now);
    assert_eq!(role_of(&b, &ra), Role::Active);
}

#[test]
fn duplicate_id_after_our_echo() {
    let now = Instant::now();
    let mut a = synced_with("a", "b", &[], &[], now);
    let other = serde_json::to_vec(&Presence {
        node: "a".into(),
        status: ONLINE.into(),
        incarnation: "someone-else".into(),
        config_hash: "h".into(),
        active: vec![],
        ..Default::default()
    })
    .unwrap();
    // (b releasing nothing we carry asks for no refresh.)
    a.presence("b", &presence("b", ONLINE, &["x"]), now);
    a.presence("b", &presence("b", ONLINE, &[]), now);
    assert!(a.take_refresh().is_empty());
    let alarms = a.presence("a", &other, now);
    assert_eq!(
        alarms,
        vec![Alarm::DuplicateId {
            incarnation: "someone-else".into()
        }]
    );
}

/// `me` with liveness and reconnection hold of 1.5 s, synced while "a" (online) carries
/// `rtu`, then cut from the broker (steps keep coming: no pause of its own). The caller
/// reconnects it.
fn synced_then_cut(me: &str, rtu: &str, now: Instant) -> ClusterState {
    let mut s = node_hb(me, &[rtu], Duration::ZERO);
    s.coordination(true);
    s.presence("a", &presence("a", ONLINE, &[rtu]), now);
    let out = s.step(now);
    echo(&mut s, &out, now);
    s.step(now);
    s.coordination(false);
    s.step(now);
    s
}

fn node_hb(me: &str, rtus: &[&str], grace: Duration) -> ClusterState {
    ClusterState::new(
        Settings {
            me: me.into(),
            incarnation: format!("inc-{me}"),
            config_hash: "h".into(),
            standby: 1,
            handover_timeout: T,
            liveness: Duration::from_millis(1500),
            startup_grace: grace,
            reconnect_hold: Duration::from_millis(1500),
            coalesce: Duration::ZERO,
            presence_every: Duration::ZERO,
            will_wait: Duration::ZERO,
            snapshot_after: Duration::from_millis(100),
            coordination_loss_hold: Duration::from_secs(3600),
        },
        rtus.iter().map(|r| (r.to_string(), None)).collect(),
    )
}

#[test]
fn a_silent_owner_is_taken_over_after_the_liveness_window() {
    // a holds ra and is frozen: its presence still says online and lists ra, but neither
    // beats nor presence come any more. b takes over after 1.5 s without waiting for the
    // release (the RTU fences a's connection), while its own beats keep coming back.
    let now = Instant::now();
    let (ra, _) = split();
    let mut b = node_hb("b", &[&ra], Duration::ZERO);
    b.coordination(true);
    b.presence("a", &presence("a", ONLINE, &[&ra]), now);
    let out = b.step(now);
    echo(&mut b, &out, now);
    let out = b.step(now);
    assert_eq!(role_of(&b, &ra), Role::Standby);
    // Woken when a would become stale.
    assert!(out
        .wake_at
        .is_some_and(|w| w <= now + Duration::from_millis(1501)));
    let mut t = now;
    for _ in 0..5 {
        t += Duration::from_millis(250);
        b.beat("b", b"inc-b", t);
        b.beat("a", b"inc-a", t);
        b.step(t);
    }
    assert_eq!(role_of(&b, &ra), Role::Standby, "a is beating: not taken");
    let frozen_at = t;
    for _ in 0..6 {
        t += Duration::from_millis(250);
        b.beat("b", b"inc-b", t);
        b.step(t);
        assert_eq!(
            role_of(&b, &ra),
            Role::Standby,
            "a silent for {:?} only",
            t - frozen_at
        );
    }
    t += Duration::from_millis(2);
    b.beat("b", b"inc-b", t);
    let out = b.step(t);
    assert_eq!(out.changes[0].role, Role::Active, "{out:?}");
    assert_eq!(out.changes[0].reason, "owner, nobody else holds it");
    // a beats again (resumed): live again, and ra is a's by score; but its presence
    // still claims ra from before the freeze (it was fenced meanwhile): b keeps carrying.
    b.session(0, Report::Started);
    let out = b.step(t);
    echo(&mut b, &out, t);
    b.beat("a", b"inc-a", t);
    b.step(t);
    assert_eq!(
        role_of(&b, &ra),
        Role::Active,
        "a stale claim is no reason to yield"
    );
    // a's new presence: ra lost, its standby connection up (ready): handed back by STOPDT.
    let ready = serde_json::to_vec(&Presence {
        node: "a".into(),
        status: ONLINE.into(),
        incarnation: "inc-a".into(),
        config_hash: "h".into(),
        ready: vec![ra.clone()],
        ..Default::default()
    })
    .unwrap();
    b.presence("a", &ready, t);
    b.step(t);
    assert_eq!(role_of(&b, &ra), Role::Standby, "handed back by STOPDT");
}

#[test]
fn no_action_while_our_own_beats_do_not_come_back() {
    // Our inbound or outbound broker traffic is stalled (the link looks up): the others
    // look silent, but so do we: nothing is taken.
    let now = Instant::now();
    let (ra, _) = split();
    let mut b = node_hb("b", &[&ra], Duration::ZERO);
    b.coordination(true);
    b.presence("a", &presence("a", ONLINE, &[&ra]), now);
    let out = b.step(now);
    echo(&mut b, &out, now);
    b.step(now);
    // We run (steps every 250 ms) but hear nothing, not even our own beats.
    let mut t = now;
    for _ in 0..12 {
        t += Duration::from_millis(250);
        let out = b.step(t);
        assert!(out.changes.is_empty(), "{out:?}");
    }
    assert_eq!(role_of(&b, &ra), Role::Standby);
    // Our beat comes back (the link works): now a's silence counts.
    b.beat("b", b"inc-b", t);
    b.step(t);
    assert_eq!(role_of(&b, &ra), Role::Active);
    // A beat of another process under our id is not ours.
    let mut c = node_hb("b", &[&ra], Duration::ZERO);
    c.coordination(true);
    let out = c.step(now);
    echo(&mut c, &out, now);
    c.beat("b", b"someone-else", t);
    c.step(t);
    assert_eq!(role_of(&c, &ra), Role::Off);
}

#[test]
fn after_a_pause_of_our_own_the_others_get_a_window_to_be_heard() {
    // SIGSTOP/SIGCONT of this node: on resuming, every other node looks silent, but only
    // because we were not running. Nothing moves until our probe came back and the
    // others had a whole window to be heard.
    let now = Instant::now();
    let (_, rb) = split();
    let mut b = node_hb("b", &[&rb], Duration::ZERO);
    b.coordination(true);
    // a carries rb (b's by score: a keeps it until b is ready; b is not connected).
    b.presence("a", &presence("a", ONLINE, &[&rb]), now);
    let out = b.step(now);
    echo(&mut b, &out, now);
    b.step(now);
    assert_eq!(role_of(&b, &rb), Role::Standby);
    // Paused for 4 s. Stale own beats are delivered first on resuming.
    let t = now + Duration::from_secs(4);
    b.beat("b", b"inc-b", t);
    let out = b.step(t);
    assert!(out.probe, "a probe first");
    assert!(out.changes.is_empty(), "{out:?}");
    // The probe comes back; a has not been heard since we resumed, but that is our doing.
    let u = t + Duration::from_millis(5);
    b.beat("b", b"inc-b", u);
    assert!(b.step(u).changes.is_empty());
    // a is heard again within the window: it still holds rb, nothing moves.
    b.beat("a", b"inc-a", t + Duration::from_millis(200));
    b.beat("b", b"inc-b", t + Duration::from_millis(250));
    assert!(b.step(t + Duration::from_millis(250)).changes.is_empty());
    // (Without the window, b would have started rb at `u`: a was silent for 4 s.)
}

#[test]
fn startup_grace_lets_nodes_started_together_hear_of_each_other() {
    let now = Instant::now();
    let (ra, rb) = split();
    let grace = Duration::from_secs(1);
    let mut a = node_hb("a", &[&ra, &rb], grace);
    a.coordination(true);
    let out = a.step(now);
    echo(&mut a, &out, now);
    let out = a.step(now);
    // Alone in its view, a would own both; during the grace it only prepares.
    assert_eq!(role_of(&a, &ra), Role::Standby);
    assert_eq!(role_of(&a, &rb), Role::Standby);
    assert!(out.wake_at.is_some_and(|w| w <= now + grace));
    // b appears within the grace. A node just heard of may not have heard of a third one
    // yet (B1b: views differ for a moment), so an RTU nobody was seen carrying still
    // waits for the end of the grace.
    let t = now + Duration::from_millis(300);
    a.presence("b", &presence("b", ONLINE, &[]), t);
    a.beat("a", b"inc-a", t);
    a.step(t);
    assert_eq!(role_of(&a, &ra), Role::Standby);
    assert_eq!(role_of(&a, &rb), Role::Standby);
    let t = now + grace;
    a.beat("a", b"inc-a", t);
    a.beat("b", b"inc-b", t);
    a.step(t);
    assert_eq!(role_of(&a, &ra), Role::Active);
    assert_eq!(
        role_of(&a, &rb),
        Role::Standby,
        "b's share is never started by a"
    );

    // B4: b carries rb and dies within a's grace: rb was seen carried, a takes it at once.
    let mut a = node_hb("a", &[&ra, &rb], grace);
    a.coordination(true);
    a.presence("b", &presence("b", ONLINE, &[&rb]), now);
    let out = a.step(now);
    echo(&mut a, &out, now);
    a.step(now);
    let t = now + Duration::from_millis(300);
    a.presence("b", &presence("b", "offline", &[]), t);
    a.beat("a", b"inc-a", t + Duration::from_millis(1));
    a.step(t + Duration::from_millis(1));
    assert_eq!(role_of(&a, &rb), Role::Active, "known carried: no grace");
    assert_eq!(role_of(&a, &ra), Role::Standby, "never seen carried: grace");

    // Alone for the whole grace (only old offline presences retained): then everything
    // is ours.
    let mut c = node_hb("a", &[&ra, &rb], grace);
    c.coordination(true);
    c.presence("b", &presence("b", "offline", &[&ra]), now);
    let out = c.step(now);
    echo(&mut c, &out, now);
    c.step(now);
    c.step(now + grace - Duration::from_millis(1));
    assert_eq!(role_of(&c, &ra), Role::Standby);
    c.beat("a", b"inc-a", now + grace);
    c.step(now + grace);
    assert_eq!(role_of(&c, &ra), Role::Active);
    assert_eq!(role_of(&c, &rb), Role::Active);
}

#[test]
fn another_node_releasing_what_we_carry_asks_for_our_status_again() {
    // Per-connection groups: b took ra over while we were silent, and gives it back; our
    // connection was never fenced, so our status must be published again (b's "started"
    // would otherwise stay the retained one).
    let now = Instant::now();
    let (ra, _) = split();
    let mut a = synced_with("a", "b", &[], &[&ra], now);
    a.step(now);
    a.session(0, Report::Started);
    let out = a.step(now);
    echo(&mut a, &out, now);
    a.presence("b", &presence("b", ONLINE, &[&ra]), now);
    assert!(a.take_refresh().is_empty());
    a.presence("b", &presence("b", ONLINE, &[]), now);
    assert_eq!(a.take_refresh(), vec![0]);
    assert!(a.take_refresh().is_empty());
    // Its will while it listed ra: the same.
    a.presence("b", &presence("b", ONLINE, &[&ra]), now);
    a.presence("b", &presence("b", "offline", &[]), now);
    assert_eq!(a.take_refresh(), vec![0]);
}

#[test]
fn two_nodes_carrying_one_rtu_end_with_the_owner_only() {
    // RTUs with per-connection groups do not fence: after a disturbance both a (owner) and
    // b carry ra. a, seeing b newly claim ra, announces itself again; b sees a claim newer
    // than its own start and yields.
    let now = Instant::now();
    let (ra, _) = split();
    // The owner's side.
    let mut a = synced_with("a", "b", &[], &[&ra], now);
    a.step(now);
    a.session(0, Report::Started);
    let out = a.step(now);
    echo(&mut a, &out, now);
    a.presence("b", &presence("b", ONLINE, &[&ra]), now);
    let out = a.step(now);
    assert!(out.publish.is_some(), "a announces itself again");
    assert_eq!(role_of(&a, &ra), Role::Active);
    // The other side: b started ra after a's last presence.
    let mut b = synced_with("b", "a", &[&ra], &[&ra], now);
    b.step(now);
    b.session(0, Report::Started);
    let out = b.step(now);
    echo(&mut b, &out, now);
    b.step(now);
    assert_eq!(
        role_of(&b, &ra),
        Role::Active,
        "a's old claim is not enough"
    );
    // a's re-announcement arrives.
    b.presence("a", &presence("a", ONLINE, &[&ra]), now);
    b.step(now);
    assert_eq!(role_of(&b, &ra), Role::Standby);
}

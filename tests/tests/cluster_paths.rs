//! End-to-end: RTU path failover and orphans (issue #11, points 4 and 5) with real processes —
//! two `iec104-gateway run --node-id` nodes on one configuration, the `iec104-sim` process
//! (redundancy "single"), a real mosquitto, a recording subscriber — and a fault-injecting TCP
//! proxy between the nodes and each station ([`RtuProxy`]: it cuts the connection with data
//! transfer started, i.e. the owner's path, and refuses new connections, while the standby
//! node's connection passes).
//!
//! - the owner's connection is reset: the standby node carries the RTU, nothing is lost,
//!   exactly one started connection in the end, and the old owner, whose path comes back, gets
//!   the RTU back only by a graceful handover after the hold-down;
//! - the owner's connection is blackholed (silent): the same, once the link layer noticed it
//!   (TESTFR, t1);
//! - nobody reaches an RTU: one node publishes it "unowned", its commands are rejected by one
//!   node ("no node carries rtu X"), a command for an unknown RTU is answered once; after the
//!   heal the RTU is carried again.
//!
//! Takeover times are printed (figures, not bounds).

use std::time::{Duration, Instant};

use iec104_e2e::broker::{self, Broker};
use iec104_e2e::cluster::recorder::Recorder;
use iec104_e2e::cluster::rtu_proxy::{Fault, RtuProxy};
use iec104_e2e::cluster::sim::{self, Sim};
use iec104_e2e::cluster::truth;
use iec104_e2e::cluster::view;
use iec104_e2e::cluster::{self, Cluster, Settings, PREFIX};
use iec104_e2e::scratch;
use iec104_e2e::subscriber::Received;

/// Bound of every wait.
const SETTLE: Duration = Duration::from_secs(60);

/// `[cluster] path_failover` of these tests (the hold-down is 10 times that).
const PATH_FAILOVER: f64 = 0.5;

struct Env {
    rec: Recorder,
    sim: Sim,
    proxies: Vec<RtuProxy>,
    cluster: Cluster,
    _broker: Broker,
}

const IDS: [&str; 2] = ["gw-a", "gw-b"];

/// Broker, simulator (`stations` at `rate` events/s), one proxy per station, recorder on
/// `cl/#`, then gw-a and gw-b on one configuration naming the proxies.
async fn setup(name: &str, stations: u16, rate: f64) -> Option<Env> {
    if !broker::available() {
        return None;
    }
    let dir = scratch(name).into_kept();
    let broker = Broker::start(&dir).await;
    let sim = Sim::start_with(&dir, stations, rate, "single").await;
    let rec = Recorder::start(broker.port, &format!("{PREFIX}/#")).await;
    let mut proxies = Vec::new();
    let mut via = sim.stations.clone();
    for st in &mut via {
        let p = RtuProxy::start(([127, 0, 0, 1], st.port).into()).await;
        st.port = p.port;
        proxies.push(p);
    }
    let mut s = Settings::new(broker.port);
    s.cluster_extra = format!("path_failover = {PATH_FAILOVER:.1}\n");
    // A silent cut is noticed by the link layer after t3 (idle) + t1 (TESTFR unanswered).
    s.rtu_extra = "t1 = 3\nt2 = 1\nt3 = 2\n".into();
    let mut cluster = Cluster::start(&dir, &cluster::config(&s, &via), &IDS);
    cluster.extra_logs.push(sim.log.clone());
    Some(Env {
        rec,
        sim,
        proxies,
        cluster,
        _broker: broker,
    })
}

impl Env {
    fn describe(&self) -> String {
        let rtus = self.sim.names();
        self.rec.with(|m| view::describe(m, &rtus, &IDS))
    }

    /// Waits until every RTU is carried by one node with the other in standby; the owners.
    async fn settle(&self) -> std::collections::BTreeMap<String, String> {
        let rtus = self.sim.names();
        match self
            .rec
            .wait(SETTLE, |m| view::settled(m, &rtus, &IDS, 1))
            .await
        {
            Some((map, _)) => map,
            None => panic!("the cluster did not settle:{}", self.describe()),
        }
    }

    /// Waits until `rtu`'s status says started on `node` and data from `node` arrived after
    /// `after`; returns when the first such data arrived.
    async fn carried_by(&self, rtu: &str, node: &str, after: Instant) -> Instant {
        let found = self
            .rec
            .wait(SETTLE, |m| {
                if view::owner(m, rtu).as_deref() != Some(node) {
                    return None;
                }
                view::data_after(m, rtu, after)
                    .find(|d| d.json["node"] == node)
                    .map(|d| d.at)
            })
            .await;
        found.unwrap_or_else(|| {
            panic!(
                "{rtu} not carried by {node} after the cut:{}",
                self.describe()
            )
        })
    }

    /// The station `rtu`'s connections started now (by its own log).
    fn started_at_station(&self, rtu: &str) -> Vec<String> {
        self.sim
            .transfers()
            .get(rtu)
            .map(|log| sim::started_now(log))
            .unwrap_or_default()
    }

    async fn nothing_lost(&self, what: &str) {
        let d = truth::delivered(&self.rec, &self.sim.events_log, Duration::from_secs(30)).await;
        assert!(d.lost.is_empty(), "{what}: {}", d.summary());
        eprintln!("{what}: {}", d.summary());
    }

    fn index(&self, rtu: &str) -> usize {
        self.sim
            .stations
            .iter()
            .position(|s| s.name == rtu)
            .expect("station")
    }
}

fn other(node: &str) -> &'static str {
    if node == IDS[0] {
        IDS[1]
    } else {
        IDS[0]
    }
}

/// Cuts the owner's path to one RTU with `fault`; checks the takeover, the count of started
/// connections, and that nothing was lost; heals and checks the hold-down and the graceful
/// return.
async fn path_loss(name: &str, fault: Fault) {
    let Some(env) = setup(name, 2, 20.0).await else {
        return;
    };
    let map = env.settle().await;
    let rtu = env.sim.names()[0].clone();
    let owner = map[&rtu].clone();
    let successor = other(&owner);
    let proxy = &env.proxies[env.index(&rtu)];
    let cut_at = Instant::now();
    let faulted = proxy.cut_started(fault);
    assert_eq!(faulted, 1, "one started connection through the proxy");
    let first = env.carried_by(&rtu, successor, cut_at).await;
    eprintln!(
        "{name}: {rtu} carried by {successor} {:?} after the cut of {owner}'s path ({fault:?}; path_failover {PATH_FAILOVER} s)",
        first - cut_at
    );
    // The old owner tried again and was refused (its path is still down).
    let refused = env
        .rec
        .wait(SETTLE, |_| (proxy.refused() > 0).then_some(()))
        .await;
    assert!(refused.is_some(), "{owner} never tried to reconnect");
    // Exactly one started connection at the station, and it passes the proxy unfaulted.
    let started = env
        .rec
        .wait(SETTLE, |_| {
            (env.started_at_station(&rtu).len() == 1 && proxy.started() == 1).then_some(())
        })
        .await;
    assert!(
        started.is_some(),
        "{rtu}: started connections at the station {:?}, through the proxy {}",
        env.started_at_station(&rtu),
        proxy.started()
    );
    env.nothing_lost(&format!("{name}: after the takeover"))
        .await;
    // The path comes back: the old owner connects in standby, and the RTU stays where it is
    // when that happens (the hold-down), then returns by a graceful handover.
    let heal_at = Instant::now();
    proxy.heal();
    let back = env
        .rec
        .wait(SETTLE, |m| {
            m.iter()
                .rev()
                .take_while(|r| r.at > heal_at)
                .find(|r| {
                    r.topic == view::standby_topic(&rtu, &owner) && r.json["state"] == "stopped"
                })
                .map(|r| r.at)
        })
        .await
        .unwrap_or_else(|| panic!("{owner} not back in standby:{}", env.describe()));
    let owner_then = env.rec.with(|m| {
        let upto: Vec<Received> = m.iter().filter(|r| r.at <= back).cloned().collect();
        view::owner(&upto, &rtu)
    });
    assert_eq!(owner_then.as_deref(), Some(successor), "moved back at once");
    let returned = env.carried_by(&rtu, &owner, back).await;
    eprintln!(
        "{name}: {rtu} back on {owner} {:?} after its path worked again (hold-down {} s)",
        returned - back,
        PATH_FAILOVER * 10.0
    );
    let transfers = env.sim.transfers();
    let log = &transfers[&rtu];
    let since_heal = sim::preemptions(log);
    eprintln!("{name}: preemptions at {rtu}: {since_heal} ({log:?})");
    env.settle().await;
    assert_eq!(env.started_at_station(&rtu).len(), 1);
    env.nothing_lost(&format!("{name}: after the return")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_path_reset_moves_the_rtu_nothing_lost_and_no_flapping() {
    path_loss("cl-path-reset", Fault::Reset).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_path_blackholed_moves_the_rtu_once_the_link_layer_notices() {
    path_loss("cl-path-blackhole", Fault::Blackhole).await;
}

/// Results of command `id` seen so far.
fn results(m: &[Received], id: &str) -> Vec<serde_json::Value> {
    m.iter()
        .filter(|r| r.topic.ends_with("/command/result") && r.json["id"] == id)
        .map(|r| r.json.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rtu_nobody_reaches_is_unowned_and_its_commands_are_answered_once() {
    let Some(env) = setup("cl-orphan", 2, 10.0).await else {
        return;
    };
    let map = env.settle().await;
    let rtu = env.sim.names()[0].clone();
    let ca = env.sim.stations[env.index(&rtu)].ca;
    let proxy = &env.proxies[env.index(&rtu)];
    let cut_at = Instant::now();
    assert_eq!(
        proxy.cut_all(Fault::Reset),
        2,
        "owner and standby connections"
    );
    // One node publishes the RTU as unowned, with the reason.
    let status = env
        .rec
        .wait(SETTLE, |m| {
            view::statuses_after(m, &rtu, cut_at)
                .into_iter()
                .rfind(|s| s.json["state"] == "unowned")
                .map(|s| (s.json.clone(), s.at))
        })
        .await
        .unwrap_or_else(|| panic!("{rtu} never unowned:{}", env.describe()));
    eprintln!(
        "orphan: {rtu} (was on {}) unowned {:?} after the cut: {}",
        map[&rtu],
        status.1 - cut_at,
        status.0
    );
    assert_eq!(status.0["reason"], format!("no node carries rtu {rtu}"));
    let unowned_from: std::collections::BTreeSet<String> = env.rec.with(|m| {
        view::statuses_after(m, &rtu, cut_at)
            .into_iter()
            .filter(|s| s.json["state"] == "unowned")
            .map(|s| s.json["node"].as_str().unwrap_or_default().to_owned())
            .collect()
    });
    assert_eq!(unowned_from.len(), 1, "unowned from {unowned_from:?}");
    // The publishing node counts it on /metrics, the other does not (each orphan once).
    let publisher = status.0["node"].as_str().unwrap_or_default().to_owned();
    for n in &env.cluster.nodes {
        let want = if n.id == publisher { 1.0 } else { 0.0 };
        n.metric_until("iec104gw_cluster_rtus_unowned", SETTLE, |v| v == want)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", n.id));
    }
    // A command for it: rejected, with the reason. A command for an unknown RTU: invalid.
    let orphan_cmd = format!("{PREFIX}/{rtu}/{ca}/2001/command");
    env.rec
        .publish(
            &orphan_cmd,
            r#"{"type":"C_SC_NA_1","value":true,"id":"orphan-1"}"#,
        )
        .await;
    let unknown_cmd = format!("{PREFIX}/nosuch/1/2001/command");
    env.rec
        .publish(
            &unknown_cmd,
            r#"{"type":"C_SC_NA_1","value":true,"id":"unknown-1"}"#,
        )
        .await;
    let answered = env
        .rec
        .wait(SETTLE, |m| {
            (!results(m, "orphan-1").is_empty() && !results(m, "unknown-1").is_empty())
                .then_some(())
        })
        .await;
    assert!(
        answered.is_some(),
        "not answered: {:?} {:?}",
        env.rec.with(|m| results(m, "orphan-1")),
        env.rec.with(|m| results(m, "unknown-1"))
    );
    // The path comes back: the RTU is carried again (by either node).
    let heal_at = Instant::now();
    proxy.heal();
    let carried = env
        .rec
        .wait(SETTLE, |m| {
            let owner = view::owner(m, &rtu)?;
            view::data_after(m, &rtu, heal_at)
                .any(|d| d.json["node"] == owner.as_str())
                .then_some(owner)
        })
        .await
        .unwrap_or_else(|| panic!("{rtu} not carried after the heal:{}", env.describe()));
    eprintln!("orphan: {rtu} carried by {carried} after the heal");
    env.settle().await;
    for n in &env.cluster.nodes {
        n.metric_until("iec104gw_cluster_rtus_unowned", SETTLE, |v| v == 0.0)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", n.id));
    }
    // By now (seconds later) every node had the commands: one answer each.
    let orphan = env.rec.with(|m| results(m, "orphan-1"));
    assert_eq!(orphan.len(), 1, "{orphan:?}");
    assert_eq!(orphan[0]["status"], "rejected");
    assert_eq!(orphan[0]["error"], format!("no node carries rtu {rtu}"));
    // Refused (and logged) by the node that publishes it unowned.
    let refusing: Vec<&str> = env
        .cluster
        .nodes
        .iter()
        .filter(|n| n.log().contains(&format!("no node carries rtu {rtu}")))
        .map(|n| n.id.as_str())
        .collect();
    assert_eq!(refusing, [status.0["node"].as_str().unwrap_or_default()]);
    let unknown = env.rec.with(|m| results(m, "unknown-1"));
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert_eq!(unknown[0]["status"], "invalid");
    assert_eq!(env.started_at_station(&rtu).len(), 1);
    env.nothing_lost("orphan then heal").await;
}

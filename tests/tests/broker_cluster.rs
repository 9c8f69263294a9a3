//! End-to-end: a 2-node gateway cluster on a clustered MQTT broker (three aedes nodes on one
//! Redis server). The gateway nodes list broker nodes b0 and b1 (`[mqtt] urls`, `broker_order
//! = "shuffled"`, node ids chosen so that one starts on each); the recording subscriber is on
//! b2, which no gateway uses and nothing kills. Ground truth is the simulator's events log.
//!
//! - kill -9 of the broker node the owner uses: the owner moves to the other broker node, the
//!   cluster settles again with both gateway nodes live, nothing is lost, and in the end each
//!   RTU has at most one started connection;
//! - kill -9 of a gateway node: its will is published by its broker node and reaches the other
//!   gateway node through another broker node; its RTUs are taken over, nothing is lost;
//! - broker nodes that keep retained messages apart (RabbitMQ 3.x's behaviour, aedes with its
//!   retained store in each node's memory; checked with a probe): a gateway node that joins
//!   through another broker node never gets the first one's retained presence, and the cluster
//!   still converges (beats and snapshots), shares the RTUs and takes over after a kill -9.
//!
//! Every wait is bounded (`SETTLE`); the gaps are printed, not asserted (docs/failover.md).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use iec104_e2e::aedes::{self, first_broker, ids_on_both, AedesCluster};
use iec104_e2e::cluster::recorder::Recorder;
use iec104_e2e::cluster::sim::{self, Sim};
use iec104_e2e::cluster::truth;
use iec104_e2e::cluster::view;
use iec104_e2e::cluster::{self, Cluster, Settings, PREFIX};
use iec104_e2e::scratch;
use iec104_e2e::subscriber::Subscriber;

/// Bound of every wait for the cluster to settle or data to flow.
const SETTLE: Duration = Duration::from_secs(30);
/// The aedes nodes' heartbeat: a dead node's clients' wills are published after three.
const AEDES_HEARTBEAT: Duration = Duration::from_millis(500);

struct Env {
    rec: Recorder,
    sim: Sim,
    cluster: Cluster,
    brokers: AedesCluster,
    /// Gateway node id → index of the broker node it starts on.
    first_broker: BTreeMap<String, usize>,
    ids: Vec<String>,
}

/// How the test broker keeps retained messages and which gateway nodes start at once.
#[derive(Clone, Copy)]
struct Shape {
    /// Each broker node keeps its own retained messages (RabbitMQ 3.x's behaviour).
    local_retained: bool,
    /// How many of the two gateway nodes start in setup (the others: `cluster.add`).
    gateways: usize,
}

const SHARED: Shape = Shape {
    local_retained: false,
    gateways: 2,
};

async fn setup(name: &str, stations: u16, rate: f64) -> Option<Env> {
    setup_shaped(name, stations, rate, SHARED).await
}

async fn setup_shaped(name: &str, stations: u16, rate: f64, shape: Shape) -> Option<Env> {
    if !aedes::available() {
        return None;
    }
    let dir = scratch(name).into_kept();
    let brokers = if shape.local_retained {
        AedesCluster::start_local_retained(&dir, 3, AEDES_HEARTBEAT)
    } else {
        AedesCluster::start(&dir, 3, AEDES_HEARTBEAT)
    };
    let (b0, b1, b2) = (brokers.ports[0], brokers.ports[1], brokers.ports[2]);
    let sim = Sim::start(&dir, stations, rate).await;
    let rec = Recorder::start(b2, &format!("{PREFIX}/#")).await;
    let mut s = Settings::new(b0);
    s.mqtt_urls = vec![b0, b1];
    s.mqtt_extra = "broker_order = \"shuffled\"\nconnect_timeout = 2.0\n".into();
    let ids = ids_on_both(&[b0, b1]);
    let first_broker = ids
        .iter()
        .map(|id| (id.clone(), first_broker(&[b0, b1], id)))
        .collect();
    let id_refs: Vec<&str> = ids
        .iter()
        .take(shape.gateways)
        .map(String::as_str)
        .collect();
    let mut cluster = Cluster::start(&dir, &cluster::config(&s, &sim.stations), &id_refs);
    cluster.extra_logs.push(sim.log.clone());
    Some(Env {
        rec,
        sim,
        cluster,
        brokers,
        first_broker,
        ids,
    })
}

impl Env {
    fn describe(&self, nodes: &[&str]) -> String {
        let rtus = self.sim.names();
        let tails = self.cluster.tails(30);
        self.rec
            .with(|m| view::describe(m, &rtus, nodes) + "\n" + &tails)
    }

    /// Waits until every RTU is started on exactly one node of `live` and the topics agree.
    async fn settle(&self, live: &[&str]) -> (BTreeMap<String, String>, Instant) {
        let rtus = self.sim.names();
        match self
            .rec
            .wait(SETTLE, |m| view::settled(m, &rtus, live, 1))
            .await
        {
            Some(found) => found,
            None => panic!(
                "the cluster did not settle on {live:?} within {SETTLE:?}:{}",
                self.describe(live)
            ),
        }
    }

    /// Waits until each RTU has `n` data messages with a time tag after `after_ms` (Unix ms):
    /// data made after that moment reached the subscriber.
    async fn resumed(&self, after_ms: i64, n: usize) -> BTreeMap<String, Instant> {
        let rtus = self.sim.names();
        let found = self
            .rec
            .wait(SETTLE, |m| {
                let mut firsts = BTreeMap::new();
                for r in &rtus {
                    let fresh: Vec<Instant> = m
                        .iter()
                        .filter(|d| view::is_data(d) && d.json["rtu"] == r.as_str())
                        .filter(|d| {
                            d.json["time"]
                                .as_str()
                                .and_then(truth::time_ms)
                                .is_some_and(|t| t > after_ms)
                        })
                        .map(|d| d.at)
                        .collect();
                    if fresh.len() < n {
                        return None;
                    }
                    firsts.insert(r.clone(), fresh.into_iter().min()?);
                }
                Some(firsts)
            })
            .await;
        found.unwrap_or_else(|| panic!("data did not resume:{}", self.describe(&[])))
    }

    /// Every logged event arrived (printed with `what`), and each station has at most one
    /// started connection at the end.
    async fn nothing_lost_one_started(&self, what: &str) {
        let d = truth::delivered(&self.rec, &self.sim.events_log, SETTLE).await;
        assert!(d.lost.is_empty(), "{what}: {}", d.summary());
        eprintln!("{what}: {}", d.summary());
        for (station, log) in self.sim.transfers() {
            let started = sim::started_now(&log);
            assert!(started.len() <= 1, "{station}: started on {started:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_broker_node_of_the_owner_it_moves_and_nothing_is_lost() {
    let Some(mut env) = setup("bc-broker-kill", 3, 20.0).await else {
        return;
    };
    let ids: Vec<&str> = env.ids.iter().map(String::as_str).collect();
    let (map, _) = env.settle(&ids).await;
    let owner = view::busiest(&map);
    let dead = env.first_broker[&owner];
    eprintln!("owner {owner} on broker node b{dead}; ownership {map:?}");
    env.resumed(chrono::Utc::now().timestamp_millis(), 5).await;
    let (kill_at, kill_ms) = (Instant::now(), chrono::Utc::now().timestamp_millis());
    env.brokers.kill9(dead);
    // Data made after the kill reaches the subscriber (through the surviving broker nodes).
    let firsts = env.resumed(kill_ms, 5).await;
    for (r, at) in &firsts {
        eprintln!(
            "FIGURE broker node kill: {r}: first event made after the kill at the subscriber {:?} after the kill",
            at.saturating_duration_since(kill_at)
        );
    }
    // aedes publishes the wills of the dead broker node's clients from a surviving node
    // after three of its heartbeats: the owner's will says it is offline while it is alive
    // on another broker node.
    let topic = view::presence_topic(&owner);
    let will = env
        .rec
        .wait(SETTLE, |m| {
            m.iter()
                .find(|p| p.at > kill_at && p.topic == topic && p.json["status"] == "offline")
                .map(|p| p.at)
        })
        .await
        .unwrap_or_else(|| panic!("no late will of {owner}:{}", env.describe(&ids)));
    eprintln!(
        "FIGURE broker node kill: the owner's late will arrived {:?} after the kill",
        will.saturating_duration_since(kill_at)
    );
    // Both gateway nodes stay members; every RTU has one owner again and the topics agree
    // (the late will does not leave the owner announced offline).
    let (after, settled_at) = env.settle(&ids).await;
    assert!(settled_at > will, "settled before the late will");
    // What the late will moved (issue #11 point 2 asks for nothing): printed, not asserted.
    let moves = env.rec.with(|m| {
        env.sim
            .names()
            .iter()
            .flat_map(|r| view::statuses_after(m, r, will))
            .filter(|s| s.json["state"] == "started")
            .map(|s| format!("{} started on {}", s.json["rtu"], s.json["node"]))
            .collect::<Vec<_>>()
    });
    eprintln!("FIGURE broker node kill: statuses \"started\" after the late will: {moves:?}");
    eprintln!(
        "FIGURE broker node kill: settled again {:?} after the kill: {after:?}",
        settled_at.saturating_duration_since(kill_at)
    );
    for id in &ids {
        let p = env.rec.with(|m| view::presence(m, id).cloned());
        assert_eq!(
            p.as_ref().map(|p| p["status"].clone()),
            Some("online".into()),
            "{id}: {p:?}{}",
            env.describe(&ids)
        );
    }
    env.nothing_lost_one_started("broker node kill").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_gateway_node_its_will_crosses_broker_nodes_and_its_rtus_move() {
    let Some(mut env) = setup("bc-node-kill", 3, 20.0).await else {
        return;
    };
    let ids: Vec<String> = env.ids.clone();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (map, _) = env.settle(&ids).await;
    let victim = view::busiest(&map);
    let survivor = ids.iter().copied().find(|i| *i != victim).expect("two");
    let affected = view::owned_by(&map, &victim);
    eprintln!(
        "victim {victim} on b{}, survivor {survivor} on b{}",
        env.first_broker[&victim], env.first_broker[survivor]
    );
    env.resumed(chrono::Utc::now().timestamp_millis(), 5).await;
    let kill_at = Instant::now();
    env.cluster.node(&victim).kill9().await;
    let (after, settled_at) = env.settle(&[survivor]).await;
    assert!(after.values().all(|o| o == survivor), "{after:?}");
    eprintln!(
        "FIGURE gateway node kill: settled on {survivor} {:?} after the kill",
        settled_at.saturating_duration_since(kill_at)
    );
    // The victim's will, published by its broker node, reached the subscriber on b2.
    let p = env.rec.with(|m| view::presence(m, &victim).cloned());
    assert_eq!(
        p.as_ref().map(|p| p["status"].clone()),
        Some("offline".into()),
        "{p:?}"
    );
    let resumed = env
        .rec
        .wait(SETTLE, |m| {
            let g = truth::gaps(m, &affected, kill_at, &victim);
            g.values().all(Option::is_some).then_some(g)
        })
        .await
        .unwrap_or_else(|| panic!("{affected:?} not carried by {survivor}"));
    for (r, g) in &resumed {
        eprintln!("FIGURE gateway node kill: {r}: gap {g:?}");
    }
    env.nothing_lost_one_started("gateway node kill").await;
}

/// Whether a subscriber that joins broker node `port` now gets `node`'s retained presence. A
/// retained probe published on that broker node first makes the check able to fail: a broker
/// node sends its retained messages on subscribing as one batch, so once the probe's copy came
/// (and a marker published after it made a round trip through the cluster's bus) the presence
/// would have come too if that broker node had it.
async fn retained_presence_on(port: u16, node: &str) -> bool {
    let presence = view::presence_topic(node);
    let (probe, marker) = (
        format!("probe/{port}/retained"),
        format!("probe/{port}/marker"),
    );
    let mut publisher = Subscriber::start(port, &probe).await;
    publisher
        .client()
        .publish(&probe, rumqttc::QoS::AtLeastOnce, true, b"{}".to_vec())
        .await
        .expect("publish the retained probe");
    assert!(
        publisher.next(SETTLE).await.is_some(),
        "the probe never came back"
    );
    let mut sub = Subscriber::start(port, "#").await;
    let mut presence_seen = false;
    loop {
        match sub.next(SETTLE).await {
            Some(m) if m.topic == probe && m.retain => sub.publish(&marker, "{}").await,
            Some(m) if m.topic == marker => return presence_seen,
            Some(m) => presence_seen |= m.retain && m.topic == presence,
            None => panic!("the retained probe or the marker never came on 127.0.0.1:{port}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_nodes_that_keep_retained_messages_apart_the_cluster_still_converges() {
    // Issue #11 point 2: retained messages per broker node (RabbitMQ 3.x): gw on b1 joins
    // after the other carried everything through b0, and never gets its retained presence.
    let shape = Shape {
        local_retained: true,
        gateways: 1,
    };
    let Some(mut env) = setup_shaped("bc-local-retained", 3, 20.0, shape).await else {
        return;
    };
    let (first, second) = (env.ids[0].clone(), env.ids[1].clone());
    env.settle(&[first.as_str()]).await;
    // The broker under test really keeps them apart: b0 has the retained presence, b1 not.
    let (b0, b1) = (env.brokers.ports[0], env.brokers.ports[1]);
    let (on, off) = match env.first_broker[&first] {
        0 => (b0, b1),
        _ => (b1, b0),
    };
    assert!(
        retained_presence_on(on, &first).await,
        "no retained presence on its own broker node"
    );
    assert!(
        !retained_presence_on(off, &first).await,
        "the retained presence crossed broker nodes"
    );
    // The second node joins through the other broker node: it learns the first node's state
    // from its beats and a snapshot, takes its share by handover, each RTU one owner.
    let join_at = Instant::now();
    env.cluster.add(&second);
    let both = [first.as_str(), second.as_str()];
    let (map, settled_at) = env.settle(&both).await;
    eprintln!(
        "FIGURE local retained: the second node joined and the cluster settled {:?} after its start: {map:?}",
        settled_at.saturating_duration_since(join_at)
    );
    assert!(
        map.values().any(|o| *o == second),
        "the joining node took nothing: {map:?}"
    );
    assert!(
        map.values().any(|o| *o == first),
        "the first node kept nothing: {map:?}"
    );
    // kill -9 of the first node: its broker node publishes its will, the second takes all.
    let kill_at = Instant::now();
    env.cluster.node(&first).kill9().await;
    let (after, settled_at) = env.settle(&[second.as_str()]).await;
    assert!(after.values().all(|o| *o == second), "{after:?}");
    eprintln!(
        "FIGURE local retained: kill -9 of {first}: settled on {second} {:?} after the kill",
        settled_at.saturating_duration_since(kill_at)
    );
    env.nothing_lost_one_started("local retained").await;
}

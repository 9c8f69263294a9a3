//! `brokerbench`: kill -9 of broker nodes under a 2-node gateway cluster (issue #11, several
//! broker addresses). Not a test: it measures and prints.
//!
//! The setup of tests/broker_cluster.rs: a clustered broker of three aedes nodes on one
//! redis-server (aedes heartbeat 500 ms: a dead node's clients' wills are published by a
//! survivor after three), the gateway nodes listing b0 and b1 (`broker_order = "shuffled"`,
//! ids chosen so that one starts on each), the recording subscriber on b2 (never killed), the
//! simulator's events log as ground truth. Each round: wait until the cluster is settled and
//! data flows, kill -9 the broker node under the busiest gateway node (round 1: where it
//! started; later rounds: the node both gateway nodes moved to in the round before), then
//! measure per RTU when the first event made after the kill reached the subscriber, how many
//! RTUs changed carrier, when the late will(s) arrived and when the cluster was settled
//! again; restart the killed broker node. At the end: lost and duplicated events.
//!
//! `cargo build --release -p iec104-e2e --bins && target/release/brokerbench --rounds 6`

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::Parser;
use iec104_e2e::aedes::{self, first_broker, ids_on_both, AedesCluster};
use iec104_e2e::cluster::recorder::Recorder;
use iec104_e2e::cluster::sim::Sim;
use iec104_e2e::cluster::{self, truth, view, Cluster, Settings, PREFIX};

/// Bound of every wait (settle, resume).
const WAIT: Duration = Duration::from_secs(60);
/// Bound of the wait for a late will: aedes publishes the wills of a dead node's clients
/// after three of its heartbeats (1.5 s); a node that died before its peers heard of it
/// leaves no will at all.
const WILL_WAIT: Duration = Duration::from_secs(10);
/// After a restart, the broker node's peers hear of it (a few aedes heartbeats) before the
/// next round kills it.
const REJOIN: Duration = Duration::from_secs(2);

#[derive(Debug, Parser)]
#[command(about = "kill -9 of broker nodes under a gateway cluster: resume, moves, loss")]
struct Args {
    /// Rounds (one broker node killed and restarted per round).
    #[arg(long, default_value_t = 6)]
    rounds: usize,
    /// Simulated stations (RTUs).
    #[arg(long, default_value_t = 6)]
    stations: u16,
    /// Events per second per station.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
}

/// What one round measured.
struct Round {
    /// Per RTU: kill → the first event made after the kill at the subscriber.
    resume: Vec<Duration>,
    /// RTUs whose carrier changed.
    moved: usize,
    /// kill → the last late will of a gateway node on the killed broker node.
    will: Option<Duration>,
    /// kill → the cluster settled again (after the wills).
    settled: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

/// Waits until every RTU has an event made after `after_ms` (Unix ms) at the subscriber: the
/// first arrival of each.
async fn resumed(rec: &Recorder, rtus: &[String], after_ms: i64) -> Option<Vec<Instant>> {
    rec.wait(WAIT, |m| {
        rtus.iter()
            .map(|r| {
                m.iter()
                    .filter(|d| view::is_data(d) && d.json["rtu"] == r.as_str())
                    .find(|d| {
                        d.json["time"]
                            .as_str()
                            .and_then(truth::time_ms)
                            .is_some_and(|t| t > after_ms)
                    })
                    .map(|d| d.at)
            })
            .collect()
    })
    .await
}

/// Waits for the offline presence (a late will) of each of `nodes` after `after`.
async fn wills(rec: &Recorder, nodes: &[String], after: Instant) -> Option<Instant> {
    rec.wait(WILL_WAIT, |m| {
        nodes
            .iter()
            .map(|n| {
                let topic = view::presence_topic(n);
                m.iter()
                    .find(|p| p.at > after && p.topic == topic && p.json["status"] == "offline")
                    .map(|p| p.at)
            })
            .collect::<Option<Vec<_>>>()
            .map(|v| v.into_iter().max().unwrap_or(after))
    })
    .await
}

struct Bench {
    rec: Recorder,
    sim: Sim,
    brokers: AedesCluster,
    ids: Vec<String>,
    _cluster: Cluster,
    /// When the run began (before anything was recorded).
    began: Instant,
}

impl Bench {
    /// Settled on both gateway nodes with the last cluster message after `after`.
    async fn settled(&self, after: Instant) -> (BTreeMap<String, String>, Instant) {
        let rtus = self.sim.names();
        let ids: Vec<&str> = self.ids.iter().map(String::as_str).collect();
        self.rec
            .wait(WAIT, |m| {
                view::settled(m, &rtus, &ids, 1).filter(|(_, last)| *last > after)
            })
            .await
            .unwrap_or_else(|| {
                let d = self.rec.with(|m| {
                    let recent: Vec<String> = m
                        .iter()
                        .rev()
                        .filter(|x| view::is_cluster_topic(x))
                        .take(12)
                        .map(|x| format!("{:?} ago {} {}", x.at.elapsed(), x.topic, x.json))
                        .collect();
                    view::describe(m, &rtus, &ids)
                        + "\nlatest cluster messages:\n"
                        + &recent.join("\n")
                });
                panic!("not settled within {WAIT:?}:\n{d}")
            })
    }

    /// One round: kill broker node `dead` (carrying `on_it`), measure, restart it.
    async fn round(&mut self, dead: usize, on_it: &[String]) -> Round {
        let rtus = self.sim.names();
        let (before, _) = self.settled(self.began).await;
        let now_ms = chrono::Utc::now().timestamp_millis();
        resumed(&self.rec, &rtus, now_ms).await.expect("data flows");
        let (kill_at, kill_ms) = (Instant::now(), chrono::Utc::now().timestamp_millis());
        self.brokers.kill9(dead);
        let firsts = resumed(&self.rec, &rtus, kill_ms)
            .await
            .expect("data resumed after the broker node kill");
        let will = wills(&self.rec, on_it, kill_at).await;
        let (after, settled_at) = self.settled(will.unwrap_or(kill_at)).await;
        self.brokers.restart(dead);
        tokio::time::sleep(REJOIN).await;
        Round {
            resume: firsts
                .iter()
                .map(|t| t.saturating_duration_since(kill_at))
                .collect(),
            moved: after
                .iter()
                .filter(|(r, o)| before.get(*r) != Some(o))
                .count(),
            will: will.map(|w| w.saturating_duration_since(kill_at)),
            settled: settled_at.saturating_duration_since(kill_at),
        }
    }
}

async fn setup(args: &Args) -> Bench {
    let began = Instant::now();
    let dir = iec104_e2e::scratch("brokerbench").into_kept();
    let brokers = AedesCluster::start(&dir, 3, Duration::from_millis(500));
    let (b0, b1, b2) = (brokers.ports[0], brokers.ports[1], brokers.ports[2]);
    let sim = Sim::start(&dir, args.stations, args.rate).await;
    let rec = Recorder::start(b2, &format!("{PREFIX}/#")).await;
    let mut s = Settings::new(b0);
    s.mqtt_urls = vec![b0, b1];
    s.mqtt_extra = "broker_order = \"shuffled\"\nconnect_timeout = 2.0\n".into();
    let ids = ids_on_both(&[b0, b1]);
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let c = Cluster::start(&dir, &cluster::config(&s, &sim.stations), &id_refs);
    println!(
        "brokerbench: 2 gateway nodes ({ids:?}) on aedes b0 {b0} / b1 {b1}, subscriber on b2 {b2}, {} stations × {} events/s, scratch {}",
        args.stations,
        args.rate,
        dir.display()
    );
    Bench {
        rec,
        sim,
        brokers,
        ids,
        _cluster: c,
        began,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    assert!(aedes::available(), "the clustered broker cannot run here");
    let mut b = setup(&args).await;
    let ports = [b.brokers.ports[0], b.brokers.ports[1]];
    let (map, _) = b.settled(b.began).await;
    let owner = view::busiest(&map);
    let mut dead = first_broker(&ports, &owner);
    let mut on_it = vec![owner];
    let mut rounds = Vec::new();
    for i in 1..=args.rounds {
        let r = b.round(dead, &on_it).await;
        println!(
            "round {i:2}: kill b{dead} (under {on_it:?}): resume median {} max {}, moved {}, late will {}, settled {}",
            ms(percentile(&sorted(&r.resume), 0.5)),
            ms(percentile(&sorted(&r.resume), 1.0)),
            r.moved,
            r.will.map_or("none".into(), ms),
            ms(r.settled)
        );
        rounds.push(r);
        // Both gateway nodes are now on the other broker node: it is the next to die.
        dead = 1 - dead;
        on_it = b.ids.clone();
    }
    summary(&b, &rounds).await;
}

/// `d` in whole milliseconds.
fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

fn sorted(v: &[Duration]) -> Vec<Duration> {
    let mut v = v.to_vec();
    v.sort();
    v
}

async fn summary(b: &Bench, rounds: &[Round]) {
    let resume = sorted(
        &rounds
            .iter()
            .flat_map(|r| r.resume.clone())
            .collect::<Vec<_>>(),
    );
    let settled = sorted(&rounds.iter().map(|r| r.settled).collect::<Vec<_>>());
    println!(
        "kill -9 of a broker node → first event made after it at the subscriber, per RTU ({} samples): median {} p99 {} max {}",
        resume.len(),
        ms(percentile(&resume, 0.5)),
        ms(percentile(&resume, 0.99)),
        ms(percentile(&resume, 1.0))
    );
    println!(
        "→ settled again after the late wills: median {} max {}; RTUs that changed carrier: {}",
        ms(percentile(&settled, 0.5)),
        ms(percentile(&settled, 1.0)),
        rounds.iter().map(|r| r.moved).sum::<usize>()
    );
    let d = truth::delivered(&b.rec, &b.sim.events_log, WAIT).await;
    println!("events: {}", d.summary());
}

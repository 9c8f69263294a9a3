//! `failoverbench`: how long a gateway cluster's RTUs go without data when their owner dies,
//! freezes or leaves. Not a test: it measures and prints; see docs/benchmarks.md ("Failover").
//!
//! Per round: wait until the cluster is settled and data flows, take the owner of one station
//! (a different station each round), kill -9 it (`--mode kill`), SIGSTOP it (`freeze`) or
//! SIGTERM it (`term`); the gap of each RTU it owned is the time between the last data message
//! before the fault and the first one after, as the subscriber sees them. Then restart the
//! node (SIGCONT for freeze), wait until it rejoined and the cluster settled, next round.
//! At the end: every spontaneous event the simulator logged must have arrived (lost) and how
//! many arrived twice (duplicated).
//!
//! `cargo build --release -p iec104-e2e --bins && target/release/failoverbench --mode kill --rounds 20`
//! (the gateway and simulator command lines, e2e-gateway and e2e-sim, are found next to it).
//!
//! `--mode scale --stations N`: many RTUs over three nodes instead (see scale.rs).

#![forbid(unsafe_code)]

mod scale;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use iec104_e2e::broker::{Broker, MOSQUITTO};
use iec104_e2e::cluster::recorder::Recorder;
use iec104_e2e::cluster::sim::{self, Sim};
use iec104_e2e::cluster::{self, truth, view, Cluster, Settings, PREFIX};

/// The fault of each round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Fault {
    /// SIGKILL: the broker publishes the last will at once.
    Kill,
    /// SIGSTOP then SIGCONT: noticed after about 1.5 keep-alives.
    Freeze,
    /// SIGTERM: graceful handover.
    Term,
    /// The scale scenario: `--stations` RTUs over three nodes, one kill -9 (scale.rs).
    Scale,
}

/// Failover benchmark of an iec104-gateway cluster.
#[derive(Debug, Parser)]
struct Args {
    /// kill, freeze or term.
    #[arg(long, value_enum, default_value = "kill")]
    mode: Fault,
    /// Rounds (1..=200).
    #[arg(long, default_value_t = 20)]
    rounds: u32,
    /// Gateway nodes (2..=5).
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Simulated stations.
    #[arg(long, default_value_t = 6)]
    stations: u16,
    /// Spontaneous events per second per station.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// `[cluster] heartbeat` in seconds (default: 1 for freeze, 2 otherwise).
    #[arg(long)]
    heartbeat: Option<u64>,
    /// Keep the scratch directory.
    #[arg(long)]
    keep: bool,
    /// Scale mode: a fourth node joins once the three settled (graceful handover of its
    /// share), before the kill -9.
    #[arg(long)]
    join: bool,
}

const SETTLE: Duration = Duration::from_secs(60);

fn main() {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("failoverbench: no runtime: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = rt.block_on(run(args)) {
        eprintln!("failoverbench: {e}");
        std::process::exit(1);
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted.get(i.min(sorted.len() - 1)).copied()
}

fn ms(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.0} ms", d.as_secs_f64() * 1000.0))
        .unwrap_or("-".into())
}

/// The ownership once settled on `live`, and when the last cluster message arrived.
async fn settle(
    rec: &Recorder,
    rtus: &[String],
    live: &[String],
) -> Result<(BTreeMap<String, String>, Instant), String> {
    let live_ref: Vec<&str> = live.iter().map(String::as_str).collect();
    rec.wait(SETTLE, |m| view::settled(m, rtus, &live_ref, 1))
        .await
        .ok_or_else(|| {
            format!(
                "the cluster did not settle on {live:?} within {SETTLE:?}:{}",
                rec.with(|m| view::describe(m, rtus, &live_ref))
            )
        })
}

async fn flowing(rec: &Recorder, rtus: &[String], after: Instant, n: usize) -> Result<(), String> {
    rec.wait(SETTLE, |m| {
        rtus.iter()
            .all(|r| view::data_after(m, r, after).count() >= n)
            .then_some(())
    })
    .await
    .ok_or_else(|| format!("data of {rtus:?} did not flow"))
}

async fn run(args: Args) -> Result<(), String> {
    if !std::path::Path::new(MOSQUITTO).exists() {
        return Err(format!(
            "{MOSQUITTO} is missing (apt-get install mosquitto)"
        ));
    }
    if args.mode == Fault::Scale {
        let dir = iec104_e2e::scratch("failoverbench-scale").into_kept();
        let heartbeat = args.heartbeat.unwrap_or(2).max(1);
        let outcome = scale::run(args.stations.max(1), heartbeat, args.join, &dir).await;
        if args.keep {
            println!("kept {}", dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&dir);
        }
        return outcome;
    }
    let rounds = args.rounds.clamp(1, 200);
    let nodes = args.nodes.clamp(2, 5);
    let heartbeat = args
        .heartbeat
        .unwrap_or(if args.mode == Fault::Freeze { 1 } else { 2 })
        .max(1);
    let dir = iec104_e2e::scratch("failoverbench").into_kept();
    println!(
        "failoverbench {:?}: {nodes} nodes, {} stations × {} events/s, heartbeat {heartbeat} s, {rounds} rounds, scratch {}",
        args.mode,
        args.stations,
        args.rate,
        dir.display()
    );
    let mut broker = Broker::start(&dir).await;
    let mut sim = Sim::start(&dir, args.stations.max(1), args.rate).await;
    let rec = Recorder::start(broker.port, &format!("{PREFIX}/#")).await;
    let mut settings = Settings::new(broker.port);
    settings.heartbeat = heartbeat;
    let ids: Vec<String> = (0..nodes)
        .map(|i| format!("gw-{}", char::from(b'a' + i as u8)))
        .collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut cl = Cluster::start(&dir, &cluster::config(&settings, &sim.stations), &id_refs);
    cl.keep = args.keep;
    let rtus = sim.names();

    let mut gaps: Vec<Duration> = Vec::new();
    let mut takeovers: Vec<Duration> = Vec::new();
    let mut misses = 0usize;
    // Duplicates are also counted from the first round on: nodes starting together may both
    // start an RTU for a moment (see the notes), which is not what this measures.
    let mut rounds_from_ms: Option<i64> = None;
    let outcome: Result<(), String> = async {
        for round in 0..rounds {
            let (map, _) = settle(&rec, &rtus, &ids).await?;
            rounds_from_ms.get_or_insert_with(|| chrono::Utc::now().timestamp_millis());
            let at = Instant::now();
            flowing(&rec, &rtus, at, 10).await?;
            let station = &rtus[round as usize % rtus.len()];
            let victim = map[station].clone();
            let affected = view::owned_by(&map, &victim);
            let live: Vec<String> = ids.iter().filter(|i| **i != victim).cloned().collect();
            let index = cl
                .nodes
                .iter()
                .position(|n| n.id == victim)
                .ok_or("victim not found")?;
            let fault_at = Instant::now();
            match args.mode {
                Fault::Kill => cl.nodes[index].kill9().await,
                Fault::Freeze => cl.nodes[index].freeze(),
                Fault::Term => cl.nodes[index].signal(testkit::Signal::Term),
                Fault::Scale => {}
            }
            let (_, last) = settle(&rec, &rtus, &live).await?;
            let took = last.saturating_duration_since(fault_at);
            takeovers.push(took);
            let resumed = rec
                .wait(SETTLE, |m| {
                    affected
                        .iter()
                        .all(|r| {
                            view::data_after(m, r, fault_at)
                                .any(|d| d.json["node"] != victim.as_str())
                        })
                        .then_some(())
                })
                .await;
            if resumed.is_none() {
                misses += affected.len();
            }
            let round_gaps = rec.with(|m| truth::gaps(m, &affected, fault_at, &victim));
            let mut line = format!(
                "round {:>3}: {:?} {victim} (owner of {}), settled after {}, gaps:",
                round + 1,
                args.mode,
                affected.join(","),
                ms(Some(took))
            );
            for (r, g) in &round_gaps {
                line.push_str(&format!(" {r} {}", ms(*g)));
                match g {
                    Some(g) => gaps.push(*g),
                    None => misses += 1,
                }
            }
            println!("{line}");
            // Bring it back and let it rejoin.
            let back_at = Instant::now();
            match args.mode {
                Fault::Kill => cl.nodes[index].restart(),
                Fault::Freeze => cl.nodes[index].thaw(),
                Fault::Term => {
                    let _ = cl.nodes[index].wait_exit(Duration::from_secs(20)).await;
                    cl.nodes[index].restart();
                }
                Fault::Scale => {}
            }
            // Heard again: its presence or its beats (a node frozen for less than the broker's
            // keep-alive check was never declared offline).
            let topic = view::presence_topic(&victim);
            let beat = format!("{topic}/beat");
            rec.wait(SETTLE, |m| {
                m.iter()
                    .rev()
                    .take_while(|p| p.at > back_at)
                    .any(|p| p.topic == beat || (p.topic == topic && p.json["status"] == "online"))
                    .then_some(())
            })
            .await
            .ok_or_else(|| format!("{victim} did not rejoin"))?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = &outcome {
        println!("stopped early: {e}\n{}", cl.tails(30));
    }
    let d = truth::delivered(&rec, &sim.events_log, Duration::from_secs(30)).await;
    let from = rounds_from_ms.unwrap_or(i64::MAX);
    let in_rounds: Vec<truth::Logged> = truth::logged(&sim.events_log)
        .into_iter()
        .filter(|e| e.time_ms >= from)
        .collect();
    let dr =
        rec.with(|m| truth::compare(&in_rounds, m, chrono::Utc::now().timestamp_millis() - 500));
    let transfers = sim.transfers();
    let preempted: usize = transfers.values().map(|l| sim::preemptions(l)).sum();
    let starts: usize = transfers.values().map(|l| sim::starts(l)).sum();
    gaps.sort_unstable();
    takeovers.sort_unstable();
    println!(
        "gap (last data before → first data after, per affected RTU, {} samples): median {} p99 {} max {}; no data after the fault: {misses}",
        gaps.len(),
        ms(percentile(&gaps, 50.0)),
        ms(percentile(&gaps, 99.0)),
        ms(gaps.last().copied())
    );
    println!(
        "fault → cluster settled (status and presence on the survivors): median {} p99 {} max {}",
        ms(percentile(&takeovers, 50.0)),
        ms(percentile(&takeovers, 99.0)),
        ms(takeovers.last().copied())
    );
    println!(
        "events: {} logged (spontaneous), lost {}, duplicated {} (from the first round on: {} logged, {} duplicated); STARTDTs at the stations {starts}, of which preempting a started connection {preempted}",
        d.logged,
        d.lost.len(),
        d.duplicated.len(),
        dr.logged,
        dr.duplicated.len()
    );
    if !dr.duplicated.is_empty() {
        println!(
            "duplicated from the first round on, e.g. (event, publishing node of each arrival): {:?}",
            dr.duplicated.iter().take(5).collect::<Vec<_>>()
        );
    }
    if !d.lost.is_empty() {
        println!("lost e.g. {:?}", d.lost.iter().take(5).collect::<Vec<_>>());
    }
    // The nodes go first (dropping the cluster kills them), then the simulator and the broker.
    // The scratch directory holds the broker's files too: it is removed below, once the broker
    // has stopped (else mosquitto reports that it cannot save its state).
    cl.keep = true;
    drop(cl);
    sim.kill().await;
    broker.stop().await;
    if args.keep {
        println!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    outcome
}

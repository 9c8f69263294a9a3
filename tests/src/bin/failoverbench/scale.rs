//! `failoverbench --mode scale`: many RTUs over a 3-node cluster (issue #11, "Scale").
//!
//! One simulator with `--stations N` (five monitored points each — four time-tagged counters
//! and a single point — and one event per second per station), mosquitto, three gateway nodes
//! with `standby = 1`. Measured: the time from the nodes' start until every RTU is carried
//! (its status "started" naming a live node) and each node's share; then kill -9 of the
//! busiest node and the time until every RTU it carried is carried by another node; the
//! coordination messages per second (everything under `{prefix}/_cluster/`) per phase; the
//! peak RSS of each node (VmHWM); and lost events against the simulator's events log.
//! Not a test: it measures and prints.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iec104_e2e::broker::Broker;
use iec104_e2e::cluster::sim::Sim;
use iec104_e2e::cluster::{self, truth, Cluster, Settings, PREFIX};
use iec104_e2e::subscriber::Subscriber;

/// Everything the watcher learnt so far (updated per message, nothing else kept).
#[derive(Default)]
struct Seen {
    /// Per RTU: the node its last status names, when that status says "started".
    carrier: HashMap<String, Option<String>>,
    /// Messages and bytes under `{prefix}/_cluster/`, and the beats among them.
    cluster_msgs: u64,
    cluster_bytes: u64,
    beats: u64,
    /// Keys of the spontaneous events that arrived (see truth.rs), and arrivals of a key
    /// already seen.
    events: HashSet<String>,
    duplicates: u64,
}

impl Seen {
    fn carried_by(&self, live: &[String]) -> usize {
        self.carrier
            .values()
            .filter(|c| c.as_ref().is_some_and(|n| live.contains(n)))
            .count()
    }

    fn shares(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for n in self.carrier.values().flatten() {
            *out.entry(n.clone()).or_default() += 1;
        }
        out
    }
}

/// Subscribes to everything under the prefix and keeps [`Seen`] up to date.
async fn watch(port: u16) -> (Arc<Mutex<Seen>>, tokio::task::JoinHandle<()>) {
    let mut sub = Subscriber::start(port, &format!("{PREFIX}/#")).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    let cluster_base = format!("{PREFIX}/_cluster/");
    let task = tokio::spawn(async move {
        while let Some(m) = sub.next(Duration::from_secs(3600)).await {
            let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
            if m.topic.starts_with(&cluster_base) {
                s.cluster_msgs += 1;
                s.cluster_bytes += m.json.to_string().len() as u64;
                if m.topic.ends_with("/beat") {
                    s.beats += 1;
                }
            } else if let Some(rtu) = m
                .topic
                .strip_prefix(&format!("{PREFIX}/"))
                .and_then(|t| t.strip_suffix("/status"))
            {
                let node = (m.json["state"] == "started")
                    .then(|| m.json["node"].as_str().map(str::to_owned))
                    .flatten();
                s.carrier.insert(rtu.to_owned(), node);
            } else if m.json.get("ioa").is_some() && m.json["cot"] == "spont" {
                let key = format!(
                    "{}|{}|{}|{}|{}",
                    m.json["rtu"].as_str().unwrap_or(""),
                    m.json["ca"],
                    m.json["ioa"],
                    m.json["time"].as_str().unwrap_or(""),
                    m.json["value"]
                );
                if !s.events.insert(key) {
                    s.duplicates += 1;
                }
            }
        }
    });
    (seen, task)
}

/// Peak resident set size of a process in kB (VmHWM), when it runs.
fn peak_rss_kb(pid: Option<u32>) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Each node's peak RSS but `except`'s.
fn rss_line(cl: &Cluster, except: &str) -> String {
    let rss: Vec<String> = cl
        .nodes
        .iter()
        .filter(|node| node.id != except)
        .map(|node| {
            format!(
                "{} {} MB",
                node.id,
                peak_rss_kb(node.pid()).map_or("?".into(), |k| format!("{:.0}", k as f64 / 1024.0))
            )
        })
        .collect();
    rss.join(", ")
}

/// Waits (bounded) until `f` holds over what was seen; how long that took.
async fn until(
    seen: &Mutex<Seen>,
    from: Instant,
    within: Duration,
    f: impl Fn(&Seen) -> bool,
) -> Option<Duration> {
    let end = Instant::now() + within;
    loop {
        if f(&seen.lock().unwrap_or_else(|p| p.into_inner())) {
            return Some(from.elapsed());
        }
        if Instant::now() >= end {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn secs(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.2} s", d.as_secs_f64()))
        .unwrap_or("not within the bound".into())
}

/// Coordination messages since `since` (count, bytes, beats) and the rate over `over`.
fn rate_line(what: &str, now: (u64, u64, u64), since: (u64, u64, u64), over: Duration) -> String {
    let s = over.as_secs_f64().max(0.001);
    format!(
        "coordination ({what}, {:.1} s): {:.0} msg/s ({:.0} beats/s), {:.0} kB/s",
        s,
        (now.0 - since.0) as f64 / s,
        (now.2 - since.2) as f64 / s,
        (now.1 - since.1) as f64 / 1000.0 / s
    )
}

fn counters(seen: &Mutex<Seen>) -> (u64, u64, u64) {
    let s = seen.lock().unwrap_or_else(|p| p.into_inner());
    (s.cluster_msgs, s.cluster_bytes, s.beats)
}

/// The scale run: `stations` RTUs, three nodes, heartbeat `heartbeat` s.
pub async fn run(
    stations: u16,
    heartbeat: u64,
    join: bool,
    dir: &std::path::Path,
) -> Result<(), String> {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "scale: {stations} stations × 5 points × 1 event/s, 3 nodes, standby 1, heartbeat {heartbeat} s; load average at start: {}",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    let mut broker = Broker::start(dir).await;
    let mut sim = Sim::start(dir, stations, 1.0).await;
    let (seen, watcher) = watch(broker.port).await;
    let mut settings = Settings::new(broker.port);
    settings.heartbeat = heartbeat;
    let ids: Vec<String> = ["gw-a", "gw-b", "gw-c"].map(str::to_owned).to_vec();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let n = usize::from(stations);
    let started = Instant::now();
    let mut cl = Cluster::start(dir, &cluster::config(&settings, &sim.stations), &id_refs);
    let outcome = measure(&mut cl, &seen, &ids, n, started, join).await;
    if let Err(e) = &outcome {
        println!("stopped early: {e}\n{}", cl.tails(20));
    }
    // Lost: every logged event tagged up to 2 s ago must have arrived (waited for, bounded).
    let cutoff = chrono::Utc::now().timestamp_millis() - 2000;
    let logged: Vec<truth::Logged> = truth::logged(&sim.events_log)
        .into_iter()
        .filter(|e| e.time_ms <= cutoff)
        .collect();
    let lost = |s: &Seen| logged.iter().filter(|e| !s.events.contains(&e.key)).count();
    let _ = until(&seen, Instant::now(), Duration::from_secs(30), |s| {
        lost(s) == 0
    })
    .await;
    {
        let s = seen.lock().unwrap_or_else(|p| p.into_inner());
        let lost_keys: Vec<&str> = logged
            .iter()
            .filter(|e| !s.events.contains(&e.key))
            .map(|e| e.key.as_str())
            .take(5)
            .collect();
        println!(
            "events: {} logged (spontaneous, tagged up to 2 s before the end), lost {} (e.g. {lost_keys:?}), arrivals of an event already seen {}",
            logged.len(),
            lost(&s),
            s.duplicates
        );
    }
    watcher.abort();
    cl.keep = true;
    drop(cl);
    sim.kill().await;
    broker.stop().await;
    outcome
}

/// Waits (bounded: 60 s) until no carrier changed for 5 s; when the last change was.
async fn quiet(seen: &Mutex<Seen>) -> Instant {
    let carriers = || {
        seen.lock()
            .unwrap_or_else(|p| p.into_inner())
            .carrier
            .clone()
    };
    let mut last = carriers();
    let mut quiet_since = Instant::now();
    let settle_end = Instant::now() + Duration::from_secs(60);
    while quiet_since.elapsed() < Duration::from_secs(5) && Instant::now() < settle_end {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = carriers();
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
    }
    quiet_since
}

/// A fourth node joins: the time until it carries its share (graceful handovers: no carrier
/// between the old nodes changes), the RTUs moved, and arrivals of events already seen
/// meanwhile (a graceful handover duplicates nothing). Returns the ids with the newcomer.
async fn join(cl: &mut Cluster, seen: &Mutex<Seen>, ids: &[String], n: usize) -> Vec<String> {
    let (before, dup0) = {
        let s = seen.lock().unwrap_or_else(|p| p.into_inner());
        (s.carrier.clone(), s.duplicates)
    };
    let newcomer = "gw-d".to_owned();
    let join_at = Instant::now();
    cl.add(&newcomer);
    let first = until(seen, join_at, Duration::from_secs(60), |s| {
        s.shares().contains_key(&newcomer)
    })
    .await;
    let last_change = quiet(seen).await;
    let (after, dup1) = {
        let s = seen.lock().unwrap_or_else(|p| p.into_inner());
        (s.carrier.clone(), s.duplicates)
    };
    let moved: Vec<&String> = after
        .keys()
        .filter(|r| before.get(*r) != after.get(*r))
        .collect();
    let to_newcomer = moved
        .iter()
        .filter(|r| after[**r].as_deref() == Some(newcomer.as_str()))
        .count();
    println!(
        "join of {newcomer}: its first RTU carried after {}, the last carrier change {:.2} s after the join; moved {} RTUs, {} of them to {newcomer} ({:.1} % of {n}), {} elsewhere; arrivals of an event already seen during the join: {}",
        secs(first),
        last_change.saturating_duration_since(join_at).as_secs_f64(),
        moved.len(),
        to_newcomer,
        100.0 * to_newcomer as f64 / n as f64,
        moved.len() - to_newcomer,
        dup1 - dup0
    );
    let shares = seen.lock().unwrap_or_else(|p| p.into_inner()).shares();
    let line: Vec<String> = shares
        .iter()
        .map(|(node, k)| format!("{node} {k} ({:.1} %)", 100.0 * *k as f64 / n as f64))
        .collect();
    println!("shares after the join: {}", line.join(", "));
    let mut all = ids.to_vec();
    all.push(newcomer);
    all
}

/// Start → all carried → shares → (a fourth node joins) → kill -9 of the busiest → its RTUs
/// carried by the others.
async fn measure(
    cl: &mut Cluster,
    seen: &Mutex<Seen>,
    ids: &[String],
    n: usize,
    started: Instant,
    with_join: bool,
) -> Result<(), String> {
    let bound = Duration::from_secs(180);
    let c0 = counters(seen);
    let all = until(seen, started, bound, |s| s.carried_by(ids) == n).await;
    let c1 = counters(seen);
    println!(
        "all {n} RTUs carried after {} from the nodes' start",
        secs(all)
    );
    println!(
        "{}",
        rate_line("start → all carried", c1, c0, started.elapsed())
    );
    all.ok_or("not every RTU carried")?;
    // Settled: no carrier changed for 5 s (bounded).
    let quiet_since = quiet(seen).await;
    let steady_from = (Instant::now(), counters(seen));
    tokio::time::sleep(Duration::from_secs(10)).await;
    println!(
        "{}",
        rate_line(
            "steady",
            counters(seen),
            steady_from.1,
            steady_from.0.elapsed()
        )
    );
    let shares = seen.lock().unwrap_or_else(|p| p.into_inner()).shares();
    let line: Vec<String> = shares
        .iter()
        .map(|(node, k)| format!("{node} {k} ({:.1} %)", 100.0 * *k as f64 / n as f64))
        .collect();
    println!(
        "settled (last change of a carrier) {:.2} s after the start; shares: {}",
        quiet_since.duration_since(started).as_secs_f64(),
        line.join(", ")
    );
    println!("peak RSS before the kill: {}", rss_line(cl, ""));
    let joined;
    let (ids, shares) = if with_join {
        joined = join(cl, seen, ids, n).await;
        let shares = seen.lock().unwrap_or_else(|p| p.into_inner()).shares();
        (joined.as_slice(), shares)
    } else {
        (ids, shares)
    };
    let victim = shares
        .iter()
        .max_by_key(|(_, k)| **k)
        .map(|(n, _)| n.clone())
        .ok_or("nobody carries anything")?;
    let live: Vec<String> = ids.iter().filter(|i| **i != victim).cloned().collect();
    let index = cl
        .nodes
        .iter()
        .position(|n| n.id == victim)
        .ok_or("victim not found")?;
    let kill_from = (Instant::now(), counters(seen));
    cl.nodes[index].kill9().await;
    let taken = until(seen, kill_from.0, Duration::from_secs(60), |s| {
        s.carried_by(&live) == n
    })
    .await;
    println!(
        "kill -9 of {victim} (carrying {}): all its RTUs carried by the others after {}",
        shares[&victim],
        secs(taken)
    );
    println!(
        "{}",
        rate_line(
            "kill → all carried",
            counters(seen),
            kill_from.1,
            kill_from.0.elapsed()
        )
    );
    let after: Vec<String> = seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .shares()
        .iter()
        .map(|(node, k)| format!("{node} {k}"))
        .collect();
    println!("shares after the kill: {}", after.join(", "));
    println!(
        "peak RSS of the survivors at the end: {}",
        rss_line(cl, &victim)
    );
    taken
        .map(|_| ())
        .ok_or("the victim's RTUs were not all taken over".into())
}

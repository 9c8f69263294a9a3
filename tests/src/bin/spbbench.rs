//! `spbbench`: the ceiling of each data output of `iec104-gateway` through one mosquitto in
//! one benchmark run: objects per second delivered as Sparkplug B DDATA (gateway with
//! `[sparkplug]` and `[mqtt] json_data = false`) against messages per second of the JSON
//! output (gateway without `[sparkplug]`). The outputs run one after the other (phases, in
//! turn for `--rounds`), each in a gateway process of its own fed by simulator processes of
//! its own that offer more than it carries; one rumqttc subscriber on the same broker counts
//! both. Not a test: it measures and prints; see docs/benchmarks.md.
//!
//! `cargo build --release -p iec104-e2e --bins && target/release/spbbench`

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use iec104_e2e::broker::{Broker, MOSQUITTO};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::process::{Child, Command};

/// Ceiling of the JSON output (messages/s) and of the Sparkplug output (DDATA objects/s),
/// each alone in its own gateway, same broker, same run.
#[derive(Debug, Parser)]
struct Args {
    /// Simulated stations per phase (each one RTU, one Sparkplug edge node).
    #[arg(long, default_value_t = 20)]
    stations: u16,
    /// Points per station, all M_ME_TF_1 (a point changes at most 1000 times a second: its
    /// time tags are distinct milliseconds).
    #[arg(long, default_value_t = 500)]
    points: usize,
    /// Spontaneous events per second offered over all stations in the sparkplug and both
    /// phases.
    #[arg(long, default_value_t = 1_000_000.0)]
    rate: f64,
    /// The same in the json phase: above its ceiling, but no more, so that simulators making
    /// events nobody takes do not eat the CPU the JSON gateway could use.
    #[arg(long, default_value_t = 100_000.0)]
    json_rate: f64,
    /// Simulator processes per phase (the stations are shared out among them).
    #[arg(long, default_value_t = 2)]
    sims: u16,
    /// Seconds of measurement per phase.
    #[arg(long, default_value_t = 8)]
    duration: u64,
    /// Seconds between the start of a phase and its measurement.
    #[arg(long, default_value_t = 4)]
    warmup: u64,
    /// Phases in turn: json, sparkplug, both (the two outputs in one gateway, as before
    /// `json_data` existed). Comma separated.
    #[arg(long, default_value = "json,sparkplug")]
    phases: String,
    /// How often the list of phases is run.
    #[arg(long, default_value_t = 1)]
    rounds: u32,
    /// `[mqtt] max_inflight` of the JSON output (QoS 1 publications awaiting their PUBACK).
    #[arg(long, default_value_t = 100)]
    json_inflight: u16,
    /// `[sparkplug] qos` (0 is what the specification asks of DDATA; 1 for comparison).
    #[arg(long, default_value_t = 0)]
    spb_qos: u8,
    /// The gateway binary (default: next to this program).
    #[arg(long)]
    gateway: Option<PathBuf>,
    /// The simulator binary (default: next to this program).
    #[arg(long)]
    sim: Option<PathBuf>,
}

/// What the subscriber counted.
#[derive(Default)]
struct Counts {
    json_messages: AtomicU64,
    json_bytes: AtomicU64,
    ddata_messages: AtomicU64,
    ddata_metrics: AtomicU64,
    ddata_bytes: AtomicU64,
}

impl Counts {
    fn snapshot(&self) -> [u64; 5] {
        [
            &self.json_messages,
            &self.json_bytes,
            &self.ddata_messages,
            &self.ddata_metrics,
            &self.ddata_bytes,
        ]
        .map(|c| c.load(Ordering::Relaxed))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Json,
    Sparkplug,
    Both,
}

impl Phase {
    fn parse(s: &str) -> Result<Phase, String> {
        match s.trim() {
            "json" => Ok(Phase::Json),
            "sparkplug" => Ok(Phase::Sparkplug),
            "both" => Ok(Phase::Both),
            other => Err(format!(
                "--phases: {other:?} is not one of json, sparkplug, both"
            )),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Phase::Json => "json",
            Phase::Sparkplug => "sparkplug",
            Phase::Both => "both",
        }
    }
}

/// One phase's figures, per second of the window.
struct Figures {
    phase: Phase,
    offered: f64,
    per_s: [f64; 5],
    gateway_cpu: f64,
    sims_cpu: f64,
    broker_cpu: f64,
    /// JSON messages the broker acknowledged to the gateway (its /metrics), per second.
    acked: f64,
}

/// `iec104gw_published_total` of the gateway's /metrics (0 when it does not answer).
async fn published(http: u16) -> f64 {
    match testkit::net::http_get(http, "/metrics", Duration::from_secs(5)).await {
        Ok(r) => r.metric("iec104gw_published_total").unwrap_or(0.0),
        Err(_) => 0.0,
    }
}

fn main() {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("spbbench: no runtime: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = rt.block_on(run(args)) {
        eprintln!("spbbench: {e}");
        std::process::exit(1);
    }
}

/// Stations (name, common address, port) of one simulator process.
fn scenario_toml(stations: &[(String, u16, u16)], points: usize, rate_per_station: f64) -> String {
    let mut s = String::from("seed = 1\n");
    for (name, ca, port) in stations {
        let _ = write!(
            s,
            "[[station]]\nname = \"{name}\"\nca = {ca}\nport = {port}\nrate = {rate_per_station}\nqueue_size = 100000\n"
        );
        for j in 0..points {
            let _ = write!(
                s,
                "[[station.point]]\nioa = {}\ntype = \"M_ME_TF_1\"\nvalue = 500.0\nbehaviour = {{ kind = \"random_walk\", step = 1.0, min = 0.0, max = 1000.0 }}\n",
                1001 + j
            );
        }
    }
    s
}

fn binary_next_to_me(given: &Option<PathBuf>, names: &[&str]) -> Result<PathBuf, String> {
    if let Some(p) = given {
        return Ok(p.clone());
    }
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let dir = exe.parent().ok_or("no directory of this program")?;
    names
        .iter()
        .map(|b| dir.join(format!("{b}{}", std::env::consts::EXE_SUFFIX)))
        .find(|p| p.exists())
        .ok_or_else(|| format!("no {} next to {}", names[0], exe.display()))
}

/// The number of `metrics` (field 2) of a Sparkplug payload, read from the top level of the
/// protobuf without decoding the metrics; `None` when it is not well-formed.
fn metric_count(mut b: &[u8]) -> Option<u64> {
    fn varint(b: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = b.split_first()?;
            *b = rest;
            v |= u64::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    let mut n = 0;
    while !b.is_empty() {
        let key = varint(&mut b)?;
        match key & 7 {
            0 => {
                varint(&mut b)?;
            }
            1 => b = b.get(8..)?,
            2 => {
                let len = usize::try_from(varint(&mut b)?).ok()?;
                b = b.get(len..)?;
                n += u64::from(key >> 3 == 2);
            }
            5 => b = b.get(4..)?,
            _ => return None,
        }
    }
    Some(n)
}

/// Subscribes to both outputs and counts (QoS 0: the subscriber is not the bottleneck).
async fn subscribe(port: u16, counts: Arc<Counts>) -> Result<(), String> {
    let mut options = MqttOptions::new("spbbench-sub", "127.0.0.1", port);
    options.set_max_packet_size(1 << 24, 1 << 24);
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    for filter in ["gw/#", "spBv1.0/+/DDATA/#"] {
        client
            .subscribe(filter, QoS::AtMostOnce)
            .await
            .map_err(|e| format!("subscribe: {e}"))?;
    }
    tokio::spawn(async move {
        let _client = client;
        while let Ok(event) = eventloop.poll().await {
            let Event::Incoming(Packet::Publish(p)) = event else {
                continue;
            };
            let size = p.payload.len() as u64;
            if p.topic.starts_with("spBv1.0/") {
                let metrics = metric_count(&p.payload).unwrap_or(0);
                counts.ddata_messages.fetch_add(1, Ordering::Relaxed);
                counts.ddata_metrics.fetch_add(metrics, Ordering::Relaxed);
                counts.ddata_bytes.fetch_add(size, Ordering::Relaxed);
            } else if !p.topic.ends_with("/status") && !p.topic.contains("/_") {
                counts.json_messages.fetch_add(1, Ordering::Relaxed);
                counts.json_bytes.fetch_add(size, Ordering::Relaxed);
            }
        }
    });
    Ok(())
}

/// CPU seconds (user + system) a process used so far, from /proc (Linux); 0 elsewhere.
fn cpu_seconds(pid: Option<u32>) -> f64 {
    let Some(pid) = pid else { return 0.0 };
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn spawn_logged(bin: &Path, args: &[String], log: &Path) -> Result<Child, String> {
    let log = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    Command::new(bin)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))
}

/// Starts the simulators of a phase; returns them and the gateway's `[[rtu]]` tables.
async fn start_sims(
    args: &Args,
    rate: f64,
    sim_bin: &Path,
    dir: &Path,
) -> Result<(Vec<Child>, String), String> {
    let sims = args.sims.clamp(1, args.stations.max(1));
    let per_station = rate / f64::from(args.stations.max(1));
    let mut children = Vec::new();
    let mut rtus = String::new();
    for k in 0..sims {
        let indexes: Vec<u16> = (0..args.stations).filter(|i| i % sims == k).collect();
        let (child, stations) =
            start_sim(k, &indexes, args.points, per_station, sim_bin, dir).await?;
        children.push(child);
        for (name, ca, port) in &stations {
            let _ = write!(
                rtus,
                "[[rtu]]\nname = \"{name}\"\naddress = \"127.0.0.1:{port}\"\ncommon_address = {ca}\n"
            );
        }
    }
    Ok((children, rtus))
}

/// Simulator process `k` with the stations `indexes`, each on a port that was free a moment
/// ago; tried again on other ports (at most 5 times) when one was taken meanwhile.
async fn start_sim(
    k: u16,
    indexes: &[u16],
    points: usize,
    per_station: f64,
    sim_bin: &Path,
    dir: &Path,
) -> Result<(Child, Vec<(String, u16, u16)>), String> {
    let mut last = String::new();
    for attempt in 0..5 {
        let stations: Vec<(String, u16, u16)> = indexes
            .iter()
            .map(|&i| (format!("s{i}"), i + 1, testkit::net::free_port()))
            .collect();
        let path = dir.join(format!("sim{k}.toml"));
        std::fs::write(&path, scenario_toml(&stations, points, per_station))
            .map_err(|e| format!("scenario: {e}"))?;
        let sim_args = vec![
            "--config".to_owned(),
            path.display().to_string(),
            "--listen".to_owned(),
            "127.0.0.1:0".to_owned(),
        ];
        let log = dir.join(format!("sim{k}-{attempt}.log"));
        let mut child = spawn_logged(sim_bin, &sim_args, &log)?;
        let mut up = true;
        for (_, _, port) in &stations {
            if !testkit::net::wait_listening(*port, Duration::from_secs(5)).await {
                last = format!("simulator {k}: nothing listens on port {port}");
                up = false;
                break;
            }
        }
        if up && matches!(child.try_wait(), Ok(None)) {
            return Ok((child, stations));
        }
        let _ = child.kill().await;
    }
    Err(last)
}

fn gateway_toml(
    args: &Args,
    phase: Phase,
    (broker, http): (u16, u16),
    dir: &Path,
    rtus: &str,
) -> String {
    let mut config = format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:{broker}\"\ntopic_prefix = \"gw\"\nqos = 1\nmax_inflight = {}\n",
        args.json_inflight
    );
    if phase == Phase::Sparkplug {
        config.push_str("json_data = false\n");
    }
    let _ = write!(
        config,
        "[gateway]\nnode = \"bench\"\nstore_path = \"{}\"\nhttp_listen = \"127.0.0.1:{http}\"\n",
        dir.join("queue.redb").display()
    );
    if phase != Phase::Json {
        let _ = write!(
            config,
            "[sparkplug]\ngroup_id = \"bench\"\nqos = {}\n",
            args.spb_qos
        );
    }
    config.push_str(rtus);
    config
}

/// One phase: its simulators and gateway, the warm-up, the window, the figures.
async fn phase(
    args: &Args,
    phase: Phase,
    dir: &Path,
    broker: &Broker,
    counts: &Counts,
) -> Result<Figures, String> {
    let gw_bin = binary_next_to_me(&args.gateway, &["iec104-gateway", "e2e-gateway"])?;
    let sim_bin = binary_next_to_me(&args.sim, &["iec104-sim", "e2e-sim"])?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let rate = if phase == Phase::Json {
        args.json_rate
    } else {
        args.rate
    };
    let (sims, rtus) = start_sims(args, rate, &sim_bin, dir).await?;
    let http = testkit::net::free_port();
    let config_path = dir.join("gateway.toml");
    std::fs::write(
        &config_path,
        gateway_toml(args, phase, (broker.port, http), dir, &rtus),
    )
    .map_err(|e| format!("gateway config: {e}"))?;
    let gw_args = vec![
        "run".to_owned(),
        "--config".to_owned(),
        config_path.display().to_string(),
    ];
    let mut gw = spawn_logged(&gw_bin, &gw_args, &dir.join("gateway.log"))?;
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let cpu = || {
        (
            cpu_seconds(gw.id()),
            sims.iter().map(|s| cpu_seconds(s.id())).sum::<f64>(),
            cpu_seconds(broker.pid()),
        )
    };
    let (gw0, sims0, broker0) = cpu();
    let published0 = published(http).await;
    let before = counts.snapshot();
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.duration.max(1))).await;
    let after = counts.snapshot();
    let secs = t0.elapsed().as_secs_f64();
    let (gw1, sims1, broker1) = cpu();
    let published1 = published(http).await;
    let _ = gw.kill().await;
    for mut s in sims {
        let _ = s.kill().await;
    }
    let mut per_s = [0.0; 5];
    for (i, (a, b)) in after.iter().zip(before).enumerate() {
        per_s[i] = (a - b) as f64 / secs;
    }
    Ok(Figures {
        phase,
        offered: rate,
        per_s,
        gateway_cpu: (gw1 - gw0) / secs,
        sims_cpu: (sims1 - sims0) / secs,
        broker_cpu: (broker1 - broker0) / secs,
        acked: (published1 - published0) / secs,
    })
}

fn print(f: &Figures) {
    let [json_msgs, json_bytes, spb_msgs, spb_objects, spb_bytes] = f.per_s;
    println!(
        "phase {:<9} offered {:>7.0}/s: JSON {json_msgs:>8.0} msg/s ({:.0} B/object; gateway: {:.0}/s acknowledged) | Sparkplug {spb_objects:>8.0} objects/s in {spb_msgs:.0} DDATA/s ({:.1} objects/DDATA, {:.1} B/object) | CPU gateway {:.0} %, simulators {:.0} %, mosquitto {:.0} %",
        f.phase.name(),
        f.offered,
        json_bytes / json_msgs.max(1.0),
        f.acked,
        spb_objects / spb_msgs.max(1.0),
        spb_bytes / spb_objects.max(1.0),
        f.gateway_cpu * 100.0,
        f.sims_cpu * 100.0,
        f.broker_cpu * 100.0,
    );
}

async fn run(args: Args) -> Result<(), String> {
    if !Path::new(MOSQUITTO).exists() {
        return Err(format!("{MOSQUITTO} is missing: apt-get install mosquitto"));
    }
    let phases = args
        .phases
        .split(',')
        .map(Phase::parse)
        .collect::<Result<Vec<_>, _>>()?;
    let dir = iec104_e2e::scratch("spbbench").into_kept();
    println!(
        "spbbench: per phase {} stations × {} points (M_ME_TF_1) in {} simulator processes offering {} events/s ({} in the json phase); JSON qos 1 max_inflight {}, Sparkplug qos {}; {} s warm-up, {} s window; scratch {}",
        args.stations,
        args.points,
        args.sims,
        args.rate,
        args.json_rate,
        args.json_inflight,
        args.spb_qos,
        args.warmup,
        args.duration,
        dir.display()
    );
    let broker = Broker::start_with(
        &dir,
        "max_inflight_messages 1000\nset_tcp_nodelay true\n".into(),
    )
    .await;
    let counts = Arc::new(Counts::default());
    subscribe(broker.port, counts.clone()).await?;
    let mut all = Vec::new();
    for round in 0..args.rounds.max(1) {
        let mut this_round = Vec::new();
        for &p in &phases {
            let sub = dir.join(format!("{}-{round}", p.name()));
            let f = phase(&args, p, &sub, &broker, &counts).await?;
            print(&f);
            this_round.push(f);
        }
        let json = this_round.iter().find(|f| f.phase == Phase::Json);
        let spb = this_round.iter().find(|f| f.phase == Phase::Sparkplug);
        if let (Some(j), Some(s)) = (json, spb) {
            println!(
                "round {round}: Sparkplug-only objects/s ÷ JSON-only messages/s = {:.2}",
                s.per_s[3] / j.per_s[0].max(1.0)
            );
        }
        all.extend(this_round);
    }
    let mean = |p: Phase, i: usize| {
        let v: Vec<f64> = all
            .iter()
            .filter(|f| f.phase == p)
            .map(|f| f.per_s[i])
            .collect();
        v.iter().sum::<f64>() / (v.len().max(1) as f64)
    };
    if phases.contains(&Phase::Json) && phases.contains(&Phase::Sparkplug) {
        let json = mean(Phase::Json, 0);
        let spb = mean(Phase::Sparkplug, 3);
        println!(
            "all rounds: Sparkplug-only objects/s ÷ JSON-only messages/s = {spb:.0} ÷ {json:.0} = {:.2}",
            spb / json.max(1.0)
        );
    }
    Ok(())
}

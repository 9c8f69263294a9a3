//! `spbbench`: objects per second delivered as Sparkplug B DDATA against the JSON output's
//! messages per second, both from one `iec104-gateway run` process (both outputs on) through
//! one mosquitto in the same run. Simulated stations offer more than the JSON output can
//! carry; one rumqttc subscriber counts JSON data messages (`gw/#`) and Sparkplug DDATA
//! messages and their metrics (`spBv1.0/+/DDATA/#`) in the same window. Not a test: it
//! measures and prints; see docs/benchmarks.md.
//!
//! `cargo build --release -p iec104-e2e --bins && target/release/spbbench`

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use iec104_e2e::broker::{Broker, MOSQUITTO};
use prost::Message;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::process::Command;

/// Sparkplug DDATA objects/s against JSON messages/s, same gateway, same broker, same run.
#[derive(Debug, Parser)]
struct Args {
    /// Simulated stations (each one RTU, one Sparkplug edge node).
    #[arg(long, default_value_t = 20)]
    stations: u16,
    /// Points per station, all M_ME_TF_1.
    #[arg(long, default_value_t = 100)]
    points: usize,
    /// Total spontaneous events per second offered over all stations.
    #[arg(long, default_value_t = 100_000.0)]
    rate: f64,
    /// Seconds of measurement.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds between start and measurement.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// `[mqtt] max_inflight` of the JSON output (QoS 1 publications awaiting their PUBACK).
    #[arg(long, default_value_t = 100)]
    json_inflight: u16,
    /// The gateway binary (default: next to this program).
    #[arg(long)]
    gateway: Option<PathBuf>,
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

fn main() {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
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

fn scenario_toml(stations: u16, points: usize, rate_per_station: f64) -> String {
    let mut s = String::from("seed = 1\n");
    for i in 0..stations {
        let _ = write!(
            s,
            "[[station]]\nname = \"s{i}\"\nca = {}\nrate = {rate_per_station}\nqueue_size = 100000\n",
            u32::from(i) + 1
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

fn gateway_binary(args: &Args) -> Result<PathBuf, String> {
    if let Some(p) = &args.gateway {
        return Ok(p.clone());
    }
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let dir = exe.parent().ok_or("no directory of this program")?;
    ["iec104-gateway", "e2e-gateway"]
        .iter()
        .map(|b| dir.join(format!("{b}{}", std::env::consts::EXE_SUFFIX)))
        .find(|p| p.exists())
        .ok_or_else(|| format!("no gateway next to {}: pass --gateway", exe.display()))
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
                let metrics = iec104_sparkplug::proto::Payload::decode(p.payload.as_ref())
                    .map_or(0, |d| d.metrics.len() as u64);
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

async fn run(args: Args) -> Result<(), String> {
    if !std::path::Path::new(MOSQUITTO).exists() {
        return Err(format!("{MOSQUITTO} is missing: apt-get install mosquitto"));
    }
    let gw_bin = gateway_binary(&args)?;
    let dir = iec104_e2e::scratch("spbbench").into_kept();
    println!(
        "spbbench: {} stations × {} points (M_ME_TF_1), {} events/s offered, JSON max_inflight {}, {} s window, scratch {}",
        args.stations,
        args.points,
        args.rate,
        args.json_inflight,
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
    let scenario = iec104_sim::Scenario::from_toml_str(&scenario_toml(
        args.stations,
        args.points,
        args.rate / f64::from(args.stations.max(1)),
    ))
    .map_err(|e| format!("scenario: {e}"))?;
    let options = iec104_sim::Options::new(
        "127.0.0.1:0"
            .parse()
            .map_err(|e| format!("listen address: {e}"))?,
    );
    let sim = iec104_sim::start(&scenario, options)
        .await
        .map_err(|e| format!("simulator: {e}"))?;
    let infos = sim.stations().to_vec();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sim_task = tokio::spawn(sim.run(async move {
        let _ = stop_rx.await;
    }));
    let mut config = format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:{}\"\ntopic_prefix = \"gw\"\nqos = 1\nmax_inflight = {}\n[gateway]\nnode = \"bench\"\nstore_path = \"{}\"\n[sparkplug]\ngroup_id = \"bench\"\n",
        broker.port,
        args.json_inflight,
        dir.join("queue.redb").display()
    );
    for s in &infos {
        let _ = write!(
            config,
            "[[rtu]]\nname = \"{}\"\naddress = \"{}\"\ncommon_address = {}\n",
            s.name, s.addr, s.ca
        );
    }
    let config_path = dir.join("gateway.toml");
    std::fs::write(&config_path, &config).map_err(|e| format!("gateway config: {e}"))?;
    let gw_log =
        std::fs::File::create(dir.join("gateway.log")).map_err(|e| format!("gateway log: {e}"))?;
    let mut gw = Command::new(&gw_bin)
        .args(["run", "--config"])
        .arg(&config_path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(gw_log)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", gw_bin.display()))?;
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let before = counts.snapshot();
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.duration.max(1))).await;
    let after = counts.snapshot();
    let secs = t0.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    if let Ok(Ok(summary)) = sim_task.await {
        println!(
            "simulator: {:.0} objects/s generated over its whole run ({} objects in {:.1} s; what the gateway did not take waits in the stations' queues)",
            summary.objects as f64 / summary.elapsed.as_secs_f64().max(0.001),
            summary.objects,
            summary.elapsed.as_secs_f64()
        );
    }
    let _ = gw.kill().await;
    let d: Vec<f64> = after
        .iter()
        .zip(before)
        .map(|(a, b)| (a - b) as f64 / secs)
        .collect();
    let (json_msgs, json_bytes, spb_msgs, spb_objects, spb_bytes) = (d[0], d[1], d[2], d[3], d[4]);
    println!(
        "JSON output:      {json_msgs:>10.0} messages/s = objects/s ({:.0} bytes/object)",
        json_bytes / json_msgs.max(1.0)
    );
    println!(
        "Sparkplug DDATA:  {spb_objects:>10.0} objects/s in {spb_msgs:.0} messages/s ({:.1} objects/message, {:.1} bytes/object)",
        spb_objects / spb_msgs.max(1.0),
        spb_bytes / spb_objects.max(1.0)
    );
    println!(
        "ratio: Sparkplug objects/s ÷ JSON messages/s = {:.2}",
        spb_objects / json_msgs.max(1.0)
    );
    Ok(())
}

//! `loadbench`: the gateway's end-to-end load benchmark (simulated stations → the real
//! `iec104-gateway run` process → mosquitto → a rumqttc subscriber). Not a test: it measures
//! and prints; see docs/benchmarks.md.
//!
//! `cargo run --release -p iec104-e2e --bin loadbench -- --scenario rate|max|connections`

#![forbid(unsafe_code)]

mod bare;
mod collect;
mod procstat;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use iec104_e2e::broker::{Broker, MOSQUITTO};
use serde_json::Value;
use tokio::process::{Child, Command};

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    /// A fixed total rate: losses and latency.
    Rate,
    /// Saturation: the sustained rate, against a bare rumqttc publisher loop.
    Max,
    /// Many station connections: initial interrogation time and peak RSS.
    Connections,
}

/// End-to-end load benchmark of iec104-gateway.
#[derive(Debug, Parser)]
struct Args {
    /// rate, max or connections.
    #[arg(long)]
    scenario: Which,
    /// Simulated stations (default 100; connections: 1000).
    #[arg(long)]
    stations: Option<u16>,
    /// Points per station, all M_ME_TF_1 (float with CP56Time2a) (default 100; connections: 10).
    #[arg(long)]
    points: Option<usize>,
    /// Total spontaneous events per second over all stations (default 20000; max: 60000;
    /// connections: 1000).
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds of measurement (rate, max, and the bare loop of max).
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Seconds between the last initial interrogation and the start of measurement.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// MQTT QoS of the data messages (gateway and bare loop): 0 or 1.
    #[arg(long, default_value_t = 1)]
    qos: u8,
    /// The gateway's max_inflight (also the bare loop's in-flight window).
    #[arg(long, default_value_t = 100)]
    inflight: u16,
    /// Keep the scratch directory (events log, gateway config and log, broker files).
    #[arg(long)]
    keep: bool,
    /// The gateway binary (default: iec104-gateway next to this program).
    #[arg(long)]
    gateway: Option<PathBuf>,
    /// Every station speaks IEC 62351-3 TLS (mutual authentication, CRL checked on both
    /// sides) with a test PKI made at start (rcgen, ECDSA P-256).
    #[arg(long)]
    tls: bool,
}

fn main() {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadbench: no runtime: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = rt.block_on(run(args)) {
        eprintln!("loadbench: {e}");
        std::process::exit(1);
    }
}

/// The simulator scenario: `stations` stations of `points` floats with time tags.
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
    // `cargo build --release --workspace` puts iec104-gateway here; `cargo build --release
    // -p iec104-e2e` puts e2e-gateway (the same command line) here.
    ["iec104-gateway", "e2e-gateway"]
        .iter()
        .map(|b| dir.join(format!("{b}{}", std::env::consts::EXE_SUFFIX)))
        .find(|p| p.exists())
        .ok_or_else(|| {
            format!(
                "no gateway next to {}: build it with `cargo build --release --workspace` or pass --gateway",
                exe.display()
            )
        })
}

async fn stop_child(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await;
    }
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

fn lock(s: &std::sync::Mutex<collect::Stats>) -> std::sync::MutexGuard<'_, collect::Stats> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

async fn run(args: Args) -> Result<(), String> {
    if !std::path::Path::new(MOSQUITTO).exists() {
        return Err(format!(
            "{MOSQUITTO} is missing: install mosquitto (apt-get install mosquitto)"
        ));
    }
    let (def_stations, def_points, def_rate) = match args.scenario {
        Which::Rate => (100, 100, 20_000.0),
        Which::Max => (100, 100, 60_000.0),
        Which::Connections => (1000, 10, 1000.0),
    };
    let stations = args.stations.unwrap_or(def_stations).max(1);
    let points = args.points.unwrap_or(def_points).max(1);
    let rate = args.rate.unwrap_or(def_rate);
    let duration = Duration::from_secs(args.duration.max(1));
    let gw_bin = gateway_binary(&args)?;
    let ticks = procstat::ticks_per_second();

    let dir = iec104_e2e::scratch("loadbench").into_kept();
    println!(
        "loadbench {:?}{}: {stations} stations × {points} points, {rate} events/s offered, QoS {}, scratch {}",
        args.scenario,
        if args.tls { " over TLS" } else { "" },
        args.qos,
        dir.display()
    );
    // mosquitto's default of 20 QoS 1 messages in flight per client would make the subscriber,
    // not the gateway, the bottleneck.
    // The broker as deployed for low latency: a window of 1000 QoS 1 messages in flight
    // towards each subscriber, and no Nagle delay on its sockets (mosquitto's default holds
    // small packets behind unacknowledged ones: tens of milliseconds with delayed ACKs).
    let mut broker = Broker::start_with(
        &dir,
        "max_inflight_messages 1000\nset_tcp_nodelay true\n".into(),
    )
    .await;
    let started = Instant::now();
    let (stats, sub_task) = collect::start(broker.port, points, started).await?;

    // The stations, in this process, with their events log as the ground truth.
    let scenario = iec104_sim::Scenario::from_toml_str(&scenario_toml(
        stations,
        points,
        rate / f64::from(stations),
    ))
    .map_err(|e| format!("scenario: {e}"))?;
    let log_path = dir.join("events.jsonl");
    let mut options = iec104_sim::Options::new(
        "127.0.0.1:0"
            .parse()
            .map_err(|e| format!("listen address: {e}"))?,
    );
    options.events_log = Some(log_path.clone());
    options.seed = Some(1);
    let pki = if args.tls {
        let pki =
            iec104::tls::testing::TestPki::generate(&dir).map_err(|e| format!("test PKI: {e}"))?;
        options.tls = Some(iec104_sim::StationTls {
            cert_file: pki.server.cert.clone(),
            key_file: pki.server.key.clone(),
            ca_file: Some(pki.ca.clone()),
            allowed_certs: Vec::new(),
            crl_file: Some(pki.crl.clone()),
        });
        Some(pki)
    } else {
        None
    };
    let sim = iec104_sim::start(&scenario, options)
        .await
        .map_err(|e| format!("simulator: {e}"))?;
    let infos = sim.stations().to_vec();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sim_task = tokio::spawn(sim.run(async move {
        let _ = stop_rx.await;
    }));

    // The gateway, with a generated configuration.
    let mut config = format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:{}\"\ntopic_prefix = \"gw\"\nqos = {}\nmax_inflight = {}\n[gateway]\nnode = \"bench\"\nstore_path = \"{}\"\n",
        broker.port,
        args.qos,
        args.inflight,
        dir.join("queue.redb").display()
    );
    if let Some(pki) = &pki {
        let _ = write!(
            config,
            "[tls]\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\ncrl_file = \"{}\"\n",
            pki.ca.display(),
            pki.client.cert.display(),
            pki.client.key.display(),
            pki.crl.display()
        );
    }
    for s in &infos {
        let _ = write!(
            config,
            "[[rtu]]\nname = \"{}\"\naddress = \"{}\"\ncommon_address = {}\n{}",
            s.name,
            s.addr,
            s.ca,
            if pki.is_some() { "[rtu.tls]\n" } else { "" }
        );
    }
    let config_path = dir.join("gateway.toml");
    std::fs::write(&config_path, &config).map_err(|e| format!("gateway config: {e}"))?;
    let gw_log =
        std::fs::File::create(dir.join("gateway.log")).map_err(|e| format!("gateway log: {e}"))?;
    let gw_started = Instant::now();
    let mut gw = Command::new(&gw_bin)
        .args(["run", "--config"])
        .arg(&config_path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(gw_log)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", gw_bin.display()))?;
    let pid = gw.id().ok_or("the gateway exited at once")?;

    // Every station's initial interrogation, in full, at the subscriber.
    let gi_limit = Duration::from_secs(60);
    let since = started.elapsed();
    let gi_deadline = Instant::now() + gi_limit;
    loop {
        let done = lock(&stats).gi_done.len();
        if done >= infos.len() || Instant::now() >= gi_deadline {
            break;
        }
        if let Ok(Some(status)) = gw.try_wait() {
            return Err(format!(
                "the gateway exited: {status} (see {}/gateway.log)",
                dir.display()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (gi_count, gi_in_30, gi_max) = {
        let st = lock(&stats);
        let times: Vec<Duration> = st
            .gi_done
            .values()
            .map(|d| d.saturating_sub(since))
            .collect();
        (
            times.len(),
            times
                .iter()
                .filter(|d| **d <= Duration::from_secs(30))
                .count(),
            times.iter().max().copied(),
        )
    };
    let _ = gw_started;
    println!(
        "initial interrogations complete: {gi_count}/{} (within 30 s: {gi_in_30}), last after {}",
        infos.len(),
        gi_max
            .map(|d| format!("{:.2} s", d.as_secs_f64()))
            .unwrap_or("-".into())
    );

    let mut report = Vec::new();
    if args.scenario != Which::Connections {
        tokio::time::sleep(Duration::from_secs(args.warmup)).await;
        let t0 = chrono::Utc::now().timestamp_millis();
        let cpu0 = procstat::cpu_seconds(pid, ticks);
        let m0 = {
            let mut st = lock(&stats);
            st.window_start_ms = Some(t0);
            st.gateway_messages
        };
        let w0 = Instant::now();
        tokio::time::sleep(duration).await;
        let window = w0.elapsed();
        let t1 = chrono::Utc::now().timestamp_millis();
        let cpu1 = procstat::cpu_seconds(pid, ticks);
        let m1 = {
            let mut st = lock(&stats);
            st.window_end_ms = Some(t1);
            st.gateway_messages
        };
        let _ = stop_tx.send(());
        let summary = sim_task.await;
        // Drain: until nothing new arrives for 3 s (at most 30 s).
        let drain_end = Instant::now() + Duration::from_secs(30);
        let mut last = m1;
        let mut quiet_since = Instant::now();
        while Instant::now() < drain_end && quiet_since.elapsed() < Duration::from_secs(3) {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = lock(&stats).gateway_messages;
            if now != last {
                last = now;
                quiet_since = Instant::now();
            }
        }
        let rss = procstat::peak_rss_mib(pid);
        let cpu_end = procstat::cpu_seconds(pid, ticks);
        stop_child(&mut gw).await;
        if let Ok(Ok(s)) = &summary {
            report.push(format!(
                "simulator: {} objects in {} ASDUs, {} late ticks (max lateness {:?})",
                s.objects, s.asdus, s.late_ticks, s.max_tick_lateness
            ));
        }

        // Ground truth: the events log, restricted to the window by source time.
        let text = std::fs::read_to_string(&log_path).map_err(|e| format!("events log: {e}"))?;
        let mut logged: HashSet<String> = HashSet::new();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if v.get("outcome").is_some() || v.get("cot").and_then(Value::as_str) != Some("spont") {
                continue;
            }
            let Some(t) = v
                .get("time")
                .and_then(Value::as_str)
                .and_then(collect::time_ms)
            else {
                continue;
            };
            if t < t0 || t > t1 {
                continue;
            }
            if let Some(k) = collect::event_key(&v) {
                logged.insert(k);
            }
        }
        let secs = window.as_secs_f64();
        let samples = {
            let st = lock(&stats);
            let missing: Vec<&String> = logged.iter().filter(|k| !st.events.contains(*k)).collect();
            let lost = missing.len();
            // The newest lost time tags say whether they were cut off at the stop.
            let mut lost_times: Vec<&str> =
                missing.iter().filter_map(|k| k.split('|').nth(1)).collect();
            lost_times.sort_unstable();
            let mut lat = st.latencies_ms.clone();
            lat.sort_unstable();
            let fmt = |p: Option<i64>| p.map(|v| format!("{v} ms")).unwrap_or("-".into());
            report.push(format!(
            "window {:.1} s: logged (sent) {} events = {:.0}/s; received {} distinct = {:.0}/s; lost {lost}; duplicates {}",
            secs,
            logged.len(),
            logged.len() as f64 / secs,
            st.events.len(),
            st.events.len() as f64 / secs,
            st.duplicates
        ));
            if let (Some(first), Some(last)) = (lost_times.first(), lost_times.last()) {
                report.push(format!(
                    "lost events' time tags: {first} .. {last} (window ends {})",
                    chrono::DateTime::from_timestamp_millis(t1)
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                        .unwrap_or_default()
                ));
            }
            report.push(format!(
                "subscriber receive rate in the window: {:.0} messages/s ({} messages)",
                (m1 - m0) as f64 / secs,
                m1 - m0
            ));
            report.push(format!(
                "latency source time tag → subscriber (1 ms resolution): p50 {} p99 {} max {}",
                fmt(collect::percentile(&lat, 50.0)),
                fmt(collect::percentile(&lat, 99.0)),
                fmt(lat.last().copied())
            ));
            let mut to_gw = st.to_gateway_ms.clone();
            to_gw.sort_unstable();
            let mut from_gw = st.from_gateway_ms.clone();
            from_gw.sort_unstable();
            report.push(format!(
                "  of which time tag → gateway receipt (\"received\"): p50 {} p99 {}; gateway receipt → subscriber: p50 {} p99 {}",
                fmt(collect::percentile(&to_gw, 50.0)),
                fmt(collect::percentile(&to_gw, 99.0)),
                fmt(collect::percentile(&from_gw, 50.0)),
                fmt(collect::percentile(&from_gw, 99.0)),
            ));
            if let (Some(a), Some(b)) = (cpu0, cpu1) {
                report.push(format!(
                "gateway CPU in the window: {:.1} s = {:.0}% of one core (total until stop {:.1} s)",
                b - a,
                100.0 * (b - a) / secs,
                cpu_end.unwrap_or(b)
            ));
            }
            report.push(format!(
                "gateway peak RSS (VmHWM): {}",
                rss.map(|r| format!("{r:.1} MiB")).unwrap_or("-".into())
            ));
            report.push(format!("topics with messages: {}", st.per_topic.len()));
            st.samples.clone()
        };

        if args.scenario == Which::Max {
            report.push(
                "(max: the stations are offered more than the gateway carries, so the backlog \
                 at stop makes latency and losses above meaningless; the figure is the receive rate)"
                    .into(),
            );
            let gw_rate = (m1 - m0) as f64 / secs;
            let b0 = lock(&stats).bare_messages;
            let (acked, took) = bare::run(
                broker.port,
                &samples,
                args.qos == 1,
                args.inflight,
                duration,
            )
            .await?;
            tokio::time::sleep(Duration::from_secs(2)).await;
            let b1 = lock(&stats).bare_messages;
            let bare_rate = acked as f64 / took.as_secs_f64();
            report.push(format!(
                "bare rumqttc publisher loop ({} payloads replayed, QoS {}, in-flight {}): {acked} acknowledged in {:.1} s = {bare_rate:.0}/s; subscriber received {}",
                samples.len(),
                args.qos,
                args.inflight,
                took.as_secs_f64(),
                b1 - b0
            ));
            report.push(format!(
                "gateway sustained / bare loop: {gw_rate:.0} / {bare_rate:.0} = {:.0}% (target ≥ 80%)",
                100.0 * gw_rate / bare_rate.max(1.0)
            ));
        }
    } else {
        // Keep the connections (and their trickle of events) up for the duration: the peak
        // RSS is that of a running gateway, not just of its start.
        tokio::time::sleep(duration).await;
        let rss = procstat::peak_rss_mib(pid);
        let cpu = procstat::cpu_seconds(pid, ticks);
        report.push(format!(
            "gateway peak RSS (VmHWM) with {} connections: {} (target < 200 MB); CPU so far {}",
            infos.len(),
            rss.map(|r| format!("{r:.1} MiB")).unwrap_or("-".into()),
            cpu.map(|c| format!("{c:.1} s")).unwrap_or("-".into())
        ));
        stop_child(&mut gw).await;
        let _ = stop_tx.send(());
        let _ = sim_task.await;
    }
    sub_task.abort();
    broker.stop().await;
    for line in report {
        println!("{line}");
    }
    if args.keep {
        println!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

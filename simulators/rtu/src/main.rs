//! `iec104-sim`: one or many simulated IEC 60870-5-104 controlled stations (RTUs) in one
//! process, from a TOML scenario or from flags.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod events_log;
mod faults;
mod points;
mod station;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use iec104::server::{RedundancyGroupConfig, RedundancyMode, ServerConfig};
use tokio::sync::watch;

use config::{generated_points, Redundancy, Scenario, StationConfig};
use events_log::EventsLog;
use faults::{FaultSpec, Scheduled};
use points::PointTable;
use station::{StationSetup, Stats};

/// Simulated IEC 60870-5-104 controlled stations (RTUs).
#[derive(Debug, Parser)]
#[command(name = "iec104-sim", version, about)]
struct Args {
    /// Address of the first station; station i listens on its port + i.
    #[arg(long, default_value = "127.0.0.1:2404")]
    listen: SocketAddr,
    /// Common address of the first generated station (the others follow).
    #[arg(long, default_value_t = 1)]
    ca: u16,
    /// Points per generated station (a mixed set, see the README).
    #[arg(long, default_value_t = 200)]
    points: usize,
    /// Spontaneous events per second per station.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Generated stations on consecutive ports (ignored with --config).
    #[arg(long, default_value_t = 1)]
    stations: u16,
    /// Seed of every random behaviour: the same seed gives the same values.
    #[arg(long)]
    seed: Option<u64>,
    /// A TOML scenario (stations, points, behaviours, commands, faults).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Appends a JSON line per spontaneous/periodic object and per received command.
    #[arg(long)]
    events_log: Option<PathBuf>,
    /// Stops after this many seconds (and prints a summary).
    #[arg(long)]
    duration: Option<f64>,
    /// A fault for every station, e.g. `kind=burst,at=5,events=500` (repeatable).
    #[arg(long = "fault")]
    faults: Vec<String>,
    /// Events each redundancy group keeps while no client is started (generated stations).
    #[arg(long)]
    queue_size: Option<usize>,
    /// Redundancy mode of generated stations: single, connection.
    #[arg(long, default_value = "single")]
    redundancy: String,
}

/// Errors that stop the simulator before it runs.
#[derive(Debug, thiserror::Error)]
enum SimError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Fault(#[from] faults::FaultArgError),
    #[error(transparent)]
    Station(#[from] station::StationError),
    #[error("cannot open the events log {path}: {source}")]
    Log {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("iec104-sim: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("iec104-sim: {e}");
            ExitCode::from(2)
        }
    }
}

/// The stations of the run: from the scenario file, or generated.
fn scenario(args: &Args) -> Result<Scenario, SimError> {
    if let Some(path) = &args.config {
        return Ok(Scenario::load(path)?);
    }
    let redundancy = match args.redundancy.as_str() {
        "single" => Redundancy::Single,
        "connection" => Redundancy::Connection,
        other => {
            return Err(SimError::Invalid(format!(
                "--redundancy {other:?}: expected single or connection (groups need a --config)"
            )))
        }
    };
    let points = generated_points(args.points);
    let stations = (0..args.stations)
        .map(|i| StationConfig {
            name: None,
            ca: args.ca.wrapping_add(i),
            port: None,
            rate: Some(args.rate),
            k: None,
            w: None,
            t1: None,
            t2: None,
            t3: None,
            redundancy,
            groups: Vec::new(),
            queue_size: args.queue_size,
            max_connections: None,
            select_timeout_ms: None,
            points: points.clone(),
            generate: None,
            generate_ioa: None,
            faults: Vec::new(),
        })
        .collect();
    Ok(Scenario {
        seed: None,
        stations,
    })
}

fn seconds(name: &str, v: Option<f64>, default: Duration) -> Result<Duration, String> {
    match v {
        None => Ok(default),
        Some(s) => {
            Duration::try_from_secs_f64(s).map_err(|_| format!("{name} = {s}: not a duration"))
        }
    }
}

fn setup(
    index: usize,
    c: &StationConfig,
    args: &Args,
    seed: u64,
    extra_faults: &[FaultSpec],
) -> Result<StationSetup, SimError> {
    let name = c.display_name();
    let invalid = |message: String| config::ConfigError::Invalid {
        station: name.clone(),
        message,
    };
    let table = PointTable::new(&c.all_points()).map_err(|e| invalid(e.to_string()))?;
    let mut server = ServerConfig::default();
    let link = &mut server.link;
    if let Some(k) = c.k {
        link.k = k;
    }
    if let Some(w) = c.w {
        link.w = w;
    }
    link.t1 = seconds("t1", c.t1, link.t1).map_err(invalid)?;
    link.t2 = seconds("t2", c.t2, link.t2).map_err(invalid)?;
    link.t3 = seconds("t3", c.t3, link.t3).map_err(invalid)?;
    server.mode = match c.redundancy {
        Redundancy::Single => RedundancyMode::SingleGroup,
        Redundancy::Connection => RedundancyMode::ConnectionIsGroup,
        Redundancy::Groups => RedundancyMode::Groups(
            c.groups
                .iter()
                .map(|g| RedundancyGroupConfig::new(g.name.clone(), g.addresses.iter().copied()))
                .collect(),
        ),
    };
    if let Some(q) = c.queue_size {
        server.queue_size = q;
    }
    if let Some(m) = c.max_connections {
        server.max_connections = m;
    }
    server.validate().map_err(|e| invalid(e.to_string()))?;
    let port = match c.port {
        Some(p) => p,
        None => u16::try_from(usize::from(args.listen.port()) + index).map_err(|_| {
            invalid(format!(
                "port {} + {index} is beyond 65535",
                args.listen.port()
            ))
        })?,
    };
    let rate = c.rate.unwrap_or(args.rate);
    if !rate.is_finite() || rate < 0.0 {
        return Err(invalid(format!("rate {rate} must be a finite number >= 0")).into());
    }
    let faults = c
        .faults
        .iter()
        .chain(extra_faults)
        .cloned()
        .map(Scheduled::new)
        .collect();
    Ok(StationSetup {
        name: name.clone(),
        ca: c.ca,
        addr: SocketAddr::new(args.listen.ip(), port),
        server,
        rate,
        select_timeout: Duration::from_millis(c.select_timeout_ms.unwrap_or(10_000)),
        table,
        faults,
        // A different, reproducible stream per station.
        seed: seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    })
}

async fn run(args: Args) -> Result<(), SimError> {
    let mut term = Terminate::listen();
    let scenario = scenario(&args)?;
    if args.config.is_some() && args.stations != 1 {
        tracing::warn!("--stations is ignored with --config: the file lists the stations");
    }
    let extra_faults = args
        .faults
        .iter()
        .map(|f| FaultSpec::parse_arg(f))
        .collect::<Result<Vec<_>, _>>()?;
    let seed = args.seed.or(scenario.seed).unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    });
    tracing::info!(
        seed,
        stations = scenario.stations.len(),
        "starting (repeat with --seed {seed})"
    );
    let setups = scenario
        .stations
        .iter()
        .enumerate()
        .map(|(i, c)| setup(i, c, &args, seed, &extra_faults))
        .collect::<Result<Vec<_>, _>>()?;
    for s in &setups {
        for f in &s.faults {
            if f.spec.kind == faults::FaultKind::MalformedFrame && f.spec.frame().is_none() {
                return Err(SimError::Invalid(format!(
                    "station {}: malformed_frame octets must be 1 to 255 hex octets",
                    s.name
                )));
            }
        }
    }
    let (log, writer) = match &args.events_log {
        Some(path) => {
            let (log, writer) = EventsLog::open(path)
                .await
                .map_err(|source| SimError::Log {
                    path: path.display().to_string(),
                    source,
                })?;
            (log, Some(tokio::spawn(writer)))
        }
        None => (EventsLog::disabled(), None),
    };
    let stats = Arc::new(Stats::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::with_capacity(setups.len());
    for s in setups {
        let fut = station::start(s, log.clone(), stats.clone(), stop_rx.clone()).await?;
        tasks.push(tokio::spawn(fut));
    }
    drop(log);
    let begun = tokio::time::Instant::now();
    tracing::info!(stations = tasks.len(), "all stations listening");
    wait_for_end(args.duration, &mut term).await;
    let elapsed = begun.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    if let Some(writer) = writer {
        match writer.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("events log: {e}"),
            Err(e) => tracing::error!("events log writer: {e}"),
        }
    }
    let scheduled = stats.scheduled.load(Ordering::Relaxed);
    tracing::info!(
        elapsed_s = format!("{elapsed:.1}"),
        objects = stats.objects.load(Ordering::Relaxed),
        asdus = stats.asdus.load(Ordering::Relaxed),
        scheduled_updates = scheduled,
        commands = stats.commands.load(Ordering::Relaxed),
        max_tick_lateness_ms = stats.max_lateness_us.load(Ordering::Relaxed) as f64 / 1000.0,
        late_ticks = stats.late_ticks.load(Ordering::Relaxed),
        "stopped"
    );
    Ok(())
}

/// SIGTERM, listened for from the start (a signal before the stations listen is not lost).
struct Terminate {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Terminate {
    fn listen() -> Terminate {
        Terminate {
            #[cfg(unix)]
            signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok(),
        }
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(s) = &mut self.signal {
            s.recv().await;
            return;
        }
        std::future::pending::<()>().await
    }
}

/// Until --duration is over, Ctrl-C or SIGTERM.
async fn wait_for_end(duration: Option<f64>, term: &mut Terminate) {
    let timer = async {
        match duration.and_then(|d| Duration::try_from_secs_f64(d).ok()) {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = timer => tracing::info!("duration over"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted"),
        _ = term.recv() => tracing::info!("terminated"),
    }
}

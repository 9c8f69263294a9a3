//! `iec104-sim`: one or many simulated IEC 60870-5-104 controlled stations (RTUs) in one
//! process, from a TOML scenario or from flags.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use iec104_sim::{Options, Redundancy, Scenario, SimError};

/// Simulated IEC 60870-5-104 controlled stations (RTUs).
#[derive(Debug, Parser)]
#[command(name = "iec104-sim", version, about)]
struct Args {
    /// Address of the first station; station i listens on its port + i
    /// [default: 127.0.0.1:2404, with --tls-cert 127.0.0.1:19998 (IEC 62351-3)].
    #[arg(long)]
    listen: Option<SocketAddr>,
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
    /// TLS (IEC 62351-3) for every station without a [station.tls] table.
    #[command(flatten)]
    tls: TlsArgs,
}

/// `--tls-*`: serve TLS and require client certificates.
#[derive(Debug, clap::Args)]
struct TlsArgs {
    /// Serve TLS with this certificate (PEM); needs --tls-key and --tls-ca or --tls-allow.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Accept client certificates signed by this CA (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_ca: Option<PathBuf>,
    /// Accept only this client certificate (PEM; repeatable).
    #[arg(long = "tls-allow", requires = "tls_cert")]
    tls_allow: Vec<PathBuf>,
    /// Refuse client certificates revoked in this CRL (PEM).
    #[arg(long, requires = "tls_ca")]
    tls_crl: Option<PathBuf>,
}

impl TlsArgs {
    fn station_tls(&self) -> Option<iec104_sim::StationTls> {
        let (cert_file, key_file) = (self.tls_cert.clone()?, self.tls_key.clone()?);
        Some(iec104_sim::StationTls {
            cert_file,
            key_file,
            ca_file: self.tls_ca.clone(),
            allowed_certs: self.tls_allow.clone(),
            crl_file: self.tls_crl.clone(),
        })
    }
}

/// Errors of the command line.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error(transparent)]
    Config(#[from] iec104_sim::ConfigError),
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
fn scenario(args: &Args) -> Result<Scenario, CliError> {
    if let Some(path) = &args.config {
        return Ok(Scenario::from_file(path)?);
    }
    let redundancy = match args.redundancy.as_str() {
        "single" => Redundancy::Single,
        "connection" => Redundancy::Connection,
        other => {
            return Err(CliError::Invalid(format!(
                "--redundancy {other:?}: expected single or connection (groups need a --config)"
            )))
        }
    };
    let mut scenario = Scenario::generated_stations(args.stations, args.ca, args.points, args.rate);
    for s in &mut scenario.stations {
        s.redundancy = redundancy;
        s.queue_size = args.queue_size;
    }
    Ok(scenario)
}

async fn run(args: Args) -> Result<(), CliError> {
    let mut term = Terminate::listen();
    let scenario = scenario(&args)?;
    if args.config.is_some() && args.stations != 1 {
        tracing::warn!("--stations is ignored with --config: the file lists the stations");
    }
    let tls = args.tls.station_tls();
    let default_port = if tls.is_some() {
        iec104::tls::IEC62351_PORT
    } else {
        2404
    };
    let listen = args
        .listen
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], default_port)));
    let mut options = Options::new(listen);
    options.tls = tls;
    options.events_log = args.events_log.clone();
    options.seed = args.seed;
    options.default_rate = args.rate;
    options.faults = args.faults.clone();
    let sim = iec104_sim::start(&scenario, options).await?;
    let seed = sim.seed();
    tracing::info!(
        seed,
        stations = sim.stations().len(),
        "all stations listening (repeat with --seed {seed})"
    );
    let summary = sim.run(wait_for_end(args.duration, &mut term)).await?;
    tracing::info!(
        elapsed_s = format!("{:.1}", summary.elapsed.as_secs_f64()),
        objects = summary.objects,
        asdus = summary.asdus,
        scheduled_updates = summary.scheduled_updates,
        commands = summary.commands,
        max_tick_lateness_ms = summary.max_tick_lateness.as_secs_f64() * 1000.0,
        late_ticks = summary.late_ticks,
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

//! Running a scenario: [`start`] binds every station and returns a [`Simulation`] whose
//! [`Simulation::run`] future runs them until a shutdown future completes.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use iec104::server::{RedundancyGroupConfig, RedundancyMode, ServerConfig};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{self, Redundancy, Scenario, StationConfig};
use crate::events_log::EventsLog;
use crate::faults::{self, FaultSpec, Scheduled};
use crate::points::PointTable;
use crate::station::{self, StationSetup, Stats};

/// How a scenario runs: addresses, events log, seed, extra faults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// Address of the first station; station `i` without a `port` of its own listens on this
    /// port + `i`. With port 0 every such station gets its own ephemeral port (see
    /// [`Simulation::stations`] for the bound addresses).
    pub listen: SocketAddr,
    /// Appends one JSON line per spontaneous/periodic object and per received command.
    pub events_log: Option<PathBuf>,
    /// Seed of every random behaviour; default: the scenario's, else the clock.
    pub seed: Option<u64>,
    /// Events per second of stations whose scenario gives no `rate` (default 10).
    pub default_rate: f64,
    /// Faults for every station, in the `--fault` syntax (`kind=burst,at=5,events=500`).
    pub faults: Vec<String>,
    /// TLS for every station without a `[station.tls]` of its own (the `--tls-*` flags).
    pub tls: Option<crate::tls::StationTls>,
}

impl Options {
    /// Stations from `listen` on, no events log, no extra faults, rate 10 by default.
    pub fn new(listen: SocketAddr) -> Options {
        Options {
            listen,
            events_log: None,
            seed: None,
            default_rate: 10.0,
            faults: Vec::new(),
            tls: None,
        }
    }
}

/// Errors that stop a simulation before it runs (or its events log at the end).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario is unusable.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A fault given in [`Options::faults`] does not parse.
    #[error(transparent)]
    Fault(#[from] faults::FaultArgError),
    /// A station cannot bind or start.
    #[error(transparent)]
    Station(#[from] station::StationError),
    /// The events log cannot be opened or written.
    #[error("events log {path}: {source}")]
    Log {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// A bound station, as the caller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StationInfo {
    /// Display name (the events log's `"station"`).
    pub name: String,
    /// Common address.
    pub ca: u16,
    /// The address it listens on (the bound one: never port 0).
    pub addr: SocketAddr,
}

/// Counters of a finished run.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Summary {
    /// From the start of [`Simulation::run`] to the shutdown.
    pub elapsed: Duration,
    /// Information objects sent spontaneously or periodically.
    pub objects: u64,
    /// Event ASDUs enqueued.
    pub asdus: u64,
    /// Updates the stations' shared rates asked for.
    pub scheduled_updates: u64,
    /// Commands (ASDUs) received.
    pub commands: u64,
    /// Largest lateness of a station tick.
    pub max_tick_lateness: Duration,
    /// Ticks more than one tick late.
    pub late_ticks: u64,
}

type StationFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type WriterFuture = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

/// Bound, not yet running stations; [`Simulation::run`] runs them. Dropping it closes them.
pub struct Simulation {
    stations: Vec<StationInfo>,
    seed: u64,
    futures: Vec<StationFuture>,
    log: EventsLog,
    writer: Option<(String, WriterFuture)>,
    stop: watch::Sender<bool>,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("stations", &self.stations)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// Opens the events log and binds every station of `scenario` (so their addresses are known
/// and clients may connect at once); nothing runs until [`Simulation::run`] is polled.
pub async fn start(scenario: &Scenario, options: Options) -> Result<Simulation, SimError> {
    let extra_faults = options
        .faults
        .iter()
        .map(|f| FaultSpec::parse_arg(f))
        .collect::<Result<Vec<_>, _>>()?;
    let seed = options.seed.or(scenario.seed).unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    });
    let setups = scenario
        .stations
        .iter()
        .enumerate()
        .map(|(i, c)| setup(i, c, &options, seed, &extra_faults))
        .collect::<Result<Vec<_>, _>>()?;
    let (log, writer) = match &options.events_log {
        Some(path) => {
            let shown = path.display().to_string();
            let (log, writer) = EventsLog::open(path)
                .await
                .map_err(|source| SimError::Log {
                    path: shown.clone(),
                    source,
                })?;
            (log, Some((shown, Box::pin(writer) as WriterFuture)))
        }
        None => (EventsLog::disabled(), None),
    };
    let stats = Arc::new(Stats::default());
    let (stop, stop_rx) = watch::channel(false);
    let mut stations = Vec::with_capacity(setups.len());
    let mut futures = Vec::with_capacity(setups.len());
    for s in setups {
        let (name, ca) = (s.name.clone(), s.ca);
        let (addr, fut) = station::start(s, log.clone(), stats.clone(), stop_rx.clone()).await?;
        stations.push(StationInfo { name, ca, addr });
        futures.push(Box::pin(fut) as StationFuture);
    }
    Ok(Simulation {
        stations,
        seed,
        futures,
        log,
        writer,
        stop,
        stats,
    })
}

impl Simulation {
    /// The bound stations, in scenario order.
    pub fn stations(&self) -> &[StationInfo] {
        &self.stations
    }

    /// The seed in use (repeat a run with [`Options::seed`]).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Runs every station until `shutdown` completes, then stops them and flushes the events
    /// log. The stations run as tasks of a `JoinSet` owned by this future (one per station, so
    /// they use every core): dropping the future aborts them all.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<Summary, SimError> {
        let Simulation {
            futures,
            log,
            writer,
            stop,
            stats,
            ..
        } = self;
        // The writer ends once the stations' clones are gone too.
        drop(log);
        let begun = tokio::time::Instant::now();
        let mut set = JoinSet::new();
        for fut in futures {
            set.spawn(fut);
        }
        let stations = async {
            shutdown.await;
            let elapsed = begun.elapsed();
            let _ = stop.send(true);
            while let Some(done) = set.join_next().await {
                if let Err(error) = done {
                    tracing::error!(%error, "station task failed");
                }
            }
            elapsed
        };
        let written = async {
            match writer {
                Some((path, writer)) => writer
                    .await
                    .map_err(|source| SimError::Log { path, source }),
                None => Ok(()),
            }
        };
        let (elapsed, written) = tokio::join!(stations, written);
        written?;
        Ok(Summary {
            elapsed,
            objects: stats.objects.load(Ordering::Relaxed),
            asdus: stats.asdus.load(Ordering::Relaxed),
            scheduled_updates: stats.scheduled.load(Ordering::Relaxed),
            commands: stats.commands.load(Ordering::Relaxed),
            max_tick_lateness: Duration::from_micros(stats.max_lateness_us.load(Ordering::Relaxed)),
            late_ticks: stats.late_ticks.load(Ordering::Relaxed),
        })
    }
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
    options: &Options,
    seed: u64,
    extra_faults: &[FaultSpec],
) -> Result<StationSetup, SimError> {
    let name = c.display_name();
    let invalid = |message: String| config::ConfigError::Invalid {
        station: name.clone(),
        message,
    };
    let mut table = PointTable::new(&c.all_points()).map_err(|e| invalid(e.to_string()))?;
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
    let base = options.listen.port();
    let port = match c.port {
        Some(p) => p,
        // Port 0: an ephemeral port for each station.
        None if base == 0 => 0,
        None => u16::try_from(usize::from(base) + index)
            .map_err(|_| invalid(format!("port {base} + {index} is beyond 65535")))?,
    };
    let rate = c.rate.unwrap_or(options.default_rate);
    if !rate.is_finite() || rate < 0.0 {
        return Err(invalid(format!("rate {rate} must be a finite number >= 0")).into());
    }
    let faults: Vec<Scheduled> = c
        .faults
        .iter()
        .chain(extra_faults)
        .cloned()
        .map(Scheduled::new)
        .collect();
    if faults
        .iter()
        .any(|f| f.spec.kind == faults::FaultKind::MalformedFrame && f.spec.frame().is_none())
    {
        return Err(
            invalid("malformed_frame octets must be 1 to 255 hex octets".to_string()).into(),
        );
    }
    for f in &faults {
        f.spec.check(&table).map_err(invalid)?;
    }
    // A different, reproducible stream per station, and per point within it.
    let seed = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    table.seed(seed);
    let tls = match c.tls.as_ref().or(options.tls.as_ref()) {
        Some(tls) => Some(tls.acceptor().map_err(invalid)?),
        None => None,
    };
    Ok(StationSetup {
        tls,
        name: name.clone(),
        ca: c.ca,
        addr: SocketAddr::new(options.listen.ip(), port),
        server,
        rate,
        select_timeout: Duration::from_millis(c.select_timeout_ms.unwrap_or(10_000)),
        table,
        faults,
        seed,
    })
}

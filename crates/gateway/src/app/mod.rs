//! Wiring on top of the layers: opens the store, starts the north (MQTT publisher and store
//! writer), one south session per RTU, the command router, the cluster task and the
//! operations endpoint, and stops them in order.
//!
//! [`start`] spawns these tasks on the caller's tokio runtime and returns a [`Gateway`]
//! handle; nothing runs after [`Gateway::run_until`] has returned.

pub mod check;
mod clustering;
mod mqtt;
mod operations;
mod sessions;
mod tls;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::Loaded;
use crate::contract::Topics;
use crate::model::live::LiveView;
use crate::model::{Metrics, Role, StatusBoard};
use crate::north::store::{Store, StoreError};
use crate::ops::notify;

/// The system CA bundle used for `mqtts://` without `ca_file`.
pub const SYSTEM_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Why a gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The on-disk queue could not be opened.
    #[error("cannot open the queue {path}: {source}")]
    Store {
        /// The queue file.
        path: PathBuf,
        /// What the store reported.
        source: StoreError,
    },
    /// The Sparkplug history file could not be opened.
    #[error("cannot open the sparkplug history {path}: {source}")]
    SparkplugHistory {
        /// The history file.
        path: PathBuf,
        /// What the store reported.
        source: StoreError,
    },
    /// `gateway.http_listen` is not a socket address.
    #[error("http_listen: {0}")]
    HttpAddress(#[from] std::net::AddrParseError),
    /// The HTTP endpoint could not be bound.
    #[error("http_listen {addr}: {source}")]
    HttpBind {
        /// The address.
        addr: SocketAddr,
        /// What the system reported.
        source: std::io::Error,
    },
    /// A certificate or key file could not be read.
    #[error("cannot read {what}{path}: {source}")]
    ReadFile {
        /// What the file is (with a trailing space), or empty.
        what: &'static str,
        /// The file.
        path: String,
        /// What the system reported.
        source: std::io::Error,
    },
    /// A Sparkplug edge node could not be made from the configuration.
    #[error("sparkplug: {0}")]
    Sparkplug(#[from] iec104_sparkplug::edge::EdgeError),
    /// A blocking task failed.
    #[error("{0}")]
    Join(#[from] tokio::task::JoinError),
    /// A certificate, key or CRL of `[tls]`/`[rtu.tls]` cannot be used.
    #[error("tls: {0}")]
    Tls(String),
}

/// Where the queue lives (resolved with the configuration).
pub fn store_path(loaded: &Loaded) -> PathBuf {
    loaded.gateway.store_path.clone()
}

/// Resolves on SIGINT or SIGTERM. The SIGTERM handler is installed when this is called, not
/// when the future is first polled: a SIGTERM that comes while the gateway is starting then
/// stops it cleanly instead of killing it.
pub fn signals() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A running gateway: its tasks run on the runtime that called [`start`] until
/// [`Gateway::run_until`] (or [`Gateway::stop`]) has stopped them in order.
#[derive(Debug)]
pub struct Gateway {
    http_addr: Option<SocketAddr>,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    shutdown: watch::Sender<bool>,
    leave: watch::Sender<bool>,
    roles: Vec<watch::Sender<Role>>,
    sessions: Vec<JoinHandle<()>>,
    /// Sparkplug edge nodes (`[sparkplug]`), ended by the sessions' end.
    sparkplug: Vec<JoinHandle<()>>,
    publisher: JoinHandle<()>,
    writer: JoinHandle<()>,
    router: JoinHandle<()>,
    cluster: Option<clustering::Running>,
    /// Aborted at the end: HTTP endpoint, watchdog.
    background: Vec<JoinHandle<()>>,
}

/// Loads the configuration file and applies the command-line overrides (the message names
/// the key, value and line where it can).
pub fn load(
    path: &std::path::Path,
    overrides: &crate::config::Overrides,
) -> Result<Loaded, String> {
    let mut loaded = crate::config::load(path).map_err(|e| e.to_string())?;
    loaded.apply(overrides)?;
    Ok(loaded)
}

/// Runs the gateway until `stop` resolves (or a signal when `stop` is None).
pub async fn run(
    loaded: Loaded,
    stop: Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>,
) -> Result<(), String> {
    // Signals are listened for before anything starts (see [`signals`]).
    let stop = stop.unwrap_or_else(|| Box::pin(signals()));
    let gateway = start(loaded).await.map_err(|e| e.to_string())?;
    gateway.run_until(stop).await;
    Ok(())
}

/// Starts a gateway from the resolved configuration: opens the queue, binds the HTTP
/// endpoint, spawns the publisher, the store writer, one session per RTU, the command router
/// and (in cluster mode) the cluster task on the current tokio runtime, and tells systemd it
/// is ready. Nothing is spawned when it fails.
pub async fn start(loaded: Loaded) -> Result<Gateway, StartError> {
    let tls = tls::load(&loaded)?;
    let store = open_store(&loaded).await?;
    let metrics = Arc::new(Metrics::default());
    metrics.set_queue(store.len(), store.dropped());
    let http = operations::bind_http(&loaded).await?;
    let wiring = Wiring::new(&loaded, store, metrics);
    let north = mqtt::prepare(&loaded, &wiring)?;
    let mut background = Vec::new();
    let http_addr = http.map(|endpoint| {
        let addr = endpoint.addr;
        background.push(operations::serve_http(
            endpoint,
            wiring.metrics.clone(),
            wiring.live.clone(),
        ));
        addr
    });
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (reports_tx, reports_rx) = mpsc::channel(1024);
    // Commands written by Sparkplug hosts go through the router like the JSON ones.
    let (spb_commands, spb_commands_rx) = mpsc::channel(64);
    let (ca, client_auth) = mqtt::tls_files(&loaded)?;
    let broker_tls = ca.map(|ca| crate::north::sparkplug::Tls { ca, client_auth });
    let restored = open_sparkplug_history(&loaded).await?;
    let mut sparkplug = crate::north::sparkplug::start(
        &loaded,
        broker_tls.as_ref(),
        &spb_commands,
        restored,
        &wiring.metrics,
    )?;
    drop(spb_commands);
    background.extend(tls::spawn_reloader(tls.clone(), wiring.metrics.clone()));
    let mut south = sessions::start(
        &loaded,
        &wiring,
        tls,
        &north,
        reports_tx,
        &shutdown_rx,
        &mut sparkplug.taps,
    );
    // The sessions hold the taps now: each edge node ends once its session has.
    sparkplug.taps.clear();
    // In a cluster, each edge node has its session while this node carries its RTU.
    for (rtu, role) in loaded.rtus.iter().zip(&south.roles) {
        if let Some(carrier) = sparkplug.carriers.remove(&rtu.name) {
            let follow = crate::north::sparkplug::follow_role(role.subscribe(), carrier);
            sparkplug.handles.push(tokio::spawn(follow));
        }
    }
    let coordination = clustering::coordination(&loaded, &wiring)?;
    let router_rx = north.incoming_rx;
    let router = sessions::start_router(
        &loaded,
        &wiring,
        &mut south,
        north.results_tx.clone(),
        router_rx,
        spb_commands_rx,
    );
    let (leave, leave_rx) = watch::channel(false);
    let cluster = clustering::start(
        &loaded,
        &wiring,
        &mut south.roles,
        reports_rx,
        coordination,
        leave_rx,
    );
    let (publisher, writer) = mqtt::start(north.publisher, north.writer, &shutdown_rx);
    background.extend(operations::ready());
    tracing::info!(node = %wiring.node, rtus = loaded.rtus.len(), broker = %format!("{}:{}", loaded.broker.host, loaded.broker.port), other_brokers = loaded.mqtt.brokers.others.len(), "gateway running");
    Ok(Gateway {
        http_addr,
        store: wiring.store,
        metrics: wiring.metrics,
        shutdown,
        leave,
        roles: south.roles,
        sessions: south.handles,
        sparkplug: sparkplug.handles,
        publisher,
        writer,
        router,
        cluster,
        background,
    })
}

/// Opens the queue (blocking, off the runtime's worker).
async fn open_store(loaded: &Loaded) -> Result<Arc<Store>, StartError> {
    let path = store_path(loaded);
    let max = loaded.gateway.queue_max_messages;
    let p = path.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&p, max))
        .await?
        .map_err(|source| StartError::Store {
            path: path.clone(),
            source,
        })?;
    tracing::info!(path = %path.display(), waiting = store.len(), dropped = store.dropped(), "queue opened");
    Ok(Arc::new(store))
}

/// With `[sparkplug]`: opens the history file beside the queue and reads what each RTU's
/// edge node held (blocking, off the runtime's worker).
async fn open_sparkplug_history(
    loaded: &Loaded,
) -> Result<HashMap<String, crate::north::store::held::Restored>, StartError> {
    let Some(settings) = &loaded.sparkplug else {
        return Ok(HashMap::new());
    };
    let path = crate::north::store::held::path_beside(&store_path(loaded));
    let capacity = u64::try_from(settings.buffer_capacity).unwrap_or(u64::MAX);
    let rtus: Vec<(String, u64)> = loaded
        .rtus
        .iter()
        .map(|r| (r.name.clone(), capacity))
        .collect();
    let p = path.clone();
    let restored = tokio::task::spawn_blocking(move || crate::north::store::held::open(&p, &rtus))
        .await?
        .map_err(|source| StartError::SparkplugHistory {
            path: path.clone(),
            source,
        })?;
    let held: usize = restored.values().map(|r| r.held.len()).sum();
    tracing::info!(path = %path.display(), held, "sparkplug history opened");
    Ok(restored)
}

/// What every part of the wiring shares.
struct Wiring {
    node: String,
    topics: Topics,
    incarnation: String,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    board: Arc<StatusBoard>,
    live: Arc<LiveView>,
    /// Cluster mode: what the command router answers beyond the RTUs this node carries.
    duty: Arc<tokio::sync::watch::Sender<crate::model::Duty>>,
}

impl Wiring {
    fn new(loaded: &Loaded, store: Arc<Store>, metrics: Arc<Metrics>) -> Wiring {
        Wiring {
            node: loaded.node.clone(),
            topics: Topics::new(loaded.mqtt.topic_prefix.as_str()),
            incarnation: crate::cluster::incarnation(),
            store,
            metrics,
            board: StatusBoard::new(),
            live: operations::live_view(loaded),
            duty: Arc::new(tokio::sync::watch::channel(crate::model::Duty::default()).0),
        }
    }
}

impl Gateway {
    /// The address the HTTP endpoint (`/metrics`, `/health`, `/ready`) listens on, when
    /// `gateway.http_listen` is set (port 0 gives the port actually bound).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Runs until `stop` resolves, then stops the gateway (see [`Gateway::stop`]).
    pub async fn run_until(self, stop: impl Future<Output = ()>) {
        stop.await;
        self.stop().await;
    }

    /// Stops in order: in cluster mode hands every RTU over first and lets the queue empty
    /// (bounded), then stops the sessions, then the publisher (which stores what the broker
    /// has not acknowledged and says goodbye), then the writer.
    pub async fn stop(self) {
        tracing::info!("shutting down");
        notify::notify("STOPPING=1");
        let mut coordination = None;
        if let Some(c) = self.cluster {
            // Hand every started RTU over (STOPDT confirmed, presence without it) first.
            let _ = self.leave.send(true);
            let _ = tokio::time::timeout(Duration::from_secs(120), c.task).await;
            drain_queue(&self.store, &self.metrics).await;
            coordination = Some((c.link, c.keep_open));
        }
        let _ = self.shutdown.send(true);
        for s in self.sessions {
            let _ = tokio::time::timeout(Duration::from_secs(3), s).await;
        }
        drop(self.roles);
        // Each edge node publishes its NDEATH and disconnects once its session is gone.
        for s in self.sparkplug {
            let abort = s.abort_handle();
            if tokio::time::timeout(Duration::from_secs(6), s)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        // Sessions are gone: the publisher writes what the broker has not acknowledged to
        // the store, publishes the final statuses and says goodbye; then the writer finishes.
        let _ = tokio::time::timeout(Duration::from_secs(12), self.publisher).await;
        let _ = tokio::time::timeout(Duration::from_secs(3), self.writer).await;
        // Then the coordination connection's goodbye: our offline presence, after the final
        // statuses.
        if let Some((link, keep_open)) = coordination {
            drop(keep_open);
            let _ = tokio::time::timeout(Duration::from_secs(3), link).await;
        }
        self.router.abort();
        for t in self.background {
            t.abort();
        }
    }
}

/// Everything the RTUs sent is acknowledged, so durable here: lets the publisher empty the
/// queue while the broker is reachable, so the data does not wait for this node's restart
/// (bounded: 5 s).
async fn drain_queue(store: &Store, metrics: &Metrics) {
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    while store.len() > 0 && metrics.mqtt_state().0 && tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if store.len() > 0 {
        tracing::warn!(
            waiting = store.len(),
            "leaving with messages still queued (published at the next start)"
        );
    }
}

//! Wiring of the daemon: store, writer, publisher, command router, one session per RTU,
//! HTTP endpoint, systemd notifications; runs until a signal (or the given stop future).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::{mpsc, watch, Notify};

use crate::commands::Router;
use crate::config::Loaded;
use crate::metrics::{self, Metrics};
use crate::mqtt::status::StatusBoard;
use crate::mqtt::{MqttSettings, Publisher};
use crate::notify;
use crate::rtu::convert::Publish;
use crate::rtu::{Role, RtuSession, Shared};
use crate::store::{writer, Store};

/// Where the queue lives: the configured path, else `$STATE_DIRECTORY/queue.redb`, else
/// `./queue.redb`.
pub fn store_path(loaded: &Loaded) -> PathBuf {
    if let Some(p) = &loaded.config.gateway.store_path {
        return PathBuf::from(p);
    }
    match std::env::var_os("STATE_DIRECTORY") {
        // systemd may pass several, separated by ':'; take the first.
        Some(d) => {
            let d = d
                .to_string_lossy()
                .split(':')
                .next()
                .unwrap_or(".")
                .to_owned();
            PathBuf::from(d).join("queue.redb")
        }
        None => PathBuf::from("queue.redb"),
    }
}

/// The system CA bundle used for `mqtts://` without `ca_file`.
pub const SYSTEM_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Resolves on SIGINT or SIGTERM.
pub async fn signals() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Runs the gateway until `stop` resolves (or a signal when `stop` is None).
pub async fn run(
    loaded: Loaded,
    stop: Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>,
) -> Result<(), String> {
    let cfg = &loaded.config;
    let node = loaded.node.clone();
    let prefix = cfg.mqtt.topic_prefix.get_ref().clone();
    let path = store_path(&loaded);
    let max = *cfg.gateway.queue_max_messages.get_ref();
    let store = {
        let p = path.clone();
        tokio::task::spawn_blocking(move || Store::open(&p, max))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot open the queue {}: {e}", path.display()))?
    };
    let store = Arc::new(store);
    tracing::info!(path = %path.display(), waiting = store.len(), dropped = store.dropped(), "queue opened");
    let metrics = Arc::new(Metrics::default());
    metrics.set_queue(store.len(), store.dropped());
    if let Some(listen) = &cfg.gateway.http_listen {
        let addr: SocketAddr = listen
            .get_ref()
            .parse()
            .map_err(|e| format!("http_listen: {e}"))?;
        let listener = metrics::bind(addr)
            .await
            .map_err(|e| format!("http_listen {addr}: {e}"))?;
        tracing::info!(%addr, "HTTP endpoint: /metrics /health /ready");
        tokio::spawn(metrics::serve(listener, metrics.clone()));
    }

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    // Sessions -> publisher (memory-first) -> writer (batches that go to disk).
    let (batch_tx, batch_rx) = mpsc::channel(1024);
    let (writer_tx, writer_rx) = mpsc::channel(1024);
    let committed = Arc::new(AtomicU64::new(0));
    let wake = Arc::new(Notify::new());
    let board = StatusBoard::new();
    let (results_tx, results_rx) = mpsc::channel(256);
    let (incoming_tx, incoming_rx) = mpsc::channel(256);
    let writer = tokio::spawn(writer::run(
        store.clone(),
        writer_rx,
        wake.clone(),
        metrics.clone(),
        board.clone(),
        committed.clone(),
    ));

    let publish = Publish {
        prefix: prefix.clone(),
        node: node.clone(),
        qos: *cfg.mqtt.qos.get_ref(),
        retain: cfg.mqtt.retain,
    };
    let shared = Shared {
        publish,
        writer: batch_tx,
        board: board.clone(),
        results: results_tx.clone(),
        metrics: metrics.clone(),
        command_timeout: Duration::from_secs_f64(*cfg.gateway.command_timeout.get_ref()),
    };
    let mut roles = Vec::new();
    let mut sessions = Vec::new();
    let mut routes = HashMap::new();
    for rtu in &loaded.rtus {
        let rtu = Arc::new(rtu.clone());
        let (role_tx, role_rx) = watch::channel(Role::Active);
        let (cmd_tx, cmd_rx) = mpsc::channel(16);
        routes.insert(rtu.name.clone(), (rtu.clone(), cmd_tx));
        let session = RtuSession::new(rtu, shared.clone(), role_rx, cmd_rx);
        sessions.push(tokio::spawn(session.run(shutdown_rx.clone())));
        roles.push(role_tx);
    }
    drop(shared);
    let router = Router {
        prefix: prefix.clone(),
        rtus: routes,
        results: results_tx,
        metrics: metrics.clone(),
    };
    let router = tokio::spawn(router.run(incoming_rx));
    let presence = |status: &str| {
        json!({"node": node, "status": status, "since": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)})
            .to_string()
    };
    let b = &loaded.broker;
    let tls = if b.tls {
        let path = cfg
            .mqtt
            .ca_file
            .as_ref()
            .map(|c| c.get_ref().as_str())
            .unwrap_or(SYSTEM_CA);
        Some(
            std::fs::read(path)
                .map_err(|e| format!("cannot read the CA certificates {path}: {e}"))?,
        )
    } else {
        None
    };
    let read = |f: &Option<toml::Spanned<String>>| -> Result<Option<Vec<u8>>, String> {
        f.as_ref()
            .map(|f| {
                std::fs::read(f.get_ref()).map_err(|e| format!("cannot read {}: {e}", f.get_ref()))
            })
            .transpose()
    };
    let client_auth = match (read(&cfg.mqtt.cert_file)?, read(&cfg.mqtt.key_file)?) {
        (Some(c), Some(k)) => Some((c, k)),
        _ => None,
    };
    let publisher = Publisher {
        settings: MqttSettings {
            host: b.host.clone(),
            port: b.port,
            v5: *cfg.mqtt.version.get_ref() == 5,
            tls,
            client_auth,
            client_id: cfg
                .mqtt
                .client_id
                .clone()
                .unwrap_or_else(|| format!("iec104-gateway-{node}")),
            credentials: cfg
                .mqtt
                .username
                .clone()
                .map(|u| (u, cfg.mqtt.password.clone().unwrap_or_default())),
            keep_alive: Duration::from_secs(*cfg.mqtt.keep_alive.get_ref()),
            max_inflight: *cfg.mqtt.max_inflight.get_ref(),
            presence_topic: format!("{prefix}/_gateway/{node}"),
            presence: (presence("online"), presence("offline")),
            subscriptions: vec![
                format!("{prefix}/+/+/+/command"),
                format!("{prefix}/+/+/command"),
            ],
        },
        store: store.clone(),
        wake,
        board,
        direct: results_rx,
        incoming: incoming_tx,
        metrics: metrics.clone(),
        batches: batch_rx,
        spill: Some(writer_tx),
        committed,
        spill_after: Duration::from_secs_f64(*cfg.gateway.spill_after.get_ref()),
    };
    let publisher = tokio::spawn(publisher.run(shutdown_rx.clone()));

    notify::notify("READY=1\nSTATUS=running");
    let watchdog = notify::watchdog_interval().map(|every| {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                notify::notify("WATCHDOG=1");
            }
        })
    });
    tracing::info!(%node, rtus = loaded.rtus.len(), broker = %format!("{}:{}", b.host, b.port), "gateway running");
    match stop {
        Some(stop) => stop.await,
        None => signals().await,
    }
    tracing::info!("shutting down");
    notify::notify("STOPPING=1");
    let _ = shutdown_tx.send(true);
    for s in sessions {
        let _ = tokio::time::timeout(Duration::from_secs(3), s).await;
    }
    drop(roles);
    // Sessions are gone: the publisher writes what the broker has not acknowledged to the
    // store, publishes the final statuses and says goodbye; then the writer finishes.
    let _ = tokio::time::timeout(Duration::from_secs(12), publisher).await;
    let _ = tokio::time::timeout(Duration::from_secs(3), writer).await;
    router.abort();
    if let Some(w) = watchdog {
        w.abort();
    }
    Ok(())
}

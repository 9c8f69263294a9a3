//! Wiring of the daemon: store, writer, publisher, command router, one session per RTU,
//! HTTP endpoint, systemd notifications; runs until a signal (or the given stop future).

pub mod check;

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
use crate::model::{Metrics, Role, StatusBoard};
use crate::north::store::{writer, Store};
use crate::north::{MqttSettings, Publisher};
use crate::ops::http;
use crate::ops::notify;
use crate::south::convert::Publish;
use crate::south::{ClusterLink, RtuSession, Shared};

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
        let listener = http::bind(addr)
            .await
            .map_err(|e| format!("http_listen {addr}: {e}"))?;
        tracing::info!(%addr, "HTTP endpoint: /metrics /health /ready");
        tokio::spawn(http::serve(listener, metrics.clone()));
    }

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    // Sessions -> publisher (memory-first) -> writer (batches that go to disk).
    let (batch_tx, batch_rx) = mpsc::channel(1024);
    let (writer_tx, writer_rx) = mpsc::channel(1024);
    let committed = Arc::new(AtomicU64::new(0));
    let wake = Arc::new(Notify::new());
    let board = StatusBoard::new();
    let (results_tx, results_rx) = mpsc::channel(256);
    let beats_tx = results_tx.clone();
    let (incoming_tx, incoming_rx) = mpsc::channel::<crate::model::Incoming>(256);
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
    let (reports_tx, reports_rx) = mpsc::channel(1024);
    let first_role = if loaded.cluster.is_some() {
        Role::Off
    } else {
        Role::Active
    };
    for (index, rtu) in loaded.rtus.iter().enumerate() {
        let rtu = Arc::new(rtu.clone());
        let (role_tx, role_rx) = watch::channel(first_role);
        let (cmd_tx, cmd_rx) = mpsc::channel(16);
        routes.insert(rtu.name.clone(), (rtu.clone(), cmd_tx));
        let mut session = RtuSession::new(rtu, shared.clone(), role_rx, cmd_rx);
        if loaded.cluster.is_some() {
            session = session.with_cluster(ClusterLink {
                index,
                reports: reports_tx.clone(),
            });
        }
        sessions.push(tokio::spawn(session.run(shutdown_rx.clone())));
        roles.push(role_tx);
    }
    drop(reports_tx);
    drop(shared);
    // Cluster mode: presence messages go to the cluster task, commands to the router.
    let incarnation = crate::cluster::incarnation();
    let cluster_base = format!("{prefix}/_cluster/");
    let (incoming_tx, router_rx, presence_rx) = if loaded.cluster.is_some() {
        let (to_router, router_rx) = mpsc::channel::<crate::model::Incoming>(256);
        let (to_cluster, presence_rx) = mpsc::channel::<crate::model::Incoming>(1024);
        let base = cluster_base.clone();
        let mut from_mqtt = incoming_rx;
        tokio::spawn(async move {
            while let Some(m) = from_mqtt.recv().await {
                let to = if m.topic.starts_with(&base) {
                    &to_cluster
                } else {
                    &to_router
                };
                let _ = to.send(m).await;
            }
        });
        (incoming_tx, router_rx, Some(presence_rx))
    } else {
        (incoming_tx, incoming_rx, None)
    };
    let router_roles = loaded.cluster.as_ref().map(|_| {
        loaded
            .rtus
            .iter()
            .zip(&roles)
            .map(|(r, tx)| (r.name.clone(), tx.subscribe()))
            .collect()
    });
    let router = Router {
        roles: router_roles,
        prefix: prefix.clone(),
        rtus: routes,
        results: results_tx,
        metrics: metrics.clone(),
    };
    let router = tokio::spawn(router.run(router_rx));
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
    let mut v5 = *cfg.mqtt.version.get_ref() == 5;
    let mut keep_alive = Duration::from_secs(*cfg.mqtt.keep_alive.get_ref());
    let mut presence_topic = format!("{prefix}/_gateway/{node}");
    let mut presence_pair = (presence("online"), presence("offline"));
    let mut subscriptions = vec![
        format!("{prefix}/+/+/+/command"),
        format!("{prefix}/+/+/command"),
    ];
    if let Some(c) = &loaded.cluster {
        keep_alive = c.heartbeat;
        if v5 && c.heartbeat < Duration::from_secs(5) {
            // rumqttc's MQTT 5 client (0.24 and 0.25) refuses keep-alives under 5 s (it asserts).
            tracing::warn!(heartbeat = ?c.heartbeat, "cluster heartbeat under 5 s: this node speaks MQTT 3.1.1 (the MQTT 5 client allows no keep-alive under 5 s); command results go to .../command/result");
            v5 = false;
        }
        presence_topic = crate::cluster::presence_topic(&prefix, &node);
        // The online presence is a board entry kept by the cluster task; only the will and
        // the goodbye are the publisher's.
        presence_pair = (
            String::new(),
            crate::cluster::offline_payload(&node, &incarnation, &c.config_hash),
        );
        subscriptions.push(format!("{cluster_base}+"));
        subscriptions.push(format!("{cluster_base}+/beat"));
    }
    let publisher = Publisher {
        settings: MqttSettings {
            host: b.host.clone(),
            port: b.port,
            v5,
            tls,
            client_auth,
            client_id: match (&loaded.cluster, &cfg.mqtt.client_id) {
                (None, Some(id)) => id.clone(),
                (None, None) => format!("iec104-gateway-{node}"),
                // One file for every node: the client id must still differ per node, and per
                // process, so that a second process with our node id is not silently kicked
                // off by the broker (client id takeover) but seen and reported.
                (Some(_), Some(id)) => {
                    format!("{id}-{node}-{}", incarnation.get(..8).unwrap_or(""))
                }
                (Some(_), None) => format!(
                    "iec104-gateway-{node}-{}",
                    incarnation.get(..8).unwrap_or("")
                ),
            },
            credentials: cfg
                .mqtt
                .username
                .clone()
                .map(|u| (u, cfg.mqtt.password.clone().unwrap_or_default())),
            keep_alive,
            max_inflight: *cfg.mqtt.max_inflight.get_ref(),
            presence_topic,
            presence: presence_pair,
            subscriptions,
        },
        store: store.clone(),
        wake,
        board: board.clone(),
        direct: results_rx,
        incoming: incoming_tx,
        metrics: metrics.clone(),
        batches: batch_rx,
        spill: Some(writer_tx),
        committed,
        spill_after: Duration::from_secs_f64(*cfg.gateway.spill_after.get_ref()),
    };
    let publisher = tokio::spawn(publisher.run(shutdown_rx.clone()));
    let (leave_tx, leave_rx) = watch::channel(false);
    let cluster_task = match (&loaded.cluster, presence_rx) {
        (Some(c), Some(presence_rx)) => {
            let rtus = loaded
                .rtus
                .iter()
                .map(|r| (r.name.clone(), c.preferred.get(&r.name).cloned()))
                .collect();
            let max_t1 = loaded
                .rtus
                .iter()
                .map(|r| r.link.t1)
                .max()
                .unwrap_or(Duration::from_secs(15));
            tracing::info!(%node, %incarnation, config_hash = %c.config_hash, standby = c.standby, heartbeat = ?c.heartbeat, "cluster mode");
            let task = crate::cluster::Task {
                state: crate::cluster::state::ClusterState::new(
                    crate::cluster::Task::settings(&node, &incarnation, c),
                    rtus,
                ),
                roles: std::mem::take(&mut roles),
                reports: reports_rx,
                presence: presence_rx,
                board: board.clone(),
                metrics: metrics.clone(),
                topic_base: cluster_base.clone(),
                leave: leave_rx,
                leave_timeout: max_t1 + Duration::from_secs(2),
                beats: beats_tx.clone(),
                beat_every: c.heartbeat / 4,
            };
            Some(tokio::spawn(task.run()))
        }
        _ => {
            drop(reports_rx);
            None
        }
    };

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
    if let Some(task) = cluster_task {
        // Hand every started RTU over (STOPDT confirmed, presence without it) first.
        let _ = leave_tx.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(120), task).await;
        // Everything the RTUs sent is acknowledged, so durable here: let the publisher empty the
        // queue while the broker is reachable, so the data does not wait for this node's restart
        // (bounded: 5 s).
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

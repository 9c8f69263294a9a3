//! Prepares and starts the north: the MQTT publisher and the store writer, and the channels
//! the other layers use to reach them.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

use super::{StartError, Wiring, SYSTEM_CA};
use crate::config::Loaded;
use crate::model::{Batch, Direct, Incoming};
use crate::north::store::writer;
use crate::north::{Endpoint, MqttSettings, Publisher};

/// The north, built but not started, and the ends of its channels for the other layers.
pub(super) struct North {
    /// The publisher, to spawn.
    pub publisher: Publisher,
    /// The store writer, to spawn.
    pub writer: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// Sessions -> publisher: one batch per ASDU.
    pub batches: mpsc::Sender<Batch>,
    /// Messages published without the store (command results, cluster beats).
    pub results_tx: mpsc::Sender<Direct>,
    /// Messages from the broker (commands, cluster presence).
    pub incoming_rx: mpsc::Receiver<Incoming>,
}

/// Builds the publisher and the writer with their channels (reads the TLS files).
pub(super) fn prepare(loaded: &Loaded, w: &Wiring) -> Result<North, StartError> {
    let cfg = &loaded.config;
    let settings = settings(loaded, w)?;
    // Sessions -> publisher (memory-first) -> writer (batches that go to disk).
    let (batch_tx, batch_rx) = mpsc::channel(1024);
    let (writer_tx, writer_rx) = mpsc::channel(1024);
    let committed = Arc::new(AtomicU64::new(0));
    let wake = Arc::new(Notify::new());
    let (results_tx, results_rx) = mpsc::channel(256);
    let (incoming_tx, incoming_rx) = mpsc::channel::<Incoming>(256);
    let writer = Box::pin(writer::run(
        w.store.clone(),
        writer_rx,
        wake.clone(),
        w.metrics.clone(),
        w.board.clone(),
        committed.clone(),
    ));
    let publisher = Publisher {
        settings,
        store: w.store.clone(),
        wake,
        board: w.board.clone(),
        direct: results_rx,
        incoming: incoming_tx,
        metrics: w.metrics.clone(),
        batches: batch_rx,
        spill: Some(writer_tx),
        committed,
        spill_after: Duration::from_secs_f64(*cfg.gateway.spill_after.get_ref()),
    };
    Ok(North {
        publisher,
        writer,
        batches: batch_tx,
        results_tx,
        incoming_rx,
    })
}

/// Spawns the publisher and the writer.
pub(super) fn start(
    publisher: Publisher,
    writer: Pin<Box<dyn Future<Output = ()> + Send>>,
    shutdown: &watch::Receiver<bool>,
) -> (JoinHandle<()>, JoinHandle<()>) {
    let writer = tokio::spawn(writer);
    (tokio::spawn(publisher.run(shutdown.clone())), writer)
}

/// The broker connection settings: TLS, client id, presence (will and goodbye), keep-alive
/// and subscriptions.
fn settings(loaded: &Loaded, w: &Wiring) -> Result<MqttSettings, StartError> {
    let cfg = &loaded.config;
    let (node, prefix) = (&w.node, &w.prefix);
    let presence = |status: &str| {
        json!({"node": node, "status": status, "since": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)})
            .to_string()
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
        presence_topic = crate::cluster::presence_topic(prefix, node);
        // The online presence is a board entry kept by the cluster task; only the will and
        // the goodbye are the publisher's.
        presence_pair = (
            String::new(),
            crate::cluster::offline_payload(node, &w.incarnation, &c.config_hash),
        );
        subscriptions.push(format!("{}+", w.cluster_base));
        subscriptions.push(format!("{}+/beat", w.cluster_base));
    }
    let (tls, client_auth) = tls_files(loaded)?;
    Ok(MqttSettings {
        brokers: loaded
            .brokers
            .in_order(&loaded.broker, node)
            .into_iter()
            .map(|b| Endpoint {
                host: b.host,
                port: b.port,
                tls: b.tls,
            })
            .collect(),
        connect_timeout: loaded.brokers.connect_timeout,
        v5,
        tls,
        client_auth,
        client_id: client_id(loaded, w),
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
    })
}

/// The CA certificates (TLS only) and the client certificate and key (both, or none).
#[allow(clippy::type_complexity)]
fn tls_files(loaded: &Loaded) -> Result<(Option<Vec<u8>>, Option<(Vec<u8>, Vec<u8>)>), StartError> {
    let cfg = &loaded.config;
    let any_tls = loaded.broker.tls || loaded.brokers.others.iter().any(|b| b.tls);
    let tls = if any_tls {
        let path = cfg
            .mqtt
            .ca_file
            .as_ref()
            .map(|c| c.get_ref().as_str())
            .unwrap_or(SYSTEM_CA);
        Some(std::fs::read(path).map_err(|source| StartError::ReadFile {
            what: "the CA certificates ",
            path: path.to_owned(),
            source,
        })?)
    } else {
        None
    };
    let read = |f: &Option<toml::Spanned<String>>| -> Result<Option<Vec<u8>>, StartError> {
        f.as_ref()
            .map(|f| {
                std::fs::read(f.get_ref()).map_err(|source| StartError::ReadFile {
                    what: "",
                    path: f.get_ref().clone(),
                    source,
                })
            })
            .transpose()
    };
    let client_auth = match (read(&cfg.mqtt.cert_file)?, read(&cfg.mqtt.key_file)?) {
        (Some(c), Some(k)) => Some((c, k)),
        _ => None,
    };
    Ok((tls, client_auth))
}

/// The MQTT client id.
fn client_id(loaded: &Loaded, w: &Wiring) -> String {
    let (node, incarnation) = (&w.node, &w.incarnation);
    match (&loaded.cluster, &loaded.config.mqtt.client_id) {
        (None, Some(id)) => id.clone(),
        (None, None) => format!("iec104-gateway-{node}"),
        // One file for every node: the client id must still differ per node, and per
        // process, so that a second process with our node id is not silently kicked off by
        // the broker (client id takeover) but seen and reported.
        (Some(_), Some(id)) => format!("{id}-{node}-{}", incarnation.get(..8).unwrap_or("")),
        (Some(_), None) => format!(
            "iec104-gateway-{node}-{}",
            incarnation.get(..8).unwrap_or("")
        ),
    }
}

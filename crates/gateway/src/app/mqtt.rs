//! Prepares and starts the north: the MQTT publisher and the store writer, and the channels
//! the other layers use to reach them.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::contract::{self, GatewayPresence, PresenceStatus};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

use super::{StartError, Wiring, SYSTEM_CA};
use crate::config::{Loaded, MqttVersion, VersionFallback};
use crate::model::{Batch, Direct, Incoming};
use crate::north::store::writer;
use crate::north::{MqttSettings, Publisher};

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
        spill_after: loaded.gateway.spill_after,
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
    let m = &loaded.mqtt;
    let (node, topics) = (&w.node, &w.topics);
    let presence = |status| {
        GatewayPresence {
            node,
            status,
            since: &contract::now_rfc3339(),
        }
        .to_json()
    };
    if m.fallback == Some(VersionFallback::HeartbeatUnder5s) {
        let heartbeat = loaded.cluster.as_ref().map(|c| c.heartbeat);
        tracing::warn!(?heartbeat, "cluster heartbeat under 5 s: this node speaks MQTT 3.1.1 (the MQTT 5 client allows no keep-alive under 5 s); command results go to .../command/result");
    }
    let mut presence_topic = topics.presence(node);
    let mut presence_pair = (
        presence(PresenceStatus::Online),
        presence(PresenceStatus::Offline),
    );
    let mut subscriptions = topics.command_subscriptions().to_vec();
    // Our own retained statuses, watched for spoofing (north/guard.rs).
    subscriptions.push(topics.status_watch());
    if loaded.cluster.is_some() {
        // The cluster's presence (with its will) is the coordination connection's; the data
        // connection has none (see `coordination_settings`).
        presence_topic = String::new();
        presence_pair = (String::new(), String::new());
    } else {
        // Our presence, watched for spoofing.
        subscriptions.push(presence_topic.clone());
    }
    let (tls, client_auth) = tls_files(loaded)?;
    Ok(MqttSettings {
        brokers: m.brokers.in_order(&loaded.broker, node),
        connect_timeout: m.brokers.connect_timeout,
        return_check: m.brokers.return_check,
        v5: m.version == MqttVersion::V5,
        tls,
        client_auth,
        client_id: client_id(loaded, w),
        credentials: credentials(loaded)?,
        keep_alive: m.keep_alive,
        max_inflight: m.max_inflight,
        presence_topic,
        presence: presence_pair,
        subscriptions,
        cluster_node: loaded.cluster.as_ref().map(|_| node.clone()),
    })
}

/// A cluster node's coordination connection (None alone): the data connection's brokers,
/// rotation, TLS and credentials, with the client id `{data client id}-cluster`, our cluster
/// presence as its last will (the online presence is a board entry kept by the cluster task;
/// only the will and the goodbye are the connection's) and the cluster subscriptions only.
pub(super) fn coordination_settings(
    loaded: &Loaded,
    w: &Wiring,
) -> Result<Option<MqttSettings>, StartError> {
    let Some(c) = &loaded.cluster else {
        return Ok(None);
    };
    let mut s = settings(loaded, w)?;
    s.client_id.push_str("-cluster");
    // The failure detector's own keep-alive: the heartbeat, on a connection that carries a
    // few small messages per heartbeat (the data connection keeps `keep_alive`).
    s.keep_alive = c.heartbeat;
    s.max_inflight = s.max_inflight.min(64);
    s.presence_topic = w.topics.cluster(&w.node);
    s.presence = (
        String::new(),
        crate::cluster::offline_payload(&w.node, &w.incarnation, &c.config_hash),
    );
    s.subscriptions = w.topics.cluster_subscriptions().to_vec();
    s.cluster_node = None;
    Ok(Some(s))
}

/// The CA certificates (TLS only) and the client certificate and key (both, or none).
#[allow(clippy::type_complexity)]
pub(super) fn tls_files(
    loaded: &Loaded,
) -> Result<(Option<Vec<u8>>, Option<(Vec<u8>, Vec<u8>)>), StartError> {
    let read = |what: &'static str, path: &Path| {
        std::fs::read(path).map_err(|source| StartError::ReadFile {
            what,
            path: path.display().to_string(),
            source,
        })
    };
    let tls = if loaded.broker.tls || loaded.mqtt.brokers.any_tls() {
        let path = loaded
            .mqtt
            .ca_file
            .as_deref()
            .unwrap_or(Path::new(SYSTEM_CA));
        Some(read("the CA certificates ", path)?)
    } else {
        None
    };
    let client_auth = match &loaded.mqtt.client_cert {
        Some((cert, key)) => Some((read("", cert)?, read("", key)?)),
        None => None,
    };
    Ok((tls, client_auth))
}

/// User name and password (from `password_file` or `password`), when a user is configured.
fn credentials(
    loaded: &Loaded,
) -> Result<Option<(String, crate::config::security::Secret)>, StartError> {
    crate::config::security::mqtt_credentials(&loaded.mqtt).map_err(|(path, source)| {
        StartError::ReadFile {
            what: "the password ",
            path: path.display().to_string(),
            source,
        }
    })
}

/// The MQTT client id.
fn client_id(loaded: &Loaded, w: &Wiring) -> String {
    let (node, incarnation) = (&w.node, &w.incarnation);
    match (&loaded.cluster, &loaded.mqtt.client_id) {
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

#[cfg(test)]
mod tests {
    //! What each broker connection of a cluster node carries.
    use super::*;
    use std::time::Duration;

    const CLUSTER: &str = r#"
[mqtt]
url = "mqtt://127.0.0.1:1883"
topic_prefix = "p"
keep_alive = 40

[cluster]
node_id = "gw-a"
heartbeat = 2

[[rtu]]
name = "sub1"
address = "127.0.0.1:2404"
common_address = 1
"#;

    fn wiring(loaded: &Loaded) -> (Wiring, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "gw-coord-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let store = crate::north::store::Store::open(&dir.join("q.redb"), 10).unwrap();
        let metrics = Arc::new(crate::model::Metrics::default());
        (Wiring::new(loaded, Arc::new(store), metrics), dir)
    }

    #[test]
    fn a_cluster_node_has_a_data_and_a_coordination_connection() {
        let loaded = crate::config::parse(CLUSTER, "c.toml").unwrap();
        let (w, dir) = wiring(&loaded);
        let data = settings(&loaded, &w).unwrap();
        let coord = coordination_settings(&loaded, &w).unwrap().unwrap();
        // Data: no presence (no will, no goodbye), no cluster topics, the configured
        // keep-alive.
        assert_eq!(data.presence_topic, "");
        assert!(data.subscriptions.iter().all(|s| !s.contains("_cluster")));
        assert!(data.subscriptions.iter().any(|s| s.ends_with("/command")));
        assert_eq!(data.keep_alive, Duration::from_secs(40));
        // Coordination: its own client id, the heartbeat as keep-alive, the offline presence
        // as its will, the cluster topics only; the same brokers.
        assert_eq!(coord.client_id, format!("{}-cluster", data.client_id));
        assert_eq!(coord.keep_alive, Duration::from_secs(2));
        assert_eq!(coord.presence_topic, "p/_cluster/gw-a");
        assert!(coord.presence.1.contains("\"offline\""));
        assert_eq!(
            coord.subscriptions,
            w.topics.cluster_subscriptions().to_vec()
        );
        assert_eq!(coord.brokers.len(), data.brokers.len());
        // Alone: one connection, with the gateway presence as will.
        let alone = crate::config::parse(
            &CLUSTER.replace("[cluster]\nnode_id = \"gw-a\"\nheartbeat = 2\n", ""),
            "a.toml",
        )
        .unwrap();
        assert!(coordination_settings(&alone, &w).unwrap().is_none());
        let data = settings(&alone, &w).unwrap();
        assert!(data.presence_topic.contains("_gateway"));
        let _ = std::fs::remove_dir_all(dir);
    }
}

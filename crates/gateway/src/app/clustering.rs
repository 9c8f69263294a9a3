//! Starts the cluster side: presence messages apart from commands, and the cluster task.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::Wiring;
use crate::cluster::state::ClusterState;
use crate::cluster::Task;
use crate::config::Loaded;
use crate::model::{Direct, Incoming, Report, Role};

/// In cluster mode, splits the messages from the broker: presence to the cluster task,
/// commands to the router (the splitting task ends with the publisher). Alone, everything
/// goes to the router.
pub(super) fn split_incoming(
    loaded: &Loaded,
    w: &Wiring,
    from_mqtt: mpsc::Receiver<Incoming>,
) -> (mpsc::Receiver<Incoming>, Option<mpsc::Receiver<Incoming>>) {
    if loaded.cluster.is_none() {
        return (from_mqtt, None);
    }
    let (to_router, router_rx) = mpsc::channel::<Incoming>(256);
    let (to_cluster, presence_rx) = mpsc::channel::<Incoming>(1024);
    let topics = w.topics.clone();
    let mut from_mqtt = from_mqtt;
    tokio::spawn(async move {
        while let Some(m) = from_mqtt.recv().await {
            let to = if topics.is_cluster(&m.topic) {
                &to_cluster
            } else {
                &to_router
            };
            let _ = to.send(m).await;
        }
    });
    (router_rx, Some(presence_rx))
}

/// Spawns the cluster task (cluster mode only); it takes the sessions' role senders.
pub(super) fn start(
    loaded: &Loaded,
    w: &Wiring,
    roles: &mut Vec<watch::Sender<Role>>,
    reports: mpsc::Receiver<(usize, Report)>,
    presence: Option<mpsc::Receiver<Incoming>>,
    leave: watch::Receiver<bool>,
    beats: mpsc::Sender<Direct>,
) -> Option<JoinHandle<()>> {
    let (c, presence) = match (&loaded.cluster, presence) {
        (Some(c), Some(p)) => (c, p),
        _ => return None,
    };
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
    tracing::info!(node = %w.node, incarnation = %w.incarnation, config_hash = %c.config_hash, standby = c.standby, heartbeat = ?c.heartbeat, "cluster mode");
    let task = Task {
        state: ClusterState::new(
            Task::settings(
                &w.node,
                &w.incarnation,
                c,
                !loaded.mqtt.brokers.others.is_empty(),
            ),
            rtus,
        )
        .with_path_failover(c.path_failover),
        roles: std::mem::take(roles),
        reports,
        presence,
        board: w.board.clone(),
        metrics: w.metrics.clone(),
        live: w.live.clone(),
        duty: w.duty.clone(),
        topics: w.topics.clone(),
        leave,
        leave_timeout: max_t1 + Duration::from_secs(2),
        beats,
        beat_every: c.heartbeat / 4,
    };
    Some(tokio::spawn(task.run()))
}

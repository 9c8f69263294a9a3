//! Starts the cluster side: the coordination connection (its own broker connection for the
//! cluster's topics) and the cluster task.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::Wiring;
use crate::cluster::state::ClusterState;
use crate::cluster::Task;
use crate::config::Loaded;
use crate::model::{Direct, Incoming, Report, Role};

/// The coordination connection of a cluster node, built but not started, and the cluster
/// task's ends of its channels.
pub(super) struct Coordination {
    /// The connection's task, to spawn.
    pub link: crate::north::coordination::Coordination,
    /// Messages of the cluster subscriptions, for the cluster task.
    pub incoming: mpsc::Receiver<Incoming>,
    /// Beats, deltas, snapshots and requests of the cluster task.
    pub outgoing: mpsc::Sender<Direct>,
    /// Where the cluster task keeps our presence.
    pub board: std::sync::Arc<crate::model::StatusBoard>,
}

/// Builds the coordination connection (cluster mode only; reads the TLS files).
pub(super) fn coordination(
    loaded: &Loaded,
    w: &Wiring,
) -> Result<Option<Coordination>, super::StartError> {
    let Some(settings) = super::mqtt::coordination_settings(loaded, w)? else {
        return Ok(None);
    };
    let (outgoing, outgoing_rx) = mpsc::channel(1024);
    let (incoming_tx, incoming) = mpsc::channel(1024);
    let board = crate::model::StatusBoard::new();
    Ok(Some(Coordination {
        link: crate::north::coordination::Coordination {
            settings,
            board: board.clone(),
            outgoing: outgoing_rx,
            incoming: incoming_tx,
            metrics: w.metrics.clone(),
        },
        incoming,
        outgoing,
        board,
    }))
}

/// The cluster task and the coordination connection, running.
#[derive(Debug)]
pub(super) struct Running {
    /// The cluster task (ends once it has left).
    pub task: JoinHandle<()>,
    /// The coordination connection (ends with its goodbye once `keep_open` and the cluster
    /// task's sender are dropped).
    pub link: JoinHandle<()>,
    /// Keeps the coordination connection (and our presence) up after the cluster task ended,
    /// until the publisher's final statuses went out.
    pub keep_open: mpsc::Sender<Direct>,
}

/// Spawns the cluster task (cluster mode only); it takes the sessions' role senders.
pub(super) fn start(
    loaded: &Loaded,
    w: &Wiring,
    roles: &mut Vec<watch::Sender<Role>>,
    reports: mpsc::Receiver<(usize, Report)>,
    coordination: Option<Coordination>,
    leave: watch::Receiver<bool>,
) -> Option<Running> {
    let (c, coordination) = match (&loaded.cluster, coordination) {
        (Some(c), Some(k)) => (c, k),
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
                loaded.mqtt.keep_alive,
            ),
            rtus,
        )
        .with_path_failover(c.path_failover),
        roles: std::mem::take(roles),
        reports,
        presence: coordination.incoming,
        board: w.board.clone(),
        presence_board: coordination.board,
        metrics: w.metrics.clone(),
        live: w.live.clone(),
        duty: w.duty.clone(),
        topics: w.topics.clone(),
        leave,
        leave_timeout: max_t1 + Duration::from_secs(2),
        beats: coordination.outgoing.clone(),
        beat_every: c.heartbeat / 4,
    };
    let link = tokio::spawn(coordination.link.run());
    Some(Running {
        task: tokio::spawn(task.run()),
        link,
        keep_open: coordination.outgoing,
    })
}

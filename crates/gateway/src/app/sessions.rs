//! Starts the south (one IEC 104 session per RTU) and the command router in front of it.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::mqtt::North;
use super::Wiring;
use crate::commands::Router;
use crate::config::{Loaded, Rtu};
use crate::model::{CommandJob, Direct, Incoming, Report, Role};
use crate::south::convert::Publish;
use crate::south::{ClusterLink, RtuSession, Shared};

/// The started sessions, their role senders, and the command routes to them.
pub(super) struct South {
    /// One per RTU.
    pub handles: Vec<JoinHandle<()>>,
    /// One per RTU, in configuration order.
    pub roles: Vec<watch::Sender<Role>>,
    /// RTU name -> its settings and its command queue (taken by the router).
    pub routes: HashMap<String, (Arc<Rtu>, mpsc::Sender<CommandJob>)>,
}

/// Spawns one session per RTU (Active alone; Off until the cluster decides in cluster mode).
pub(super) fn start(
    loaded: &Loaded,
    w: &Wiring,
    tls: Arc<crate::south::tls::Connectors>,
    north: &North,
    reports: mpsc::Sender<(usize, Report)>,
    shutdown: &watch::Receiver<bool>,
    sparkplug: &mut HashMap<String, mpsc::Sender<iec104_sparkplug::session::Input>>,
) -> South {
    let shared = Shared {
        publish: Publish {
            topics: w.topics.clone(),
            node: w.node.clone(),
            qos: loaded.mqtt.qos,
            retain: loaded.mqtt.retain,
        },
        writer: north.batches.clone(),
        board: w.board.clone(),
        results: north.results_tx.clone(),
        metrics: w.metrics.clone(),
        live: w.live.clone(),
        command_timeout: loaded.gateway.command_timeout,
        audit: audit(loaded, w),
        tls,
    };
    let first_role = if loaded.cluster.is_some() {
        Role::Off
    } else {
        Role::Active
    };
    let mut south = South {
        handles: Vec::new(),
        roles: Vec::new(),
        routes: HashMap::new(),
    };
    for (index, rtu) in loaded.rtus.iter().enumerate() {
        let rtu = Arc::new(rtu.clone());
        let (role_tx, role_rx) = watch::channel(first_role);
        let (cmd_tx, cmd_rx) = mpsc::channel(16);
        south.routes.insert(rtu.name.clone(), (rtu.clone(), cmd_tx));
        let tap = sparkplug.remove(&rtu.name);
        let mut session = RtuSession::new(rtu, shared.clone(), role_rx, cmd_rx);
        match tap {
            Some(tap) if !loaded.mqtt.json_data => session = session.with_sparkplug_only(tap),
            Some(tap) => session = session.with_sparkplug(tap),
            None => {}
        }
        if loaded.cluster.is_some() {
            session = session.with_cluster(ClusterLink {
                index,
                reports: reports.clone(),
            });
        }
        south
            .handles
            .push(tokio::spawn(session.run(shutdown.clone())));
        south.roles.push(role_tx);
    }
    south
}

/// Spawns the command router: commands from `rx` to the sessions (in cluster mode only to
/// those that are Active), results to `results`.
pub(super) fn start_router(
    loaded: &Loaded,
    w: &Wiring,
    south: &mut South,
    results: mpsc::Sender<Direct>,
    rx: mpsc::Receiver<Incoming>,
    sparkplug: mpsc::Receiver<crate::commands::sparkplug::SparkplugCommand>,
) -> JoinHandle<()> {
    let roles = loaded.cluster.as_ref().map(|_| {
        loaded
            .rtus
            .iter()
            .zip(&south.roles)
            .map(|(r, tx)| (r.name.clone(), tx.subscribe()))
            .collect()
    });
    let mut router = Router::new(
        w.topics.clone(),
        loaded.mqtt.response_prefix.clone(),
        std::mem::take(&mut south.routes),
        results,
        w.metrics.clone(),
        w.live.clone(),
    );
    if roles.is_some() {
        router.duty = Some(w.duty.subscribe());
    }
    router.roles = roles;
    router.sparkplug = Some(sparkplug);
    router.audit = audit(loaded, w);
    tokio::spawn(router.run(rx))
}

/// The audit trail: the log always, `{prefix}/_audit/{node}` when `audit_topic = true`.
fn audit(loaded: &Loaded, w: &Wiring) -> crate::contract::audit::Audit {
    crate::contract::audit::Audit {
        topic: loaded.gateway.audit_topic.then(|| w.topics.audit(&w.node)),
    }
}

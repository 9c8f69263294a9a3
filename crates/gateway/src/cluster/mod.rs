//! The redundant gateway cluster (issue #5): several nodes share the RTUs of one
//! configuration over the site's MQTT broker.
//!
//! - [`ownership`]: rendezvous hashing (pure);
//! - [`membership`]: the view built from retained presence messages (pure);
//! - [`state`]: the decisions (pure, time passed in);
//! - this file: the async glue between them, the sessions' role channels, the status board
//!   (our presence is a retained board entry, republished on every broker connection) and
//!   the broker connection state.

pub mod membership;
pub mod ownership;
pub mod state;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::metrics::Metrics;
use crate::mqtt::status::StatusBoard;
use crate::mqtt::Incoming;
use crate::rtu::Role;
use crate::store::Message;
use membership::{Alarm, Presence, OFFLINE};
use state::{ClusterState, Report, Settings};

/// A new random incarnation id (16 hex digits).
pub fn incarnation() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// `{prefix}/_cluster/{node}`.
pub fn presence_topic(prefix: &str, node: &str) -> String {
    format!("{prefix}/_cluster/{node}")
}

fn now_s() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The offline presence (last will and goodbye) of this process.
pub fn offline_payload(node: &str, incarnation: &str, config_hash: &str) -> String {
    serde_json::to_string(&Presence {
        node: node.to_owned(),
        status: OFFLINE.to_owned(),
        incarnation: incarnation.to_owned(),
        config_hash: config_hash.to_owned(),
        active: Vec::new(),
        since: now_s(),
    })
    .unwrap_or_default()
}

/// The cluster task's inputs and outputs.
pub struct Task {
    /// The decisions.
    pub state: ClusterState,
    /// Role of each session, by index.
    pub roles: Vec<watch::Sender<Role>>,
    /// Session reports.
    pub reports: mpsc::Receiver<(usize, Report)>,
    /// Messages of `{prefix}/_cluster/+`.
    pub presence: mpsc::Receiver<Incoming>,
    /// Where our presence goes.
    pub board: Arc<StatusBoard>,
    /// Metrics (and the broker connection state).
    pub metrics: Arc<Metrics>,
    /// `{prefix}/_cluster/`.
    pub topic_base: String,
    /// Turns true on SIGTERM: hand over and leave.
    pub leave: watch::Receiver<bool>,
    /// Leaving takes at most this long (then the node goes anyway).
    pub leave_timeout: Duration,
    /// Where our beats go (published QoS 0, not stored).
    pub beats: mpsc::Sender<crate::mqtt::Direct>,
    /// Time between two beats.
    pub beat_every: Duration,
}

impl Task {
    /// A task for `settings` and the RTUs (name, preferred node), with its channels.
    pub fn settings(me: &str, incarnation: &str, cluster: &crate::config::Cluster) -> Settings {
        Settings {
            me: me.to_owned(),
            incarnation: incarnation.to_owned(),
            config_hash: cluster.config_hash.clone(),
            standby: cluster.standby,
            handover_timeout: cluster.handover_timeout,
            liveness: cluster.heartbeat * 3 / 2,
            startup_grace: cluster.heartbeat,
        }
    }

    fn alarm(&self, a: Alarm) {
        let me = self.state.view().me().to_owned();
        let c = &self.metrics.cluster;
        match a {
            Alarm::DuplicateId { incarnation } => {
                c.duplicate_ids.fetch_add(1, Relaxed);
                tracing::error!(node = %me, other_incarnation = %incarnation, "DUPLICATE NODE ID: another gateway process announces itself as {me}; give every node its own --node-id");
            }
            Alarm::ConfigMismatch { node, hash } => {
                c.config_mismatches.fetch_add(1, Relaxed);
                tracing::error!(node = %me, other = %node, other_config_hash = %hash, "CONFIGURATION MISMATCH: node {node} runs another configuration than {me}; every node must use the same file");
            }
            Alarm::Unreadable { node, error } => {
                tracing::warn!(%node, %error, "unreadable cluster presence message ignored");
            }
        }
    }

    fn publish(&self, p: &Presence, me: &str) {
        let payload = serde_json::to_vec(p).unwrap_or_default();
        self.board.set(Message {
            topic: format!("{}{me}", self.topic_base),
            payload,
            qos: 1,
            retain: true,
        });
    }

    /// Runs until the node has left (after `leave` turned true) or `leave` is dropped.
    pub async fn run(mut self) {
        let me = self.state.view().me().to_owned();
        let c = &self.metrics.cluster;
        c.enabled.store(true, Relaxed);
        let beat_topic = format!("{}{me}/beat", self.topic_base);
        let beat_payload =
            serde_json::json!({"node": me, "incarnation": self.state.incarnation()}).to_string();
        let mut beat_tick = tokio::time::interval(self.beat_every);
        beat_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.state.set_started(&now_s());
        let (mut connected, mut connects) = self.metrics.mqtt_state();
        self.state.mqtt(connected);
        // Applies a change of the broker connection before anything that came over it.
        let mut follow_mqtt = |state: &mut ClusterState, metrics: &Metrics| {
            let (now_connected, now_connects) = metrics.mqtt_state();
            if now_connected != connected || now_connects != connects {
                connected = now_connected;
                connects = now_connects;
                tracing::info!(connected, "cluster: broker connection changed; waiting for our presence echo before acting");
                state.mqtt(connected);
            }
        };
        let mut leave_deadline: Option<Instant> = None;
        loop {
            self.state.set_since(now_s());
            let out = self.state.step(Instant::now().into_std());
            if let Some(p) = &out.publish {
                tracing::info!(status = %p.status, active = ?p.active, "cluster presence");
                self.publish(p, &me);
            }
            for ch in &out.changes {
                let name = self
                    .state
                    .rtus()
                    .get(ch.rtu)
                    .map(|r| r.name.clone())
                    .unwrap_or_default();
                let was = self.roles.get(ch.rtu).map(|r| *r.borrow());
                let started = self
                    .state
                    .rtus()
                    .get(ch.rtu)
                    .map(|r| r.started)
                    .unwrap_or(false);
                tracing::info!(rtu = %name, role = ?ch.role, reason = ch.reason, "cluster role");
                if ch.role == Role::Active {
                    self.metrics.cluster.takeovers.fetch_add(1, Relaxed);
                } else if started && was == Some(Role::Active) {
                    self.metrics.cluster.handovers.fetch_add(1, Relaxed);
                }
                if let Some(tx) = self.roles.get(ch.rtu) {
                    let _ = tx.send(ch.role);
                }
            }
            let rtus = self.state.rtus();
            let c = &self.metrics.cluster;
            c.owned.store(
                rtus.iter().filter(|r| r.role == Role::Active).count() as u64,
                Relaxed,
            );
            c.standby.store(
                rtus.iter().filter(|r| r.role == Role::Standby).count() as u64,
                Relaxed,
            );
            c.members.store(
                self.state.live_members(std::time::Instant::now()) as u64,
                Relaxed,
            );
            let wake_at = out.wake_at.map(Instant::from_std);
            if leave_deadline.is_some() && self.state.left() {
                tracing::info!("cluster: every RTU handed over; leaving");
                return;
            }
            let deadline = match (wake_at, leave_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            tokio::select! {
                _ = self.metrics.mqtt_changed.notified() => follow_mqtt(&mut self.state, &self.metrics),
                _ = beat_tick.tick() => {
                    if self.metrics.mqtt_state().0 {
                        let _ = self.beats.try_send(crate::mqtt::Direct {
                            message: Message {
                                topic: beat_topic.clone(),
                                payload: beat_payload.clone().into_bytes(),
                                qos: 0,
                                retain: false,
                            },
                            correlation: None,
                        });
                    }
                }
                m = self.presence.recv() => match m {
                    Some(m) => {
                        follow_mqtt(&mut self.state, &self.metrics);
                        let rest = m.topic.strip_prefix(&self.topic_base).unwrap_or_default();
                        if let Some(node) = rest.strip_suffix("/beat").filter(|n| !n.is_empty() && !n.contains('/')) {
                            let inc = serde_json::from_slice::<serde_json::Value>(&m.payload)
                                .ok()
                                .and_then(|v| v.get("incarnation").and_then(|i| i.as_str()).map(str::to_owned))
                                .unwrap_or_default();
                            self.state.beat(node, inc.as_bytes(), std::time::Instant::now());
                        }
                        let node = rest.to_owned();
                        if !node.is_empty() && !node.contains('/') {
                            for a in self.state.presence(&node, &m.payload, std::time::Instant::now()) {
                                self.alarm(a);
                            }
                        }
                    }
                    None => return,
                },
                r = self.reports.recv() => match r {
                    Some((i, r)) => self.state.session(i, r),
                    None => return,
                },
                changed = self.leave.changed(), if leave_deadline.is_none() => {
                    if changed.is_err() || *self.leave.borrow() {
                        tracing::info!("cluster: leaving (handing every RTU over)");
                        self.state.leave();
                        leave_deadline = Some(Instant::now() + self.leave_timeout);
                    }
                }
                _ = async { tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)).await }, if deadline.is_some() => {
                    if leave_deadline.is_some_and(|d| d <= Instant::now()) {
                        tracing::warn!("cluster: leaving before every RTU confirmed its STOPDT (timeout)");
                        return;
                    }
                }
            }
        }
    }
}

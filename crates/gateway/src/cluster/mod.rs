//! The redundant gateway cluster (issue #5): several nodes share the RTUs of one
//! configuration over the site's MQTT broker.
//!
//! - [`ownership`]: rendezvous hashing (pure);
//! - [`membership`]: the view built from retained presence messages (pure);
//! - [`state`]: the decisions (pure, time passed in);
//! - this file: the async glue between them, the sessions' role channels, the coordination
//!   connection's board (our presence is a retained board entry, republished on every
//!   connection; see `north::coordination`) and the state of both broker connections (see
//!   docs/failover.md, "Connections and fencing").

pub mod membership;
pub mod orphans;
pub mod ownership;
pub mod pacer;
pub mod paths;
pub mod state;
#[cfg(test)]
mod sync_tests;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::contract::{Beat, ClusterTopic, Topics};
use crate::model::Incoming;
use crate::model::Message;
use crate::model::Metrics;
use crate::model::Report;
use crate::model::Role;
use crate::model::StatusBoard;
use membership::{Alarm, Presence, OFFLINE};
use state::{ClusterState, Settings};

/// A new random incarnation id (16 hex digits).
pub fn incarnation() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// At most one publication of our state per this window (see docs/failover.md, "Scale").
pub const COALESCE: Duration = Duration::from_millis(100);

/// At most one full (retained) presence per this window: it lists every RTU (see
/// docs/failover.md, "Scale").
pub const PRESENCE_EVERY: Duration = Duration::from_millis(250);

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
        ready: Vec::new(),
        since: now_s(),
        seq: 0,
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
    /// Messages of `{prefix}/_cluster/+` (from the coordination connection).
    pub presence: mpsc::Receiver<Incoming>,
    /// The data connection's status board (RTU statuses published again after a release).
    pub board: Arc<StatusBoard>,
    /// The coordination connection's board: where our presence goes.
    pub presence_board: Arc<StatusBoard>,
    /// Metrics (and the state of both broker connections).
    pub metrics: Arc<Metrics>,
    /// The topics (presence, beats, RTU statuses).
    pub topics: Topics,
    /// Turns true on SIGTERM: hand over and leave.
    pub leave: watch::Receiver<bool>,
    /// Leaving takes at most this long (then the node goes anyway).
    pub leave_timeout: Duration,
    /// Where our beats, deltas, snapshots and requests go: the coordination connection (not
    /// stored).
    pub beats: mpsc::Sender<crate::model::Direct>,
    /// Time between two beats.
    pub beat_every: Duration,
    /// The status page's live view (gets the cluster picture).
    pub live: Arc<crate::model::live::LiveView>,
    /// What the command router answers beyond the RTUs we carry.
    pub duty: Arc<watch::Sender<crate::model::Duty>>,
}

impl Task {
    /// The cluster picture on the status page: every node with what it carries and holds
    /// (ours from our own state), replaced only when it changed.
    fn show_nodes(&self) {
        use crate::model::live::NodeRow;
        let me = self.state.presence_now(membership::ONLINE);
        let mut rows: Vec<NodeRow> = self
            .state
            .view()
            .nodes()
            .filter(|p| p.node != me.node)
            .map(|p| NodeRow {
                node: p.node.clone(),
                state: p.status.clone(),
                me: false,
                carries: p.active.iter().cloned().collect(),
                standby: p.ready.iter().cloned().collect(),
            })
            .collect();
        rows.push(NodeRow {
            node: me.node.clone(),
            state: me.status.clone(),
            me: true,
            carries: me.active,
            standby: me.ready,
        });
        rows.sort_by(|a, b| a.node.cmp(&b.node));
        if self.live.cluster().as_ref() != Some(&rows) {
            self.live.set_cluster(rows);
        }
    }

    /// A task for `settings` and the RTUs (name, preferred node), with its channels.
    /// `several_brokers`: `[mqtt] urls` lists more than one broker (a clustered broker, whose
    /// nodes may publish a dead node's wills late): only then are wills held back.
    /// `data_keep_alive`: the data connection's keep-alive.
    pub fn settings(
        me: &str,
        incarnation: &str,
        cluster: &crate::config::Cluster,
        several_brokers: bool,
        data_keep_alive: Duration,
    ) -> Settings {
        Settings {
            me: me.to_owned(),
            incarnation: incarnation.to_owned(),
            config_hash: cluster.config_hash.clone(),
            standby: cluster.standby,
            handover_timeout: cluster.handover_timeout,
            liveness: cluster.heartbeat * 3 / 2,
            startup_grace: cluster.heartbeat,
            // The publisher retries the broker with a backoff of at most 5 s (+25 % jitter).
            reconnect_hold: cluster.heartbeat * 3 / 2 + Duration::from_millis(6500),
            coalesce: COALESCE,
            presence_every: PRESENCE_EVERY,
            // Beats go out four times per heartbeat: a will is late if one comes within 1.5
            // beat periods of the previous one. With one broker a will comes only when the
            // node's connection ended: acted on at once (a kill -9 is taken over in tens of
            // milliseconds, not half a beat period later).
            will_wait: if several_brokers {
                cluster.heartbeat * 3 / 8
            } else {
                Duration::ZERO
            },
            snapshot_after: cluster.heartbeat / 8,
            // Longer than the data connection takes to notice a dead network (two keep-alive
            // periods), after the reconnection hold.
            coordination_loss_hold: cluster.heartbeat * 3 / 2
                + Duration::from_millis(6500)
                + data_keep_alive * 2,
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
        self.presence_board.set(Message {
            topic: self.topics.cluster(me),
            payload,
            qos: 1,
            retain: true,
        });
    }

    /// Publishes one message while the coordination connection is up (beats QoS 0;
    /// deltas, snapshots and requests QoS 1). A message the full queue refuses is lost: a
    /// missed delta is noticed by the others (a gap) and repaired by a snapshot.
    fn direct(&self, topic: String, payload: Vec<u8>, qos: u8) {
        if self.metrics.cluster.coordination.state().0 {
            let _ = self.beats.try_send(crate::model::Direct {
                message: Message {
                    topic,
                    payload,
                    qos,
                    retain: false,
                },
                correlation: None,
            });
        }
    }

    /// Publishes one beat, with the number of our latest announced state.
    fn beat(&self, me: &str) {
        let payload = Beat {
            node: me,
            incarnation: self.state.incarnation(),
            seq: self.state.announced_seq(),
        }
        .to_json();
        self.direct(self.topics.cluster_beat(me), payload.into_bytes(), 0);
    }

    /// Runs until the node has left (after `leave` turned true) or `leave` is dropped.
    pub async fn run(mut self) {
        let me = self.state.view().me().to_owned();
        self.metrics.cluster.enabled.store(true, Relaxed);
        let mut beat_tick = tokio::time::interval(self.beat_every);
        beat_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.state.set_started(&now_s());
        let (connected, connects) = self.metrics.cluster.coordination.state();
        self.state.coordination(connected);
        let data_connected = self.metrics.mqtt_state().0;
        self.state.data_link(data_connected);
        let mut d = Driver {
            me,
            connected,
            connects,
            data_connected,
            leave_deadline: None,
            shown_at: None,
        };
        let mut orphans = std::collections::BTreeSet::new();
        let mut wake_at: Option<Instant> = None;
        let mut steps = pacer::Pacer::new(STEP_EVERY, STEP_BURST);
        loop {
            let now = Instant::now();
            // A few decisions back to back, then one per STEP_EVERY: a step looks at every
            // RTU, and at 3,000 RTUs coming up reports and messages arrive one by one,
            // thousands per second; a takeover's few steps (will, roles, started) go at once.
            let next_step = steps
                .next_allowed()
                .map(Instant::from_std)
                .filter(|t| now < *t);
            if next_step.is_none() {
                steps.spend(now.into_std());
                self.state.set_since(now_s());
                let out = self.state.step(now.into_std());
                self.act(&d, &out);
                self.show(&mut d, out.publish.is_some());
                self.follow_orphans(&mut orphans);
                if d.leave_deadline.is_some() && self.state.left() {
                    tracing::info!("cluster: every RTU handed over; leaving");
                    return;
                }
                wake_at = out.wake_at.map(Instant::from_std);
            }
            // A step pending: it comes first (and decides what its wake-up time was for).
            let deadline = [next_step.or(wake_at), d.leave_deadline]
                .into_iter()
                .flatten()
                .min();
            tokio::select! {
                _ = self.metrics.mqtt_changed.notified() => self.follow_mqtt(&mut d),
                _ = beat_tick.tick() => self.beat(&d.me),
                m = self.presence.recv() => match m {
                    Some(m) => {
                        self.follow_mqtt(&mut d);
                        self.on_message(&d.me, m);
                        // Whatever else already arrived is taken before the next decision.
                        for _ in 0..BATCH {
                            match self.presence.try_recv() {
                                Ok(m) => self.on_message(&d.me, m),
                                Err(_) => break,
                            }
                        }
                    }
                    None => return,
                },
                r = self.reports.recv() => match r {
                    Some((i, r)) => {
                        self.state.session(i, r);
                        for _ in 0..BATCH {
                            match self.reports.try_recv() {
                                Ok((i, r)) => self.state.session(i, r),
                                Err(_) => break,
                            }
                        }
                    }
                    None => return,
                },
                changed = self.leave.changed(), if d.leave_deadline.is_none() => {
                    if changed.is_err() || *self.leave.borrow() {
                        tracing::info!("cluster: leaving (handing every RTU over)");
                        self.state.leave();
                        d.leave_deadline = Some(Instant::now() + self.leave_timeout);
                    }
                }
                _ = async { tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)).await }, if deadline.is_some() => {
                    if d.leave_deadline.is_some_and(|t| t <= Instant::now()) {
                        tracing::warn!("cluster: leaving before every RTU confirmed its STOPDT (timeout)");
                        return;
                    }
                }
            }
        }
    }

    /// Applies a change of either broker connection before anything that came over it.
    fn follow_mqtt(&mut self, d: &mut Driver) {
        let (now_connected, now_connects) = self.metrics.cluster.coordination.state();
        if now_connected != d.connected || now_connects != d.connects {
            d.connected = now_connected;
            d.connects = now_connects;
            tracing::info!(
                connected = d.connected,
                "cluster: coordination connection changed; waiting for our presence echo before acting"
            );
            self.state.coordination(d.connected);
        }
        let data = self.metrics.mqtt_state().0;
        if data != d.data_connected {
            d.data_connected = data;
            tracing::info!(
                connected = data,
                "cluster: data connection changed (no role changes for it alone)"
            );
            self.state.data_link(data);
        }
    }

    /// Carries out one step's output: our presence, delta and snapshot, requests, the probe,
    /// the roles, the metrics.
    fn act(&mut self, d: &Driver, out: &state::Output) {
        let me = &d.me;
        if let Some(p) = &out.publish {
            tracing::debug!(status = %p.status, seq = p.seq, active = p.active.len(), ready = p.ready.len(), "cluster presence");
            self.publish(p, me);
        }
        if let Some(delta) = &out.delta {
            tracing::info!(
                seq = delta.seq,
                status = %delta.status,
                started = delta.active_add.len(),
                stopped = delta.active_del.len(),
                standby_up = delta.ready_add.len(),
                standby_down = delta.ready_del.len(),
                "cluster state"
            );
            tracing::debug!(started = ?delta.active_add, stopped = ?delta.active_del, "cluster state change");
            let payload = serde_json::to_vec(delta).unwrap_or_default();
            self.direct(self.topics.cluster_delta(me), payload, 1);
        }
        if let Some(p) = &out.snapshot {
            let payload = serde_json::to_vec(p).unwrap_or_default();
            self.direct(self.topics.cluster_state(me), payload, 1);
        }
        for node in &out.requests {
            tracing::debug!(%node, "cluster: asking for a snapshot");
            let payload =
                serde_json::to_vec(&serde_json::json!({ "node": me })).unwrap_or_default();
            self.direct(self.topics.cluster_sync(node), payload, 1);
        }
        if out.probe {
            // A node went offline: act once a beat of ours came back after it.
            self.beat(me);
        }
        for ch in &out.changes {
            self.change_role(ch);
        }
        let rtus = self.state.rtus();
        let c = &self.metrics.cluster;
        let count = |role| rtus.iter().filter(|r| r.role == role).count() as u64;
        c.owned.store(count(Role::Active), Relaxed);
        c.standby.store(count(Role::Standby), Relaxed);
        c.members.store(
            self.state.live_members(std::time::Instant::now()) as u64,
            Relaxed,
        );
    }

    /// Hands one decided role to its session.
    fn change_role(&self, ch: &state::Change) {
        let Some(r) = self.state.rtus().get(ch.rtu) else {
            return;
        };
        let was = self.roles.get(ch.rtu).map(|r| *r.borrow());
        tracing::info!(rtu = %r.name, role = ?ch.role, reason = ch.reason, "cluster role");
        if ch.role == Role::Active {
            self.metrics.cluster.takeovers.fetch_add(1, Relaxed);
        } else if r.started && was == Some(Role::Active) {
            self.metrics.cluster.handovers.fetch_add(1, Relaxed);
        }
        if let Some(tx) = self.roles.get(ch.rtu) {
            let _ = tx.send(ch.role);
        }
    }

    /// The status page's cluster picture, at most every [`SHOW_EVERY`] (it copies every list).
    fn show(&self, d: &mut Driver, now_too: bool) {
        let now = Instant::now();
        if now_too || !d.shown_at.is_some_and(|t| now < t + SHOW_EVERY) {
            d.shown_at = Some(now);
            self.show_nodes();
        }
    }

    /// One message of `{prefix}/_cluster/…`.
    fn on_message(&mut self, me: &str, m: Incoming) {
        let now = std::time::Instant::now();
        let Some((node, kind)) = self.topics.cluster_topic(&m.topic) else {
            return;
        };
        let node = node.to_owned();
        let alarms = match kind {
            ClusterTopic::Beat => {
                let v = serde_json::from_slice::<serde_json::Value>(&m.payload).ok();
                let field = |k: &str| v.as_ref().and_then(|v| v.get(k));
                let inc = field("incarnation")
                    .and_then(|i| i.as_str())
                    .unwrap_or_default();
                let seq = field("seq").and_then(|s| s.as_u64()).unwrap_or(0);
                let late = self.state.late_wills();
                self.state.beat_seq(&node, inc.as_bytes(), seq, now);
                if self.state.late_wills() > late {
                    tracing::warn!(%node, "cluster: a last will came for a node whose beats go on (a late will, e.g. from another broker node): ignored");
                }
                Vec::new()
            }
            ClusterTopic::Sync if node == me => {
                self.state.sync_request();
                Vec::new()
            }
            ClusterTopic::Sync => Vec::new(),
            ClusterTopic::Delta | ClusterTopic::State if node == me => Vec::new(),
            ClusterTopic::Delta => self.state.delta(&node, &m.payload, now),
            ClusterTopic::Presence | ClusterTopic::State => {
                self.state.presence(&node, &m.payload, now)
            }
        };
        for a in alarms {
            self.alarm(a);
        }
        // Another node stopped holding an RTU we carry: its status may be the last the broker
        // retains; ours goes out again.
        for i in self.state.take_refresh() {
            if let Some(r) = self.state.rtus().get(i) {
                tracing::info!(rtu = %r.name, from = %node, "cluster: another node released an RTU we carry; status published again");
                self.board.touch(&self.topics.status(&r.name));
            }
        }
    }
}

/// Decisions (steps) on average at most once per this, in bursts of [`STEP_BURST`]: what
/// arrives meanwhile waits for the next one.
const STEP_EVERY: Duration = Duration::from_millis(20);

/// Decisions that may follow each other at once before [`STEP_EVERY`] paces them.
const STEP_BURST: u32 = 4;

/// Messages (or reports) taken at once before the next decision.
const BATCH: usize = 256;

/// The status page's cluster picture is refreshed at most this often.
const SHOW_EVERY: Duration = Duration::from_millis(500);

/// The driver's own state between steps.
struct Driver {
    me: String,
    /// The coordination connection: up, and how many times it came up.
    connected: bool,
    connects: u64,
    /// The data connection is up.
    data_connected: bool,
    leave_deadline: Option<Instant>,
    shown_at: Option<Instant>,
}

#[cfg(test)]
mod tests {
    //! The glue with its real channels and status board, the broker played by the test: what
    //! the node puts on the board is echoed back on its subscription.

    use super::*;
    use crate::cluster::ownership::owner;

    const WAIT: Duration = Duration::from_secs(5);

    struct Rig {
        board: Arc<StatusBoard>,
        seen: crate::model::Seen,
        presence: mpsc::Sender<Incoming>,
        reports: mpsc::Sender<(usize, Report)>,
        roles: Vec<watch::Receiver<Role>>,
        leave: watch::Sender<bool>,
        beats: mpsc::Receiver<crate::model::Direct>,
        direct: Vec<crate::model::Direct>,
        task: tokio::task::JoinHandle<()>,
    }

    fn incoming(topic: &str, payload: Vec<u8>) -> Incoming {
        Incoming::new(topic.into(), &payload.into())
    }

    fn other(node: &str, status: &str, active: &[&str]) -> Incoming {
        let p = Presence::of(node, status, active);
        incoming(
            &format!("p/_cluster/{node}"),
            serde_json::to_vec(&p).unwrap(),
        )
    }

    fn rig(rtus: &[&str]) -> Rig {
        let board = StatusBoard::new();
        let metrics = Arc::new(Metrics::default());
        metrics.set_mqtt(true);
        metrics.set_coordination(true);
        let (presence_tx, presence_rx) = mpsc::channel(64);
        let (reports_tx, reports_rx) = mpsc::channel(64);
        let (beats_tx, beats_rx) = mpsc::channel(64);
        let (leave_tx, leave_rx) = watch::channel(false);
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for _ in rtus {
            let (tx, rx) = watch::channel(Role::Off);
            senders.push(tx);
            receivers.push(rx);
        }
        let settings = Settings {
            liveness: Duration::from_secs(60),
            reconnect_hold: Duration::from_secs(60),
            coalesce: Duration::from_millis(20),
            ..Settings::quiet("a")
        };
        let task = Task {
            state: ClusterState::new(
                settings,
                rtus.iter().map(|r| (r.to_string(), None)).collect(),
            ),
            roles: senders,
            reports: reports_rx,
            presence: presence_rx,
            board: StatusBoard::new(),
            presence_board: board.clone(),
            metrics,
            live: Arc::new(crate::model::live::LiveView::new("a", [], 10, 10)),
            duty: Arc::new(watch::channel(crate::model::Duty::default()).0),
            topics: Topics::new("p"),
            leave: leave_rx,
            leave_timeout: Duration::from_secs(5),
            beats: beats_tx,
            beat_every: Duration::from_millis(100),
        };
        Rig {
            board,
            seen: crate::model::Seen::default(),
            presence: presence_tx,
            reports: reports_tx,
            roles: receivers,
            leave: leave_tx,
            beats: beats_rx,
            direct: Vec::new(),
            task: tokio::spawn(task.run()),
        }
    }

    impl Rig {
        /// Waits for our next presence on the board, echoes it (as the broker would) and
        /// returns it.
        async fn echo_presence(&mut self) -> Presence {
            let end = Instant::now() + WAIT;
            loop {
                let mine = self
                    .board
                    .changed_since(&mut self.seen)
                    .into_iter()
                    .rfind(|m| m.topic == "p/_cluster/a");
                if let Some(m) = mine {
                    self.presence
                        .send(incoming(&m.topic, m.payload.clone()))
                        .await
                        .unwrap();
                    return serde_json::from_slice(&m.payload).unwrap();
                }
                assert!(Instant::now() < end, "no presence published");
                let _ =
                    tokio::time::timeout(Duration::from_millis(50), self.board.changed.notified())
                        .await;
            }
        }

        /// The next message on the direct path whose topic ends with `/{kind}` (others are
        /// kept in `direct`).
        async fn next_direct(&mut self, kind: &str) -> crate::model::Direct {
            let end = Instant::now() + WAIT;
            loop {
                let left = end.saturating_duration_since(Instant::now());
                let d = tokio::time::timeout(left, self.beats.recv())
                    .await
                    .expect("no direct message")
                    .expect("direct path closed");
                if d.message.topic.ends_with(&format!("/{kind}")) {
                    return d;
                }
                self.direct.push(d);
            }
        }

        async fn role(&mut self, i: usize, want: Role) {
            let rx = &mut self.roles[i];
            let ok = tokio::time::timeout(WAIT, rx.wait_for(|r| *r == want))
                .await
                .is_ok();
            assert!(ok, "rtu {i} never became {want:?} (is {:?})", *rx.borrow());
        }
    }

    #[tokio::test]
    async fn roles_presence_beats_takeover_and_leave() {
        let nodes = ["a", "b"];
        let mine = (0..50)
            .map(|i| format!("s{i}"))
            .find(|r| owner(r, None, &nodes) == Some("a"))
            .unwrap();
        let theirs = (0..50)
            .map(|i| format!("s{i}"))
            .find(|r| owner(r, None, &nodes) == Some("b"))
            .unwrap();
        let mut r = rig(&[&mine, &theirs]);
        // b is online (retained) and carries its RTU.
        r.presence
            .send(other("b", "online", &[&theirs]))
            .await
            .unwrap();
        let p = r.echo_presence().await;
        assert_eq!((p.status.as_str(), p.active.len()), ("online", 0));
        r.role(0, Role::Active).await;
        r.role(1, Role::Standby).await;
        // Beats go out on the direct path, QoS 0, not retained, with our incarnation.
        let beat = r.next_direct("beat").await;
        assert_eq!(beat.message.topic, "p/_cluster/a/beat");
        assert_eq!((beat.message.qos, beat.message.retain), (0, false));
        assert!(String::from_utf8_lossy(&beat.message.payload).contains("inc-a"));
        // Our RTU started: the presence lists it.
        r.reports.send((0, Report::Started)).await.unwrap();
        let p = r.echo_presence().await;
        assert_eq!(p.active, vec![mine.clone()]);
        // …and a delta with it went out on the direct path, QoS 1, not retained.
        let delta = r.next_direct("delta").await;
        assert_eq!((delta.message.qos, delta.message.retain), (1, false));
        let delta: membership::Delta = serde_json::from_slice(&delta.message.payload).unwrap();
        assert_eq!((delta.seq, delta.active_add), (p.seq, vec![mine.clone()]));
        // b's last will: its RTU is taken over, once a beat of ours made the round trip.
        r.presence.send(other("b", "offline", &[])).await.unwrap();
        let probe = r.next_direct("beat").await;
        let ok = tokio::time::timeout(
            Duration::from_millis(50),
            r.roles[1].wait_for(|x| *x == Role::Active),
        )
        .await
        .is_err();
        assert!(ok, "taken over before the probe came back");
        r.presence
            .send(incoming(
                &probe.message.topic,
                probe.message.payload.clone(),
            ))
            .await
            .unwrap();
        r.role(1, Role::Active).await;
        r.reports.send((1, Report::Started)).await.unwrap();
        let p = r.echo_presence().await;
        assert_eq!(p.active.len(), 2);
        // SIGTERM: leaving, everything Off; done once both stopped and that was echoed.
        r.leave.send(true).unwrap();
        let p = r.echo_presence().await;
        assert_eq!(p.status, "leaving");
        r.role(0, Role::Off).await;
        r.role(1, Role::Off).await;
        assert!(!r.task.is_finished());
        r.reports.send((0, Report::Stopped)).await.unwrap();
        r.reports.send((1, Report::Stopped)).await.unwrap();
        let p = r.echo_presence().await;
        assert_eq!((p.status.as_str(), p.active.len()), ("leaving", 0));
        tokio::time::timeout(WAIT, r.task).await.unwrap().unwrap();
    }
}

//! The MQTT side: one publisher task owns the broker connection and the data path. Batches
//! from the RTU sessions are published straight from memory while the broker is connected and
//! nothing waits on disk; each batch's I-frame is released once all its messages are
//! acknowledged (see [`pipeline`] for the rules and the delivery invariant). Otherwise, or
//! when a batch is not acknowledged within `spill_after`, batches go to the store writer
//! (released after the durable commit) and the publisher publishes the store's messages in
//! order, removing each only when its PUBACK arrived, until the store is drained. It also
//! publishes the status board and command results, and hands command messages to the
//! command router.
//!
//! rumqttc's `publish` does not return the packet id: the publisher pairs its publications, in
//! order, with the `Outgoing::Publish(pkid)` events of the event loop, then PUBACKs by pkid.
//! rumqttc keeps its in-flight state only in memory, so after any connection error the
//! client and event loop are thrown away and a fresh pair republishes everything not yet
//! acknowledged from the store (at-least-once). MQTT 5 (default) or 3.1.1 (`mqtt.version`).

pub mod client;
pub mod coordination;
pub mod pipeline;
mod return_probe;
pub mod rotation;
pub mod sparkplug;
pub mod store;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch, Notify};

use crate::model::{Batch, Direct, Incoming, Metrics, Release, StatusBoard};
use client::{Client, Ev};
use pipeline::{Mode, Pipeline};
use rotation::{Backoff, Next, Rotation};

mod guard;
mod intake;
use store::Store;

/// Broker connection settings.
#[derive(Debug, Clone)]
pub struct MqttSettings {
    /// The brokers in the order this node tries them (at least one; the first is the
    /// node's preferred broker).
    pub brokers: Vec<crate::config::Broker>,
    /// Time a broker has to accept the connection (CONNACK) before the next one is tried.
    pub connect_timeout: Duration,
    /// Away from the first broker, check it at this period and move back once it answers
    /// (`return_to_first`); None: stay.
    pub return_check: Option<Duration>,
    /// MQTT 5 (else 3.1.1).
    pub v5: bool,
    /// CA certificates (PEM) for the brokers with TLS (`mqtts://`).
    pub tls: Option<Vec<u8>>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub client_auth: Option<(Vec<u8>, Vec<u8>)>,
    /// Client id.
    pub client_id: String,
    /// Credentials.
    pub credentials: Option<(String, crate::config::security::Secret)>,
    /// Keep-alive.
    pub keep_alive: Duration,
    /// Data messages in flight (published, not yet PUBACKed) at most.
    pub max_inflight: u16,
    /// Presence topic (`{prefix}/_gateway/{node}`, or `{prefix}/_cluster/{node}` on a
    /// cluster node's coordination connection); empty: this connection has no presence (no
    /// last will, no goodbye: a cluster node's data connection).
    pub presence_topic: String,
    /// Presence payloads: online (empty: not published here), offline (the last will and the
    /// goodbye).
    pub presence: (String, String),
    /// Topic filters to subscribe to (commands).
    pub subscriptions: Vec<String>,
    /// Cluster mode: this node's id (RTU status topics are shared with the other nodes).
    pub cluster_node: Option<String>,
}

/// What the publisher needs.
pub struct Publisher {
    /// Settings.
    pub settings: MqttSettings,
    /// The queue.
    pub store: Arc<Store>,
    /// Woken when the store has new entries.
    pub wake: Arc<Notify>,
    /// Status messages.
    pub board: Arc<StatusBoard>,
    /// Messages not stored (command results), bounded.
    pub direct: mpsc::Receiver<Direct>,
    /// Commands received.
    pub incoming: mpsc::Sender<Incoming>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Batches from the RTU sessions (bounded: when it is full, sessions wait, I-frames are
    /// not released and the RTUs stop at k).
    pub batches: mpsc::Receiver<Batch>,
    /// The store writer, for batches that go to disk (dropped when the publisher ends).
    pub spill: Option<mpsc::Sender<Batch>>,
    /// Batches the writer has committed (compared with those sent to it).
    pub committed: Arc<AtomicU64>,
    /// How long a batch published from memory may wait for its PUBACKs.
    pub spill_after: Duration,
}

/// What a publication handed to the client is.
#[derive(Debug, Clone, Copy)]
enum Tag {
    /// Not tracked (status, command result, QoS 0).
    Other,
    /// A store entry and when it was handed over.
    Stored(u64, Instant),
    /// Message `.1` of pipeline batch `.0`, and when it was handed over.
    Memory(u64, usize, Instant),
}

/// One broker connection's bookkeeping.
struct Flight {
    /// Publications handed to the client, waiting for their `Outgoing::Publish` event.
    unassigned: VecDeque<Tag>,
    /// Tracked publications sent, by packet id.
    sent: HashMap<u16, Tag>,
    /// A publication rumqttc parked because its packet id was still in flight
    /// (`Outgoing::AwaitAck`; see `on_collision`).
    parked: Option<Parked>,
    /// Highest store id handed to the client.
    cursor: u64,
    /// The store may hold entries after `cursor`.
    more: bool,
    /// Store entries handed to the client and not acknowledged.
    stored: usize,
}

impl Flight {
    fn new() -> Flight {
        Flight {
            unassigned: VecDeque::new(),
            sent: HashMap::new(),
            parked: None,
            cursor: 0,
            more: true,
            stored: 0,
        }
    }

    fn in_flight(&self) -> usize {
        self.unassigned.len() + self.sent.len() + usize::from(self.parked.is_some())
    }

    /// `Outgoing::Publish(pkid)`: the oldest unassigned publication was written with `pkid`.
    fn on_sent(&mut self, pkid: u16) {
        if let Some(parked) = &mut self.parked {
            if parked.pkid == pkid && !parked.written {
                // The parked publication, written once the PUBACK of the older one freed its id.
                if parked.freed {
                    let tag = parked.tag;
                    self.parked = None;
                    self.track(pkid, tag);
                } else {
                    parked.written = true;
                }
                return;
            }
        }
        if let Some(tag) = self.unassigned.pop_front() {
            self.track(pkid, tag);
        }
    }

    fn track(&mut self, pkid: u16, tag: Tag) {
        if !matches!(tag, Tag::Other) {
            self.sent.insert(pkid, tag);
        }
    }

    /// `Outgoing::AwaitAck(pkid)`: rumqttc got the oldest unassigned publication but `pkid`
    /// is still in flight (the broker acknowledged out of order), so it parks it and takes no
    /// request until that id's PUBACK. Then it writes the parked publication and reports its
    /// `Outgoing::Publish(pkid)` next to the `Incoming::PubAck(pkid)` that freed the id —
    /// after it (rumqttc 0.25) or before it (0.24). Either way that PUBACK is the older
    /// publication's, and the parked one is acknowledged only by the next PUBACK of the id.
    fn on_collision(&mut self, pkid: u16) {
        if let Some(tag) = self.unassigned.pop_front() {
            self.parked = Some(Parked {
                pkid,
                tag,
                written: false,
                freed: false,
            });
        }
    }

    /// PUBACK of `pkid`: the publication it acknowledges, when tracked.
    fn on_puback(&mut self, pkid: u16) -> Option<Tag> {
        let acked = self.sent.remove(&pkid);
        if let Some(parked) = &mut self.parked {
            if parked.pkid == pkid && !parked.freed {
                if parked.written {
                    // Written before this PUBACK was reported: it holds the id from now on.
                    let tag = parked.tag;
                    self.parked = None;
                    self.track(pkid, tag);
                } else {
                    // Its `Outgoing::Publish` follows.
                    parked.freed = true;
                }
            }
        }
        acked
    }
}

/// A publication parked by rumqttc behind a packet id still in flight.
#[derive(Debug, Clone, Copy)]
struct Parked {
    /// The id it waits for (and gets).
    pkid: u16,
    /// What it is.
    tag: Tag,
    /// Its `Outgoing::Publish` was reported.
    written: bool,
    /// The PUBACK of the older publication holding the id was reported.
    freed: bool,
}

/// The data path's state across connections.
struct Path {
    pipeline: Pipeline<Release>,
    /// Batches sent to the writer.
    forwarded: u64,
    /// Every session has ended (the batch channel is closed).
    sessions_done: bool,
    /// Shutdown was asked at this instant.
    stopping: Option<Instant>,
    /// Releases to do (reused).
    releases: Vec<Release>,
    /// The oldest batch taken from the sessions and not yet placed (waiting for room).
    next: Option<Batch>,
}

/// How one broker connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Shutdown: the publisher is done.
    Shutdown,
    /// Lost, or never accepted (`connected`: the broker had sent its CONNACK).
    Lost {
        /// The broker had accepted the connection.
        connected: bool,
    },
    /// Left on purpose: the first broker answers again (`return_to_first`).
    BackToFirst,
}

/// Stopping: whether the sessions have ended (or their grace is over) and what was
/// published from memory is acknowledged (or cannot be: no broker, or its grace is over).
fn stop_due(path: &Path, connected: bool) -> bool {
    let Some(since) = path.stopping else {
        return false;
    };
    let sessions_over = path.sessions_done || since.elapsed() >= SESSIONS_GRACE;
    let acks_over =
        path.pipeline.waiting() == 0 || !connected || since.elapsed() >= SESSIONS_GRACE + ACK_GRACE;
    sessions_over && acks_over
}

/// Leaves a broker on purpose: DISCONNECT (so the broker drops our will: nobody is told
/// that this node went offline), then waits for it to be written, at most 2 s.
async fn leave(client: &Client, events: &mut mpsc::Receiver<Result<Ev, String>>) {
    if !client.disconnect() {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match events.recv().await {
                Some(Ok(Ev::Disconnected)) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
}

/// Statuses handed to the client per turn at most, and the room they may take in its request
/// queue beyond `max_inflight` (which is `max_inflight` + 256).
const STATUS_ROOM: usize = 128;

/// After shutdown, how long the publisher waits for the sessions to end.
const SESSIONS_GRACE: Duration = Duration::from_secs(4);
/// After shutdown, how long it waits for PUBACKs of messages published from memory.
const ACK_GRACE: Duration = Duration::from_secs(5);

/// Aborts the task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Publisher {
    /// Runs until `shutdown` turns true and the sessions have ended; then writes what the
    /// broker has not acknowledged to the store, publishes the final statuses and the
    /// offline presence, and disconnects.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let (remove_tx, remove_rx) = mpsc::channel::<Vec<u64>>(64);
        let remover = tokio::spawn(remover(self.store.clone(), remove_rx, self.metrics.clone()));
        let max = usize::from(self.settings.max_inflight);
        let mut path = Path {
            pipeline: Pipeline::new(max, max * 4 + 64, self.spill_after),
            forwarded: 0,
            sessions_done: false,
            stopping: None,
            releases: Vec::new(),
            next: None,
        };
        if self.store.len() == 0 {
            // Nothing on disk: memory-first from the start (a batch that comes before the
            // broker's CONNACK waits for it up to spill_after, then goes to disk).
            path.pipeline.drained();
        }
        let mut backoff = Backoff::new();
        let mut rotation = Rotation::new(self.settings.brokers.len(), self.settings.return_check);
        loop {
            let at = rotation.current();
            let end = self
                .connection(at, &mut rotation, &remove_tx, &mut path, &mut shutdown)
                .await;
            self.metrics.set_mqtt(false);
            let next = match end {
                End::Shutdown => break,
                End::BackToFirst => rotation.back_to_first(),
                End::Lost { connected } => {
                    if connected {
                        backoff.reset();
                    }
                    rotation.ended(connected)
                }
            };
            let wait = match next {
                Next::Now(_) => Duration::ZERO,
                Next::AfterBackoff(_) => backoff.wait(),
            };
            if !wait.is_zero() {
                self.offline(&mut path, wait, &mut shutdown).await;
            }
            if let Some(since) = path.stopping {
                if path.sessions_done || since.elapsed() >= SESSIONS_GRACE {
                    break;
                }
            }
        }
        self.spill_all(&mut path).await;
        // The writer finishes what it holds once its last sender is gone.
        self.spill = None;
        drop(remove_tx);
        let _ = remover.await;
    }

    /// No broker for `wait`: batches go to disk meanwhile (ends early when stopping is over).
    async fn offline(
        &mut self,
        path: &mut Path,
        wait: Duration,
        shutdown: &mut watch::Receiver<bool>,
    ) {
        let until = tokio::time::Instant::now() + wait;
        loop {
            if let Some(since) = path.stopping {
                if path.sessions_done || since.elapsed() >= SESSIONS_GRACE {
                    return;
                }
            }
            let room = self.spill.as_ref().is_some_and(|s| s.capacity() > 0);
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return,
                _ = shutdown.changed(), if path.stopping.is_none() => path.stopping = Some(Instant::now()),
                b = self.batches.recv(), if room && !path.sessions_done => match b {
                    Some(b) => self.send_to_disk(path, b).await,
                    None => path.sessions_done = true,
                },
                _ = tokio::time::sleep(Duration::from_millis(100)), if path.stopping.is_some() => {}
            }
        }
    }

    /// Sends one batch to the store writer.
    async fn send_to_disk(&mut self, path: &mut Path, batch: Batch) {
        let Some(tx) = &self.spill else {
            return;
        };
        if tx.send(batch).await.is_ok() {
            path.forwarded += 1;
            self.metrics.to_disk();
        } else {
            tracing::error!(
                "the store writer stopped: a batch is not stored (its I-frame is not acknowledged)"
            );
        }
    }

    /// Sends every batch held in memory to the store writer, in order (switching to disk).
    async fn spill_all(&mut self, path: &mut Path) {
        let spilled = path.pipeline.spill();
        for s in spilled {
            self.send_to_disk(path, Batch::new(s.messages, s.release))
                .await;
        }
        if let Some(b) = path.next.take() {
            self.send_to_disk(path, b).await;
        }
    }

    /// Takes more waiting batches at once while they can be placed (at most 256); see
    /// `place_one`.
    async fn place(&mut self, client: &Client, f: &mut Flight, path: &mut Path, connected: bool) {
        for _ in 0..256 {
            self.place_one(client, f, path, connected).await;
            if path.next.is_some() || path.sessions_done {
                return;
            }
            let room = match path.pipeline.mode() {
                Mode::Memory => connected && path.pipeline.has_room(f.in_flight()),
                Mode::Disk => self.spill.as_ref().is_some_and(|s| s.capacity() > 0),
            };
            if !room {
                return;
            }
            match self.batches.try_recv() {
                Ok(b) => path.next = Some(b),
                Err(mpsc::error::TryRecvError::Empty) => return,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    path.sessions_done = true;
                    return;
                }
            }
        }
    }

    /// Places the oldest batch taken from the sessions: published from memory when there is
    /// room, to disk in disk mode or when it has waited `spill_after` for room.
    async fn place_one(
        &mut self,
        client: &Client,
        f: &mut Flight,
        path: &mut Path,
        connected: bool,
    ) {
        let Some(b) = path.next.take() else {
            return;
        };
        if path.pipeline.mode() == Mode::Disk {
            self.send_to_disk(path, b).await;
        } else if connected && path.pipeline.has_room(f.in_flight()) {
            if !Publisher::publish_batch(client, f, path, b) {
                tracing::info!(
                    "MQTT request channel full: writing the messages in memory to the store"
                );
                self.spill_all(path).await;
            }
        } else if b.at.elapsed() >= self.spill_after {
            tracing::info!(
                waiting = path.pipeline.waiting(),
                "no room to publish within spill_after: writing the messages to the store"
            );
            path.next = Some(b);
            self.spill_all(path).await;
        } else {
            path.next = Some(b);
        }
    }

    /// Publishes a batch from memory; false when the client's request channel was full (the
    /// caller spills).
    fn publish_batch(client: &Client, f: &mut Flight, path: &mut Path, b: Batch) -> bool {
        let n = b.messages.len();
        let now = Instant::now();
        // The deadline counts from the receipt: the wait for room is part of the RTU's wait.
        let seq = path.pipeline.admit(b.messages, b.release, b.at);
        for idx in 0..n {
            let Some(m) = path.pipeline.get(seq, idx) else {
                continue;
            };
            let qos = m.qos;
            if !client.publish(m.topic.clone(), m.qos, m.retain, m.payload.clone(), None) {
                return false;
            }
            if qos == 0 {
                // QoS 0: done once written to the client.
                f.unassigned.push_back(Tag::Other);
                path.pipeline.acked(seq, idx);
            } else {
                f.unassigned.push_back(Tag::Memory(seq, idx, now));
            }
        }
        true
    }

    /// Hands store entries to the client while in-flight room remains.
    fn fill(&self, client: &Client, f: &mut Flight, acked: &mut Vec<u64>, max: usize) {
        while f.more && f.in_flight() < max {
            let want = (max - f.in_flight()).min(256);
            let entries = match self.store.read_after(f.cursor, want) {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the store");
                    return;
                }
            };
            if entries.len() < want {
                f.more = false;
            }
            for (id, m) in entries {
                match m {
                    Ok(m) => {
                        let qos = m.qos;
                        if !client.publish(m.topic, m.qos, m.retain, m.payload, None) {
                            // Request channel full: read again from here later.
                            f.more = true;
                            return;
                        }
                        f.cursor = id;
                        if qos == 0 {
                            f.unassigned.push_back(Tag::Other);
                            acked.push(id);
                        } else {
                            f.unassigned.push_back(Tag::Stored(id, Instant::now()));
                            f.stored += 1;
                        }
                    }
                    Err(e) => {
                        tracing::error!(id, error = %e, "dropping an unreadable stored message");
                        f.cursor = id;
                        acked.push(id);
                    }
                }
            }
        }
    }

    /// A foreign message on our status or presence topic: counted, logged, and the true
    /// one published again (the presence at once, a status through the board).
    fn spoofed(&self, client: &Client, f: &mut Flight, topic: &str) {
        self.metrics.spoofed();
        tracing::warn!(%topic, "foreign message on this gateway's own topic: publishing the true one again");
        let s = &self.settings;
        if topic == s.presence_topic && !s.presence.0.is_empty() {
            if client.publish(
                s.presence_topic.clone(),
                1,
                true,
                s.presence.0.clone().into_bytes(),
                None,
            ) {
                f.unassigned.push_back(Tag::Other);
            }
        } else {
            self.board.touch(topic);
        }
    }

    /// One connection to broker `at` of the list.
    async fn connection(
        &mut self,
        at: usize,
        rotation: &mut Rotation,
        remove_tx: &mpsc::Sender<Vec<u64>>,
        path: &mut Path,
        shutdown: &mut watch::Receiver<bool>,
    ) -> End {
        let max = usize::from(self.settings.max_inflight);
        let broker = self.settings.brokers[at.min(self.settings.brokers.len() - 1)].clone();
        tracing::debug!(host = %broker.host, port = broker.port, "connecting to the MQTT broker");
        let (ev_tx, mut events) = mpsc::channel(1024);
        let (client, poller) = client::start(&self.settings, &broker, max + 256, ev_tx);
        let _poller = AbortOnDrop(tokio::spawn(poller));
        let answer_by = tokio::time::Instant::now() + self.settings.connect_timeout;
        let mut back: Option<return_probe::FirstAnswers> = None;
        let mut f = Flight::new();
        let mut connected = false;
        let mut seen_status = crate::model::Seen::default();
        let mut board_version = None;
        let mut acked: Vec<u64> = Vec::new();
        let mut held: Option<Direct> = None;
        let mut intake = intake::Intake::default();
        let mut guard = guard::Guard::new(self.settings.cluster_node.clone());
        let to_router = self.incoming.clone();
        let mut tick = tokio::time::interval((self.spill_after / 4).max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if connected {
                // Status first (small, retained), then the store in order.
                self.publish_board(
                    &client,
                    &mut f,
                    &mut seen_status,
                    &mut board_version,
                    &mut guard,
                );
                if path.pipeline.mode() == Mode::Disk {
                    self.publish_from_store(&client, &mut f, &mut acked, path, max);
                }
                if !acked.is_empty() && remove_tx.send(std::mem::take(&mut acked)).await.is_err() {
                    return End::Shutdown;
                }
            }
            self.release_or_spill(path).await;
            if stop_due(path, connected) {
                // What the broker has not acknowledged goes to the store.
                self.spill_all(path).await;
                if connected {
                    self.goodbye(&client, &mut events, &mut seen_status, &f)
                        .await;
                }
                return End::Shutdown;
            }
            if connected {
                // A command result is never dropped: held until the client takes it.
                held = publish_held(&client, &mut f, held.take());
            }
            self.place(&client, &mut f, path, connected).await;
            let take = !path.sessions_done && path.next.is_none();
            tokio::select! {
                ev = events.recv() => match ev.unwrap_or_else(|| Err("event loop ended".into())) {
                    Ok(Ev::ConnAck) => {
                        connected = true;
                        self.on_connack(&client, &mut f, &mut guard, &broker);
                        back = return_probe::on_connected(
                            rotation,
                            &self.settings.brokers,
                            self.settings.connect_timeout,
                        );
                    }
                    Ok(Ev::Sent(pkid)) => f.on_sent(pkid),
                    Ok(Ev::Collision(pkid)) => f.on_collision(pkid),
                    Ok(Ev::PubAck(pkid, refused)) => {
                        self.on_puback(&mut f, &mut acked, path, pkid, refused);
                    }
                    Ok(Ev::Message(m)) if guard.guards(&m.topic) => {
                        // A retained copy sent because we subscribed is what the broker held
                        // before this connection (our previous life's, or a spoof since then):
                        // the board publishes every status again on each connection anyway.
                        if !m.retained && guard.foreign(&m.topic, &m.payload) {
                            self.spoofed(&client, &mut f, &m.topic);
                        }
                    }
                    Ok(Ev::Message(m)) => intake.push(m, &to_router, &self.metrics),
                    Ok(Ev::Disconnected | Ev::Other) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, host = %broker.host, port = broker.port, unacknowledged = f.in_flight(), "MQTT connection lost; reconnecting, unacknowledged messages will be published again");
                        self.left(remove_tx, &mut acked, path).await;
                        return End::Lost { connected };
                    }
                },
                _ = tokio::time::sleep_until(answer_by), if !connected => {
                    tracing::warn!(host = %broker.host, port = broker.port, timeout = ?self.settings.connect_timeout, "the MQTT broker did not accept the connection in time; trying the next");
                    self.left(remove_tx, &mut acked, path).await;
                    return End::Lost { connected };
                }
                _ = async { if let Some(b) = back.as_mut() { b.await } }, if back.is_some() => {
                    tracing::info!(host = %broker.host, port = broker.port, "the first broker answers again: moving back to it (return_to_first)");
                    leave(&client, &mut events).await;
                    self.left(remove_tx, &mut acked, path).await;
                    return End::BackToFirst;
                }
                permit = to_router.reserve(), if intake.waiting() => {
                    if let Ok(p) = permit {
                        intake.pass(p);
                    }
                }
                _ = self.wake.notified() => f.more = true,
                _ = self.board.changed.notified() => {}
                d = self.direct.recv(), if connected && held.is_none() && f.in_flight() < max + 64 => {
                    held = d;
                }
                b = self.batches.recv(), if take => match b {
                    Some(b) => path.next = Some(b),
                    None => path.sessions_done = true,
                },
                _ = tick.tick(), if path.pipeline.batches() > 0 || path.next.is_some() || path.stopping.is_some() => {}
                _ = shutdown.changed(), if path.stopping.is_none() => path.stopping = Some(Instant::now()),
            }
        }
    }

    /// The connection ended without shutdown: acknowledged (or refused) store entries leave
    /// the store, what is in memory goes to it (published again on the next connection).
    async fn left(
        &mut self,
        remove_tx: &mpsc::Sender<Vec<u64>>,
        acked: &mut Vec<u64>,
        path: &mut Path,
    ) {
        if !acked.is_empty() {
            let _ = remove_tx.send(std::mem::take(acked)).await;
        }
        self.spill_all(path).await;
    }

    /// Releases the ASDUs whose messages the broker acknowledged (in order); batches waiting
    /// longer than `spill_after` go to the store.
    async fn release_or_spill(&mut self, path: &mut Path) {
        path.pipeline.released(&mut path.releases);
        for release in path.releases.drain(..) {
            release.release();
        }
        if path.pipeline.overdue(Instant::now()) {
            tracing::info!(
                waiting = path.pipeline.waiting(),
                batches = path.pipeline.batches(),
                "messages not acknowledged within spill_after: writing them to the store"
            );
            self.spill_all(path).await;
        }
    }

    /// Disk mode: publishes from the store; once the store is drained (everything sent to the
    /// writer committed, nothing from the store in flight, one more read empty), back to memory.
    fn publish_from_store(
        &self,
        client: &Client,
        f: &mut Flight,
        acked: &mut Vec<u64>,
        path: &mut Path,
        max: usize,
    ) {
        let settled = f.stored == 0 && path.forwarded == self.committed.load(Ordering::SeqCst);
        if settled {
            f.more = true;
        }
        self.fill(client, f, acked, max);
        if settled && !f.more && f.stored == 0 && path.stopping.is_none() {
            tracing::debug!("store drained: publishing from memory");
            path.pipeline.drained();
        }
    }

    /// Publishes what changed on the status board since the last turn (a status the client
    /// cannot take yet is published on a later turn).
    fn publish_board(
        &self,
        client: &Client,
        f: &mut Flight,
        seen_status: &mut crate::model::Seen,
        board_version: &mut Option<u64>,
        guard: &mut guard::Guard,
    ) {
        let version = self.board.version();
        if *board_version == Some(version) {
            return;
        }
        // Only what the client's request queue has room for (statuses it refused were
        // tried again on every turn, thousands of them at 3,000 RTUs); the rest on the next
        // turns, which the PUBACKs bring.
        let room = (usize::from(self.settings.max_inflight) + STATUS_ROOM)
            .saturating_sub(f.in_flight())
            .min(STATUS_ROOM);
        let changed = self.board.changed_since_at_most(seen_status, room);
        *board_version = (changed.len() < room).then_some(version);
        for m in changed {
            let topic = m.topic.clone();
            if topic.ends_with("/status") {
                guard.published(&topic, &m.payload);
            }
            if client.publish(m.topic, m.qos, m.retain, m.payload, None) {
                f.unassigned.push_back(Tag::Other);
            } else {
                // Request channel full: publish this status on a later turn.
                seen_status.again(topic);
                *board_version = None;
            }
        }
    }

    /// Connected: our online presence (unless the status board keeps it) and the
    /// subscriptions.
    fn on_connack(
        &self,
        client: &Client,
        f: &mut Flight,
        guard: &mut guard::Guard,
        broker: &crate::config::Broker,
    ) {
        tracing::info!(v5 = self.settings.v5, host = %broker.host, port = broker.port, "connected to the MQTT broker");
        self.metrics.set_mqtt(true);
        let s = &self.settings;
        if !s.presence.0.is_empty() {
            guard.published(&s.presence_topic, s.presence.0.as_bytes());
            let payload = s.presence.0.clone().into_bytes();
            if client.publish(s.presence_topic.clone(), 1, true, payload, None) {
                f.unassigned.push_back(Tag::Other);
            }
        }
        for sub in &s.subscriptions {
            client.subscribe(sub.clone());
        }
    }

    /// A PUBACK: a stored message leaves the store, a memory one counts for its batch.
    fn on_puback(
        &self,
        f: &mut Flight,
        acked: &mut Vec<u64>,
        path: &mut Path,
        pkid: u16,
        refused: Option<String>,
    ) {
        let tag = f.on_puback(pkid);
        if let Some(reason) = refused {
            tracing::warn!(%reason, "the broker refused a publication; it is dropped, not retried");
        }
        match tag {
            Some(Tag::Stored(id, at)) => {
                f.stored = f.stored.saturating_sub(1);
                acked.push(id);
                self.metrics.published(at.elapsed());
            }
            Some(Tag::Memory(seq, idx, at)) if path.pipeline.acked(seq, idx) => {
                self.metrics.published(at.elapsed());
            }
            _ => {}
        }
    }

    /// Publishes the final statuses, then the offline presence (retained), and disconnects
    /// once the broker acknowledged the presence, within 2 s.
    async fn goodbye(
        &self,
        client: &Client,
        events: &mut mpsc::Receiver<Result<Ev, String>>,
        seen_status: &mut crate::model::Seen,
        f: &Flight,
    ) {
        let s = &self.settings;
        // Publications are written in order: the final statuses reach the broker before the
        // offline presence. The goodbye's packet id comes with the Sent event after those of
        // everything handed over before it.
        let mut before = f.unassigned.len() + usize::from(f.parked.is_some_and(|p| !p.written));
        for m in self.board.changed_since(seen_status) {
            if client.publish(m.topic, m.qos, m.retain, m.payload, None) {
                before += 1;
            }
        }
        client::last_word(client, events, &s.presence_topic, &s.presence.1, before).await;
    }
}

/// Removes acknowledged entries from the store in batches.
async fn remover(store: Arc<Store>, mut rx: mpsc::Receiver<Vec<u64>>, metrics: Arc<Metrics>) {
    while let Some(mut ids) = rx.recv().await {
        while let Ok(more) = rx.try_recv() {
            ids.extend(more);
        }
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.remove(&ids)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot remove acknowledged messages (they will be published again)")
            }
            Err(e) => tracing::error!(error = %e, "store task failed"),
        }
        metrics.set_queue(store.len(), store.dropped());
    }
}

/// A held command result, published when the client takes it; otherwise still held (a
/// result is never dropped).
fn publish_held(client: &Client, f: &mut Flight, held: Option<Direct>) -> Option<Direct> {
    let Direct {
        message: m,
        correlation,
    } = held?;
    let taken = client.publish(
        m.topic.clone(),
        m.qos,
        m.retain,
        m.payload.clone(),
        correlation.clone(),
    );
    if taken {
        f.unassigned.push_back(Tag::Other);
        None
    } else {
        Some(Direct {
            message: m,
            correlation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Message;

    fn memory(seq: u64, at: Instant) -> Tag {
        Tag::Memory(seq, 0, at)
    }

    fn seq_of(t: Option<Tag>) -> Option<u64> {
        match t {
            Some(Tag::Memory(seq, _, _)) => Some(seq),
            _ => None,
        }
    }

    /// rumqttc (0.24, v4 and v5 `state.rs`) assigns packet ids 1..=inflight in turn. When the
    /// next id is still in flight (the broker acknowledged out of order), the publication is
    /// parked: `Outgoing::AwaitAck(pkid)`, and no `Outgoing::Publish`. When the PUBACK of that
    /// id comes, `handle_incoming_puback` writes the parked publication and pushes its
    /// `Outgoing::Publish(pkid)` BEFORE `handle_incoming_packet` pushes the
    /// `Incoming::PubAck(pkid)` of the older one. The PUBACK must still count for the older
    /// publication, and the parked one only for the next PUBACK of that id.
    #[test]
    fn a_pkid_collision_does_not_acknowledge_the_parked_publication() {
        let t = Instant::now();
        let mut f = Flight::new();
        // A, B handed over; the client's in-flight window is 2 packet ids.
        f.unassigned.push_back(memory(1, t));
        f.unassigned.push_back(memory(2, t));
        f.on_sent(1);
        f.on_sent(2);
        // The broker acknowledges B first.
        assert_eq!(seq_of(f.on_puback(2)), Some(2));
        // C gets the next id, 1, still held by A: parked.
        f.unassigned.push_back(memory(3, t));
        f.on_collision(1);
        assert_eq!(f.in_flight(), 2, "A in flight and C parked");
        // A's PUBACK arrives: rumqttc reports C written with id 1, then A's PUBACK.
        f.on_sent(1);
        assert_eq!(
            seq_of(f.on_puback(1)),
            Some(1),
            "the PUBACK is A's: C is not acknowledged yet"
        );
        assert_eq!(f.in_flight(), 1, "C in flight");
        assert_eq!(seq_of(f.on_puback(1)), Some(3), "C's own PUBACK");
        assert_eq!(f.in_flight(), 0);
    }

    /// A batch can wait up to `spill_after` for in-flight room before it is published from
    /// memory; its deadline must still count from its receipt, or the RTU waits up to twice
    /// `spill_after` (plus a commit) for the acknowledgement, which the configuration check
    /// (`spill_after` < t1 / 2) does not keep below t1.
    #[tokio::test]
    async fn a_batch_published_after_waiting_for_room_is_due_spill_after_after_its_receipt() {
        let settings = MqttSettings {
            brokers: vec![crate::config::Broker {
                host: "127.0.0.1".into(),
                port: 1,
                tls: false,
            }],
            connect_timeout: Duration::from_secs(5),
            return_check: None,
            v5: false,
            tls: None,
            client_auth: None,
            client_id: "t".into(),
            credentials: None,
            keep_alive: Duration::from_secs(30),
            max_inflight: 8,
            presence_topic: "p".into(),
            presence: ("on".into(), "off".into()),
            subscriptions: Vec::new(),
            cluster_node: None,
        };
        // The event loop is never polled: publications only go into the request channel.
        let (tx, _rx) = mpsc::channel(1);
        let (client, _poller) = client::start(&settings, &settings.brokers[0], 64, tx);
        let spill_after = Duration::from_secs(1);
        let mut path = Path {
            pipeline: Pipeline::new(8, 8, spill_after),
            forwarded: 0,
            sessions_done: false,
            stopping: None,
            releases: Vec::new(),
            next: None,
        };
        path.pipeline.drained();
        let mut f = Flight::new();
        let message = Message {
            topic: "t/1".into(),
            payload: b"1".to_vec(),
            qos: 1,
            retain: false,
        };
        let mut b = Batch::new(vec![message], None);
        // Received 900 ms ago (it waited for room).
        let received = b.at.checked_sub(Duration::from_millis(900)).unwrap();
        b.at = received;
        assert!(Publisher::publish_batch(&client, &mut f, &mut path, b));
        assert_eq!(path.pipeline.next_deadline(), Some(received + spill_after));
        assert!(path.pipeline.overdue(received + spill_after));
    }

    /// rumqttc 0.25 reports the PUBACK that frees a parked publication's id BEFORE the
    /// parked publication's `Outgoing::Publish` (`handle_incoming_packet` pushes the incoming
    /// event first, then `handle_incoming_puback` writes the parked one).
    #[test]
    fn a_collision_reported_puback_first_is_paired_too() {
        let t = Instant::now();
        let mut f = Flight::new();
        f.unassigned.push_back(memory(1, t));
        f.unassigned.push_back(memory(2, t));
        f.on_sent(1);
        f.on_sent(2);
        assert_eq!(seq_of(f.on_puback(2)), Some(2));
        f.unassigned.push_back(memory(3, t));
        f.on_collision(1);
        assert_eq!(seq_of(f.on_puback(1)), Some(1), "A's PUBACK, not C's");
        assert_eq!(f.in_flight(), 1, "C parked, its write reported next");
        f.on_sent(1);
        assert_eq!(f.in_flight(), 1, "C in flight");
        assert_eq!(seq_of(f.on_puback(1)), Some(3), "C's own PUBACK");
        assert_eq!(f.in_flight(), 0);
    }

    #[test]
    fn a_collision_behind_an_untracked_publication_is_paired_too() {
        let t = Instant::now();
        let mut f = Flight::new();
        // A status (untracked, QoS 1) holds id 1 when the data message collides with it.
        f.unassigned.push_back(Tag::Other);
        f.on_sent(1);
        f.unassigned.push_back(memory(5, t));
        f.on_collision(1);
        f.on_sent(1);
        assert_eq!(seq_of(f.on_puback(1)), None, "the status's PUBACK");
        assert_eq!(seq_of(f.on_puback(1)), Some(5));
    }
}

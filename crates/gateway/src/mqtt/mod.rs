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
pub mod pipeline;
pub mod status;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, watch, Notify};

use crate::metrics::Metrics;
use crate::store::writer::Batch;
use crate::store::{Message, Store};
use client::{Client, Ev};
use pipeline::{Mode, Pipeline};
use status::StatusBoard;

/// Broker connection settings.
#[derive(Debug, Clone)]
pub struct MqttSettings {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// MQTT 5 (else 3.1.1).
    pub v5: bool,
    /// TLS with these CA certificates (PEM) when set.
    pub tls: Option<Vec<u8>>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub client_auth: Option<(Vec<u8>, Vec<u8>)>,
    /// Client id.
    pub client_id: String,
    /// Credentials.
    pub credentials: Option<(String, String)>,
    /// Keep-alive.
    pub keep_alive: Duration,
    /// Data messages in flight (published, not yet PUBACKed) at most.
    pub max_inflight: u16,
    /// Presence topic (`{prefix}/_gateway/{node}`).
    pub presence_topic: String,
    /// Presence payloads: online (empty: not published here), offline (the last will and the
    /// goodbye).
    pub presence: (String, String),
    /// Topic filters to subscribe to (commands).
    pub subscriptions: Vec<String>,
}

/// A message received from the broker (a command).
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: Bytes,
    /// MQTT v5 response topic, when the sender gave one.
    pub response_topic: Option<String>,
    /// MQTT v5 correlation data, when the sender gave it.
    pub correlation: Option<Bytes>,
}

/// A message published without storing (a command result), with its MQTT v5 correlation data.
#[derive(Debug, Clone)]
pub struct Direct {
    /// The message.
    pub message: Message,
    /// Correlation data to echo (MQTT v5).
    pub correlation: Option<Bytes>,
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

/// What releases an I-frame.
type Release = (iec104::client::Client, iec104::ReceiveToken);

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
            cursor: 0,
            more: true,
            stored: 0,
        }
    }

    fn in_flight(&self) -> usize {
        self.unassigned.len() + self.sent.len()
    }
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
        let mut backoff = Duration::from_millis(200);
        loop {
            let (done, was_connected) = self.connection(&remove_tx, &mut path, &mut shutdown).await;
            self.metrics.set_mqtt(false);
            if done {
                break;
            }
            if was_connected {
                backoff = Duration::from_millis(200);
            }
            let jitter = Duration::from_millis(fastrand::u64(0..=backoff.as_millis() as u64 / 4));
            let until = tokio::time::Instant::now() + backoff + jitter;
            // No broker: batches go to disk meanwhile.
            loop {
                if let Some(since) = path.stopping {
                    if path.sessions_done || since.elapsed() >= SESSIONS_GRACE {
                        break;
                    }
                }
                let room = self.spill.as_ref().is_some_and(|s| s.capacity() > 0);
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => break,
                    _ = shutdown.changed(), if path.stopping.is_none() => path.stopping = Some(Instant::now()),
                    b = self.batches.recv(), if room && !path.sessions_done => match b {
                        Some(b) => self.send_to_disk(&mut path, b).await,
                        None => path.sessions_done = true,
                    },
                    _ = tokio::time::sleep(Duration::from_millis(100)), if path.stopping.is_some() => {}
                }
            }
            if let Some(since) = path.stopping {
                if path.sessions_done || since.elapsed() >= SESSIONS_GRACE {
                    break;
                }
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
        self.spill_all(&mut path).await;
        // The writer finishes what it holds once its last sender is gone.
        self.spill = None;
        drop(remove_tx);
        let _ = remover.await;
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
            if !self.publish_batch(client, f, path, b) {
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
    fn publish_batch(&self, client: &Client, f: &mut Flight, path: &mut Path, b: Batch) -> bool {
        let n = b.messages.len();
        let now = Instant::now();
        let seq = path.pipeline.admit(b.messages, b.release, now);
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

    /// One broker connection: (ended because of shutdown, had been connected).
    async fn connection(
        &mut self,
        remove_tx: &mpsc::Sender<Vec<u64>>,
        path: &mut Path,
        shutdown: &mut watch::Receiver<bool>,
    ) -> (bool, bool) {
        let max = usize::from(self.settings.max_inflight);
        let (ev_tx, mut events) = mpsc::channel(1024);
        let (client, poller) = client::start(&self.settings, max + 256, ev_tx);
        let _poller = AbortOnDrop(tokio::spawn(poller));
        let mut f = Flight::new();
        let mut connected = false;
        let mut seen_status = BTreeMap::new();
        let mut board_version = None;
        let mut acked: Vec<u64> = Vec::new();
        let mut tick = tokio::time::interval((self.spill_after / 4).max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if connected {
                // Status first (small, retained), then the store in order.
                let version = self.board.version();
                if board_version != Some(version) {
                    board_version = Some(version);
                    for m in self.board.changed_since(&mut seen_status) {
                        let topic = m.topic.clone();
                        if client.publish(m.topic, m.qos, m.retain, m.payload, None) {
                            f.unassigned.push_back(Tag::Other);
                        } else {
                            // Request channel full: publish this status on a later turn.
                            seen_status.remove(&topic);
                            board_version = None;
                        }
                    }
                }
                if path.pipeline.mode() == Mode::Disk {
                    // Everything sent to the writer is committed and nothing from the store
                    // is in flight: one more read tells whether the store is drained.
                    let settled =
                        f.stored == 0 && path.forwarded == self.committed.load(Ordering::SeqCst);
                    if settled {
                        f.more = true;
                    }
                    self.fill(&client, &mut f, &mut acked, max);
                    if settled && !f.more && f.stored == 0 && path.stopping.is_none() {
                        tracing::debug!("store drained: publishing from memory");
                        path.pipeline.drained();
                    }
                }
                if !acked.is_empty() {
                    let ids = std::mem::take(&mut acked);
                    if remove_tx.send(ids).await.is_err() {
                        return (true, connected);
                    }
                }
            }
            path.pipeline.released(&mut path.releases);
            for (rtu, token) in path.releases.drain(..) {
                rtu.release(token);
            }
            if path.pipeline.overdue(Instant::now()) {
                tracing::info!(
                    waiting = path.pipeline.waiting(),
                    batches = path.pipeline.batches(),
                    "messages not acknowledged within spill_after: writing them to the store"
                );
                self.spill_all(path).await;
            }
            if let Some(since) = path.stopping {
                let sessions_over = path.sessions_done || since.elapsed() >= SESSIONS_GRACE;
                let acks_over = path.pipeline.waiting() == 0
                    || !connected
                    || since.elapsed() >= SESSIONS_GRACE + ACK_GRACE;
                if sessions_over && acks_over {
                    // What the broker has not acknowledged goes to the store.
                    self.spill_all(path).await;
                    if connected {
                        self.goodbye(&client, &mut events, &mut seen_status, &f)
                            .await;
                    }
                    return (true, connected);
                }
            }
            self.place(&client, &mut f, path, connected).await;
            let take = !path.sessions_done && path.next.is_none();
            tokio::select! {
                ev = events.recv() => match ev.unwrap_or_else(|| Err("event loop ended".into())) {
                    Ok(Ev::ConnAck) => {
                        tracing::info!(v5 = self.settings.v5, "connected to the MQTT broker");
                        connected = true;
                        self.metrics.set_mqtt(true);
                        let s = &self.settings;
                        // An empty online presence: someone else keeps it on the status board.
                        if !s.presence.0.is_empty() && client.publish(s.presence_topic.clone(), 1, true, s.presence.0.clone().into_bytes(), None) {
                            f.unassigned.push_back(Tag::Other);
                        }
                        for sub in &s.subscriptions {
                            client.subscribe(sub.clone());
                        }
                    }
                    Ok(Ev::Sent(pkid)) => {
                        if let Some(tag) = f.unassigned.pop_front() {
                            if !matches!(tag, Tag::Other) {
                                f.sent.insert(pkid, tag);
                            }
                        }
                    }
                    Ok(Ev::PubAck(pkid, refused)) => {
                        if let Some(reason) = refused {
                            tracing::warn!(%reason, "the broker refused a publication; it is not retried");
                        }
                        match f.sent.remove(&pkid) {
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
                    Ok(Ev::Message(m)) => {
                        let topic = m.topic.clone();
                        if self.incoming.try_send(m).is_err() {
                            tracing::warn!(%topic, "command queue full: command dropped");
                        }
                    }
                    Ok(Ev::Disconnected | Ev::Other) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, unacknowledged = f.in_flight(), "MQTT connection lost; reconnecting, unacknowledged messages will be published again");
                        self.spill_all(path).await;
                        return (false, connected);
                    }
                },
                _ = self.wake.notified() => f.more = true,
                _ = self.board.changed.notified() => {}
                d = self.direct.recv(), if connected && f.in_flight() < max + 64 => {
                    if let Some(Direct { message: m, correlation }) = d {
                        if client.publish(m.topic, m.qos, m.retain, m.payload, correlation) {
                            f.unassigned.push_back(Tag::Other);
                        }
                    }
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

    /// Publishes the final statuses, then the offline presence (retained), and disconnects
    /// once the broker acknowledged the presence, within 2 s.
    async fn goodbye(
        &self,
        client: &Client,
        events: &mut mpsc::Receiver<Result<Ev, String>>,
        seen_status: &mut BTreeMap<String, u64>,
        f: &Flight,
    ) {
        let s = &self.settings;
        // Publications are written in order: the final statuses reach the broker before the
        // offline presence. The goodbye's packet id comes with the Sent event after those of
        // everything handed over before it.
        let mut before = f.unassigned.len();
        for m in self.board.changed_since(seen_status) {
            if client.publish(m.topic, m.qos, m.retain, m.payload, None) {
                before += 1;
            }
        }
        let said = client.publish(
            s.presence_topic.clone(),
            1,
            true,
            s.presence.1.clone().into_bytes(),
            None,
        );
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let mut goodbye = None;
            let mut disconnecting = !said && client.disconnect();
            loop {
                match events.recv().await {
                    Some(Ok(Ev::Sent(pkid))) if said && goodbye.is_none() => {
                        if before == 0 {
                            goodbye = Some(pkid);
                        } else {
                            before -= 1;
                        }
                    }
                    Some(Ok(Ev::PubAck(pkid, _))) if !disconnecting && goodbye == Some(pkid) => {
                        disconnecting = client.disconnect()
                    }
                    Some(Ok(Ev::Disconnected)) | Some(Err(_)) | None => return,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await;
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

//! The MQTT side: one publisher task owns the broker connection. It publishes the store's
//! messages in order with QoS 1 and removes each only when its PUBACK arrived, publishes the
//! status board and command results, and hands command messages to the command router.
//!
//! rumqttc's `publish` does not return the packet id: the publisher pairs its publications, in
//! order, with the `Outgoing::Publish(pkid)` events of the event loop, then PUBACKs by pkid.
//! rumqttc keeps its in-flight state only in memory, so after any connection error the
//! client and event loop are thrown away and a fresh pair republishes everything not yet
//! acknowledged from the store (at-least-once). MQTT 5 (default) or 3.1.1 (`mqtt.version`).

pub mod client;
pub mod status;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, watch, Notify};

use crate::metrics::Metrics;
use crate::store::{Message, Store};
use client::{Client, Ev};
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
    /// Store messages in flight at most.
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
}

/// One broker connection's bookkeeping.
struct Flight {
    /// Publications handed to the client, waiting for their `Outgoing::Publish` event:
    /// a store id and when it was handed over (None for messages not from the store).
    unassigned: VecDeque<Option<(u64, Instant)>>,
    /// Store publications sent, by packet id.
    sent: HashMap<u16, (u64, Instant)>,
    /// Highest store id handed to the client.
    cursor: u64,
    /// The store may hold entries after `cursor`.
    more: bool,
}

impl Flight {
    fn new() -> Flight {
        Flight {
            unassigned: VecDeque::new(),
            sent: HashMap::new(),
            cursor: 0,
            more: true,
        }
    }

    fn in_flight(&self) -> usize {
        self.unassigned.len() + self.sent.len()
    }
}

/// Aborts the task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Publisher {
    /// Runs until `shutdown` turns true; then publishes the offline presence and disconnects.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let (remove_tx, remove_rx) = mpsc::channel::<Vec<u64>>(64);
        let remover = tokio::spawn(remover(self.store.clone(), remove_rx, self.metrics.clone()));
        let mut backoff = Duration::from_millis(200);
        loop {
            if *shutdown.borrow() {
                break;
            }
            let (done, was_connected) = self.connection(&remove_tx, &mut shutdown).await;
            self.metrics.set_mqtt(false);
            if done {
                break;
            }
            if was_connected {
                backoff = Duration::from_millis(200);
            }
            let jitter = Duration::from_millis(fastrand::u64(0..=backoff.as_millis() as u64 / 4));
            tokio::select! {
                _ = tokio::time::sleep(backoff + jitter) => {}
                _ = shutdown.changed() => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
        drop(remove_tx);
        let _ = remover.await;
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
                            f.unassigned.push_back(None);
                            acked.push(id);
                        } else {
                            f.unassigned.push_back(Some((id, Instant::now())));
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
        shutdown: &mut watch::Receiver<bool>,
    ) -> (bool, bool) {
        let max = usize::from(self.settings.max_inflight);
        let (ev_tx, mut events) = mpsc::channel(1024);
        let (client, poller) = client::start(&self.settings, max + 256, ev_tx);
        let _poller = AbortOnDrop(tokio::spawn(poller));
        let mut f = Flight::new();
        let mut connected = false;
        let mut seen_status = BTreeMap::new();
        let mut acked: Vec<u64> = Vec::new();
        loop {
            if connected {
                // Status first (small, retained), then the store in order.
                for m in self.board.changed_since(&mut seen_status) {
                    let topic = m.topic.clone();
                    if client.publish(m.topic, m.qos, m.retain, m.payload, None) {
                        f.unassigned.push_back(None);
                    } else {
                        // Request channel full: publish this status on a later turn.
                        seen_status.remove(&topic);
                    }
                }
                self.fill(&client, &mut f, &mut acked, max);
                if !acked.is_empty() {
                    let ids = std::mem::take(&mut acked);
                    if remove_tx.send(ids).await.is_err() {
                        return (true, connected);
                    }
                }
            }
            tokio::select! {
                ev = events.recv() => match ev.unwrap_or_else(|| Err("event loop ended".into())) {
                    Ok(Ev::ConnAck) => {
                        tracing::info!(v5 = self.settings.v5, "connected to the MQTT broker");
                        connected = true;
                        self.metrics.set_mqtt(true);
                        let s = &self.settings;
                        // An empty online presence: someone else keeps it on the status board.
                        if !s.presence.0.is_empty() && client.publish(s.presence_topic.clone(), 1, true, s.presence.0.clone().into_bytes(), None) {
                            f.unassigned.push_back(None);
                        }
                        for sub in &s.subscriptions {
                            client.subscribe(sub.clone());
                        }
                    }
                    Ok(Ev::Sent(pkid)) => {
                        if let Some(Some(entry)) = f.unassigned.pop_front() {
                            f.sent.insert(pkid, entry);
                        }
                    }
                    Ok(Ev::PubAck(pkid, refused)) => {
                        if let Some(reason) = refused {
                            tracing::warn!(%reason, "the broker refused a publication; it is not retried");
                        }
                        if let Some((id, at)) = f.sent.remove(&pkid) {
                            acked.push(id);
                            self.metrics.published(at.elapsed());
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
                        return (false, connected);
                    }
                },
                _ = self.wake.notified() => f.more = true,
                _ = self.board.changed.notified() => {}
                d = self.direct.recv(), if connected && f.in_flight() < max + 64 => {
                    if let Some(Direct { message: m, correlation }) = d {
                        if client.publish(m.topic, m.qos, m.retain, m.payload, correlation) {
                            f.unassigned.push_back(None);
                        }
                    }
                }
                _ = shutdown.changed() => {
                    if connected {
                        self.goodbye(&client, &mut events).await;
                    }
                    return (true, connected);
                }
            }
        }
    }

    /// Publishes the offline presence (retained) and disconnects, within 2 s.
    async fn goodbye(&self, client: &Client, events: &mut mpsc::Receiver<Result<Ev, String>>) {
        let s = &self.settings;
        let _ = client.publish(
            s.presence_topic.clone(),
            1,
            true,
            s.presence.1.clone().into_bytes(),
            None,
        );
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let mut disconnecting = false;
            loop {
                match events.recv().await {
                    Some(Ok(Ev::PubAck(..))) if !disconnecting => {
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

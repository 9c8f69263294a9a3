//! The MQTT side: one publisher task owns the broker connection. It publishes the store's
//! messages in order with QoS 1 and removes each only when its PUBACK arrived, publishes the
//! status board and command results, and hands command messages to the command router.
//!
//! rumqttc's `publish` does not return the packet id: the publisher pairs its publications, in
//! order, with the `Outgoing::Publish(pkid)` events of the event loop, then PUBACKs by pkid.
//! rumqttc keeps its in-flight state only in memory, so after any connection error the
//! client and event loop are thrown away and a fresh pair republishes everything not yet
//! acknowledged from the store (at-least-once).

pub mod status;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::{mpsc, watch, Notify};

use crate::metrics::Metrics;
use crate::store::{Message, Store};
use status::StatusBoard;

/// Broker connection settings.
#[derive(Debug, Clone)]
pub struct MqttSettings {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
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
    /// Presence payloads: online, offline.
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
    pub payload: bytes::Bytes,
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
    pub direct: mpsc::Receiver<Message>,
    /// Commands received.
    pub incoming: mpsc::Sender<Incoming>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

fn qos(q: u8) -> QoS {
    if q == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    }
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

impl Publisher {
    fn options(&self) -> MqttOptions {
        let s = &self.settings;
        let mut o = MqttOptions::new(s.client_id.clone(), s.host.clone(), s.port);
        o.set_keep_alive(s.keep_alive);
        o.set_clean_session(true);
        // Twice our own bound so pkids do not collide while the broker acks in order.
        o.set_inflight(s.max_inflight.saturating_mul(2).max(16));
        o.set_max_packet_size(1 << 20, 1 << 20);
        o.set_last_will(LastWill::new(
            s.presence_topic.clone(),
            s.presence.1.clone(),
            QoS::AtLeastOnce,
            true,
        ));
        if let Some((u, p)) = &s.credentials {
            o.set_credentials(u.clone(), p.clone());
        }
        o
    }

    /// Runs until `shutdown` turns true; then publishes the offline presence and disconnects.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let (remove_tx, remove_rx) = mpsc::channel::<Vec<u64>>(64);
        let remover = tokio::spawn(remover(self.store.clone(), remove_rx, self.metrics.clone()));
        let mut backoff = Duration::from_millis(200);
        loop {
            if *shutdown.borrow() {
                break;
            }
            let done = self.connection(&remove_tx, &mut shutdown).await;
            self.metrics.set_mqtt(false);
            if done {
                break;
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

    /// One broker connection; true when it ended because of shutdown.
    async fn connection(
        &mut self,
        remove_tx: &mpsc::Sender<Vec<u64>>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let max = usize::from(self.settings.max_inflight);
        let (client, mut el) = AsyncClient::new(self.options(), max + 256);
        // rumqttc's poll() is not cancel-safe while connecting (a dropped poll drops the
        // half-open connection: the broker then publishes our last will). It runs in its own
        // task and hands its events over a channel, so the select below never cancels it.
        let (ev_tx, mut events) = mpsc::channel(1024);
        let poller = tokio::spawn(async move {
            loop {
                let ev = el.poll().await;
                let failed = ev.is_err();
                if ev_tx.send(ev).await.is_err() || failed {
                    return;
                }
            }
        });
        let _abort = AbortOnDrop(poller);
        let mut f = Flight::new();
        let mut connected = false;
        let mut seen_status = BTreeMap::new();
        let mut acked: Vec<u64> = Vec::new();
        loop {
            if connected {
                // Status first (small, retained), then the store in order.
                for m in self.board.changed_since(&mut seen_status) {
                    if client
                        .try_publish(m.topic, qos(m.qos), m.retain, m.payload)
                        .is_ok()
                    {
                        f.unassigned.push_back(None);
                    }
                }
                while f.more && f.in_flight() < max {
                    let want = (max - f.in_flight()).min(256);
                    let entries = match self.store.read_after(f.cursor, want) {
                        Ok(e) => e,
                        Err(e) => {
                            tracing::error!(error = %e, "cannot read the store");
                            break;
                        }
                    };
                    if entries.len() < want {
                        f.more = false;
                    }
                    for (id, m) in entries {
                        f.cursor = id;
                        match m {
                            Ok(m) => {
                                if client
                                    .try_publish(m.topic, qos(m.qos), m.retain, m.payload)
                                    .is_err()
                                {
                                    // Channel full: read again from here later.
                                    f.cursor = id - 1;
                                    f.more = true;
                                    break;
                                }
                                if m.qos == 0 {
                                    f.unassigned.push_back(None);
                                    acked.push(id);
                                } else {
                                    f.unassigned.push_back(Some((id, Instant::now())));
                                }
                            }
                            Err(e) => {
                                tracing::error!(id, error = %e, "dropping an unreadable stored message");
                                acked.push(id);
                            }
                        }
                    }
                }
                if !acked.is_empty() {
                    let ids = std::mem::take(&mut acked);
                    if remove_tx.send(ids).await.is_err() {
                        return true;
                    }
                }
            }
            tokio::select! {
                ev = events.recv() => match ev.unwrap_or(Err(rumqttc::ConnectionError::RequestsDone)) {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        tracing::info!(code = ?ack.code, "connected to the MQTT broker");
                        connected = true;
                        self.metrics.set_mqtt(true);
                        let _ = client.try_publish(
                            self.settings.presence_topic.clone(),
                            QoS::AtLeastOnce,
                            true,
                            self.settings.presence.0.clone(),
                        );
                        f.unassigned.push_back(None);
                        for s in &self.settings.subscriptions {
                            let _ = client.try_subscribe(s.clone(), QoS::AtLeastOnce);
                        }
                    }
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                        if let Some(Some(entry)) = f.unassigned.pop_front() {
                            f.sent.insert(pkid, entry);
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(ack))) => {
                        if let Some((id, at)) = f.sent.remove(&ack.pkid) {
                            acked.push(id);
                            self.metrics.published(at.elapsed());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let m = Incoming { topic: p.topic.clone(), payload: p.payload.clone() };
                        if self.incoming.try_send(m).is_err() {
                            tracing::warn!(topic = %p.topic, "command queue full: command dropped");
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, unacknowledged = f.in_flight(), "MQTT connection lost; reconnecting, unacknowledged messages will be published again");
                        return false;
                    }
                },
                _ = self.wake.notified() => f.more = true,
                _ = self.board.changed.notified() => {}
                m = self.direct.recv(), if connected && f.in_flight() < max + 64 => {
                    if let Some(m) = m {
                        if client.try_publish(m.topic, qos(m.qos), m.retain, m.payload).is_ok() {
                            f.unassigned.push_back(None);
                        }
                    }
                }
                _ = shutdown.changed() => {
                    if connected {
                        self.goodbye(&client, &mut events).await;
                    }
                    return true;
                }
            }
        }
    }

    /// Publishes the offline presence (retained) and disconnects, within 2 s.
    async fn goodbye(
        &self,
        client: &AsyncClient,
        events: &mut mpsc::Receiver<Result<Event, rumqttc::ConnectionError>>,
    ) {
        let _ = client.try_publish(
            self.settings.presence_topic.clone(),
            QoS::AtLeastOnce,
            true,
            self.settings.presence.1.clone(),
        );
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let mut disconnecting = false;
            loop {
                match events.recv().await {
                    Some(Ok(Event::Incoming(Packet::PubAck(_)))) if !disconnecting => {
                        disconnecting = client.try_disconnect().is_ok();
                    }
                    Some(Ok(Event::Outgoing(Outgoing::Disconnect))) | Some(Err(_)) | None => return,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await;
    }
}

/// Aborts the task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
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

//! The coordination connection of a cluster node: a broker connection of its own, apart from
//! the data path, that carries only the cluster's topics — our retained presence (its last
//! will is our offline presence), beats, deltas, snapshots and snapshot requests — so that
//! the failure detector never waits behind RTU data and statuses, and its keep-alive never
//! starves under load (issue #11). Same brokers, order, TLS, credentials and rotation as the
//! data connection (see docs/failover.md, "Connections and fencing").
//!
//! Nothing here is stored: a message the full request queue refuses is lost (a missed delta
//! shows as a gap and is repaired by a snapshot; beats are periodic). The presence is a board
//! entry: published again on every connection, as the echo that syncs the cluster task needs.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::client::{self, Client, Ev};
use super::rotation::{Backoff, Next, Rotation};
use super::{return_probe, AbortOnDrop, MqttSettings};
use crate::model::{Direct, Incoming, Metrics, StatusBoard};

/// Requests the client queues at most (beats, deltas, snapshots, the presence).
const REQUESTS: usize = 256;

/// The coordination connection's task.
pub struct Coordination {
    /// Broker connection settings: the data connection's, with our own client id and
    /// keep-alive, the cluster presence as last will and the cluster subscriptions.
    pub settings: MqttSettings,
    /// Our retained presence (the only entry), published again on every connection.
    pub board: Arc<StatusBoard>,
    /// Beats, deltas, snapshots and requests from the cluster task; when it is closed (the
    /// cluster task ended) the offline presence goes out and the connection ends.
    pub outgoing: mpsc::Receiver<Direct>,
    /// Every message of the cluster subscriptions, to the cluster task.
    pub incoming: mpsc::Sender<Incoming>,
    /// The connection state ([`Metrics::set_coordination`]).
    pub metrics: Arc<Metrics>,
}

/// How one connection ended.
enum End {
    /// The cluster task ended: the goodbye is said.
    Done,
    /// Lost, or never accepted (`connected`: the broker had sent its CONNACK).
    Lost { connected: bool },
    /// The first broker answers again (`return_to_first`).
    BackToFirst,
}

impl Coordination {
    /// Runs until the cluster task ended (then says goodbye with the offline presence).
    pub async fn run(mut self) {
        let mut rotation = Rotation::new(self.settings.brokers.len(), self.settings.return_check);
        let mut backoff = Backoff::new();
        loop {
            let end = self.connection(&mut rotation).await;
            self.metrics.set_coordination(false);
            let next = match end {
                End::Done => return,
                End::BackToFirst => rotation.back_to_first(),
                End::Lost { connected } => {
                    if connected {
                        backoff.reset();
                    }
                    rotation.ended(connected)
                }
            };
            if let Next::AfterBackoff(_) = next {
                let until = tokio::time::Instant::now() + backoff.wait();
                // Meanwhile the cluster task's messages are dropped (nothing to send them on).
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => break,
                        d = self.outgoing.recv() => if d.is_none() { return },
                    }
                }
            }
        }
    }

    /// One connection to the current broker of the rotation.
    async fn connection(&mut self, rotation: &mut Rotation) -> End {
        let s = &self.settings;
        let broker = s.brokers[rotation.current().min(s.brokers.len() - 1)].clone();
        let (ev_tx, mut events) = mpsc::channel(REQUESTS);
        let (client, poller) = client::start(s, &broker, REQUESTS, ev_tx);
        let _poller = AbortOnDrop(tokio::spawn(poller));
        let answer_by = tokio::time::Instant::now() + s.connect_timeout;
        let mut back: Option<return_probe::FirstAnswers> = None;
        let mut connected = false;
        let mut seen = crate::model::Seen::default();
        let mut unsent = 0usize;
        loop {
            if connected {
                self.publish_board(&client, &mut seen, &mut unsent);
            }
            tokio::select! {
                ev = events.recv() => match ev.unwrap_or_else(|| Err("event loop ended".into())) {
                    Ok(Ev::ConnAck) => {
                        tracing::info!(host = %broker.host, port = broker.port, "coordination connection up");
                        connected = true;
                        // Subscribed before our presence goes out: its echo comes after every
                        // node's retained presence.
                        for sub in &self.settings.subscriptions {
                            client.subscribe(sub.clone());
                        }
                        self.metrics.set_coordination(true);
                        back = return_probe::on_connected(rotation, &self.settings.brokers, self.settings.connect_timeout);
                    }
                    Ok(Ev::Sent(_)) => unsent = unsent.saturating_sub(1),
                    Ok(Ev::Message(m)) => {
                        // Once the cluster task ended, messages are dropped (acknowledged).
                        let _ = self.incoming.send(m).await;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, host = %broker.host, port = broker.port, "coordination connection lost; reconnecting");
                        return End::Lost { connected };
                    }
                },
                _ = tokio::time::sleep_until(answer_by), if !connected => {
                    tracing::warn!(host = %broker.host, port = broker.port, "the MQTT broker did not accept the coordination connection in time; trying the next");
                    return End::Lost { connected };
                }
                _ = async { if let Some(b) = back.as_mut() { b.await } }, if back.is_some() => {
                    tracing::info!(host = %broker.host, port = broker.port, "the first broker answers again: coordination moves back to it");
                    super::leave(&client, &mut events).await;
                    return End::BackToFirst;
                }
                _ = self.board.changed.notified() => {}
                d = self.outgoing.recv() => match d {
                    Some(d) if connected => {
                        let m = d.message;
                        if client.publish(m.topic, m.qos, m.retain, m.payload, None) {
                            unsent += 1;
                        }
                    }
                    Some(_) => {}
                    None => {
                        if connected {
                            self.goodbye(&client, &mut events, unsent).await;
                        }
                        return End::Done;
                    }
                },
            }
        }
    }

    /// Publishes our presence when it changed (or first on this connection).
    fn publish_board(&self, client: &Client, seen: &mut crate::model::Seen, unsent: &mut usize) {
        for m in self.board.changed_since(seen) {
            let topic = m.topic.clone();
            if client.publish(m.topic, m.qos, m.retain, m.payload, None) {
                *unsent += 1;
            } else {
                // Request queue full: on a later turn.
                seen.again(topic);
            }
        }
    }

    /// The offline presence (retained), then DISCONNECT once the broker acknowledged it (so
    /// the broker drops our will), within 2 s. `unsent`: publications handed to the client
    /// whose packet id is not known yet (the goodbye's comes after theirs).
    async fn goodbye(
        &self,
        client: &Client,
        events: &mut mpsc::Receiver<Result<Ev, String>>,
        unsent: usize,
    ) {
        let s = &self.settings;
        client::last_word(client, events, &s.presence_topic, &s.presence.1, unsent).await;
    }
}

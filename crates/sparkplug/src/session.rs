//! The async driver of one [`EdgeNode`]: runs its MQTT sessions (each with its own will) over
//! rumqttc, feeds it the RTU's events and carries out its actions. A thin shell: every
//! decision is the state machine's.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rumqttc::{AsyncClient, Event, EventLoop, LastWill, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::{mpsc, watch};

use crate::edge::{
    Action, CommandOutcome, CommandRequest, EdgeNode, HeldChange, PointUpdate, Publication,
};

/// Changes of the durable history gathered beyond which they are written at once (else at
/// the next tick, or before the next connection attempt).
pub const HELD_BATCH: usize = 1024;

/// The durable copy of an edge node's history (see [`EdgeNode::restore_history`]), kept by
/// the caller.
pub trait HistoryStore: Send + Sync + 'static {
    /// Makes `changes`, in order and durably, before returning; runs on a blocking thread.
    /// The store reports its own errors (the history in memory goes on regardless).
    fn apply(&self, changes: &[HeldChange]);
}

/// The changes of the durable history not yet written.
struct Durable {
    store: Option<Arc<dyn HistoryStore>>,
    pending: Vec<HeldChange>,
    /// [`SessionSettings::history_dropped`].
    dropped: Option<Arc<AtomicU64>>,
}

impl Durable {
    /// Takes the edge node's changes; writes them when many are waiting. Reports the count
    /// of dropped values.
    async fn collect(&mut self, node: &mut EdgeNode) {
        if let Some(d) = &self.dropped {
            d.store(node.dropped(), Ordering::Relaxed);
        }
        while let Some(change) = node.poll_held() {
            self.pending.push(change);
        }
        if self.pending.len() >= HELD_BATCH {
            self.flush().await;
        }
    }

    async fn flush(&mut self) {
        let Some(store) = self.store.clone() else {
            self.pending.clear();
            return;
        };
        if self.pending.is_empty() {
            return;
        }
        let changes = std::mem::take(&mut self.pending);
        if let Err(e) = tokio::task::spawn_blocking(move || store.apply(&changes)).await {
            tracing::error!(error = %e, "sparkplug history store task failed");
        }
    }
}

/// Publications waiting for room in the MQTT client beyond which the session is dropped
/// (a new one starts with new births).
pub const MAX_OUTBOX: usize = 10_000;

/// What the RTU side tells the edge node.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The RTU link is up (interrogation started).
    LinkUp,
    /// The general interrogation completed.
    InterrogationComplete,
    /// The RTU link was lost.
    LinkDown,
    /// A value.
    Value(PointUpdate),
    /// The outcome of a command from the `commands` channel.
    Outcome {
        /// [`CommandRequest::id`].
        id: u64,
        /// What happened.
        outcome: CommandOutcome,
    },
}

/// How the driver connects and paces.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// MQTT options without will (the driver sets the will of each session); the caller sets
    /// client id, broker address, credentials and TLS.
    pub mqtt: MqttOptions,
    /// How often gathered values are sent and command timeouts checked.
    pub tick: Duration,
    /// Wait before a new session after one was lost.
    pub reconnect_delay: Duration,
    /// In a cluster: the edge node has a session only while this node carries the RTU.
    pub carrier: Option<Carrier>,
    /// Where the driver keeps [`EdgeNode::dropped`] (values dropped from the full history)
    /// for the caller's metrics, updated after every step.
    pub history_dropped: Option<Arc<AtomicU64>>,
    /// Several brokers: where each session goes and when to wait (the caller's list and
    /// rules). Without, every session goes to `mqtt` and every retry waits.
    pub brokers: Option<Arc<dyn Brokers>>,
    /// The bound on connecting to a broker (and on a write), in whole seconds; None:
    /// rumqttc's default (5 s).
    pub connect_timeout_s: Option<u64>,
}

/// The brokers an edge node's sessions go to, in turn, by the caller's rules.
pub trait Brokers: Send + Sync + std::fmt::Debug + 'static {
    /// The MQTT options of the next session (client id, broker address, credentials, TLS;
    /// the driver sets the will and the clean session).
    fn options(&self) -> MqttOptions;
    /// The session ended; `was_connected`: the broker had accepted it (CONNACK). True: wait
    /// `reconnect_delay` before the next session; false: start it at once.
    fn ended(&self, was_connected: bool) -> bool;
}

/// Whether this node carries the RTU, and how it watches the carrier's births and deaths
/// meanwhile (to take the next `bdSeq` when it takes over).
#[derive(Debug, Clone)]
pub struct Carrier {
    /// True while this node carries the RTU.
    pub carrying: watch::Receiver<bool>,
    /// MQTT options of the watching session (a client id of its own, no will), one per broker
    /// in the node's order: the first first, the next after a failed or lost connection (as
    /// the edge node's own session rotates through [`Brokers`]). Empty: no watching.
    pub observers: Vec<MqttOptions>,
}

enum End {
    /// The input channel closed: stop.
    Shutdown,
    /// This node no longer carries the RTU: NDEATH, disconnect, watch.
    HandedOver,
    /// The session ended (lost, refused, or closed on the state machine's request).
    Lost,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn qos(q: u8) -> QoS {
    if q == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    }
}

/// Runs the edge node until `inputs` closes: then publishes its NDEATH and disconnects.
/// A node taking an RTU over feeds the NBIRTH/NDEATH it observed to [`EdgeNode::observe`]
/// before, so that its first session takes the next `bdSeq`.
/// Commands to issue go to `commands`; their outcomes come back as [`Input::Outcome`].
pub async fn run(
    node: EdgeNode,
    settings: SessionSettings,
    inputs: mpsc::Receiver<Input>,
    commands: mpsc::Sender<CommandRequest>,
) {
    run_with_history(node, settings, inputs, commands, None).await;
}

/// [`run`], keeping the history durably in `history` when given: the caller restored what
/// it held with [`EdgeNode::restore_history`] first. Changes are written at each tick of a
/// session, when [`HELD_BATCH`] are waiting, before each new connection attempt, after each
/// input while watching (not carrying), and at the end.
pub async fn run_with_history(
    mut node: EdgeNode,
    settings: SessionSettings,
    mut inputs: mpsc::Receiver<Input>,
    commands: mpsc::Sender<CommandRequest>,
    history: Option<Arc<dyn HistoryStore>>,
) {
    let mut durable = Durable {
        store: history,
        pending: Vec::new(),
        dropped: settings.history_dropped.clone(),
    };
    drive(&mut node, &settings, &mut inputs, &commands, &mut durable).await;
    durable.collect(&mut node).await;
    durable.flush().await;
}

async fn drive(
    node: &mut EdgeNode,
    settings: &SessionSettings,
    inputs: &mut mpsc::Receiver<Input>,
    commands: &mpsc::Sender<CommandRequest>,
    durable: &mut Durable,
) {
    let mut carrier = settings.carrier.clone();
    loop {
        if let Some(c) = carrier.as_mut() {
            if !observe(node, c, inputs, durable, settings.connect_timeout_s).await {
                return;
            }
        }
        let will = node.connect(now_ms());
        let mut options = match &settings.brokers {
            Some(b) => b.options(),
            None => settings.mqtt.clone(),
        };
        options.set_clean_session(true);
        options.set_last_will(LastWill::new(
            will.topic.clone(),
            will.payload.clone(),
            QoS::AtLeastOnce,
            false,
        ));
        let (client, eventloop) = new_client(options, 256, settings.connect_timeout_s);
        let mut session = Session {
            client,
            eventloop,
            outbox: VecDeque::new(),
            accepted: false,
        };
        let carrying = carrier.as_mut().map(|c| &mut c.carrying);
        match session
            .run(node, settings, inputs, commands, carrying, durable)
            .await
        {
            End::Shutdown => {
                // Written before the NDEATH, which may wait for a slow broker.
                durable.collect(node).await;
                durable.flush().await;
                session.close(will).await;
                return;
            }
            End::HandedOver => {
                tracing::info!("sparkplug edge node handed over: NDEATH");
                session.close(will).await;
                node.disconnected(now_ms());
                durable.collect(node).await;
                durable.flush().await;
            }
            End::Lost => {
                node.disconnected(now_ms());
                durable.collect(node).await;
                durable.flush().await;
                let delay = match &settings.brokers {
                    Some(b) if !b.ended(session.accepted) => Duration::ZERO,
                    _ => settings.reconnect_delay,
                };
                // Inputs are taken while waiting (values go to the history): the RTU side,
                // which may wait to hand over a command outcome, never waits for the broker.
                let wait = tokio::time::sleep(delay);
                tokio::pin!(wait);
                loop {
                    tokio::select! {
                        _ = &mut wait => break,
                        input = inputs.recv() => match input {
                            Some(input) => apply(node, input),
                            None => return,
                        },
                    }
                    durable.collect(node).await;
                }
                durable.flush().await;
            }
        }
    }
}

struct Session {
    client: AsyncClient,
    eventloop: EventLoop,
    outbox: VecDeque<Publication>,
    /// The broker accepted the session (CONNACK).
    accepted: bool,
}

impl Session {
    async fn run(
        &mut self,
        node: &mut EdgeNode,
        settings: &SessionSettings,
        inputs: &mut mpsc::Receiver<Input>,
        commands: &mpsc::Sender<CommandRequest>,
        mut carrying: Option<&mut watch::Receiver<bool>>,
        durable: &mut Durable,
    ) -> End {
        // rumqttc's poll is not cancel-safe while it connects: dropped between CONNECT and
        // CONNACK (another branch of a select winning), it leaves the broker a session that
        // ends without DISCONNECT, i.e. a spurious NDEATH will, and connects again. So the
        // same poll future is kept until the CONNACK; inputs are taken meanwhile (the RTU side
        // never waits for a broker that is slow to answer).
        loop {
            let event = {
                let poll = self.eventloop.poll();
                tokio::pin!(poll);
                loop {
                    tokio::select! {
                        event = &mut poll => break event,
                        input = inputs.recv() => match input {
                            Some(input) => apply(node, input),
                            None => return End::Shutdown,
                        },
                    }
                    durable.collect(node).await;
                }
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    self.connected(node);
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "sparkplug session not connected");
                    return End::Lost;
                }
            }
        }
        if !self.act(node, commands) {
            return End::Lost;
        }
        let mut tick = tokio::time::interval(settings.tick);
        loop {
            tokio::select! {
                event = self.eventloop.poll() => match event {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => self.connected(node),
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if let Err(e) = node.message(now_ms(), &p.topic, &p.payload) {
                            tracing::warn!(topic = %p.topic, error = %e, "sparkplug message refused");
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "sparkplug session lost");
                        return End::Lost;
                    }
                },
                // Inputs wait while publications wait for room in the MQTT client: the
                // broker's pace reaches the RTU side (which drops or waits, as it chose).
                input = inputs.recv(), if self.outbox.is_empty() => match input {
                    Some(input) => apply_burst(node, input, inputs),
                    None => return End::Shutdown,
                },
                _ = tick.tick() => {
                    node.tick(now_ms());
                    durable.collect(node).await;
                    durable.flush().await;
                }
                carries = still_carrying(&mut carrying) => if !carries {
                    return End::HandedOver;
                },
            }
            if !self.act(node, commands) {
                return End::Lost;
            }
            durable.collect(node).await;
        }
    }

    /// CONNACK: subscribes to what the edge node listens to, then tells it.
    fn connected(&mut self, node: &mut EdgeNode) {
        self.accepted = true;
        for topic in node.subscriptions() {
            let _ = self.client.try_subscribe(topic, QoS::AtLeastOnce);
        }
        node.connected(now_ms());
    }

    /// Carries out the queued actions; false when the session must end.
    fn act(&mut self, node: &mut EdgeNode, commands: &mpsc::Sender<CommandRequest>) -> bool {
        while let Some(action) = node.poll_action() {
            match action {
                Action::Publish(p) => self.outbox.push_back(p),
                Action::Disconnect => {
                    self.flush_outbox();
                    let _ = self.client.try_disconnect();
                }
                Action::Command(c) => {
                    if commands.try_send(c).is_err() {
                        let failed = CommandOutcome::Failed("command queue full".into());
                        node.command_outcome(now_ms(), c.id, failed);
                    }
                }
            }
        }
        self.flush_outbox();
        if self.outbox.len() > MAX_OUTBOX {
            tracing::warn!(
                "sparkplug session too slow: {} publications waiting",
                self.outbox.len()
            );
            return false;
        }
        true
    }

    fn flush_outbox(&mut self) {
        while let Some(p) = self.outbox.front() {
            let sent =
                self.client
                    .try_publish(p.topic.clone(), qos(p.qos), p.retain, p.payload.clone());
            if sent.is_err() {
                return;
            }
            self.outbox.pop_front();
        }
    }

    /// Publishes the NDEATH (a clean disconnect drops the will) and disconnects.
    async fn close(mut self, death: Publication) {
        self.outbox.push_back(death);
        self.flush_outbox();
        let _ = self.client.try_disconnect();
        let drain = async {
            loop {
                match self.eventloop.poll().await {
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
    }
}

/// Waits for a change of the carrier flag; false once it says "not carrying" (or its sender is
/// gone); never resolves without a carrier.
async fn still_carrying(carrying: &mut Option<&mut watch::Receiver<bool>>) -> bool {
    match carrying {
        Some(rx) => match rx.changed().await {
            Ok(()) => *rx.borrow_and_update(),
            Err(_) => false,
        },
        None => std::future::pending().await,
    }
}

/// A client and its event loop, bounded on connecting by `connect_timeout_s` (None:
/// rumqttc's 5 s).
fn new_client(
    options: MqttOptions,
    cap: usize,
    connect_timeout_s: Option<u64>,
) -> (AsyncClient, EventLoop) {
    let (client, mut eventloop) = AsyncClient::new(options, cap);
    if let Some(secs) = connect_timeout_s {
        let mut net = eventloop.network_options();
        net.set_connection_timeout(secs);
        eventloop.set_network_options(net);
    }
    (client, eventloop)
}

/// While this node does not carry the RTU: a session without will watches this edge node's
/// NBIRTH and NDEATH (the carrier's), so that [`EdgeNode::observe`] learns its `bdSeq`;
/// inputs are taken meanwhile. With several brokers it moves to the next one when a
/// connection fails or is lost. Returns once this node carries the RTU, false when the inputs
/// closed (stop).
async fn observe(
    node: &mut EdgeNode,
    carrier: &mut Carrier,
    inputs: &mut mpsc::Receiver<Input>,
    durable: &mut Durable,
    connect_timeout_s: Option<u64>,
) -> bool {
    if *carrier.carrying.borrow_and_update() {
        return true;
    }
    let topics: Vec<String> = node
        .observed_topics()
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
    let brokers = carrier.observers.len().max(1);
    let mut at = 0;
    loop {
        // No options (none given): nothing is watched, inputs are still taken.
        let mut session = carrier.observers.get(at % brokers).map(|options| {
            let mut options = options.clone();
            options.set_clean_session(true);
            new_client(options, 16, connect_timeout_s)
        });
        let watched = session
            .as_mut()
            .map(|(client, eventloop)| (&*client, eventloop));
        let outcome = watch_one(node, carrier, inputs, durable, watched, &topics).await;
        if let Some((client, _)) = &session {
            let _ = client.try_disconnect();
        }
        match outcome {
            Watched::Carrying => return true,
            Watched::Stop => return false,
            Watched::Lost => at += 1,
        }
    }
}

/// How watching on one broker ended.
enum Watched {
    /// This node carries the RTU now.
    Carrying,
    /// The inputs closed.
    Stop,
    /// The connection failed or was lost, and another broker is listed.
    Lost,
}

/// Watches on one broker (see [`observe`]); without a `session`, only takes inputs until the
/// carrier role comes.
async fn watch_one(
    node: &mut EdgeNode,
    carrier: &mut Carrier,
    inputs: &mut mpsc::Receiver<Input>,
    durable: &mut Durable,
    session: Option<(&AsyncClient, &mut EventLoop)>,
    topics: &[String],
) -> Watched {
    let rotate = carrier.observers.len() > 1;
    let (client, mut eventloop) = session.unzip();
    loop {
        // The poll future is kept across the other branches (not cancel-safe while connecting).
        let poll = async {
            match eventloop.as_mut() {
                Some(eventloop) => eventloop.poll().await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(poll);
        loop {
            tokio::select! {
                event = &mut poll => {
                    match event {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            if let Some(client) = client {
                                for t in topics {
                                    let _ = client.try_subscribe(t.clone(), QoS::AtLeastOnce);
                                }
                            }
                        }
                        Ok(Event::Incoming(Packet::Publish(p))) => {
                            if let Err(e) = node.observe(&p.topic, &p.payload) {
                                tracing::warn!(topic = %p.topic, error = %e, "sparkplug birth or death not understood");
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::debug!(error = %e, "sparkplug observer: connection lost");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            if rotate {
                                return Watched::Lost;
                            }
                        }
                    }
                    break;
                }
                input = inputs.recv() => match input {
                    Some(input) => {
                        apply(node, input);
                        durable.collect(node).await;
                        durable.flush().await;
                    }
                    None => return Watched::Stop,
                },
                changed = carrier.carrying.changed() => {
                    if changed.is_err() {
                        return Watched::Stop;
                    }
                    if *carrier.carrying.borrow_and_update() {
                        return Watched::Carrying;
                    }
                }
            }
        }
    }
}

/// Inputs taken at once (one clock reading) before the edge node's actions are carried out.
pub const INPUT_BURST: usize = 256;

/// Applies `first` and the inputs already waiting behind it, at most [`INPUT_BURST`].
fn apply_burst(node: &mut EdgeNode, first: Input, inputs: &mut mpsc::Receiver<Input>) {
    let now = now_ms();
    apply_at(node, first, now);
    for _ in 1..INPUT_BURST {
        match inputs.try_recv() {
            Ok(input) => apply_at(node, input, now),
            Err(_) => return,
        }
    }
}

fn apply(node: &mut EdgeNode, input: Input) {
    apply_at(node, input, now_ms());
}

fn apply_at(node: &mut EdgeNode, input: Input, now: u64) {
    match input {
        Input::LinkUp => node.rtu_link_up(now),
        Input::InterrogationComplete => node.interrogation_complete(now),
        Input::LinkDown => node.rtu_link_down(now),
        Input::Value(v) => {
            if let Err(e) = node.value(now, v) {
                tracing::warn!(error = %e, "sparkplug value refused");
            }
        }
        Input::Outcome { id, outcome } => node.command_outcome(now, id, outcome),
    }
}

#[cfg(test)]
mod tests {
    use iec104::asdu::Quality;

    use super::*;
    use crate::edge::EdgeSettings;
    use crate::point::{PointAddress, PointValue};

    /// With no broker the values wait in the history; beyond its capacity the oldest are
    /// dropped, and the driver keeps that count where the caller's metrics read it.
    #[tokio::test]
    async fn the_driver_reports_values_dropped_from_the_full_history() {
        // A port nothing listens on: every session attempt fails at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let settings = EdgeSettings {
            group_id: "G".into(),
            edge_node_id: "rtu1".into(),
            device_id: "rtu1".into(),
            primary_host_id: None,
            qos: 0,
            buffer_capacity: 2,
            command_timeout_ms: 5_000,
            gateway_node: None,
        };
        let node = EdgeNode::new(settings, &[]).unwrap();
        let dropped = Arc::new(AtomicU64::new(0));
        let session = SessionSettings {
            mqtt: MqttOptions::new("spb-G-rtu1", "127.0.0.1", port),
            tick: Duration::from_millis(20),
            reconnect_delay: Duration::from_millis(50),
            carrier: None,
            history_dropped: Some(dropped.clone()),
            brokers: None,
            connect_timeout_s: None,
        };
        let (inputs_tx, inputs) = mpsc::channel(16);
        let (commands, _requests) = mpsc::channel(1);
        let driver = tokio::spawn(run(node, session, inputs, commands));
        for ioa in 0..5u32 {
            let update = PointUpdate {
                address: PointAddress { ca: 1, ioa },
                value: PointValue::Float(1.5),
                quality: Quality::GOOD,
                time_tag_ms: None,
                interrogated: false,
            };
            inputs_tx.send(Input::Value(update)).await.unwrap();
        }
        drop(inputs_tx);
        tokio::time::timeout(Duration::from_secs(10), driver)
            .await
            .unwrap()
            .unwrap();
        // Five events, room for two: three dropped.
        assert_eq!(dropped.load(Ordering::Relaxed), 3);
    }
}

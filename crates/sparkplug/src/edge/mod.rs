//! The Sparkplug B edge node of one RTU as a sans-IO state machine.
//!
//! The driver feeds it events (MQTT session up/down, received messages, RTU link state,
//! values, command outcomes, ticks) with the current time in milliseconds since the Unix
//! epoch, and carries out the [`Action`]s it queues ([`EdgeNode::poll_action`]). It never
//! reads a clock, so tests run it in virtual time.
//!
//! Rules it keeps (Sparkplug 3.0):
//! - the NDEATH will of each MQTT session carries that session's `bdSeq`
//!   ([`EdgeNode::connect`] counts sessions 0..=255 and wraps); the NBIRTH carries the same;
//! - NBIRTH has `seq` 0, every later message of the session the next `seq`, wrapping at 255;
//! - births carry every metric with name, alias, datatype and value, data messages the
//!   alias alone;
//! - with a primary host, no birth and no data before its STATE says online; values wait in
//!   a bounded history and follow the births with `is_historical`;
//! - `Node Control/Rebirth` in an NCMD gives new births; DCMD writes become commands.

mod command;
mod durable;
mod encode;
mod held;
#[cfg(test)]
mod prop_tests;
mod sample;
mod table;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use iec104::asdu::Quality;

use crate::point::{CommandValue, PointAddress, PointValue};
use crate::quality::Extras;
use crate::topic::{MessageType, Topic, TopicError};
use crate::value::Value;

pub use command::{CommandOutcome, MessageError};
pub use held::{HeldChange, HeldDecodeError, HeldValue};
pub use table::{CommandSpec, PointConfig, PointError};

use encode::NodeMetric;
use sample::{History, Sample};
use table::Table;

/// Most metrics written in one DDATA.
pub const MAX_METRICS_PER_MESSAGE: usize = 500;
/// Most device metrics one edge node keeps (points learnt from values count too).
pub const MAX_METRICS: usize = 100_000;

/// The name of the rebirth node metric.
pub const REBIRTH_METRIC: &str = "Node Control/Rebirth";
/// The name of the node metric counting values dropped from the full history.
pub const DROPPED_METRIC: &str = "History/Dropped";
/// The name of the node metric naming the gateway node that carries the session.
pub const GATEWAY_METRIC: &str = "Node Info/Gateway";

/// What the edge node of one RTU is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeSettings {
    /// Group id.
    pub group_id: String,
    /// Edge node id.
    pub edge_node_id: String,
    /// Device id of the RTU.
    pub device_id: String,
    /// Primary host id whose STATE gates the births.
    pub primary_host_id: Option<String>,
    /// QoS of births and data.
    pub qos: u8,
    /// History capacity in values.
    pub buffer_capacity: usize,
    /// Time after which a command without outcome is reported as timed out.
    pub command_timeout_ms: u64,
    /// Name of the gateway node running this machine (reported as a node metric).
    pub gateway_node: Option<String>,
}

/// One MQTT publication to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    /// The topic.
    pub topic: String,
    /// The payload (protobuf).
    pub payload: Vec<u8>,
    /// QoS 0 or 1.
    pub qos: u8,
    /// Retain flag (always false for Sparkplug edge messages).
    pub retain: bool,
}

/// A command to issue to the RTU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CommandRequest {
    /// Identifies the command in [`EdgeNode::command_outcome`].
    pub id: u64,
    /// The point.
    pub address: PointAddress,
    /// The configured command type id.
    pub type_id: iec104::type_id::TypeId,
    /// The value.
    pub value: CommandValue,
    /// Select before operate.
    pub select: bool,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Publish this.
    Publish(Publication),
    /// Close the MQTT session (cleanly, so the broker drops the will: the NDEATH was
    /// published just before), then connect again with a new will from
    /// [`EdgeNode::connect`].
    Disconnect,
    /// Issue a command to the RTU and report the outcome with [`EdgeNode::command_outcome`].
    Command(CommandRequest),
}

/// One value of a point, as mapped from an IEC 104 information object.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointUpdate {
    /// Where the object comes from.
    pub address: PointAddress,
    /// Its value.
    pub value: PointValue,
    /// Its quality bits.
    pub quality: Quality,
    /// Its CP56Time2a time tag in milliseconds since the Unix epoch, when it had one.
    pub time_tag_ms: Option<u64>,
    /// An answer to a (counter) interrogation, causes 20..=41: state, not an event.
    pub interrogated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Session {
    Offline,
    Connecting,
    Connected,
}

/// The edge node of one RTU.
#[derive(Debug)]
pub struct EdgeNode {
    settings: EdgeSettings,
    topics: Topics,
    table: Table,
    session: Session,
    host_online: bool,
    last_host_timestamp: Option<u64>,
    last_online_timestamp: Option<u64>,
    node_born: bool,
    /// The RTU link is up (STARTDT confirmed), the interrogation may still run.
    link_up: bool,
    device_up: bool,
    device_born: bool,
    /// `bdSeq` of the current (or last) session.
    bd_seq: u8,
    /// `bdSeq` the next session takes.
    next_bd_seq: u8,
    seq: u8,
    batch: Vec<Sample>,
    /// Room for one metric while a DDATA is written (reused: no allocation per value).
    scratch: Vec<u8>,
    history: History,
    /// The durable copy of the history, when the driver keeps one.
    held: Option<durable::Held>,
    pending: command::Pending,
    actions: VecDeque<Action>,
}

#[derive(Debug)]
struct Topics {
    nbirth: String,
    ndeath: String,
    dbirth: String,
    ddeath: String,
    ddata: String,
    ncmd: String,
    dcmd: String,
    state: Option<String>,
}

impl Topics {
    fn new(s: &EdgeSettings) -> Result<Topics, TopicError> {
        let (g, e, d) = (&s.group_id, &s.edge_node_id, &s.device_id);
        let node = |m| Topic::node(g, m, e).map(|t| t.to_string());
        let device = |m| Topic::device(g, m, e, d).map(|t| t.to_string());
        Ok(Topics {
            nbirth: node(MessageType::NBirth)?,
            ndeath: node(MessageType::NDeath)?,
            ncmd: node(MessageType::NCmd)?,
            dbirth: device(MessageType::DBirth)?,
            ddeath: device(MessageType::DDeath)?,
            ddata: device(MessageType::DData)?,
            dcmd: device(MessageType::DCmd)?,
            state: match &s.primary_host_id {
                Some(h) => Some(Topic::state(h)?.to_string()),
                None => None,
            },
        })
    }
}

/// Why an edge node could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EdgeError {
    /// An id is not valid in a topic.
    #[error(transparent)]
    Topic(#[from] TopicError),
    /// A point cannot be a metric.
    #[error(transparent)]
    Point(#[from] PointError),
}

impl EdgeNode {
    /// An edge node with no session yet, whose first session takes `bdSeq` 0 (unless
    /// [`EdgeNode::observe`] learns a later one first).
    pub fn new(settings: EdgeSettings, points: &[PointConfig]) -> Result<EdgeNode, EdgeError> {
        let topics = Topics::new(&settings)?;
        let table = Table::new(points)?;
        Ok(EdgeNode {
            history: History::new(settings.buffer_capacity),
            host_online: settings.primary_host_id.is_none(),
            settings,
            topics,
            table,
            session: Session::Offline,
            last_host_timestamp: None,
            last_online_timestamp: None,
            node_born: false,
            link_up: false,
            device_up: false,
            device_born: false,
            bd_seq: 0,
            next_bd_seq: 0,
            seq: 0,
            batch: Vec::new(),
            scratch: Vec::new(),
            held: None,
            pending: command::Pending::default(),
            actions: VecDeque::new(),
        })
    }

    /// The next thing to do, oldest first.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The topic filters to subscribe to (QoS 1) once connected: this node's NCMD and DCMD,
    /// and the primary host's STATE.
    pub fn subscriptions(&self) -> Vec<String> {
        let mut v = vec![self.topics.ncmd.clone(), self.topics.dcmd.clone()];
        v.extend(self.topics.state.clone());
        v
    }

    /// The topics of this node's NBIRTH and NDEATH, which a node not carrying the RTU
    /// watches to learn the `bdSeq` ([`EdgeNode::observe`]).
    pub fn observed_topics(&self) -> [&str; 2] {
        [&self.topics.nbirth, &self.topics.ndeath]
    }

    /// `bdSeq` of the current or last session.
    pub fn bd_seq(&self) -> u8 {
        self.bd_seq
    }

    /// Values dropped from the full history so far.
    pub fn dropped(&self) -> u64 {
        self.history.dropped
    }

    /// Values waiting in the history.
    pub fn buffered(&self) -> usize {
        self.history.len()
    }

    /// Starts a new MQTT session: returns the NDEATH to set as its will (QoS 1, not
    /// retained) carrying the session's new `bdSeq`. Connect with it, then call
    /// [`EdgeNode::connected`] on the CONNACK.
    pub fn connect(&mut self, now: u64) -> Publication {
        self.go_offline();
        self.bd_seq = self.next_bd_seq;
        self.next_bd_seq = self.bd_seq.wrapping_add(1);
        self.session = Session::Connecting;
        self.ndeath(now)
    }

    fn ndeath(&self, now: u64) -> Publication {
        Publication {
            topic: self.topics.ndeath.clone(),
            payload: encode::payload(now, None, vec![encode::bd_seq_metric(self.bd_seq, now)]),
            qos: 1,
            retain: false,
        }
    }

    /// The MQTT session is up (CONNACK received, subscriptions made). Births follow at
    /// once without a primary host, else when its STATE says online.
    pub fn connected(&mut self, now: u64) {
        if self.session != Session::Connecting {
            return;
        }
        self.session = Session::Connected;
        self.host_online = self.settings.primary_host_id.is_none();
        self.try_birth(now);
    }

    /// The MQTT session was lost: the broker publishes the will. Values wait in the history.
    pub fn disconnected(&mut self, _now: u64) {
        self.go_offline();
    }

    fn go_offline(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        for s in batch {
            self.keep(s);
        }
        self.session = Session::Offline;
        self.node_born = false;
        self.device_born = false;
    }

    /// The RTU link is up; the device is born when the general interrogation completes.
    /// Events (not interrogation answers) that arrive meanwhile are kept as history.
    pub fn rtu_link_up(&mut self, _now: u64) {
        self.link_up = true;
        self.device_up = false;
    }

    /// The general interrogation completed: the device is born (when the node is).
    pub fn interrogation_complete(&mut self, now: u64) {
        self.device_up = true;
        if self.node_born && !self.device_born {
            self.dbirth(now);
            self.send_history(now);
        }
    }

    /// The RTU link was lost: DDEATH.
    pub fn rtu_link_down(&mut self, now: u64) {
        self.link_up = false;
        self.device_up = false;
        if self.device_born {
            self.flush(now);
            let seq = self.next_seq();
            self.publish(
                self.topics.ddeath.clone(),
                encode::payload(now, Some(seq), Vec::new()),
            );
            self.device_born = false;
        }
    }

    /// A value of a point. Goes into the next DDATA when the device is born; into the
    /// history when the device was up but no session is born, or when it is an event that
    /// came while the interrogation still ran; otherwise only updates the value the next
    /// DBIRTH carries.
    pub fn value(&mut self, now: u64, update: PointUpdate) -> Result<(), PointError> {
        let datatype = update.value.kind().datatype();
        let (index, changed) = self.table.slot_for_value(update.address, datatype)?;
        let extras = match update.value {
            PointValue::Step { transient, .. } => Extras {
                transient: Some(transient),
                sequence: None,
            },
            PointValue::Counter { sequence, .. } => Extras {
                transient: None,
                sequence: Some(sequence),
            },
            _ => Extras::default(),
        };
        let invalid = update.quality.contains(Quality::IV);
        let sample = Sample {
            slot: index,
            value: (!invalid).then(|| update.value.metric_value()),
            quality: Some((update.quality, extras)),
            timestamp: update.time_tag_ms.unwrap_or(now),
        };
        let slot = &mut self.table.slots[index];
        slot.value = sample.value.clone();
        slot.quality = sample.quality;
        slot.timestamp = Some(sample.timestamp);
        if changed && self.device_born {
            // A new metric or datatype: the host learns it only from new births.
            self.rebirth(now);
            return Ok(());
        }
        if self.device_born {
            self.queue(now, sample);
        } else if self.device_up || !update.interrogated {
            // Not born yet (no session, or the interrogation still runs): events wait in
            // the history and follow the births; interrogation answers are in the DBIRTH.
            // An event is kept even before the link-up is reported: the link state and the
            // values reach the edge node on different paths, and an RTU sends what it
            // buffered at once after STARTDT.
            self.keep(sample);
        }
        Ok(())
    }

    fn queue(&mut self, now: u64, sample: Sample) {
        self.batch.push(sample);
        if self.batch.len() >= MAX_METRICS_PER_MESSAGE {
            self.flush(now);
        }
    }

    fn keep(&mut self, sample: Sample) {
        let id = self.hold(&sample);
        self.history.push(id, sample);
    }

    /// Sends the values gathered since the last DDATA.
    pub fn flush(&mut self, now: u64) {
        if self.batch.is_empty() || !self.device_born {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        self.ddata(now, &batch, false);
    }

    /// Time passes: sends the gathered values and reports commands that timed out.
    pub fn tick(&mut self, now: u64) {
        self.flush(now);
        self.expire_commands(now);
    }

    fn ddata(&mut self, now: u64, samples: &[Sample], historical: bool) {
        let seq = self.next_seq();
        let payload = encode::data_payload(
            now,
            seq,
            &self.table.slots,
            samples,
            historical,
            &mut self.scratch,
        );
        self.publish(self.topics.ddata.clone(), payload);
    }

    fn send_history(&mut self, now: u64) {
        while self.history.len() > 0 {
            let (chunk, last) = self.history.take(MAX_METRICS_PER_MESSAGE);
            self.ddata(now, &chunk, true);
            self.release(last);
        }
    }

    fn try_birth(&mut self, now: u64) {
        if self.session == Session::Connected && self.host_online && !self.node_born {
            self.births(now);
        }
    }

    /// NBIRTH (seq 0, this session's bdSeq), then the DBIRTH when the RTU is up, then the
    /// history. Also the answer to a rebirth request.
    fn births(&mut self, now: u64) {
        self.seq = 0;
        self.node_born = true;
        self.device_born = false;
        self.nbirth(now);
        if self.device_up {
            self.dbirth(now);
            self.send_history(now);
        }
    }

    /// New births in the same session (same bdSeq), after sending what was gathered.
    fn rebirth(&mut self, now: u64) {
        self.flush(now);
        if self.node_born {
            self.births(now);
        }
    }

    fn nbirth(&mut self, now: u64) {
        let mut node = vec![
            NodeMetric {
                name: REBIRTH_METRIC,
                alias: Some(0),
                value: Value::Boolean(false),
            },
            NodeMetric {
                name: DROPPED_METRIC,
                alias: Some(1),
                value: Value::UInt64(self.history.dropped),
            },
        ];
        let gateway = self.settings.gateway_node.clone();
        if let Some(g) = &gateway {
            node.push(NodeMetric {
                name: GATEWAY_METRIC,
                alias: Some(2),
                value: Value::String(g.clone()),
            });
        }
        let mut metrics = vec![encode::bd_seq_metric(self.bd_seq, now)];
        metrics.extend(node.iter().map(|m| encode::node_metric(m, now)));
        let seq = self.next_seq();
        self.publish(
            self.topics.nbirth.clone(),
            encode::payload(now, Some(seq), metrics),
        );
    }

    fn dbirth(&mut self, now: u64) {
        let metrics = self
            .table
            .slots
            .iter()
            .map(|s| encode::birth_metric(s, now))
            .collect();
        let seq = self.next_seq();
        self.publish(
            self.topics.dbirth.clone(),
            encode::payload(now, Some(seq), metrics),
        );
        self.device_born = true;
    }

    fn next_seq(&mut self) -> u8 {
        let s = self.seq;
        self.seq = s.wrapping_add(1);
        s
    }

    fn publish(&mut self, topic: String, payload: Vec<u8>) {
        self.actions.push_back(Action::Publish(Publication {
            topic,
            payload,
            qos: self.settings.qos,
            retain: false,
        }));
    }
}

//! Received messages: the primary host's STATE, NCMD (rebirth), DCMD (writes become
//! commands) and, on nodes not carrying the RTU, other sessions' NBIRTH/NDEATH.

use prost::Message;

use crate::host_state::{HostState, HostStateError};
use crate::point::CommandValue;
use crate::proto::{Metric, MetricValue, Payload};
use crate::topic::{MessageType, Topic, TopicError};
use crate::value::Value;

use super::sample::Sample;
use super::{Action, CommandRequest, EdgeNode, Session, REBIRTH_METRIC};

/// Most commands waiting for their outcome at once; more are refused.
pub const MAX_PENDING_COMMANDS: usize = 64;

/// The outcome of a command, reported by the driver. Every command gets one final outcome;
/// a `Confirmed` one may be followed by `Terminated` (the RTU's ACTTERM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandOutcome {
    /// The RTU confirmed it (positive ACTCON of the execute).
    Confirmed,
    /// The RTU ended it (ACTTERM after the confirmation).
    Terminated,
    /// The RTU refused it (negative ACTCON).
    Rejected,
    /// The gateway's command policy refused it before it reached the RTU (not allowed,
    /// select required, out of the point's range, rate, RTU offline or busy): the reason.
    Refused(String),
    /// No confirmation came in time: the reason.
    TimedOut(String),
    /// It could not be sent or failed otherwise.
    Failed(String),
}

/// A received message this edge node refused.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The topic is not a Sparkplug topic.
    #[error(transparent)]
    Topic(#[from] TopicError),
    /// The topic is not addressed to this edge node.
    #[error("topic {0:?} is not for this edge node")]
    NotForThisNode(String),
    /// The payload is not a Sparkplug B protobuf payload.
    #[error("payload is not a Sparkplug B payload: {0}")]
    Payload(#[from] prost::DecodeError),
    /// The STATE payload could not be read.
    #[error(transparent)]
    HostState(#[from] HostStateError),
    /// A birth or death seen from another session has no usable bdSeq.
    #[error("{0} without a bdSeq metric (a 64-bit integer in 0..=255)")]
    NoBdSeq(&'static str),
    /// Some written metrics were refused (each is also reported in its result metric when
    /// it has one).
    #[error("refused: {}", .0.join("; "))]
    Refused(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
struct PendingCommand {
    id: u64,
    slot: usize,
    value: CommandValue,
    deadline: u64,
    /// Confirmed: only an ACTTERM may still come (no timeout is reported for it).
    confirmed: bool,
}

/// Commands waiting for their outcome.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    next_id: u64,
    commands: Vec<PendingCommand>,
}

impl EdgeNode {
    /// A message received on one of [`EdgeNode::subscriptions`].
    pub fn message(&mut self, now: u64, topic: &str, payload: &[u8]) -> Result<(), MessageError> {
        match Topic::parse(topic)? {
            Topic::State { .. } if Some(topic) == self.topics.state.as_deref() => {
                self.host_state(now, HostState::decode(payload)?);
                Ok(())
            }
            Topic::Edge {
                message: MessageType::NCmd,
                ..
            } if topic == self.topics.ncmd => self.ncmd(now, &Payload::decode(payload)?),
            Topic::Edge {
                message: MessageType::DCmd,
                ..
            } if topic == self.topics.dcmd => self.dcmd(now, &Payload::decode(payload)?),
            _ => Err(MessageError::NotForThisNode(topic.to_owned())),
        }
    }

    /// An NBIRTH or NDEATH of this edge node published by another session (the gateway node
    /// that carried the RTU before): the next session of this machine takes the `bdSeq`
    /// after it, so the host tells the sessions apart. Ignored while this machine has a
    /// session of its own.
    pub fn observe(&mut self, topic: &str, payload: &[u8]) -> Result<(), MessageError> {
        let kind = if topic == self.topics.nbirth {
            "NBIRTH"
        } else if topic == self.topics.ndeath {
            "NDEATH"
        } else {
            return Err(MessageError::NotForThisNode(topic.to_owned()));
        };
        let p = Payload::decode(payload)?;
        let bd_seq = p
            .metrics
            .iter()
            .find(|m| m.name.as_deref() == Some("bdSeq"))
            .and_then(|m| match m.value {
                Some(MetricValue::LongValue(v)) => u8::try_from(v).ok(),
                _ => None,
            })
            .ok_or(MessageError::NoBdSeq(kind))?;
        if self.session == Session::Offline {
            self.bd_seq = bd_seq;
            self.next_bd_seq = bd_seq.wrapping_add(1);
        }
        Ok(())
    }

    /// Sparkplug 3.0 §5 (tck-id-message-flow-edge-node-birth-publish-phid-wait-timestamp,
    /// ...-phid-offline, tck-id-operational-behavior-edge-node-termination-host-offline*):
    /// an online STATE counts unless older than a STATE already seen; an offline STATE counts
    /// unless older than the last online one, and then ends a connected session with an
    /// NDEATH and a disconnect.
    fn host_state(&mut self, now: u64, state: HostState) {
        if state.online {
            if self
                .last_host_timestamp
                .is_some_and(|t| state.timestamp < t)
            {
                return;
            }
            self.last_host_timestamp = Some(state.timestamp);
            self.last_online_timestamp = Some(state.timestamp);
            self.host_online = true;
            self.try_birth(now);
            return;
        }
        if self
            .last_online_timestamp
            .is_some_and(|t| state.timestamp < t)
        {
            // The death of an older host session, delivered late.
            return;
        }
        self.last_host_timestamp = Some(
            self.last_host_timestamp
                .map_or(state.timestamp, |t| t.max(state.timestamp)),
        );
        self.host_online = false;
        if self.session == Session::Connected {
            // The will is not sent on a clean disconnect: publish the NDEATH ourselves.
            let death = self.ndeath(now);
            self.actions.push_back(Action::Publish(death));
            self.actions.push_back(Action::Disconnect);
            self.go_offline();
        }
    }

    fn ncmd(&mut self, now: u64, payload: &Payload) -> Result<(), MessageError> {
        let mut refused = Vec::new();
        for m in &payload.metrics {
            let is_rebirth = m.name.as_deref() == Some(REBIRTH_METRIC)
                || (m.name.is_none() && m.alias == Some(0));
            match (is_rebirth, &m.value) {
                (true, Some(MetricValue::BooleanValue(true))) => {
                    if self.node_born {
                        self.rebirth(now);
                    }
                }
                (true, _) => refused.push(format!("{REBIRTH_METRIC} must be written true")),
                (false, _) => refused.push(format!("node metric {} is not writable", describe(m))),
            }
        }
        refused_or_ok(refused)
    }

    fn dcmd(&mut self, now: u64, payload: &Payload) -> Result<(), MessageError> {
        let mut refused = Vec::new();
        for m in &payload.metrics {
            if let Err(reason) = self.write(now, m) {
                refused.push(reason);
            }
        }
        refused_or_ok(refused)
    }

    fn write(&mut self, now: u64, m: &Metric) -> Result<(), String> {
        let index = m
            .alias
            .and_then(|a| self.table.by_alias(a))
            .or_else(|| m.name.as_deref().and_then(|n| self.table.by_name(n)))
            .ok_or_else(|| format!("unknown metric {}", describe(m)))?;
        let reason = self.command_for(now, index, m).err();
        match reason {
            None => Ok(()),
            Some(reason) => {
                let text = format!("{}: {reason}", self.table.slots[index].name);
                self.report(now, index, format!("refused: {reason}"));
                Err(text)
            }
        }
    }

    fn command_for(&mut self, now: u64, index: usize, m: &Metric) -> Result<(), String> {
        let slot = &self.table.slots[index];
        let (kind, spec) = slot.command.ok_or("not writable")?;
        let address = slot.address.ok_or("not writable")?;
        if m.datatype.is_some_and(|d| d != slot.datatype.number()) {
            return Err(format!("datatype must be {}", slot.datatype.name()));
        }
        let expected = || {
            format!(
                "value must be a {} {}",
                slot.datatype.name(),
                kind_range(kind)
            )
        };
        let value = m
            .value
            .as_ref()
            .filter(|_| m.is_null != Some(true))
            .ok_or_else(expected)?;
        let value = Value::from_proto(slot.datatype, value).ok_or_else(expected)?;
        let value = kind.command_value(&value).ok_or_else(expected)?;
        if !self.device_born {
            return Err("the RTU is offline".to_owned());
        }
        if self.pending.commands.len() >= MAX_PENDING_COMMANDS {
            return Err(format!(
                "{MAX_PENDING_COMMANDS} commands are already waiting"
            ));
        }
        let id = self.pending.next_id;
        self.pending.next_id += 1;
        let deadline = now.saturating_add(self.settings.command_timeout_ms);
        self.pending.commands.push(PendingCommand {
            id,
            slot: index,
            value,
            deadline,
            confirmed: false,
        });
        self.actions.push_back(Action::Command(CommandRequest {
            id,
            address,
            type_id: spec.type_id,
            value,
            select: spec.select,
        }));
        self.report(now, index, "pending".to_owned());
        Ok(())
    }

    /// The outcome of a command from [`Action::Command`]: written to the point's result
    /// metric; a confirmed write to a point that is not monitored also becomes its value.
    /// After `Confirmed` the command waits for `Terminated` until its deadline (then it is
    /// forgotten silently: ACTTERM is optional). An unknown (or already timed out) id is
    /// ignored.
    pub fn command_outcome(&mut self, now: u64, id: u64, outcome: CommandOutcome) {
        let Some(pos) = self.pending.commands.iter().position(|c| c.id == id) else {
            return;
        };
        if self.pending.commands[pos].confirmed && outcome != CommandOutcome::Terminated {
            return;
        }
        let c = if outcome == CommandOutcome::Confirmed {
            let c = &mut self.pending.commands[pos];
            c.confirmed = true;
            c.deadline = now.saturating_add(self.settings.command_timeout_ms);
            c.clone()
        } else {
            self.pending.commands.remove(pos)
        };
        if outcome == CommandOutcome::Confirmed && self.table.slots[c.slot].quality.is_none() {
            self.echo(now, &c);
        }
        let text = match outcome {
            CommandOutcome::Confirmed => "confirmed".to_owned(),
            CommandOutcome::Terminated => "terminated".to_owned(),
            CommandOutcome::Rejected => "rejected".to_owned(),
            CommandOutcome::Refused(reason) => format!("refused: {reason}"),
            CommandOutcome::TimedOut(reason) => format!("timeout: {reason}"),
            CommandOutcome::Failed(reason) => format!("failed: {reason}"),
        };
        self.report(now, c.slot, text);
    }

    /// A confirmed write to a write-only point becomes its value (sent in the next DDATA).
    fn echo(&mut self, now: u64, c: &PendingCommand) {
        let value = Some(c.value.metric_value());
        let slot = &mut self.table.slots[c.slot];
        slot.value = value.clone();
        slot.timestamp = Some(now);
        if self.device_born {
            self.queue(
                now,
                Sample {
                    slot: c.slot,
                    value,
                    quality: None,
                    timestamp: now,
                },
            );
        }
    }

    pub(super) fn expire_commands(&mut self, now: u64) {
        let (expired, kept) = std::mem::take(&mut self.pending.commands)
            .into_iter()
            .partition(|c| c.deadline <= now);
        self.pending.commands = kept;
        for c in expired
            .into_iter()
            .filter(|c: &PendingCommand| !c.confirmed)
        {
            self.report(now, c.slot, "timeout".to_owned());
        }
    }

    /// Sets the result metric of a writable point and sends it with the next DDATA.
    fn report(&mut self, now: u64, index: usize, text: String) {
        let Some(result) = self.table.slots[index].result else {
            return;
        };
        let value = Some(Value::String(text));
        let slot = &mut self.table.slots[result];
        slot.value = value.clone();
        slot.timestamp = Some(now);
        if self.device_born {
            self.queue(
                now,
                Sample {
                    slot: result,
                    value,
                    quality: None,
                    timestamp: now,
                },
            );
        }
    }
}

fn kind_range(kind: crate::point::CommandKind) -> &'static str {
    use crate::point::CommandKind as K;
    match kind {
        K::Normalized => "in -1..1",
        K::Float => "that is finite",
        _ => "",
    }
}

fn describe(m: &Metric) -> String {
    match (&m.name, m.alias) {
        (Some(n), _) => format!("{n:?}"),
        (None, Some(a)) => format!("alias {a}"),
        (None, None) => "without name or alias".to_owned(),
    }
}

fn refused_or_ok(refused: Vec<String>) -> Result<(), MessageError> {
    if refused.is_empty() {
        Ok(())
    } else {
        Err(MessageError::Refused(refused))
    }
}

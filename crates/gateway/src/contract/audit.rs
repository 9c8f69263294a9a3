//! The audit trail of commands: one structured `tracing` line (target `audit`) per command
//! request and per result, optionally also published on `{prefix}/_audit/{node}` (QoS 1,
//! not retained).

use chrono::Utc;
use serde_json::{json, Value};

use crate::model::Message;

/// Where audit records go besides the log.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    /// `{prefix}/_audit/{node}` when `[gateway] audit_topic = true`.
    pub topic: Option<String>,
}

/// One audit record: a command request as received, or one of its results.
#[derive(Debug, Clone, Default)]
pub struct Record<'a> {
    /// `request` or `result`.
    pub event: &'static str,
    /// The command topic.
    pub topic: &'a str,
    /// RTU name, when known.
    pub rtu: Option<&'a str>,
    /// Common address and IOA, when known.
    pub point: Option<(u16, u32)>,
    /// Command type mnemonic.
    pub kind: Option<&'a str>,
    /// Commanded value.
    pub value: Option<&'a Value>,
    /// Select-before-operate asked.
    pub select: Option<bool>,
    /// The requester's id.
    pub id: Option<&'a str>,
    /// Who sent it (MQTT 5 user properties), when told.
    pub sender: Option<&'a str>,
    /// The result status (`result` events).
    pub status: Option<&'a str>,
    /// Why it was refused or failed.
    pub reason: Option<&'a str>,
}

/// The longest value text written to the audit line.
const VALUE_TEXT: usize = 64;

impl Audit {
    /// Writes the audit line; returns the message for the audit topic when one is set.
    pub fn record(&self, r: &Record<'_>) -> Option<Message> {
        let mut value = r.value.map(Value::to_string).unwrap_or_default();
        if value.len() > VALUE_TEXT {
            let mut end = VALUE_TEXT;
            while !value.is_char_boundary(end) {
                end -= 1;
            }
            value.truncate(end);
        }
        let (ca, ioa) = r.point.map_or((None, None), |(c, i)| (Some(c), Some(i)));
        tracing::info!(
            target: "audit",
            event = r.event,
            topic = r.topic,
            rtu = r.rtu.unwrap_or(""),
            ca,
            ioa,
            r#type = r.kind.unwrap_or(""),
            value = %value,
            select = r.select,
            id = r.id.unwrap_or(""),
            sender = r.sender.unwrap_or(""),
            status = r.status.unwrap_or(""),
            reason = r.reason.unwrap_or(""),
            "command {}", r.event
        );
        let topic = self.topic.as_ref()?;
        let payload = json!({
            "event": r.event,
            "time": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "topic": r.topic,
            "rtu": r.rtu,
            "ca": ca,
            "ioa": ioa,
            "type": r.kind,
            "value": value,
            "select": r.select,
            "id": r.id,
            "sender": r.sender,
            "status": r.status,
            "reason": r.reason,
        });
        Some(Message {
            topic: topic.clone(),
            payload: payload.to_string().into_bytes(),
            qos: 1,
            retain: false,
        })
    }
}

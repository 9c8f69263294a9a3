//! Data messages: the JSON object of docs/json.md plus `rtu`, `received` and `node`, on
//! `{prefix}/{rtu}/{ca}/{ioa}` or `{prefix}/{rtu}/{name}`.
//!
//! The hot path: the object's own fields are serialised straight into the payload buffer and
//! the gateway's fields are appended from text escaped once per RTU (`rtu`, `node`) and once
//! per ASDU (`received`); no allocation per object besides its topic and payload.

use serde::Serialize;
use serde_json::Value;

use super::topics::{Address, PointRef, Topics};

/// Builds the data topics and payloads of one RTU.
#[derive(Debug, Clone)]
pub struct DataEncoder {
    /// `{prefix}/{rtu}/`, the start of every data topic.
    topic_base: String,
    /// `,"rtu":"…","received":"` (JSON-escaped once).
    tail_rtu: String,
    /// `","node":"…"}` (JSON-escaped once).
    tail_node: String,
}

/// The gateway's fields of every object of one ASDU: `,"rtu":..,"received":..,"node":..}`.
#[derive(Debug, Clone)]
pub struct Envelope(String);

impl DataEncoder {
    /// The encoder of `rtu`'s data published by `node`.
    pub fn new(topics: &Topics, rtu: &str, node: &str) -> DataEncoder {
        DataEncoder {
            topic_base: topics.data_base(rtu),
            tail_rtu: format!(",\"rtu\":{},\"received\":\"", Value::from(rtu)),
            tail_node: format!("\",\"node\":{}}}", Value::from(node)),
        }
    }

    /// The data topic of the point at `address`, named `name` when configured.
    pub fn topic(&self, address: Address, name: Option<&str>) -> String {
        match name {
            // One allocation: the base and the name.
            Some(n) => [self.topic_base.as_str(), n].concat(),
            None => Topics::data_with_base(&self.topic_base, &PointRef::Address(address)),
        }
    }

    /// The honest topic of an object of a type unknown to us (it has no decoded address):
    /// `{prefix}/{rtu}/{ca}/_type/{type_id}`.
    pub fn unknown_type_topic(&self, ca: u16, type_id: u8) -> String {
        format!("{}{ca}/_type/{type_id}", self.topic_base)
    }

    /// The envelope of the objects of an ASDU received at `received` (RFC 3339, from
    /// [`super::rfc3339`]).
    pub fn envelope(&self, received: &str) -> Envelope {
        Envelope([self.tail_rtu.as_str(), received, self.tail_node.as_str()].concat())
    }

    /// The payload of one object: `object`'s fields (an `iec104::json::JsonObject`, or its
    /// adjusted `serde_json::Value` form), then the envelope's.
    pub fn payload<O: Serialize + ?Sized>(&self, object: &O, envelope: &Envelope) -> Vec<u8> {
        let mut buf = Vec::with_capacity(128 + envelope.0.len());
        if serde_json::to_writer(&mut buf, object).is_err() || buf.last() != Some(&b'}') {
            // Not a JSON object: nothing sensible to publish.
            return Vec::new();
        }
        buf.pop();
        let tail = envelope.0.as_bytes();
        if buf == b"{" {
            buf.extend_from_slice(tail.get(1..).unwrap_or_default());
        } else {
            buf.extend_from_slice(tail);
        }
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoder() -> DataEncoder {
        DataEncoder::new(&Topics::new("iec104"), "north \"1\"", "gw1")
    }

    #[test]
    fn topics() {
        let e = encoder();
        let a = Address { ca: 1, ioa: 1001 };
        assert_eq!(e.topic(a, None), "iec104/north \"1\"/1/1001");
        assert_eq!(e.topic(a, Some("u_l1")), "iec104/north \"1\"/u_l1");
    }

    #[test]
    fn payload_is_docs_json_md_plus_our_fields() {
        // The object of docs/json.md, as its JSON text.
        let object: Value = serde_json::from_str(
            r#"{"ca":1,"ioa":1001,"type":"M_ME_TF_1","cot":"spont","value":230.5,"quality":[],"time":"2026-11-24T10:15:30.123Z"}"#,
        )
        .unwrap();
        let e = encoder();
        let env = e.envelope("2026-11-24T10:15:30.200Z");
        let text = String::from_utf8(e.payload(&object, &env)).unwrap();
        // Keys of a serde_json::Value come out sorted; the appended fields follow in order.
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["value"], 230.5);
        assert!(
            text.ends_with(
                r#","rtu":"north \"1\"","received":"2026-11-24T10:15:30.200Z","node":"gw1"}"#
            ),
            "{text}"
        );
        assert_eq!(
            String::from_utf8(e.payload(&serde_json::json!({}), &env)).unwrap(),
            r#"{"rtu":"north \"1\"","received":"2026-11-24T10:15:30.200Z","node":"gw1"}"#
        );
        assert!(e.payload(&1, &env).is_empty());
    }
}

//! Building the protobuf payloads of births, data and deaths.

use prost::Message;

use crate::datatype::DataType;
use crate::proto::{Metric, Payload};
use crate::quality::properties;
use crate::value::Value;

use super::sample::Sample;
use super::table::Slot;

/// A node metric as the NBIRTH writes it.
pub(crate) struct NodeMetric<'a> {
    pub name: &'a str,
    pub alias: Option<u64>,
    pub value: Value,
}

/// Encodes a payload.
pub(crate) fn payload(timestamp: u64, seq: Option<u8>, metrics: Vec<Metric>) -> Vec<u8> {
    Payload {
        timestamp: Some(timestamp),
        metrics,
        seq: seq.map(u64::from),
        uuid: None,
        body: None,
    }
    .encode_to_vec()
}

/// A node metric of a birth or death: name, alias (when it has one), datatype and value.
pub(crate) fn node_metric(m: &NodeMetric<'_>, timestamp: u64) -> Metric {
    Metric {
        name: Some(m.name.to_owned()),
        alias: m.alias,
        timestamp: Some(timestamp),
        datatype: Some(m.value.datatype().number()),
        value: Some(m.value.to_proto()),
        ..Default::default()
    }
}

/// A device metric of a DBIRTH: name, alias, datatype, current value (or `is_null`), the
/// time of that value and its quality properties.
pub(crate) fn birth_metric(slot: &Slot, now: u64) -> Metric {
    let mut m = Metric {
        name: Some(slot.name.clone()),
        alias: Some(slot.alias),
        timestamp: Some(slot.timestamp.unwrap_or(now)),
        datatype: Some(slot.datatype.number()),
        ..Default::default()
    };
    set_value(&mut m, slot.value.as_ref());
    if let Some((q, extras)) = slot.quality {
        m.properties = Some(properties(q, extras));
    }
    m
}

/// A device metric of a DDATA: the alias alone (no name, no datatype, as Sparkplug 3.0
/// advises for data messages), the value or `is_null`, its time and quality.
pub(crate) fn data_metric(slot: &Slot, sample: &Sample, historical: bool) -> Metric {
    let mut m = Metric {
        alias: Some(slot.alias),
        timestamp: Some(sample.timestamp),
        is_historical: historical.then_some(true),
        ..Default::default()
    };
    set_value(&mut m, sample.value.as_ref());
    if let Some((q, extras)) = sample.quality {
        m.properties = Some(properties(q, extras));
    }
    m
}

fn set_value(m: &mut Metric, value: Option<&Value>) {
    match value {
        Some(v) => m.value = Some(v.to_proto()),
        None => m.is_null = Some(true),
    }
}

/// The `bdSeq` metric of NBIRTH and NDEATH: Int64, as Sparkplug 3.0
/// (tck-id-message-flow-edge-node-birth-publish-nbirth-payload-bdSeq) requires.
pub(crate) fn bd_seq_metric(bd_seq: u8, timestamp: u64) -> Metric {
    Metric {
        name: Some("bdSeq".to_owned()),
        timestamp: Some(timestamp),
        datatype: Some(DataType::Int64.number()),
        value: Some(Value::Int64(i64::from(bd_seq)).to_proto()),
        ..Default::default()
    }
}

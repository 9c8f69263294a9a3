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

/// A DDATA payload written straight into one buffer: the bytes prost writes for
/// [`payload`] of the samples' [`data_metric`]s (fields in tag order), without building a
/// `Metric` and its property set per value. Each metric is written into `scratch` first
/// (its length precedes it), so nothing is allocated per value once the buffers have grown.
pub(crate) fn data_payload(
    timestamp: u64,
    seq: u8,
    slots: &[Slot],
    samples: &[Sample],
    historical: bool,
    scratch: &mut Vec<u8>,
) -> Vec<u8> {
    use prost::encoding::{encode_key, encode_varint, WireType};
    let mut out = Vec::with_capacity(16 + samples.len() * 40);
    encode_key(1, WireType::Varint, &mut out);
    encode_varint(timestamp, &mut out);
    for sample in samples {
        let Some(slot) = slots.get(sample.slot) else {
            continue;
        };
        scratch.clear();
        write_data_metric(slot.alias, sample, historical, scratch);
        encode_key(2, WireType::LengthDelimited, &mut out);
        encode_varint(scratch.len() as u64, &mut out);
        out.extend_from_slice(scratch);
    }
    encode_key(3, WireType::Varint, &mut out);
    encode_varint(u64::from(seq), &mut out);
    out
}

/// The fields of one DDATA metric, as [`data_metric`] gives them to prost.
fn write_data_metric(alias: u64, sample: &Sample, historical: bool, buf: &mut Vec<u8>) {
    use prost::encoding::{encode_key, encode_varint, WireType};
    encode_key(2, WireType::Varint, buf);
    encode_varint(alias, buf);
    encode_key(3, WireType::Varint, buf);
    encode_varint(sample.timestamp, buf);
    if historical {
        encode_key(5, WireType::Varint, buf);
        encode_varint(1, buf);
    }
    if sample.value.is_none() {
        encode_key(7, WireType::Varint, buf);
        encode_varint(1, buf);
    }
    if let Some((q, extras)) = sample.quality {
        let len = crate::quality::write_properties(q, extras, None);
        encode_key(9, WireType::LengthDelimited, buf);
        encode_varint(len as u64, buf);
        crate::quality::write_properties(q, extras, Some(buf));
    }
    if let Some(v) = &sample.value {
        v.to_proto().encode(buf);
    }
}

/// A device metric of a DDATA: the alias alone (no name, no datatype, as Sparkplug 3.0
/// advises for data messages), the value or `is_null`, its time and quality.
#[cfg(test)]
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

#[cfg(test)]
mod tests {
    use iec104::asdu::Quality;
    use proptest::prelude::*;

    use super::*;
    use crate::quality::Extras;

    fn value() -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            Just(None),
            any::<f32>().prop_map(|v| Some(Value::Float(v))),
            any::<bool>().prop_map(|v| Some(Value::Boolean(v))),
            any::<i8>().prop_map(|v| Some(Value::Int8(v))),
            any::<i16>().prop_map(|v| Some(Value::Int16(v))),
            any::<i32>().prop_map(|v| Some(Value::Int32(v))),
            any::<u8>().prop_map(|v| Some(Value::UInt8(v))),
            any::<u32>().prop_map(|v| Some(Value::UInt32(v))),
        ]
    }

    fn quality() -> impl Strategy<Value = Option<(Quality, Extras)>> {
        let extras = (
            proptest::option::of(any::<bool>()),
            proptest::option::of(0u8..32),
        );
        proptest::option::of((any::<u8>(), extras)).prop_map(|q| {
            q.map(|(bits, (transient, sequence))| {
                let extras = Extras {
                    transient,
                    sequence,
                };
                (Quality::from_bits(bits), extras)
            })
        })
    }

    fn slot(alias: u64) -> Slot {
        Slot {
            name: String::new(),
            alias,
            datatype: DataType::Float,
            address: None,
            command: None,
            result: None,
            value: None,
            quality: None,
            timestamp: None,
        }
    }

    proptest! {
        /// The DDATA written field by field is byte for byte what prost writes for the same
        /// metrics (prost follows the .proto: tag order, proto2 presence, oneof always
        /// written), whatever the values, qualities, extras, aliases and times.
        #[test]
        fn ddata_written_directly_is_what_prost_writes(
            metrics in proptest::collection::vec((any::<u64>(), value(), quality(), any::<u64>()), 0..24),
            now in any::<u64>(),
            seq in any::<u8>(),
            historical in any::<bool>(),
        ) {
            let slots: Vec<Slot> = metrics.iter().map(|m| slot(m.0)).collect();
            let samples: Vec<Sample> = metrics
                .into_iter()
                .enumerate()
                .map(|(i, (_, value, quality, timestamp))| Sample { slot: i, value, quality, timestamp })
                .collect();
            let expected = payload(
                now,
                Some(seq),
                samples.iter().map(|s| data_metric(&slots[s.slot], s, historical)).collect(),
            );
            let mut scratch = Vec::new();
            prop_assert_eq!(
                data_payload(now, seq, &slots, &samples, historical, &mut scratch),
                expected
            );
        }
    }
}

//! Typed metric values and their protobuf encoding.

use crate::datatype::DataType;
use crate::proto::MetricValue;

/// A metric value of one of the scalar datatypes this crate handles.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Boolean.
    Boolean(bool),
    /// Int8.
    Int8(i8),
    /// Int16.
    Int16(i16),
    /// Int32.
    Int32(i32),
    /// Int64.
    Int64(i64),
    /// UInt8.
    UInt8(u8),
    /// UInt16.
    UInt16(u16),
    /// UInt32.
    UInt32(u32),
    /// UInt64.
    UInt64(u64),
    /// Float.
    Float(f32),
    /// Double.
    Double(f64),
    /// String.
    String(String),
}

impl Value {
    /// The datatype of this value.
    pub fn datatype(&self) -> DataType {
        match self {
            Value::Boolean(_) => DataType::Boolean,
            Value::Int8(_) => DataType::Int8,
            Value::Int16(_) => DataType::Int16,
            Value::Int32(_) => DataType::Int32,
            Value::Int64(_) => DataType::Int64,
            Value::UInt8(_) => DataType::UInt8,
            Value::UInt16(_) => DataType::UInt16,
            Value::UInt32(_) => DataType::UInt32,
            Value::UInt64(_) => DataType::UInt64,
            Value::Float(_) => DataType::Float,
            Value::Double(_) => DataType::Double,
            Value::String(_) => DataType::String,
        }
    }

    /// The `Metric.value` field for this value: signed integers up to 32 bits are written in
    /// `int_value` as two's complement of 32 bits, 64-bit ones in `long_value` (Sparkplug 3.0
    /// §6.4.16).
    pub fn to_proto(&self) -> MetricValue {
        match *self {
            Value::Boolean(v) => MetricValue::BooleanValue(v),
            Value::Int8(v) => MetricValue::IntValue(i32::from(v) as u32),
            Value::Int16(v) => MetricValue::IntValue(i32::from(v) as u32),
            Value::Int32(v) => MetricValue::IntValue(v as u32),
            Value::Int64(v) => MetricValue::LongValue(v as u64),
            Value::UInt8(v) => MetricValue::IntValue(u32::from(v)),
            Value::UInt16(v) => MetricValue::IntValue(u32::from(v)),
            Value::UInt32(v) => MetricValue::IntValue(v),
            Value::UInt64(v) => MetricValue::LongValue(v),
            Value::Float(v) => MetricValue::FloatValue(v),
            Value::Double(v) => MetricValue::DoubleValue(v),
            Value::String(ref v) => MetricValue::StringValue(v.clone()),
        }
    }

    /// Reads a value of `datatype` from a `Metric.value` field; `None` when the field does not
    /// hold that datatype or the number does not fit it.
    pub fn from_proto(datatype: DataType, value: &MetricValue) -> Option<Value> {
        use MetricValue as M;
        Some(match (datatype, value) {
            (DataType::Boolean, M::BooleanValue(v)) => Value::Boolean(*v),
            (DataType::Int8, M::IntValue(v)) => Value::Int8(i8::try_from(*v as i32).ok()?),
            (DataType::Int16, M::IntValue(v)) => Value::Int16(i16::try_from(*v as i32).ok()?),
            (DataType::Int32, M::IntValue(v)) => Value::Int32(*v as i32),
            (DataType::Int64, M::LongValue(v)) => Value::Int64(*v as i64),
            (DataType::UInt8, M::IntValue(v)) => Value::UInt8(u8::try_from(*v).ok()?),
            (DataType::UInt16, M::IntValue(v)) => Value::UInt16(u16::try_from(*v).ok()?),
            (DataType::UInt32, M::IntValue(v)) => Value::UInt32(*v),
            (DataType::UInt64 | DataType::DateTime, M::LongValue(v)) => Value::UInt64(*v),
            (DataType::Float, M::FloatValue(v)) => Value::Float(*v),
            (DataType::Double, M::DoubleValue(v)) => Value::Double(*v),
            (DataType::String, M::StringValue(v)) => Value::String(v.clone()),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn negative_small_integers_are_32_bit_twos_complement() {
        assert_eq!(
            Value::Int8(-1).to_proto(),
            MetricValue::IntValue(0xFFFF_FFFF)
        );
        assert_eq!(
            Value::Int16(-2).to_proto(),
            MetricValue::IntValue(0xFFFF_FFFE)
        );
        assert_eq!(
            Value::Int64(-1).to_proto(),
            MetricValue::LongValue(u64::MAX)
        );
    }

    #[test]
    fn every_value_reads_back_with_its_datatype() {
        let values = [
            Value::Boolean(true),
            Value::Int8(-64),
            Value::Int16(-32768),
            Value::Int32(i32::MIN),
            Value::Int64(-5),
            Value::UInt8(3),
            Value::UInt16(65535),
            Value::UInt32(u32::MAX),
            Value::UInt64(u64::MAX),
            Value::Float(-0.5),
            Value::Double(1e300),
            Value::String("x".into()),
        ];
        for v in values {
            assert_eq!(Value::from_proto(v.datatype(), &v.to_proto()), Some(v));
        }
    }

    #[test]
    fn a_value_of_another_kind_is_refused() {
        assert_eq!(
            Value::from_proto(DataType::Boolean, &MetricValue::IntValue(1)),
            None
        );
        assert_eq!(
            Value::from_proto(DataType::Int8, &MetricValue::IntValue(200)),
            None
        );
    }

    /// Bytes derived from the protobuf encoding rules, not from prost: a Metric with
    /// name "a" (field 1, LEN), alias 1 (field 2, VARINT), datatype 11 (field 4, VARINT) and
    /// boolean_value true (field 14, VARINT).
    #[test]
    fn metric_wire_bytes_follow_the_proto_field_numbers() {
        let m = crate::proto::Metric {
            name: Some("a".into()),
            alias: Some(1),
            datatype: Some(11),
            value: Some(MetricValue::BooleanValue(true)),
            ..Default::default()
        };
        let expected = [0x0A, 0x01, b'a', 0x10, 0x01, 0x20, 0x0B, 0x70, 0x01];
        assert_eq!(m.encode_to_vec(), expected);
    }
}

//! Values of the history as the driver keeps them durably: what the edge node asks to store
//! ([`HeldChange::Hold`]) and to remove once sent ([`HeldChange::Release`]), and their bytes.
//!
//! A held value names its metric by point address (or, for a metric without one, by name),
//! not by its place in the table, since points learnt from values may take other places
//! after a restart.

use iec104::asdu::Quality;

use crate::datatype::DataType;
use crate::point::PointAddress;
use crate::quality::Extras;
use crate::value::Value;

/// One value of the history, to be stored until it was sent.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldValue {
    /// Growing number of the value (1, 2, …, continuing after restored values).
    pub id: u64,
    /// The point, for point metrics.
    pub address: Option<PointAddress>,
    /// The metric name, for metrics without a point address.
    pub name: Option<String>,
    /// The metric's datatype.
    pub datatype: DataType,
    /// The value; `None` is sent as `is_null`.
    pub value: Option<Value>,
    /// Quality and extras of point metrics.
    pub quality: Option<(Quality, Extras)>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
}

/// What the durable copy of the history must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum HeldChange {
    /// Store this value (the oldest beyond the history's capacity are dropped, as the edge
    /// node drops them from its own copy).
    Hold(HeldValue),
    /// Every value with an id up to this one was sent: remove them.
    Release(u64),
}

/// Why stored bytes are not a held value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeldDecodeError {
    /// The bytes end early.
    #[error("held value truncated")]
    Truncated,
    /// The format version is not one this build writes.
    #[error("held value of unknown format version {0}")]
    Version(u8),
    /// The datatype number is not one of a point metric.
    #[error("held value of unknown datatype {0}")]
    DataType(u8),
    /// A name or string value is not UTF-8.
    #[error("held value with a string that is not UTF-8")]
    Utf8,
}

const VERSION: u8 = 1;
const HAS_ADDRESS: u8 = 0x01;
const HAS_NAME: u8 = 0x02;
const HAS_VALUE: u8 = 0x04;
const HAS_QUALITY: u8 = 0x08;
const HAS_TRANSIENT: u8 = 0x10;
const TRANSIENT: u8 = 0x20;
const HAS_SEQUENCE: u8 = 0x40;

impl HeldValue {
    /// The bytes kept on disk: version 1, flags, id, timestamp, datatype, then what the
    /// flags announce (address, name, quality, sequence, value), big-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut flags = 0;
        let mut out = Vec::with_capacity(40);
        out.push(VERSION);
        out.push(0);
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.push(self.datatype.number() as u8);
        if let Some(a) = self.address {
            flags |= HAS_ADDRESS;
            out.extend_from_slice(&a.ca.to_be_bytes());
            out.extend_from_slice(&a.ioa.to_be_bytes());
        }
        if let Some(n) = &self.name {
            flags |= HAS_NAME;
            put_str(&mut out, n);
        }
        if let Some((q, extras)) = self.quality {
            flags |= HAS_QUALITY;
            out.push(q.bits());
            if let Some(t) = extras.transient {
                flags |= HAS_TRANSIENT | if t { TRANSIENT } else { 0 };
            }
            if let Some(s) = extras.sequence {
                flags |= HAS_SEQUENCE;
                out.push(s);
            }
        }
        if let Some(v) = &self.value {
            flags |= HAS_VALUE;
            put_value(&mut out, v);
        }
        out[1] = flags;
        out
    }

    /// Reads bytes written by [`HeldValue::encode`].
    pub fn decode(bytes: &[u8]) -> Result<HeldValue, HeldDecodeError> {
        let mut r = Reader(bytes);
        let version = r.u8()?;
        if version != VERSION {
            return Err(HeldDecodeError::Version(version));
        }
        let flags = r.u8()?;
        let id = r.u64()?;
        let timestamp = r.u64()?;
        let number = r.u8()?;
        let datatype = DataType::from_number(u32::from(number))
            .filter(|d| *d != DataType::DateTime)
            .ok_or(HeldDecodeError::DataType(number))?;
        let address = if flags & HAS_ADDRESS != 0 {
            let ca = u16::from_be_bytes(r.array()?);
            let ioa = u32::from_be_bytes(r.array()?);
            Some(PointAddress { ca, ioa })
        } else {
            None
        };
        let name = if flags & HAS_NAME != 0 {
            Some(r.string()?)
        } else {
            None
        };
        let quality = if flags & HAS_QUALITY != 0 {
            let q = Quality::from_bits(r.u8()?);
            let transient = (flags & HAS_TRANSIENT != 0).then_some(flags & TRANSIENT != 0);
            let sequence = if flags & HAS_SEQUENCE != 0 {
                Some(r.u8()?)
            } else {
                None
            };
            Some((
                q,
                Extras {
                    transient,
                    sequence,
                },
            ))
        } else {
            None
        };
        let value = if flags & HAS_VALUE != 0 {
            Some(r.value(datatype)?)
        } else {
            None
        };
        Ok(HeldValue {
            id,
            address,
            name,
            datatype,
            value,
            quality,
            timestamp,
        })
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..len as usize]);
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    let raw: u64 = match *v {
        Value::Boolean(b) => u64::from(b),
        Value::Int8(x) => i64::from(x) as u64,
        Value::Int16(x) => i64::from(x) as u64,
        Value::Int32(x) => i64::from(x) as u64,
        Value::Int64(x) => x as u64,
        Value::UInt8(x) => u64::from(x),
        Value::UInt16(x) => u64::from(x),
        Value::UInt32(x) => u64::from(x),
        Value::UInt64(x) => x,
        Value::Float(x) => u64::from(x.to_bits()),
        Value::Double(x) => x.to_bits(),
        Value::String(ref s) => {
            put_str(out, s);
            return;
        }
    };
    out.extend_from_slice(&raw.to_be_bytes());
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn array<const N: usize>(&mut self) -> Result<[u8; N], HeldDecodeError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or(HeldDecodeError::Truncated)?;
        self.0 = rest;
        Ok(*head)
    }

    fn u8(&mut self) -> Result<u8, HeldDecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u64(&mut self) -> Result<u64, HeldDecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn string(&mut self) -> Result<String, HeldDecodeError> {
        let len = u32::from_be_bytes(self.array()?) as usize;
        if self.0.len() < len {
            return Err(HeldDecodeError::Truncated);
        }
        let (s, rest) = self.0.split_at(len);
        self.0 = rest;
        String::from_utf8(s.to_vec()).map_err(|_| HeldDecodeError::Utf8)
    }

    /// A value of `datatype`; the raw 64 bits are cut to the datatype's width as written.
    fn value(&mut self, datatype: DataType) -> Result<Value, HeldDecodeError> {
        if datatype == DataType::String {
            return Ok(Value::String(self.string()?));
        }
        let raw = self.u64()?;
        Ok(match datatype {
            DataType::Boolean => Value::Boolean(raw != 0),
            DataType::Int8 => Value::Int8(raw as i8),
            DataType::Int16 => Value::Int16(raw as i16),
            DataType::Int32 => Value::Int32(raw as i32),
            DataType::Int64 => Value::Int64(raw as i64),
            DataType::UInt8 => Value::UInt8(raw as u8),
            DataType::UInt16 => Value::UInt16(raw as u16),
            DataType::UInt32 => Value::UInt32(raw as u32),
            DataType::UInt64 => Value::UInt64(raw),
            DataType::Float => Value::Float(f32::from_bits(raw as u32)),
            DataType::Double => Value::Double(f64::from_bits(raw)),
            DataType::String | DataType::DateTime => {
                return Err(HeldDecodeError::DataType(datatype.number() as u8))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(value: Option<Value>, datatype: DataType) -> HeldValue {
        HeldValue {
            id: 7,
            address: Some(PointAddress { ca: 1, ioa: 70_000 }),
            name: None,
            datatype,
            value,
            quality: Some((
                Quality::from_bits(0x81),
                Extras {
                    transient: Some(true),
                    sequence: Some(5),
                },
            )),
            timestamp: 1_700_000_000_123,
        }
    }

    #[test]
    fn round_trip_of_every_point_datatype_and_null() {
        let cases = [
            (Some(Value::Boolean(true)), DataType::Boolean),
            (Some(Value::Int8(-64)), DataType::Int8),
            (Some(Value::Int16(-32768)), DataType::Int16),
            (Some(Value::Int32(-5)), DataType::Int32),
            (Some(Value::UInt8(3)), DataType::UInt8),
            (Some(Value::UInt32(u32::MAX)), DataType::UInt32),
            (Some(Value::Float(-0.5)), DataType::Float),
            (Some(Value::String("pending".into())), DataType::String),
            (None, DataType::Float),
        ];
        for (value, datatype) in cases {
            let h = held(value, datatype);
            assert_eq!(HeldValue::decode(&h.encode()), Ok(h));
        }
        let named = HeldValue {
            address: None,
            name: Some("breaker/Command Result".into()),
            quality: None,
            ..held(Some(Value::String("refused".into())), DataType::String)
        };
        assert_eq!(HeldValue::decode(&named.encode()), Ok(named));
    }

    #[test]
    fn bad_bytes_are_typed_errors() {
        let bytes = held(Some(Value::Float(1.0)), DataType::Float).encode();
        for n in 0..bytes.len() {
            assert_eq!(
                HeldValue::decode(&bytes[..n]),
                Err(HeldDecodeError::Truncated),
                "{n}"
            );
        }
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert_eq!(HeldValue::decode(&v2), Err(HeldDecodeError::Version(2)));
        let mut dt = bytes;
        dt[18] = 99;
        assert_eq!(HeldValue::decode(&dt), Err(HeldDecodeError::DataType(99)));
    }
}

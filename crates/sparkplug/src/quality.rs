//! IEC 60870-5-104 quality descriptors as Sparkplug metric properties.

use iec104::asdu::Quality;

use crate::datatype::DataType;
use crate::proto::{PropertySet, PropertyValue, PropertyValueKind};

/// The per-bit property names, in the order they are written after `"Quality"`.
const BITS: [(Quality, &str); 8] = [
    (Quality::IV, "IV"),
    (Quality::NT, "NT"),
    (Quality::SB, "SB"),
    (Quality::BL, "BL"),
    (Quality::OV, "OV"),
    (Quality::EI, "EI"),
    (Quality::CA, "CA"),
    (Quality::CY, "CY"),
];

/// Extra facts of a value written as properties beside its quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Extras {
    /// Step position transient flag (VTI bit 8).
    pub transient: Option<bool>,
    /// Counter sequence number (BCR SQ).
    pub sequence: Option<u8>,
}

/// The property set of a metric: `"Quality"` (UInt8, the raw bits of
/// [`iec104::asdu::Quality`]: IV 0x80, NT 0x40, SB 0x20, BL 0x10, EI 0x08, CA 0x04, CY 0x02,
/// OV 0x01), then one Boolean per flag that is set, then `"Transient"` / `"Sequence"` when
/// given. `"Quality" = 0` means good.
pub fn properties(quality: Quality, extras: Extras) -> PropertySet {
    let mut set = PropertySet::default();
    push(
        &mut set,
        "Quality",
        DataType::UInt8,
        PropertyValueKind::IntValue(u32::from(quality.bits())),
    );
    for (bit, name) in BITS {
        if quality.contains(bit) {
            push(
                &mut set,
                name,
                DataType::Boolean,
                PropertyValueKind::BooleanValue(true),
            );
        }
    }
    if let Some(t) = extras.transient {
        push(
            &mut set,
            "Transient",
            DataType::Boolean,
            PropertyValueKind::BooleanValue(t),
        );
    }
    if let Some(s) = extras.sequence {
        push(
            &mut set,
            "Sequence",
            DataType::UInt8,
            PropertyValueKind::IntValue(u32::from(s)),
        );
    }
    set
}

/// Writes the fields of [`properties`]`(quality, extras)` as prost encodes them (every key,
/// then every value) into `buf`, or only measures them when `buf` is `None`; returns their
/// length in octets. Allocates nothing.
pub(crate) fn write_properties(
    quality: Quality,
    extras: Extras,
    mut buf: Option<&mut Vec<u8>>,
) -> usize {
    use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
    // (key, datatype, boolean or integer value) in the order of `properties`.
    let bits = BITS
        .iter()
        .filter(|(bit, _)| quality.contains(*bit))
        .map(|&(_, name)| (name, DataType::Boolean, 1u32));
    let all = std::iter::once(("Quality", DataType::UInt8, u32::from(quality.bits())))
        .chain(bits)
        .chain(
            extras
                .transient
                .map(|t| ("Transient", DataType::Boolean, u32::from(t))),
        )
        .chain(
            extras
                .sequence
                .map(|s| ("Sequence", DataType::UInt8, u32::from(s))),
        );
    let mut len = 0;
    for (key, _, _) in all.clone() {
        len += 1 + encoded_len_varint(key.len() as u64) + key.len();
        if let Some(b) = buf.as_deref_mut() {
            encode_key(1, WireType::LengthDelimited, b);
            encode_varint(key.len() as u64, b);
            b.extend_from_slice(key.as_bytes());
        }
    }
    for (_, datatype, value) in all {
        // PropertyValue: type (1), then int_value (3) or boolean_value (7).
        let field = if datatype == DataType::Boolean { 7 } else { 3 };
        let number = u64::from(datatype.number());
        let inner = 1 + encoded_len_varint(number) + 1 + encoded_len_varint(u64::from(value));
        len += 1 + encoded_len_varint(inner as u64) + inner;
        if let Some(b) = buf.as_deref_mut() {
            encode_key(2, WireType::LengthDelimited, b);
            encode_varint(inner as u64, b);
            encode_key(1, WireType::Varint, b);
            encode_varint(number, b);
            encode_key(field, WireType::Varint, b);
            encode_varint(u64::from(value), b);
        }
    }
    len
}

fn push(set: &mut PropertySet, key: &str, datatype: DataType, value: PropertyValueKind) {
    set.keys.push(key.to_owned());
    set.values.push(PropertyValue {
        r#type: Some(datatype.number()),
        is_null: None,
        value: Some(value),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_quality_is_a_single_zero() {
        let set = properties(Quality::GOOD, Extras::default());
        assert_eq!(set.keys, ["Quality"]);
        assert_eq!(set.values[0].value, Some(PropertyValueKind::IntValue(0)));
        assert_eq!(set.values[0].r#type, Some(5));
    }

    #[test]
    fn each_set_flag_is_a_boolean_property() {
        let q = Quality::IV.union(Quality::NT).union(Quality::OV);
        let set = properties(
            q,
            Extras {
                transient: Some(true),
                sequence: Some(7),
            },
        );
        assert_eq!(
            set.keys,
            ["Quality", "IV", "NT", "OV", "Transient", "Sequence"]
        );
        assert_eq!(set.values[0].value, Some(PropertyValueKind::IntValue(0xC1)));
        assert_eq!(set.values[5].value, Some(PropertyValueKind::IntValue(7)));
    }
}

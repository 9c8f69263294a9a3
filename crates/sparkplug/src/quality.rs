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

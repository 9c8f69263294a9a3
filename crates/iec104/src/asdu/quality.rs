//! A uniform quality bitset over the quality bits of every information element (QDS, SIQ,
//! DIQ, QDP, SEP, BCR), for layers that want one representation (e.g. JSON).

use std::fmt;

/// Quality flags gathered from any element's quality bits.
///
/// The bit positions of IV, NT, SB, BL, EI and OV are those of the QDS/QDP octets
/// (IEC 60870-5-101 §7.2.6.3–4), so the conversion from those octets is a mask; the counter
/// flags CY and CA (BCR octet 5) are placed in the bits QDS leaves unused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Quality(u8);

impl Quality {
    /// OV: overflow.
    pub const OV: Quality = Quality(0x01);
    /// CY: carry (counter overflow in the integration period).
    pub const CY: Quality = Quality(0x02);
    /// CA: counter was adjusted.
    pub const CA: Quality = Quality(0x04);
    /// EI: elapsed time invalid (protection events).
    pub const EI: Quality = Quality(0x08);
    /// BL: blocked.
    pub const BL: Quality = Quality(0x10);
    /// SB: substituted.
    pub const SB: Quality = Quality(0x20);
    /// NT: not topical.
    pub const NT: Quality = Quality(0x40);
    /// IV: invalid.
    pub const IV: Quality = Quality(0x80);
    /// No flag set: good quality.
    pub const GOOD: Quality = Quality(0);

    const NAMES: [(Quality, &'static str); 8] = [
        (Quality::IV, "IV"),
        (Quality::NT, "NT"),
        (Quality::SB, "SB"),
        (Quality::BL, "BL"),
        (Quality::OV, "OV"),
        (Quality::EI, "EI"),
        (Quality::CA, "CA"),
        (Quality::CY, "CY"),
    ];

    /// The raw bits of this type (not an octet of the standard; see the type docs).
    #[inline]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// The set from raw bits of this type.
    #[inline]
    pub const fn from_bits(bits: u8) -> Quality {
        Quality(bits)
    }

    /// True when every flag of `other` is set in `self`.
    #[inline]
    pub const fn contains(self, other: Quality) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when no flag is set.
    #[inline]
    pub const fn is_good(self) -> bool {
        self.0 == 0
    }

    /// The union of both sets.
    #[inline]
    pub const fn union(self, other: Quality) -> Quality {
        Quality(self.0 | other.0)
    }

    /// The names of the flags that are set ("IV", "NT", "SB", "BL", "OV", "EI", "CA", "CY"),
    /// in that order.
    pub fn iter_names(self) -> impl Iterator<Item = &'static str> {
        Quality::NAMES
            .into_iter()
            .filter(move |(q, _)| self.contains(*q))
            .map(|(_, n)| n)
    }

    /// The flag of a name written by [`Quality::iter_names`].
    pub fn from_name(name: &str) -> Option<Quality> {
        Quality::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(q, _)| *q)
    }

    /// From a QDS octet (IV, NT, SB, BL, OV; reserved bits 2–4 ignored).
    #[inline]
    pub const fn from_qds(octet: u8) -> Quality {
        Quality(octet & 0xF1)
    }

    /// From a QDP or SEP octet (IV, NT, SB, BL, EI; bits 1–3 ignored).
    #[inline]
    pub const fn from_qdp(octet: u8) -> Quality {
        Quality(octet & 0xF8)
    }

    /// From a SIQ or DIQ octet's quality bits (IV, NT, SB, BL).
    #[inline]
    pub const fn from_siq(octet: u8) -> Quality {
        Quality(octet & 0xF0)
    }

    /// From the fifth octet of a BCR (IV 0x80, CA 0x40, CY 0x20).
    #[inline]
    pub const fn from_bcr(octet: u8) -> Quality {
        Quality(
            (octet & 0x80)
                | if octet & 0x40 != 0 { 0x04 } else { 0 }
                | if octet & 0x20 != 0 { 0x02 } else { 0 },
        )
    }
}

impl std::ops::BitOr for Quality {
    type Output = Quality;
    fn bitor(self, rhs: Quality) -> Quality {
        self.union(rhs)
    }
}

impl fmt::Debug for Quality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Quality(")?;
        fmt::Display::fmt(self, f)?;
        write!(f, ")")
    }
}

impl fmt::Display for Quality {
    /// Flag names joined by `|`, or `GOOD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_good() {
            return f.write_str("GOOD");
        }
        for (i, name) in self.iter_names().enumerate() {
            if i > 0 {
                f.write_str("|")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_and_names() {
        // QDS 0xF1 = IV NT SB BL OV (bits 8,7,6,5,1), bits 2-4 reserved.
        let q = Quality::from_qds(0xF1 | 0x06);
        assert_eq!(
            q.iter_names().collect::<Vec<_>>(),
            ["IV", "NT", "SB", "BL", "OV"]
        );
        // SIQ 0x31: BL SB, SPI on.
        assert_eq!(Quality::from_siq(0x31), Quality::BL | Quality::SB);
        // SIQ bit 4 (0x08) is reserved, QDP bit 4 is EI.
        assert_eq!(Quality::from_siq(0x08), Quality::GOOD);
        assert_eq!(Quality::from_qdp(0x0F), Quality::EI);
        // BCR octet 0xE5: IV CA CY, sequence 5.
        assert_eq!(
            Quality::from_bcr(0xE5),
            Quality::IV | Quality::CA | Quality::CY
        );
        assert_eq!(Quality::from_bcr(0x1F), Quality::GOOD);
        assert_eq!(Quality::from_name("EI"), Some(Quality::EI));
        assert_eq!(Quality::from_name("XX"), None);
        assert_eq!((Quality::IV | Quality::OV).to_string(), "IV|OV");
        assert_eq!(Quality::GOOD.to_string(), "GOOD");
        for bits in 0..=255u8 {
            let q = Quality::from_bits(bits);
            let back = q
                .iter_names()
                .filter_map(Quality::from_name)
                .fold(Quality::GOOD, |a, b| a | b);
            assert_eq!(back, q);
        }
    }
}

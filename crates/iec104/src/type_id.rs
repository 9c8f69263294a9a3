//! Type identification (the first octet of every ASDU), IEC 60870-5-101 §7.2.1 and
//! IEC 60870-5-104 §8.

use std::fmt;

macro_rules! type_ids {
    ($( $(#[$doc:meta])* $name:ident = $value:literal ),* $(,)?) => {
        /// Every type identification defined by the companion standard (IEC 60870-5-101 and -104).
        ///
        /// An ASDU whose type octet is not one of these is kept as a raw view at the ASDU
        /// level ([`crate::asdu::AsduView::raw_body`], no objects); [`TypeId::from_u8`] gives
        /// `None` for it and the header keeps the raw octet.
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum TypeId {
            $( $(#[$doc])* $name = $value, )*
        }

        impl TypeId {
            /// Every defined type id, in numeric order.
            pub const ALL: &'static [TypeId] = &[ $( TypeId::$name, )* ];

            /// The type id for a raw octet, or `None` when the standard does not define it.
            #[inline]
            pub const fn from_u8(value: u8) -> Option<TypeId> {
                match value {
                    $( $value => Some(TypeId::$name), )*
                    _ => None,
                }
            }

            /// The standard's mnemonic, e.g. `"M_ME_NC_1"`.
            pub const fn name(self) -> &'static str {
                match self {
                    $( TypeId::$name => stringify!($name), )*
                }
            }

            /// Parses the standard's mnemonic (case-sensitive, e.g. `"C_DC_NA_1"`).
            pub fn from_name(name: &str) -> Option<TypeId> {
                match name {
                    $( stringify!($name) => Some(TypeId::$name), )*
                    _ => None,
                }
            }
        }
    };
}

type_ids! {
    /// Single-point information.
    M_SP_NA_1 = 1,
    /// Single-point information with CP24Time2a.
    M_SP_TA_1 = 2,
    /// Double-point information.
    M_DP_NA_1 = 3,
    /// Double-point information with CP24Time2a.
    M_DP_TA_1 = 4,
    /// Step position information.
    M_ST_NA_1 = 5,
    /// Step position information with CP24Time2a.
    M_ST_TA_1 = 6,
    /// Bitstring of 32 bits.
    M_BO_NA_1 = 7,
    /// Bitstring of 32 bits with CP24Time2a.
    M_BO_TA_1 = 8,
    /// Measured value, normalized value.
    M_ME_NA_1 = 9,
    /// Measured value, normalized value with CP24Time2a.
    M_ME_TA_1 = 10,
    /// Measured value, scaled value.
    M_ME_NB_1 = 11,
    /// Measured value, scaled value with CP24Time2a.
    M_ME_TB_1 = 12,
    /// Measured value, short floating point.
    M_ME_NC_1 = 13,
    /// Measured value, short floating point with CP24Time2a.
    M_ME_TC_1 = 14,
    /// Integrated totals.
    M_IT_NA_1 = 15,
    /// Integrated totals with CP24Time2a.
    M_IT_TA_1 = 16,
    /// Event of protection equipment with CP24Time2a.
    M_EP_TA_1 = 17,
    /// Packed start events of protection equipment with CP24Time2a.
    M_EP_TB_1 = 18,
    /// Packed output circuit information of protection equipment with CP24Time2a.
    M_EP_TC_1 = 19,
    /// Packed single-point information with status change detection.
    M_PS_NA_1 = 20,
    /// Measured value, normalized value without quality descriptor.
    M_ME_ND_1 = 21,
    /// Single-point information with CP56Time2a.
    M_SP_TB_1 = 30,
    /// Double-point information with CP56Time2a.
    M_DP_TB_1 = 31,
    /// Step position information with CP56Time2a.
    M_ST_TB_1 = 32,
    /// Bitstring of 32 bits with CP56Time2a.
    M_BO_TB_1 = 33,
    /// Measured value, normalized value with CP56Time2a.
    M_ME_TD_1 = 34,
    /// Measured value, scaled value with CP56Time2a.
    M_ME_TE_1 = 35,
    /// Measured value, short floating point with CP56Time2a.
    M_ME_TF_1 = 36,
    /// Integrated totals with CP56Time2a.
    M_IT_TB_1 = 37,
    /// Event of protection equipment with CP56Time2a.
    M_EP_TD_1 = 38,
    /// Packed start events of protection equipment with CP56Time2a.
    M_EP_TE_1 = 39,
    /// Packed output circuit information of protection equipment with CP56Time2a.
    M_EP_TF_1 = 40,
    /// Single command.
    C_SC_NA_1 = 45,
    /// Double command.
    C_DC_NA_1 = 46,
    /// Regulating step command.
    C_RC_NA_1 = 47,
    /// Set-point command, normalized value.
    C_SE_NA_1 = 48,
    /// Set-point command, scaled value.
    C_SE_NB_1 = 49,
    /// Set-point command, short floating point.
    C_SE_NC_1 = 50,
    /// Bitstring of 32 bits command.
    C_BO_NA_1 = 51,
    /// Single command with CP56Time2a.
    C_SC_TA_1 = 58,
    /// Double command with CP56Time2a.
    C_DC_TA_1 = 59,
    /// Regulating step command with CP56Time2a.
    C_RC_TA_1 = 60,
    /// Set-point command, normalized value with CP56Time2a.
    C_SE_TA_1 = 61,
    /// Set-point command, scaled value with CP56Time2a.
    C_SE_TB_1 = 62,
    /// Set-point command, short floating point with CP56Time2a.
    C_SE_TC_1 = 63,
    /// Bitstring of 32 bits command with CP56Time2a.
    C_BO_TA_1 = 64,
    /// End of initialization.
    M_EI_NA_1 = 70,
    /// Interrogation command.
    C_IC_NA_1 = 100,
    /// Counter interrogation command.
    C_CI_NA_1 = 101,
    /// Read command.
    C_RD_NA_1 = 102,
    /// Clock synchronization command.
    C_CS_NA_1 = 103,
    /// Test command (IEC 60870-5-101 only; -104 uses C_TS_TA_1).
    C_TS_NA_1 = 104,
    /// Reset process command.
    C_RP_NA_1 = 105,
    /// Delay acquisition command (IEC 60870-5-101 only).
    C_CD_NA_1 = 106,
    /// Test command with CP56Time2a.
    C_TS_TA_1 = 107,
    /// Parameter of measured value, normalized value.
    P_ME_NA_1 = 110,
    /// Parameter of measured value, scaled value.
    P_ME_NB_1 = 111,
    /// Parameter of measured value, short floating point.
    P_ME_NC_1 = 112,
    /// Parameter activation.
    P_AC_NA_1 = 113,
    /// File ready.
    F_FR_NA_1 = 120,
    /// Section ready.
    F_SR_NA_1 = 121,
    /// Call directory, select file, call file, call section.
    F_SC_NA_1 = 122,
    /// Last section, last segment.
    F_LS_NA_1 = 123,
    /// Acknowledge file, acknowledge section.
    F_AF_NA_1 = 124,
    /// Segment.
    F_SG_NA_1 = 125,
    /// Directory.
    F_DR_TA_1 = 126,
    /// Query log, request archive file.
    F_SC_NB_1 = 127,
}

impl TypeId {
    /// The raw octet.
    #[inline]
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// True for the control direction types 45..=64 (process commands).
    pub const fn is_command(self) -> bool {
        matches!(self as u8, 45..=51 | 58..=64)
    }

    /// True for monitor direction process information (1..=40).
    pub const fn is_monitor(self) -> bool {
        (self as u8) <= 40
    }
}

impl fmt::Display for TypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<u8> for TypeId {
    type Error = u8;
    fn try_from(value: u8) -> Result<Self, u8> {
        TypeId::from_u8(value).ok_or(value)
    }
}

impl From<TypeId> for u8 {
    fn from(t: TypeId) -> u8 {
        t as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_follows_the_standard() {
        // Spot checks against IEC 60870-5-101 table 8 / IEC 60870-5-104 table 1.
        assert_eq!(TypeId::from_u8(1), Some(TypeId::M_SP_NA_1));
        assert_eq!(TypeId::from_u8(21), Some(TypeId::M_ME_ND_1));
        assert_eq!(TypeId::from_u8(22), None);
        assert_eq!(TypeId::from_u8(30), Some(TypeId::M_SP_TB_1));
        assert_eq!(TypeId::from_u8(40), Some(TypeId::M_EP_TF_1));
        assert_eq!(TypeId::from_u8(45), Some(TypeId::C_SC_NA_1));
        assert_eq!(TypeId::from_u8(58), Some(TypeId::C_SC_TA_1));
        assert_eq!(TypeId::from_u8(70), Some(TypeId::M_EI_NA_1));
        assert_eq!(TypeId::from_u8(107), Some(TypeId::C_TS_TA_1));
        assert_eq!(TypeId::from_u8(113), Some(TypeId::P_AC_NA_1));
        assert_eq!(TypeId::from_u8(127), Some(TypeId::F_SC_NB_1));
        assert_eq!(TypeId::from_u8(0), None);
        assert_eq!(TypeId::from_u8(128), None);
        assert_eq!(TypeId::ALL.len(), 21 + 11 + 14 + 1 + 8 + 4 + 8);
    }

    #[test]
    fn names_round_trip() {
        for &t in TypeId::ALL {
            assert_eq!(TypeId::from_name(t.name()), Some(t));
            assert_eq!(TypeId::from_u8(t.as_u8()), Some(t));
        }
    }
}

//! Uniform accessors over [`Element`]: the quality flags and the time tag of any element, for
//! layers (JSON, MQTT) that treat every type alike.

use super::object::Element;
use super::quality::Quality;
use crate::time::{Cp24Time2a, Cp56Time2a};

/// The time tag an information object carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeTag {
    /// A full date and time (the `*_TB_1`, `C_*_TA_1` types, C_CS_NA_1, C_TS_TA_1, F_DR_TA_1).
    Cp56(Cp56Time2a),
    /// Minutes and milliseconds only (the `M_*_TA_1` types and M_EP_TA/TB/TC_1).
    Cp24(Cp24Time2a),
}

impl Element<'_> {
    /// The quality flags of elements that carry a quality descriptor (SIQ, DIQ, QDS, QDP,
    /// SEP, BCR): every monitor type except M_ME_ND_1; `None` for the others.
    pub fn quality(&self) -> Option<Quality> {
        use Element as E;
        Some(match self {
            E::M_SP_NA_1(s) | E::M_SP_TA_1(s, _) | E::M_SP_TB_1(s, _) => s.quality(),
            E::M_DP_NA_1(d) | E::M_DP_TA_1(d, _) | E::M_DP_TB_1(d, _) => d.quality(),
            E::M_ST_NA_1(_, q)
            | E::M_ST_TA_1(_, q, _)
            | E::M_ST_TB_1(_, q, _)
            | E::M_BO_NA_1(_, q)
            | E::M_BO_TA_1(_, q, _)
            | E::M_BO_TB_1(_, q, _)
            | E::M_ME_NA_1(_, q)
            | E::M_ME_TA_1(_, q, _)
            | E::M_ME_TD_1(_, q, _)
            | E::M_ME_NB_1(_, q)
            | E::M_ME_TB_1(_, q, _)
            | E::M_ME_TE_1(_, q, _)
            | E::M_ME_NC_1(_, q)
            | E::M_ME_TC_1(_, q, _)
            | E::M_ME_TF_1(_, q, _)
            | E::M_PS_NA_1(_, q) => q.quality(),
            E::M_IT_NA_1(c) | E::M_IT_TA_1(c, _) | E::M_IT_TB_1(c, _) => c.quality(),
            E::M_EP_TA_1(s, _, _) | E::M_EP_TD_1(s, _, _) => s.quality(),
            E::M_EP_TB_1(_, q, _, _)
            | E::M_EP_TC_1(_, q, _, _)
            | E::M_EP_TE_1(_, q, _, _)
            | E::M_EP_TF_1(_, q, _, _) => q.quality(),
            _ => return None,
        })
    }

    /// The time tag of the object, if its type has one. C_CS_NA_1 gives its clock value and
    /// F_DR_TA_1 the file's creation time; F_SC_NB_1's range is not a time tag.
    pub fn time_tag(&self) -> Option<TimeTag> {
        use Element as E;
        Some(match *self {
            E::M_SP_TA_1(_, t)
            | E::M_DP_TA_1(_, t)
            | E::M_ST_TA_1(_, _, t)
            | E::M_BO_TA_1(_, _, t)
            | E::M_ME_TA_1(_, _, t)
            | E::M_ME_TB_1(_, _, t)
            | E::M_ME_TC_1(_, _, t)
            | E::M_IT_TA_1(_, t)
            | E::M_EP_TA_1(_, _, t)
            | E::M_EP_TB_1(_, _, _, t)
            | E::M_EP_TC_1(_, _, _, t) => TimeTag::Cp24(t),
            E::M_SP_TB_1(_, t)
            | E::M_DP_TB_1(_, t)
            | E::M_ST_TB_1(_, _, t)
            | E::M_BO_TB_1(_, _, t)
            | E::M_ME_TD_1(_, _, t)
            | E::M_ME_TE_1(_, _, t)
            | E::M_ME_TF_1(_, _, t)
            | E::M_IT_TB_1(_, t)
            | E::M_EP_TD_1(_, _, t)
            | E::M_EP_TE_1(_, _, _, t)
            | E::M_EP_TF_1(_, _, _, t)
            | E::C_SC_TA_1(_, t)
            | E::C_DC_TA_1(_, t)
            | E::C_RC_TA_1(_, t)
            | E::C_SE_TA_1(_, _, t)
            | E::C_SE_TB_1(_, _, t)
            | E::C_SE_TC_1(_, _, t)
            | E::C_BO_TA_1(_, t)
            | E::C_CS_NA_1(t)
            | E::C_TS_TA_1(_, t) => TimeTag::Cp56(t),
            E::F_DR_TA_1(d) => TimeTag::Cp56(d.time),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::type_id::TypeId;

    #[test]
    fn quality_and_time_tag_cover_the_right_types() {
        for &t in TypeId::ALL {
            let len = Element::fixed_size(t).unwrap_or(0);
            // Every octet 0xFF except a valid segment header: all flags set.
            let mut b = vec![0xFF; len.max(4)];
            if t == TypeId::F_SG_NA_1 {
                b[3] = 0;
            }
            let (e, _) = Element::decode(t, &b).unwrap();
            let monitor = t.is_monitor() && t != TypeId::M_ME_ND_1;
            assert_eq!(e.quality().is_some(), monitor, "{t}");
            if let Some(q) = e.quality() {
                assert!(q.contains(Quality::IV), "{t}");
            }
            // The third part of the mnemonic starts with T for "with time tag".
            let timed = t
                .name()
                .split('_')
                .nth(2)
                .is_some_and(|p| p.starts_with('T'))
                || t == TypeId::C_CS_NA_1;
            assert_eq!(e.time_tag().is_some(), timed, "{t}");
            // CP24Time2a: the time-tagged types of the first range, 2..=19 (including
            // M_ME_TB_1 and M_ME_TC_1, whose names end in TB/TC).
            let short = timed && t.as_u8() <= 19;
            assert_eq!(matches!(e.time_tag(), Some(TimeTag::Cp24(_))), short, "{t}");
        }
    }
}

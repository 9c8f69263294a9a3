//! Cause of transmission, IEC 60870-5-101 §7.2.3.

use std::fmt;

/// The 6-bit cause of transmission. Values the standard leaves unassigned are kept in
/// [`Cause::Other`] so that a received ASDU is never refused for its cause alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// 1: periodic, cyclic.
    Periodic,
    /// 2: background scan.
    Background,
    /// 3: spontaneous.
    Spontaneous,
    /// 4: initialized.
    Initialized,
    /// 5: request or requested.
    Request,
    /// 6: activation.
    Activation,
    /// 7: activation confirmation.
    ActivationCon,
    /// 8: deactivation.
    Deactivation,
    /// 9: deactivation confirmation.
    DeactivationCon,
    /// 10: activation termination.
    ActivationTerm,
    /// 11: return information caused by a remote command.
    ReturnRemote,
    /// 12: return information caused by a local command.
    ReturnLocal,
    /// 13: file transfer.
    FileTransfer,
    /// 20: interrogated by station interrogation.
    InterrogatedByStation,
    /// 21..=36: interrogated by group 1..=16 interrogation (the value is the group).
    InterrogatedByGroup(u8),
    /// 37: requested by general counter request.
    RequestedByGeneralCounter,
    /// 38..=41: requested by group 1..=4 counter request (the value is the group).
    RequestedByGroupCounter(u8),
    /// 44: unknown type identification.
    UnknownTypeId,
    /// 45: unknown cause of transmission.
    UnknownCause,
    /// 46: unknown common address of ASDU.
    UnknownCommonAddress,
    /// 47: unknown information object address.
    UnknownObjectAddress,
    /// Any other value of the 6-bit field (0, 14..=19, 42, 43, 48..=63).
    Other(u8),
}

impl Cause {
    /// Decodes the 6-bit field (the upper two bits of `raw` are ignored).
    #[inline]
    pub const fn from_u8(raw: u8) -> Cause {
        match raw & 0x3F {
            1 => Cause::Periodic,
            2 => Cause::Background,
            3 => Cause::Spontaneous,
            4 => Cause::Initialized,
            5 => Cause::Request,
            6 => Cause::Activation,
            7 => Cause::ActivationCon,
            8 => Cause::Deactivation,
            9 => Cause::DeactivationCon,
            10 => Cause::ActivationTerm,
            11 => Cause::ReturnRemote,
            12 => Cause::ReturnLocal,
            13 => Cause::FileTransfer,
            20 => Cause::InterrogatedByStation,
            g @ 21..=36 => Cause::InterrogatedByGroup(g - 20),
            37 => Cause::RequestedByGeneralCounter,
            g @ 38..=41 => Cause::RequestedByGroupCounter(g - 37),
            44 => Cause::UnknownTypeId,
            45 => Cause::UnknownCause,
            46 => Cause::UnknownCommonAddress,
            47 => Cause::UnknownObjectAddress,
            other => Cause::Other(other),
        }
    }

    /// The 6-bit value. Out-of-range group numbers or `Other` values are masked to 6 bits
    /// (group numbers wrap modulo 256 first; never an overflow).
    #[inline]
    pub const fn as_u8(self) -> u8 {
        (match self {
            Cause::Periodic => 1,
            Cause::Background => 2,
            Cause::Spontaneous => 3,
            Cause::Initialized => 4,
            Cause::Request => 5,
            Cause::Activation => 6,
            Cause::ActivationCon => 7,
            Cause::Deactivation => 8,
            Cause::DeactivationCon => 9,
            Cause::ActivationTerm => 10,
            Cause::ReturnRemote => 11,
            Cause::ReturnLocal => 12,
            Cause::FileTransfer => 13,
            Cause::InterrogatedByStation => 20,
            Cause::InterrogatedByGroup(g) => 20u8.wrapping_add(g),
            Cause::RequestedByGeneralCounter => 37,
            Cause::RequestedByGroupCounter(g) => 37u8.wrapping_add(g),
            Cause::UnknownTypeId => 44,
            Cause::UnknownCause => 45,
            Cause::UnknownCommonAddress => 46,
            Cause::UnknownObjectAddress => 47,
            Cause::Other(v) => v,
        }) & 0x3F
    }

    /// The lowercase abbreviation used in the JSON representation (`docs/json.md`):
    /// the standard's abbreviations (`per/cyc`, `spont`, `inrogen`, `inro1`, …) and
    /// `unknown_type`, `unknown_cause`, `unknown_ca`, `unknown_ioa` for the negative causes.
    /// Unassigned values are written as their number, e.g. `"cot63"`.
    pub fn abbreviation(self) -> std::borrow::Cow<'static, str> {
        use std::borrow::Cow::{Borrowed, Owned};
        match self {
            Cause::Periodic => Borrowed("per/cyc"),
            Cause::Background => Borrowed("back"),
            Cause::Spontaneous => Borrowed("spont"),
            Cause::Initialized => Borrowed("init"),
            Cause::Request => Borrowed("req"),
            Cause::Activation => Borrowed("act"),
            Cause::ActivationCon => Borrowed("actcon"),
            Cause::Deactivation => Borrowed("deact"),
            Cause::DeactivationCon => Borrowed("deactcon"),
            Cause::ActivationTerm => Borrowed("actterm"),
            Cause::ReturnRemote => Borrowed("retrem"),
            Cause::ReturnLocal => Borrowed("retloc"),
            Cause::FileTransfer => Borrowed("file"),
            Cause::InterrogatedByStation => Borrowed("inrogen"),
            Cause::InterrogatedByGroup(g) => Owned(format!("inro{g}")),
            Cause::RequestedByGeneralCounter => Borrowed("reqcogen"),
            Cause::RequestedByGroupCounter(g) => Owned(format!("reqco{g}")),
            Cause::UnknownTypeId => Borrowed("unknown_type"),
            Cause::UnknownCause => Borrowed("unknown_cause"),
            Cause::UnknownCommonAddress => Borrowed("unknown_ca"),
            Cause::UnknownObjectAddress => Borrowed("unknown_ioa"),
            Cause::Other(v) => Owned(format!("cot{v}")),
        }
    }

    /// Parses an abbreviation written by [`Cause::abbreviation`] (also accepts a plain number).
    pub fn from_abbreviation(s: &str) -> Option<Cause> {
        if let Ok(n) = s.parse::<u8>() {
            return (n < 64).then(|| Cause::from_u8(n));
        }
        if let Some(n) = s.strip_prefix("cot").and_then(|n| n.parse::<u8>().ok()) {
            return (n < 64).then(|| Cause::from_u8(n));
        }
        if let Some(g) = s.strip_prefix("inro").and_then(|n| n.parse::<u8>().ok()) {
            return (1..=16)
                .contains(&g)
                .then_some(Cause::InterrogatedByGroup(g));
        }
        if let Some(g) = s.strip_prefix("reqco").and_then(|n| n.parse::<u8>().ok()) {
            return (1..=4)
                .contains(&g)
                .then_some(Cause::RequestedByGroupCounter(g));
        }
        (1u8..64)
            .map(Cause::from_u8)
            .find(|c| !matches!(c, Cause::Other(_)) && c.abbreviation() == s)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.abbreviation())
    }
}

/// The whole cause-of-transmission field: cause, P/N bit, test bit and originator address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cot {
    /// The cause.
    pub cause: Cause,
    /// P/N bit: negative confirmation of an activation.
    pub negative: bool,
    /// T bit: generated under test conditions.
    pub test: bool,
    /// Originator address (second octet; 0 when the link uses a one-octet COT).
    pub originator: u8,
}

impl Cot {
    /// A positive, non-test cause with originator address 0.
    pub const fn new(cause: Cause) -> Cot {
        Cot {
            cause,
            negative: false,
            test: false,
            originator: 0,
        }
    }

    /// The same cause with the P/N bit set.
    pub const fn negative(mut self) -> Cot {
        self.negative = true;
        self
    }

    /// The same cause with the given originator address.
    pub const fn with_originator(mut self, originator: u8) -> Cot {
        self.originator = originator;
        self
    }

    /// Decodes the first octet (cause, P/N, T) and the originator octet.
    #[inline]
    pub const fn from_octets(first: u8, originator: u8) -> Cot {
        Cot {
            cause: Cause::from_u8(first),
            negative: first & 0x40 != 0,
            test: first & 0x80 != 0,
            originator,
        }
    }

    /// The first octet: T (bit 8), P/N (bit 7) and the 6-bit cause.
    #[inline]
    pub const fn first_octet(self) -> u8 {
        self.cause.as_u8() | if self.negative { 0x40 } else { 0 } | if self.test { 0x80 } else { 0 }
    }
}

impl From<Cause> for Cot {
    fn from(cause: Cause) -> Cot {
        Cot::new(cause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octet_layout_follows_the_standard() {
        // 0x47 = P/N set, cause 7 (actcon); 0x83 = T set, cause 3 (spont).
        let c = Cot::from_octets(0x47, 0);
        assert_eq!(c.cause, Cause::ActivationCon);
        assert!(c.negative && !c.test);
        let c = Cot::from_octets(0x83, 9);
        assert_eq!(c.cause, Cause::Spontaneous);
        assert!(!c.negative && c.test);
        assert_eq!(c.originator, 9);
        assert_eq!(c.first_octet(), 0x83);
    }

    #[test]
    fn every_cause_value_round_trips() {
        for raw in 0u8..64 {
            let cause = Cause::from_u8(raw);
            assert_eq!(cause.as_u8(), raw);
            assert_eq!(
                Cause::from_abbreviation(&cause.abbreviation()),
                Some(cause),
                "{raw}"
            );
        }
        assert_eq!(Cause::from_u8(21), Cause::InterrogatedByGroup(1));
        assert_eq!(Cause::from_u8(36), Cause::InterrogatedByGroup(16));
        assert_eq!(Cause::from_u8(41), Cause::RequestedByGroupCounter(4));
        assert_eq!(Cause::from_u8(20).abbreviation(), "inrogen");
        assert_eq!(Cause::from_u8(1).abbreviation(), "per/cyc");
    }

    /// The variants are public, so a caller may build a group number out of 1..=16 / 1..=4:
    /// the value wraps and is masked to 6 bits as documented instead of overflowing.
    #[test]
    fn out_of_range_group_numbers_are_masked_not_overflowing() {
        // (20 + 250) mod 256 = 14; 14 & 0x3F = 14.
        assert_eq!(Cause::InterrogatedByGroup(250).as_u8(), 14);
        // (37 + 255) mod 256 = 36; 36 & 0x3F = 36.
        assert_eq!(Cause::RequestedByGroupCounter(255).as_u8(), 36);
        // 20 + 100 = 120 = 0b111_1000; & 0x3F = 0b11_1000 = 56.
        assert_eq!(Cause::InterrogatedByGroup(100).as_u8(), 56);
    }
}

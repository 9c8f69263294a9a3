//! Information elements of process information in monitor direction (IEC 60870-5-101 §7.2.6):
//! SIQ, DIQ, QDS, VTI, BSI, NVA, SVA, BCR, SEP, SPE, OCI, QDP, SCD. (R32 is a plain `f32`.)
//!
//! One-octet elements are newtypes over the raw octet: decoding is free and lossless (reserved
//! bits survive a round trip); accessors interpret the bits.

use bytes::BufMut;

use super::quality::Quality;
use super::wire::{arr, Wire};

/// Defines a newtype over one raw octet with its [`Wire`] form.
macro_rules! octet_element {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(pub u8);

        impl $name {
            /// The raw octet.
            #[inline]
            pub const fn raw(self) -> u8 {
                self.0
            }
        }

        impl Wire for $name {
            const SIZE: usize = 1;
            #[inline(always)]
            fn read(b: &[u8]) -> Self {
                $name(arr::<1>(b)[0])
            }
            #[inline]
            fn write<B: BufMut>(&self, out: &mut B) {
                out.put_u8(self.0)
            }
        }
    };
}
pub(crate) use octet_element;

/// Defines a newtype over a little-endian integer with its [`Wire`] form.
macro_rules! int_element {
    ($(#[$doc:meta])* $name:ident($int:ty)) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(pub $int);

        impl Wire for $name {
            const SIZE: usize = std::mem::size_of::<$int>();
            #[inline(always)]
            fn read(b: &[u8]) -> Self {
                $name(<$int>::from_le_bytes(arr(b)))
            }
            #[inline]
            fn write<B: BufMut>(&self, out: &mut B) {
                out.put_slice(&self.0.to_le_bytes())
            }
        }
    };
}
pub(crate) use int_element;

/// `mask` when `b`, else 0: one flag bit of an element octet.
#[inline(always)]
pub(crate) const fn bit(b: bool, mask: u8) -> u8 {
    if b {
        mask
    } else {
        0
    }
}

octet_element! {
    /// SIQ, single-point information with quality descriptor (§7.2.6.1):
    /// bit 0 SPI, bits 1–3 reserved, BL 0x10, SB 0x20, NT 0x40, IV 0x80.
    SinglePoint
}

impl SinglePoint {
    /// A SIQ octet from the state and the quality flags (only IV, NT, SB, BL are kept).
    #[inline]
    pub const fn new(on: bool, quality: Quality) -> SinglePoint {
        SinglePoint(bit(on, 0x01) | (quality.bits() & 0xF0))
    }
    /// SPI: true = ON.
    #[inline]
    pub const fn value(self) -> bool {
        self.0 & 0x01 != 0
    }
    /// The quality flags IV, NT, SB, BL.
    #[inline]
    pub const fn quality(self) -> Quality {
        Quality::from_siq(self.0)
    }
}

/// A two-bit double state: DPI of DIQ, ES of SEP, DCS of DCO, RCS of RCO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DoubleState {
    /// 0: indeterminate or intermediate state (DCO/RCO: not permitted).
    Intermediate = 0,
    /// 1: determined state OFF (RCO: next step lower).
    Off = 1,
    /// 2: determined state ON (RCO: next step higher).
    On = 2,
    /// 3: indeterminate state (DCO/RCO: not permitted).
    Indeterminate = 3,
}

impl DoubleState {
    /// Lowercase name: `"intermediate"`, `"off"`, `"on"`, `"indeterminate"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DoubleState::Intermediate => "intermediate",
            DoubleState::Off => "off",
            DoubleState::On => "on",
            DoubleState::Indeterminate => "indeterminate",
        }
    }

    /// From the low two bits of `raw`.
    #[inline]
    pub const fn from_bits(raw: u8) -> DoubleState {
        match raw & 0x03 {
            0 => DoubleState::Intermediate,
            1 => DoubleState::Off,
            2 => DoubleState::On,
            _ => DoubleState::Indeterminate,
        }
    }
}

octet_element! {
    /// DIQ, double-point information with quality descriptor (§7.2.6.2):
    /// bits 0–1 DPI, bits 2–3 reserved, BL 0x10, SB 0x20, NT 0x40, IV 0x80.
    DoublePoint
}

impl DoublePoint {
    /// A DIQ octet from the state and the quality flags (only IV, NT, SB, BL are kept).
    #[inline]
    pub const fn new(state: DoubleState, quality: Quality) -> DoublePoint {
        DoublePoint(state as u8 | (quality.bits() & 0xF0))
    }
    /// DPI as a state.
    #[inline]
    pub const fn state(self) -> DoubleState {
        DoubleState::from_bits(self.0)
    }
    /// DPI as its number 0..=3.
    #[inline]
    pub const fn dpi(self) -> u8 {
        self.0 & 0x03
    }
    /// The quality flags IV, NT, SB, BL.
    #[inline]
    pub const fn quality(self) -> Quality {
        Quality::from_siq(self.0)
    }
}

octet_element! {
    /// QDS, quality descriptor (§7.2.6.3): OV 0x01, bits 1–3 reserved, BL 0x10, SB 0x20,
    /// NT 0x40, IV 0x80.
    Qds
}

impl Qds {
    /// A QDS octet from the flags (only IV, NT, SB, BL, OV are kept).
    #[inline]
    pub const fn new(quality: Quality) -> Qds {
        Qds(quality.bits() & 0xF1)
    }
    /// The quality flags IV, NT, SB, BL, OV.
    #[inline]
    pub const fn quality(self) -> Quality {
        Quality::from_qds(self.0)
    }
}

octet_element! {
    /// VTI, value with transient state indication (§7.2.6.5): bits 0–6 the value
    /// −64..=63 in two's complement, bit 7 T (equipment is in transient state).
    StepPosition
}

impl StepPosition {
    /// A VTI octet; `value` is truncated to seven bits (−64..=63 round trip).
    #[inline]
    pub const fn new(value: i8, transient: bool) -> StepPosition {
        StepPosition((value as u8 & 0x7F) | bit(transient, 0x80))
    }
    /// The step position −64..=63 (sign-extended from bit 6).
    #[inline]
    pub const fn value(self) -> i8 {
        ((self.0 << 1) as i8) >> 1
    }
    /// T: transient state.
    #[inline]
    pub const fn transient(self) -> bool {
        self.0 & 0x80 != 0
    }
}

int_element! {
    /// BSI, binary state information, 32 bits (§7.2.6.13). Bit 1 of the standard (BS1) is the
    /// least significant bit of the first octet; the value is read little endian like every
    /// multi-octet field (as lib60870 does; Wireshark 4.0 displays it big endian).
    Bitstring(u32)
}

int_element! {
    /// NVA, normalized value (§7.2.6.6): a fixed-point fraction F16, raw −32768..=32767 for
    /// −1.0 ..= 1 − 2⁻¹⁵.
    Normalized(i16)
}

impl Normalized {
    /// The value as a fraction: raw / 32768.
    #[inline]
    pub fn to_f32(self) -> f32 {
        f32::from(self.0) / 32768.0
    }
    /// The nearest raw value of a fraction, saturating at −1.0 and 1 − 2⁻¹⁵ (NaN gives 0).
    pub fn from_f32(v: f32) -> Normalized {
        // `as` saturates and maps NaN to 0.
        Normalized((v * 32768.0).round() as i16)
    }
}

int_element! {
    /// SVA, scaled value (§7.2.6.7): a signed 16-bit integer.
    Scaled(i16)
}

/// BCR, binary counter reading (§7.2.6.9): a 32-bit signed counter and the octet of
/// sequence number (bits 0–4), CY 0x20, CA 0x40, IV 0x80.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BinaryCounter {
    /// The counter reading.
    pub value: i32,
    /// The raw fifth octet: SQ bits 0–4, CY 0x20, CA 0x40, IV 0x80.
    pub flags: u8,
}

impl BinaryCounter {
    /// A reading from its fields; `sequence` is truncated to five bits.
    pub const fn new(
        value: i32,
        sequence: u8,
        carry: bool,
        adjusted: bool,
        invalid: bool,
    ) -> BinaryCounter {
        BinaryCounter {
            value,
            flags: (sequence & 0x1F) | bit(carry, 0x20) | bit(adjusted, 0x40) | bit(invalid, 0x80),
        }
    }
    /// SQ: sequence number 0..=31.
    #[inline]
    pub const fn sequence(self) -> u8 {
        self.flags & 0x1F
    }
    /// CY: counter overflow in the integration period.
    #[inline]
    pub const fn carry(self) -> bool {
        self.flags & 0x20 != 0
    }
    /// CA: counter was adjusted since the last reading.
    #[inline]
    pub const fn adjusted(self) -> bool {
        self.flags & 0x40 != 0
    }
    /// IV: the reading is invalid.
    #[inline]
    pub const fn invalid(self) -> bool {
        self.flags & 0x80 != 0
    }
    /// IV, CA, CY as quality flags.
    #[inline]
    pub const fn quality(self) -> Quality {
        Quality::from_bcr(self.flags)
    }
}

impl Wire for BinaryCounter {
    const SIZE: usize = 5;
    #[inline(always)]
    fn read(b: &[u8]) -> Self {
        let [a, c, d, e, f] = arr::<5>(b);
        BinaryCounter {
            value: i32::from_le_bytes([a, c, d, e]),
            flags: f,
        }
    }
    #[inline]
    fn write<B: BufMut>(&self, out: &mut B) {
        out.put_i32_le(self.value);
        out.put_u8(self.flags);
    }
}

octet_element! {
    /// SEP, single event of protection equipment (§7.2.6.10): bits 0–1 ES (event state, as
    /// DPI), bit 2 reserved, EI 0x08 (elapsed time invalid), BL 0x10, SB 0x20, NT 0x40, IV 0x80.
    ProtectionEvent
}

impl ProtectionEvent {
    /// A SEP octet (IV, NT, SB, BL and EI are kept from `quality`).
    #[inline]
    pub const fn new(state: DoubleState, quality: Quality) -> ProtectionEvent {
        ProtectionEvent(state as u8 | (quality.bits() & 0xF8))
    }
    /// ES: the event state.
    #[inline]
    pub const fn state(self) -> DoubleState {
        DoubleState::from_bits(self.0)
    }
    /// IV, NT, SB, BL, EI.
    #[inline]
    pub const fn quality(self) -> Quality {
        Quality::from_qdp(self.0)
    }
}

octet_element! {
    /// SPE, start events of protection equipment (§7.2.6.11): GS 0x01 general start,
    /// SL1 0x02, SL2 0x04, SL3 0x08 start of phase L1–L3, SIE 0x10 start of earth current,
    /// SRD 0x20 start in reverse direction.
    StartEvents
}

impl StartEvents {
    /// GS: general start of operation.
    pub const fn general(self) -> bool {
        self.0 & 0x01 != 0
    }
    /// SL1, SL2, SL3: start of operation phase L1, L2, L3.
    pub const fn phases(self) -> [bool; 3] {
        [self.0 & 0x02 != 0, self.0 & 0x04 != 0, self.0 & 0x08 != 0]
    }
    /// SIE: start of operation IE (earth current).
    pub const fn earth(self) -> bool {
        self.0 & 0x10 != 0
    }
    /// SRD: start of operation in reverse direction.
    pub const fn reverse(self) -> bool {
        self.0 & 0x20 != 0
    }
    /// The names of the set flags among GS, SL1, SL2, SL3, SIE, SRD (bits 0–5), in that order.
    pub fn iter_names(self) -> impl Iterator<Item = &'static str> {
        ["GS", "SL1", "SL2", "SL3", "SIE", "SRD"]
            .into_iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| n)
    }
}

octet_element! {
    /// OCI, output circuit information of protection equipment (§7.2.6.12): GC 0x01 general
    /// command to output circuit, CL1 0x02, CL2 0x04, CL3 0x08 command to output circuit phase
    /// L1–L3.
    OutputCircuit
}

impl OutputCircuit {
    /// GC: general command to output circuit.
    pub const fn general(self) -> bool {
        self.0 & 0x01 != 0
    }
    /// CL1, CL2, CL3: command to output circuit phase L1, L2, L3.
    pub const fn phases(self) -> [bool; 3] {
        [self.0 & 0x02 != 0, self.0 & 0x04 != 0, self.0 & 0x08 != 0]
    }
    /// The names of the set flags among GC, CL1, CL2, CL3 (bits 0–3), in that order.
    pub fn iter_names(self) -> impl Iterator<Item = &'static str> {
        ["GC", "CL1", "CL2", "CL3"]
            .into_iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| n)
    }
}

octet_element! {
    /// QDP, quality descriptor for events of protection equipment (§7.2.6.4): bits 0–2
    /// reserved, EI 0x08, BL 0x10, SB 0x20, NT 0x40, IV 0x80.
    Qdp
}

impl Qdp {
    /// A QDP octet from the flags (IV, NT, SB, BL, EI are kept).
    #[inline]
    pub const fn new(quality: Quality) -> Qdp {
        Qdp(quality.bits() & 0xF8)
    }
    /// IV, NT, SB, BL, EI.
    #[inline]
    pub const fn quality(self) -> Quality {
        Quality::from_qdp(self.0)
    }
}

/// SCD, status and status change detection (§7.2.6.40): 16 status bits ST and 16 change
/// detection bits CD, each little endian (ST first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StatusChange {
    /// ST: the status bits (ST1 is bit 0).
    pub status: u16,
    /// CD: bit set = the matching status bit changed since the last report.
    pub change: u16,
}

impl Wire for StatusChange {
    const SIZE: usize = 4;
    #[inline(always)]
    fn read(b: &[u8]) -> Self {
        let [a, c, d, e] = arr::<4>(b);
        StatusChange {
            status: u16::from_le_bytes([a, c]),
            change: u16::from_le_bytes([d, e]),
        }
    }
    #[inline]
    fn write<B: BufMut>(&self, out: &mut B) {
        out.put_u16_le(self.status);
        out.put_u16_le(self.change);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vti_sign_extension() {
        // 0x40 = 100 0000 in seven bits = −64; 0x3F = 63; 0x7F = −1; 0xBF = T + 63.
        assert_eq!(StepPosition(0x40).value(), -64);
        assert_eq!(StepPosition(0x3F).value(), 63);
        assert_eq!(StepPosition(0x7F).value(), -1);
        assert!(StepPosition(0xBF).transient());
        assert_eq!(StepPosition(0xBF).value(), 63);
        for v in -64..=63i8 {
            assert_eq!(StepPosition::new(v, true).value(), v);
        }
    }

    #[test]
    fn normalized_scale() {
        assert_eq!(Normalized(i16::MIN).to_f32(), -1.0);
        assert_eq!(Normalized(0x4000).to_f32(), 0.5);
        assert_eq!(Normalized::from_f32(1.0), Normalized(i16::MAX));
        assert_eq!(Normalized::from_f32(-2.0), Normalized(i16::MIN));
        assert_eq!(Normalized::from_f32(f32::NAN), Normalized(0));
        assert_eq!(Normalized::from_f32(-0.5), Normalized(-16384));
    }

    #[test]
    fn bit_accessors() {
        let sp = SinglePoint(0xF9);
        assert!(sp.value());
        assert_eq!(
            sp.quality(),
            Quality::IV | Quality::NT | Quality::SB | Quality::BL
        );
        assert_eq!(DoublePoint(0x82).state(), DoubleState::On);
        assert_eq!(
            DoublePoint::new(DoubleState::Off, Quality::IV | Quality::OV),
            DoublePoint(0x81)
        );
        let c = BinaryCounter::new(-1, 33, true, false, true);
        assert_eq!(c.flags, 0x01 | 0x20 | 0x80);
        assert_eq!(
            (c.sequence(), c.carry(), c.adjusted(), c.invalid()),
            (1, true, false, true)
        );
        assert_eq!(ProtectionEvent(0x0A).quality(), Quality::EI);
        assert_eq!(ProtectionEvent(0x0A).state(), DoubleState::On);
        assert_eq!(StartEvents(0x3F).phases(), [true; 3]);
        assert!(StartEvents(0x20).reverse() && !StartEvents(0x20).earth());
        assert!(OutputCircuit(0x09).general());
        // SPE 0x23 = GS, SL1, SRD; OCI 0x0A = CL1, CL3; reserved bits 6-7 / 4-7 ignored.
        assert_eq!(
            StartEvents(0xE3).iter_names().collect::<Vec<_>>(),
            ["GS", "SL1", "SRD"]
        );
        assert_eq!(
            OutputCircuit(0xFA).iter_names().collect::<Vec<_>>(),
            ["CL1", "CL3"]
        );
        assert_eq!(DoubleState::from_bits(0).as_str(), "intermediate");
        assert_eq!(DoubleState::from_bits(7).as_str(), "indeterminate");
    }
}

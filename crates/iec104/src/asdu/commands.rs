//! Information elements of commands, system information and parameters
//! (IEC 60870-5-101 §7.2.6.15–17, 7.2.6.21–39): SCO, DCO, RCO, QOS, QOI, QCC, QRP, QPM, QPA,
//! COI, FBP, TSC.

use bytes::BufMut;

use super::elements::{bit, int_element, octet_element, DoubleState};
use super::wire::{arr, Wire};

/// QU (bits 2–6, truncated to five bits) and S/E (bit 7) of an SCO, DCO or RCO octet.
#[inline(always)]
const fn qu_se(qualifier: u8, select: bool) -> u8 {
    ((qualifier & 0x1F) << 2) | bit(select, 0x80)
}

/// The QU (bits 2–6) and S/E (bit 7) accessors SCO, DCO and RCO share (§7.2.6.15–17).
macro_rules! qu_select_accessors {
    ($name:ident) => {
        impl $name {
            /// QU, qualifier of command: 0 no additional definition, 1 short pulse, 2 long
            /// pulse, 3 persistent output.
            #[inline]
            pub const fn qualifier(self) -> u8 {
                (self.0 >> 2) & 0x1F
            }
            /// S/E: true = select, false = execute.
            #[inline]
            pub const fn select(self) -> bool {
                self.0 & 0x80 != 0
            }
        }
    };
}

octet_element! {
    /// SCO, single command (§7.2.6.15): SCS bit 0 (1 = ON), bit 1 reserved, QU bits 2–6
    /// (qualifier of command), S/E bit 7 (1 = select, 0 = execute).
    SingleCommand
}

impl SingleCommand {
    /// An SCO octet; `qualifier` is truncated to five bits.
    pub const fn new(on: bool, qualifier: u8, select: bool) -> SingleCommand {
        SingleCommand(bit(on, 0x01) | qu_se(qualifier, select))
    }
    /// SCS: true = ON.
    #[inline]
    pub const fn value(self) -> bool {
        self.0 & 0x01 != 0
    }
}

qu_select_accessors!(SingleCommand);

octet_element! {
    /// DCO, double command (§7.2.6.16): DCS bits 0–1 (1 = OFF, 2 = ON, 0 and 3 not
    /// permitted), QU bits 2–6, S/E bit 7.
    DoubleCommand
}

impl DoubleCommand {
    /// A DCO octet; `qualifier` is truncated to five bits.
    pub const fn new(state: DoubleState, qualifier: u8, select: bool) -> DoubleCommand {
        DoubleCommand(state as u8 | qu_se(qualifier, select))
    }
    /// DCS as a state.
    #[inline]
    pub const fn state(self) -> DoubleState {
        DoubleState::from_bits(self.0)
    }
}

qu_select_accessors!(DoubleCommand);

octet_element! {
    /// RCO, regulating step command (§7.2.6.17): RCS bits 0–1 (1 = next step LOWER,
    /// 2 = next step HIGHER, 0 and 3 not permitted), QU bits 2–6, S/E bit 7.
    StepCommand
}

impl StepCommand {
    /// An RCO octet (`state` Off = lower, On = higher).
    pub const fn new(state: DoubleState, qualifier: u8, select: bool) -> StepCommand {
        StepCommand(state as u8 | qu_se(qualifier, select))
    }
    /// RCS as a state (Off = lower, On = higher).
    #[inline]
    pub const fn state(self) -> DoubleState {
        DoubleState::from_bits(self.0)
    }
}

qu_select_accessors!(StepCommand);

octet_element! {
    /// QOS, qualifier of set-point command (§7.2.6.39): QL bits 0–6, S/E bit 7.
    Qos
}

impl Qos {
    /// A QOS octet; `ql` is truncated to seven bits.
    pub const fn new(ql: u8, select: bool) -> Qos {
        Qos((ql & 0x7F) | bit(select, 0x80))
    }
    /// QL: 0 default.
    #[inline]
    pub const fn ql(self) -> u8 {
        self.0 & 0x7F
    }
    /// S/E: true = select.
    #[inline]
    pub const fn select(self) -> bool {
        self.0 & 0x80 != 0
    }
}

octet_element! {
    /// QOI, qualifier of interrogation (§7.2.6.22): 20 = station interrogation (global),
    /// 21..=36 = interrogation of group 1..=16.
    Qoi
}

impl Qoi {
    /// Station interrogation (20).
    pub const STATION: Qoi = Qoi(20);
    /// The group 1..=16 of a group interrogation, `None` otherwise.
    pub const fn group(self) -> Option<u8> {
        match self.0 {
            21..=36 => Some(self.0 - 20),
            _ => None,
        }
    }
}

octet_element! {
    /// QCC, qualifier of counter interrogation command (§7.2.6.23): RQT bits 0–5 (5 = general
    /// request counter, 1..=4 = group 1..=4), FRZ bits 6–7 (0 read, 1 freeze without reset,
    /// 2 freeze with reset, 3 counter reset).
    Qcc
}

impl Qcc {
    /// A QCC octet.
    pub const fn new(rqt: u8, frz: u8) -> Qcc {
        Qcc((rqt & 0x3F) | ((frz & 0x03) << 6))
    }
    /// RQT: request.
    #[inline]
    pub const fn request(self) -> u8 {
        self.0 & 0x3F
    }
    /// FRZ: freeze/reset.
    #[inline]
    pub const fn freeze(self) -> u8 {
        self.0 >> 6
    }
}

octet_element! {
    /// QRP, qualifier of reset process command (§7.2.6.27): 1 = general reset of process,
    /// 2 = reset of pending time-tagged information in the event buffer.
    Qrp
}

octet_element! {
    /// QPM, qualifier of parameter of measured values (§7.2.6.24): KPA bits 0–5 (1 threshold,
    /// 2 smoothing factor, 3 low limit, 4 high limit), LPC bit 6 (local parameter change),
    /// POP bit 7 (parameter not in operation).
    Qpm
}

impl Qpm {
    /// A QPM octet.
    pub const fn new(kpa: u8, lpc: bool, pop: bool) -> Qpm {
        Qpm((kpa & 0x3F) | bit(lpc, 0x40) | bit(pop, 0x80))
    }
    /// KPA: kind of parameter.
    #[inline]
    pub const fn kind(self) -> u8 {
        self.0 & 0x3F
    }
    /// LPC: local parameter change.
    #[inline]
    pub const fn local_change(self) -> bool {
        self.0 & 0x40 != 0
    }
    /// POP: parameter not in operation.
    #[inline]
    pub const fn not_in_operation(self) -> bool {
        self.0 & 0x80 != 0
    }
}

octet_element! {
    /// QPA, qualifier of parameter activation (§7.2.6.25): 1 act/deact of loaded parameters,
    /// 2 of the addressed object's parameter, 3 of persistent cyclic transmission.
    Qpa
}

octet_element! {
    /// COI, cause of initialization (§7.2.6.21): bits 0–6 the cause (0 local power on,
    /// 1 local manual reset, 2 remote reset), bit 7 initialization after change of local
    /// parameters.
    Coi
}

impl Coi {
    /// A COI octet.
    pub const fn new(cause: u8, after_change: bool) -> Coi {
        Coi((cause & 0x7F) | bit(after_change, 0x80))
    }
    /// The cause 0..=127.
    #[inline]
    pub const fn cause(self) -> u8 {
        self.0 & 0x7F
    }
    /// Initialization after change of local parameters.
    #[inline]
    pub const fn after_change(self) -> bool {
        self.0 & 0x80 != 0
    }
}

int_element! {
    /// FBP, fixed test bit pattern of C_TS_NA_1 (§7.2.6.14); the standard pattern is
    /// [`Fbp::PATTERN`] (0x55AA, sent as AA 55).
    Fbp(u16)
}

impl Fbp {
    /// The fixed test pattern 0x55AA.
    pub const PATTERN: Fbp = Fbp(0x55AA);
}

int_element! {
    /// TSC, test sequence counter of C_TS_TA_1 (IEC 60870-5-104 §8.5), 16 bits.
    Tsc(u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_octets() {
        // 0x81: SCS 1, QU 0, S/E 1 (select ON).
        let s = SingleCommand(0x81);
        assert!(s.value() && s.select());
        assert_eq!(s.qualifier(), 0);
        // QU 3 (persistent) = 0b011 << 2 = 0x0C.
        assert_eq!(SingleCommand::new(false, 3, false), SingleCommand(0x0C));
        assert_eq!(DoubleCommand(0x8E).state(), DoubleState::On);
        assert_eq!(DoubleCommand(0x8E).qualifier(), 3);
        assert_eq!(StepCommand(0x01).state(), DoubleState::Off);
        // RCO 0x8A = 1000_1010: RCS 2 (higher), QU 0b00010 = 2 (long pulse), S/E 1.
        let r = StepCommand(0x8A);
        assert_eq!(r.state(), DoubleState::On);
        assert_eq!(r.qualifier(), 2);
        assert!(r.select());
        assert_eq!(StepCommand::new(DoubleState::On, 2, true), r);
        // DCO 0x8E = 1000_1110: DCS 2 (ON), QU 0b00011 = 3, S/E 1.
        assert!(DoubleCommand(0x8E).select());
        assert_eq!(
            DoubleCommand::new(DoubleState::On, 3, true),
            DoubleCommand(0x8E)
        );
        assert_eq!(Qos(0x85).ql(), 5);
        assert_eq!(Qcc(0x45).request(), 5);
        assert_eq!(Qcc(0x45).freeze(), 1);
        assert_eq!(Qoi(21).group(), Some(1));
        assert_eq!(Qoi::STATION.group(), None);
        assert_eq!(Qpm(0xC1).kind(), 1);
        assert!(Qpm(0xC1).local_change() && Qpm(0xC1).not_in_operation());
        assert_eq!(Coi(0x82).cause(), 2);
        assert!(Coi(0x82).after_change());
    }
}

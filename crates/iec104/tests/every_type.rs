//! Every type id of the companion standard: a hand-derived octet vector, decoded with every
//! field checked, then encoded again (must give the same octets) and decoded again.
//!
//! Every ASDU below is built by hand as
//!   octet 1: type id; octet 2: VSQ = 0x01 (SQ=0, one object);
//!   octets 3-4: COT = 0x03 (spont) for monitor types, 0x06 (act) otherwise, originator 0;
//!   octets 5-6: common address 47 = 0x2F 0x00 (little endian);
//!   octets 7-9: IOA 0x332211 = 3351057 as 11 22 33 (little endian, IEC 104 3-octet IOA);
//! followed by the element octets of each case, derived in its comment from
//! IEC 60870-5-101 §7.2.6 (elements) and §7.3 (which elements each type carries, in order).
//!
//! Shared time tags:
//! - T56 = AB 75 0F 0A 58 0B 1A: CP56Time2a 2026-11-24 (a Tuesday) 10:15:30.123:
//!   ms 30123 = 0x75AB → AB 75; minute 15 = 0x0F (IV=0, GEN=0); hour 10 = 0x0A (SU=0);
//!   day 24 | weekday 2 << 5 = 0x18 | 0x40 = 0x58; month 11 = 0x0B; year 26 = 0x1A.
//! - T24 = AB 75 0F: CP24Time2a 30.123 s, minute 15.
//! - CP16 values are spelled out per case.

use iec104::asdu::*;
use iec104::cot::{Cause, Cot};
use iec104::time::{Cp24Time2a, Cp56Time2a};
use iec104::type_id::TypeId;

const IOA: u32 = 0x33_2211;

fn check_t56(t: &Cp56Time2a) {
    assert_eq!(
        (t.millis, t.minute, t.hour, t.day, t.weekday, t.month, t.year),
        (30123, 15, 10, 24, 2, 11, 26)
    );
    assert!(!t.invalid && !t.summer_time && !t.substituted);
}

fn check_t24(t: &Cp24Time2a) {
    assert_eq!(
        (t.millis, t.minute, t.invalid, t.substituted),
        (30123, 15, false, false)
    );
}

struct Case {
    t: TypeId,
    elem: &'static [u8],
    check: fn(&Element<'_>),
}

macro_rules! case {
    ($t:ident, [$($b:expr),* $(,)?], |($($e:ident),* $(,)?)| $body:block) => {
        Case {
            t: TypeId::$t,
            elem: &[$($b),*],
            check: |el: &Element<'_>| {
                let Element::$t($($e),*) = *el else { panic!("wrong variant {el:?}") };
                $body
            },
        }
    };
}

fn cases() -> Vec<Case> {
    vec![
        // SIQ 0x91 = IV 0x80 | BL 0x10 | SPI 1.
        case!(M_SP_NA_1, [0x91], |(s)| {
            assert!(s.value());
            assert_eq!(s.quality(), Quality::IV | Quality::BL);
        }),
        // SIQ 0x00 (OFF, good), T24.
        case!(M_SP_TA_1, [0x00, 0xAB, 0x75, 0x0F], |(s, t)| {
            assert!(!s.value() && s.quality().is_good());
            check_t24(&t);
        }),
        // DIQ 0x62 = NT 0x40 | SB 0x20 | DPI 2 (ON).
        case!(M_DP_NA_1, [0x62], |(d)| {
            assert_eq!(d.state(), DoubleState::On);
            assert_eq!(d.quality(), Quality::NT | Quality::SB);
        }),
        // DIQ 0x01 (OFF); CP24 with IV: octet 3 = 0x80 | 15 = 0x8F.
        case!(M_DP_TA_1, [0x01, 0xAB, 0x75, 0x8F], |(d, t)| {
            assert_eq!(d.state(), DoubleState::Off);
            assert!(t.invalid);
            assert_eq!((t.millis, t.minute), (30123, 15));
        }),
        // VTI 0xC5: T = 1, value bits 100 0101 = -64 + 5 = -59; QDS 0x01 = OV.
        case!(M_ST_NA_1, [0xC5, 0x01], |(v, q)| {
            assert_eq!(v.value(), -59);
            assert!(v.transient());
            assert_eq!(q.quality(), Quality::OV);
        }),
        // VTI 0x05 = +5, not transient; QDS 0; T24.
        case!(M_ST_TA_1, [0x05, 0x00, 0xAB, 0x75, 0x0F], |(v, q, t)| {
            assert_eq!((v.value(), v.transient()), (5, false));
            assert!(q.quality().is_good());
            check_t24(&t);
        }),
        // BSI 01 02 03 04: first octet holds BS1..BS8 → 0x04030201; QDS 0x10 = BL.
        case!(M_BO_NA_1, [0x01, 0x02, 0x03, 0x04, 0x10], |(b, q)| {
            assert_eq!(b.0, 0x0403_0201);
            assert_eq!(q.quality(), Quality::BL);
        }),
        // BSI FF 00 00 80 → 0x800000FF; QDS 0; T24.
        case!(
            M_BO_TA_1,
            [0xFF, 0x00, 0x00, 0x80, 0x00, 0xAB, 0x75, 0x0F],
            |(b, q, t)| {
                assert_eq!(b.0, 0x8000_00FF);
                assert!(q.quality().is_good());
                check_t24(&t);
            }
        ),
        // NVA 00 40 = 0x4000 = 16384 → 0.5; QDS 0x80 = IV.
        case!(M_ME_NA_1, [0x00, 0x40, 0x80], |(n, q)| {
            assert_eq!(n.0, 16384);
            assert_eq!(n.to_f32(), 0.5);
            assert_eq!(q.quality(), Quality::IV);
        }),
        // NVA 00 80 = -32768 → -1.0; QDS 0; T24.
        case!(M_ME_TA_1, [0x00, 0x80, 0x00, 0xAB, 0x75, 0x0F], |(
            n,
            q,
            t,
        )| {
            assert_eq!(n.to_f32(), -1.0);
            assert!(q.quality().is_good());
            check_t24(&t);
        }),
        // SVA 18 FC = 0xFC18 = -1000; QDS 0x40 = NT.
        case!(M_ME_NB_1, [0x18, 0xFC, 0x40], |(s, q)| {
            assert_eq!(s.0, -1000);
            assert_eq!(q.quality(), Quality::NT);
        }),
        // SVA FF 7F = 32767; QDS 0x01 = OV; T24.
        case!(M_ME_TB_1, [0xFF, 0x7F, 0x01, 0xAB, 0x75, 0x0F], |(
            s,
            q,
            t,
        )| {
            assert_eq!(s.0, 32767);
            assert_eq!(q.quality(), Quality::OV);
            check_t24(&t);
        }),
        // R32 00 00 49 42 = 0x42490000: sign 0, exponent 0x84 - 127 = 5, mantissa
        // 1 + 0x490000 / 2^23 = 1.5703125 → 50.25; QDS 0.
        case!(M_ME_NC_1, [0x00, 0x00, 0x49, 0x42, 0x00], |(f, q)| {
            assert_eq!(f, 50.25);
            assert!(q.quality().is_good());
        }),
        // R32 00 00 F8 C0 = 0xC0F80000: sign 1, exponent 2, mantissa 1.9375 → -7.75; T24.
        case!(
            M_ME_TC_1,
            [0x00, 0x00, 0xF8, 0xC0, 0x00, 0xAB, 0x75, 0x0F],
            |(f, q, t)| {
                assert_eq!(f, -7.75);
                assert!(q.quality().is_good());
                check_t24(&t);
            }
        ),
        // BCR 00 00 00 80 = i32::MIN; octet 5 0xE5 = IV 0x80 | CA 0x40 | CY 0x20 | SQ 5.
        case!(M_IT_NA_1, [0x00, 0x00, 0x00, 0x80, 0xE5], |(c)| {
            assert_eq!(c.value, i32::MIN);
            assert_eq!(
                (c.sequence(), c.carry(), c.adjusted(), c.invalid()),
                (5, true, true, true)
            );
            assert_eq!(c.quality(), Quality::IV | Quality::CA | Quality::CY);
        }),
        // BCR FF FF FF 7F = i32::MAX, octet 5 0x00; T24.
        case!(
            M_IT_TA_1,
            [0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0xAB, 0x75, 0x0F],
            |(c, t)| {
                assert_eq!(c.value, i32::MAX);
                assert_eq!(c.flags, 0);
                check_t24(&t);
            }
        ),
        // SEP 0x0A = EI 0x08 | ES 2 (ON); elapsed CP16 E8 03 = 1000 ms; T24.
        case!(M_EP_TA_1, [0x0A, 0xE8, 0x03, 0xAB, 0x75, 0x0F], |(
            s,
            e,
            t,
        )| {
            assert_eq!(s.state(), DoubleState::On);
            assert_eq!(s.quality(), Quality::EI);
            assert_eq!(e.millis, 1000);
            check_t24(&t);
        }),
        // SPE 0x23 = GS 0x01 | SL1 0x02 | SRD 0x20; QDP 0x88 = IV | EI;
        // relay duration CP16 10 27 = 10000 ms; T24.
        case!(
            M_EP_TB_1,
            [0x23, 0x88, 0x10, 0x27, 0xAB, 0x75, 0x0F],
            |(s, q, d, t)| {
                assert!(s.general() && s.reverse() && !s.earth());
                assert_eq!(s.phases(), [true, false, false]);
                assert_eq!(q.quality(), Quality::IV | Quality::EI);
                assert_eq!(d.millis, 10000);
                check_t24(&t);
            }
        ),
        // OCI 0x0F = GC | CL1 | CL2 | CL3; QDP 0; operating time CP16 01 00 = 1 ms; T24.
        case!(
            M_EP_TC_1,
            [0x0F, 0x00, 0x01, 0x00, 0xAB, 0x75, 0x0F],
            |(o, q, d, t)| {
                assert!(o.general());
                assert_eq!(o.phases(), [true; 3]);
                assert!(q.quality().is_good());
                assert_eq!(d.millis, 1);
                check_t24(&t);
            }
        ),
        // SCD: ST 01 80 = 0x8001 (ST1 and ST16), CD 03 00 = 0x0003; QDS 0x20 = SB.
        case!(M_PS_NA_1, [0x01, 0x80, 0x03, 0x00, 0x20], |(s, q)| {
            assert_eq!((s.status, s.change), (0x8001, 0x0003));
            assert_eq!(q.quality(), Quality::SB);
        }),
        // NVA 00 20 = 0x2000 = 8192 → 0.25 (no QDS).
        case!(M_ME_ND_1, [0x00, 0x20], |(n)| {
            assert_eq!(n.to_f32(), 0.25);
        }),
        // SIQ 0x01 (ON); T56.
        case!(
            M_SP_TB_1,
            [0x01, 0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A],
            |(s, t)| {
                assert!(s.value());
                check_t56(&t);
            }
        ),
        // DIQ 0x03 (indeterminate); T56 with IV (octet 3 0x8F) and SU (octet 4 0x80 | 10 = 0x8A).
        case!(
            M_DP_TB_1,
            [0x03, 0xAB, 0x75, 0x8F, 0x8A, 0x58, 0x0B, 0x1A],
            |(d, t)| {
                assert_eq!(d.state(), DoubleState::Indeterminate);
                assert!(t.invalid && t.summer_time && !t.substituted);
                assert_eq!((t.minute, t.hour), (15, 10));
            }
        ),
        // VTI 0x3F = +63; QDS 0; T56.
        case!(
            M_ST_TB_1,
            [0x3F, 0x00, 0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A],
            |(v, q, t)| {
                assert_eq!((v.value(), v.transient()), (63, false));
                assert!(q.quality().is_good());
                check_t56(&t);
            }
        ),
        // BSI AA BB CC DD → 0xDDCCBBAA; QDS 0; T56.
        case!(
            M_BO_TB_1,
            [0xAA, 0xBB, 0xCC, 0xDD, 0x00, 0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A],
            |(b, q, t)| {
                assert_eq!(b.0, 0xDDCC_BBAA);
                assert!(q.quality().is_good());
                check_t56(&t);
            }
        ),
        // NVA FF 7F = 32767 → 1 - 2^-15; QDS 0; T56.
        case!(
            M_ME_TD_1,
            [0xFF, 0x7F, 0x00, 0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A],
            |(n, q, t)| {
                assert_eq!(n.0, 32767);
                assert_eq!(n.to_f32(), 1.0 - 1.0 / 32768.0);
                assert!(q.quality().is_good());
                check_t56(&t);
            }
        ),
        // SVA 00 80 = -32768; QDS 0x01 = OV; T56.
        case!(
            M_ME_TE_1,
            [0x00, 0x80, 0x01, 0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A],
            |(s, q, t)| {
                assert_eq!(s.0, -32768);
                assert_eq!(q.quality(), Quality::OV);
                check_t56(&t);
            }
        ),
        // R32 00 00 80 3F = 0x3F800000 = 1.0; QDS 0x40 = NT; T56.
        case!(
            M_ME_TF_1,
            [0x00, 0x00, 0x80, 0x3F, 0x40, 0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A],
            |(f, q, t)| {
                assert_eq!(f, 1.0);
                assert_eq!(q.quality(), Quality::NT);
                check_t56(&t);
            }
        ),
        // BCR 2A 00 00 00 = 42, octet 5 0x41 = CA | SQ 1; T56.
        case!(
            M_IT_TB_1,
            [0x2A, 0x00, 0x00, 0x00, 0x41, 0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A],
            |(c, t)| {
                assert_eq!(c.value, 42);
                assert_eq!(
                    (c.sequence(), c.carry(), c.adjusted(), c.invalid()),
                    (1, false, true, false)
                );
                check_t56(&t);
            }
        ),
        // SEP 0x01 = ES OFF; elapsed CP16 64 00 = 100 ms; T56.
        case!(
            M_EP_TD_1,
            [0x01, 0x64, 0x00, 0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A],
            |(s, e, t)| {
                assert_eq!(s.state(), DoubleState::Off);
                assert!(s.quality().is_good());
                assert_eq!(e.millis, 100);
                check_t56(&t);
            }
        ),
        // SPE 0x10 = SIE; QDP 0x08 = EI; CP16 E8 03 = 1000 ms; T56.
        case!(
            M_EP_TE_1,
            [0x10, 0x08, 0xE8, 0x03, 0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A],
            |(s, q, d, t)| {
                assert!(s.earth() && !s.general());
                assert_eq!(q.quality(), Quality::EI);
                assert_eq!(d.millis, 1000);
                check_t56(&t);
            }
        ),
        // OCI 0x02 = CL1; QDP 0x40 = NT; CP16 00 00; T56.
        case!(
            M_EP_TF_1,
            [0x02, 0x40, 0x00, 0x00, 0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A],
            |(o, q, d, t)| {
                assert_eq!(o.phases(), [true, false, false]);
                assert!(!o.general());
                assert_eq!(q.quality(), Quality::NT);
                assert_eq!(d.millis, 0);
                check_t56(&t);
            }
        ),
        // SCO 0x8D = S/E 0x80 | QU 3 (persistent) << 2 = 0x0C | SCS 1.
        case!(C_SC_NA_1, [0x8D], |(c)| {
            assert!(c.value() && c.select());
            assert_eq!(c.qualifier(), 3);
        }),
        // DCO 0x86 = S/E | QU 1 (short pulse) << 2 = 0x04 | DCS 2 (ON).
        case!(C_DC_NA_1, [0x86], |(c)| {
            assert_eq!(c.state(), DoubleState::On);
            assert_eq!(c.qualifier(), 1);
            assert!(c.select());
        }),
        // RCO 0x02 = RCS 2 (next step higher), execute.
        case!(C_RC_NA_1, [0x02], |(c)| {
            assert_eq!(c.state(), DoubleState::On);
            assert!(!c.select());
        }),
        // NVA 00 C0 = 0xC000 = -16384 → -0.5; QOS 0x80 = select, QL 0.
        case!(C_SE_NA_1, [0x00, 0xC0, 0x80], |(n, q)| {
            assert_eq!(n.to_f32(), -0.5);
            assert!(q.select());
            assert_eq!(q.ql(), 0);
        }),
        // SVA E8 03 = 1000; QOS 0x05 = execute, QL 5.
        case!(C_SE_NB_1, [0xE8, 0x03, 0x05], |(s, q)| {
            assert_eq!(s.0, 1000);
            assert_eq!((q.ql(), q.select()), (5, false));
        }),
        // R32 50.25 (see M_ME_NC_1); QOS 0.
        case!(C_SE_NC_1, [0x00, 0x00, 0x49, 0x42, 0x00], |(f, q)| {
            assert_eq!(f, 50.25);
            assert_eq!(q.0, 0);
        }),
        // BSI 00 00 00 80 → 0x80000000 (BS32 set).
        case!(C_BO_NA_1, [0x00, 0x00, 0x00, 0x80], |(b)| {
            assert_eq!(b.0, 0x8000_0000);
        }),
        // SCO 0x00 (OFF, execute); T56.
        case!(
            C_SC_TA_1,
            [0x00, 0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A],
            |(c, t)| {
                assert!(!c.value() && !c.select());
                check_t56(&t);
            }
        ),
        // DCO 0x01 (OFF, execute); T56.
        case!(
            C_DC_TA_1,
            [0x01, 0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A],
            |(c, t)| {
                assert_eq!(c.state(), DoubleState::Off);
                check_t56(&t);
            }
        ),
        // RCO 0x81 = select, RCS 1 (next step lower); T56.
        case!(
            C_RC_TA_1,
            [0x81, 0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A],
            |(c, t)| {
                assert_eq!(c.state(), DoubleState::Off);
                assert!(c.select());
                check_t56(&t);
            }
        ),
        // NVA 00 40 = 0.5; QOS 0; T56.
        case!(
            C_SE_TA_1,
            [0x00, 0x40, 0x00, 0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A],
            |(n, q, t)| {
                assert_eq!(n.to_f32(), 0.5);
                assert_eq!(q.0, 0);
                check_t56(&t);
            }
        ),
        // SVA 18 FC = -1000; QOS 0x80 select; T56.
        case!(
            C_SE_TB_1,
            [0x18, 0xFC, 0x80, 0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A],
            |(s, q, t)| {
                assert_eq!(s.0, -1000);
                assert!(q.select());
                check_t56(&t);
            }
        ),
        // R32 -7.75 (see M_ME_TC_1); QOS 0; T56.
        case!(
            C_SE_TC_1,
            [0x00, 0x00, 0xF8, 0xC0, 0x00, 0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A],
            |(f, q, t)| {
                assert_eq!(f, -7.75);
                assert_eq!(q.0, 0);
                check_t56(&t);
            }
        ),
        // BSI 78 56 34 12 → 0x12345678; T56.
        case!(
            C_BO_TA_1,
            [0x78, 0x56, 0x34, 0x12, 0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A],
            |(b, t)| {
                assert_eq!(b.0, 0x1234_5678);
                check_t56(&t);
            }
        ),
        // COI 0x82: cause 2 (remote reset), bit 8 set (after change of local parameters).
        case!(M_EI_NA_1, [0x82], |(c)| {
            assert_eq!(c.cause(), 2);
            assert!(c.after_change());
        }),
        // QOI 0x14 = 20: station interrogation.
        case!(C_IC_NA_1, [0x14], |(q)| {
            assert_eq!(q, Qoi::STATION);
        }),
        // QCC 0x45 = FRZ 1 << 6 | RQT 5 (general counter request, freeze without reset).
        case!(C_CI_NA_1, [0x45], |(q)| {
            assert_eq!((q.request(), q.freeze()), (5, 1));
        }),
        // C_RD_NA_1 carries no element, only the IOA.
        Case {
            t: TypeId::C_RD_NA_1,
            elem: &[],
            check: |el| assert!(matches!(el, Element::C_RD_NA_1)),
        },
        // C_CS_NA_1: T56.
        case!(
            C_CS_NA_1,
            [0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A],
            |(t)| {
                check_t56(&t);
            }
        ),
        // FBP AA 55 = 0x55AA, the fixed test pattern.
        case!(C_TS_NA_1, [0xAA, 0x55], |(f)| {
            assert_eq!(f, Fbp::PATTERN);
        }),
        // QRP 0x01: general reset of process.
        case!(C_RP_NA_1, [0x01], |(q)| {
            assert_eq!(q.0, 1);
        }),
        // CP16 F4 01 = 500 ms delay.
        case!(C_CD_NA_1, [0xF4, 0x01], |(d)| {
            assert_eq!(d.millis, 500);
        }),
        // TSC 34 12 = 0x1234; T56.
        case!(
            C_TS_TA_1,
            [0x34, 0x12, 0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A],
            |(c, t)| {
                assert_eq!(c.0, 0x1234);
                check_t56(&t);
            }
        ),
        // NVA 00 10 = 0x1000 → 0.125; QPM 0x41 = LPC | KPA 1 (threshold).
        case!(P_ME_NA_1, [0x00, 0x10, 0x41], |(n, q)| {
            assert_eq!(n.to_f32(), 0.125);
            assert_eq!(
                (q.kind(), q.local_change(), q.not_in_operation()),
                (1, true, false)
            );
        }),
        // SVA 64 00 = 100; QPM 0x84 = POP | KPA 4 (high limit).
        case!(P_ME_NB_1, [0x64, 0x00, 0x84], |(s, q)| {
            assert_eq!(s.0, 100);
            assert_eq!(
                (q.kind(), q.local_change(), q.not_in_operation()),
                (4, false, true)
            );
        }),
        // R32 00 00 20 41 = 0x41200000: exponent 3, mantissa 1.25 → 10.0; QPM 0x02 smoothing.
        case!(P_ME_NC_1, [0x00, 0x00, 0x20, 0x41, 0x02], |(f, q)| {
            assert_eq!(f, 10.0);
            assert_eq!(q.kind(), 2);
        }),
        // QPA 0x03: act/deact of persistent cyclic or periodic transmission.
        case!(P_AC_NA_1, [0x03], |(q)| {
            assert_eq!(q.0, 3);
        }),
        // NOF 01 00 = 1; LOF 00 10 00 = 0x001000 = 4096; FRQ 0.
        case!(F_FR_NA_1, [0x01, 0x00, 0x00, 0x10, 0x00, 0x00], |(f)| {
            assert_eq!((f.file, f.length, f.frq), (1, 4096, 0));
        }),
        // NOF 01 00; NOS 02; LOF FF FF FF = 16777215; SRQ 0x80 (section not ready).
        case!(
            F_SR_NA_1,
            [0x01, 0x00, 0x02, 0xFF, 0xFF, 0xFF, 0x80],
            |(s)| {
                assert_eq!(
                    (s.file, s.section, s.length, s.srq),
                    (1, 2, 0xFF_FFFF, 0x80)
                );
            }
        ),
        // NOF 01 00; NOS 00; SCQ 0x01 (select file).
        case!(F_SC_NA_1, [0x01, 0x00, 0x00, 0x01], |(c)| {
            assert_eq!((c.file, c.section, c.qualifier), (1, 0, 1));
        }),
        // NOF 01 00; NOS 01; LSQ 3 (section transfer without deactivation); CHS 0xAB.
        case!(F_LS_NA_1, [0x01, 0x00, 0x01, 0x03, 0xAB], |(l)| {
            assert_eq!((l.file, l.section, l.lsq, l.checksum), (1, 1, 3, 0xAB));
        }),
        // NOF 01 00; NOS 01; AFQ 3 (positive acknowledge of section transfer).
        case!(F_AF_NA_1, [0x01, 0x00, 0x01, 0x03], |(a)| {
            assert_eq!((a.file, a.section, a.qualifier), (1, 1, 3));
        }),
        // NOF 01 00; NOS 01; LOS 03; segment DE AD BE.
        case!(
            F_SG_NA_1,
            [0x01, 0x00, 0x01, 0x03, 0xDE, 0xAD, 0xBE],
            |(s)| {
                assert_eq!((s.file, s.section), (1, 1));
                assert_eq!(s.data, &[0xDE, 0xAD, 0xBE]);
            }
        ),
        // NOF 02 00; LOF 00 01 00 = 256; SOF 0xA0 = FA | LFD, STATUS 0; creation time T56.
        case!(
            F_DR_TA_1,
            [0x02, 0x00, 0x00, 0x01, 0x00, 0xA0, 0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A],
            |(d)| {
                assert_eq!((d.file, d.length), (2, 256));
                assert!(d.sof.active() && d.sof.last_file() && !d.sof.directory());
                assert_eq!(d.sof.status(), 0);
                check_t56(&d.time);
            }
        ),
        // NOF 03 00; range start T56; range stop = T56 with hour 11 (octet 4 0x0B).
        case!(
            F_SC_NB_1,
            [
                0x03, 0x00, 0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A, 0xAB, 0x75, 0x0F, 0x0B, 0x58,
                0x0B, 0x1A
            ],
            |(q)| {
                assert_eq!(q.file, 3);
                check_t56(&q.start);
                assert_eq!(q.stop.hour, 11);
                assert_eq!(q.stop.minute, 15);
            }
        ),
    ]
}

fn asdu_bytes(t: TypeId, elem: &[u8]) -> Vec<u8> {
    let cot = if t.is_monitor() { 0x03 } else { 0x06 };
    let mut v = vec![t.as_u8(), 0x01, cot, 0x00, 0x2F, 0x00, 0x11, 0x22, 0x33];
    v.extend_from_slice(elem);
    v
}

#[test]
fn every_type_id_decodes_and_encodes_its_hand_vector() {
    let cases = cases();
    let mut covered: Vec<TypeId> = cases.iter().map(|c| c.t).collect();
    covered.sort();
    covered.dedup();
    assert_eq!(covered.len(), cases.len(), "a type id is listed twice");
    assert_eq!(covered, TypeId::ALL, "every type id needs a hand vector");

    for case in &cases {
        let bytes = asdu_bytes(case.t, case.elem);
        let view = AsduView::parse(&bytes, &AsduParams::IEC104)
            .unwrap_or_else(|e| panic!("{}: {e}", case.t));
        assert_eq!(view.type_id(), Some(case.t));
        let h = view.header();
        assert_eq!((h.count, h.sequence, h.common_address), (1, false, 47));
        let objects: Vec<_> = view.objects().collect();
        assert_eq!(objects.len(), 1, "{}", case.t);
        let obj = objects[0];
        assert_eq!(obj.ioa, IOA);
        assert_eq!(obj.element.type_id(), case.t);
        assert_eq!(obj.element.encoded_len(), case.elem.len(), "{}", case.t);
        (case.check)(&obj.element);

        // Encode the decoded object again: the hand-derived octets must come back.
        let cause = if case.t.is_monitor() {
            Cause::Spontaneous
        } else {
            Cause::Activation
        };
        let mut b = AsduBuilder::new(case.t, Cot::new(cause), 47);
        b.push(obj).unwrap();
        let asdu = b.build().unwrap();
        assert_eq!(asdu.as_bytes(), &bytes[..], "{}", case.t);
        // And decode what we encoded.
        let again: Vec<_> = asdu.view().objects().collect();
        assert_eq!(again.len(), 1);
        if let Element::M_ME_NC_1(f, _) = obj.element {
            assert!(f.is_finite());
        }
        assert_eq!(again[0], obj, "{}", case.t);
        let mut single = bytes::BytesMut::new();
        encode_object(&obj, &AsduParams::IEC104, &mut single);
        assert_eq!(&single[..], &bytes[6..], "{}", case.t);
    }
}

//! One information object of every type id, built with our constructors, and what Wireshark's
//! IEC 104 dissector must read from our encoding of it.
//!
//! The expected field values are derived by hand from the values we chose and the standard's
//! bit layout (IEC 60870-5-101 §7.2.6), written next to each case. Wireshark 4.0 decodes the
//! elements of types 1–16, 21, 30–37, 45–51, 58–64, 70, 100, 101, 103, 105 and 110–112; for
//! the other types (17–20, 38–40, 102, 104, 106, 107, 113, 120–127) it only reads the data unit
//! identifier, so only that and the absence of malformed/expert errors are checked there.

use iec104::asdu::{
    BinaryCounter, Bitstring, Coi, DirectoryEntry, DoubleCommand, DoublePoint, DoubleState,
    Element, Fbp, FileCommand, FileReady, InformationObject, LastSection, Normalized,
    OutputCircuit, ProtectionEvent, Qcc, Qdp, Qds, Qoi, Qos, Qpa, Qpm, Qrp, Quality, QueryLog,
    Scaled, SectionReady, Segment, SingleCommand, SinglePoint, Sof, StartEvents, StatusChange,
    StepCommand, StepPosition, Tsc,
};
use iec104::cot::{Cause, Cot};
use iec104::time::{Cp16Time2a, Cp24Time2a, Cp56Time2a};

/// What a Wireshark field must read.
#[derive(Debug, Clone)]
pub enum Want {
    /// Exactly this text.
    Text(&'static str),
    /// A number within `tol` of this value.
    Num(f64, f64),
}

/// One case: the object we encode and the fields Wireshark must show for it.
pub struct Case {
    /// Cause of transmission of the ASDU.
    pub cot: Cot,
    /// The object (its element's variant is the type id).
    pub object: InformationObject<'static>,
    /// Wireshark field name (without the `iec60870_asdu.` prefix) and expected reading.
    pub fields: Vec<(&'static str, Want)>,
}

/// 2026-11-24 10:15:30.123 UTC, a Tuesday (day of week 2), no IV/SU/GEN.
pub const T56: Cp56Time2a = Cp56Time2a {
    millis: 30_123,
    minute: 15,
    substituted: false,
    invalid: false,
    hour: 10,
    summer_time: false,
    day: 24,
    weekday: 2,
    month: 11,
    year: 26,
};

/// CP24Time2a 15 min 30.123 s, invalid.
pub const T24: Cp24Time2a = Cp24Time2a {
    millis: 30_123,
    minute: 15,
    substituted: false,
    invalid: true,
};

fn t56() -> Vec<(&'static str, Want)> {
    use Want::Text;
    vec![
        ("cp56time.ms", Text("30123")),
        ("cp56time.min", Text("15")),
        ("cp56time.gen", Text("0")),
        ("cp56time.iv", Text("0")),
        ("cp56time.hour", Text("10")),
        ("cp56time.su", Text("0")),
        ("cp56time.day", Text("24")),
        ("cp56time.dow", Text("2")),
        ("cp56time.month", Text("11")),
        ("cp56time.year", Text("26")),
    ]
}

fn t24() -> Vec<(&'static str, Want)> {
    use Want::Text;
    vec![
        ("cp24time.ms", Text("30123")),
        ("cp24time.min", Text("15")),
        ("cp24time.iv", Text("1")),
    ]
}

/// QDS with IV and OV (octet 0x81): ov 1, bl 0, sb 0, nt 0, iv 1.
fn qds_iv_ov() -> Vec<(&'static str, Want)> {
    use Want::Text;
    vec![
        ("qds.ov", Text("1")),
        ("qds.bl", Text("0")),
        ("qds.sb", Text("0")),
        ("qds.nt", Text("0")),
        ("qds.iv", Text("1")),
    ]
}

/// QDS with NT and BL (octet 0x50).
fn qds_nt_bl() -> Vec<(&'static str, Want)> {
    use Want::Text;
    vec![
        ("qds.ov", Text("0")),
        ("qds.bl", Text("1")),
        ("qds.sb", Text("0")),
        ("qds.nt", Text("1")),
        ("qds.iv", Text("0")),
    ]
}

fn cat(parts: Vec<Vec<(&'static str, Want)>>) -> Vec<(&'static str, Want)> {
    parts.into_iter().flatten().collect()
}

fn case(
    ioa: u32,
    cause: Cause,
    element: Element<'static>,
    fields: Vec<(&'static str, Want)>,
) -> Case {
    Case {
        cot: Cot::new(cause),
        object: InformationObject::new(ioa, element),
        fields,
    }
}

static SEGMENT: [u8; 4] = [0xDE, 0xAD, 0xBE, 0xEF];

/// Every type id once.
pub fn all() -> Vec<Case> {
    use Cause::{Activation, ActivationCon, FileTransfer, Initialized, Spontaneous};
    use Want::{Num, Text};
    let iv_ov = Quality::IV.union(Quality::OV);
    let nt_bl = Quality::NT.union(Quality::BL);
    // SIQ on + SB + IV = 0x01 | 0x20 | 0x80.
    let siq = || {
        vec![
            ("siq.spi", Text("1")),
            ("siq.bl", Text("0")),
            ("siq.sb", Text("1")),
            ("siq.nt", Text("0")),
            ("siq.iv", Text("1")),
        ]
    };
    let sp = SinglePoint::new(true, Quality::SB.union(Quality::IV));
    // DIQ indeterminate (3) + NT = 0x43.
    let diq = || {
        vec![
            ("diq.dpi", Text("3")),
            ("diq.bl", Text("0")),
            ("diq.sb", Text("0")),
            ("diq.nt", Text("1")),
            ("diq.iv", Text("0")),
        ]
    };
    let dp = DoublePoint::new(DoubleState::Indeterminate, Quality::NT);
    // VTI −5 transient: 7-bit two's complement 0x7B | T 0x80.
    let vti = || vec![("vti.v", Text("-5")), ("vti.t", Text("1"))];
    let st = StepPosition::new(-5, true);
    // BSI 0x01020304 is sent little endian 04 03 02 01 (BS1 = bit 0 of the first octet);
    // Wireshark 4.0 shows the four octets read big endian.
    let bsi = || vec![("bitstring", Text("0x04030201"))];
    let bs = Bitstring(0x0102_0304);
    // NVA raw −16384 = −0.5.
    let nva = || vec![("normval", Num(-0.5, 1e-6))];
    let nv = Normalized(-16_384);
    // SVA −12345.
    let sva = || vec![("scalval", Text("-12345"))];
    let sv = Scaled(-12_345);
    // R32 −1234.5 (exact in binary).
    let r32 = || vec![("float", Num(-1234.5, 1e-3))];
    let fl = -1234.5f32;
    // BCR −2147483648, sequence 17, CY and IV: flags 0x11 | 0x20 | 0x80.
    let bcr = || {
        vec![
            ("bcr.count", Text("-2147483648")),
            ("bcr.sq", Text("17")),
            ("bcr.cy", Text("1")),
            ("bcr.ca", Text("0")),
            ("bcr.iv", Text("1")),
        ]
    };
    let bc = BinaryCounter::new(i32::MIN, 17, true, false, true);
    // SEP on (2) + EI 0x08 + SB 0x20; SPE GS + SRD = 0x21; OCI GC + CL3 = 0x09.
    let sep = ProtectionEvent::new(DoubleState::On, Quality::EI.union(Quality::SB));
    let spe = StartEvents(0x21);
    let oci = OutputCircuit(0x09);
    let qdp = Qdp::new(Quality::BL);
    let ms = Cp16Time2a { millis: 1500 };
    // SCO on, QU 1 (short pulse), select: 0x01 | 1 << 2 | 0x80.
    let sco = || {
        vec![
            ("sco.on", Text("1")),
            ("sco.qu", Text("1")),
            ("sco.se", Text("1")),
        ]
    };
    let sc = SingleCommand::new(true, 1, true);
    // DCO on (2), QU 2 (long pulse), execute: 0x02 | 2 << 2.
    let dco = || {
        vec![
            ("dco.on", Text("2")),
            ("dco.qu", Text("2")),
            ("dco.se", Text("0")),
        ]
    };
    let dc = DoubleCommand::new(DoubleState::On, 2, false);
    // RCO higher (2), QU 3 (persistent), select.
    let rco = || {
        vec![
            ("rco.up", Text("2")),
            ("rco.qu", Text("3")),
            ("rco.se", Text("1")),
        ]
    };
    let rc = StepCommand::new(DoubleState::On, 3, true);
    // QOS QL 0, select: 0x80.
    let qos = || vec![("qos.ql", Text("0")), ("qos.se", Text("1"))];
    let qs = Qos::new(0, true);
    // QPM KPA 3 (upper limit), LPC, not POP: 3 | 0x40.
    let qpm = || {
        vec![
            ("qpm.kpa", Text("3")),
            ("qpm.lpc", Text("1")),
            ("qpm.pop", Text("0")),
        ]
    };
    let qp = Qpm::new(3, true, false);

    let q = |quality: Quality| Qds::new(quality);
    vec![
        case(0x0101, Spontaneous, Element::M_SP_NA_1(sp), siq()),
        case(
            0x0201,
            Spontaneous,
            Element::M_SP_TA_1(sp, T24),
            cat(vec![siq(), t24()]),
        ),
        case(0x0301, Spontaneous, Element::M_DP_NA_1(dp), diq()),
        case(
            0x0401,
            Spontaneous,
            Element::M_DP_TA_1(dp, T24),
            cat(vec![diq(), t24()]),
        ),
        case(
            0x0501,
            Spontaneous,
            Element::M_ST_NA_1(st, q(iv_ov)),
            cat(vec![vti(), qds_iv_ov()]),
        ),
        case(
            0x0601,
            Spontaneous,
            Element::M_ST_TA_1(st, q(iv_ov), T24),
            cat(vec![vti(), qds_iv_ov(), t24()]),
        ),
        case(
            0x0701,
            Spontaneous,
            Element::M_BO_NA_1(bs, q(nt_bl)),
            cat(vec![bsi(), qds_nt_bl()]),
        ),
        case(
            0x0801,
            Spontaneous,
            Element::M_BO_TA_1(bs, q(nt_bl), T24),
            cat(vec![bsi(), qds_nt_bl(), t24()]),
        ),
        case(
            0x0901,
            Spontaneous,
            Element::M_ME_NA_1(nv, q(iv_ov)),
            cat(vec![nva(), qds_iv_ov()]),
        ),
        case(
            0x0a01,
            Spontaneous,
            Element::M_ME_TA_1(nv, q(iv_ov), T24),
            cat(vec![nva(), qds_iv_ov(), t24()]),
        ),
        case(
            0x0b01,
            Spontaneous,
            Element::M_ME_NB_1(sv, q(nt_bl)),
            cat(vec![sva(), qds_nt_bl()]),
        ),
        case(
            0x0c01,
            Spontaneous,
            Element::M_ME_TB_1(sv, q(nt_bl), T24),
            cat(vec![sva(), qds_nt_bl(), t24()]),
        ),
        case(
            0x0d01,
            Spontaneous,
            Element::M_ME_NC_1(fl, q(iv_ov)),
            cat(vec![r32(), qds_iv_ov()]),
        ),
        case(
            0x0e01,
            Spontaneous,
            Element::M_ME_TC_1(fl, q(iv_ov), T24),
            cat(vec![r32(), qds_iv_ov(), t24()]),
        ),
        case(0x0f01, Spontaneous, Element::M_IT_NA_1(bc), bcr()),
        case(
            0x1001,
            Spontaneous,
            Element::M_IT_TA_1(bc, T24),
            cat(vec![bcr(), t24()]),
        ),
        case(
            0x1101,
            Spontaneous,
            Element::M_EP_TA_1(sep, ms, T24),
            vec![],
        ),
        case(
            0x1201,
            Spontaneous,
            Element::M_EP_TB_1(spe, qdp, ms, T24),
            vec![],
        ),
        case(
            0x1301,
            Spontaneous,
            Element::M_EP_TC_1(oci, qdp, ms, T24),
            vec![],
        ),
        case(
            0x1401,
            Spontaneous,
            Element::M_PS_NA_1(
                StatusChange {
                    status: 0x8001,
                    change: 0x0002,
                },
                q(nt_bl),
            ),
            vec![],
        ),
        case(0x1501, Spontaneous, Element::M_ME_ND_1(nv), nva()),
        case(
            0x1e01,
            Spontaneous,
            Element::M_SP_TB_1(sp, T56),
            cat(vec![siq(), t56()]),
        ),
        case(
            0x1f01,
            Spontaneous,
            Element::M_DP_TB_1(dp, T56),
            cat(vec![diq(), t56()]),
        ),
        case(
            0x2001,
            Spontaneous,
            Element::M_ST_TB_1(st, q(iv_ov), T56),
            cat(vec![vti(), qds_iv_ov(), t56()]),
        ),
        case(
            0x2101,
            Spontaneous,
            Element::M_BO_TB_1(bs, q(nt_bl), T56),
            cat(vec![bsi(), qds_nt_bl(), t56()]),
        ),
        case(
            0x2201,
            Spontaneous,
            Element::M_ME_TD_1(nv, q(iv_ov), T56),
            cat(vec![nva(), qds_iv_ov(), t56()]),
        ),
        case(
            0x2301,
            Spontaneous,
            Element::M_ME_TE_1(sv, q(nt_bl), T56),
            cat(vec![sva(), qds_nt_bl(), t56()]),
        ),
        case(
            0x2401,
            Spontaneous,
            Element::M_ME_TF_1(fl, q(iv_ov), T56),
            cat(vec![r32(), qds_iv_ov(), t56()]),
        ),
        case(
            0x2501,
            Spontaneous,
            Element::M_IT_TB_1(bc, T56),
            cat(vec![bcr(), t56()]),
        ),
        case(
            0x2601,
            Spontaneous,
            Element::M_EP_TD_1(sep, ms, T56),
            vec![],
        ),
        case(
            0x2701,
            Spontaneous,
            Element::M_EP_TE_1(spe, qdp, ms, T56),
            vec![],
        ),
        case(
            0x2801,
            Spontaneous,
            Element::M_EP_TF_1(oci, qdp, ms, T56),
            vec![],
        ),
        case(0x2d01, Activation, Element::C_SC_NA_1(sc), sco()),
        case(0x2e01, Activation, Element::C_DC_NA_1(dc), dco()),
        case(0x2f01, Activation, Element::C_RC_NA_1(rc), rco()),
        case(
            0x3001,
            Activation,
            Element::C_SE_NA_1(nv, qs),
            cat(vec![nva(), qos()]),
        ),
        case(
            0x3101,
            Activation,
            Element::C_SE_NB_1(sv, qs),
            cat(vec![sva(), qos()]),
        ),
        case(
            0x3201,
            Activation,
            Element::C_SE_NC_1(fl, qs),
            cat(vec![r32(), qos()]),
        ),
        case(0x3301, Activation, Element::C_BO_NA_1(bs), bsi()),
        case(
            0x3a01,
            Activation,
            Element::C_SC_TA_1(sc, T56),
            cat(vec![sco(), t56()]),
        ),
        case(
            0x3b01,
            Activation,
            Element::C_DC_TA_1(dc, T56),
            cat(vec![dco(), t56()]),
        ),
        case(
            0x3c01,
            Activation,
            Element::C_RC_TA_1(rc, T56),
            cat(vec![rco(), t56()]),
        ),
        case(
            0x3d01,
            Activation,
            Element::C_SE_TA_1(nv, qs, T56),
            cat(vec![nva(), qos(), t56()]),
        ),
        case(
            0x3e01,
            Activation,
            Element::C_SE_TB_1(sv, qs, T56),
            cat(vec![sva(), qos(), t56()]),
        ),
        case(
            0x3f01,
            Activation,
            Element::C_SE_TC_1(fl, qs, T56),
            cat(vec![r32(), qos(), t56()]),
        ),
        case(
            0x4001,
            Activation,
            Element::C_BO_TA_1(bs, T56),
            cat(vec![bsi(), t56()]),
        ),
        // COI cause 2 (remote reset), after a change of parameters: 0x02 | 0x80.
        case(
            0,
            Initialized,
            Element::M_EI_NA_1(Coi::new(2, true)),
            vec![("coi_r", Text("2")), ("coi_i", Text("1"))],
        ),
        // QOI 20: station interrogation.
        case(
            0,
            Activation,
            Element::C_IC_NA_1(Qoi::STATION),
            vec![("qoi", Text("20"))],
        ),
        // QCC RQT 5 (general), FRZ 1 (freeze without reset): 5 | 1 << 6.
        case(
            0,
            Activation,
            Element::C_CI_NA_1(Qcc::new(5, 1)),
            vec![("rqt", Text("5")), ("frz", Text("1"))],
        ),
        case(0x6601, Activation, Element::C_RD_NA_1, vec![]),
        case(0, Activation, Element::C_CS_NA_1(T56), t56()),
        // FBP: the fixed test pattern 0x55AA.
        case(0, Activation, Element::C_TS_NA_1(Fbp(0x55AA)), vec![]),
        // QRP 1: general reset of process.
        case(
            0,
            Activation,
            Element::C_RP_NA_1(Qrp(1)),
            vec![("qrp", Text("1"))],
        ),
        case(
            0,
            Activation,
            Element::C_CD_NA_1(Cp16Time2a { millis: 250 }),
            vec![],
        ),
        case(0, Activation, Element::C_TS_TA_1(Tsc(0x1234), T56), vec![]),
        case(
            0x6e01,
            Activation,
            Element::P_ME_NA_1(nv, qp),
            cat(vec![nva(), qpm()]),
        ),
        case(
            0x6f01,
            Activation,
            Element::P_ME_NB_1(sv, qp),
            cat(vec![sva(), qpm()]),
        ),
        case(
            0x7001,
            Activation,
            Element::P_ME_NC_1(fl, qp),
            cat(vec![r32(), qpm()]),
        ),
        case(0x7101, Activation, Element::P_AC_NA_1(Qpa(3)), vec![]),
        case(
            0x7801,
            FileTransfer,
            Element::F_FR_NA_1(FileReady {
                file: 1,
                length: 0x01_0203,
                frq: 0,
            }),
            vec![],
        ),
        case(
            0x7901,
            FileTransfer,
            Element::F_SR_NA_1(SectionReady {
                file: 1,
                section: 2,
                length: 1000,
                srq: 0,
            }),
            vec![],
        ),
        case(
            0x7a01,
            FileTransfer,
            Element::F_SC_NA_1(FileCommand {
                file: 1,
                section: 0,
                qualifier: 1,
            }),
            vec![],
        ),
        case(
            0x7b01,
            FileTransfer,
            Element::F_LS_NA_1(LastSection {
                file: 1,
                section: 2,
                lsq: 1,
                checksum: 0xAB,
            }),
            vec![],
        ),
        case(
            0x7c01,
            FileTransfer,
            Element::F_AF_NA_1(FileCommand {
                file: 1,
                section: 2,
                qualifier: 3,
            }),
            vec![],
        ),
        case(
            0x7d01,
            FileTransfer,
            Element::F_SG_NA_1(Segment {
                file: 1,
                section: 2,
                data: &SEGMENT,
            }),
            vec![],
        ),
        case(
            0x7e01,
            ActivationCon,
            Element::F_DR_TA_1(DirectoryEntry {
                file: 1,
                length: 1000,
                sof: Sof(0x20),
                time: T56,
            }),
            vec![],
        ),
        case(
            0x7f01,
            Activation,
            Element::F_SC_NB_1(QueryLog {
                file: 1,
                start: T56,
                stop: T56,
            }),
            vec![],
        ),
    ]
}

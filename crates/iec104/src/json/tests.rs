//! Every type id against a JSON line written by hand from docs/json.md, from ASDU octets
//! derived by hand from IEC 60870-5-101 §7.2–7.3 / IEC 60870-5-104 §8.
//!
//! Common octets: data unit identifier TI, VSQ 01, COT (03 = spont, 06 = act, 07 = actcon,
//! 04 = init, 05 = req, 0D = file), originator 00, CA 01 00 (= 1); IOA 64 00 00 (= 100).
//! CP56 `AB 75 0F 0A 18 0B 1A` = 30123 ms (0x75AB), minute 15, hour 10, day 24, month 11,
//! year 26 = 2026-11-24T10:15:30.123Z. CP24 `AB 75 0F` = minute 15, 30.123 s, completed with
//! the receive time 2026-11-24T10:20:00Z to the same instant.

use chrono::{TimeZone, Utc};
use serde_json::Value;

use super::*;
use crate::asdu::{AsduParams, AsduView};

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 10, 20, 0).unwrap()
}

fn octets(hex: &str) -> Vec<u8> {
    hex.split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect()
}

/// The JSON lines of every object of the ASDU `hex`.
fn lines(hex: &str) -> Vec<String> {
    let bytes = octets(hex);
    let view = AsduView::parse(&bytes, &AsduParams::IEC104).unwrap();
    JsonObject::from_view(&view, now())
        .map(|o| serde_json::to_string(&o).unwrap())
        .collect()
}

fn check(hex: &str, expected: &str) {
    let got = lines(hex);
    assert_eq!(got.len(), 1, "{hex}");
    let got_v: Value = serde_json::from_str(&got[0]).unwrap();
    let want: Value = serde_json::from_str(expected).unwrap();
    assert_eq!(got_v, want, "\n{hex}\n got  {}\n want {expected}", got[0]);
}

const T56: &str = "AB 75 0F 0A 18 0B 1A";
const TIME: &str = r#""time":"2026-11-24T10:15:30.123Z""#;

fn with56(head: &str, tail: &str) -> String {
    format!("{head} {T56} {tail}")
}

#[test]
fn the_doc_example_line_exactly() {
    // M_ME_TF_1 (36 = 0x24), spont, CA 1, IOA 1001 = 0x3E9 → E9 03 00; R32 230.5 =
    // 1.11001101b × 2^7: sign 0, exponent 127 + 7 = 0x86, mantissa 0x668000 → 0x43668000,
    // little endian 00 80 66 43; QDS 00; CP56 of 2026-11-24T10:15:30.123Z.
    let got = lines(&format!("24 01 03 00 01 00 E9 03 00 00 80 66 43 00 {T56}"));
    assert_eq!(
        got,
        [
            r#"{"ca":1,"ioa":1001,"type":"M_ME_TF_1","cot":"spont","value":230.5,"quality":[],"time":"2026-11-24T10:15:30.123Z"}"#
        ]
    );
}

#[test]
fn field_order_of_a_command_confirmation() {
    // C_DC_TA_1 (59 = 0x3B), COT 0x47 = P/N + actcon, originator 3; DCO 0x8E = S/E, QU 3
    // (0b00011 << 2 = 0x0C), DCS 2 (on).
    let got = lines(&format!("3B 01 47 03 01 00 64 00 00 8E {T56}"));
    assert_eq!(
        got,
        [
            r#"{"ca":1,"ioa":100,"type":"C_DC_TA_1","cot":"actcon","negative":true,"originator":3,"value":"on","select":true,"qu":3,"time":"2026-11-24T10:15:30.123Z"}"#
        ]
    );
}

#[test]
fn monitor_types_without_time() {
    // SIQ 0x91: IV (0x80), BL (0x10), SPI 1.
    check(
        "01 01 03 00 01 00 64 00 00 91",
        r#"{"ca":1,"ioa":100,"type":"M_SP_NA_1","cot":"spont","value":true,"quality":["IV","BL"]}"#,
    );
    // DIQ 0x02: DPI 2 = on.
    check(
        "03 01 14 00 01 00 64 00 00 02",
        r#"{"ca":1,"ioa":100,"type":"M_DP_NA_1","cot":"inrogen","value":"on","quality":[]}"#,
    );
    // VTI 0x85: T set, value 5; QDS 0x01 = OV.
    check(
        "05 01 03 00 01 00 64 00 00 85 01",
        r#"{"ca":1,"ioa":100,"type":"M_ST_NA_1","cot":"spont","value":5,"transient":true,"quality":["OV"]}"#,
    );
    // BSI 78 56 34 12 = 0x12345678 = 305419896.
    check(
        "07 01 03 00 01 00 64 00 00 78 56 34 12 00",
        r#"{"ca":1,"ioa":100,"type":"M_BO_NA_1","cot":"spont","value":305419896,"quality":[]}"#,
    );
    // NVA 00 40 = 0x4000 = 16384 → 0.5.
    check(
        "09 01 03 00 01 00 64 00 00 00 40 00",
        r#"{"ca":1,"ioa":100,"type":"M_ME_NA_1","cot":"spont","value":0.5,"raw":16384,"quality":[]}"#,
    );
    // SVA 18 FC = 0xFC18 = -1000; QDS 0x20 = SB.
    check(
        "0B 01 03 00 01 00 64 00 00 18 FC 20",
        r#"{"ca":1,"ioa":100,"type":"M_ME_NB_1","cot":"spont","value":-1000,"quality":["SB"]}"#,
    );
    // R32 00 80 66 43 = 230.5 (see the doc example).
    check(
        "0D 01 03 00 01 00 64 00 00 00 80 66 43 00",
        r#"{"ca":1,"ioa":100,"type":"M_ME_NC_1","cot":"spont","value":230.5,"quality":[]}"#,
    );
    // BCR 10 27 00 00 = 10000, octet 5 0x65 = CA 0x40, CY 0x20, SQ 5.
    check(
        "0F 01 25 00 01 00 64 00 00 10 27 00 00 65",
        r#"{"ca":1,"ioa":100,"type":"M_IT_NA_1","cot":"reqcogen","value":10000,"sequence":5,"quality":["CA","CY"]}"#,
    );
    // SCD: ST 01 80 = 0x8001 = 32769, CD 03 00 = 3; QDS 0.
    check(
        "14 01 03 00 01 00 64 00 00 01 80 03 00 00",
        r#"{"ca":1,"ioa":100,"type":"M_PS_NA_1","cot":"spont","value":32769,"changed":3,"quality":[]}"#,
    );
    // M_ME_ND_1 (21): NVA 00 C0 = 0xC000 = -16384 → -0.5; no quality descriptor.
    check(
        "15 01 03 00 01 00 64 00 00 00 C0",
        r#"{"ca":1,"ioa":100,"type":"M_ME_ND_1","cot":"spont","value":-0.5,"raw":-16384}"#,
    );
}

#[test]
fn monitor_types_with_cp24() {
    let p = r#""time":"2026-11-24T10:15:30.123Z","time_partial":true"#;
    check(
        "02 01 03 00 01 00 64 00 00 00 AB 75 0F",
        &format!(
            r#"{{"ca":1,"ioa":100,"type":"M_SP_TA_1","cot":"spont","value":false,"quality":[],{p}}}"#
        ),
    );
    // DIQ 0x41: NT, DPI 1 = off; CP24 octet 3 = 0x8F: IV + minute 15.
    check(
        "04 01 03 00 01 00 64 00 00 41 AB 75 8F",
        &format!(
            r#"{{"ca":1,"ioa":100,"type":"M_DP_TA_1","cot":"spont","value":"off","quality":["NT"],{p},"time_invalid":true}}"#
        ),
    );
    // VTI 0x7F = -1 (seven-bit two's complement).
    check(
        "06 01 03 00 01 00 64 00 00 7F 00 AB 75 0F",
        &format!(
            r#"{{"ca":1,"ioa":100,"type":"M_ST_TA_1","cot":"spont","value":-1,"quality":[],{p}}}"#
        ),
    );
    // BSI FF FF FF FF = 4294967295; QDS 0x80 = IV.
    check(
        "08 01 03 00 01 00 64 00 00 FF FF FF FF 80 AB 75 0F",
        &format!(
            r#"{{"ca":1,"ioa":100,"type":"M_BO_TA_1","cot":"spont","value":4294967295,"quality":["IV"],{p}}}"#
        ),
    );
    // NVA 00 80 = -32768 → -1.0; QDS 0x10 = BL.
    check(
        "0A 01 03 00 01 00 64 00 00 00 80 10 AB 75 0F",
        &format!(
            r#"{{"ca":1,"ioa":100,"type":"M_ME_TA_1","cot":"spont","value":-1.0,"raw":-32768,"quality":["BL"],{p}}}"#
        ),
    );
    // SVA E8 03 = 1000.
    check(
        "0C 01 03 00 01 00 64 00 00 E8 03 00 AB 75 0F",
        &format!(
            r#"{{"ca":1,"ioa":100,"type":"M_ME_TB_1","cot":"spont","value":1000,"quality":[],{p}}}"#
        ),
    );
    // R32 00 00 C0 7F = 0x7FC00000, a quiet NaN; QDS 0x80 = IV.
    check(
        "0E 01 03 00 01 00 64 00 00 00 00 C0 7F 80 AB 75 0F",
        &format!(
            r#"{{"ca":1,"ioa":100,"type":"M_ME_TC_1","cot":"spont","value":null,"raw_float":"NaN","quality":["IV"],{p}}}"#
        ),
    );
    // BCR FF FF FF FF = -1, octet 5 0x80 = IV, SQ 0.
    check(
        "10 01 03 00 01 00 64 00 00 FF FF FF FF 80 AB 75 0F",
        &format!(
            r#"{{"ca":1,"ioa":100,"type":"M_IT_TA_1","cot":"spont","value":-1,"sequence":0,"quality":["IV"],{p}}}"#
        ),
    );
    // SEP 0x0A: EI (0x08), ES 2 = on; CP16 E8 03 = 1000 ms.
    check(
        "11 01 03 00 01 00 64 00 00 0A E8 03 AB 75 0F",
        &format!(
            r#"{{"ca":1,"ioa":100,"type":"M_EP_TA_1","cot":"spont","value":"on","elapsed_ms":1000,"quality":["EI"],{p}}}"#
        ),
    );
    // SPE 0x23 = GS (0x01), SL1 (0x02), SRD (0x20); QDP 0; CP16 64 00 = 100 ms.
    check(
        "12 01 03 00 01 00 64 00 00 23 00 64 00 AB 75 0F",
        &format!(
            r#"{{"ca":1,"ioa":100,"type":"M_EP_TB_1","cot":"spont","value":["GS","SL1","SRD"],"relay_duration_ms":100,"quality":[],{p}}}"#
        ),
    );
    // OCI 0x0A = CL1 (0x02), CL3 (0x08); QDP 0x80 = IV; CP16 C8 00 = 200 ms.
    check(
        "13 01 03 00 01 00 64 00 00 0A 80 C8 00 AB 75 0F",
        &format!(
            r#"{{"ca":1,"ioa":100,"type":"M_EP_TC_1","cot":"spont","value":["CL1","CL3"],"relay_operating_ms":200,"quality":["IV"],{p}}}"#
        ),
    );
}

#[test]
fn monitor_types_with_cp56() {
    let head = |t: &str, elems: &str| format!("{t} 01 03 00 01 00 64 00 00 {elems}");
    let j = |t: &str, rest: &str| {
        format!(r#"{{"ca":1,"ioa":100,"type":"{t}","cot":"spont",{rest},{TIME}}}"#)
    };
    check(
        &with56(&head("1E", "01"), ""),
        &j("M_SP_TB_1", r#""value":true,"quality":[]"#),
    );
    // CP56 with IV (octet 3 = 0x80 | 15 = 0x8F) and SU (octet 4 = 0x80 | 10 = 0x8A).
    check(
        &head("1E", "00 AB 75 8F 8A 18 0B 1A"),
        &j("M_SP_TB_1", r#""value":false,"quality":[]"#)
            .replace('}', r#","time_invalid":true,"summer_time":true}"#),
    );
    // DIQ 0x00: DPI 0 = intermediate.
    check(
        &with56(&head("1F", "00"), ""),
        &j("M_DP_TB_1", r#""value":"intermediate","quality":[]"#),
    );
    // VTI 0x40 = -64.
    check(
        &with56(&head("20", "40 00"), ""),
        &j("M_ST_TB_1", r#""value":-64,"quality":[]"#),
    );
    check(
        &with56(&head("21", "01 00 00 00 00"), ""),
        &j("M_BO_TB_1", r#""value":1,"quality":[]"#),
    );
    // NVA 01 00 = 1 → 1/32768 = 3.0517578125e-5.
    check(
        &with56(&head("22", "01 00 00"), ""),
        &j(
            "M_ME_TD_1",
            r#""value":3.0517578125e-5,"raw":1,"quality":[]"#,
        ),
    );
    // SVA FF 7F = 32767.
    check(
        &with56(&head("23", "FF 7F 00"), ""),
        &j("M_ME_TE_1", r#""value":32767,"quality":[]"#),
    );
    // R32 00 00 C0 BF = 0xBFC00000 = -1.5.
    check(
        &with56(&head("24", "00 00 C0 BF 00"), ""),
        &j("M_ME_TF_1", r#""value":-1.5,"quality":[]"#),
    );
    // BCR 00 00 00 80 = -2147483648, octet 5 0x1F = SQ 31.
    check(
        &with56(&head("25", "00 00 00 80 1F"), ""),
        &j(
            "M_IT_TB_1",
            r#""value":-2147483648,"sequence":31,"quality":[]"#,
        ),
    );
    // SEP 0x01 = off; SEP 0x00 = ES 0, "indeterminate" per docs/json.md.
    check(
        &with56(&head("26", "01 00 00"), ""),
        &j("M_EP_TD_1", r#""value":"off","elapsed_ms":0,"quality":[]"#),
    );
    check(
        &with56(&head("26", "00 00 00"), ""),
        &j(
            "M_EP_TD_1",
            r#""value":"indeterminate","elapsed_ms":0,"quality":[]"#,
        ),
    );
    // SPE 0; QDP 0x08 = EI; CP16 0A 00 = 10 ms.
    check(
        &with56(&head("27", "00 08 0A 00"), ""),
        &j(
            "M_EP_TE_1",
            r#""value":[],"relay_duration_ms":10,"quality":["EI"]"#,
        ),
    );
    // OCI 0x01 = GC; CP16 14 00 = 20 ms.
    check(
        &with56(&head("28", "01 00 14 00"), ""),
        &j(
            "M_EP_TF_1",
            r#""value":["GC"],"relay_operating_ms":20,"quality":[]"#,
        ),
    );
}

#[test]
fn process_commands() {
    let act = |t: &str, elems: &str| format!("{t} 01 06 00 01 00 64 00 00 {elems}");
    let j =
        |t: &str, rest: &str| format!(r#"{{"ca":1,"ioa":100,"type":"{t}","cot":"act",{rest}}}"#);
    let jt = |t: &str, rest: &str| {
        format!(r#"{{"ca":1,"ioa":100,"type":"{t}","cot":"act",{rest},{TIME}}}"#)
    };
    // SCO 0x81: S/E 1 (select), SCS 1.
    check(
        &act("2D", "81"),
        &j("C_SC_NA_1", r#""value":true,"select":true"#),
    );
    // DCO 0x0E: QU 3 (0x0C), DCS 2 = on, execute.
    check(&act("2E", "0E"), &j("C_DC_NA_1", r#""value":"on","qu":3"#));
    // RCO 0x01: RCS 1 = lower; 0x82: select, higher.
    check(&act("2F", "01"), &j("C_RC_NA_1", r#""value":"lower""#));
    check(
        &act("2F", "82"),
        &j("C_RC_NA_1", r#""value":"higher","select":true"#),
    );
    // NVA 00 40 = 0.5; QOS 0x85 = S/E + QL 5.
    check(
        &act("30", "00 40 85"),
        &j(
            "C_SE_NA_1",
            r#""value":0.5,"raw":16384,"select":true,"ql":5"#,
        ),
    );
    // SVA 9C FF = 0xFF9C = -100; QOS 0.
    check(&act("31", "9C FF 00"), &j("C_SE_NB_1", r#""value":-100"#));
    // R32 00 00 80 3F = 0x3F800000 = 1.0; QOS 0x80 = select.
    check(
        &act("32", "00 00 80 3F 80"),
        &j("C_SE_NC_1", r#""value":1.0,"select":true"#),
    );
    // BSI AA 55 00 00 = 0x55AA = 21930.
    check(
        &act("33", "AA 55 00 00"),
        &j("C_BO_NA_1", r#""value":21930"#),
    );
    check(
        &with56(&act("3A", "00"), ""),
        &jt("C_SC_TA_1", r#""value":false"#),
    );
    check(
        &with56(&act("3B", "01"), ""),
        &jt("C_DC_TA_1", r#""value":"off""#),
    );
    // RCO 0x03: RCS 3, not permitted: "invalid3"; RCS 0: "invalid".
    check(
        &with56(&act("3C", "03"), ""),
        &jt("C_RC_TA_1", r#""value":"invalid3""#),
    );
    check(
        &with56(&act("3C", "00"), ""),
        &jt("C_RC_TA_1", r#""value":"invalid""#),
    );
    // NVA FF 7F = 32767 → 32767/32768 = 0.999969482421875.
    check(
        &with56(&act("3D", "FF 7F 00"), ""),
        &jt("C_SE_TA_1", r#""value":0.999969482421875,"raw":32767"#),
    );
    // SVA 00 80 = -32768; QOS 0x7F = QL 127.
    check(
        &with56(&act("3E", "00 80 7F"), ""),
        &jt("C_SE_TB_1", r#""value":-32768,"ql":127"#),
    );
    // R32 00 00 80 7F = +inf, 00 00 80 FF = -inf.
    check(
        &with56(&act("3F", "00 00 80 7F 00"), ""),
        &jt("C_SE_TC_1", r#""value":null,"raw_float":"inf""#),
    );
    check(
        &with56(&act("3F", "00 00 80 FF 00"), ""),
        &jt("C_SE_TC_1", r#""value":null,"raw_float":"-inf""#),
    );
    check(
        &with56(&act("40", "00 00 00 00"), ""),
        &jt("C_BO_TA_1", r#""value":0"#),
    );
}

#[test]
fn system_and_parameter_types() {
    let obj = |t: &str, cot: &str, elems: &str| format!("{t} 01 {cot} 00 01 00 00 00 00 {elems}");
    let j = |t: &str, cot: &str, rest: &str| {
        let rest = if rest.is_empty() {
            String::new()
        } else {
            format!(",{rest}")
        };
        format!(r#"{{"ca":1,"ioa":0,"type":"{t}","cot":"{cot}"{rest}}}"#)
    };
    // COI 0x82: cause 2 (remote reset), bit 8 set (after change of local parameters).
    check(
        &obj("46", "04", "82"),
        &j(
            "M_EI_NA_1",
            "init",
            r#""value":2,"after_parameter_change":true"#,
        ),
    );
    // QOI 0x14 = 20 (station).
    check(
        &obj("64", "06", "14"),
        &j("C_IC_NA_1", "act", r#""qoi":20"#),
    );
    // QCC 0x45: RQT 5 (general), FRZ 1 (bits 6-7 = 01).
    check(
        &obj("65", "06", "45"),
        &j("C_CI_NA_1", "act", r#""rqt":5,"frz":1"#),
    );
    check(&obj("66", "05", ""), &j("C_RD_NA_1", "req", ""));
    check(
        &with56(&obj("67", "06", ""), ""),
        &j("C_CS_NA_1", "act", TIME),
    );
    // FBP AA 55 = 0x55AA = 21930.
    check(
        &obj("68", "06", "AA 55"),
        &j("C_TS_NA_1", "act", r#""fbp":21930"#),
    );
    check(&obj("69", "06", "01"), &j("C_RP_NA_1", "act", r#""qrp":1"#));
    // CP16 E8 03 = 1000 ms.
    check(
        &obj("6A", "03", "E8 03"),
        &j("C_CD_NA_1", "spont", r#""delay_ms":1000"#),
    );
    // TSC 34 12 = 0x1234 = 4660.
    check(
        &with56(&obj("6B", "06", "34 12"), ""),
        &j("C_TS_TA_1", "act", &format!(r#""tsc":4660,{TIME}"#)),
    );
    // NVA 00 20 = 8192 → 0.25; QPM 0x41: LPC (0x40), KPA 1.
    check(
        &obj("6E", "06", "00 20 41"),
        &j(
            "P_ME_NA_1",
            "act",
            r#""value":0.25,"raw":8192,"kpa":1,"lpc":true"#,
        ),
    );
    // SVA 0A 00 = 10; QPM 0x83: POP (0x80), KPA 3.
    check(
        &obj("6F", "06", "0A 00 83"),
        &j("P_ME_NB_1", "act", r#""value":10,"kpa":3,"pop":true"#),
    );
    // R32 00 00 20 41 = 0x41200000 = 10.0; QPM 0x04 = KPA 4.
    check(
        &obj("70", "06", "00 00 20 41 04"),
        &j("P_ME_NC_1", "act", r#""value":10.0,"kpa":4"#),
    );
    check(&obj("71", "06", "03"), &j("P_AC_NA_1", "act", r#""qpa":3"#));
}

#[test]
fn file_transfer_types() {
    let obj = |t: &str, elems: &str| format!("{t} 01 0D 00 01 00 00 00 00 {elems}");
    let j = |t: &str, rest: &str| format!(r#"{{"ca":1,"ioa":0,"type":"{t}","cot":"file",{rest}}}"#);
    // NOF 01 00 = 1; LOF 00 10 00 = 0x001000 = 4096; FRQ 0.
    check(
        &obj("78", "01 00 00 10 00 00"),
        &j("F_FR_NA_1", r#""file":1,"length":4096,"frq":0"#),
    );
    // NOF 2, NOS 1, LOF 10 00 00 = 16, SRQ 0x80 = 128.
    check(
        &obj("79", "02 00 01 10 00 00 80"),
        &j("F_SR_NA_1", r#""file":2,"section":1,"length":16,"srq":128"#),
    );
    check(
        &obj("7A", "03 00 02 01"),
        &j("F_SC_NA_1", r#""file":3,"section":2,"scq":1"#),
    );
    // LSQ 3, CHS 0xAB = 171.
    check(
        &obj("7B", "01 00 01 03 AB"),
        &j(
            "F_LS_NA_1",
            r#""file":1,"section":1,"lsq":3,"checksum":171"#,
        ),
    );
    check(
        &obj("7C", "01 00 01 01"),
        &j("F_AF_NA_1", r#""file":1,"section":1,"afq":1"#),
    );
    // LOS 3, then the segment octets DE AD BE.
    check(
        &obj("7D", "01 00 01 03 DE AD BE"),
        &j(
            "F_SG_NA_1",
            r#""file":1,"section":1,"length":3,"data":"deadbe""#,
        ),
    );
    // NOF 5, LOF 00 01 00 = 256, SOF 0x20 = LFD; CP56 creation time.
    check(
        &with56(&obj("7E", "05 00 00 01 00 20"), ""),
        &j(
            "F_DR_TA_1",
            &format!(r#""file":5,"length":256,"sof":32,{TIME}"#),
        ),
    );
    // NOF 1; start CP56; stop 00 00 00 0B 18 0B 1A = 0 ms, minute 0, hour 11.
    check(
        &with56(&obj("7F", "01 00"), "00 00 00 0B 18 0B 1A"),
        &j(
            "F_SC_NB_1",
            r#""file":1,"start":"2026-11-24T10:15:30.123Z","stop":"2026-11-24T11:00:00.000Z""#,
        ),
    );
}

#[test]
fn header_flags_unknown_types_and_bad_time_tags() {
    // COT 0x83 = T + spont, originator 5.
    check(
        "01 01 83 05 01 00 64 00 00 00",
        r#"{"ca":1,"ioa":100,"type":"M_SP_NA_1","cot":"spont","test":true,"originator":5,"value":false,"quality":[]}"#,
    );
    // Cause 46 with P/N: 0x40 | 0x2E = 0x6E; CA 0x0007.
    check(
        "64 01 6E 00 07 00 00 00 00 14",
        r#"{"ca":7,"ioa":0,"type":"C_IC_NA_1","cot":"unknown_ca","negative":true,"qoi":20}"#,
    );
    // Cause 63 is unassigned.
    check(
        "01 01 3F 00 01 00 64 00 00 00",
        r#"{"ca":1,"ioa":100,"type":"M_SP_NA_1","cot":"cot63","value":false,"quality":[]}"#,
    );
    // Type 42 is not defined: IOA read from the body (05 00 00 = 5), raw body in hex.
    check(
        "2A 01 03 00 01 00 05 00 00 FF",
        r#"{"ca":1,"ioa":5,"type":"unknown","type_id":42,"cot":"spont","raw":"050000ff"}"#,
    );
    // CP56 with month 0 (octet 6 = 00) is no date: time null and the raw octets.
    check(
        "1E 01 03 00 01 00 64 00 00 01 AB 75 0F 0A 18 00 1A",
        r#"{"ca":1,"ioa":100,"type":"M_SP_TB_1","cot":"spont","value":true,"quality":[],"time":null,"time_raw":"ab750f0a18001a"}"#,
    );
    // CP24 with minute 60 (octet 3 = 0x3C) and GEN (0x40): 0x7C.
    check(
        "02 01 03 00 01 00 64 00 00 01 00 00 7C",
        r#"{"ca":1,"ioa":100,"type":"M_SP_TA_1","cot":"spont","value":true,"quality":[],"time":null,"time_raw":"00007c","time_partial":true,"time_substituted":true}"#,
    );
}

#[test]
fn sequence_of_elements_gets_consecutive_addresses() {
    // VSQ 0x82: SQ = 1, two elements from IOA 0A 00 00 = 10.
    let got = lines("01 82 14 00 01 00 0A 00 00 01 00");
    assert_eq!(
        got,
        [
            r#"{"ca":1,"ioa":10,"type":"M_SP_NA_1","cot":"inrogen","value":true,"quality":[]}"#,
            r#"{"ca":1,"ioa":11,"type":"M_SP_NA_1","cot":"inrogen","value":false,"quality":[]}"#,
        ]
    );
}

#[test]
fn every_type_id_is_covered_by_a_test_above() {
    // The test source names every mnemonic in an expected line.
    let source = include_str!("tests.rs");
    for t in crate::type_id::TypeId::ALL {
        assert!(
            source.contains(&format!("\"{}\"", t.name())),
            "no expected JSON for {t}"
        );
    }
}

mod any_input {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever the octets of a valid-length ASDU, its JSON is one object with the four
        /// fields every object has, and no field is repeated.
        #[test]
        fn every_object_serializes(
            index in 0..crate::type_id::TypeId::ALL.len(),
            mut elems in proptest::collection::vec(any::<u8>(), 64),
            cot in any::<u8>(),
        ) {
            let t = crate::type_id::TypeId::ALL[index];
            // Exactly the octets one object of the type needs (a segment: LOS from octet 4).
            let len = match crate::asdu::Element::fixed_size(t) {
                Some(n) => n,
                None => {
                    elems[3] %= 60;
                    4 + usize::from(elems[3])
                }
            };
            elems.truncate(len);
            // One object: header (TI, VSQ 01, COT, OA 0, CA 1) and IOA 100, then the octets.
            let mut bytes = vec![t.as_u8(), 0x01, cot, 0x00, 0x01, 0x00, 0x64, 0x00, 0x00];
            bytes.extend_from_slice(&elems);
            let view = AsduView::parse(&bytes, &AsduParams::IEC104).unwrap();
            prop_assert_eq!(JsonObject::from_view(&view, now()).count(), 1);
            for object in JsonObject::from_view(&view, now()) {
                let line = serde_json::to_string(&object).unwrap();
                let v: Value = serde_json::from_str(&line).unwrap();
                let map = v.as_object().unwrap();
                for key in ["ca", "ioa", "type", "cot"] {
                    prop_assert!(map.contains_key(key), "{line}");
                }
                // Parsing into a map drops repeated keys: count them in the line.
                prop_assert_eq!(line.matches("\":").count(), map.len() + nested_keys(&v), "{}", line);
            }
        }
    }

    /// Keys inside nested objects (none in this shape) would also be counted by the line scan.
    fn nested_keys(v: &Value) -> usize {
        v.as_object()
            .map(|m| {
                m.values()
                    .filter_map(Value::as_object)
                    .map(|o| o.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}

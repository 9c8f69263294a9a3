//! CommandRequest: JSON requests to command elements, octets derived by hand from
//! IEC 60870-5-101 §7.2.6.15–17 (SCO/DCO/RCO: S/E bit 8, QU bits 3–7, state bits 1–2),
//! §7.2.6.39 (QOS: S/E bit 8, QL bits 1–7), §7.2.6.6–8 (NVA, SVA, R32 little endian).

use chrono::{TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::asdu::Element;
use crate::type_id::TypeId;

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 10, 15, 30).unwrap() + chrono::Duration::milliseconds(123)
}

/// The element octets (without IOA) of the request `j` with S/E = `select`.
fn octets(j: serde_json::Value, select: bool) -> Result<(TypeId, Vec<u8>), CommandError> {
    let req: CommandRequest = serde_json::from_value(j).unwrap();
    let e = req.to_element(select, now())?;
    let mut out = Vec::new();
    e.encode(&mut out);
    Ok((e.type_id(), out))
}

/// CP56 of `now()`: 30123 ms = 0x75AB, minute 15, hour 10, 24 Tuesday (2 << 5 | 24 = 0x58),
/// month 11, year 26.
const NOW56: [u8; 7] = [0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A];

#[test]
fn every_command_type() {
    use TypeId as T;
    let cases: Vec<(serde_json::Value, bool, TypeId, Vec<u8>)> = vec![
        // SCO: SCS 1, select → 0x81; QU 1 (short pulse) → 1 << 2 = 0x04.
        (
            json!({"type":"C_SC_NA_1","value":true}),
            true,
            T::C_SC_NA_1,
            vec![0x81],
        ),
        (
            json!({"type":"c_sc_na_1","value":"off","qu":1}),
            false,
            T::C_SC_NA_1,
            vec![0x04],
        ),
        (
            json!({"type":"C_SC_NA_1","value":1}),
            false,
            T::C_SC_NA_1,
            vec![0x01],
        ),
        // DCO: DCS 2 (on) = 0x02, QU 2 (long pulse) = 0x08, select 0x80.
        (
            json!({"type":"C_DC_NA_1","value":"on","qu":2}),
            true,
            T::C_DC_NA_1,
            vec![0x8A],
        ),
        (
            json!({"type":"C_DC_NA_1","value":"OFF"}),
            false,
            T::C_DC_NA_1,
            vec![0x01],
        ),
        // RCO: RCS 1 = lower, 2 = higher.
        (
            json!({"type":"C_RC_NA_1","value":"lower"}),
            false,
            T::C_RC_NA_1,
            vec![0x01],
        ),
        (
            json!({"type":"C_RC_NA_1","value":"higher"}),
            true,
            T::C_RC_NA_1,
            vec![0x82],
        ),
        // NVA 0.5 = 16384 = 0x4000 → 00 40; QOS select + QL 0 = 0x80.
        (
            json!({"type":"C_SE_NA_1","value":0.5}),
            true,
            T::C_SE_NA_1,
            vec![0x00, 0x40, 0x80],
        ),
        // NVA -1.0 = -32768 = 0x8000 → 00 80; QL 7 = 0x07.
        (
            json!({"type":"C_SE_NA_1","value":-1,"ql":7}),
            false,
            T::C_SE_NA_1,
            vec![0x00, 0x80, 0x07],
        ),
        // SVA -2 = 0xFFFE → FE FF.
        (
            json!({"type":"C_SE_NB_1","value":-2}),
            false,
            T::C_SE_NB_1,
            vec![0xFE, 0xFF, 0x00],
        ),
        // R32 -2.5 = -1.01b × 2^1: sign 1, exponent 128 = 0x80, mantissa 0x200000
        // → 0xC0200000 → 00 00 20 C0.
        (
            json!({"type":"C_SE_NC_1","value":-2.5}),
            false,
            T::C_SE_NC_1,
            vec![0x00, 0x00, 0x20, 0xC0, 0x00],
        ),
        // BSI 0x01020304 → 04 03 02 01 (little endian, as every multi-octet field).
        (
            json!({"type":"C_BO_NA_1","value":"0x01020304"}),
            false,
            T::C_BO_NA_1,
            vec![0x04, 0x03, 0x02, 0x01],
        ),
        (
            json!({"type":"C_BO_NA_1","value":4294967295u32}),
            false,
            T::C_BO_NA_1,
            vec![0xFF; 4],
        ),
    ];
    for (j, select, t, want) in cases {
        assert_eq!(octets(j.clone(), select), Ok((t, want)), "{j}");
    }
}

#[test]
fn every_time_tagged_command_type() {
    use TypeId as T;
    // The _TA_1 forms carry CP56Time2a after the element: "now" when `time` is absent or true.
    let timed: Vec<(serde_json::Value, TypeId, Vec<u8>)> = vec![
        (
            json!({"type":"C_SC_TA_1","value":true}),
            T::C_SC_TA_1,
            vec![0x01],
        ),
        (
            json!({"type":"C_SC_NA_1","value":true,"time":true}),
            T::C_SC_TA_1,
            vec![0x01],
        ),
        (
            json!({"type":"C_DC_TA_1","value":"on"}),
            T::C_DC_TA_1,
            vec![0x02],
        ),
        (
            json!({"type":"C_RC_TA_1","value":"lower"}),
            T::C_RC_TA_1,
            vec![0x01],
        ),
        (
            json!({"type":"C_SE_TA_1","value":0}),
            T::C_SE_TA_1,
            vec![0x00, 0x00, 0x00],
        ),
        (
            json!({"type":"C_SE_TB_1","value":300}),
            T::C_SE_TB_1,
            vec![0x2C, 0x01, 0x00],
        ),
        // R32 1.0 = 0x3F800000.
        (
            json!({"type":"C_SE_TC_1","value":1.0}),
            T::C_SE_TC_1,
            vec![0x00, 0x00, 0x80, 0x3F, 0x00],
        ),
        (
            json!({"type":"C_BO_TA_1","value":0}),
            T::C_BO_TA_1,
            vec![0x00; 4],
        ),
    ];
    for (j, t, mut want) in timed {
        want.extend_from_slice(&NOW56);
        assert_eq!(octets(j.clone(), false), Ok((t, want)), "{j}");
    }
}

#[test]
fn explicit_time() {
    // 2026-01-05T00:00:01Z: 1000 ms = 03 E8 → E8 03, minute 0, hour 0, Monday 5 (1 << 5 | 5
    // = 0x25), month 1, year 26.
    let j = json!({"type":"C_SC_NA_1","value":true,"time":"2026-01-05T01:00:01+01:00"});
    assert_eq!(
        octets(j, false),
        Ok((
            TypeId::C_SC_TA_1,
            vec![0x01, 0xE8, 0x03, 0x00, 0x00, 0x25, 0x01, 0x1A]
        ))
    );
}

#[test]
fn typed_errors() {
    let err = |j: serde_json::Value, select| octets(j, select).unwrap_err().to_string();
    assert_eq!(
        err(json!({"type":"C_DC_NA_1","value":"maybe"}), false),
        r#"C_DC_NA_1: value must be one of off/on, got "maybe""#
    );
    assert_eq!(
        err(json!({"type":"C_SE_NB_1","value":40000}), false),
        "C_SE_NB_1: value 40000 out of range for scaled (-32768..32767)"
    );
    assert_eq!(
        err(json!({"type":"C_SE_NB_1","value":1.5}), false),
        "C_SE_NB_1: value must be an integer -32768..32767, got 1.5"
    );
    assert_eq!(
        err(json!({"type":"C_SE_NA_1","value":1.5}), false),
        "C_SE_NA_1: value 1.5 out of range for normalized (-1.0..1.0)"
    );
    assert_eq!(
        err(json!({"type":"C_SE_NC_1","value":1e39}), false),
        "C_SE_NC_1: value 1e+39 out of range for short float (±3.4e38)"
    );
    assert_eq!(
        err(json!({"type":"C_RC_NA_1","value":"on"}), false),
        r#"C_RC_NA_1: value must be one of lower/higher, got "on""#
    );
    assert_eq!(
        err(json!({"type":"C_SC_NA_1","value":true,"qu":32}), false),
        "C_SC_NA_1: qu 32 not allowed (0..=31)"
    );
    assert_eq!(
        err(json!({"type":"C_SC_NA_1","value":true,"ql":1}), false),
        "C_SC_NA_1: ql 1 not allowed (this type has no such qualifier)"
    );
    assert_eq!(
        err(json!({"type":"C_BO_NA_1","value":1}), true),
        "C_BO_NA_1 has no select/execute bit: select-before-operate is not possible"
    );
    assert_eq!(
        err(json!({"type":"C_BO_NA_1","value":-1}), false),
        r#"C_BO_NA_1: value must be an integer 0..4294967295 or a "0x..." string, got -1"#
    );
    assert!(
        err(json!({"type":"C_XX_NA_1","value":1}), false).starts_with("unknown type \"C_XX_NA_1\"")
    );
    assert!(err(json!({"type":"M_SP_NA_1","value":1}), false)
        .starts_with("M_SP_NA_1 is not a process command"));
    assert_eq!(
        err(
            json!({"type":"C_SC_NA_1","value":true,"time":"yesterday"}),
            false
        ),
        r#"time must be true or an RFC 3339 instant, got "yesterday""#
    );
    assert!(err(
        json!({"type":"C_SC_NA_1","value":true,"time":"1999-12-31T23:59:59Z"}),
        false
    )
    .starts_with("time 1999-12-31T23:59:59+00:00 cannot be sent"));
    // Long values are cut in messages.
    let long = "x".repeat(1000);
    assert!(err(json!({"type":"C_DC_NA_1","value":long}), false).len() < 120);
}

#[test]
fn gateway_shaped_request_deserializes() {
    let req: CommandRequest = serde_json::from_str(
        r#"{"type":"C_DC_NA_1","value":"on","select":true,"id":"op-17","extra":1}"#,
    )
    .unwrap();
    assert!(req.select);
    assert_eq!(req.id.as_deref(), Some("op-17"));
    assert_eq!(
        req.to_element(true, now()),
        Ok(Element::C_DC_NA_1(crate::asdu::DoubleCommand(0x82)))
    );
    assert_eq!(
        req.to_element(false, now()),
        Ok(Element::C_DC_NA_1(crate::asdu::DoubleCommand(0x02)))
    );
}

#[test]
fn activation_asdu() {
    // C_DC_NA_1 (46 = 0x2E), VSQ 01, COT act 06, OA 00, CA 0x0102 → 02 01, IOA 5000 = 0x001388
    // → 88 13 00, DCO select + on = 0x82.
    let req = CommandRequest::new("C_DC_NA_1", json!("on"));
    let asdu = req.to_asdu(0x0102, 5000, true, now()).unwrap();
    assert_eq!(
        asdu.as_bytes(),
        [0x2E, 0x01, 0x06, 0x00, 0x02, 0x01, 0x88, 0x13, 0x00, 0x82]
    );
    // An IOA wider than three octets is refused.
    assert!(matches!(
        req.to_asdu(1, 0x0100_0000, false, now()),
        Err(CommandError::Asdu(_))
    ));
}

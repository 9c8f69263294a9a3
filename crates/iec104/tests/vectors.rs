//! Decodes every I-frame ASDU of a session between two independent implementations (a c104 /
//! lib60870-C server and client, see `tests/data/c104-session.jsonl`, copied from the shared
//! test vectors) and compares every field with Wireshark's own dissection in the same line.
//!
//! One difference between the readings, settled by the standard:
//! - BSI (bitstring of 32 bits, M_BO_*, C_BO_*): Wireshark 4.0 displays the four octets as a
//!   big-endian number (octets 01 02 03 04 shown as 0x01020304); lib60870 and this crate read
//!   them little endian (0x04030201). IEC 60870-5-101 §7.2.6.13 defines BSI as BS32 with bit 1
//!   in the first octet, and IEC 60870-5-4 transmits multi-octet fields low octet first,
//!   so bit 1 is the least significant bit of the little-endian value. The test compares our
//!   value with Wireshark's after swapping the octets.
//!
//!
//! Where the three readings agree (checked in lib60870-C's `cs101_information_objects.c`):
//! NVA is raw / 32768 (IEC 60870-5-101 §7.2.6.6: F16, range −1 ..= 1 − 2⁻¹⁵; Wireshark shows
//! 0x7FDF as 0.998993 = 32735 / 32768; older lib60870.NET divided by 32767); VTI is a
//! seven-bit two's complement value (0x40 = −64); BCR, SVA, R32 and CP56Time2a are little
//! endian, CP56 milliseconds include the seconds, and RES1 of octet 3 is Wireshark's "gen"
//! (genuine/substituted), our `substituted`.
//!
//! Where this crate is deliberately stricter than lib60870-C (`CS101_ASDU_createFromBuffer`
//! checks only a minimum payload): an ASDU with trailing octets or with VSQ number 0 is an
//! error here (the VSQ number defines the length exactly; §7.2.2 numbers objects 1..=127).
//! No frame of the session is affected.
//!
//! Wireshark does not dissect C_TS_TA_1 (it shows `rawdata`) nor C_RD_NA_1's (empty) element;
//! for those the raw octets after the IOA are compared.

use iec104::asdu::*;
use iec104::type_id::TypeId;
use serde_json::{Map, Value};

const SESSION: &str = include_str!("data/c104-session.jsonl");

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn num(v: &Value) -> f64 {
    let s = v.as_str().unwrap();
    if let Some(h) = s.strip_prefix("0x") {
        u64::from_str_radix(h, 16).unwrap() as f64
    } else {
        s.parse().unwrap()
    }
}

fn b(x: bool) -> f64 {
    f64::from(u8::from(x))
}

/// Flattens Wireshark's object (with its `*_tree` sub-objects) to (field, value) pairs.
fn flatten<'a>(m: &'a Map<String, Value>, out: &mut Vec<(&'a str, &'a Value)>) {
    for (k, v) in m {
        match v {
            Value::Object(sub) => flatten(sub, out),
            _ => out.push((k.strip_prefix("iec60870_asdu.").unwrap_or(k), v)),
        }
    }
}

/// Our value of a Wireshark field for the object, `None` if the element has no such field.
fn ours(field: &str, o: &InformationObject<'_>) -> Option<f64> {
    use Element as E;
    let e = &o.element;
    let (siq, diq, qds) = raw_quality_octets(e);
    let time = cp56(e);
    Some(match field {
        "ioa" => f64::from(o.ioa),
        "siq" => f64::from(siq?.0),
        "siq.spi" => b(siq?.value()),
        "siq.bl" | "diq.bl" | "qds.bl" => b(e.quality()?.contains(Quality::BL)),
        "siq.sb" | "diq.sb" | "qds.sb" => b(e.quality()?.contains(Quality::SB)),
        "siq.nt" | "diq.nt" | "qds.nt" => b(e.quality()?.contains(Quality::NT)),
        "siq.iv" | "diq.iv" | "qds.iv" => b(e.quality()?.contains(Quality::IV)),
        "qds.ov" => b(e.quality()?.contains(Quality::OV)),
        "diq" => f64::from(diq?.0),
        "diq.dpi" => f64::from(diq?.dpi()),
        "qds" => f64::from(qds?.0),
        "vti" | "vti.v" | "vti.t" => {
            let v = match e {
                E::M_ST_NA_1(v, _) | E::M_ST_TA_1(v, _, _) | E::M_ST_TB_1(v, _, _) => *v,
                _ => return None,
            };
            match field {
                "vti" => f64::from(v.0),
                "vti.v" => f64::from(v.value()),
                _ => b(v.transient()),
            }
        }
        // Wireshark shows BSI big endian; see the module comment.
        "bitstring" => match e {
            E::M_BO_NA_1(x, _)
            | E::M_BO_TA_1(x, _, _)
            | E::M_BO_TB_1(x, _, _)
            | E::C_BO_NA_1(x)
            | E::C_BO_TA_1(x, _) => f64::from(x.0.swap_bytes()),
            _ => return None,
        },
        "normval" => match e {
            E::M_ME_NA_1(n, _)
            | E::M_ME_TA_1(n, _, _)
            | E::M_ME_TD_1(n, _, _)
            | E::M_ME_ND_1(n)
            | E::C_SE_NA_1(n, _)
            | E::C_SE_TA_1(n, _, _)
            | E::P_ME_NA_1(n, _) => f64::from(n.to_f32()),
            _ => return None,
        },
        "scalval" => match e {
            E::M_ME_NB_1(s, _)
            | E::M_ME_TB_1(s, _, _)
            | E::M_ME_TE_1(s, _, _)
            | E::C_SE_NB_1(s, _)
            | E::C_SE_TB_1(s, _, _)
            | E::P_ME_NB_1(s, _) => f64::from(s.0),
            _ => return None,
        },
        "float" => match e {
            E::M_ME_NC_1(f, _)
            | E::M_ME_TC_1(f, _, _)
            | E::M_ME_TF_1(f, _, _)
            | E::C_SE_NC_1(f, _)
            | E::C_SE_TC_1(f, _, _)
            | E::P_ME_NC_1(f, _) => f64::from(*f),
            _ => return None,
        },
        "bcr.count" | "bcr.sq" | "bcr.cy" | "bcr.ca" | "bcr.iv" => {
            let c = match e {
                E::M_IT_NA_1(c) | E::M_IT_TA_1(c, _) | E::M_IT_TB_1(c, _) => *c,
                _ => return None,
            };
            match field {
                "bcr.count" => f64::from(c.value),
                "bcr.sq" => f64::from(c.sequence()),
                "bcr.cy" => b(c.carry()),
                "bcr.ca" => b(c.adjusted()),
                _ => b(c.invalid()),
            }
        }
        "cp56time.ms" => f64::from(time?.millis),
        "cp56time.min" => f64::from(time?.minute),
        "cp56time.gen" => b(time?.substituted),
        "cp56time.iv" => b(time?.invalid),
        "cp56time.hour" => f64::from(time?.hour),
        "cp56time.su" => b(time?.summer_time),
        "cp56time.day" => f64::from(time?.day),
        "cp56time.dow" => f64::from(time?.weekday),
        "cp56time.month" => f64::from(time?.month),
        "cp56time.year" => f64::from(time?.year),
        "sco" | "sco.on" | "sco.qu" | "sco.se" => {
            let c = match e {
                E::C_SC_NA_1(c) | E::C_SC_TA_1(c, _) => *c,
                _ => return None,
            };
            match field {
                "sco" => f64::from(c.0),
                "sco.on" => b(c.value()),
                "sco.qu" => f64::from(c.qualifier()),
                _ => b(c.select()),
            }
        }
        "dco" | "dco.on" | "dco.qu" | "dco.se" => {
            let c = match e {
                E::C_DC_NA_1(c) | E::C_DC_TA_1(c, _) => *c,
                _ => return None,
            };
            match field {
                "dco" => f64::from(c.0),
                "dco.on" => f64::from(c.state() as u8),
                "dco.qu" => f64::from(c.qualifier()),
                _ => b(c.select()),
            }
        }
        "rco" | "rco.up" | "rco.qu" | "rco.se" => {
            let c = match e {
                E::C_RC_NA_1(c) | E::C_RC_TA_1(c, _) => *c,
                _ => return None,
            };
            match field {
                "rco" => f64::from(c.0),
                "rco.up" => f64::from(c.state() as u8),
                "rco.qu" => f64::from(c.qualifier()),
                _ => b(c.select()),
            }
        }
        "qos" | "qos.ql" | "qos.se" => {
            let q = match e {
                E::C_SE_NA_1(_, q)
                | E::C_SE_NB_1(_, q)
                | E::C_SE_NC_1(_, q)
                | E::C_SE_TA_1(_, q, _)
                | E::C_SE_TB_1(_, q, _)
                | E::C_SE_TC_1(_, q, _) => *q,
                _ => return None,
            };
            match field {
                "qos" => f64::from(q.0),
                "qos.ql" => f64::from(q.ql()),
                _ => b(q.select()),
            }
        }
        "qoi" => match e {
            E::C_IC_NA_1(q) => f64::from(q.0),
            _ => return None,
        },
        "qcc" | "rqt" | "frz" => match e {
            E::C_CI_NA_1(q) => f64::from(match field {
                "qcc" => q.0,
                "rqt" => q.request(),
                _ => q.freeze(),
            }),
            _ => return None,
        },
        _ => panic!("Wireshark field {field} not compared"),
    })
}

/// The SIQ, DIQ or QDS octet as received (Wireshark shows the whole octets too, reserved
/// bits included). The quality flags themselves are compared through `Element::quality`.
fn raw_quality_octets(e: &Element<'_>) -> (Option<SinglePoint>, Option<DoublePoint>, Option<Qds>) {
    use Element as E;
    let siq = match e {
        E::M_SP_NA_1(s) | E::M_SP_TA_1(s, _) | E::M_SP_TB_1(s, _) => Some(*s),
        _ => None,
    };
    let diq = match e {
        E::M_DP_NA_1(d) | E::M_DP_TA_1(d, _) | E::M_DP_TB_1(d, _) => Some(*d),
        _ => None,
    };
    let qds = match e {
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
        | E::M_PS_NA_1(_, q) => Some(*q),
        _ => None,
    };
    (siq, diq, qds)
}

/// The CP56Time2a of the object, through the crate's own `Element::time_tag` accessor (so the
/// accessor is checked against Wireshark too).
fn cp56(e: &Element<'_>) -> Option<iec104::time::Cp56Time2a> {
    match e.time_tag()? {
        TimeTag::Cp56(t) => Some(t),
        TimeTag::Cp24(_) => None,
    }
}

fn close(a: f64, b: f64) -> bool {
    // Wireshark prints floats with 6 significant digits.
    a == b || (a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(1e-3)
}

#[test]
fn every_i_frame_matches_wireshark() {
    let mut asdus = 0;
    let mut objects = 0;
    let mut fields = 0;
    let mut types = std::collections::BTreeSet::new();
    for line in SESSION.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let frame = v["frame"].as_u64().unwrap();
        let apdus = v["apdus"].as_array().unwrap();
        assert_eq!(
            apdus.len(),
            1,
            "frame {frame}: one APDU per segment in this capture"
        );
        let apdu = hex(apdus[0].as_str().unwrap());
        // APCI: 0x68, length, 4 control octets; an I-frame has bit 0 of control octet 1 clear.
        assert_eq!(apdu[0], 0x68);
        assert_eq!(usize::from(apdu[1]), apdu.len() - 2);
        if apdu[2] & 0x01 != 0 {
            assert!(v["wireshark"].get("iec60870_asdu").is_none());
            continue;
        }
        let ws = v["wireshark"]["iec60870_asdu"].as_object().unwrap();
        let view = AsduView::parse(&apdu[6..], &AsduParams::IEC104)
            .unwrap_or_else(|e| panic!("frame {frame}: {e}"));
        asdus += 1;
        let h = view.header();
        let cmp = |k: &str, ours: f64| assert_eq!(num(&ws[k]), ours, "frame {frame} field {k}");
        cmp("iec60870_asdu.typeid", f64::from(h.type_id));
        cmp("iec60870_asdu.sq", b(h.sequence));
        cmp("iec60870_asdu.numix", f64::from(h.count));
        cmp("iec60870_asdu.causetx", f64::from(h.cot.cause.as_u8()));
        cmp("iec60870_asdu.nega", b(h.cot.negative));
        cmp("iec60870_asdu.test", b(h.cot.test));
        cmp("iec60870_asdu.oa", f64::from(h.cot.originator));
        cmp("iec60870_asdu.addr", f64::from(h.common_address));
        let t = view.type_id().unwrap();
        types.insert(t);
        let ours_objs: Vec<_> = view.objects().collect();
        assert_eq!(ours_objs.len(), usize::from(h.count));

        if let Some(raw) = ws.get("iec60870_asdu.rawdata") {
            // Not dissected by Wireshark: compare the IOA and the octets after it.
            assert_eq!(t, TypeId::C_TS_TA_1, "frame {frame}");
            cmp("iec60870_asdu.ioa", f64::from(ours_objs[0].ioa));
            let raw = hex(&raw.as_str().unwrap().replace(':', ""));
            assert_eq!(raw, &apdu[6 + 9..], "frame {frame}");
            let Element::C_TS_TA_1(tsc, time) = ours_objs[0].element else {
                panic!()
            };
            let mut again = Vec::new();
            again.extend_from_slice(&tsc.0.to_le_bytes());
            again.extend_from_slice(&time.encode());
            assert_eq!(again, raw);
            objects += 1;
            continue;
        }
        if t == TypeId::C_RD_NA_1 {
            cmp("iec60870_asdu.ioa", f64::from(ours_objs[0].ioa));
            assert_eq!(ours_objs[0].element, Element::C_RD_NA_1);
            objects += 1;
            continue;
        }
        let ws_objs: Vec<_> = ws.iter().filter(|(k, _)| k.starts_with("IOA: ")).collect();
        assert!(!ws_objs.is_empty(), "frame {frame}");
        for (_, wo) in ws_objs {
            let wo = wo.as_object().unwrap();
            let ioa = num(&wo["iec60870_asdu.ioa"]) as u32;
            let o = ours_objs
                .iter()
                .find(|o| o.ioa == ioa)
                .unwrap_or_else(|| panic!("frame {frame}: IOA {ioa}"));
            let mut flat = Vec::new();
            flatten(wo, &mut flat);
            for (field, value) in flat {
                if field == "cp56time" {
                    // The formatted date; its fields are compared one by one, and here the
                    // whole instant via chrono.
                    let utc = cp56(&o.element).unwrap().to_utc().unwrap();
                    let ws_text = value.as_str().unwrap();
                    let ours_text = utc.format("%b %d, %Y %H:%M:%S%.3f000000 UTC").to_string();
                    assert_eq!(ws_text, ours_text, "frame {frame}");
                    continue;
                }
                let ours =
                    ours(field, o).unwrap_or_else(|| panic!("frame {frame}: {field} not in {o:?}"));
                let theirs = num(value);
                assert!(
                    close(ours, theirs),
                    "frame {frame} IOA {ioa} {field}: ours {ours}, Wireshark {theirs}"
                );
                fields += 1;
            }
            objects += 1;
        }
    }
    eprintln!(
        "asdus {asdus} objects {objects} fields {fields} types {}",
        types.len()
    );
    // The capture holds 84 I-frames covering 32 type ids (see the shared README).
    assert!(asdus >= 80, "{asdus}");
    assert!(objects >= asdus);
    assert!(fields > 500, "{fields}");
    for t in [
        1, 3, 5, 7, 9, 11, 13, 15, 21, 30, 31, 32, 33, 34, 35, 36, 37, 45, 46, 47, 48, 49, 50, 51,
        58, 59, 60, 61, 62, 63, 64, 100, 101, 102, 103, 107,
    ] {
        assert!(
            types.contains(&TypeId::from_u8(t).unwrap()),
            "type {t} not in the capture"
        );
    }
}

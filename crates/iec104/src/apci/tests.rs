//! Tests of APCI framing. Expected octets are derived by hand from IEC 60870-5-104 §5.1–§5.3;
//! the derivation is in the comment next to each vector.

use super::*;
use proptest::prelude::*;

fn dec(bytes: &[u8]) -> Result<Option<(Apci, usize)>, FrameError> {
    decode(bytes)
}

#[test]
fn u_frames_hand_vectors() {
    // §5.3: U format, octet 1 bits 0-1 = 11, STARTDT act bit 2 (0x04|0x03 = 0x07), STARTDT con
    // bit 3 (0x08|0x03 = 0x0B), STOPDT act bit 4 (0x13), con bit 5 (0x23), TESTFR act bit 6
    // (0x43), con bit 7 (0x83); octets 2-4 zero; length 4.
    let cases = [
        ([0x68, 0x04, 0x07, 0, 0, 0], UFunction::StartDtAct),
        ([0x68, 0x04, 0x0B, 0, 0, 0], UFunction::StartDtCon),
        ([0x68, 0x04, 0x13, 0, 0, 0], UFunction::StopDtAct),
        ([0x68, 0x04, 0x23, 0, 0, 0], UFunction::StopDtCon),
        ([0x68, 0x04, 0x43, 0, 0, 0], UFunction::TestFrAct),
        ([0x68, 0x04, 0x83, 0, 0, 0], UFunction::TestFrCon),
    ];
    for (bytes, f) in cases {
        assert_eq!(dec(&bytes), Ok(Some((Apci::U(f), 6))), "{f}");
        let mut out = BytesMut::new();
        encode_u(&mut out, f);
        assert_eq!(&out[..], &bytes[..], "{f}");
    }
}

#[test]
fn s_frame_hand_vector() {
    // S format: octet 1 = 0x01, octet 2 = 0; N(R) = 2 -> octet 3 = (2 << 1) & 0xFE = 0x04,
    // octet 4 = 2 >> 7 = 0.
    let bytes = [0x68, 0x04, 0x01, 0x00, 0x04, 0x00];
    assert_eq!(dec(&bytes), Ok(Some((Apci::S { recv_seq: 2 }, 6))));
    let mut out = BytesMut::new();
    encode_s(&mut out, 2).unwrap();
    assert_eq!(&out[..], &bytes[..]);
}

#[test]
fn i_frame_hand_vectors() {
    // N(S) = 1: octet 1 = 1 << 1 = 0x02, octet 2 = 0; N(R) = 1: octet 3 = 0x02, octet 4 = 0;
    // one ASDU octet 0xAA -> length 4 + 1 = 5.
    let bytes = [0x68, 0x05, 0x02, 0x00, 0x02, 0x00, 0xAA];
    assert_eq!(
        dec(&bytes),
        Ok(Some((
            Apci::I {
                send_seq: 1,
                recv_seq: 1
            },
            7
        )))
    );
    let mut out = BytesMut::new();
    encode_i(&mut out, 1, 1, &[0xAA]).unwrap();
    assert_eq!(&out[..], &bytes[..]);

    // Highest numbers: N(S) = 32767 = 0x7FFF: octet 1 = (0x7FFF << 1) & 0xFE = 0xFE,
    // octet 2 = 0x7FFF >> 7 = 0xFF. N(R) = 300 = 0x12C: octet 3 = 0x258 & 0xFE = 0x58,
    // octet 4 = 0x12C >> 7 = 0x02.
    let bytes = [0x68, 0x05, 0xFE, 0xFF, 0x58, 0x02, 0x01];
    assert_eq!(
        dec(&bytes),
        Ok(Some((
            Apci::I {
                send_seq: 32767,
                recv_seq: 300
            },
            7
        )))
    );
    let mut out = BytesMut::new();
    encode_i(&mut out, 32767, 300, &[0x01]).unwrap();
    assert_eq!(&out[..], &bytes[..]);
}

#[test]
fn need_more_until_the_frame_is_complete() {
    let bytes = [0x68, 0x05, 0x02, 0x00, 0x02, 0x00, 0xAA];
    for n in 0..bytes.len() {
        assert_eq!(dec(&bytes[..n]), Ok(None), "prefix {n}");
    }
    // Octets after the frame are left alone.
    let mut more = bytes.to_vec();
    more.extend_from_slice(&[0x68, 0x04]);
    assert_eq!(
        dec(&more),
        Ok(Some((
            Apci::I {
                send_seq: 1,
                recv_seq: 1
            },
            7
        )))
    );
}

#[test]
fn malformed_frames_are_typed_errors() {
    assert_eq!(dec(&[0x00]), Err(FrameError::BadStartByte { found: 0 }));
    assert_eq!(dec(&[0x68, 3]), Err(FrameError::BadLength { length: 3 }));
    assert_eq!(
        dec(&[0x68, 254]),
        Err(FrameError::BadLength { length: 254 })
    );
    assert_eq!(dec(&[0x68, 0]), Err(FrameError::BadLength { length: 0 }));
    // U with two function bits (STARTDT act | TESTFR act = 0x47).
    assert_eq!(
        dec(&[0x68, 4, 0x47, 0, 0, 0]),
        Err(FrameError::BadControlField {
            octets: [0x47, 0, 0, 0]
        })
    );
    // U with no function bit (0x03).
    assert_eq!(
        dec(&[0x68, 4, 0x03, 0, 0, 0]),
        Err(FrameError::BadControlField {
            octets: [0x03, 0, 0, 0]
        })
    );
    // U with a non-zero octet 2.
    assert_eq!(
        dec(&[0x68, 4, 0x07, 1, 0, 0]),
        Err(FrameError::BadControlField {
            octets: [0x07, 1, 0, 0]
        })
    );
    // S with octet 1 bits 2-7 set (0x05) or octet 2 non-zero.
    assert_eq!(
        dec(&[0x68, 4, 0x05, 0, 0, 0]),
        Err(FrameError::BadControlField {
            octets: [0x05, 0, 0, 0]
        })
    );
    assert_eq!(
        dec(&[0x68, 4, 0x01, 1, 0, 0]),
        Err(FrameError::BadControlField {
            octets: [0x01, 1, 0, 0]
        })
    );
    // I and S with bit 0 of octet 3 set.
    assert_eq!(
        dec(&[0x68, 5, 0x00, 0, 0x01, 0, 0xAA]),
        Err(FrameError::BadControlField {
            octets: [0, 0, 1, 0]
        })
    );
    assert_eq!(
        dec(&[0x68, 4, 0x01, 0, 0x01, 0]),
        Err(FrameError::BadControlField {
            octets: [1, 0, 1, 0]
        })
    );
    // I frame with no ASDU; S and U frames with one.
    assert_eq!(
        dec(&[0x68, 4, 0x02, 0, 0x02, 0]),
        Err(FrameError::EmptyIFrame {
            octets: [2, 0, 2, 0]
        })
    );
    assert_eq!(
        dec(&[0x68, 5, 0x01, 0, 0x02, 0, 0xAA]),
        Err(FrameError::UnexpectedAsdu {
            length: 5,
            octets: [1, 0, 2, 0]
        })
    );
    assert_eq!(
        dec(&[0x68, 5, 0x07, 0, 0, 0, 0xAA]),
        Err(FrameError::UnexpectedAsdu {
            length: 5,
            octets: [7, 0, 0, 0]
        })
    );
}

#[test]
fn encoder_rejects_what_the_wire_cannot_carry() {
    let mut out = BytesMut::new();
    assert_eq!(
        encode_i(&mut out, 0, 0, &[]),
        Err(FrameError::AsduLength { length: 0 })
    );
    assert_eq!(
        encode_i(&mut out, 0, 0, &[0; 250]),
        Err(FrameError::AsduLength { length: 250 })
    );
    assert_eq!(
        encode_i(&mut out, 32768, 0, &[1]),
        Err(FrameError::SeqOutOfRange { value: 32768 })
    );
    assert_eq!(
        encode_s(&mut out, 40000),
        Err(FrameError::SeqOutOfRange { value: 40000 })
    );
    assert!(out.is_empty());
    // The largest ASDU fits: length octet 4 + 249 = 253.
    encode_i(&mut out, 0, 0, &[0; 249]).unwrap();
    assert_eq!(out.get(1), Some(&253));
    assert_eq!(out.len(), 255);
}

fn wire_field(v: &serde_json::Value, key: &str) -> Option<u64> {
    let s = v.get(key)?.as_str()?;
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Every APDU of a session between two other implementations (c104/lib60870), checked against
/// Wireshark's reading of its control field.
#[test]
fn agrees_with_wireshark_on_the_c104_session() {
    let text = include_str!("../../tests/data/c104-session.jsonl");
    let mut counts = [0usize; 3];
    for (line_no, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let ws = &v["wireshark"]["iec60870_104"];
        let apdus = v["apdus"].as_array().unwrap();
        assert_eq!(apdus.len(), 1, "line {line_no}");
        let hex = apdus[0].as_str().unwrap();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let (apci, len) = decode(&bytes).unwrap().unwrap();
        assert_eq!(len, bytes.len(), "line {line_no}");
        assert_eq!(
            wire_field(ws, "iec60870_104.apdulen"),
            Some(len as u64 - 2),
            "line {line_no}"
        );
        // Wireshark: type 0 = I, 1 = S, 3 = U; utype = function bits = octet 1 >> 2.
        match apci {
            Apci::I { send_seq, recv_seq } => {
                counts[0] += 1;
                assert_eq!(
                    wire_field(ws, "iec60870_104.type"),
                    Some(0),
                    "line {line_no}"
                );
                assert_eq!(
                    wire_field(ws, "iec60870_104.tx"),
                    Some(u64::from(send_seq)),
                    "line {line_no}"
                );
                assert_eq!(
                    wire_field(ws, "iec60870_104.rx"),
                    Some(u64::from(recv_seq)),
                    "line {line_no}"
                );
            }
            Apci::S { recv_seq } => {
                counts[1] += 1;
                assert_eq!(
                    wire_field(ws, "iec60870_104.type"),
                    Some(1),
                    "line {line_no}"
                );
                assert_eq!(
                    wire_field(ws, "iec60870_104.rx"),
                    Some(u64::from(recv_seq)),
                    "line {line_no}"
                );
            }
            Apci::U(f) => {
                counts[2] += 1;
                assert_eq!(
                    wire_field(ws, "iec60870_104.type"),
                    Some(3),
                    "line {line_no}"
                );
                assert_eq!(
                    wire_field(ws, "iec60870_104.utype"),
                    Some(u64::from(f.octet() >> 2)),
                    "line {line_no}"
                );
            }
        }
    }
    // 86 I, 5 S, 2 U frames in the capture.
    assert_eq!(counts, [86, 5, 2]);
}

proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode(&bytes);
        let _ = decode_bytes(&Bytes::from(bytes));
    }

    #[test]
    fn decode_never_panics_on_plausible_headers(
        length in any::<u8>(), control in any::<[u8; 4]>(), rest in proptest::collection::vec(any::<u8>(), 0..260)
    ) {
        let mut bytes = vec![START, length];
        bytes.extend_from_slice(&control);
        bytes.extend_from_slice(&rest);
        if let Ok(Some((_, n))) = decode(&bytes) {
            prop_assert_eq!(n, 2 + usize::from(length));
        }
    }

    #[test]
    fn i_frames_round_trip(send in 0u16..32768, recv in 0u16..32768, asdu in proptest::collection::vec(any::<u8>(), 1..=249)) {
        let mut out = BytesMut::new();
        encode_i(&mut out, send, recv, &asdu).unwrap();
        let frozen = out.freeze();
        let (apdu, n) = decode_bytes(&frozen).unwrap().unwrap();
        prop_assert_eq!(n, frozen.len());
        prop_assert_eq!(apdu.apci, Apci::I { send_seq: send, recv_seq: recv });
        prop_assert_eq!(&apdu.asdu[..], &asdu[..]);
    }

    #[test]
    fn s_and_u_frames_round_trip(recv in 0u16..32768, fi in 0usize..6) {
        let mut out = BytesMut::new();
        encode_s(&mut out, recv).unwrap();
        prop_assert_eq!(decode(&out).unwrap(), Some((Apci::S { recv_seq: recv }, 6)));
        let f = UFunction::ALL[fi];
        let mut out = BytesMut::new();
        encode_u(&mut out, f);
        prop_assert_eq!(decode(&out).unwrap(), Some((Apci::U(f), 6)));
    }
}

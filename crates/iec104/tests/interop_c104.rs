//! Interop tests against independent implementations: c104 (Python, lib60870-C inside) as
//! server and client, and Wireshark's IEC 104 dissector (tshark) as a reader of our bytes.
//!
//! `IEC104_INTEROP` unset/`auto`: a test whose peer is missing is skipped (it says so on
//! stderr); `require`: a missing peer fails the test. See `common::peer_available`.

mod common;

use common::pcap::{PcapWriter, Side};
use common::{peer_available, tshark, Peer};

/// The pcap writer and the tshark runner themselves: the APDUs of the shared c104 session
/// (`tests/data/c104-session.jsonl`, captured between two independent implementations and
/// decoded there by Wireshark 4.0) are written into a pcap of ours, and tshark must decode
/// every frame exactly as recorded. Proves the capture-free tshark path before it is used on
/// bytes of our own encoder.
#[test]
fn tshark_reads_our_pcap_like_the_recorded_session() {
    if !peer_available(
        "tshark_reads_our_pcap_like_the_recorded_session",
        Peer::Tshark,
    ) {
        return;
    }
    let text = include_str!("data/c104-session.jsonl");
    let port = 2404;
    let mut pcap = PcapWriter::new(port);
    let mut expected = Vec::new();
    for line in text.lines() {
        let rec: serde_json::Value = serde_json::from_str(line).expect("jsonl line");
        let side = match rec["direction"].as_str() {
            Some("master->rtu") => Side::Client,
            Some("rtu->master") => Side::Server,
            other => panic!("direction {other:?}"),
        };
        let apdus = rec["apdus"].as_array().expect("apdus");
        // One APDU per recorded segment keeps the comparison one-to-one.
        if apdus.len() != 1 {
            continue;
        }
        let bytes = hex(apdus[0].as_str().expect("hex"));
        let frame = pcap.push(side, &bytes);
        expected.push((frame, rec["wireshark"].clone()));
    }
    assert!(expected.len() > 50, "too few single-APDU segments");
    let file = common::temp_path("session.pcap");
    std::fs::write(&file, pcap.finish()).expect("write pcap");
    let packets = tshark::dissect(&file, port);
    let with_asdu = expected
        .iter()
        .filter(|(_, w)| w.get("iec60870_asdu").is_some())
        .count();
    assert!(
        with_asdu > 40,
        "only {with_asdu} recorded ASDUs: the comparison would be vacuous"
    );
    for (frame, want) in &expected {
        let got = packets
            .iter()
            .find(|p| p.number == *frame)
            .unwrap_or_else(|| panic!("frame {frame} missing from tshark output"));
        assert!(
            got.expert_items(tshark::SEVERITY_WARN).is_empty(),
            "frame {frame}: {:?}",
            got.expert_items(0)
        );
        for layer in ["iec60870_104", "iec60870_asdu"] {
            assert_eq!(
                got.layers.get(layer),
                want.get(layer),
                "frame {frame} layer {layer} differs from the recorded decoding"
            );
        }
    }
    let _ = std::fs::remove_file(&file);
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

//! Interop tests against independent implementations: c104 (Python, lib60870-C inside) as
//! server and client, and Wireshark's IEC 104 dissector (tshark) as a reader of our bytes.
//!
//! - Test A `our_client_against_c104_server`: our client, c104 server (`crates/testkit/peers/c104_station.py`).
//! - Test B `c104_client_against_our_server`: c104 client (`crates/testkit/peers/c104_client.py`), our
//!   server with a tiny station (`interop::station`).
//! - Test C, tshark reading pcap files we write (`interop::pcap`, no live capture):
//!   `tshark_reads_our_pcap_like_the_recorded_session` (the writer itself),
//!   `wireshark_reads_every_type_id_of_our_encoder`, `wireshark_reads_our_u_and_s_frames`,
//!   `wireshark_reads_a_recorded_session_of_ours` (through a recording proxy, `interop::proxy`).
//! - Test D, link supervision (TESTFR after t3) both ways with the c104 server.
//!
//! `IEC104_INTEROP` unset/`auto`: a test whose peer is missing is skipped (it says so on
//! stderr); `require`: a missing peer fails the test. See `testkit::interop`.
//! Every wait is bounded; peers are killed when a test ends (and exit when their stdin closes).

mod interop;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use iec104::apci::{self, Apdu};
use iec104::asdu::{
    Asdu, AsduBuilder, DoubleCommand, DoubleState, Element, InformationObject, Normalized, Qcc,
    Qds, Qoi, Qos, Quality, Scaled, SingleCommand, SinglePoint,
};
use iec104::client::ClientConfig;
use iec104::cot::{Cause, Cot};
use iec104::server::{Server, ServerConfig};
use iec104::type_id::TypeId;
use interop::pcap::{PcapWriter, Side};
use interop::session::{check_objects, command, interrogate, next_asdu, wait_confirmation, STEP};
use interop::station::{station_points, tiny_station};
use interop::type_cases::{self, Want};
use interop::{bounded, tshark};
use serde_json::Value;
use testkit::peer::PeerProcess;

/// The pcap writer and the tshark runner themselves: the APDUs of the shared c104 session
/// (`tests/data/c104-session.jsonl`, captured between two independent implementations and
/// decoded there by Wireshark 4.0) are written into a pcap of ours, and tshark must decode
/// every frame exactly as recorded. Proves the capture-free tshark path before it is used on
/// bytes of our own encoder.
#[tokio::test]
async fn tshark_reads_our_pcap_like_the_recorded_session() {
    if testkit::require_peer("tshark").is_err() {
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
    let file = interop::temp_path("session.pcap");
    std::fs::write(&file, pcap.finish()).expect("write pcap");
    let packets = tshark::dissect(&file, port).await;
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

/// Our U-frames (every function) and S-frames (N(R) 0, 8 and the largest, 32767) read back by
/// tshark. Expected readings, from IEC 60870-5-104 §5.1 and Wireshark's field definitions:
/// `iec60870_104.type` is the frame format (1 = S, 3 = U); `utype` is control octet 1 shifted
/// right by two (STARTDT act 0x07 → 0x01, con 0x0B → 0x02, STOPDT act 0x13 → 0x04, con 0x23 →
/// 0x08, TESTFR act 0x43 → 0x10, con 0x83 → 0x20); `rx` is N(R).
#[tokio::test]
async fn wireshark_reads_our_u_and_s_frames() {
    if testkit::require_peer("tshark").is_err() {
        return;
    }
    use iec104::apci::UFunction;
    let port = 2404;
    let mut pcap = PcapWriter::new(port);
    let mut want = Vec::new();
    let u = [
        (UFunction::StartDtAct, Side::Client, "0x00000001"),
        (UFunction::StartDtCon, Side::Server, "0x00000002"),
        (UFunction::StopDtAct, Side::Client, "0x00000004"),
        (UFunction::StopDtCon, Side::Server, "0x00000008"),
        (UFunction::TestFrAct, Side::Server, "0x00000010"),
        (UFunction::TestFrCon, Side::Client, "0x00000020"),
    ];
    for (f, side, utype) in u {
        let mut out = BytesMut::new();
        apci::encode(&mut out, &Apdu::u(f)).expect("encode U");
        let frame = pcap.push(side, &out);
        want.push((
            frame,
            vec![
                ("iec60870_104.type", "0x00000003".to_string()),
                ("iec60870_104.utype", utype.to_string()),
            ],
        ));
    }
    for nr in [0u16, 8, 32767] {
        let mut out = BytesMut::new();
        apci::encode(&mut out, &Apdu::s(nr)).expect("encode S");
        let frame = pcap.push(Side::Client, &out);
        want.push((
            frame,
            vec![
                ("iec60870_104.type", "0x00000001".to_string()),
                ("iec60870_104.rx", nr.to_string()),
            ],
        ));
    }
    let file = interop::temp_path("u-s.pcap");
    std::fs::write(&file, pcap.finish()).expect("write pcap");
    let packets = tshark::dissect(&file, port).await;
    for (frame, fields) in want {
        let p = packets
            .iter()
            .find(|p| p.number == frame)
            .expect("frame dissected");
        assert!(
            p.expert_items(tshark::SEVERITY_WARN).is_empty(),
            "frame {frame}: {:?}",
            p.expert_items(0)
        );
        let apci_layer = p
            .apci()
            .unwrap_or_else(|| panic!("frame {frame} not read as IEC 104"));
        for (field, value) in fields {
            assert_eq!(
                tshark::field(apci_layer, field),
                Some(value.as_str()),
                "frame {frame} {field}"
            );
        }
    }
    let _ = std::fs::remove_file(&file);
}

/// Frames an ASDU as an I-frame with the given sequence numbers, with our APCI encoder.
fn i_frame(send_seq: u16, recv_seq: u16, asdu: Bytes) -> Vec<u8> {
    let mut out = BytesMut::new();
    apci::encode(&mut out, &Apdu::i(send_seq, recv_seq, asdu)).expect("encode I-frame");
    out.to_vec()
}

/// What one frame of the capture must read as.
struct Sent {
    frame: u32,
    type_id: TypeId,
    sequence: bool,
    cot: Cot,
    send_seq: u16,
    recv_seq: u16,
    /// (ioa, expected fields) per object Wireshark must show.
    objects: Vec<(u32, Vec<(&'static str, Want)>)>,
}

/// Test C: every type id our encoder produces (plus an SQ=1 sequence and a multi-object
/// ASDU), framed by our APCI encoder, written to a pcap (no live capture: no privileges, no
/// timing) and read back by tshark: no malformed packet, no expert warning or error, the type
/// id, VSQ, COT, common address and N(S)/N(R) as sent, and every element field Wireshark
/// decodes equal to the value we meant.
#[tokio::test]
async fn wireshark_reads_every_type_id_of_our_encoder() {
    if testkit::require_peer("tshark").is_err() {
        return;
    }
    eprintln!("tshark: {}", tshark::version());
    let cases = type_cases::all();
    let mut covered: Vec<TypeId> = cases.iter().map(|c| c.object.element.type_id()).collect();
    covered.sort();
    covered.dedup();
    assert_eq!(covered.len(), cases.len(), "a type id has two cases");
    assert_eq!(covered, TypeId::ALL.to_vec(), "every type id needs a case");

    let port = 2404;
    let ca = 47;
    let mut pcap = PcapWriter::new(port);
    let mut sent = Vec::new();
    let (mut client_seq, mut server_seq) = (0u16, 0u16);
    let mut push = |pcap: &mut PcapWriter,
                    asdu: iec104::asdu::Asdu,
                    objects: Vec<(u32, Vec<(&'static str, Want)>)>| {
        let header = *asdu.header();
        let type_id = TypeId::from_u8(header.type_id).expect("known type id");
        // Monitor direction (and M_EI_NA_1) from the controlled station, the rest from the
        // controlling station; sequence numbers count per direction.
        let from_server = (type_id as u8) < 45 || type_id == TypeId::M_EI_NA_1;
        let (side, ns, nr) = if from_server {
            server_seq += 1;
            (Side::Server, server_seq - 1, client_seq)
        } else {
            client_seq += 1;
            (Side::Client, client_seq - 1, server_seq)
        };
        let frame = pcap.push(side, &i_frame(ns, nr, asdu.into_bytes()));
        sent.push(Sent {
            frame,
            type_id,
            sequence: header.sequence,
            cot: header.cot,
            send_seq: ns,
            recv_seq: nr,
            objects,
        });
    };
    for case in cases {
        let type_id = case.object.element.type_id();
        let mut b = AsduBuilder::new(type_id, case.cot, ca);
        b.push(case.object).expect("push");
        let asdu = b.build().expect("build");
        let objects = if case.fields.is_empty() {
            vec![]
        } else {
            vec![(case.object.ioa, case.fields)]
        };
        push(&mut pcap, asdu, objects);
    }
    // SQ=1: three scaled values from IOA 1000 (1000, 1001, 1002), good quality.
    let mut b = AsduBuilder::new(TypeId::M_ME_NB_1, Cot::new(Cause::Periodic), ca).sequence(true);
    for (i, v) in [(0u32, 1i16), (1, -1), (2, 32767)] {
        b.push(InformationObject::new(
            1000 + i,
            Element::M_ME_NB_1(Scaled(v), Qds::new(Quality::GOOD)),
        ))
        .expect("push sq");
    }
    let sq = vec![
        (1000, vec![("scalval", Want::Text("1"))]),
        (1001, vec![("scalval", Want::Text("-1"))]),
        (1002, vec![("scalval", Want::Text("32767"))]),
    ];
    push(&mut pcap, b.build().expect("build sq"), sq);
    // SQ=0: two objects with unrelated IOAs, including the largest 3-octet IOA.
    let mut b = AsduBuilder::new(
        TypeId::M_SP_NA_1,
        Cot::new(Cause::InterrogatedByStation),
        ca,
    );
    b.push(InformationObject::new(
        5,
        Element::M_SP_NA_1(SinglePoint::new(false, Quality::GOOD)),
    ))
    .expect("push");
    b.push(InformationObject::new(
        0xFF_FFFF,
        Element::M_SP_NA_1(SinglePoint::new(true, Quality::BL)),
    ))
    .expect("push");
    let multi = vec![
        (
            5,
            vec![("siq.spi", Want::Text("0")), ("siq.bl", Want::Text("0"))],
        ),
        (
            0xFF_FFFF,
            vec![("siq.spi", Want::Text("1")), ("siq.bl", Want::Text("1"))],
        ),
    ];
    push(&mut pcap, b.build().expect("build multi"), multi);
    // A negative confirmation with the test bit and an originator address, on a normalized
    // set-point: checks the COT octets.
    let mut cot = Cot::new(Cause::ActivationCon).negative().with_originator(7);
    cot.test = true;
    let mut b = AsduBuilder::new(TypeId::C_SE_NA_1, cot, ca);
    b.push(InformationObject::new(
        77,
        Element::C_SE_NA_1(Normalized(16_384), iec104::asdu::Qos::new(0, false)),
    ))
    .expect("push");
    push(
        &mut pcap,
        b.build().expect("build neg"),
        vec![(77, vec![("normval", Want::Num(0.5, 1e-6))])],
    );

    let file = interop::temp_path("every-type.pcap");
    std::fs::write(&file, pcap.finish()).expect("write pcap");
    let packets = tshark::dissect(&file, port).await;
    let mut failures = Vec::new();
    let mut checked = 0usize;
    for s in &sent {
        let name = s.type_id.name();
        let Some(p) = packets.iter().find(|p| p.number == s.frame) else {
            failures.push(format!("{name}: frame {} missing", s.frame));
            continue;
        };
        let problems = p.expert_items(tshark::SEVERITY_WARN);
        if !problems.is_empty() {
            failures.push(format!("{name}: {problems:?}"));
        }
        let (Some(apci_layer), Some(asdu)) = (p.apci(), p.asdu()) else {
            failures.push(format!(
                "{name}: frame {} not decoded as IEC 104 I-frame + ASDU",
                s.frame
            ));
            continue;
        };
        let count = s.objects.len().max(1);
        let header_want = [
            (apci_layer, "iec60870_104.tx", s.send_seq.to_string()),
            (apci_layer, "iec60870_104.rx", s.recv_seq.to_string()),
            (asdu, "iec60870_asdu.typeid", (s.type_id as u8).to_string()),
            (asdu, "iec60870_asdu.sq", u8::from(s.sequence).to_string()),
            (
                asdu,
                "iec60870_asdu.causetx",
                s.cot.cause.as_u8().to_string(),
            ),
            (
                asdu,
                "iec60870_asdu.nega",
                u8::from(s.cot.negative).to_string(),
            ),
            (asdu, "iec60870_asdu.test", u8::from(s.cot.test).to_string()),
            (asdu, "iec60870_asdu.oa", s.cot.originator.to_string()),
            (asdu, "iec60870_asdu.addr", ca.to_string()),
        ];
        for (layer, field, want) in header_want {
            let got = tshark::field(layer, field);
            if got != Some(want.as_str()) {
                failures.push(format!("{name}: {field} = {got:?}, want {want}"));
            }
        }
        if s.objects.len() > 1 {
            let got = tshark::field(asdu, "iec60870_asdu.numix");
            if got != Some(count.to_string().as_str()) {
                failures.push(format!("{name}: numix = {got:?}, want {count}"));
            }
        }
        let objs = tshark::objects(asdu);
        for (ioa, fields) in &s.objects {
            let ioa_text = ioa.to_string();
            let Some(obj) = objs
                .iter()
                .find(|o| tshark::field(o, "iec60870_asdu.ioa") == Some(ioa_text.as_str()))
            else {
                failures.push(format!(
                    "{name}: IOA {ioa} not in Wireshark's reading {asdu:?}"
                ));
                continue;
            };
            for (field, want) in fields {
                checked += 1;
                let full = format!("iec60870_asdu.{field}");
                let got = tshark::find_field(obj, &full);
                let ok = match (want, got) {
                    (Want::Text(w), Some(g)) => *w == g,
                    (Want::Num(w, tol), Some(g)) => {
                        g.parse::<f64>().is_ok_and(|g| (g - w).abs() <= *tol)
                    }
                    (_, None) => false,
                };
                if !ok {
                    failures.push(format!(
                        "{name} IOA {ioa}: {field} = {got:?}, want {want:?}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "Wireshark disagrees with what we meant:\n{}",
        failures.join("\n")
    );
    assert!(checked > 200, "only {checked} element fields compared");
    let _ = std::fs::remove_file(&file);
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Test A: our client against the c104 server.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_against_c104_server() {
    if testkit::require_peer("c104").is_err() {
        return;
    }
    let port = testkit::free_port();
    let json_path = interop::temp_path("c104-server.json");
    let mut server =
        PeerProcess::c104_station(port, 47, &json_path, &[], Duration::from_secs(30)).await;
    let described: Value =
        serde_json::from_slice(&std::fs::read(&json_path).expect("peer description"))
            .expect("JSON");
    let points = described["points"].as_array().expect("points").clone();
    assert!(points.len() >= 30, "the peer describes too few points");

    let (client, mut events, connection) = bounded(
        "connect",
        STEP,
        iec104::client::connect(("127.0.0.1", port), ClientConfig::default()),
    )
    .await
    .expect("connect to the c104 server");
    let conn_task = tokio::spawn(connection);
    bounded("STARTDT", STEP, client.start_dt())
        .await
        .expect("STARTDT con");

    // General interrogation of CA 47, then of the broadcast address: c104 answers both for its
    // station 47 with the types it includes in an interrogation.
    for ca in [47u16, 0xFFFF] {
        let gi = Asdu::interrogation(ca, Qoi::STATION, Cot::new(Cause::Activation));
        let data = interrogate(&client, &mut events, gi, &format!("GI to CA {ca}")).await;
        let n = check_objects(
            &data,
            &points,
            Some("gi"),
            Cause::InterrogatedByStation,
            &format!("GI to CA {ca}"),
        );
        assert!(n >= 20, "GI to CA {ca}: only {n} objects");
    }
    // Counter interrogation (general request, read): the integrated totals.
    let ci = Asdu::counter_interrogation(47, Qcc::new(5, 0), Cot::new(Cause::Activation));
    let data = interrogate(&client, &mut events, ci, "counter interrogation").await;
    check_objects(
        &data,
        &points,
        Some("ci"),
        Cause::RequestedByGeneralCounter,
        "CI",
    );

    // The trigger command: every point, including the types c104 leaves out of
    // interrogations, is sent once spontaneously.
    let (con, _) = command(
        &client,
        &mut events,
        4501,
        Element::C_SC_NA_1(SingleCommand::new(true, 0, false)),
    )
    .await;
    assert!(!con.negative, "trigger command refused");
    let mut spont = Vec::new();
    let mut objects = 0;
    while objects < points.len() {
        let a = next_asdu(&mut events).await;
        objects += a.view().objects().count();
        spont.push(a);
    }
    check_objects(&spont, &points, None, Cause::Spontaneous, "spontaneous");
    server.wait_line("SPONT_DONE", STEP).await;

    // Select before operate, double command ON to IOA 4601.
    let on = DoubleState::On;
    let (con, el) = command(
        &client,
        &mut events,
        4601,
        Element::C_DC_NA_1(DoubleCommand::new(on, 0, true)),
    )
    .await;
    assert!(!con.negative, "select refused");
    assert!(
        matches!(el, Element::C_DC_NA_1(d) if d.select() && d.state() == on),
        "select ActCon echoes {el:?}"
    );
    let (con, el) = command(
        &client,
        &mut events,
        4601,
        Element::C_DC_NA_1(DoubleCommand::new(on, 0, false)),
    )
    .await;
    assert!(!con.negative, "execute refused");
    assert!(
        matches!(el, Element::C_DC_NA_1(d) if d.state() == on),
        "execute ActCon echoes {el:?}"
    );
    let mut other = Vec::new();
    let (term, _) = wait_confirmation(
        &mut events,
        TypeId::C_DC_NA_1,
        4601,
        Cause::ActivationTerm,
        &mut other,
    )
    .await;
    assert!(!term.negative, "negative ActTerm");
    let cmd = server.wait_line("CMD", STEP).await;
    assert!(
        cmd.contains("\"ioa\": 4601") && cmd.contains("\"value\": \"ON\""),
        "server saw {cmd}"
    );

    // Set-points, direct: the server reports the value it decoded.
    let qos = Qos::new(0, false);
    let setpoints: [(u32, Element<'static>, f64); 3] = [
        (4801, Element::C_SE_NA_1(Normalized(16_384), qos), 0.5),
        (4901, Element::C_SE_NB_1(Scaled(-100), qos), -100.0),
        (5001, Element::C_SE_NC_1(1.5, qos), 1.5),
    ];
    for (ioa, el, value) in setpoints {
        let (con, _) = command(&client, &mut events, ioa, el).await;
        assert!(!con.negative, "set-point {ioa} refused");
        let line = server.wait_line("CMD", STEP).await;
        let rec: Value = serde_json::from_str(line.trim_start_matches("CMD ")).expect("CMD JSON");
        assert_eq!(rec["ioa"].as_u64(), Some(u64::from(ioa)), "{line}");
        assert_eq!(rec["value"].as_f64(), Some(value), "{line}");
    }

    // A burst of 90 spontaneous values (c104 holds them in its queue of 100 and sends them as
    // fast as our acknowledgements let it, k = 12): all arrive, in order, once.
    let (con, _) = command(
        &client,
        &mut events,
        4502,
        Element::C_SC_NA_1(SingleCommand::new(true, 0, false)),
    )
    .await;
    assert!(!con.negative, "burst trigger refused");
    let mut values = Vec::new();
    while values.len() < 90 {
        let a = next_asdu(&mut events).await;
        assert_eq!(a.header().cot.cause, Cause::Spontaneous, "{a:?}");
        for obj in a.view().objects() {
            match obj.element {
                Element::M_ME_NB_1(v, q) if obj.ioa == 1199 && q.quality().is_good() => {
                    values.push(v.0)
                }
                other => panic!("burst: unexpected object {} {other:?}", obj.ioa),
            }
        }
    }
    assert_eq!(values, (1..=90).collect::<Vec<i16>>(), "burst values");
    server.wait_line("BURST_DONE", STEP).await;

    client.close();
    let _ = bounded("connection end", STEP, conn_task).await;
    server.end(STEP).await;
    let _ = std::fs::remove_file(&json_path);
}

// ---------------------------------------------------------------------------------------------
// Test B: a c104 client against our server.

/// The c104 client against our server with the tiny station: STARTDT, general interrogation,
/// select-before-operate double command, then an idle link that c104 tests with TESTFR (its
/// t3 = 1 s) and our server confirms. Checked on c104's side: every point as c104 decoded it,
/// positive confirmations in order, every step ok.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c104_client_against_our_server() {
    if testkit::require_peer("c104").is_err() {
        return;
    }
    let addr = "127.0.0.1:0".parse().expect("addr");
    let (handle, events, run) = bounded("bind", STEP, Server::bind(addr, ServerConfig::default()))
        .await
        .expect("bind our server");
    let port = handle.local_addr().port();
    let run_task = tokio::spawn(run);
    let station = tokio::spawn(tiny_station(handle.clone(), events));

    let mut client = PeerProcess::python(
        "c104_client.py",
        &[
            "127.0.0.1".into(),
            port.to_string(),
            "47".into(),
            "4601".into(),
            "--timeout=10".into(),
            // Then one direct command of every type c104 can send.
            "--all-commands".into(),
            // c104's t3 = 1 s: at the end it idles until its TESTFR act is confirmed.
            "--t3=1".into(),
        ],
    );
    let (lines, status) = client.finish(Duration::from_secs(60)).await;
    let records: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("c104 client line {l:?}: {e}")))
        .collect();
    let log = bounded("station end", STEP, station)
        .await
        .expect("station task");
    let transcript = format!(
        "c104 client:\n{}\nstation:\n{}",
        lines.join("\n"),
        log.join("\n")
    );
    assert!(
        status.success(),
        "c104 client exited with {status}\n{transcript}"
    );

    // Every point, as c104 (lib60870) decoded it, with COT interrogated by station.
    for (point, want) in station_points() {
        let got = records
            .iter()
            .find(|r| r["kind"] == "object" && r["ioa"].as_u64() == Some(u64::from(point.ioa)))
            .unwrap_or_else(|| panic!("IOA {} not received by c104\n{transcript}", point.ioa));
        assert_eq!(got["cot"], "INTERROGATED_BY_STATION", "{got}");
        for key in ["type", "value", "quality", "time"] {
            assert_eq!(
                got[key], want[key],
                "IOA {} {key}: c104 read {got}\n{transcript}",
                point.ioa
            );
        }
    }
    // Positive confirmations of the interrogation and the select-before-operate, in the order
    // of the procedure (the direct commands' ActCons are checked by their steps below).
    let confirmations: Vec<(String, String, bool)> = records
        .iter()
        .filter(|r| r["kind"] == "confirmation" && (r["ioa"] == 0 || r["ioa"] == 4601))
        .map(|r| {
            (
                r["type"].as_str().unwrap_or_default().to_owned(),
                r["cot"].as_str().unwrap_or_default().to_owned(),
                r["negative"].as_bool().unwrap_or(true),
            )
        })
        .collect();
    let want: Vec<(String, String, bool)> = [
        ("C_IC_NA_1", "ACTIVATION_CON"),
        ("C_IC_NA_1", "ACTIVATION_TERMINATION"),
        ("C_DC_NA_1", "ACTIVATION_CON"),
        ("C_DC_NA_1", "ACTIVATION_CON"),
        ("C_DC_NA_1", "ACTIVATION_TERMINATION"),
    ]
    .iter()
    .map(|(t, c)| (t.to_string(), c.to_string(), false))
    .collect();
    assert_eq!(confirmations, want, "{transcript}");
    for step in [
        "startdt",
        "interrogation",
        "select",
        "execute",
        "termination",
        "testfr",
    ] {
        assert!(
            records
                .iter()
                .any(|r| r["kind"] == "step" && r["step"] == step && r["ok"] == true),
            "step {step} not ok\n{transcript}"
        );
    }
    // Every step line (including one per command type) is ok.
    for r in records.iter().filter(|r| r["kind"] == "step") {
        assert_eq!(r["ok"], true, "{r}\n{transcript}");
    }
    // Every command type c104 sent: what we decoded equals what c104 was told.
    let told: Vec<&Value> = records.iter().filter(|r| r["kind"] == "told").collect();
    assert_eq!(told.len(), 14, "command types told\n{transcript}");
    let decoded: Vec<Value> = log
        .iter()
        .filter_map(|l| l.strip_prefix("decoded "))
        .map(|l| serde_json::from_str(l).expect("decoded JSON"))
        .collect();
    for t in told {
        let d = decoded
            .iter()
            .find(|d| d["ioa"] == t["ioa"])
            .unwrap_or_else(|| panic!("{t}: not decoded by our station\n{transcript}"));
        assert_eq!(d["type"], t["type"], "{t} vs {d}");
        assert_eq!(d["time"], t["time"], "{t} vs {d}");
        assert_eq!(d["select"], false, "{t} vs {d}");
        for (key, want) in t["value"].as_object().expect("told value") {
            let got = &d["value"][key];
            let ok = match (want.as_f64(), got.as_f64()) {
                // Normalized set-points travel as raw/32768: within one step.
                (Some(w), Some(g)) if key == "value" => (w - g).abs() <= 1.0 / 32768.0,
                _ => want == got,
            };
            assert!(
                ok,
                "{} {key}: we decoded {got}, c104 was told {want}\n{transcript}",
                t["type"]
            );
        }
    }
    assert!(log.iter().any(|l| l == "select On"), "{transcript}");
    assert!(log.iter().any(|l| l == "execute On"), "{transcript}");
    assert!(
        !log.iter()
            .any(|l| l.starts_with("refused") || l.contains("failed")),
        "{transcript}"
    );

    handle.shutdown();
    let ended = bounded("server end", STEP, run_task)
        .await
        .expect("run task");
    assert!(ended.is_ok(), "server ended with {ended:?}");
}

// ---------------------------------------------------------------------------------------------
// Test C, last part: a real session of ours, recorded by a relaying proxy (no capture
// privileges, no timing), read by Wireshark.

/// Our client and our server (the tiny station of test B) through a recording proxy: STARTDT,
/// general interrogation, select-before-operate double command, STOPDT. The bytes as they
/// crossed the proxy (with the real TCP segmentation, several APDUs per segment) are written
/// to a pcap; tshark must see every APDU our codec sees in the same streams, in the same order
/// of type ids, with no malformed packet and no expert warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wireshark_reads_a_recorded_session_of_ours() {
    if testkit::require_peer("tshark").is_err() {
        return;
    }
    let addr = "127.0.0.1:0".parse().expect("addr");
    let (handle, events, run) = bounded("bind", STEP, Server::bind(addr, ServerConfig::default()))
        .await
        .expect("bind our server");
    let run_task = tokio::spawn(run);
    let station = tokio::spawn(tiny_station(handle.clone(), events));
    let proxy_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind proxy");
    let proxy_port = proxy_listener.local_addr().expect("proxy addr").port();
    let rec = interop::proxy::Recording::new();
    let proxy = tokio::spawn(interop::proxy::relay_one(
        proxy_listener,
        handle.local_addr(),
        rec.clone(),
    ));

    let (client, mut events, connection) = bounded(
        "connect",
        STEP,
        iec104::client::connect(("127.0.0.1", proxy_port), ClientConfig::default()),
    )
    .await
    .expect("connect through the proxy");
    let conn_task = tokio::spawn(connection);
    bounded("STARTDT", STEP, client.start_dt())
        .await
        .expect("STARTDT");
    let gi = Asdu::interrogation(47, Qoi::STATION, Cot::new(Cause::Activation));
    let data = interrogate(&client, &mut events, gi, "GI through the proxy").await;
    assert_eq!(data.len(), station_points().len(), "station points");
    for select in [true, false] {
        let el = Element::C_DC_NA_1(DoubleCommand::new(DoubleState::On, 0, select));
        let (con, _) = command(&client, &mut events, 4601, el).await;
        assert!(!con.negative, "double command (select {select}) refused");
    }
    let mut other = Vec::new();
    wait_confirmation(
        &mut events,
        TypeId::C_DC_NA_1,
        4601,
        Cause::ActivationTerm,
        &mut other,
    )
    .await;
    bounded("STOPDT", STEP, client.stop_dt())
        .await
        .expect("STOPDT");
    client.close();
    let _ = bounded("connection end", STEP, conn_task).await;
    bounded("proxy end", STEP, proxy)
        .await
        .expect("proxy task")
        .expect("proxy relay");
    let chunks = rec.chunks();
    handle.shutdown();
    let _ = bounded("station end", STEP, station).await;
    let _ = bounded("server end", STEP, run_task).await;

    // Our codec's reading of each direction's byte stream: the APDUs in order.
    let mut ours = Vec::new();
    let port = 2404;
    let mut pcap = PcapWriter::new(port);
    let mut frames_with_payload = Vec::new();
    let mut pending: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    for (side, chunk) in &chunks {
        for piece in chunk.chunks(1400) {
            frames_with_payload.push(pcap.push(*side, piece));
        }
        let stream = &mut pending[usize::from(*side == Side::Server)];
        stream.extend_from_slice(chunk);
        while let Some(len) = apci::frame_len(stream).expect("our own stream is well formed") {
            let frame: Vec<u8> = stream.drain(..len).collect();
            ours.push(describe_apdu(&frame));
        }
    }
    assert!(
        pending.iter().all(Vec::is_empty),
        "a partial APDU left in the stream"
    );
    assert!(ours.len() >= 16, "only {} APDUs in the session", ours.len());

    let file = interop::temp_path("session-of-ours.pcap");
    std::fs::write(&file, pcap.finish()).expect("write pcap");
    let packets = tshark::dissect(&file, port).await;
    let mut theirs = Vec::new();
    for p in packets
        .iter()
        .filter(|p| frames_with_payload.contains(&p.number))
    {
        let problems = p.expert_items(tshark::SEVERITY_WARN);
        assert!(problems.is_empty(), "frame {}: {problems:?}", p.number);
        // Several APDUs in one segment: the layers become arrays (tshark --no-duplicate-keys).
        let as_list = |v: Option<&Value>| match v {
            Some(Value::Array(items)) => items.clone(),
            Some(v) => vec![v.clone()],
            None => vec![],
        };
        let apcis = as_list(p.layers.get("iec60870_104"));
        let asdus = as_list(p.layers.get("iec60870_asdu"));
        let mut asdus = asdus.iter();
        for a in &apcis {
            let ty = a
                .get("iec60870_104.type")
                .and_then(Value::as_str)
                .unwrap_or("?");
            let text = match ty {
                "0x00000000" => {
                    let asdu = asdus.next().expect("an ASDU layer per I-frame");
                    format!(
                        "I {}",
                        asdu.get("iec60870_asdu.typeid")
                            .and_then(Value::as_str)
                            .unwrap_or("?")
                    )
                }
                "0x00000001" => "S".to_string(),
                "0x00000003" => format!(
                    "U {}",
                    a.get("iec60870_104.utype")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                ),
                other => format!("? {other}"),
            };
            theirs.push(text);
        }
    }
    eprintln!(
        "{} APDUs in {} TCP segments: {ours:?}",
        ours.len(),
        frames_with_payload.len()
    );
    assert_eq!(theirs, ours, "Wireshark's APDUs differ from our codec's");
    let _ = std::fs::remove_file(&file);
}

/// "I <type id>", "S" or "U <Wireshark utype>" for one APDU, from the octets: octet 2 (first
/// control octet) bit 0 = 0 is an I-frame whose ASDU starts at octet 6 with the type id; 0x01
/// is an S-frame; otherwise a U-frame whose function bits, shifted right by two, are
/// Wireshark's `utype`.
fn describe_apdu(frame: &[u8]) -> String {
    let c1 = frame[2];
    if c1 & 0x01 == 0 {
        format!("I {}", frame[6])
    } else if c1 & 0x03 == 0x01 {
        "S".to_string()
    } else {
        format!("U 0x{:08x}", c1 >> 2)
    }
}

// ---------------------------------------------------------------------------------------------
// Test D: link supervision (TESTFR, t3) between our client and the c104 server, observed by a
// recording proxy: the test waits for the frames to cross, it does not sleep.

/// True when `apdus` hold a U-frame `act` sent by `from`, later followed by the U-frame `con`
/// sent by the other side (control octet 1 of a U-frame: TESTFR act 0x43, con 0x83).
fn u_exchange(apdus: &[(Side, Vec<u8>)], from: Side, act: u8, con: u8) -> bool {
    let is_u = |frame: &[u8], octet: u8| frame.len() == 6 && frame[2] == octet;
    apdus
        .iter()
        .position(|(side, f)| *side == from && is_u(f, act))
        .is_some_and(|i| {
            apdus[i..]
                .iter()
                .any(|(side, f)| *side != from && is_u(f, con))
        })
}

/// Runs our client against a c104 server with `server_t3` seconds through a recording proxy,
/// waits until a TESTFR act from `from` has been confirmed by the other side, then checks that
/// the link still carries a general interrogation.
async fn testfr_session(test: &str, server_t3: u32, client_t3: Duration, from: Side) {
    let port = testkit::free_port();
    let json_path = interop::temp_path("c104-server-t3.json");
    let t3 = server_t3.to_string();
    let mut server =
        PeerProcess::c104_station(port, 47, &json_path, &[&t3], Duration::from_secs(30)).await;
    let proxy_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind proxy");
    let proxy_port = proxy_listener.local_addr().expect("proxy addr").port();
    let upstream = ([127, 0, 0, 1], port).into();
    let rec = interop::proxy::Recording::new();
    let proxy = tokio::spawn(interop::proxy::relay_one(
        proxy_listener,
        upstream,
        rec.clone(),
    ));

    let mut config = ClientConfig::default();
    config.link.t3 = client_t3;
    let (client, mut events, connection) = bounded(
        "connect",
        STEP,
        iec104::client::connect(("127.0.0.1", proxy_port), config),
    )
    .await
    .expect("connect through the proxy");
    let conn_task = tokio::spawn(connection);
    bounded("STARTDT", STEP, client.start_dt())
        .await
        .expect("STARTDT");
    // Idle: the side with the short t3 must test the link, the other must confirm.
    rec.wait_for(
        &format!("{test}: TESTFR act from {from:?} confirmed"),
        Duration::from_secs(10),
        |a| u_exchange(a, from, 0x43, 0x83),
    )
    .await;
    let gi = Asdu::interrogation(47, Qoi::STATION, Cot::new(Cause::Activation));
    let data = interrogate(&client, &mut events, gi, test).await;
    assert!(!data.is_empty(), "{test}: no data after the link test");

    client.close();
    let _ = bounded("connection end", STEP, conn_task).await;
    let _ = bounded("proxy end", STEP, proxy).await;
    server.end(STEP).await;
    let _ = std::fs::remove_file(&json_path);
}

/// The c104 server (t3 = 1 s) tests an idle link; our client (t3 = 20 s) must answer TESTFR
/// con, and the link goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_answers_c104_testfr() {
    if testkit::require_peer("c104").is_err() {
        return;
    }
    testfr_session(
        "our_client_answers_c104_testfr",
        1,
        Duration::from_secs(20),
        Side::Server,
    )
    .await;
}

/// Our client (t3 = 1 s) tests an idle link; the c104 server (t3 = 20 s) must answer TESTFR
/// con, which our client must accept (no t1 close), and the link goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c104_server_answers_our_testfr() {
    if testkit::require_peer("c104").is_err() {
        return;
    }
    testfr_session(
        "c104_server_answers_our_testfr",
        20,
        Duration::from_secs(1),
        Side::Client,
    )
    .await;
}

//! Options of the `iec104` binary that change what goes on the wire: `--originator`, the
//! broadcast common address 65535 and `counter-interrogate --freeze/--group`. Expected octets
//! are written from IEC 60870-5-101/104 (type ids, cause octets, QOI/QCC), not from our encoder;
//! the scripted station answers only an exact match, so a wrong octet ends in a timeout.

mod common;

use common::{run, station, stderr, stdout_lines};

/// A station that answers exactly `request` (hex) with `replies`; runs `iec104 interrogate
/// ADDR ARGS... --format json`; asserts exit 0, the objects printed and that `request` was all
/// the station received.
async fn interrogation(
    request: &'static str,
    replies: Vec<&'static str>,
    args: &[&str],
    printed: &[&str],
) {
    let st = station(move |asdu| {
        if asdu == request {
            replies.clone()
        } else {
            vec![]
        }
    })
    .await;
    let mut a = vec!["interrogate"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--format", "json", "--timeout", "10"]);
    let out = st.run(&a).await;
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    assert_eq!(stdout_lines(&out), printed, "{args:?}");
    assert_eq!(st.asdus().await, [request], "{args:?}");
}

#[tokio::test]
async fn originator_address_is_sent_in_the_second_cause_octet() {
    // C_IC_NA_1 (100 = 0x64) act (6), originator 7, CA 1, IOA 0, QOI 20 (0x14). The station
    // mirrors the originator, as 7.2.3 of IEC 60870-5-101 has the controlled station do.
    let replies = vec![
        "64 01 07 07 01 00 00 00 00 14",
        // M_SP_NA_1 inrogen (20 = 0x14), originator 7, IOA 101 (65 00 00), SIQ on.
        "01 01 14 07 01 00 65 00 00 01",
        "64 01 0A 07 01 00 00 00 00 14",
    ];
    interrogation(
        "64 01 06 07 01 00 00 00 00 14",
        replies,
        &["--ca", "1", "--originator", "7"],
        &[r#"{"ca":1,"ioa":101,"type":"M_SP_NA_1","cot":"inrogen","originator":7,"value":true,"quality":[]}"#],
    )
    .await;
}

#[tokio::test]
async fn originator_out_of_range_is_a_usage_error() {
    let out = run(&[
        "interrogate",
        "127.0.0.1:9",
        "--ca",
        "1",
        "--originator",
        "256",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--originator"), "{}", stderr(&out));
}

#[tokio::test]
async fn broadcast_interrogation_ends_at_the_first_actterm() {
    // CA 65535 (FF FF) is the broadcast address: every station behind the link answers with its
    // own CA; no ActTerm with CA 65535 ever comes, so the first ActTerm ends the request.
    let replies = vec![
        "64 01 07 00 01 00 00 00 00 14",
        "64 01 07 00 02 00 00 00 00 14",
        "01 01 14 00 01 00 01 00 00 01",
        "01 01 14 00 02 00 01 00 00 00",
        "64 01 0A 00 01 00 00 00 00 14",
    ];
    interrogation(
        "64 01 06 00 FF FF 00 00 00 14",
        replies,
        &["--ca", "65535"],
        &[
            r#"{"ca":1,"ioa":1,"type":"M_SP_NA_1","cot":"inrogen","value":true,"quality":[]}"#,
            r#"{"ca":2,"ioa":1,"type":"M_SP_NA_1","cot":"inrogen","value":false,"quality":[]}"#,
        ],
    )
    .await;
}

#[tokio::test]
async fn counter_interrogation_qualifier_carries_group_and_freeze() {
    // QCC (7.2.6.23): RQT in bits 1-6 (5 = general, 1..4 = group), FRZ in bits 7-8 (0 read,
    // 1 freeze without reset, 2 freeze with reset, 3 reset). C_CI_NA_1 = 101 = 0x65.
    for (extra, qcc) in [
        (&[][..], "05"),
        (&["--freeze", "freeze-reset"][..], "85"),
        (&["--freeze", "reset"][..], "C5"),
        (&["--group", "2", "--freeze", "freeze"][..], "42"),
        (&["--group", "4"][..], "04"),
    ] {
        let act = format!("65 01 06 00 01 00 00 00 00 {qcc}");
        let con: &'static str = format!("65 01 07 00 01 00 00 00 00 {qcc}").leak();
        let term: &'static str = format!("65 01 0A 00 01 00 00 00 00 {qcc}").leak();
        let want = act.clone();
        let st = station(move |asdu| {
            if asdu == want {
                vec![con, term]
            } else {
                vec![]
            }
        })
        .await;
        let mut a = vec!["counter-interrogate", "--ca", "1"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["--format", "json", "--timeout", "10"]);
        let out = st.run(&a).await;
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {}", stderr(&out));
        assert!(stdout_lines(&out).is_empty(), "{extra:?}");
        let received = st.asdus().await;
        assert_eq!(received, [act], "{extra:?}");
    }
}

//! The real `iec104` binary against scripted stations on 127.0.0.1.
//!
//! ASDU octets are written by hand from IEC 60870-5-101 §7 / 104 §8: TI, VSQ, COT, originator,
//! CA (2 octets, little endian), IOA (3 octets, little endian), elements. COT 06 = act,
//! 07 = actcon, 0A = actterm, 14 = inrogen (20); P/N adds 0x40.

mod common;

use common::{run, station, station_with_greeting, stderr, stdout_lines, BOUND};

/// C_IC_NA_1 (100 = 0x64), one object, act, CA 1, IOA 0, QOI 20 (0x14) = station.
const GI_ACT: &str = "64 01 06 00 01 00 00 00 00 14";
const GI_CON: &str = "64 01 07 00 01 00 00 00 00 14";
const GI_TERM: &str = "64 01 0A 00 01 00 00 00 00 14";
/// M_SP_NA_1 inrogen CA 1, IOA 1 (01 00 00), SIQ 0x01 (on).
const SP_ON: &str = "01 01 14 00 01 00 01 00 00 01";
/// M_ME_NB_1 (11 = 0x0B) inrogen CA 1, IOA 2, SVA 0xFF9C = -100, QDS 0x80 (IV).
const ME_IV: &str = "0B 01 14 00 01 00 02 00 00 9C FF 80";

fn args<'a>(addr: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![rest[0], addr];
    v.extend_from_slice(&rest[1..]);
    v
}

#[tokio::test]
async fn interrogate_prints_exactly_the_station_objects_and_exits_0() {
    let st = station(|asdu| match asdu {
        GI_ACT => vec![GI_CON, SP_ON, ME_IV, GI_TERM],
        _ => vec![],
    })
    .await;
    let out = st
        .run(&["interrogate", "--format", "json", "--timeout", "10"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout_lines(&out),
        [
            r#"{"ca":1,"ioa":1,"type":"M_SP_NA_1","cot":"inrogen","value":true,"quality":[]}"#,
            r#"{"ca":1,"ioa":2,"type":"M_ME_NB_1","cot":"inrogen","value":-100,"quality":["IV"]}"#,
        ]
    );
    let received = st.asdus().await;
    assert_eq!(received, [GI_ACT]);
}

#[tokio::test]
async fn group_interrogation_sends_qoi_21_plus_group() {
    // Group 3 → QOI 23 = 0x17; the station confirms and terminates without data.
    let st = station(|asdu| match asdu {
        "64 01 06 00 01 00 00 00 00 17" => vec![
            "64 01 07 00 01 00 00 00 00 17",
            "64 01 0A 00 01 00 00 00 00 17",
        ],
        _ => vec![],
    })
    .await;
    let out = st
        .run(&["interrogate", "--group", "3", "--format", "json"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout_lines(&out).is_empty());
}

#[tokio::test]
async fn text_format_has_aligned_columns() {
    let st = station(|asdu| match asdu {
        GI_ACT => vec![GI_CON, SP_ON, GI_TERM],
        _ => vec![],
    })
    .await;
    let out = st.run(&["interrogate", "--format", "text"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("   CA      IOA TYPE       COT "),
        "{:?}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("    1        1 M_SP_NA_1  inrogen      true"),
        "{:?}",
        lines[1]
    );
}

#[tokio::test]
async fn negative_actcon_exits_1() {
    // ActCon with P/N: 0x40 | 0x07 = 0x47.
    let st = station(|asdu| match asdu {
        GI_ACT => vec!["64 01 47 00 01 00 00 00 00 14"],
        _ => vec![],
    })
    .await;
    let out = st.run(&["interrogate", "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("C_IC_NA_1 refused by the station"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn unknown_common_address_exits_1_with_a_clear_message() {
    // Interrogation of CA 7 (07 00); the station answers cause 46 with P/N: 0x40 | 0x2E.
    let st = station(|asdu| match asdu {
        "64 01 06 00 07 00 00 00 00 14" => vec!["64 01 6E 00 07 00 00 00 00 14"],
        _ => vec![],
    })
    .await;
    let out = st
        .run(&["interrogate", "--ca", "7", "--format", "json"])
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("unknown common address"), "{err}");
    assert!(err.contains("cause 46"), "{err}");
}

#[tokio::test]
async fn silent_station_times_out_with_exit_3() {
    let st = station(|_| vec![]).await;
    let out = st
        .run(&["interrogate", "--timeout", "0.5", "--format", "json"])
        .await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("timeout: no ActCon/ActTerm of C_IC_NA_1 within 0.5 s"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn refused_connection_exits_3() {
    // A port that was just free: bind, note it, close.
    let port = testkit::free_port();
    let addr = format!("127.0.0.1:{port}");
    let out = run(&args(&addr, &["interrogate", "--format", "json"])).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("cannot connect to {addr}: connection refused")),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn a_peer_that_does_not_speak_iec104_exits_3() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let peer = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 64];
        let _ = s.read(&mut buf).await;
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        // Keep the socket open until the client gives up.
        let _ = s.read(&mut buf).await;
    });
    let out = run(&args(&addr, &["interrogate", "--format", "json"])).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("peer does not speak IEC 60870-5-104: bad start octet 0x48 (expected 0x68)"),
        "{}",
        stderr(&out)
    );
    let _ = tokio::time::timeout(BOUND, peer).await;
}

/// C_DC_NA_1 (46 = 0x2E), CA 1, IOA 5000 = 0x1388 → 88 13 00. DCO: DCS 2 (on) = 0x02,
/// select adds S/E 0x80.
const DC_SELECT: &str = "2E 01 06 00 01 00 88 13 00 82";
const DC_SELECT_CON: &str = "2E 01 07 00 01 00 88 13 00 82";
const DC_EXEC: &str = "2E 01 06 00 01 00 88 13 00 02";
const DC_EXEC_CON: &str = "2E 01 07 00 01 00 88 13 00 02";
const DC_EXEC_TERM: &str = "2E 01 0A 00 01 00 88 13 00 02";

const DC_ARGS: [&str; 13] = [
    "command",
    "--ca",
    "1",
    "--ioa",
    "5000",
    "--type",
    "c_dc_na_1",
    "--value",
    "on",
    "--format",
    "json",
    "--timeout",
    "5",
];

/// The three lines of a successful select-before-operate of [`DC_ARGS`].
const SBO_DONE: [&str; 3] = [
    r#"{"ca":1,"ioa":5000,"type":"C_DC_NA_1","cot":"actcon","value":"on","select":true}"#,
    r#"{"ca":1,"ioa":5000,"type":"C_DC_NA_1","cot":"actcon","value":"on"}"#,
    r#"{"ca":1,"ioa":5000,"type":"C_DC_NA_1","cot":"actterm","value":"on"}"#,
];

/// [`DC_ARGS`] with `--select` against a station answering the select with `select_replies`
/// and the execute with ActCon + ActTerm: the output and what the station received.
async fn select_then_execute(
    select_replies: Vec<&'static str>,
) -> (std::process::Output, Vec<String>) {
    let st = station(move |asdu| match asdu {
        DC_SELECT => select_replies.clone(),
        DC_EXEC => vec![DC_EXEC_CON, DC_EXEC_TERM],
        _ => vec![],
    })
    .await;
    let mut a = DC_ARGS.to_vec();
    a.push("--select");
    let out = st.run(&a).await;
    (out, st.asdus().await)
}

#[tokio::test]
async fn select_before_operate_succeeds() {
    let (out, received) = select_then_execute(vec![DC_SELECT_CON]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout_lines(&out), SBO_DONE);
    assert_eq!(received, [DC_SELECT, DC_EXEC]);
}

#[tokio::test]
async fn a_repeated_select_actcon_is_not_taken_for_the_execute_actcon() {
    // The station confirms the select twice; the second one (S/E = 1) reaches the client
    // while it waits for the ActCon of the execute (S/E = 0) and must not count as it.
    let (out, _) = select_then_execute(vec![DC_SELECT_CON, DC_SELECT_CON]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout_lines(&out), SBO_DONE);
}

#[tokio::test]
async fn rejected_select_exits_1_and_never_executes() {
    // Negative ActCon: 0x47.
    let (out, received) = select_then_execute(vec!["2E 01 47 00 01 00 88 13 00 82"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stdout_lines(&out),
        [
            r#"{"ca":1,"ioa":5000,"type":"C_DC_NA_1","cot":"actcon","negative":true,"value":"on","select":true}"#
        ]
    );
    assert_eq!(received, [DC_SELECT]);
}

#[tokio::test]
async fn unknown_object_address_exits_1() {
    // Cause 47 (0x2F) with P/N: 0x6F.
    let st = station(|asdu| match asdu {
        DC_EXEC => vec!["2E 01 6F 00 01 00 88 13 00 02"],
        _ => vec![],
    })
    .await;
    let out = st.run(&DC_ARGS).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unknown information object address"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn confirmed_command_without_actterm_is_success_with_a_note() {
    let st = station(|asdu| match asdu {
        DC_EXEC => vec![DC_EXEC_CON],
        _ => vec![],
    })
    .await;
    // A short timeout for the ActTerm that never comes.
    let mut a = DC_ARGS[..11].to_vec();
    a.extend_from_slice(&["--timeout", "0.5"]);
    let out = st.run(&a).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("no ActTerm"), "{}", stderr(&out));
    assert_eq!(stdout_lines(&out).len(), 1);
}

#[tokio::test]
async fn set_point_with_time_tag() {
    // C_SE_NB_1 --time → C_SE_TB_1 (62 = 0x3E); SVA -2 = FE FF; QOS 0; then CP56 (any).
    let st = station(|asdu| {
        if asdu.starts_with("3E 01 06 00 01 00 0A 00 00 FE FF 00 ") && asdu.len() == 3 * 19 - 1 {
            vec!["3E 01 07 00 01 00 0A 00 00 FE FF 00 AB 75 0F 0A 18 0B 1A"]
        } else {
            vec![]
        }
    })
    .await;
    let a = [
        "command",
        "--ca",
        "1",
        "--ioa",
        "10",
        "--type",
        "C_SE_NB_1",
        "--value",
        "-2",
        "--time",
        "--no-actterm",
        "--format",
        "json",
    ];
    let out = st.run(&a).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout_lines(&out),
        [
            r#"{"ca":1,"ioa":10,"type":"C_SE_TB_1","cot":"actcon","value":-2,"time":"2026-11-24T10:15:30.123Z"}"#
        ]
    );
}

#[tokio::test]
async fn bad_values_are_usage_errors_without_connecting() {
    let out = run(&[
        "command",
        "127.0.0.1:9",
        "--ca",
        "1",
        "--ioa",
        "1",
        "--type",
        "C_SE_NB_1",
        "--value",
        "40000",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("value 40000 out of range for scaled (-32768..32767)"),
        "{}",
        stderr(&out)
    );
    let out = run(&["interrogate", "127.0.0.1:9", "--t2", "20"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = run(&["interrogate"]).await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn clock_sync_test_counter_and_read() {
    // C_CS_NA_1 (103 = 0x67) act CA 1 IOA 0 with 2026-11-24T10:15:30.123Z: ms 30123 = AB 75,
    // minute 0F, hour 0A, day 24 Tuesday (2 << 5 | 24 = 0x58), month 0B, year 1A.
    const CS: &str = "67 01 06 00 01 00 00 00 00 AB 75 0F 0A 58 0B 1A";
    // C_CI_NA_1 (101 = 0x65): QCC RQT 5 + FRZ 1 << 6 = 0x45; M_IT_NA_1 (15 = 0x0F) reqcogen
    // (37 = 0x25), IOA 3, BCR 100 (64 00 00 00), SQ 1.
    const CI: &str = "65 01 06 00 01 00 00 00 00 45";
    // C_RD_NA_1 (102 = 0x66), cause req (5), IOA 4; answer M_SP_NA_1 req, SIQ 0.
    const RD: &str = "66 01 05 00 01 00 04 00 00";
    // One station accepts one connection: one station per request.
    for (req, want) in [
        (
            vec![
                "clock-sync",
                "--ca",
                "1",
                "--time",
                "2026-11-24T10:15:30.123Z",
            ],
            r#"{"ca":1,"ioa":0,"type":"C_CS_NA_1","cot":"actcon","time":"2026-11-24T10:15:30.123Z"}"#,
        ),
        (
            vec!["counter-interrogate", "--ca", "1", "--freeze", "freeze"],
            r#"{"ca":1,"ioa":3,"type":"M_IT_NA_1","cot":"reqcogen","value":100,"sequence":1,"quality":[]}"#,
        ),
        (
            vec!["read", "--ca", "1", "--ioa", "4"],
            r#"{"ca":1,"ioa":4,"type":"M_SP_NA_1","cot":"req","value":false,"quality":[]}"#,
        ),
    ] {
        let st = station(|asdu| match asdu {
            CS => vec!["67 01 07 00 01 00 00 00 00 AB 75 0F 0A 58 0B 1A"],
            CI => vec![
                "65 01 07 00 01 00 00 00 00 45",
                "0F 01 25 00 01 00 03 00 00 64 00 00 00 01",
                "65 01 0A 00 01 00 00 00 00 45",
            ],
            RD => vec!["01 01 05 00 01 00 04 00 00 00"],
            _ => vec![],
        })
        .await;
        let mut a = req.to_vec();
        a.extend_from_slice(&["--format", "json", "--timeout", "5"]);
        let out = st.run(&a).await;
        assert_eq!(out.status.code(), Some(0), "{req:?}: {}", stderr(&out));
        assert_eq!(stdout_lines(&out), [want], "{req:?}");
    }
}

#[tokio::test]
async fn test_command_is_confirmed() {
    // C_TS_TA_1 (107 = 0x6B), TSC 7 = 07 00, then CP56 of the current time: the station echoes
    // the element with cause actcon.
    let st = station(|asdu| {
        if asdu.starts_with("6B 01 06 00 01 00 00 00 00 07 00 ") {
            vec!["6B 01 07 00 01 00 00 00 00 07 00 AB 75 0F 0A 18 0B 1A"]
        } else {
            vec![]
        }
    })
    .await;
    let out = st
        .run(&["test", "--ca", "1", "--tsc", "7", "--format", "json"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout_lines(&out),
        [
            r#"{"ca":1,"ioa":0,"type":"C_TS_TA_1","cot":"actcon","tsc":7,"time":"2026-11-24T10:15:30.123Z"}"#
        ]
    );
}

#[tokio::test]
async fn monitor_prints_spontaneous_data_and_stops_after_the_duration() {
    // M_SP_NA_1 spont (3), CA 1, IOA 9, SIQ 0x01, sent right after STARTDT con.
    let st = station_with_greeting(&["01 01 03 00 01 00 09 00 00 01"], false, |_| vec![]).await;
    let out = st
        .run(&["monitor", "--duration", "0.5", "--format", "json"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout_lines(&out),
        [r#"{"ca":1,"ioa":9,"type":"M_SP_NA_1","cot":"spont","value":true,"quality":[]}"#]
    );
}

#[tokio::test]
async fn monitor_exits_3_when_the_station_hangs_up() {
    let st = station_with_greeting(&["01 01 03 00 01 00 09 00 00 01"], true, |_| vec![]).await;
    let out = st.run(&["monitor", "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("connection closed by the station"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout_lines(&out).len(), 1);
}

#[tokio::test]
async fn an_undecodable_asdu_is_reported_and_skipped() {
    // M_SP_NA_1 claiming one object but carrying two SIQ octets (length 11, expected 10).
    let st = station(|asdu| match asdu {
        GI_ACT => vec![GI_CON, "01 01 14 00 01 00 05 00 00 01 01", SP_ON, GI_TERM],
        _ => vec![],
    })
    .await;
    let out = st.run(&["interrogate", "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ignoring an undecodable ASDU"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        stdout_lines(&out),
        [r#"{"ca":1,"ioa":1,"type":"M_SP_NA_1","cot":"inrogen","value":true,"quality":[]}"#]
    );
}

#[tokio::test]
async fn help_documents_the_exit_codes() {
    for sub in ["interrogate", "command", "monitor"] {
        let out = run(&[sub, "--help"]).await;
        assert_eq!(out.status.code(), Some(0));
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("Exit codes:"), "{sub}: {help}");
        assert!(
            help.contains("3  connection, timeout or protocol error"),
            "{sub}"
        );
    }
}

#[tokio::test]
async fn a_peer_that_never_answers_startdt_times_out_with_exit_3() {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let peer = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 64];
        // Read and say nothing until the client goes away.
        while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    let out = run(&args(
        &addr,
        &["interrogate", "--timeout", "0.5", "--format", "json"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("timeout: no STARTDT con from"),
        "{}",
        stderr(&out)
    );
    let _ = tokio::time::timeout(BOUND, peer).await;
}

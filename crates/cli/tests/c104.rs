//! The real `iec104` binary against an independent implementation: a c104 (lib60870-C)
//! station, tests/peers/c104_station.py. Skipped (with a note) when python3 cannot import c104, unless
//! IEC104_INTEROP=require, which makes a missing peer a failure.

mod common;

use std::process::Stdio;

use common::{run, stderr, stdout_lines, BOUND};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

struct Peer {
    /// Kept for kill_on_drop; its stdin closing ends the script.
    _child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    addr: String,
}

impl Peer {
    /// The next `CMD {...}` line the station printed.
    async fn command_line(&mut self) -> String {
        let line = tokio::time::timeout(BOUND, self.stdout.next_line())
            .await
            .expect("c104 station printed nothing")
            .unwrap()
            .unwrap_or_default();
        line
    }
}

async fn c104_station() -> Option<Peer> {
    let has_c104 = Command::new("python3")
        .args(["-c", "import c104"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success());
    if !has_c104 {
        // Under IEC104_INTEROP=require (CI) a missing peer is a failure, not a skip.
        if std::env::var("IEC104_INTEROP").as_deref() == Ok("require") {
            panic!("python3 with the c104 package is missing and IEC104_INTEROP=require");
        }
        eprintln!("skipped: python3 with the c104 package is not available");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/c104_station.py");
    let mut child = Command::new("python3")
        .args([script, &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(BOUND, stdout.next_line())
        .await
        .expect("c104 station did not start")
        .unwrap();
    assert_eq!(ready, Some(format!("READY {port}")));
    Some(Peer {
        _child: child,
        stdout,
        addr: format!("127.0.0.1:{port}"),
    })
}

#[tokio::test]
async fn interrogation_commands_and_refusals_against_c104() {
    let Some(mut peer) = c104_station().await else {
        return;
    };
    let addr = peer.addr.clone();

    // Station interrogation: the three points, values as given to c104 in the script.
    let out = run(&["interrogate", &addr, "--ca", "1", "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut lines = stdout_lines(&out);
    lines.sort();
    assert_eq!(
        lines,
        [
            r#"{"ca":1,"ioa":101,"type":"M_SP_NA_1","cot":"inrogen","value":true,"quality":[]}"#,
            r#"{"ca":1,"ioa":1301,"type":"M_ME_NC_1","cot":"inrogen","value":21.5,"quality":[]}"#,
            r#"{"ca":1,"ioa":3101,"type":"M_DP_TB_1","cot":"inrogen","value":"off","quality":["BL"],"time":"2026-11-24T10:15:30.123Z"}"#,
        ]
    );

    // Unknown common address: c104 2.2.1 answers with a negative ActCon (cause 7 with P/N),
    // not with cause 46; a negative outcome either way.
    let out = run(&["interrogate", &addr, "--ca", "9", "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("C_IC_NA_1 refused by the station (CA 9, IOA 0)"),
        "{}",
        stderr(&out)
    );

    // Select before operate on the double command point.
    let out = run(&[
        "command",
        &addr,
        "--ca",
        "1",
        "--ioa",
        "4601",
        "--type",
        "C_DC_NA_1",
        "--value",
        "on",
        "--select",
        "--format",
        "json",
        "--timeout",
        "3",
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = stdout_lines(&out);
    assert_eq!(
        lines.first().map(String::as_str),
        Some(r#"{"ca":1,"ioa":4601,"type":"C_DC_NA_1","cot":"actcon","value":"on","select":true}"#),
        "{lines:?}"
    );
    assert_eq!(
        lines.get(1).map(String::as_str),
        Some(r#"{"ca":1,"ioa":4601,"type":"C_DC_NA_1","cot":"actcon","value":"on"}"#),
        "{lines:?}"
    );
    // c104 handles the select itself and calls the script on the execute only.
    assert_eq!(
        peer.command_line().await,
        r#"CMD {"ioa": 4601, "select": false}"#
    );

    // A direct set-point, accepted. c104 sends no ActTerm for it: success with a note after
    // the timeout.
    let out = run(&[
        "command",
        &addr,
        "--ca",
        "1",
        "--ioa",
        "4901",
        "--type",
        "C_SE_NB_1",
        "--value",
        "-1234",
        "--format",
        "json",
        "--timeout",
        "1",
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no ActTerm of C_SE_NB_1"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        peer.command_line().await,
        r#"CMD {"ioa": 4901, "select": false}"#
    );

    // A command the station refuses: negative ActCon, exit 1.
    let out = run(&[
        "command",
        &addr,
        "--ca",
        "1",
        "--ioa",
        "4701",
        "--type",
        "C_SC_NA_1",
        "--value",
        "on",
        "--format",
        "json",
        "--timeout",
        "3",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("C_SC_NA_1 refused by the station"),
        "{}",
        stderr(&out)
    );

    // A command to an address the station does not have: c104 2.2.1 answers with a negative
    // ActCon too (not cause 47).
    let out = run(&[
        "command",
        &addr,
        "--ca",
        "1",
        "--ioa",
        "999",
        "--type",
        "C_SC_NA_1",
        "--value",
        "on",
        "--format",
        "json",
        "--timeout",
        "3",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("C_SC_NA_1 refused by the station (CA 1, IOA 999)"),
        "{}",
        stderr(&out)
    );
}

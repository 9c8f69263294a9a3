//! The real `iec104` binary against an independent implementation: the workspace's c104
//! (lib60870-C) station, `crates/testkit/peers/c104_station.py`, serving three monitor points.
//! A missing peer follows the one rule of `testkit::interop` (skipped with a note, or a failure
//! under IEC104_INTEROP=require).

mod common;

use common::{run, stderr, stdout_lines, BOUND};
use testkit::peer::PeerProcess;

struct Peer {
    station: PeerProcess,
    addr: String,
    _dir: testkit::Scratch,
}

impl Peer {
    /// The next `CMD {...}` line the station printed: (ioa, select).
    async fn command_line(&mut self) -> (u64, bool) {
        let line = self.station.wait_line("CMD ", BOUND).await;
        let cmd: serde_json::Value =
            serde_json::from_str(line.trim_start_matches("CMD ")).expect("CMD JSON");
        (
            cmd["ioa"].as_u64().expect("ioa"),
            cmd["select"].as_bool().expect("select"),
        )
    }
}

/// `iec104 command ADDR --ca 1 --ioa IOA --type TYPE --value VALUE --format json EXTRA...`.
async fn command(
    addr: &str,
    ioa: u32,
    type_name: &str,
    value: &str,
    extra: &[&str],
) -> std::process::Output {
    let ioa = ioa.to_string();
    let mut args = vec![
        "command", addr, "--ca", "1", "--ioa", &ioa, "--type", type_name, "--value", value,
        "--format", "json",
    ];
    args.extend_from_slice(extra);
    run(&args).await
}

async fn c104_station() -> Option<Peer> {
    testkit::require_peer("c104").ok()?;
    let dir = testkit::scratch("cli-c104");
    let port = testkit::free_port();
    let station = PeerProcess::c104_station(
        port,
        1,
        &dir.join("expected.json"),
        &["--only", "101,1303,3101"],
        BOUND,
    )
    .await;
    Some(Peer {
        station,
        addr: format!("127.0.0.1:{port}"),
        _dir: dir,
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
            r#"{"ca":1,"ioa":1303,"type":"M_ME_NC_1","cot":"inrogen","value":21.5,"quality":[]}"#,
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
    let out = command(
        &addr,
        4601,
        "C_DC_NA_1",
        "on",
        &["--select", "--timeout", "3"],
    )
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
    assert_eq!(peer.command_line().await, (4601, false));

    // A direct set-point, accepted. c104 sends no ActTerm for it: success with a note after
    // the timeout.
    let out = command(&addr, 4901, "C_SE_NB_1", "-1234", &["--timeout", "1"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no ActTerm of C_SE_NB_1"),
        "{}",
        stderr(&out)
    );
    assert_eq!(peer.command_line().await, (4901, false));

    // A command the station refuses: negative ActCon, exit 1.
    let out = command(&addr, 4701, "C_SC_NA_1", "on", &["--timeout", "3"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("C_SC_NA_1 refused by the station"),
        "{}",
        stderr(&out)
    );

    // A command to an address the station does not have: c104 2.2.1 answers with a negative
    // ActCon too (not cause 47).
    let out = command(&addr, 999, "C_SC_NA_1", "on", &["--timeout", "3"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("C_SC_NA_1 refused by the station (CA 1, IOA 999)"),
        "{}",
        stderr(&out)
    );
}

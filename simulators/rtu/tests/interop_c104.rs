//! A c104 (lib60870-C) controlling station against the simulator: STARTDT, station
//! interrogation, a select-before-operate double command with ActTerm, and one command of every
//! type c104 can send. The peer is `crates/testkit/peers/c104_client.py`.
//!
//! A missing python3 with c104 follows the one rule of `testkit::interop` (skipped with a
//! note, or a failure under `IEC104_INTEROP=require`).

mod common;

use std::collections::BTreeSet;
use std::process::Stdio;

use common::*;
use serde_json::Value;

const STATION: &str = r#"
[[station]]
name = "c104-peer"
ca = 47
rate = 0.0
# c104 2.2.1's client loses an answer that arrives within microseconds of its command (a lost
# wake-up, see docs/interop-findings.md): every response waits 100 ms, like a real RTU.
fault = [{ kind = "delay_responses", at = 0.0, delay_ms = 100 }]
point = [
  { ioa = 4600, type = "M_DP_TB_1", value = "off" },
  { ioa = 4601, type = "C_DC_NA_1", drives = 4600, delay_ms = 100, sbo = true },
  { ioa = 1, type = "M_SP_NA_1", value = true },
  { ioa = 2, type = "M_ME_NC_1", value = 230.5 },
  { ioa = 3, type = "M_ME_TF_1", value = 49.98 },
  { ioa = 4, type = "M_ME_NB_1", value = -42 },
  { ioa = 5, type = "M_ST_NA_1", value = 9 },
  { ioa = 6, type = "M_BO_NA_1", value = 258 },
  { ioa = 6045, type = "C_SC_NA_1" },
  { ioa = 6046, type = "C_DC_NA_1" },
  { ioa = 6047, type = "C_RC_NA_1" },
  { ioa = 6048, type = "C_SE_NA_1" },
  { ioa = 6049, type = "C_SE_NB_1" },
  { ioa = 6050, type = "C_SE_NC_1" },
  { ioa = 6051, type = "C_BO_NA_1" },
  { ioa = 6058, type = "C_SC_TA_1" },
  { ioa = 6059, type = "C_DC_TA_1" },
  { ioa = 6060, type = "C_RC_TA_1" },
  { ioa = 6061, type = "C_SE_TA_1" },
  { ioa = 6062, type = "C_SE_TB_1" },
  { ioa = 6063, type = "C_SE_TC_1" },
  { ioa = 6064, type = "C_BO_TA_1" },
]
"#;

#[tokio::test]
async fn c104_client_against_the_simulator() {
    if testkit::require_peer("c104").is_err() {
        return;
    }
    let dir = scratch("c104");
    let port = free_port();
    let file = scenario(&dir, STATION);
    let listen = format!("127.0.0.1:{port}");
    let sim = Sim::start(&["--config", &file, "--listen", &listen]).await;
    let out = tokio::time::timeout(
        BOUND * 3,
        tokio::process::Command::new("python3")
            .arg(testkit::peer::script("c104_client.py"))
            .args([
                "127.0.0.1",
                &port.to_string(),
                "47",
                "4601",
                "--timeout",
                "10",
                "--all-commands",
            ])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the c104 client ends within the bound")
    .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let failed: Vec<&Value> = lines
        .iter()
        .filter(|l| l["kind"] == "step" && l["ok"] != true)
        .collect();
    assert!(
        failed.is_empty() && out.status.success(),
        "failed steps {failed:#?}\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // c104 decoded exactly the monitored points in the interrogation answer.
    let interrogated: BTreeSet<u64> = lines
        .iter()
        .filter(|l| l["kind"] == "object" && l["cot"] == "INTERROGATED_BY_STATION")
        .filter_map(|l| l["ioa"].as_u64())
        .collect();
    assert_eq!(
        interrogated,
        BTreeSet::from([1, 2, 3, 4, 5, 6, 4600]),
        "{stdout}"
    );
    let value = |ioa: u64| {
        lines
            .iter()
            .find(|l| l["kind"] == "object" && l["ioa"] == ioa)
            .map(|l| l["value"].clone())
            .unwrap_or(Value::Null)
    };
    // (The peer script turns c104's numbers into floats.)
    assert_eq!(value(1), Value::from(true));
    assert_eq!(value(2).as_f64(), Some(230.5));
    assert_eq!(value(4).as_f64(), Some(-42.0));
    assert_eq!(value(5).as_f64(), Some(9.0));
    // The breaker switched on (DPI 2), reported with COT return remote.
    assert!(
        lines.iter().any(|l| l["kind"] == "object"
            && l["ioa"] == 4600
            && l["value"].as_f64() == Some(2.0)
            && l["cot"] == "RETURN_INFO_REMOTE"),
        "{stdout}"
    );
    sim.terminate().await;
}

//! The independent Sparkplug B implementations the tests check against, found by the test
//! kit's one rule for peers (skipped with the reason printed, or a failure under
//! `IEC104_INTEROP=require`):
//! - Eclipse Tahu's JavaScript codec (npm `sparkplug-payload`, installed by `npm ci` in
//!   `crates/sparkplug/tests/tahu`, see `.ci/run`): it decodes what the edge node publishes
//!   and encodes the host's DCMDs;
//! - pysparkplug (python), a host application (`tests/sparkplug_host/host.py`).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

/// The folder of Tahu's `decode.js`/`encode.js` and their `node_modules`.
pub fn tahu_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/sparkplug/tests/tahu")
}

/// Whether Tahu's codec can run here: node, and the npm package installed.
pub fn tahu_available() -> bool {
    if testkit::require_peer("node").is_err() {
        return false;
    }
    let package = tahu_dir().join("node_modules/sparkplug-payload");
    let installed = if package.is_dir() {
        Ok(())
    } else {
        Err(format!(
            "{} is missing (npm ci --no-audit --no-fund in {})",
            package.display(),
            tahu_dir().display()
        ))
    };
    testkit::interop::require("Eclipse Tahu's sparkplug-payload", installed).is_ok()
}

/// Whether python3 with pysparkplug can run here.
pub fn pysparkplug_available() -> bool {
    let Ok(python) = testkit::require_peer("python3") else {
        return false;
    };
    let imports = Command::new(python)
        .args(["-c", "import pysparkplug"])
        .output()
        .is_ok_and(|o| o.status.success());
    let found = if imports {
        Ok(())
    } else {
        Err("python3 cannot import pysparkplug (pip install pysparkplug==0.6.1)".to_owned())
    };
    testkit::interop::require("pysparkplug", found).is_ok()
}

/// Runs Tahu's `script` with `input` on stdin; its stdout. Panics when it fails.
fn run_tahu(script: &str, input: &str) -> String {
    let mut child = Command::new("node")
        .arg(tahu_dir().join(script))
        .current_dir(tahu_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("node {script}: {e}"));
    let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
    stdin
        .write_all(input.as_bytes())
        .unwrap_or_else(|e| panic!("write to {script}: {e}"));
    drop(stdin);
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("node {script}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script} failed ({}): {stdout}",
        out.status
    );
    stdout
}

/// Each payload decoded by Tahu (`raw`: the protobuf message as protobufjs reads it). Panics
/// when Tahu cannot decode one.
pub fn tahu_decode(payloads: &[&[u8]]) -> Vec<Value> {
    let mut input = String::new();
    for p in payloads {
        input.extend(p.iter().map(|b| format!("{b:02x}")));
        input.push('\n');
    }
    let lines: Vec<Value> = run_tahu("decode.js", &input)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), payloads.len(), "one line per payload");
    for l in &lines {
        assert!(l.get("error").is_none(), "Tahu could not decode: {l}");
    }
    lines
}

/// A payload encoded by Tahu's `encodePayload` from its JSON object form.
pub fn tahu_encode(payload: &Value) -> Vec<u8> {
    let hex = run_tahu("encode.js", &format!("{payload}\n"))
        .trim()
        .to_owned();
    assert!(!hex.starts_with('{'), "encode.js: {hex}");
    assert!(hex.len() % 2 == 0, "encode.js: odd hex {hex}");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or_else(|e| panic!("{e}: {hex}")))
        .collect()
}

//! The command line in cluster mode: `check --node-id` prints the cluster settings, bad
//! `[cluster]` values are reported with line and column, and the systemd template unit
//! verifies.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_iec104-gateway");

use testkit::scratch;

const CONFIG: &str = r#"[mqtt]
url = "mqtt://127.0.0.1:1883"
topic_prefix = "plant"

[cluster]
standby = 1
heartbeat = 2
handover_timeout = 4.0

[[rtu]]
name = "sub1"
address = "127.0.0.1:2404"
common_address = 1
preferred_node = "gw-b"
"#;

fn check(text: &str, extra: &[&str]) -> (bool, String, String) {
    let dir = scratch("check");
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(BIN)
        .arg("check")
        .arg("--config")
        .arg(&path)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_prints_the_cluster_settings() {
    let (ok, out, err) = check(CONFIG, &["--node-id", "gw-a"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("cluster: node \"gw-a\", 1 standby node(s) per RTU, heartbeat 2 s"),
        "{out}"
    );
    assert!(out.contains("handover timeout 4s"), "{out}");
    assert!(out.contains("plant/_cluster/gw-a"), "{out}");
    assert!(out.contains("preferred node: gw-b"), "{out}");
    // The heartbeat is under the 5 s the MQTT 5 client accepts: said so.
    assert!(out.contains("MQTT 3.1.1"), "{out}");
    // The same file for another node: another id, the same configuration hash.
    let hash = |o: &str| {
        o.split("config hash ")
            .nth(1)
            .map(|h| h.chars().take(16).collect::<String>())
            .unwrap()
    };
    let (_, out_b, _) = check(CONFIG, &["--node-id", "gw-b"]);
    assert!(out_b.contains("node \"gw-b\""), "{out_b}");
    assert_eq!(hash(&out), hash(&out_b));
    // Without [cluster]: no cluster line.
    let alone = CONFIG
        .replace(
            "[cluster]\nstandby = 1\nheartbeat = 2\nhandover_timeout = 4.0\n",
            "",
        )
        .replace("preferred_node = \"gw-b\"\n", "");
    let (ok, out, err) = check(&alone, &[]);
    assert!(ok, "{err}");
    assert!(!out.contains("cluster"), "{out}");
}

#[test]
fn bad_cluster_values_are_errors_with_line_and_column() {
    let (ok, _, err) = check(&CONFIG.replace("heartbeat = 2", "heartbeat = 0"), &[]);
    assert!(!ok);
    // `heartbeat = 0` is line 7; its value starts at column 13.
    assert!(err.contains("gateway.toml:7:13: heartbeat = 0"), "{err}");
    let (ok, _, err) = check(CONFIG, &["--node-id", "gw/a"]);
    assert!(!ok);
    assert!(err.contains("--node-id"), "{err}");
}

#[test]
fn systemd_template_unit_verifies() {
    // The one peer rule: skipped with a note, or a failure under IEC104_INTEROP=require.
    let Ok(analyze) = testkit::require_peer("systemd-analyze") else {
        return;
    };
    let dir = scratch("unit");
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../systemd/iec104-gateway@.service"
    ))
    .unwrap();
    assert!(unit.contains("--node-id %i"));
    let unit = unit.replace("/usr/bin/iec104-gateway", BIN);
    std::fs::write(dir.join("iec104-gateway@.service"), unit).unwrap();
    // An instance of the template: a symlink named after the node.
    std::os::unix::fs::symlink(
        "iec104-gateway@.service",
        dir.join("iec104-gateway@gw-a.service"),
    )
    .unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg(dir.join("iec104-gateway@gw-a.service"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !err.contains("iec104-gateway@"),
        "{err}"
    );
}

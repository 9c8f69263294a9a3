//! The demo against outside clients: a bare `mosquitto_sub` (no client id) receives data over
//! MQTT 3.1.1 and MQTT 5, and Debian's chromium shows the status page with live values.
//!
//! Peers: `mosquitto_sub`/`mosquitto_pub` and `chromium`. Missing ones skip the test with a
//! printed reason, or fail it under `IEC104_INTEROP=require`. Every wait ends at the latest
//! when the bounded demo run (`--duration`) ends.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_iec104-gateway");

/// Whether `peer` can run; panics under `IEC104_INTEROP=require` when it cannot.
pub fn peer(peer: &str) -> bool {
    let found = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {peer}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var("IEC104_INTEROP").as_deref() == Ok("require") {
            panic!("IEC104_INTEROP=require but {peer} is missing");
        }
        eprintln!("skipped: {peer} is not installed (IEC104_INTEROP=require makes this a failure)");
    }
    found
}

/// A bounded demo run and what it printed.
pub struct Demo {
    child: Child,
    /// The MQTT port of the embedded broker.
    pub mqtt_port: u16,
    /// The status page address (`http://127.0.0.1:…/`).
    pub page: String,
}

impl Demo {
    /// Starts `iec104-gateway demo --duration <seconds>` on free ports and reads its banner.
    pub async fn start(seconds: u32) -> Demo {
        let mut child = Command::new(BIN)
            .args([
                "demo",
                "--duration",
                &seconds.to_string(),
                "--mqtt-port",
                "0",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut mqtt_port, mut page) = (None, None);
        while mqtt_port.is_none() || page.is_none() {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("the demo ended before printing its addresses");
            if let Some(p) = line.split("MQTT broker (embedded): 127.0.0.1:").nth(1) {
                mqtt_port = p.trim().parse().ok();
            }
            if let Some(u) = line.split("status page: ").nth(1) {
                page = Some(u.trim().to_owned());
            }
        }
        // Keep reading so the demo never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Demo {
            child,
            mqtt_port: mqtt_port.unwrap(),
            page: page.unwrap(),
        }
    }

    /// Runs `cmd` to completion, or panics when the demo ends first.
    pub async fn output(&mut self, cmd: &mut Command) -> String {
        let run = cmd.kill_on_drop(true).stderr(Stdio::inherit()).output();
        tokio::select! {
            out = run => String::from_utf8_lossy(&out.unwrap().stdout).into_owned(),
            status = self.child.wait() => panic!("the demo ended ({status:?}) before {cmd:?} finished"),
        }
    }
}

/// A scratch directory for this test's files (kept: screenshots are looked at).
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("iec104gw-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn a_bare_mosquitto_sub_receives_data_over_mqtt_3_1_1_and_5() {
    if !peer("mosquitto_sub") {
        return;
    }
    let mut demo = Demo::start(60).await;
    let port = demo.mqtt_port.to_string();
    for version in [&[][..], &["-V", "5"][..]] {
        let out = demo
            .output(
                Command::new("mosquitto_sub")
                    .args([
                        "-h",
                        "127.0.0.1",
                        "-p",
                        &port,
                        "-t",
                        "iec104/#",
                        "-v",
                        "-C",
                        "3",
                    ])
                    .args(version),
            )
            .await;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{version:?}: {out}");
        for l in lines {
            let (topic, payload) = l.split_once(' ').unwrap();
            assert!(topic.starts_with("iec104/"), "{l}");
            let _: serde_json::Value = serde_json::from_str(payload).unwrap();
        }
    }
}

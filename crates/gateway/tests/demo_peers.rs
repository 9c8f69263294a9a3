//! The demo against outside clients: a bare `mosquitto_sub` (no client id) receives data over
//! MQTT 3.1.1 and MQTT 5, and Debian's chromium shows the status page with live values.
//!
//! Peers: `mosquitto_sub`/`mosquitto_pub` and `chromium`. Missing ones skip the test with a
//! printed reason, or fail it under `IEC104_INTEROP=require` (testkit's rule). Every wait ends
//! at the latest when the bounded demo run (`--duration`) ends.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_iec104-gateway");

/// Whether `peer` can run, by the one rule of the test kit (`testkit::require_peer`): skipped
/// with a printed reason, or a failure under `IEC104_INTEROP=require`.
pub fn peer(peer: &str) -> bool {
    testkit::require_peer(peer).is_ok()
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

    /// Runs `f` to completion, or panics when the demo ends first.
    pub async fn until<T>(&mut self, f: impl std::future::Future<Output = T>) -> T {
        tokio::select! {
            v = f => v,
            status = self.child.wait() => panic!("the demo ended ({status:?}) first"),
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
                        "20",
                    ])
                    .args(version),
            )
            .await;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 20, "{version:?}: {out}");
        let mut data = 0;
        for l in lines {
            let (topic, payload) = l.split_once(' ').unwrap();
            assert!(topic.starts_with("iec104/"), "{l}");
            let v: serde_json::Value = serde_json::from_str(payload).unwrap();
            // A data message (not only the retained statuses): an object with its cause.
            if v.get("cot").is_some() && v.get("value").is_some() {
                data += 1;
            }
        }
        assert!(data > 0, "{version:?}: no data message in {out}");
    }
}

#[path = "support/cdp.rs"]
mod cdp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shows_rtu_states_live_values_and_a_command_outcome() {
    if !peer("chromium") || !peer("mosquitto_pub") {
        return;
    }
    // Kept after the test: its screenshots are looked at.
    let dir = testkit::scratch("status-page").into_kept();
    let mut demo = Demo::start(300).await;
    let port = demo.mqtt_port.to_string();
    let page = demo.page.clone();
    let mut b = cdp::Browser::start(&dir, 1280, 900).await;
    let shots = demo
        .until(async {
            b.navigate(&page).await;
            eprintln!("page opened");
            // Every RTU of the demo is shown started.
            let started = b
                .wait_for("document.querySelectorAll('#rtus tr[data-rtu] td.state .badge.started').length === 3 && 3")
                .await;
            assert_eq!(started, 3);
            eprintln!("every RTU started");
            // The printed command line: select breaker Q0 of line Süd. Sent once the RTUs are
            // started (the gateway has subscribed by then: a QoS 0 command published before
            // that is dropped by the broker, which made this test wait for nothing under load).
            let sent = Command::new("mosquitto_pub")
                .args([
                    "-i",
                    "operator",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-t",
                    "iec104/uw-nord/line_sued_q0_cmd/command",
                    "-m",
                    r#"{"type":"C_DC_NA_1","value":"off","select":true,"id":"op-1"}"#,
                ])
                .kill_on_drop(true)
                .status()
                .await
                .expect("mosquitto_pub");
            assert!(sent.success(), "mosquitto_pub: {sent:?}");
            // The command's outcome is in the log (live, from the server-sent events).
            let outcome = b
                .wait_for("(document.querySelector('#commands tr[data-id=\"op-1\"] td.outcome .badge') || {}).textContent")
                .await;
            eprintln!("command outcome {outcome}");
            let outcome = outcome.as_str().unwrap_or_default().to_owned();
            assert!(
                ["confirmed", "terminated", "rejected", "timeout", "invalid"].contains(&outcome.as_str()),
                "{outcome}"
            );
            // Live: the overview's RTU rows are replaced by server-sent deltas.
            b.wait_for("Number(document.body.dataset.updates) > 0").await;
            eprintln!("live updates seen");
            let overview = b.screenshot(&dir.join("overview.png")).await;
            // The RTU page: points with values; one changes live (its row replaced by a delta).
            b.navigate(&format!("{page}#/rtu/uw-nord")).await;
            b.wait_for("document.querySelectorAll('#points tr[data-key]').length > 10").await;
            let before = b
                .eval("Number(document.body.dataset.updates)")
                .await
                .as_u64()
                .unwrap_or(0);
            let changed = b
                .wait_for(&format!(
                    "Number(document.body.dataset.updates) > {before} && (document.querySelector('#points tr.flash[data-key] td.value') || {{}}).textContent"
                ))
                .await;
            assert!(changed.is_string(), "{changed}");
            let rtu = b.screenshot(&dir.join("rtu.png")).await;
            // Phone width: the same page, narrow.
            b.call(
                "Emulation.setDeviceMetricsOverride",
                serde_json::json!({"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": true}),
            )
            .await;
            b.navigate(&page).await;
            b.wait_for("document.querySelectorAll('#rtus tr[data-rtu] td.state .badge.started').length === 3").await;
            let phone = b.screenshot(&dir.join("phone.png")).await;
            [overview, rtu, phone]
        })
        .await;
    // Keep the screenshots, not chromium's profile (tens of MB).
    drop(b);
    let _ = std::fs::remove_dir_all(dir.join("chromium-profile"));
    for s in shots {
        assert!(
            std::fs::metadata(&s).unwrap().len() > 1000,
            "{}",
            s.display()
        );
        eprintln!("screenshot: {}", s.display());
    }
}

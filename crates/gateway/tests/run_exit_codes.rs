//! `iec104-gateway run` ends with the documented exit codes (docs/gateway.md): 2 for an invalid
//! configuration, 1 for a failure at run time (the queue cannot be opened), 0 after SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use testkit::{scratch, Signal};
use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_iec104-gateway");

/// Every wait ends within this.
const BOUND: Duration = Duration::from_secs(30);

/// A configuration with one RTU and a broker that is not there (the gateway keeps trying).
fn config(store_path: &std::path::Path) -> String {
    format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:{}\"\ntopic_prefix = \"t\"\n\n[gateway]\nnode = \"gw-exit\"\n\
         store_path = \"{}\"\n\n[[rtu]]\nname = \"a\"\naddress = \"127.0.0.1:{}\"\ncommon_address = 1\n",
        testkit::free_port(),
        store_path.display(),
        testkit::free_port(),
    )
}

/// Runs `iec104-gateway run --config FILE` to its end (bounded): exit code and stderr.
async fn run_to_end(config_text: &str, dir: &std::path::Path) -> (Option<i32>, String) {
    let file = dir.join("gw.toml");
    std::fs::write(&file, config_text).expect("write config");
    let out = tokio::time::timeout(
        BOUND,
        tokio::process::Command::new(BIN)
            .args(["run", "--config"])
            .arg(&file)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the gateway ends by itself")
    .expect("run the gateway");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn an_invalid_configuration_exits_2_naming_the_key() {
    let dir = scratch("exit-2");
    let text = config(&dir.join("q.redb")).replace("topic_prefix", "topic_prefx");
    let (code, err) = run_to_end(&text, &dir).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("topic_prefx"), "{err}");
}

#[tokio::test]
async fn a_queue_that_cannot_be_opened_exits_1() {
    let dir = scratch("exit-1");
    // The queue's folder is a regular file: nothing can be created below it.
    let blocker = dir.join("not-a-folder");
    std::fs::write(&blocker, "x").expect("write");
    let (code, err) = run_to_end(&config(&blocker.join("q.redb")), &dir).await;
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("not-a-folder"),
        "the message names the path: {err}"
    );
}

#[tokio::test]
async fn sigterm_ends_a_running_gateway_with_0() {
    let dir = scratch("exit-0");
    let file = dir.join("gw.toml");
    std::fs::write(&file, config(&dir.join("q.redb"))).expect("write config");
    let mut child = tokio::process::Command::new(BIN)
        .args(["run", "--config"])
        .arg(&file)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the gateway");
    // Running: it said so (the broker is unreachable; it keeps trying).
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    let running = tokio::time::timeout(BOUND, async {
        while let Ok(Some(l)) = lines.next_line().await {
            let done = l.contains("gateway running");
            seen.push(l);
            if done {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(running, Ok(true), "{seen:#?}");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let status = testkit::signal::signal_and_wait(&mut child, Signal::Term, BOUND)
        .await
        .expect("the gateway ends after SIGTERM");
    assert_eq!(status.code(), Some(0), "{status:?}");
}

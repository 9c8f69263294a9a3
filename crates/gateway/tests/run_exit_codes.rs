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
    config_with(store_path, testkit::free_port(), "")
}

/// [`config`] with the broker on `broker_port` and `gateway_extra` in `[gateway]`.
fn config_with(store_path: &std::path::Path, broker_port: u16, gateway_extra: &str) -> String {
    format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:{broker_port}\"\ntopic_prefix = \"t\"\n\n[gateway]\n\
         node = \"gw-exit\"\nstore_path = \"{}\"\n{gateway_extra}\n\n[[rtu]]\nname = \"a\"\n\
         address = \"127.0.0.1:{}\"\ncommon_address = 1\n",
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

/// `/ready` answers 503 while the broker was never reached, 200 once it was (docs/gateway.md);
/// `/health` answers 200 throughout.
#[tokio::test]
async fn ready_is_503_until_the_broker_is_reached() {
    let Ok(_) = testkit::require_peer("mosquitto") else {
        return;
    };
    let dir = scratch("ready");
    let broker_port = testkit::free_port();
    let http = testkit::free_port();
    let listen = format!("http_listen = \"127.0.0.1:{http}\"");
    let text = config_with(&dir.join("q.redb"), broker_port, &listen);
    let file = dir.join("gw.toml");
    std::fs::write(&file, &text).expect("write config");
    let _gateway = tokio::process::Command::new(BIN)
        .args(["run", "--config"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the gateway");
    let status_of = |path: &'static str| async move {
        testkit::http_get(http, path, Duration::from_secs(5))
            .await
            .map(|r| r.status)
    };
    // Until the HTTP endpoint answers at all.
    let end = tokio::time::Instant::now() + BOUND;
    let first = loop {
        match status_of("/ready").await {
            Ok(s) => break s,
            Err(e) => assert!(tokio::time::Instant::now() < end, "no HTTP: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(first, 503, "ready without a broker");
    assert_eq!(status_of("/health").await, Ok(200));
    // The broker comes; the gateway reaches it and is ready.
    let _broker = testkit::mosquitto::Broker::start_on(&dir, broker_port, String::new()).await;
    let end = tokio::time::Instant::now() + Duration::from_secs(90);
    while status_of("/ready").await != Ok(200) {
        assert!(
            tokio::time::Instant::now() < end,
            "not ready after the broker came"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

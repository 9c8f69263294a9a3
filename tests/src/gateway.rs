//! The gateway binary as a child process.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// The built `iec104-gateway` binary (see [`built`]).
pub fn binary() -> PathBuf {
    built("iec104-gateway", "iec104-gateway")
}

/// The binary `bin` of workspace package `package` in target/<profile>/ next to this test's
/// deps directory, built with cargo once per test process.
pub fn built(package: &str, bin: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    // Tests run from target/<profile>/deps, programs (benchmarks) from target/<profile>.
    let parent = exe.parent().expect("exe dir");
    let dir = if parent.ends_with("deps") {
        parent.parent().expect("target dir").to_owned()
    } else {
        parent.to_owned()
    };
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut done = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if !done.iter().any(|b| b == bin) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["build", "-p", package, "--bin", bin]);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("cargo build");
        assert!(status.success(), "building {bin} failed");
        done.push(bin.to_owned());
    }
    dir.join(bin)
}

/// A running gateway.
pub struct Gateway {
    child: Child,
}

impl Gateway {
    /// Writes `config` to `dir/gateway.toml` and starts `run --config` on it.
    pub fn start(dir: &Path, config: &str) -> Gateway {
        let path = dir.join("gateway.toml");
        std::fs::write(&path, config).expect("write config");
        let child = Command::new(binary())
            .args(["run", "--config"])
            .arg(&path)
            .env("RUST_LOG", "info,rumqttc=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start gateway");
        Gateway { child }
    }

    /// SIGKILL: no chance to flush or say goodbye.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// SIGTERM and wait (at most 10 s).
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// Runs `iec104-gateway check --config` on `config`: (exit code, stdout, stderr).
pub fn check(dir: &Path, config: &str) -> (i32, String, String) {
    let path = dir.join("check.toml");
    std::fs::write(&path, config).expect("write config");
    let out = std::process::Command::new(binary())
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .expect("run check");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

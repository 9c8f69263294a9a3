//! The gateway: in-process from the library, or its command line as a child process.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// The gateway's command line (`iec104-gateway`, built from the same source as `e2e-gateway`
/// by this package).
pub fn binary() -> PathBuf {
    sibling("e2e-gateway")
}

/// The simulator's command line (`iec104-sim`, built as `e2e-sim` by this package).
pub fn simulator() -> PathBuf {
    sibling("e2e-sim")
}

/// A binary of this package in target/<profile>/: cargo builds them before it runs this
/// package's tests; benchmarks (themselves in target/<profile>/) find them next to
/// themselves after `cargo build --release -p iec104-e2e`.
pub fn sibling(bin: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    // Tests run from target/<profile>/deps, programs (benchmarks) from target/<profile>.
    let parent = exe.parent().expect("exe dir");
    let dir = if parent.ends_with("deps") {
        parent.parent().expect("target dir").to_owned()
    } else {
        parent.to_owned()
    };
    let path = dir.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p iec104-e2e --bins` (with --release for benchmarks)",
        path.display()
    );
    path
}

/// A gateway started in-process from the library (on the test's runtime).
pub struct Gateway {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Gateway {
    /// Writes `config` to `dir/gateway.toml` and starts a gateway on it in this process.
    pub fn start(dir: &Path, config: &str) -> Gateway {
        let path = dir.join("gateway.toml");
        std::fs::write(&path, config).expect("write config");
        let loaded = iec104_gateway::parse(config, &path.display().to_string())
            .unwrap_or_else(|e| panic!("gateway configuration: {e}"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let gateway = iec104_gateway::start(loaded)
                .await
                .unwrap_or_else(|e| panic!("gateway start: {e}"));
            gateway
                .run_until(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Gateway {
            stop: Some(stop),
            task,
        }
    }

    /// Stops it in order, as SIGTERM does (waits at most 10 s).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
    }
}

/// A gateway as a child process (for tests that kill or signal it).
pub struct GatewayProcess {
    child: Child,
}

impl GatewayProcess {
    /// Writes `config` to `dir/gateway.toml` and starts `run --config` on it.
    pub fn start(dir: &Path, config: &str) -> GatewayProcess {
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
        GatewayProcess { child }
    }

    /// Its process id (`None` once reaped).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Whether it has exited (reaps it then).
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
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

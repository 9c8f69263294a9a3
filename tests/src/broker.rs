//! A real broker: mosquitto on 127.0.0.1 with a generated configuration (persistence on, so
//! that a restart keeps the subscribers' sessions).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// Path of mosquitto.
pub const MOSQUITTO: &str = "/usr/sbin/mosquitto";

/// Whether the tests may run: mosquitto present, or fail when `IEC104_INTEROP=require`.
pub fn available() -> bool {
    let present = std::path::Path::new(MOSQUITTO).exists();
    let mode = std::env::var("IEC104_INTEROP").unwrap_or_default();
    if mode == "skip" {
        eprintln!("IEC104_INTEROP=skip: broker tests skipped");
        return false;
    }
    if !present {
        assert!(
            mode != "require",
            "IEC104_INTEROP=require but {MOSQUITTO} is missing"
        );
        eprintln!("SKIPPED: {MOSQUITTO} not installed (apt-get install mosquitto)");
    }
    present
}

/// A running mosquitto.
pub struct Broker {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    extra: String,
}

impl Broker {
    /// Starts mosquitto on a free port.
    pub async fn start(dir: &std::path::Path) -> Broker {
        Broker::start_with(dir, String::new()).await
    }

    /// Starts mosquitto with `extra` appended to its configuration (e.g. a TLS listener).
    pub async fn start_with(dir: &std::path::Path, extra: String) -> Broker {
        let mut b = Broker {
            child: None,
            port: crate::free_port(),
            dir: dir.to_owned(),
            extra,
        };
        b.restart().await;
        b
    }

    /// (Re)starts it on the same port and persistence directory.
    pub async fn restart(&mut self) {
        let conf = self.dir.join("mosquitto.conf");
        let persist = self.dir.join("persist/");
        std::fs::create_dir_all(&persist).expect("persist dir");
        // mosquitto started as root drops to its own user: let it write its session store.
        use std::os::unix::fs::PermissionsExt;
        for d in [&self.dir, &persist] {
            let _ = std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777));
        }
        std::fs::write(
            &conf,
            format!(
                "listener {} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nautosave_interval 0\nmax_queued_messages 100000\nlog_dest stderr\nlog_type error\n{}",
                self.port,
                persist.display(),
                self.extra
            ),
        )
        .expect("mosquitto.conf");
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        assert!(
            crate::wait_listening(self.port, Duration::from_secs(10)).await,
            "mosquitto did not listen on {}",
            self.port
        );
        // Something else may have taken the port meanwhile (a restart reuses it): then
        // mosquitto exits at once ("Address already in use") while the port still answers.
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(c) = self.child.as_mut() {
            if let Ok(Some(status)) = c.try_wait() {
                panic!(
                    "mosquitto exited ({status}): port {} taken by another process",
                    self.port
                );
            }
        }
    }

    /// Stops it (SIGTERM so that it saves its sessions), waiting for it to exit.
    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Some(pid) = c.id() {
                let _ = Command::new("kill")
                    .arg("-TERM")
                    .arg(pid.to_string())
                    .status()
                    .await;
            }
            let _ = tokio::time::timeout(Duration::from_secs(5), c.wait()).await;
            let _ = c.kill().await;
        }
    }
}

//! A real MQTT broker: mosquitto on 127.0.0.1 and a free port, with a generated configuration
//! (persistence on, so that a restart keeps the subscribers' sessions). Ready means mosquitto
//! itself said "running" — after it bound every listener — not that something answers on the
//! port (which, after a restart on the same port, may be another process).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::signal::{signal, Signal};

/// Every wait of the broker ends within this.
const BOUND: Duration = Duration::from_secs(20);
/// How long [`Broker::stop`] waits for mosquitto to exit before it sends SIGTERM again.
const RESEND_TERM: Duration = Duration::from_millis(500);

/// A running mosquitto; killed when dropped.
pub struct Broker {
    program: PathBuf,
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    extra: String,
    log: Arc<Mutex<Vec<String>>>,
    /// Woken on every line logged.
    logging: Arc<tokio::sync::Notify>,
}

impl Broker {
    /// Starts mosquitto (found with [`crate::require_peer`]: the caller checked it) on a free
    /// port, its files in `dir`.
    pub async fn start(dir: &Path) -> Broker {
        Broker::start_with(dir, String::new()).await
    }

    /// Starts mosquitto with `extra` appended to its configuration (a TLS listener,
    /// `password_file`, `allow_anonymous false` ...).
    pub async fn start_with(dir: &Path, extra: String) -> Broker {
        Broker::start_on(dir, crate::free_port(), extra).await
    }

    /// Starts mosquitto on `port` (one a program under test was told about before).
    pub async fn start_on(dir: &Path, port: u16, extra: String) -> Broker {
        let program = crate::interop::which("mosquitto")
            .expect("mosquitto is missing: call testkit::require_peer(\"mosquitto\") first");
        let mut b = Broker {
            program,
            child: None,
            port,
            dir: dir.to_owned(),
            extra,
            log: Arc::default(),
            logging: Arc::default(),
        };
        b.restart().await;
        b
    }

    /// (Re)starts it on the same port and persistence directory; panics when mosquitto exits
    /// before it is running (the port was taken meanwhile).
    pub async fn restart(&mut self) {
        let conf = self.write_config();
        let mut child = Command::new(&self.program)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start mosquitto");
        let stderr = child.stderr.take().expect("piped stderr");
        self.child = Some(child);
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let log = self.log.clone();
        let logging = self.logging.clone();
        tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains(" running") {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(());
                    }
                }
                let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                if log.len() >= 1000 {
                    log.remove(0);
                }
                log.push(line);
                drop(log);
                logging.notify_waiters();
            }
        });
        match tokio::time::timeout(BOUND, ready_rx).await {
            Ok(Ok(())) => {}
            _ => panic!(
                "mosquitto on port {} did not start:\n{}",
                self.port,
                self.log_tail(20)
            ),
        }
    }

    fn write_config(&self) -> PathBuf {
        let conf = self.dir.join("mosquitto.conf");
        let persist = self.dir.join("persist/");
        std::fs::create_dir_all(&persist).expect("persist dir");
        // mosquitto started as root drops to its own user: let it write its session store.
        use std::os::unix::fs::PermissionsExt;
        for d in [&self.dir, &persist] {
            let _ = std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777));
        }
        // Anonymous clients are welcome unless `extra` says otherwise (a password file).
        let anonymous = if self.extra.contains("allow_anonymous") {
            ""
        } else {
            "allow_anonymous true\n"
        };
        std::fs::write(
            &conf,
            format!(
                "listener {} 127.0.0.1\n{anonymous}persistence true\n\
                 persistence_location {}/\nautosave_interval 0\nmax_queued_messages 100000\n\
                 log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n{}",
                self.port,
                persist.display(),
                self.extra
            ),
        )
        .expect("mosquitto.conf");
        conf
    }

    /// Stops it with SIGTERM (so that it saves its sessions) and waits for it to exit; SIGKILL
    /// when it has not exited within the bound.
    ///
    /// mosquitto (2.0.11) loses a SIGTERM that comes just after it logged "running": it then
    /// sleeps with no client until another signal (seen in 3 of 30 runs of this kit's tests, as
    /// a 20 s wait). So the SIGTERM is sent again every half second until it exits.
    pub async fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let end = tokio::time::Instant::now() + BOUND;
        while tokio::time::Instant::now() < end {
            let Some(pid) = c.id() else {
                return; // already reaped
            };
            if signal(pid, Signal::Term).is_err() {
                break;
            }
            if tokio::time::timeout(RESEND_TERM, c.wait()).await.is_ok() {
                return;
            }
        }
        let _ = c.kill().await;
    }

    /// Its process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// The last `n` lines mosquitto logged (for failure messages).
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log[log.len().saturating_sub(n)..].join("\n")
    }

    /// Whether mosquitto logged a line containing `text` so far.
    pub fn logged(&self, text: &str) -> bool {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.iter().any(|l| l.contains(text))
    }

    /// Waits until mosquitto logged a line containing `text`, at most `within`; whether it did.
    pub async fn wait_logged(&self, text: &str, within: Duration) -> bool {
        let end = tokio::time::Instant::now() + within;
        loop {
            let line = self.logging.notified();
            tokio::pin!(line);
            line.as_mut().enable();
            if self.logged(text) {
                return true;
            }
            if tokio::time::timeout_at(end, line).await.is_err() {
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A restart on a port another process took meanwhile fails at once, with mosquitto's
    /// reason, instead of passing because something answers on the port.
    #[tokio::test]
    async fn a_taken_port_is_a_failed_start_not_a_running_broker() {
        let Ok(program) = crate::require_peer("mosquitto") else {
            return;
        };
        let dir = crate::scratch("kit-mosquitto");
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut b = Broker {
            program,
            child: None,
            port: taken.local_addr().unwrap().port(),
            dir: dir.to_path_buf(),
            extra: String::new(),
            log: Arc::default(),
            logging: Arc::default(),
        };
        let start = tokio::spawn(async move { b.restart().await });
        let failed = start
            .await
            .expect_err("mosquitto cannot run on a taken port");
        let msg = failed.into_panic();
        let msg = msg.downcast_ref::<String>().expect("a formatted panic");
        assert!(
            msg.contains("did not start") && msg.contains("in use"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn a_started_broker_accepts_connections_and_stops() {
        if crate::require_peer("mosquitto").is_err() {
            return;
        }
        let dir = crate::scratch("kit-mosquitto-ok");
        let mut b = Broker::start(&dir).await;
        assert!(tokio::net::TcpStream::connect(("127.0.0.1", b.port))
            .await
            .is_ok());
        // A line it logged is found; one it never logs is waited for, then given up.
        assert!(b.wait_logged(" running", BOUND).await);
        assert!(
            !b.wait_logged("no such line", Duration::from_millis(200))
                .await
        );
        b.stop().await;
        assert!(b.pid().is_none());
    }
}

//! Peer processes read line by line, and the Python peer scripts of `peers/` (the c104
//! station and the c104 client: one copy each for the whole workspace).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The folder of the peer scripts (`c104_station.py`, `c104_client.py`).
pub fn peers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers")
}

/// The path of a peer script in [`peers_dir`]; panics when it does not exist.
pub fn script(name: &str) -> PathBuf {
    let path = peers_dir().join(name);
    assert!(path.is_file(), "no peer script {}", path.display());
    path
}

/// A child process killed when dropped, with its stdin held open (the peer scripts exit when
/// their stdin closes) and its stdout read line by line.
pub struct PeerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Every stdout line read so far.
    pub transcript: Vec<String>,
}

impl PeerProcess {
    /// Starts `python3 -u SCRIPT ARGS...` with a script of [`peers_dir`].
    pub fn python(script_name: &str, args: &[String]) -> PeerProcess {
        let mut cmd = Command::new("python3");
        cmd.arg("-u").arg(script(script_name)).args(args);
        PeerProcess::spawn(cmd)
    }

    /// Starts the c104 station (`peers/c104_station.py`) on 127.0.0.1:`port` with common
    /// address `ca`, its description written to `expected`, plus `extra` arguments (t3,
    /// `--only IOA,...`); waits for its `READY <port>` line.
    pub async fn c104_station(
        port: u16,
        ca: u16,
        expected: &std::path::Path,
        extra: &[&str],
        within: Duration,
    ) -> PeerProcess {
        let mut args = vec![
            port.to_string(),
            ca.to_string(),
            expected.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut station = PeerProcess::python("c104_station.py", &args);
        let ready = station.wait_line("READY", within).await;
        assert_eq!(ready, format!("READY {port}"));
        station
    }

    /// Starts `cmd` with piped stdin/stdout, stderr inherited, killed on drop.
    pub fn spawn(mut cmd: Command) -> PeerProcess {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn peer process");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        PeerProcess {
            child,
            stdin,
            stdout,
            transcript: Vec::new(),
        }
    }

    /// The next stdout line, `None` at end of output; panics after `timeout`.
    pub async fn next_line(&mut self, timeout: Duration) -> Option<String> {
        let line = tokio::time::timeout(timeout, self.stdout.next_line())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "peer said nothing for {timeout:?}; transcript so far:\n{}",
                    self.transcript.join("\n")
                )
            })
            .expect("read peer stdout");
        if let Some(l) = &line {
            self.transcript.push(l.clone());
        }
        line
    }

    /// Reads lines until one starts with `prefix` and returns it; panics on end of output or
    /// when the whole wait exceeds `timeout`.
    pub async fn wait_line(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_line(left).await {
                Some(l) if l.starts_with(prefix) => return l,
                Some(_) => {}
                None => panic!(
                    "peer ended before printing {prefix:?}; transcript:\n{}",
                    self.transcript.join("\n")
                ),
            }
        }
    }

    /// Every remaining stdout line until the peer ends, and its exit status (bounded wait).
    pub async fn finish(&mut self, timeout: Duration) -> (Vec<String>, std::process::ExitStatus) {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_line(left).await {
                Some(l) => lines.push(l),
                None => break,
            }
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let status = tokio::time::timeout(left, self.child.wait())
            .await
            .expect("peer did not exit in time")
            .expect("wait for peer");
        (lines, status)
    }

    /// Closes the peer's stdin and waits (at most `within`) for it to end; panics unless it
    /// exits successfully.
    pub async fn end(&mut self, within: Duration) {
        self.close_stdin();
        let (_, status) = self.finish(within).await;
        assert!(status.success(), "the peer exited with {status}");
    }

    /// Closes the peer's stdin (the scripts exit on it).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }
}

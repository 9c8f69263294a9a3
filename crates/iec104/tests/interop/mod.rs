//! Helpers of the interop tests (`tests/interop_c104.rs`): peer availability
//! (`IEC104_INTEROP`), child processes that die with the test, free ports, a pcap writer, a
//! tshark runner, a recording proxy, session steps and a tiny station. (Not `tests/common`:
//! that module holds the tracing capture shared by the other integration tests.)
#![allow(dead_code)]

pub mod expect;
pub mod pcap;
pub mod proxy;
pub mod session;
pub mod station;
pub mod tshark;
pub mod type_cases;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// An external program an interop test talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// `python3` with the `c104` package (lib60870-C inside).
    C104,
    /// Wireshark's command line, `tshark`.
    Tshark,
}

/// What to do when a peer is missing, from the `IEC104_INTEROP` environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InteropMode {
    /// Unset or `auto`: skip the test, saying why.
    Auto,
    /// `require`: a missing peer fails the test.
    Require,
}

/// Reads `IEC104_INTEROP` (unset/`auto` or `require`; anything else fails loudly).
pub fn interop_mode() -> InteropMode {
    match std::env::var("IEC104_INTEROP") {
        Err(_) => InteropMode::Auto,
        Ok(v) if v.is_empty() || v == "auto" => InteropMode::Auto,
        Ok(v) if v == "require" => InteropMode::Require,
        Ok(v) => panic!("IEC104_INTEROP={v:?}: expected unset, \"auto\" or \"require\""),
    }
}

/// Why a peer is unusable, or `None` when it is there.
fn missing_reason(peer: Peer) -> Option<String> {
    let (program, args): (&str, &[&str]) = match peer {
        Peer::C104 => ("python3", &["-c", "import c104"]),
        Peer::Tshark => ("tshark", &["--version"]),
    };
    match std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => None,
        Ok(status) => Some(format!(
            "`{program} {}` exited with {status}",
            args.join(" ")
        )),
        Err(e) => Some(format!("cannot run `{program}`: {e}")),
    }
}

/// THE availability check of every interop test: `true` when `peer` is usable. When it is not:
/// with `IEC104_INTEROP=require` the test fails here; otherwise it prints why it is skipped
/// and returns `false` (the caller returns early).
pub fn peer_available(test: &str, peer: Peer) -> bool {
    let Some(reason) = missing_reason(peer) else {
        return true;
    };
    match interop_mode() {
        InteropMode::Require => {
            panic!("{test}: peer {peer:?} is missing ({reason}) and IEC104_INTEROP=require")
        }
        InteropMode::Auto => {
            // Written to the stderr handle, not with `eprintln!`: libtest captures the macros'
            // output of passing tests, and a skip must be visible in a plain `cargo test`.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: peer {peer:?} is missing ({reason}); \
                 set IEC104_INTEROP=require to make this a failure"
            );
            false
        }
    }
}

/// A port on 127.0.0.1 that was free a moment ago (bind port 0, read it, release it). For peers
/// that cannot be told to bind port 0 and report it.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// A fresh path in the cargo target's temporary directory for this test binary.
pub fn temp_path(name: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-{n}-{name}", std::process::id()))
}

/// The directory of the Python peer scripts.
pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("peers")
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
    /// Starts `python3 script args...` from the peers directory.
    pub fn python(script: &str, args: &[String]) -> PeerProcess {
        let mut cmd = Command::new("python3");
        cmd.arg("-u").arg(peers_dir().join(script)).args(args);
        PeerProcess::spawn(cmd)
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

    /// Closes the peer's stdin (the scripts exit on it).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }
}

/// Runs a future with a bound; panics naming `what` when it takes longer.
pub async fn bounded<F: std::future::Future>(what: &str, timeout: Duration, f: F) -> F::Output {
    tokio::time::timeout(timeout, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {timeout:?}: {what}"))
}

//! Helpers for running the real `iec104-sim` binary and talking to it with the `iec104`
//! client: every wait is bounded, addresses are 127.0.0.1 with free ports.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use iec104::asdu::{Asdu, AsduParams, AsduView, Element, InformationObject};
use iec104::client::{self, Client, ClientConfig, ClientError, ClientEvent, ClientEvents};
use iec104::cot::{Cause, Cot};
use iec104::json::JsonObject;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Every wait in these tests ends within this.
pub const BOUND: Duration = Duration::from_secs(20);

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    l.local_addr().expect("local addr").port()
}

/// `n` consecutive free ports: binds port 0, then the following ones, until all bind.
pub fn free_range(n: u16) -> u16 {
    for _ in 0..50 {
        let first = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let base = first.local_addr().expect("local addr").port();
        if u32::from(base) + u32::from(n) > 65535 {
            continue;
        }
        let rest: Result<Vec<_>, _> = (1..n)
            .map(|i| TcpListener::bind(("127.0.0.1", base + i)))
            .collect();
        if rest.is_ok() {
            return base;
        }
    }
    panic!("no {n} consecutive free ports found");
}

/// A scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iec104-sim-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The running simulator; killed when dropped.
pub struct Sim {
    child: Child,
    /// Its stderr lines so far.
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Sim {
    /// Starts `iec104-sim ARGS` and waits until every station listens.
    pub async fn start(args: &[&str]) -> Sim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_iec104-sim"))
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn iec104-sim");
        let stderr = child.stderr.take().expect("stderr piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
        let keep = lines.clone();
        tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if line.contains("all stations listening") {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(Ok(()));
                    }
                }
                keep.lock().unwrap().push(line);
            }
            if let Some(tx) = ready.take() {
                let all = keep.lock().unwrap().join("\n");
                let _ = tx.send(Err(all));
            }
        });
        match tokio::time::timeout(BOUND, ready_rx).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(stderr))) => panic!("iec104-sim ended before listening:\n{stderr}"),
            other => panic!("iec104-sim not listening within {BOUND:?}: {other:?}"),
        }
        Sim {
            child,
            stderr: lines,
        }
    }

    /// Sends SIGTERM and waits for a clean exit (the events log is flushed then).
    pub async fn terminate(mut self) {
        let pid = self.child.id().expect("running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let exit = tokio::time::timeout(BOUND, self.child.wait())
            .await
            .expect("iec104-sim exits within the bound after SIGTERM")
            .expect("wait");
        assert!(exit.success(), "exit status {exit:?}");
    }

    /// Waits for the process to end by itself (`--duration`).
    pub async fn wait(mut self) {
        let exit = tokio::time::timeout(BOUND, self.child.wait())
            .await
            .expect("iec104-sim ends within the bound")
            .expect("wait");
        assert!(exit.success(), "exit status {exit:?}");
    }

    /// Whether a stderr line so far contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.stderr.lock().unwrap().iter().any(|l| l.contains(text))
    }
}

/// Writes a scenario file.
pub fn scenario(dir: &Path, text: &str) -> String {
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).expect("write scenario");
    path.display().to_string()
}

/// One received ASDU, decoded: its header fields and its objects as JSON values.
#[derive(Debug, Clone)]
pub struct Got {
    /// Type mnemonic.
    pub type_name: String,
    /// Cause of transmission.
    pub cause: Cause,
    /// P/N bit.
    pub negative: bool,
    /// Common address.
    pub ca: u16,
    /// The objects (docs/json.md shape).
    pub objects: Vec<Value>,
}

/// Decodes an ASDU into a [`Got`].
pub fn decode(asdu: &[u8]) -> Got {
    let view = AsduView::parse(asdu, &AsduParams::IEC104).expect("the simulator sends valid ASDUs");
    let header = *view.header();
    let objects = JsonObject::from_view(&view, chrono::Utc::now())
        .map(|o| o.to_value())
        .collect();
    Got {
        type_name: view
            .type_id()
            .map(|t| t.name().to_string())
            .unwrap_or_default(),
        cause: header.cot.cause,
        negative: header.cot.negative,
        ca: header.common_address,
        objects,
    }
}

/// A client connection to a station.
pub struct Peer {
    /// The client handle.
    pub client: Client,
    /// Its events.
    pub events: ClientEvents,
}

impl Peer {
    /// Connects (releasing received ASDUs automatically unless `auto_release` is false).
    pub async fn connect(addr: SocketAddr, auto_release: bool) -> Result<Peer, ClientError> {
        let mut config = ClientConfig::default();
        config.link.auto_release = auto_release;
        Peer::connect_with(addr, config).await
    }

    /// Connects with `config` (t0 bounded to 5 s).
    pub async fn connect_with(
        addr: SocketAddr,
        mut config: ClientConfig,
    ) -> Result<Peer, ClientError> {
        config.link.t0 = config.link.t0.min(Duration::from_secs(5));
        let (client, events, conn) = client::connect(addr, config).await?;
        tokio::spawn(conn);
        Ok(Peer { client, events })
    }

    /// Connects and starts data transfer.
    pub async fn started(addr: SocketAddr) -> Peer {
        let peer = Peer::connect(addr, true).await.expect("connect");
        tokio::time::timeout(BOUND, peer.client.start_dt())
            .await
            .expect("STARTDT con within the bound")
            .expect("STARTDT");
        peer
    }

    /// Sends an ASDU.
    pub async fn send(&self, asdu: Asdu) {
        self.client
            .send(asdu.into_bytes())
            .await
            .expect("send accepted");
    }

    /// The next ASDU, or why none comes (closed, or nothing within `within`).
    pub async fn next(&mut self, within: Duration) -> Result<Bytes, String> {
        loop {
            match tokio::time::timeout(within, self.events.recv()).await {
                Err(_) => return Err(format!("nothing within {within:?}")),
                Ok(None) => return Err("events ended".into()),
                Ok(Some(ClientEvent::Asdu { asdu, .. })) => return Ok(asdu),
                Ok(Some(ClientEvent::Closed { reason })) => {
                    return Err(format!("closed: {reason:?}"))
                }
                Ok(Some(_)) => {}
            }
        }
    }

    /// Receives ASDUs until one satisfies `last` (included), within the bound.
    pub async fn until(&mut self, mut last: impl FnMut(&Got) -> bool) -> Vec<Got> {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + BOUND;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let asdu = self
                .next(left)
                .await
                .unwrap_or_else(|e| panic!("{e}; received so far: {got:#?}"));
            let g = decode(&asdu);
            let done = last(&g);
            got.push(g);
            if done {
                return got;
            }
        }
    }

    /// Waits until the connection closes; the reason as text.
    pub async fn closed(&mut self, within: Duration) -> String {
        loop {
            match tokio::time::timeout(within, self.events.recv()).await {
                Err(_) => panic!("connection not closed within {within:?}"),
                Ok(None) => return "ended".into(),
                Ok(Some(ClientEvent::Closed { reason })) => return format!("{reason:?}"),
                Ok(Some(_)) => {}
            }
        }
    }
}

/// An ASDU of one object.
pub fn asdu(cause: Cause, ca: u16, ioa: u32, element: Element<'_>) -> Asdu {
    Asdu::single(Cot::new(cause), ca, InformationObject::new(ioa, element)).expect("valid ASDU")
}

/// Reads a JSON-lines file.
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("read log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

//! Helpers for running the real `iec104-sim` binary and talking to it with the `iec104`
//! client: every wait is bounded, addresses are 127.0.0.1 with free ports.

#![allow(dead_code)]

use std::net::SocketAddr;
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

#[allow(unused_imports)]
pub use testkit::{free_port, free_range, scratch, Scratch};

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
        let exit = testkit::signal::signal_and_wait(&mut self.child, testkit::Signal::Term, BOUND)
            .await
            .expect("iec104-sim exits after SIGTERM");
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

/// A station of two points that sends nothing by itself (rate 0): what arrives comes from the
/// faults a test injects.
pub const QUIET: &str = r#"
[[station]]
ca = 9
rate = 0.0
point = [
  { ioa = 1, type = "M_ME_NC_1", behaviour = { kind = "random_walk", step = 1.0, min = 0.0, max = 10.0 } },
  { ioa = 2, type = "M_SP_NA_1", behaviour = { kind = "toggle" } },
]
"#;

/// Starts generated stations: `iec104-sim --listen 127.0.0.1:PORT ARGS...`; the port.
pub async fn run_generated(args: &[&str]) -> (Sim, u16) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut all = vec!["--listen", listen.as_str()];
    all.extend_from_slice(args);
    (Sim::start(&all).await, port)
}

/// A simulator started by [`run_scenario`]: the process, its port, its scratch folder (kept
/// alive as long as this) and its events log.
pub struct Run {
    /// The simulator.
    pub sim: Sim,
    /// Its (first) station's port on 127.0.0.1.
    pub port: u16,
    /// Its events log.
    pub log: PathBuf,
    /// Its scratch folder.
    pub dir: Scratch,
}

/// Starts `iec104-sim --config SCENARIO --listen 127.0.0.1:PORT --events-log LOG EXTRA...` on a
/// free port, with `scenario_text` and the log in a scratch folder named `name`.
pub async fn run_scenario(name: &str, scenario_text: &str, extra: &[&str]) -> Run {
    let dir = scratch(name);
    let log = dir.join("events.jsonl");
    let port = free_port();
    let file = scenario(&dir, scenario_text);
    let listen = format!("127.0.0.1:{port}");
    let log_arg = log.display().to_string();
    let mut args = vec![
        "--config",
        &file,
        "--listen",
        &listen,
        "--events-log",
        &log_arg,
    ];
    args.extend_from_slice(extra);
    let sim = Sim::start(&args).await;
    Run {
        sim,
        port,
        log,
        dir,
    }
}

/// 127.0.0.1:`port`.
pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
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

    /// Connects from the loopback address `source` (127.0.0.2, ... : every 127/8 address is
    /// local) to tell redundancy groups apart; releases received ASDUs automatically.
    pub async fn connect_from(
        source: std::net::Ipv4Addr,
        addr: SocketAddr,
    ) -> Result<Peer, ClientError> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((source, 0)))?;
        let stream = socket.connect(addr).await?;
        let mut config = ClientConfig::default();
        config.link.t0 = config.link.t0.min(Duration::from_secs(5));
        config.link.auto_release = true;
        let (client, events, conn) = Client::from_stream(stream, config)?;
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

    /// Sends `element` to IOA `ioa` of station `ca` with cause activation and receives until its
    /// ActTerm (included).
    pub async fn activate(&mut self, ca: u16, ioa: u32, element: Element<'_>) -> Vec<Got> {
        let name = element.type_id().name();
        self.send(asdu(Cause::Activation, ca, ioa, element)).await;
        self.until(|g| g.type_name == name && g.cause == Cause::ActivationTerm)
            .await
    }

    /// Receives spontaneous ASDUs until they held `n` objects or more; the count (any other
    /// cause fails the test).
    pub async fn spontaneous_objects(&mut self, n: usize) -> usize {
        let mut count = 0;
        while count < n {
            let g = decode(&self.next(BOUND).await.expect("spontaneous events"));
            assert_eq!(g.cause, Cause::Spontaneous, "{g:?}");
            count += g.objects.len();
        }
        count
    }

    /// Receives until an ASDU equal to `wanted` (same octets: same objects and time tags).
    pub async fn until_same(&mut self, wanted: &Got) {
        let key = |g: &Got| format!("{} {:?} {:?}", g.type_name, g.cause, g.objects);
        let want = key(wanted);
        self.until(|g| key(g) == want).await;
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

/// Reads a JSON-lines file: its complete lines (a running simulator may be half-way through
/// writing the last one; that one is read next time).
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("read log");
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Proves that nothing more was queued for `peer`: sends a station interrogation to `ca` and
/// receives until its ActTerm; no spontaneous ASDU may come before it (events queued earlier
/// are sent first). Waits for events, not for a guessed quiet time.
pub async fn assert_nothing_more_before_an_interrogation(peer: &mut Peer, ca: u16) {
    peer.send(asdu(
        Cause::Activation,
        ca,
        0,
        iec104::asdu::Element::C_IC_NA_1(iec104::asdu::Qoi::STATION),
    ))
    .await;
    let got = peer
        .until(|g| g.type_name == "C_IC_NA_1" && g.cause == Cause::ActivationTerm)
        .await;
    assert!(
        got.iter().all(|g| g.cause != Cause::Spontaneous),
        "an event was still queued: {got:#?}"
    );
}

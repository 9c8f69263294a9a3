//! A real clustered MQTT 3.1.1 broker: a private redis-server and two or more aedes nodes
//! (`tests/brokers/aedes-node.js`) sharing it, all on 127.0.0.1; killed and removed on drop.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The Redis server binary (Debian `redis-server`).
pub const REDIS: &str = "redis-server";

/// Bound on the start of redis-server or an aedes node (a start that never completes fails
/// the test instead of hanging it).
const START_WITHIN: Duration = Duration::from_secs(30);

/// The folder of the node script and its `node_modules`.
pub fn script_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("brokers")
}

/// What is missing to run the clustered broker, if anything.
fn missing() -> Option<String> {
    let runs = |cmd: &str, arg: &str| {
        Command::new(cmd)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !runs("node", "--version") {
        return Some("node is not installed (apt-get install nodejs npm)".into());
    }
    if !runs(REDIS, "--version") {
        return Some("redis-server is not installed (apt-get install redis-server)".into());
    }
    for m in ["aedes", "mqemitter-redis", "aedes-persistence-redis"] {
        if !script_dir().join("node_modules").join(m).is_dir() {
            return Some(format!(
                "npm package {m} missing (npm ci in {})",
                script_dir().display()
            ));
        }
    }
    None
}

/// Whether the clustered broker can run: everything present; else skipped with the reason
/// printed, or a failure under `IEC104_INTEROP=require` (the test kit's one rule).
pub fn available() -> bool {
    let found = missing().map_or(Ok(()), Err);
    testkit::interop::require("the clustered broker (aedes on Redis)", found).is_ok()
}

/// A running child whose stdout lines come on a channel.
struct Watched {
    child: Child,
    lines: mpsc::Receiver<String>,
}

fn spawn(cmd: &mut Command) -> Watched {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
    let (tx, lines) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
    }
    Watched { child, lines }
}

impl Watched {
    /// Waits for a stdout line containing `what`, at most `START_WITHIN`.
    fn wait_line(&mut self, what: &str) {
        let end = Instant::now() + START_WITHIN;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(what) => return,
                Ok(_) => {}
                Err(e) => panic!("no {what:?} on the output within {START_WITHIN:?}: {e}"),
            }
        }
    }

    /// Waits for a stdout line containing `what`, at most `within`; false when none came.
    fn saw_line(&mut self, what: &str, within: Duration) -> bool {
        let end = Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(what) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether redis on `port` answers PING with PONG.
fn redis_pong(port: u16) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// The broker node (index into `ports`) gateway node `id` starts on with `broker_order =
/// "shuffled"` and `urls` = `ports` (the gateway's own ordering).
pub fn first_broker(ports: &[u16], id: &str) -> usize {
    use iec104_gateway::config::{Broker, BrokerList, BrokerOrder};
    let broker = |port| Broker {
        host: "127.0.0.1".into(),
        port,
        tls: false,
    };
    let list = BrokerList {
        others: ports[1..].iter().copied().map(broker).collect(),
        order: BrokerOrder::Shuffled,
        ..BrokerList::single()
    };
    let first = list.in_order(&broker(ports[0]), id)[0].port;
    ports.iter().position(|p| *p == first).unwrap_or(0)
}

/// Two gateway node ids that start on different broker nodes of `ports` (see
/// [`first_broker`]).
pub fn ids_on_both(ports: &[u16]) -> Vec<String> {
    let candidates: Vec<String> = (0..64).map(|i| format!("gw-{i}")).collect();
    let on = |b: usize| {
        candidates
            .iter()
            .find(|id| first_broker(ports, id) == b)
            .cloned()
            .expect("a node id starting on each broker node")
    };
    vec![on(0), on(1)]
}

/// A clustered broker: one redis-server and its aedes nodes.
pub struct AedesCluster {
    redis: Watched,
    nodes: Vec<Option<Watched>>,
    /// The MQTT port of each node on 127.0.0.1 (index = node).
    pub ports: Vec<u16>,
    /// The redis-server's port.
    pub redis_port: u16,
    heartbeat: Duration,
    /// Each node keeps its own retained messages; wills stay shared (see
    /// [`AedesCluster::start_local_retained`]).
    local_retained: bool,
    dir: PathBuf,
}

impl AedesCluster {
    /// Starts redis-server (no persistence, in `dir`) and `nodes` aedes nodes on it; the
    /// nodes send heartbeats every `heartbeat`, and publish the wills of a dead node's clients
    /// after three missed ones.
    pub fn start(dir: &std::path::Path, nodes: usize, heartbeat: Duration) -> AedesCluster {
        Self::start_with(dir, nodes, heartbeat, false)
    }

    /// [`AedesCluster::start`], but each node keeps retained messages in its own memory
    /// (wills, sessions and QoS 1 state stay shared): publications cross nodes, retained
    /// messages do not (a subscriber on another node never gets them on subscribing), like
    /// RabbitMQ 3.x's MQTT plugin.
    pub fn start_local_retained(
        dir: &std::path::Path,
        nodes: usize,
        heartbeat: Duration,
    ) -> AedesCluster {
        Self::start_with(dir, nodes, heartbeat, true)
    }

    fn start_with(
        dir: &std::path::Path,
        nodes: usize,
        heartbeat: Duration,
        local_retained: bool,
    ) -> AedesCluster {
        let redis_port = crate::free_port();
        let mut redis = spawn(
            Command::new(REDIS)
                .args(["--port", &redis_port.to_string()])
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .args(["--daemonize", "no", "--loglevel", "notice"])
                .arg("--dir")
                .arg(dir),
        );
        let end = Instant::now() + START_WITHIN;
        while !redis_pong(redis_port) {
            if Instant::now() > end || matches!(redis.child.try_wait(), Ok(Some(_))) {
                redis.kill();
                panic!("redis-server on 127.0.0.1:{redis_port} did not answer PING");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut c = AedesCluster {
            redis,
            nodes: Vec::new(),
            ports: Vec::new(),
            redis_port,
            heartbeat,
            local_retained,
            dir: dir.to_owned(),
        };
        for i in 0..nodes {
            let port = crate::free_port();
            c.nodes.push(Some(c.spawn_node(i, port, heartbeat)));
            c.ports.push(port);
        }
        c
    }

    /// Starts aedes node `i` on `port` and waits until it listens.
    fn spawn_node(&self, i: usize, port: u16, heartbeat: Duration) -> Watched {
        let mut node = spawn(
            Command::new("node")
                .current_dir(script_dir())
                .arg("aedes-node.js")
                .arg(port.to_string())
                .arg(self.redis_port.to_string())
                .arg(format!("aedes{i}"))
                .arg(heartbeat.as_millis().to_string())
                .args(self.local_retained.then_some("local")),
        );
        node.wait_line(&format!("listening {port}"));
        node
    }

    /// Starts node `i` again (after [`AedesCluster::kill9`]) on its port, with its id.
    pub fn restart(&mut self, i: usize) {
        self.kill9(i);
        let node = self.spawn_node(i, self.ports[i], self.heartbeat);
        self.nodes[i] = Some(node);
    }

    /// Waits (at most `within`) until a client whose id contains `id` connected to node `i`
    /// since the last such wait (earlier connections count when not yet waited for).
    pub fn client_connected(&mut self, i: usize, id: &str, within: Duration) -> bool {
        match self.nodes.get_mut(i).and_then(Option::as_mut) {
            Some(n) => n.saw_line(&format!("client {id}"), within),
            None => false,
        }
    }

    /// Kills node `i` with SIGKILL (no goodbye to its clients, no cleanup in redis).
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut n) = self.nodes.get_mut(i).and_then(Option::take) {
            n.kill();
        }
    }

    /// The scratch directory redis runs in.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

impl Drop for AedesCluster {
    fn drop(&mut self) {
        for n in self.nodes.iter_mut().filter_map(Option::as_mut) {
            n.kill();
        }
        self.redis.kill();
    }
}

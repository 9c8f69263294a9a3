//! A gateway cluster on one machine: N `iec104-gateway run` processes sharing one
//! configuration file, each with its own node id, store, HTTP port and captured stderr; the
//! simulator process; a recording subscriber; a fault-injecting TCP proxy; and the checks
//! (ownership from the status and presence topics, loss and duplicates against the
//! simulator's events log).

pub mod proxy;
pub mod recorder;
pub mod rtu_proxy;
pub mod sim;
pub mod truth;
pub mod view;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use testkit::Signal;
use tokio::process::{Child, Command};

/// Topic prefix of every cluster test.
pub const PREFIX: &str = "cl";

/// Cluster settings of the shared configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Broker port the nodes connect to (the broker, or a [`proxy::Proxy`] in front of it).
    pub mqtt_port: u16,
    /// `[cluster] standby`.
    pub standby: u8,
    /// `[cluster] heartbeat` in seconds.
    pub heartbeat: u64,
    /// `[cluster] handover_timeout` in seconds.
    pub handover_timeout: f64,
    /// Appended to the `[gateway]` table (e.g. `command_timeout = 2`).
    pub gateway_extra: String,
    /// `preferred_node` per RTU name.
    pub preferred: Vec<(String, String)>,
    /// Appended to the `[cluster]` table (e.g. `path_failover = 1.0`).
    pub cluster_extra: String,
    /// Appended to every `[[rtu]]` table (e.g. `t1 = 3`).
    pub rtu_extra: String,
    /// Several broker ports (`[mqtt] urls`) in place of `mqtt_port` when not empty.
    pub mqtt_urls: Vec<u16>,
    /// Appended to the `[mqtt]` table (e.g. `broker_order = "shuffled"`).
    pub mqtt_extra: String,
}

impl Settings {
    /// Defaults: standby 1, heartbeat 2 s, handover timeout 5 s.
    pub fn new(mqtt_port: u16) -> Settings {
        Settings {
            mqtt_port,
            standby: 1,
            heartbeat: 2,
            handover_timeout: 5.0,
            gateway_extra: String::new(),
            preferred: Vec::new(),
            cluster_extra: String::new(),
            rtu_extra: String::new(),
            mqtt_urls: Vec::new(),
            mqtt_extra: String::new(),
        }
    }
}

/// The shared configuration: `[mqtt]`, `[gateway]`, `[cluster]` and one `[[rtu]]` per station
/// (named as the simulator names them, so the events log and the topics agree).
pub fn config(s: &Settings, stations: &[sim::StationAddr]) -> String {
    let brokers = if s.mqtt_urls.is_empty() {
        format!("url = \"mqtt://127.0.0.1:{}\"", s.mqtt_port)
    } else {
        let urls: Vec<String> = s
            .mqtt_urls
            .iter()
            .map(|p| format!("\"mqtt://127.0.0.1:{p}\""))
            .collect();
        format!("urls = [{}]", urls.join(", "))
    };
    let mut c = format!(
        "[mqtt]\n{brokers}\ntopic_prefix = \"{PREFIX}\"\n{}\n[gateway]\ncommand_timeout = 2\n{}\n[cluster]\nstandby = {}\nheartbeat = {}\nhandover_timeout = {:.1}\n{}",
        s.mqtt_extra, s.gateway_extra, s.standby, s.heartbeat, s.handover_timeout, s.cluster_extra
    );
    for st in stations {
        let _ = write!(
            c,
            "\n[[rtu]]\nname = \"{}\"\naddress = \"127.0.0.1:{}\"\ncommon_address = {}\nt0 = 2\n{}",
            st.name, st.port, st.ca, s.rtu_extra
        );
        if let Some((_, node)) = s.preferred.iter().find(|(r, _)| *r == st.name) {
            let _ = writeln!(c, "preferred_node = \"{node}\"");
        }
        c.push_str("[[rtu.point]]\nioa = 2001\ncommands = true\n");
    }
    c
}

/// One gateway node process.
pub struct Node {
    /// Its node id (`--node-id`).
    pub id: String,
    /// Its scratch directory (store, stderr log).
    pub dir: PathBuf,
    /// Its HTTP port (`--http-listen 127.0.0.1:port`).
    pub http_port: u16,
    config: PathBuf,
    child: Option<Child>,
    starts: u32,
}

impl Node {
    /// Starts `run --config config --node-id id` with its own store and HTTP port under
    /// `root/id`.
    pub fn start(root: &Path, config: &Path, id: &str) -> Node {
        let dir = root.join(id);
        std::fs::create_dir_all(&dir).expect("node dir");
        let mut n = Node {
            id: id.to_owned(),
            dir,
            http_port: crate::free_port(),
            config: config.to_owned(),
            child: None,
            starts: 0,
        };
        n.restart();
        n
    }

    /// The captured stderr (appended across restarts).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("stderr.log")
    }

    /// Everything the node wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The last `lines` lines of its stderr.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = self.log();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// (Re)starts the process (after a kill); the store and log stay.
    pub fn restart(&mut self) {
        self.starts += 1;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("node log");
        {
            use std::io::Write;
            let _ = writeln!(
                log,
                "===== e2e: start #{} of {} =====",
                self.starts, self.id
            );
        }
        let child = Command::new(crate::gateway::binary())
            .arg("run")
            .arg("--config")
            .arg(&self.config)
            .arg("--node-id")
            .arg(&self.id)
            .arg("--store-path")
            .arg(self.dir.join("queue.redb"))
            .arg("--http-listen")
            .arg(format!("127.0.0.1:{}", self.http_port))
            .env("RUST_LOG", "info,rumqttc=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start gateway node");
        self.child = Some(child);
    }

    /// Its process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Sends `signal` while the process runs.
    pub fn signal(&self, signal: Signal) {
        if let Some(pid) = self.pid() {
            let _ = testkit::signal(pid, signal);
        }
    }

    /// SIGKILL and reap (no chance to say goodbye).
    pub async fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }

    /// SIGTERM; waits for the exit at most `within`; the exit code (None: still running, then
    /// killed, or killed by a signal).
    pub async fn term(&mut self, within: Duration) -> Option<i32> {
        self.signal(Signal::Term);
        self.wait_exit(within).await
    }

    /// Waits at most `within` for the process to exit (after a signal); its exit code, None
    /// when killed by a signal or when it had to be killed (SIGKILL) at the deadline.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let mut c = self.child.take()?;
        match tokio::time::timeout(within, c.wait()).await {
            Ok(Ok(status)) => status.code(),
            _ => {
                let _ = c.kill().await;
                None
            }
        }
    }

    /// SIGSTOP: the process freezes (its sockets stay open).
    pub fn freeze(&self) {
        self.signal(Signal::Stop);
    }

    /// SIGCONT after [`Node::freeze`].
    pub fn thaw(&self) {
        self.signal(Signal::Cont);
    }

    /// Whether the process has exited (or was never started).
    pub fn exited(&mut self) -> bool {
        match &mut self.child {
            Some(c) => !matches!(c.try_wait(), Ok(None)),
            None => true,
        }
    }

    /// GET `path` on its HTTP endpoint: the response, or why there is none.
    pub async fn http_get(&self, path: &str) -> Result<testkit::HttpResponse, String> {
        testkit::http_get(self.http_port, path, Duration::from_secs(10)).await
    }

    /// Reads `/metrics` until the sample `name` (exact name and labels) satisfies `ok`, at most
    /// `within`: its value then, or the last body seen.
    pub async fn metric_until(
        &self,
        name: &str,
        within: Duration,
        ok: impl Fn(f64) -> bool,
    ) -> Result<f64, String> {
        let end = tokio::time::Instant::now() + within;
        let mut last = String::new();
        while tokio::time::Instant::now() < end {
            match self.http_get("/metrics").await {
                Ok(r) => match r.metric(name) {
                    Some(v) if ok(v) => return Ok(v),
                    _ => last = r.body,
                },
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "{name} never as expected within {within:?}; last /metrics:\n{last}"
        ))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // A frozen process would not die from SIGKILL only if it were a zombie; CONT anyway so
        // kill_on_drop works on every platform.
        self.signal(Signal::Cont);
    }
}

/// Several nodes on one shared configuration file; on a panic (a failed test) prints the tail
/// of each node's stderr and keeps the scratch directory, otherwise removes it.
pub struct Cluster {
    /// The nodes, in start order.
    pub nodes: Vec<Node>,
    /// The shared configuration file.
    pub config: PathBuf,
    /// The scratch directory.
    pub dir: PathBuf,
    /// Extra logs to print on failure (e.g. the simulator's stderr).
    pub extra_logs: Vec<PathBuf>,
    /// Keep the scratch directory even when nothing failed.
    pub keep: bool,
}

impl Cluster {
    /// Writes `config` to `dir/gateway.toml` and starts one node per id.
    pub fn start(dir: &Path, config: &str, ids: &[&str]) -> Cluster {
        let path = dir.join("gateway.toml");
        std::fs::write(&path, config).expect("write config");
        let mut c = Cluster {
            nodes: Vec::new(),
            config: path,
            dir: dir.to_owned(),
            extra_logs: Vec::new(),
            keep: false,
        };
        for id in ids {
            c.add(id);
        }
        c
    }

    /// Starts one more node on the shared configuration.
    pub fn add(&mut self, id: &str) -> &mut Node {
        let n = Node::start(&self.dir, &self.config, id);
        self.nodes.push(n);
        self.nodes.last_mut().expect("just pushed")
    }

    /// Starts one more node on its own configuration file `config` (same id allowed: its
    /// scratch directory is `dir_name`).
    pub fn add_with_config(&mut self, id: &str, dir_name: &str, config: &str) -> &mut Node {
        let path = self.dir.join(format!("{dir_name}.toml"));
        std::fs::write(&path, config).expect("write config");
        let root = self.dir.join(dir_name);
        std::fs::create_dir_all(&root).expect("dir");
        // The same id may run twice: a distinct directory root.
        let n = Node::start(&root, &path, id);
        self.nodes.push(n);
        self.nodes.last_mut().expect("just pushed")
    }

    /// The (first) node with `id`.
    pub fn node(&mut self, id: &str) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    /// The tails of every node's stderr and of the extra logs.
    pub fn tails(&self, lines: usize) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            let _ = writeln!(
                s,
                "----- stderr of {} ({}) -----\n{}",
                n.id,
                n.log_path().display(),
                n.log_tail(lines)
            );
        }
        for p in &self.extra_logs {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            let _ = writeln!(
                s,
                "----- {} -----\n{}",
                p.display(),
                all[all.len().saturating_sub(lines)..].join("\n")
            );
        }
        s
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}\nkept {}", self.tails(40), self.dir.display());
        } else if !self.keep {
            // Passed: the scratch directory (stores, logs, broker files) is not needed.
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

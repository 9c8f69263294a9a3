//! The configuration resolved once: typed settings without spans, defaults applied, policy
//! decided (the MQTT version a cluster node speaks, the queue's path). Every layer and the
//! `check` command read only these.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use iec104::link::LinkConfig;

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Name of this node (`--node-id`, `[cluster] node_id`, `[gateway] node`, the host name).
    pub node: String,
    /// The first broker listed (`url`, or the first of `urls`); the others are in
    /// `mqtt.brokers`.
    pub broker: Broker,
    /// `[mqtt]`.
    pub mqtt: Mqtt,
    /// `[gateway]`.
    pub gateway: Gateway,
    /// `[[rtu]]`.
    pub rtus: Vec<Rtu>,
    /// `[cluster]`, when present.
    pub cluster: Option<Cluster>,
    /// Checked `[sparkplug]`, when present.
    pub sparkplug: Option<iec104_sparkplug::SparkplugSettings>,
}

/// The broker endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Broker {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// `mqtts://`.
    pub tls: bool,
}

/// The MQTT protocol version the node speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MqttVersion {
    /// MQTT 3.1.1 (`version = 4`).
    V311,
    /// MQTT 5: response topic and correlation data of commands honoured.
    V5,
}

/// Why a node speaks MQTT 3.1.1 though `version = 5` was configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionFallback {
    /// The cluster heartbeat (the keep-alive) is under 5 s, which rumqttc's MQTT 5 client
    /// refuses.
    HeartbeatUnder5s,
}

/// Resolved `[mqtt]`.
#[derive(Debug, Clone)]
pub struct Mqtt {
    /// The version spoken (after the fallback, if any).
    pub version: MqttVersion,
    /// Set when `version` is 3.1.1 though 5 was configured.
    pub fallback: Option<VersionFallback>,
    /// First level of every topic.
    pub topic_prefix: String,
    /// Configured client id (the node's id is derived from it or from the node name).
    pub client_id: Option<String>,
    /// User name and the inline password (empty when `password_file` gives it).
    pub credentials: Option<(String, super::security::Secret)>,
    /// File holding the password (already resolved against `$CREDENTIALS_DIRECTORY`); read
    /// when the client starts.
    pub password_file: Option<PathBuf>,
    /// MQTT 5 response topics of commands are honoured only under this prefix.
    pub response_prefix: String,
    /// CA certificates for `mqtts://` (None: the system bundle).
    pub ca_file: Option<PathBuf>,
    /// Client certificate and its key (mutual TLS).
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// QoS of data messages (0 or 1).
    pub qos: u8,
    /// Data messages retained.
    pub retain: bool,
    /// JSON data messages published (`json_data`; false only with `[sparkplug]`).
    pub json_data: bool,
    /// Publications in flight, at most.
    pub max_inflight: u16,
    /// Keep-alive as configured: the gateway's broker connection's, a cluster node's data
    /// connection's (its coordination connection uses the cluster heartbeat instead).
    pub keep_alive: Duration,
    /// The brokers after the first, their order and the rules of moving between them.
    pub brokers: BrokerList,
}

/// Resolved `[gateway]` with the command-line overrides.
#[derive(Debug, Clone)]
pub struct Gateway {
    /// The on-disk queue: `store_path`, else `$STATE_DIRECTORY/queue.redb`, else `./queue.redb`.
    pub store_path: PathBuf,
    /// Bound of the queue in messages.
    pub queue_max_messages: u64,
    /// The HTTP endpoint, when configured.
    pub http_listen: Option<SocketAddr>,
    /// File holding the HTTP endpoint's access token.
    pub http_token_file: Option<PathBuf>,
    /// Wait for each confirmation of a command.
    pub command_timeout: Duration,
    /// Wait for PUBACKs before a batch goes to disk.
    pub spill_after: Duration,
    /// Also publish audit records on `{prefix}/_audit/{node}`.
    pub audit_topic: bool,
}

/// Resolved `[cluster]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// Further nodes with a hot standby connection per RTU.
    pub standby: usize,
    /// MQTT keep-alive.
    pub heartbeat: Duration,
    /// Wait for the previous owner's release.
    pub handover_timeout: Duration,
    /// The owner's lost path to an RTU moves it to a node with a working connection after this.
    pub path_failover: Duration,
    /// FNV-1a 64 of the configuration without node-specific keys, 16 hex digits.
    pub config_hash: String,
    /// Preferred node by RTU name.
    pub preferred: HashMap<String, String>,
}

/// Resolved settings of one point.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Topic name in place of `{ca}/{ioa}`.
    pub name: Option<String>,
    /// Scale factor.
    pub scale: Option<f64>,
    /// Offset after scaling.
    pub offset: Option<f64>,
    /// Deadband for spontaneous numeric values.
    pub deadband: Option<f64>,
    /// Accepts commands.
    pub commands: bool,
    /// Command limits.
    pub limits: super::security::CommandLimits,
    /// The command type a Sparkplug write sends (`command_type`); only with `commands`.
    pub command_type: Option<iec104::type_id::TypeId>,
}

/// Points by (ca, ioa).
pub type PointMap = HashMap<(u16, u32), Point>;

/// Resolved settings of one RTU.
#[derive(Debug, Clone)]
pub struct Rtu {
    /// Unique name.
    pub name: String,
    /// Addresses tried in turn.
    pub addresses: Vec<String>,
    /// Common addresses.
    pub common_addresses: Vec<u16>,
    /// Link parameters (auto release off: the gateway releases after storing).
    pub link: LinkConfig,
    /// Period of general interrogation (None: only after STARTDT).
    pub interrogation_period: Option<Duration>,
    /// Period of counter interrogation.
    pub counter_interrogation_period: Option<Duration>,
    /// Period of clock synchronisation.
    pub clock_sync_period: Option<Duration>,
    /// Offset of the RTU's time tags from UTC in seconds.
    pub tz_offset_secs: i32,
    /// Per-point settings by (ca, ioa).
    pub points: PointMap,
    /// (ca, ioa) by point name.
    pub names: HashMap<String, (u16, u32)>,
    /// IEC 62351-3 TLS towards the RTU (`[rtu.tls]` merged with `[tls]`), when on.
    pub tls: Option<iec104::tls::TlsConfig>,
}

/// Per-node overrides from the command line.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--node-id`.
    pub node_id: Option<String>,
    /// `--http-listen`.
    pub http_listen: Option<String>,
    /// `--store-path`.
    pub store_path: Option<String>,
}

impl Settings {
    /// Applies command-line overrides (node id first in precedence, then the listen address
    /// and the queue path); an invalid value is an error naming the option.
    pub fn apply(&mut self, o: &Overrides) -> Result<(), String> {
        if let Some(n) = &o.node_id {
            if !topic_level_ok(n) {
                return Err(format!(
                    "--node-id {n:?}: must be one topic level without '/', '+' or '#'"
                ));
            }
            self.node = n.clone();
        }
        if let Some(h) = &o.http_listen {
            let addr = h
                .parse::<SocketAddr>()
                .map_err(|_| format!("--http-listen {h:?} is not ip:port"))?;
            self.gateway.http_listen = Some(addr);
        }
        if let Some(p) = &o.store_path {
            self.gateway.store_path = PathBuf::from(p);
        }
        Ok(())
    }
}

/// Where the queue lives: the configured path, else `$STATE_DIRECTORY/queue.redb` (the first
/// of several systemd passes), else `./queue.redb`.
pub(super) fn store_path(configured: Option<&str>) -> PathBuf {
    if let Some(p) = configured {
        return PathBuf::from(p);
    }
    match std::env::var_os("STATE_DIRECTORY") {
        Some(d) => {
            let d = d
                .to_string_lossy()
                .split(':')
                .next()
                .unwrap_or(".")
                .to_owned();
            PathBuf::from(d).join("queue.redb")
        }
        None => PathBuf::from("queue.redb"),
    }
}

/// A topic level: non-empty, no MQTT wildcard or separator.
pub(super) fn topic_level_ok(s: &str) -> bool {
    !s.is_empty() && !s.contains(['/', '+', '#', '\0']) && s.len() <= 128
}

/// In which order a node tries its brokers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerOrder {
    /// As listed in `urls` (default): every node starts on the first.
    Listed,
    /// A permutation seeded by the node id: fixed per node, different between nodes.
    Shuffled,
}

/// The brokers after the first (`Settings::broker`), their order and the rules of moving.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerList {
    /// Every broker after the first, as listed.
    pub others: Vec<Broker>,
    /// `broker_order`.
    pub order: BrokerOrder,
    /// Time a broker has to accept the connection (CONNACK) before the next one is tried.
    pub connect_timeout: Duration,
    /// `return_to_first = true`: the period at which a node away from its first broker
    /// checks whether that broker answers again (`return_check`), and then moves back.
    pub return_check: Option<Duration>,
}

impl BrokerList {
    /// One broker, nothing to move to (`url`; also the demo's and tests' settings).
    pub fn single() -> BrokerList {
        BrokerList {
            others: Vec::new(),
            order: BrokerOrder::Listed,
            connect_timeout: Duration::from_secs_f64(DEFAULT_CONNECT_TIMEOUT),
            return_check: None,
        }
    }

    /// Every broker (`first` is `Settings::broker`) in the order node `node` tries them; the
    /// first of this order is the node's preferred broker.
    pub fn in_order(&self, first: &Broker, node: &str) -> Vec<Broker> {
        let mut all: Vec<Broker> = std::iter::once(first.clone())
            .chain(self.others.iter().cloned())
            .collect();
        if self.order == BrokerOrder::Shuffled {
            let seed = crate::model::hash::fnv1a64(node.as_bytes());
            fastrand::Rng::with_seed(seed).shuffle(&mut all);
        }
        all
    }

    /// Whether any broker after the first uses TLS.
    pub fn any_tls(&self) -> bool {
        self.others.iter().any(|b| b.tls)
    }
}

/// The default `connect_timeout` in seconds.
pub(super) const DEFAULT_CONNECT_TIMEOUT: f64 = 5.0;

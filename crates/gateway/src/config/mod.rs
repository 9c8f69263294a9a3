//! The gateway's TOML configuration: types (serde, unknown keys denied) and loading with
//! validation errors that carry the line and column of the offending key.

mod brokers;
mod validate;

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

pub use brokers::{BrokerList, BrokerOrder};
pub use validate::{ConfigError, Problem};

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The MQTT broker and how messages are published.
    pub mqtt: MqttConfig,
    /// The gateway process itself (node name, store, HTTP endpoint).
    #[serde(default)]
    pub gateway: GatewayConfig,
    /// The RTUs (controlled stations) to connect to.
    #[serde(default)]
    pub rtu: Vec<RtuConfig>,
    /// Several gateway nodes sharing the RTUs (absent: this node runs alone).
    #[serde(default)]
    pub cluster: Option<ClusterConfig>,
}

/// `[cluster]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// This node's id (overridden by `--node-id`).
    #[serde(default)]
    pub node_id: Option<Spanned<String>>,
    /// Further nodes keeping a hot standby connection to each RTU (default 1).
    #[serde(default = "default_standby")]
    pub standby: Spanned<u32>,
    /// MQTT keep-alive of the node in whole seconds (>= 1), replacing `mqtt.keep_alive`.
    #[serde(default = "default_heartbeat")]
    pub heartbeat: Spanned<u64>,
    /// Seconds a new owner waits for the previous owner to release an RTU (default 5).
    #[serde(default = "default_handover_timeout")]
    pub handover_timeout: Spanned<f64>,
}

/// `[mqtt]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://host:port` (or `mqtts://` for TLS); or `urls` for several brokers.
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    /// Several brokers (`mqtt://` or `mqtts://` each); not together with `url`.
    #[serde(default)]
    pub urls: Option<Spanned<Vec<Spanned<String>>>>,
    /// `listed` (default) or `shuffled` (per node): the order brokers are tried in.
    #[serde(default)]
    pub broker_order: Option<Spanned<String>>,
    /// Seconds a broker has to accept the connection (CONNACK) before the next is tried.
    #[serde(default)]
    pub connect_timeout: Option<Spanned<f64>>,
    /// MQTT protocol version: 5 (default; response topic and correlation data of commands
    /// are honoured) or 4 (3.1.1).
    #[serde(default = "default_version")]
    pub version: Spanned<u8>,
    /// First level of every topic.
    #[serde(default = "default_prefix")]
    pub topic_prefix: Spanned<String>,
    /// MQTT client id (default `iec104-gateway-{node}`).
    #[serde(default)]
    pub client_id: Option<String>,
    /// User name for the broker.
    #[serde(default)]
    pub username: Option<String>,
    /// Password for the broker.
    #[serde(default)]
    pub password: Option<String>,
    /// CA certificate file (PEM) for `mqtts://` (default: the system's CA bundle).
    #[serde(default)]
    pub ca_file: Option<Spanned<String>>,
    /// Client certificate (PEM) presented to the broker (mutual TLS); needs `key_file`.
    #[serde(default)]
    pub cert_file: Option<Spanned<String>>,
    /// Private key (PEM) of `cert_file`.
    #[serde(default)]
    pub key_file: Option<Spanned<String>>,
    /// QoS of data messages: 0 or 1 (default 1).
    #[serde(default = "default_qos")]
    pub qos: Spanned<u8>,
    /// Publish data messages retained (last value kept by the broker).
    #[serde(default)]
    pub retain: bool,
    /// Publications sent but not yet acknowledged by the broker, at most.
    #[serde(default = "default_inflight")]
    pub max_inflight: Spanned<u16>,
    /// MQTT keep-alive in seconds.
    #[serde(default = "default_keep_alive")]
    pub keep_alive: Spanned<u64>,
}

/// `[gateway]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Name of this gateway node, used in payloads and the presence topic.
    #[serde(default)]
    pub node: Option<Spanned<String>>,
    /// Path of the on-disk queue (redb). Default: `$STATE_DIRECTORY/queue.redb` or `./queue.redb`.
    #[serde(default)]
    pub store_path: Option<String>,
    /// Bound of the on-disk queue in messages; the oldest are dropped beyond it.
    #[serde(default = "default_queue_max")]
    pub queue_max_messages: Spanned<u64>,
    /// Address of the HTTP endpoint (/metrics, /health, /ready); none when absent.
    #[serde(default)]
    pub http_listen: Option<Spanned<String>>,
    /// File holding the access token of the HTTP endpoint; when set, every request needs it
    /// (`Authorization: Bearer …` or `?token=`). Without it the status page answers only
    /// local clients.
    #[serde(default)]
    pub http_token_file: Option<Spanned<String>>,
    /// Seconds a command waits for each confirmation of the RTU.
    #[serde(default = "default_command_timeout")]
    pub command_timeout: Spanned<f64>,
    /// Seconds a batch published from memory may wait for its PUBACKs before it is written
    /// to the on-disk queue (and its I-frame acknowledged from there); well below the RTU's t1.
    #[serde(default = "default_spill_after")]
    pub spill_after: Spanned<f64>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            node: None,
            store_path: None,
            queue_max_messages: default_queue_max(),
            http_listen: None,
            http_token_file: None,
            command_timeout: default_command_timeout(),
            spill_after: default_spill_after(),
        }
    }
}

/// One or several values (`common_address = 1` or `[1, 2]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// A single value.
    One(T),
    /// A list.
    Many(Vec<T>),
}

impl<T: Clone> OneOrMany<T> {
    /// The values as a list.
    pub fn to_vec(&self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// `[[rtu]]`: one controlled station.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtuConfig {
    /// Unique name, used in topics.
    pub name: Spanned<String>,
    /// `host:port` of the RTU.
    #[serde(default)]
    pub address: Option<Spanned<String>>,
    /// Several addresses tried in turn (dual-homed RTUs).
    #[serde(default)]
    pub addresses: Option<Spanned<Vec<String>>>,
    /// Common address(es) of the station.
    pub common_address: Spanned<OneOrMany<u16>>,
    /// Link parameter k (unacknowledged I-frames sent, at most).
    #[serde(default)]
    pub k: Option<Spanned<u16>>,
    /// Link parameter w (I-frames received before acknowledging).
    #[serde(default)]
    pub w: Option<Spanned<u16>>,
    /// Connection timeout t0 in seconds.
    #[serde(default)]
    pub t0: Option<Spanned<f64>>,
    /// Send or test APDU timeout t1 in seconds.
    #[serde(default)]
    pub t1: Option<Spanned<f64>>,
    /// Acknowledgement timeout t2 in seconds.
    #[serde(default)]
    pub t2: Option<Spanned<f64>>,
    /// Idle test timeout t3 in seconds.
    #[serde(default)]
    pub t3: Option<Spanned<f64>>,
    /// Seconds between general interrogations (one always follows STARTDT); 0 = only at start.
    #[serde(default)]
    pub interrogation_period: Option<Spanned<f64>>,
    /// Seconds between counter interrogations; none when absent.
    #[serde(default)]
    pub counter_interrogation_period: Option<Spanned<f64>>,
    /// Seconds between clock synchronisations (one after STARTDT); none when absent.
    #[serde(default)]
    pub clock_sync_period: Option<Spanned<f64>>,
    /// Time zone of the RTU's time tags: `"UTC"` (default) or a fixed offset `"+01:00"`.
    #[serde(default)]
    pub time_zone: Option<Spanned<String>>,
    /// Cluster: the node that owns this RTU whenever it is live.
    #[serde(default)]
    pub preferred_node: Option<Spanned<String>>,
    /// Per-point settings.
    #[serde(default)]
    pub point: Vec<PointConfig>,
}

/// `[[rtu.point]]`: settings of one information object.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointConfig {
    /// Common address (default: the RTU's first).
    #[serde(default)]
    pub ca: Option<u16>,
    /// Information object address.
    pub ioa: Spanned<u32>,
    /// Topic name in place of `{ca}/{ioa}` (no `/`, `+`, `#`).
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    /// Numeric values are published as `value * scale + offset` (the original in `raw_value`).
    #[serde(default)]
    pub scale: Option<Spanned<f64>>,
    /// Added after scaling.
    #[serde(default)]
    pub offset: Option<Spanned<f64>>,
    /// Spontaneous/periodic numeric values closer than this to the last published are not published.
    #[serde(default)]
    pub deadband: Option<Spanned<f64>>,
    /// The point accepts commands (deny by default).
    #[serde(default)]
    pub commands: bool,
}

fn default_prefix() -> Spanned<String> {
    Spanned::new(0..0, "iec104".to_owned())
}
fn default_version() -> Spanned<u8> {
    Spanned::new(0..0, 5)
}
fn default_qos() -> Spanned<u8> {
    Spanned::new(0..0, 1)
}
fn default_inflight() -> Spanned<u16> {
    Spanned::new(0..0, 100)
}
fn default_keep_alive() -> Spanned<u64> {
    Spanned::new(0..0, 30)
}
fn default_standby() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}
fn default_heartbeat() -> Spanned<u64> {
    Spanned::new(0..0, 2)
}
fn default_handover_timeout() -> Spanned<f64> {
    Spanned::new(0..0, 5.0)
}
fn default_queue_max() -> Spanned<u64> {
    Spanned::new(0..0, 1_000_000)
}
fn default_command_timeout() -> Spanned<f64> {
    Spanned::new(0..0, 10.0)
}
fn default_spill_after() -> Spanned<f64> {
    Spanned::new(0..0, 1.0)
}

/// A configuration read from a file and validated.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The parsed file.
    pub config: Config,
    /// Resolved per-RTU settings.
    pub rtus: Vec<validate::Rtu>,
    /// Resolved broker endpoint (the first listed).
    pub broker: validate::Broker,
    /// The further brokers (`urls`), their order and the connect timeout.
    pub brokers: BrokerList,
    /// Name of this node.
    pub node: String,
    /// Cluster settings when `[cluster]` is present.
    pub cluster: Option<Cluster>,
}

/// Resolved `[cluster]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// Further nodes with a hot standby connection per RTU.
    pub standby: usize,
    /// MQTT keep-alive.
    pub heartbeat: std::time::Duration,
    /// Wait for the previous owner's release.
    pub handover_timeout: std::time::Duration,
    /// FNV-1a 64 of the configuration without node-specific keys, 16 hex digits.
    pub config_hash: String,
    /// Preferred node by RTU name.
    pub preferred: HashMap<String, String>,
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

impl Loaded {
    /// Applies command-line overrides (node id first in precedence, then the listen address
    /// and the queue path); an invalid value is an error naming the option.
    pub fn apply(&mut self, o: &Overrides) -> Result<(), String> {
        if let Some(n) = &o.node_id {
            if !validate::topic_level_ok(n) {
                return Err(format!(
                    "--node-id {n:?}: must be one topic level without '/', '+' or '#'"
                ));
            }
            self.node = n.clone();
        }
        if let Some(h) = &o.http_listen {
            if h.parse::<std::net::SocketAddr>().is_err() {
                return Err(format!("--http-listen {h:?} is not ip:port"));
            }
            self.config.gateway.http_listen = Some(Spanned::new(0..0, h.clone()));
        }
        if let Some(p) = &o.store_path {
            self.config.gateway.store_path = Some(p.clone());
        }
        Ok(())
    }
}

pub use validate::{Point, Rtu};

/// Reads and validates a configuration file.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.display().to_string(),
        error: e.to_string(),
    })?;
    parse(&text, &path.display().to_string())
}

/// Parses and validates configuration text; `origin` names it in messages.
pub fn parse(text: &str, origin: &str) -> Result<Loaded, ConfigError> {
    let config: Config = toml::from_str(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|s| validate::line_col(text, s.start))
            .unwrap_or((0, 0));
        ConfigError::Invalid {
            origin: origin.to_owned(),
            problems: vec![Problem {
                line,
                column,
                message: e.message().to_owned(),
            }],
        }
    })?;
    validate::validate(config, text, origin)
}

/// Points by (ca, ioa).
pub type PointMap = HashMap<(u16, u32), Point>;

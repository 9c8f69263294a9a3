//! The shape of the configuration file (serde, unknown keys denied). Values keep their
//! spans for messages; integers are read as `i64` so that validation reports a value out of
//! range with its key, value and allowed range.

use serde::Deserialize;
use toml::Spanned;

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
    /// Sparkplug B output beside the JSON topics (absent: off). See docs/sparkplug.md.
    #[serde(default)]
    pub sparkplug: Option<iec104_sparkplug::SparkplugConfig>,
    /// `[tls]`: defaults for every `[rtu.tls]` (IEC 62351-3); it turns TLS on for no RTU.
    #[serde(default)]
    pub tls: Option<TlsTable>,
}

/// `[tls]` (defaults) and `[rtu.tls]` (one RTU; its presence turns TLS on for it): IEC
/// 62351-3 TLS towards the RTUs. Every key left out of `[rtu.tls]` comes from `[tls]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsTable {
    /// CA certificate(s) (PEM) that sign acceptable RTU certificates.
    #[serde(default)]
    pub ca_file: Option<Spanned<String>>,
    /// The gateway's certificate (PEM) presented to the RTU.
    #[serde(default)]
    pub cert_file: Option<Spanned<String>>,
    /// Its private key (PEM, unencrypted); a relative name is looked up in
    /// `$CREDENTIALS_DIRECTORY` when systemd set it.
    #[serde(default)]
    pub key_file: Option<Spanned<String>>,
    /// The only RTU certificates accepted (PEM files); empty: every one the CA signs.
    #[serde(default)]
    pub allowed_certs: Option<Spanned<Vec<String>>>,
    /// CRLs (PEM) of the CA; re-read on SIGHUP and when the file changes.
    #[serde(default)]
    pub crl_file: Option<Spanned<String>>,
    /// Seconds between TLS 1.3 KeyUpdates (absent: none beyond rustls' own).
    #[serde(default)]
    pub key_update_interval: Option<Spanned<f64>>,
    /// Seconds after which a TLS 1.2 session is ended for new keys (absent: never).
    #[serde(default)]
    pub reconnect_interval: Option<Spanned<f64>>,
    /// Check that the RTU's certificate names the host connected to (default false: IEC
    /// 62351-3 identifies peers by certificate).
    #[serde(default)]
    pub check_hostname: Option<bool>,
    /// TLS versions offered: `["1.2", "1.3"]` (default both).
    #[serde(default)]
    pub versions: Option<Spanned<Vec<String>>>,
    /// Smallest RSA key accepted in bits (default 2048; at least 2048).
    #[serde(default)]
    pub min_rsa_bits: Option<Spanned<i64>>,
    /// Most certificates an RTU may present (default 5).
    #[serde(default)]
    pub max_chain_len: Option<Spanned<i64>>,
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
    pub standby: Spanned<i64>,
    /// MQTT keep-alive of the node in whole seconds (>= 1), replacing `mqtt.keep_alive`.
    #[serde(default = "default_heartbeat")]
    pub heartbeat: Spanned<i64>,
    /// Seconds a new owner waits for the previous owner to release an RTU (default 5).
    #[serde(default = "default_handover_timeout")]
    pub handover_timeout: Spanned<f64>,
    /// Seconds after the end of the owner's connection to an RTU (when it could not connect
    /// again) before a node with a working connection takes the RTU over (default 3).
    #[serde(default = "default_path_failover")]
    pub path_failover: Spanned<f64>,
}

/// `[mqtt]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://host:port` (or `mqtts://` for TLS); or `urls` for several brokers.
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    /// Several brokers (`mqtt://` or `mqtts://` each), tried in turn; not with `url`.
    #[serde(default)]
    pub urls: Option<Spanned<Vec<Spanned<String>>>>,
    /// `"listed"` (default) or `"shuffled"` (a fixed order per node): the order of trial.
    #[serde(default)]
    pub broker_order: Option<Spanned<String>>,
    /// Seconds a broker has to accept the connection (CONNACK) before the next is tried.
    #[serde(default)]
    pub connect_timeout: Option<Spanned<f64>>,
    /// Move back to the node's first broker once it answers again (default false).
    #[serde(default)]
    pub return_to_first: Option<Spanned<bool>>,
    /// With `return_to_first`: seconds between checks of the first broker (default 30).
    #[serde(default)]
    pub return_check: Option<Spanned<f64>>,
    /// MQTT protocol version: 5 (default; response topic and correlation data of commands
    /// are honoured) or 4 (3.1.1).
    #[serde(default = "default_version")]
    pub version: Spanned<i64>,
    /// First level of every topic.
    #[serde(default = "default_prefix")]
    pub topic_prefix: Spanned<String>,
    /// MQTT client id (default `iec104-gateway-{node}`).
    #[serde(default)]
    pub client_id: Option<String>,
    /// User name for the broker.
    #[serde(default)]
    pub username: Option<String>,
    /// Password for the broker (better: `password_file`). Never printed or logged.
    #[serde(default)]
    pub password: Option<super::secret::Secret>,
    /// File holding the broker password (first line); a relative name is looked up in
    /// systemd's `$CREDENTIALS_DIRECTORY` (`LoadCredential=`) when that is set.
    #[serde(default)]
    pub password_file: Option<Spanned<String>>,
    /// MQTT 5 response topics of commands are honoured only under this prefix (default
    /// `{topic_prefix}/_response/`); others get their result on `.../command/result`.
    #[serde(default)]
    pub response_topic_prefix: Option<Spanned<String>>,
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
    pub qos: Spanned<i64>,
    /// Publish data messages retained (last value kept by the broker).
    #[serde(default)]
    pub retain: bool,
    /// Publish the JSON data messages (default true). `false` leaves the RTUs' values to
    /// `[sparkplug]` (needs it); statuses, commands and their results stay on JSON.
    #[serde(default)]
    pub json_data: Option<Spanned<bool>>,
    /// Publications sent but not yet acknowledged by the broker, at most.
    #[serde(default = "default_inflight")]
    pub max_inflight: Spanned<i64>,
    /// MQTT keep-alive in seconds.
    #[serde(default = "default_keep_alive")]
    pub keep_alive: Spanned<i64>,
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
    pub queue_max_messages: Spanned<i64>,
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
    /// Also publish each audit record on `{prefix}/_audit/{node}` (QoS 1, not retained).
    #[serde(default)]
    pub audit_topic: bool,
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
            audit_topic: false,
        }
    }
}

/// `common_address = 1` or `[1, 2]`: read as integers (any, so that a value out of range is
/// reported by validation with its key); anything else names what is allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct CommonAddresses(pub Vec<i64>);

impl<'de> Deserialize<'de> for CommonAddresses {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = CommonAddresses;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a common address 1..=65534 or a list of them")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(CommonAddresses(vec![v]))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(CommonAddresses(vec![i64::try_from(v).unwrap_or(i64::MAX)]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut all = Vec::new();
                // Bounded: validation refuses more than 64 (and duplicates).
                while let Some(v) = seq.next_element::<i64>()? {
                    all.push(v);
                }
                Ok(CommonAddresses(all))
            }
        }
        d.deserialize_any(Visit)
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
    pub common_address: Spanned<CommonAddresses>,
    /// Link parameter k (unacknowledged I-frames sent, at most).
    #[serde(default)]
    pub k: Option<Spanned<i64>>,
    /// Link parameter w (I-frames received before acknowledging).
    #[serde(default)]
    pub w: Option<Spanned<i64>>,
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
    /// IEC 62351-3 TLS towards this RTU (its presence turns TLS on; keys left out come
    /// from `[tls]`).
    #[serde(default)]
    pub tls: Option<TlsTable>,
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
    pub ca: Option<Spanned<i64>>,
    /// Information object address.
    pub ioa: Spanned<i64>,
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
    /// A direct execute is refused: select-before-operate only.
    #[serde(default)]
    pub select_required: bool,
    /// Commands per minute, at most (more are refused).
    #[serde(default)]
    pub max_rate: Option<Spanned<u32>>,
    /// Smallest set-point value accepted.
    #[serde(default)]
    pub min: Option<Spanned<f64>>,
    /// Largest set-point value accepted.
    #[serde(default)]
    pub max: Option<Spanned<f64>>,
    /// The command a Sparkplug write of this point's metric sends (`"C_DC_NA_1"`, ...):
    /// makes the metric writable; needs `commands = true`.
    #[serde(default)]
    pub command_type: Option<Spanned<String>>,
}

fn default_prefix() -> Spanned<String> {
    Spanned::new(0..0, "iec104".to_owned())
}
fn default_version() -> Spanned<i64> {
    Spanned::new(0..0, 5)
}
fn default_qos() -> Spanned<i64> {
    Spanned::new(0..0, 1)
}
fn default_inflight() -> Spanned<i64> {
    Spanned::new(0..0, 100)
}
fn default_keep_alive() -> Spanned<i64> {
    Spanned::new(0..0, 30)
}
fn default_standby() -> Spanned<i64> {
    Spanned::new(0..0, 1)
}
fn default_heartbeat() -> Spanned<i64> {
    Spanned::new(0..0, 2)
}
fn default_handover_timeout() -> Spanned<f64> {
    Spanned::new(0..0, 5.0)
}
fn default_path_failover() -> Spanned<f64> {
    Spanned::new(0..0, 3.0)
}
fn default_queue_max() -> Spanned<i64> {
    Spanned::new(0..0, 1_000_000)
}
fn default_command_timeout() -> Spanned<f64> {
    Spanned::new(0..0, 10.0)
}
fn default_spill_after() -> Spanned<f64> {
    Spanned::new(0..0, 1.0)
}

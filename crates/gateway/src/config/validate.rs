//! Validation and resolution: the file's shape → [`Settings`], every problem at once, each
//! naming its key, the value and what is allowed, with its line and column. One function per
//! table; the `[[rtu]]` tables are checked in `validate_rtu.rs`.

use std::ops::RangeInclusive;
use std::time::Duration;

use toml::Spanned;

use super::file::{ClusterConfig, Config, GatewayConfig, MqttConfig};
use super::problem::{self, ConfigError, Problem};
use super::settings::{
    self, topic_level_ok, Cluster, Gateway, Mqtt, MqttVersion, Settings, VersionFallback,
};

/// Collects the problems of one file.
pub(super) struct Checker<'t> {
    text: &'t str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    /// A problem at `span`.
    pub(super) fn at(&mut self, span: std::ops::Range<usize>, message: impl Into<String>) {
        self.problems
            .push(problem::at(self.text, span, message.into()));
    }

    /// An integer in `allowed`; else `{key} = {value}: must be {allowed}{unit}`.
    pub(super) fn int(
        &mut self,
        v: &Spanned<i64>,
        key: &str,
        allowed: RangeInclusive<i64>,
        unit: &str,
    ) -> Option<i64> {
        let n = *v.get_ref();
        if allowed.contains(&n) {
            return Some(n);
        }
        self.at(
            v.span(),
            format!(
                "{key} = {n}: must be {}..={}{unit}",
                allowed.start(),
                allowed.end()
            ),
        );
        None
    }

    /// Seconds in `min..=max`; else `{key} = {value}: must be {min}..={max} seconds`.
    pub(super) fn secs(
        &mut self,
        v: &Spanned<f64>,
        key: &str,
        min: f64,
        max: f64,
    ) -> Option<Duration> {
        let s = *v.get_ref();
        if s.is_finite() && (min..=max).contains(&s) {
            return Some(Duration::from_secs_f64(s));
        }
        self.at(
            v.span(),
            format!("{key} = {s}: must be {min}..={max} seconds"),
        );
        None
    }

    /// An optional number of seconds from `min` to 10000000.
    pub(super) fn seconds(
        &mut self,
        v: &Option<Spanned<f64>>,
        key: &str,
        min: f64,
    ) -> Option<Duration> {
        let v = v.as_ref()?;
        let s = *v.get_ref();
        if !s.is_finite() || s < min || s > 1e7 {
            self.at(
                v.span(),
                format!("{key} = {s}: must be a number of seconds from {min} to 10000000"),
            );
            return None;
        }
        Some(Duration::from_secs_f64(s))
    }

    /// A topic level (node ids, names); else `{key} = {value:?}: must be {what}`.
    pub(super) fn level(&mut self, v: &Spanned<String>, key: &str, no_underscore: bool) -> bool {
        let s = v.get_ref();
        if topic_level_ok(s) && !(no_underscore && s.starts_with('_')) {
            return true;
        }
        let rule = if no_underscore {
            "one topic level without '/', '+' or '#' and not start with '_'"
        } else {
            "one non-empty topic level without '/', '+' or '#'"
        };
        self.at(v.span(), format!("{key} = {s:?}: must be {rule}"));
        false
    }
}

fn default_node() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| topic_level_ok(s))
        .unwrap_or_else(|| "gateway".to_owned())
}

/// Checks everything, resolving defaults; returns every problem at once.
pub fn validate(config: Config, text: &str, origin: &str) -> Result<Settings, ConfigError> {
    let mut c = Checker {
        text,
        problems: Vec::new(),
    };
    let brokers = c.brokers(&config.mqtt);
    c.tls_files(&config.mqtt);
    let node = c.node(&config);
    let cluster = config.cluster.as_ref().map(|k| c.cluster(k, &config, text));
    if cluster.is_none() {
        for r in &config.rtu {
            if let Some(p) = &r.preferred_node {
                c.at(
                    p.span(),
                    format!(
                        "preferred_node = {:?}: needs a [cluster] section",
                        p.get_ref()
                    ),
                );
            }
        }
    }
    let (broker, brokers) = brokers.unzip();
    let brokers = brokers.unwrap_or_else(super::settings::BrokerList::single);
    c.json_data_needs_sparkplug(&config);
    let mqtt = c.mqtt(&config.mqtt, cluster.as_ref(), brokers);
    let gateway = c.gateway(&config.gateway);
    let rtus = c.rtus(&config);
    let sparkplug = c.sparkplug(&config, &rtus);
    // In the order of the file (problems without a position first).
    c.problems.sort_by_key(|p| (p.line, p.column));
    match (c.problems.is_empty(), broker, mqtt, gateway) {
        (true, Some(broker), Some(mqtt), Some(gateway)) => Ok(Settings {
            node,
            broker,
            mqtt,
            gateway,
            rtus,
            cluster,
            sparkplug,
        }),
        _ => Err(ConfigError::Invalid {
            origin: origin.to_owned(),
            problems: c.problems,
        }),
    }
}

impl Checker<'_> {
    /// `[mqtt] ca_file`.
    fn tls_files(&mut self, m: &MqttConfig) {
        if let Some(ca) = &m.ca_file {
            if !std::path::Path::new(ca.get_ref()).is_file() {
                self.at(
                    ca.span(),
                    format!("ca_file = {:?}: must be a readable file", ca.get_ref()),
                );
            }
        }
    }

    /// The node id: `[cluster] node_id`, else `[gateway] node`, else the host name.
    fn node(&mut self, config: &Config) -> String {
        let cluster_node = config.cluster.as_ref().and_then(|c| c.node_id.as_ref());
        match (cluster_node, &config.gateway.node) {
            (Some(n), _) => {
                self.level(n, "node_id", true);
                n.get_ref().clone()
            }
            (None, Some(n)) => {
                self.level(n, "node", true);
                n.get_ref().clone()
            }
            (None, None) => default_node(),
        }
    }

    /// `[mqtt]`; the version a cluster node speaks is decided here.
    fn mqtt(
        &mut self,
        m: &MqttConfig,
        cluster: Option<&Cluster>,
        brokers: super::settings::BrokerList,
    ) -> Option<Mqtt> {
        self.security(m);
        let prefix_ok = self.level(&m.topic_prefix, "topic_prefix", false);
        let version = match *m.version.get_ref() {
            5 => Some(MqttVersion::V5),
            4 => Some(MqttVersion::V311),
            v => {
                self.at(
                    m.version.span(),
                    format!("version = {v}: must be 5 (MQTT 5) or 4 (MQTT 3.1.1)"),
                );
                None
            }
        };
        let qos = self.int(&m.qos, "qos", 0..=1, "");
        let inflight = self.int(&m.max_inflight, "max_inflight", 1..=65535, "");
        let keep_alive = self.int(&m.keep_alive, "keep_alive", 5..=65535, " seconds");
        let (mut version, keep_alive) = (version?, Duration::from_secs(keep_alive? as u64));
        let mut fallback = None;
        // A cluster node's coordination connection has the heartbeat as keep-alive, and
        // rumqttc's MQTT 5 client (0.24 and 0.25) refuses keep-alives under 5 s.
        if let Some(c) = cluster {
            if version == MqttVersion::V5 && c.heartbeat < Duration::from_secs(5) {
                version = MqttVersion::V311;
                fallback = Some(VersionFallback::HeartbeatUnder5s);
            }
        }
        // Relative names come from $CREDENTIALS_DIRECTORY when systemd set it.
        let cert = m
            .cert_file
            .as_ref()
            .map(|f| super::security::credential_path(f.get_ref()));
        let key = m
            .key_file
            .as_ref()
            .map(|f| super::security::credential_path(f.get_ref()));
        Some(Mqtt {
            version,
            fallback,
            topic_prefix: prefix_ok.then(|| m.topic_prefix.get_ref().clone())?,
            client_id: m.client_id.clone(),
            credentials: m
                .username
                .clone()
                .map(|u| (u, m.password.clone().unwrap_or_default())),
            password_file: m
                .password_file
                .as_ref()
                .map(|f| super::security::credential_path(f.get_ref())),
            response_prefix: m
                .response_topic_prefix
                .as_ref()
                .map(|p| p.get_ref().clone())
                .unwrap_or_else(|| {
                    super::security::default_response_prefix(m.topic_prefix.get_ref())
                }),
            ca_file: m.ca_file.as_ref().map(|f| f.get_ref().into()),
            client_cert: cert.zip(key),
            qos: qos? as u8,
            retain: m.retain,
            json_data: m.json_data.as_ref().map_or(true, |d| *d.get_ref()),
            max_inflight: inflight? as u16,
            keep_alive,
            brokers,
        })
    }

    /// `[gateway]`.
    fn gateway(&mut self, g: &GatewayConfig) -> Option<Gateway> {
        let max = self.int(
            &g.queue_max_messages,
            "queue_max_messages",
            1..=i64::MAX,
            "",
        );
        let command_timeout = self.secs(&g.command_timeout, "command_timeout", 0.1, 3600.0);
        let spill_after = self.secs(&g.spill_after, "spill_after", 0.01, 60.0);
        let http_listen = match &g.http_listen {
            None => None,
            Some(h) => match h.get_ref().parse() {
                Ok(a) => Some(a),
                Err(_) => {
                    self.at(
                        h.span(),
                        format!("http_listen = {:?}: must be ip:port", h.get_ref()),
                    );
                    return None;
                }
            },
        };
        Some(Gateway {
            store_path: settings::store_path(g.store_path.as_deref()),
            queue_max_messages: max? as u64,
            http_listen,
            http_token_file: g.http_token_file.as_ref().map(|f| f.get_ref().into()),
            command_timeout: command_timeout?,
            spill_after: spill_after?,
            audit_topic: g.audit_topic,
        })
    }

    /// The security checks of `[mqtt]`: credentials and the response topic prefix.
    fn security(&mut self, m: &MqttConfig) {
        use super::security as sec;
        if (m.password.is_some() || m.password_file.is_some()) && m.username.is_none() {
            self.at(url_span(m), "password given without username");
        }
        if let (Some(_), Some(f)) = (&m.password, &m.password_file) {
            self.at(
                f.span(),
                "password and password_file: give one (password_file is better)",
            );
        }
        if let Some(f) = &m.password_file {
            let path = sec::credential_path(f.get_ref());
            if !path.is_file() {
                self.at(
                    f.span(),
                    format!(
                        "password_file {:?} is not a readable file",
                        path.display().to_string()
                    ),
                );
            }
        }
        if let Some(p) = &m.response_topic_prefix {
            if let Some(problem) =
                sec::response_prefix_problem(p.get_ref(), m.topic_prefix.get_ref())
            {
                self.at(p.span(), problem);
            }
        }
    }

    /// `[cluster]` and each RTU's `preferred_node`.
    fn cluster(&mut self, k: &ClusterConfig, config: &Config, text: &str) -> Cluster {
        let standby = self.int(&k.standby, "standby", 0..=64, "");
        let hb = self.int(&k.heartbeat, "heartbeat", 1..=65535, " whole seconds");
        let ht = self.secs(&k.handover_timeout, "handover_timeout", 0.1, 3600.0);
        let pf = self.secs(&k.path_failover, "path_failover", 0.1, 3600.0);
        let mut preferred = std::collections::HashMap::new();
        for r in &config.rtu {
            if let Some(p) = &r.preferred_node {
                self.level(p, "preferred_node", true);
                preferred.insert(r.name.get_ref().clone(), p.get_ref().clone());
            }
        }
        Cluster {
            standby: standby.unwrap_or(0) as usize,
            heartbeat: Duration::from_secs(hb.unwrap_or(1) as u64),
            handover_timeout: ht.unwrap_or(Duration::from_secs(5)),
            path_failover: pf.unwrap_or(Duration::from_secs(3)),
            config_hash: super::hash::config_hash(text),
            preferred,
        }
    }
}

impl Checker<'_> {
    /// `[sparkplug]` checked: its own values, every RTU's edge node and device ids.
    fn sparkplug(
        &mut self,
        config: &Config,
        rtus: &[super::settings::Rtu],
    ) -> Option<iec104_sparkplug::SparkplugSettings> {
        let s = match config.sparkplug.as_ref()?.resolve() {
            Ok(s) => s,
            Err(e) => {
                self.at(0..0, e.to_string());
                return None;
            }
        };
        for r in rtus {
            if let Err(e) = s.edge_node_id(&r.name).and_then(|_| s.device_id(&r.name)) {
                self.at(0..0, format!("[sparkplug] for rtu {:?}: {e}", r.name));
            }
        }
        Some(s)
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
pub(super) mod tests;

/// The span of whichever of `url`/`urls` is given (for problems about `[mqtt]` as a whole).
pub(super) fn url_span(m: &MqttConfig) -> std::ops::Range<usize> {
    match (&m.url, &m.urls) {
        (Some(u), _) => u.span(),
        (None, Some(u)) => u.span(),
        (None, None) => 0..0,
    }
}

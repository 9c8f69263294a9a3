//! Validation: every problem of a configuration at once, each with its line and column.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use iec104::LinkConfig;
use toml::Spanned;

use super::{Config, Loaded, PointMap};

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Why a configuration cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        error: String,
    },
    /// Syntax or validation errors.
    #[error("{}", render(.origin, .problems))]
    Invalid {
        /// The file.
        origin: String,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

fn render(origin: &str, problems: &[Problem]) -> String {
    let mut out = format!("invalid configuration {origin}:");
    for p in problems {
        out.push_str(&format!(
            "\n  {origin}:{}:{}: {}",
            p.line, p.column, p.message
        ));
    }
    out
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut col = 1;
    for (i, c) in text.char_indices() {
        if i >= offset {
            break;
        }
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
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
}

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

pub(super) struct Checker<'t> {
    text: &'t str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    pub(super) fn at(&mut self, span: std::ops::Range<usize>, message: impl Into<String>) {
        let (line, column) = if span == (0..0) {
            (0, 0)
        } else {
            line_col(self.text, span.start)
        };
        self.problems.push(Problem {
            line,
            column,
            message: message.into(),
        });
    }

    fn seconds(&mut self, v: &Option<Spanned<f64>>, key: &str, min: f64) -> Option<Duration> {
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
}

/// A topic level: non-empty, no MQTT wildcard or separator.
pub(super) fn topic_level_ok(s: &str) -> bool {
    !s.is_empty() && !s.contains(['/', '+', '#', '\0']) && s.len() <= 128
}

fn parse_tz(s: &str) -> Option<i32> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("utc") || s == "Z" {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, s.get(1..)?),
        Some(b'-') => (-1, s.get(1..)?),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

pub(super) fn parse_url(url: &str) -> Result<Broker, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("url {url:?}: expected mqtt://host:port or mqtts://host:port"))?;
    let tls = match scheme {
        "mqtt" | "tcp" => false,
        "mqtts" | "ssl" => true,
        other => return Err(format!("url scheme {other:?}: expected mqtt or mqtts")),
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("url {url:?}: port {p:?} is not a number 1..=65535"))?,
        ),
        None => (rest, if tls { 8883 } else { 1883 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || port == 0 {
        return Err(format!("url {url:?}: host and port 1..=65535 needed"));
    }
    Ok(Broker {
        host: host.to_owned(),
        port,
        tls,
    })
}

/// The configuration hash shared by the nodes of a cluster: FNV-1a 64 over the TOML
/// re-serialised (keys sorted) without the node-specific keys `cluster.node_id`,
/// `gateway.node`, `gateway.http_listen`, `gateway.http_token_file` and `gateway.store_path`,
/// in a canonical rendering
/// (sorted keys, so the order and formatting of the file do not matter); 16 hex digits.
pub fn config_hash(text: &str) -> String {
    let mut table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(_) => return format!("{:016x}", crate::model::hash::fnv1a64(text.as_bytes())),
    };
    if let Some(toml::Value::Table(c)) = table.get_mut("cluster") {
        c.remove("node_id");
    }
    if let Some(toml::Value::Table(g)) = table.get_mut("gateway") {
        g.remove("node");
        g.remove("http_listen");
        g.remove("http_token_file");
        g.remove("store_path");
        if g.is_empty() {
            table.remove("gateway");
        }
    }
    let mut canonical = String::new();
    canonical_toml(&toml::Value::Table(table), &mut canonical);
    format!("{:016x}", crate::model::hash::fnv1a64(canonical.as_bytes()))
}

/// A canonical rendering of a TOML value: tables with sorted keys, whatever the map type
/// (toml's `preserve_order` feature may be switched on by another crate).
fn canonical_toml(v: &toml::Value, out: &mut String) {
    use std::fmt::Write as _;
    match v {
        toml::Value::Table(t) => {
            let mut keys: Vec<&String> = t.keys().collect();
            keys.sort();
            out.push('{');
            for k in keys {
                let _ = write!(out, "{k:?}=");
                if let Some(v) = t.get(k) {
                    canonical_toml(v, out);
                }
                out.push(',');
            }
            out.push('}');
        }
        toml::Value::Array(a) => {
            out.push('[');
            for v in a {
                canonical_toml(v, out);
                out.push(',');
            }
            out.push(']');
        }
        toml::Value::String(s) => {
            let _ = write!(out, "{s:?}");
        }
        other => {
            let _ = write!(out, "{other}");
        }
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
pub fn validate(config: Config, text: &str, origin: &str) -> Result<Loaded, ConfigError> {
    let mut c = Checker {
        text,
        problems: Vec::new(),
    };
    let broker = super::brokers::resolve(&config.mqtt, &mut c);
    if let Some(ca) = &config.mqtt.ca_file {
        if !std::path::Path::new(ca.get_ref()).is_file() {
            c.at(
                ca.span(),
                format!("ca_file {:?} is not a readable file", ca.get_ref()),
            );
        }
    }
    if config.mqtt.password.is_some() && config.mqtt.username.is_none() {
        let span = config.mqtt.url.as_ref().map_or(0..0, |u| u.span());
        c.at(span, "password given without username");
    }
    if !topic_level_ok(config.mqtt.topic_prefix.get_ref()) {
        c.at(
            config.mqtt.topic_prefix.span(),
            "topic_prefix must be one non-empty topic level without '/', '+' or '#'",
        );
    }
    if !matches!(*config.mqtt.version.get_ref(), 4 | 5) {
        c.at(
            config.mqtt.version.span(),
            "version must be 5 (MQTT 5) or 4 (MQTT 3.1.1)",
        );
    }
    if *config.mqtt.qos.get_ref() > 1 {
        c.at(config.mqtt.qos.span(), "qos must be 0 or 1");
    }
    if *config.mqtt.max_inflight.get_ref() == 0 {
        c.at(
            config.mqtt.max_inflight.span(),
            "max_inflight must be at least 1",
        );
    }
    if *config.mqtt.keep_alive.get_ref() < 5 || *config.mqtt.keep_alive.get_ref() > 65535 {
        c.at(
            config.mqtt.keep_alive.span(),
            "keep_alive must be 5..=65535 seconds",
        );
    }
    if *config.gateway.queue_max_messages.get_ref() == 0 {
        c.at(
            config.gateway.queue_max_messages.span(),
            "queue_max_messages must be at least 1",
        );
    }
    let ct = *config.gateway.command_timeout.get_ref();
    if !(0.1..=3600.0).contains(&ct) {
        c.at(
            config.gateway.command_timeout.span(),
            "command_timeout must be 0.1..=3600 seconds",
        );
    }
    let sa = *config.gateway.spill_after.get_ref();
    if !(0.01..=60.0).contains(&sa) {
        c.at(
            config.gateway.spill_after.span(),
            "spill_after must be 0.01..=60 seconds",
        );
    }
    if let Some(h) = &config.gateway.http_listen {
        if h.get_ref().parse::<std::net::SocketAddr>().is_err() {
            c.at(
                h.span(),
                format!("http_listen {:?} is not ip:port", h.get_ref()),
            );
        }
    }
    let cluster_node = config.cluster.as_ref().and_then(|c| c.node_id.as_ref());
    let node = match (cluster_node, &config.gateway.node) {
        (Some(n), _) | (None, Some(n))
            if topic_level_ok(n.get_ref()) && !n.get_ref().starts_with('_') =>
        {
            n.get_ref().clone()
        }
        (Some(n), _) | (None, Some(n)) => {
            c.at(
                n.span(),
                "node id must be one topic level without '/', '+' or '#' and not start with '_'",
            );
            String::new()
        }
        (None, None) => default_node(),
    };
    let cluster = config.cluster.as_ref().map(|k| {
        let standby = *k.standby.get_ref();
        if standby > 64 {
            c.at(k.standby.span(), format!("standby = {standby}: must be 0..=64"));
        }
        let hb = *k.heartbeat.get_ref();
        if !(1..=65535).contains(&hb) {
            c.at(
                k.heartbeat.span(),
                format!("heartbeat = {hb}: must be 1..=65535 whole seconds"),
            );
        }
        let ht = *k.handover_timeout.get_ref();
        if !ht.is_finite() || !(0.1..=3600.0).contains(&ht) {
            c.at(
                k.handover_timeout.span(),
                format!("handover_timeout = {ht}: must be 0.1..=3600 seconds"),
            );
        }
        let mut preferred = HashMap::new();
        for r in &config.rtu {
            if let Some(p) = &r.preferred_node {
                if !topic_level_ok(p.get_ref()) || p.get_ref().starts_with('_') {
                    c.at(
                        p.span(),
                        "preferred_node must be one topic level without '/', '+' or '#' and not start with '_'",
                    );
                }
                preferred.insert(r.name.get_ref().clone(), p.get_ref().clone());
            }
        }
        super::Cluster {
            standby: standby as usize,
            heartbeat: Duration::from_secs(hb.clamp(1, 65535)),
            handover_timeout: Duration::from_secs_f64(if ht.is_finite() { ht.clamp(0.1, 3600.0) } else { 5.0 }),
            config_hash: config_hash(text),
            preferred,
        }
    });
    if cluster.is_none() {
        for r in &config.rtu {
            if let Some(p) = &r.preferred_node {
                c.at(p.span(), "preferred_node needs a [cluster] section");
            }
        }
    }

    let mut names = HashSet::new();
    let mut rtus = Vec::new();
    for r in &config.rtu {
        let name = r.name.get_ref().clone();
        if !topic_level_ok(&name) || name.starts_with('_') {
            c.at(
                r.name.span(),
                format!("rtu name {name:?} must be one topic level without '/', '+', '#' and not start with '_'"),
            );
        } else if !names.insert(name.clone()) {
            c.at(r.name.span(), format!("duplicate rtu name {name:?}"));
        }
        let addresses = match (&r.address, &r.addresses) {
            (Some(a), None) => vec![(a.get_ref().clone(), a.span())],
            (None, Some(list)) => list
                .get_ref()
                .iter()
                .map(|a| (a.clone(), list.span()))
                .collect(),
            (Some(a), Some(_)) => {
                c.at(
                    a.span(),
                    format!("rtu {name:?}: give address or addresses, not both"),
                );
                Vec::new()
            }
            (None, None) => {
                c.at(
                    r.name.span(),
                    format!("rtu {name:?}: address or addresses missing"),
                );
                Vec::new()
            }
        };
        if addresses.is_empty() && r.addresses.is_some() {
            c.at(
                r.name.span(),
                format!("rtu {name:?}: addresses must not be empty"),
            );
        }
        for (a, span) in &addresses {
            let ok = a
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !ok {
                c.at(
                    span.clone(),
                    format!("rtu {name:?}: address {a:?} is not host:port"),
                );
            }
        }
        let cas = r.common_address.get_ref().to_vec();
        let mut seen = HashSet::new();
        if cas.is_empty() {
            c.at(
                r.common_address.span(),
                format!("rtu {name:?}: common_address list is empty"),
            );
        }
        for ca in &cas {
            if *ca == 0 || *ca == 0xFFFF {
                c.at(
                    r.common_address.span(),
                    format!(
                        "rtu {name:?}: common_address {ca} is not a station address (1..=65534)"
                    ),
                );
            }
            if !seen.insert(*ca) {
                c.at(
                    r.common_address.span(),
                    format!("rtu {name:?}: duplicate common_address {ca}"),
                );
            }
        }
        let mut link = LinkConfig {
            auto_release: false,
            ..LinkConfig::default()
        };
        if let Some(k) = &r.k {
            link.k = *k.get_ref();
        }
        if let Some(w) = &r.w {
            link.w = *w.get_ref();
        }
        for (v, key, slot) in [
            (&r.t0, "t0", &mut link.t0),
            (&r.t1, "t1", &mut link.t1),
            (&r.t2, "t2", &mut link.t2),
            (&r.t3, "t3", &mut link.t3),
        ] {
            if let Some(d) = c.seconds(v, key, 0.001) {
                *slot = d;
            }
        }
        // An I-frame waits up to spill_after (plus a disk commit) for its release: the RTU must
        // not time out on it meanwhile.
        if sa * 2.0 >= link.t1.as_secs_f64() {
            c.at(
                config.gateway.spill_after.span(),
                format!(
                    "rtu {name:?}: spill_after ({sa} s) must stay below half of t1 ({} s)",
                    link.t1.as_secs_f64()
                ),
            );
        }
        if let Err(e) = link.validate() {
            let span = r.k.as_ref().map(|k| k.span()).unwrap_or(r.name.span());
            c.at(span, format!("rtu {name:?}: link parameters: {e}"));
        }
        let interrogation_period = c
            .seconds(&r.interrogation_period, "interrogation_period", 0.0)
            .filter(|d| !d.is_zero());
        let counter_interrogation_period = c.seconds(
            &r.counter_interrogation_period,
            "counter_interrogation_period",
            1.0,
        );
        let clock_sync_period = c.seconds(&r.clock_sync_period, "clock_sync_period", 1.0);
        let tz_offset_secs = match &r.time_zone {
            None => 0,
            Some(tz) => parse_tz(tz.get_ref()).unwrap_or_else(|| {
                c.at(
                    tz.span(),
                    format!(
                        "time_zone {:?}: expected \"UTC\" or an offset like \"+01:00\"",
                        tz.get_ref()
                    ),
                );
                0
            }),
        };
        let mut points = PointMap::new();
        let mut point_names = HashMap::new();
        for p in &r.point {
            let ca = p.ca.or(cas.first().copied()).unwrap_or(0);
            let ioa = *p.ioa.get_ref();
            if ioa > 0xFF_FFFF {
                c.at(
                    p.ioa.span(),
                    format!("ioa {ioa} exceeds 3 octets (16777215)"),
                );
            }
            if p.ca.is_some_and(|pca| !cas.contains(&pca)) {
                c.at(
                    p.ioa.span(),
                    format!("point ca {ca} is not a common_address of rtu {name:?}"),
                );
            }
            let point_name = p.name.as_ref().map(|n| {
                let s = n.get_ref().clone();
                if !topic_level_ok(&s) || s == "status" || s.parse::<u32>().is_ok() {
                    c.at(
                        n.span(),
                        format!("point name {s:?} must be one topic level without '/', '+', '#', not a number and not \"status\""),
                    );
                } else if point_names.insert(s.clone(), (ca, ioa)).is_some() {
                    c.at(n.span(), format!("duplicate point name {s:?} in rtu {name:?}"));
                }
                s
            });
            for (v, key) in [(&p.scale, "scale"), (&p.offset, "offset")] {
                if let Some(v) = v {
                    if !v.get_ref().is_finite() {
                        c.at(v.span(), format!("{key} must be a finite number"));
                    }
                }
            }
            if let Some(d) = &p.deadband {
                if !d.get_ref().is_finite() || *d.get_ref() < 0.0 {
                    c.at(d.span(), "deadband must be a finite number >= 0");
                }
            }
            let point = Point {
                name: point_name,
                scale: p.scale.as_ref().map(|v| *v.get_ref()),
                offset: p.offset.as_ref().map(|v| *v.get_ref()),
                deadband: p.deadband.as_ref().map(|v| *v.get_ref()),
                commands: p.commands,
            };
            if points.insert((ca, ioa), point).is_some() {
                c.at(
                    p.ioa.span(),
                    format!("duplicate point ca {ca} ioa {ioa} in rtu {name:?}"),
                );
            }
        }
        rtus.push(Rtu {
            name,
            addresses: addresses.into_iter().map(|(a, _)| a).collect(),
            common_addresses: cas,
            link,
            interrogation_period,
            counter_interrogation_period,
            clock_sync_period,
            tz_offset_secs,
            points,
            names: point_names,
        });
    }
    match (c.problems.is_empty(), broker) {
        (true, Some((broker, brokers))) => Ok(Loaded {
            config,
            rtus,
            broker,
            brokers,
            node,
            cluster,
        }),
        _ => Err(ConfigError::Invalid {
            origin: origin.to_owned(),
            problems: c.problems,
        }),
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    const GOOD: &str = r#"
[mqtt]
url = "mqtt://127.0.0.1:1883"
topic_prefix = "iec104"

[[rtu]]
name = "sub1"
address = "127.0.0.1:2404"
common_address = 1

[[rtu]]
name = "sub2"
addresses = ["127.0.0.1:2405", "127.0.0.2:2405"]
common_address = [2, 3]
t1 = 20
interrogation_period = 600
time_zone = "+01:00"
[[rtu.point]]
ioa = 100
name = "breaker_q1"
commands = true
"#;

    #[test]
    fn good_config_resolves() {
        let loaded = parse(GOOD, "good.toml").unwrap();
        assert_eq!(loaded.rtus.len(), 2);
        let sub2 = &loaded.rtus[1];
        assert_eq!(sub2.addresses.len(), 2);
        assert_eq!(sub2.common_addresses, vec![2, 3]);
        assert_eq!(sub2.link.t1, Duration::from_secs(20));
        assert!(!sub2.link.auto_release);
        assert_eq!(sub2.tz_offset_secs, 3600);
        assert_eq!(sub2.names.get("breaker_q1"), Some(&(2, 100)));
        assert!(sub2.points[&(2, 100)].commands);
        assert_eq!(loaded.broker.port, 1883);
    }

    fn problems(text: &str) -> Vec<Problem> {
        match parse(text, "t.toml") {
            Err(ConfigError::Invalid { problems, .. }) => problems,
            other => panic!("expected errors, got {other:?}"),
        }
    }

    #[test]
    fn duplicate_names_have_line_and_column() {
        let text = GOOD.replace("name = \"sub2\"", "name = \"sub1\"");
        let p = problems(&text);
        assert_eq!(p.len(), 1, "{p:?}");
        // The second `name = "sub1"` is on line 12 of GOOD (line 1 is empty); the value starts
        // at column 8.
        assert_eq!((p[0].line, p[0].column), (12, 8));
        assert!(p[0].message.contains("duplicate rtu name \"sub1\""));
    }

    #[test]
    fn unknown_key_is_an_error_with_position() {
        let text = GOOD.replace("t1 = 20", "t9 = 10");
        let p = problems(&text);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].line, 15);
        assert!(
            p[0].message.contains("unknown field `t9`"),
            "{}",
            p[0].message
        );
    }

    #[test]
    fn every_impossible_value_is_reported() {
        let text = GOOD
            .replace("common_address = 1\n", "common_address = 0\n")
            .replace("t1 = 20", "t1 = -1")
            .replace("\"+01:00\"", "\"Mars/Olympus\"");
        let p = problems(&text);
        let all: Vec<String> = p.iter().map(|p| p.to_string()).collect();
        assert_eq!(p.len(), 3, "{all:?}");
        assert!(
            all[0].starts_with("9:18: rtu \"sub1\": common_address 0"),
            "{all:?}"
        );
        assert!(all[1].starts_with("15:6: t1 = -1"), "{all:?}");
        assert!(all[2].starts_with("17:13: time_zone"), "{all:?}");
    }

    const CLUSTER: &str = r#"
[mqtt]
url = "mqtt://127.0.0.1:1883"

[cluster]
node_id = "gw-a"
standby = 2
heartbeat = 1
handover_timeout = 2.5

[[rtu]]
name = "sub1"
address = "127.0.0.1:2404"
common_address = 1
preferred_node = "gw-b"
"#;

    #[test]
    fn cluster_section_resolves() {
        let l = parse(CLUSTER, "c.toml").unwrap();
        assert_eq!(l.node, "gw-a");
        let c = l.cluster.unwrap();
        assert_eq!(c.standby, 2);
        assert_eq!(c.heartbeat, Duration::from_secs(1));
        assert_eq!(c.handover_timeout, Duration::from_millis(2500));
        assert_eq!(c.preferred.get("sub1").map(String::as_str), Some("gw-b"));
        // Defaults.
        let minimal = CLUSTER
            .replace("standby = 2\n", "")
            .replace("heartbeat = 1\n", "")
            .replace("handover_timeout = 2.5\n", "");
        let c = parse(&minimal, "c.toml").unwrap().cluster.unwrap();
        assert_eq!(
            (c.standby, c.heartbeat, c.handover_timeout),
            (1, Duration::from_secs(2), Duration::from_secs(5))
        );
        // Without [cluster]: alone, as before.
        assert!(parse(GOOD, "g.toml").unwrap().cluster.is_none());
    }

    #[test]
    fn node_id_precedence() {
        // [cluster] node_id before [gateway] node.
        let text = format!("[gateway]\nnode = \"other\"\n{CLUSTER}");
        let mut l = parse(&text, "c.toml").unwrap();
        assert_eq!(l.node, "gw-a");
        // --node-id before both.
        l.apply(&super::super::Overrides {
            node_id: Some("gw-z".into()),
            http_listen: Some("127.0.0.1:0".into()),
            store_path: Some("/tmp/q.redb".into()),
        })
        .unwrap();
        assert_eq!(l.node, "gw-z");
        assert_eq!(l.config.gateway.store_path.as_deref(), Some("/tmp/q.redb"));
        assert!(l
            .apply(&super::super::Overrides {
                node_id: Some("a/b".into()),
                ..Default::default()
            })
            .unwrap_err()
            .contains("--node-id"));
        assert!(l
            .apply(&super::super::Overrides {
                http_listen: Some("nowhere".into()),
                ..Default::default()
            })
            .unwrap_err()
            .contains("--http-listen"));
    }

    #[test]
    fn bad_cluster_values_have_line_and_column() {
        let text = CLUSTER
            .replace("node_id = \"gw-a\"", "node_id = \"gw/a\"")
            .replace("standby = 2", "standby = 65")
            .replace("heartbeat = 1", "heartbeat = 0")
            .replace("handover_timeout = 2.5", "handover_timeout = -1.0")
            .replace("preferred_node = \"gw-b\"", "preferred_node = \"#\"");
        let p = problems(&text);
        let all: Vec<String> = p.iter().map(|p| p.to_string()).collect();
        assert_eq!(p.len(), 5, "{all:?}");
        // Line 6 is `node_id = "gw/a"` (line 1 is empty), the value at column 11; the
        // others follow on lines 7-9 (values at columns 11, 13, 20) and line 15 (column 18).
        assert!(all[0].starts_with("6:11: node id"), "{all:?}");
        assert!(all[1].starts_with("7:11: standby = 65"), "{all:?}");
        assert!(all[2].starts_with("8:13: heartbeat = 0"), "{all:?}");
        assert!(all[3].starts_with("9:20: handover_timeout = -1"), "{all:?}");
        assert!(all[4].starts_with("15:18: preferred_node"), "{all:?}");
        // Unknown keys in [cluster] are errors too.
        let p = problems(&CLUSTER.replace("standby = 2", "standbys = 2"));
        assert_eq!(p[0].line, 7, "{p:?}");
        assert!(p[0].message.contains("unknown field `standbys`"));
        // preferred_node without [cluster].
        let p = problems(&GOOD.replace(
            "common_address = 1\n",
            "common_address = 1\npreferred_node = \"gw-a\"\n",
        ));
        assert!(p[0].message.contains("needs a [cluster]"), "{p:?}");
    }

    #[test]
    fn config_hash_ignores_node_specific_keys_and_layout() {
        let base = config_hash(CLUSTER);
        assert_eq!(base.len(), 16);
        let other_node = CLUSTER.replace("node_id = \"gw-a\"", "node_id = \"gw-b\"");
        assert_eq!(config_hash(&other_node), base);
        let with_gateway = format!(
            "[gateway]\nnode = \"x\"\nhttp_listen = \"127.0.0.1:9000\"\nstore_path = \"/q\"\n{CLUSTER}"
        );
        assert_eq!(config_hash(&with_gateway), base);
        // Comments, spacing and the order of keys do not matter.
        let reordered = CLUSTER.replace(
            "standby = 2\nheartbeat = 1",
            "heartbeat   = 1 # beat\nstandby = 2",
        );
        assert_eq!(config_hash(&reordered), base);
        // Anything shared does.
        assert_ne!(
            config_hash(&CLUSTER.replace("standby = 2", "standby = 1")),
            base
        );
        assert_ne!(
            config_hash(&format!("[gateway]\nqueue_max_messages = 5\n{CLUSTER}")),
            base
        );
    }

    #[test]
    fn spill_after_must_stay_below_half_of_every_t1() {
        // sub1 has the default t1 of 15 s, sub2 t1 = 20 s: 8 s is too long for sub1 only.
        let with = |v: &str| {
            GOOD.replace(
                "topic_prefix = \"iec104\"\n",
                &format!("topic_prefix = \"iec104\"\n[gateway]\nspill_after = {v}\n"),
            )
        };
        assert!(parse(&with("7.4"), "t.toml").is_ok());
        let p = problems(&with("8"));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].message.contains("rtu \"sub1\": spill_after (8 s)"),
            "{}",
            p[0].message
        );
        assert_eq!(problems(&with("0")).len(), 1);
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}

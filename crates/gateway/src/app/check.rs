//! `check --config FILE`: validate and print what the gateway would do.

use std::path::Path;
use std::process::ExitCode;

use crate::config::{self, MqttVersion};
use crate::contract::{Address, PointRef, Topics};

/// Prints the plan, or every error with its line and column (exit code 2).
pub fn run(path: &Path, node_id: Option<String>) -> ExitCode {
    let overrides = config::Overrides {
        node_id,
        ..Default::default()
    };
    let loaded = match super::load(path, &overrides) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    say!("configuration {} is valid", path.display());
    print_process(&loaded);
    print_cluster(&loaded);
    for r in &loaded.rtus {
        print_rtu(&loaded, r);
    }
    ExitCode::SUCCESS
}

/// Broker, queue, HTTP endpoint, commands, TLS.
fn print_process(loaded: &config::Loaded) {
    let m = &loaded.mqtt;
    let prefix = &m.topic_prefix;
    let order = m.brokers.in_order(&loaded.broker, &loaded.node);
    let first = order.first().unwrap_or(&loaded.broker);
    say!(
        "broker: {}://{}:{} MQTT {} (data qos {}, retain {}, at most {} in flight), node {:?}",
        if first.tls { "mqtts" } else { "mqtt" },
        first.host,
        first.port,
        if configured_v5(loaded) { "5" } else { "3.1.1" },
        m.qos,
        m.retain,
        m.max_inflight,
        loaded.node,
    );
    if !m.json_data {
        say!("JSON data messages: off (json_data = false); the RTUs' values go out as Sparkplug B only");
    }
    print_brokers(loaded, &order);
    say!(
        "queue: {} (at most {} messages, oldest dropped beyond)",
        crate::app::store_path(loaded).display(),
        loaded.gateway.queue_max_messages
    );
    if let Some(h) = &loaded.gateway.http_listen {
        say!("http: http://{h}/metrics, /health, /ready");
    }
    say!(
        "commands: on {prefix}/{{rtu}}/{{ca}}/{{ioa}}/command for points with commands = true; results on .../command/result{}",
        if configured_v5(loaded) { " or the MQTT 5 response topic" } else { "" }
    );
    if order.iter().any(|b| b.tls) {
        match &m.ca_file {
            Some(ca) => say!("TLS with the CA certificates of {}", ca.display()),
            None => say!("TLS with the system CA bundle ({})", crate::app::SYSTEM_CA),
        }
        if let Some((cert, _)) = &m.client_cert {
            say!("client certificate {} (mutual TLS)", cert.display());
        }
    }
}

/// The brokers after the node's first, and when the node moves between them.
fn print_brokers(loaded: &config::Loaded, order: &[config::Broker]) {
    let b = &loaded.mqtt.brokers;
    if order.len() < 2 {
        return;
    }
    for o in order.iter().skip(1) {
        say!(
            "then broker: {}://{}:{}",
            if o.tls { "mqtts" } else { "mqtt" },
            o.host,
            o.port
        );
    }
    say!(
        "brokers: order {} for this node, next broker when the connection is lost or no CONNACK within {:?}; {}",
        match b.order {
            config::BrokerOrder::Listed => "listed",
            config::BrokerOrder::Shuffled => "shuffled",
        },
        b.connect_timeout,
        match b.return_check {
            Some(every) => format!(
                "back to {}:{} when it answers (checked every {every:?})",
                order[0].host, order[0].port
            ),
            None => "stays on the broker it reached (return_to_first = false)".to_owned(),
        }
    );
}

/// Presence, cluster settings.
fn print_cluster(loaded: &config::Loaded) {
    let topics = Topics::new(loaded.mqtt.topic_prefix.as_str());
    match &loaded.cluster {
        None => say!(
            "presence: {} (retained, last will offline)",
            topics.presence(&loaded.node)
        ),
        Some(c) => {
            say!(
                "cluster: node {:?}, {} standby node(s) per RTU, heartbeat {} s (MQTT keep-alive), handover timeout {:?}, path failover {:?}, config hash {}",
                loaded.node,
                c.standby,
                c.heartbeat.as_secs(),
                c.handover_timeout,
                c.path_failover,
                c.config_hash
            );
            if loaded.mqtt.fallback.is_some() {
                say!("cluster: heartbeat under 5 s: the node speaks MQTT 3.1.1 (the MQTT 5 client needs a keep-alive of 5 s or more)");
            }
            say!(
                "cluster presence: {} (retained, last will offline); standby status: {}",
                topics.cluster(&loaded.node),
                topics.standby("{rtu}", &loaded.node)
            );
        }
    }
}

/// One RTU: addresses, link parameters, periods, topics, points.
fn print_rtu(loaded: &config::Loaded, r: &config::Rtu) {
    let topics = Topics::new(loaded.mqtt.topic_prefix.as_str());
    say!(
        "rtu {:?}: {} common address(es) {:?}",
        r.name,
        r.addresses.join(" then "),
        r.common_addresses
    );
    say!(
        "  k={} w={} t0={:?} t1={:?} t2={:?} t3={:?}",
        r.link.k,
        r.link.w,
        r.link.t0,
        r.link.t1,
        r.link.t2,
        r.link.t3
    );
    if let Some(t) = &r.tls {
        let files = |f: &[std::path::PathBuf]| {
            f.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        say!(
            "  TLS (IEC 62351-3): CA {}, certificate {}, CRL {}, allowed {}, hostname check {}",
            if t.ca_files.is_empty() {
                "none (allow-list only)".to_owned()
            } else {
                files(&t.ca_files)
            },
            t.cert_file
                .as_ref()
                .map_or("none".to_owned(), |p| p.display().to_string()),
            t.crl_file
                .as_ref()
                .map_or("none".to_owned(), |p| p.display().to_string()),
            if t.allowed_certs.is_empty() {
                "any the CA signs".to_owned()
            } else {
                files(&t.allowed_certs)
            },
            if t.check_hostname { "on" } else { "off" },
        );
    }
    let period = |p: Option<std::time::Duration>| {
        p.map(|d| format!("every {d:?}"))
            .unwrap_or_else(|| "no".into())
    };
    say!(
        "  general interrogation after STARTDT and {}; counter interrogation: {}; clock sync: {}",
        period(r.interrogation_period).replace("no", "not periodically"),
        period(r.counter_interrogation_period),
        period(r.clock_sync_period)
    );
    if let Some(p) = loaded
        .cluster
        .as_ref()
        .and_then(|c| c.preferred.get(&r.name))
    {
        say!("  preferred node: {p}");
    }
    say!("  status: {} (retained)", topics.status(&r.name));
    say!("  data:   {}{{ca}}/{{ioa}}", topics.data_base(&r.name));
    let mut points: Vec<_> = r.points.iter().collect();
    points.sort_by_key(|(k, _)| **k);
    for ((ca, ioa), p) in points {
        let point = match &p.name {
            Some(n) => PointRef::Name(n.clone()),
            None => PointRef::Address(Address { ca: *ca, ioa: *ioa }),
        };
        let topic = topics.data(&r.name, &point);
        let mut notes = Vec::new();
        if let Some(s) = p.scale {
            notes.push(format!("scale {s}"));
        }
        if let Some(o) = p.offset {
            notes.push(format!("offset {o}"));
        }
        if let Some(d) = p.deadband {
            notes.push(format!("deadband {d}"));
        }
        if p.commands {
            notes.push(format!("commands on {topic}/command"));
        }
        say!("  point ca {ca} ioa {ioa}: {topic} {}", notes.join(", "));
    }
}

/// MQTT 5 was configured (the node may still speak 3.1.1: see the cluster lines).
fn configured_v5(loaded: &config::Loaded) -> bool {
    loaded.mqtt.version == MqttVersion::V5 || loaded.mqtt.fallback.is_some()
}

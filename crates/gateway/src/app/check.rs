//! `check --config FILE`: validate and print what the gateway would do.

use std::path::Path;
use std::process::ExitCode;

use crate::config;

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
    let cfg = &loaded.config;
    let prefix = cfg.mqtt.topic_prefix.get_ref();
    say!(
        "broker: {}://{}:{} MQTT {} (data qos {}, retain {}, at most {} in flight), node {:?}",
        if loaded.broker.tls { "mqtts" } else { "mqtt" },
        loaded.broker.host,
        loaded.broker.port,
        if *cfg.mqtt.version.get_ref() == 5 {
            "5"
        } else {
            "3.1.1"
        },
        cfg.mqtt.qos.get_ref(),
        cfg.mqtt.retain,
        cfg.mqtt.max_inflight.get_ref(),
        loaded.node,
    );
    for b in loaded
        .brokers
        .in_order(&loaded.broker, &loaded.node)
        .iter()
        .skip(1)
    {
        say!(
            "then broker: {}://{}:{} (connect timeout {:?})",
            if b.tls { "mqtts" } else { "mqtt" },
            b.host,
            b.port,
            loaded.brokers.connect_timeout
        );
    }
    say!(
        "queue: {} (at most {} messages, oldest dropped beyond)",
        crate::app::store_path(loaded).display(),
        cfg.gateway.queue_max_messages.get_ref()
    );
    if let Some(h) = &cfg.gateway.http_listen {
        say!("http: http://{}/metrics, /health, /ready", h.get_ref());
    }
    say!(
        "commands: on {prefix}/{{rtu}}/{{ca}}/{{ioa}}/command for points with commands = true; results on .../command/result{}",
        if *cfg.mqtt.version.get_ref() == 5 { " or the MQTT 5 response topic" } else { "" }
    );
    if loaded.broker.tls || loaded.brokers.others.iter().any(|b| b.tls) {
        match &cfg.mqtt.ca_file {
            Some(ca) => say!("TLS with the CA certificates of {}", ca.get_ref()),
            None => say!("TLS with the system CA bundle ({})", crate::app::SYSTEM_CA),
        }
        if let Some(cert) = &cfg.mqtt.cert_file {
            say!("client certificate {} (mutual TLS)", cert.get_ref());
        }
    }
}

/// Presence, cluster settings.
fn print_cluster(loaded: &config::Loaded) {
    let prefix = loaded.config.mqtt.topic_prefix.get_ref();
    let cfg = &loaded.config;
    match &loaded.cluster {
        None => say!(
            "presence: {prefix}/_gateway/{} (retained, last will offline)",
            loaded.node
        ),
        Some(c) => {
            say!(
                "cluster: node {:?}, {} standby node(s) per RTU, heartbeat {} s (MQTT keep-alive), handover timeout {:?}, config hash {}",
                loaded.node,
                c.standby,
                c.heartbeat.as_secs(),
                c.handover_timeout,
                c.config_hash
            );
            if *cfg.mqtt.version.get_ref() == 5 && c.heartbeat.as_secs() < 5 {
                say!("cluster: heartbeat under 5 s: the node speaks MQTT 3.1.1 (the MQTT 5 client needs a keep-alive of 5 s or more)");
            }
            say!(
                "cluster presence: {prefix}/_cluster/{} (retained, last will offline); standby status: {prefix}/{{rtu}}/standby/{}",
                loaded.node,
                loaded.node
            );
        }
    }
}

/// One RTU: addresses, link parameters, periods, topics, points.
fn print_rtu(loaded: &config::Loaded, r: &config::Rtu) {
    let prefix = loaded.config.mqtt.topic_prefix.get_ref();
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
    say!("  status: {prefix}/{}/status (retained)", r.name);
    say!("  data:   {prefix}/{}/{{ca}}/{{ioa}}", r.name);
    let mut points: Vec<_> = r.points.iter().collect();
    points.sort_by_key(|(k, _)| **k);
    for ((ca, ioa), p) in points {
        let topic = match &p.name {
            Some(n) => format!("{prefix}/{}/{n}", r.name),
            None => format!("{prefix}/{}/{ca}/{ioa}", r.name),
        };
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

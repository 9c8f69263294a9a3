//! `check --config FILE`: validate and print what the gateway would do.

use std::path::Path;
use std::process::ExitCode;

use crate::config;

/// Prints the plan, or every error with its line and column (exit code 2).
pub fn run(path: &Path) -> ExitCode {
    let loaded = match config::load(path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let cfg = &loaded.config;
    let prefix = cfg.mqtt.topic_prefix.get_ref();
    println!("configuration {} is valid", path.display());
    println!(
        "broker: {}:{} (qos {}, retain {}), node {:?}, queue {} (at most {} messages)",
        loaded.broker.host,
        loaded.broker.port,
        cfg.mqtt.qos.get_ref(),
        cfg.mqtt.retain,
        loaded.node,
        crate::app::store_path(&loaded).display(),
        cfg.gateway.queue_max_messages.get_ref()
    );
    if loaded.broker.tls {
        match &cfg.mqtt.ca_file {
            Some(ca) => println!("TLS with the CA certificates of {}", ca.get_ref()),
            None => println!("TLS with the system CA bundle ({})", crate::app::SYSTEM_CA),
        }
        if let Some(cert) = &cfg.mqtt.cert_file {
            println!("client certificate {} (mutual TLS)", cert.get_ref());
        }
    }
    println!(
        "presence: {prefix}/_gateway/{} (retained, last will offline)",
        loaded.node
    );
    for r in &loaded.rtus {
        println!(
            "rtu {:?}: {} common address(es) {:?}",
            r.name,
            r.addresses.join(" then "),
            r.common_addresses
        );
        println!(
            "  k={} w={} t0={:?} t1={:?} t2={:?} t3={:?}",
            r.link.k, r.link.w, r.link.t0, r.link.t1, r.link.t2, r.link.t3
        );
        let period = |p: Option<std::time::Duration>| {
            p.map(|d| format!("every {d:?}"))
                .unwrap_or_else(|| "no".into())
        };
        println!(
            "  general interrogation after STARTDT and {}; counter interrogation: {}; clock sync: {}",
            period(r.interrogation_period)
                .replace("no", "not periodically"),
            period(r.counter_interrogation_period),
            period(r.clock_sync_period)
        );
        println!("  status: {prefix}/{}/status (retained)", r.name);
        println!("  data:   {prefix}/{}/{{ca}}/{{ioa}}", r.name);
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
            println!("  point ca {ca} ioa {ioa}: {topic} {}", notes.join(", "));
        }
    }
    ExitCode::SUCCESS
}

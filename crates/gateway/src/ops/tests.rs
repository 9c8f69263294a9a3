//! Tests of the exposition (exact series) and of the Grafana dashboard's queries.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::exposition::{
    registry, render, ClusterScalars, Latencies, MetricSource, RtuRow, Scalars, METRIC_NAMES,
};
use super::scrape::{key, parse};

#[derive(Debug, Default)]
pub(crate) struct Fake {
    pub(crate) cluster: bool,
    pub(crate) latencies: Latencies,
}

impl MetricSource for Fake {
    fn scalars(&self) -> Scalars {
        Scalars {
            published: 7,
            queue_depth: 50,
            dropped: 150,
            to_disk: 2,
            mqtt_connected: true,
            mqtt_connects: 1,
            commands: 3,
            commands_dropped: 0,
            spoofed: 0,
        }
    }
    fn cluster(&self) -> Option<ClusterScalars> {
        self.cluster.then_some(ClusterScalars {
            members: 3,
            owned: 2,
            unowned: 4,
            takeovers: 5,
            config_mismatches: 1,
            ..ClusterScalars::default()
        })
    }
    fn for_each_rtu(&self, f: &mut dyn FnMut(&str, &RtuRow)) {
        f(
            "north",
            &RtuRow {
                state: "started",
                asdus: 4,
                objects: 6,
                reconnects: 1,
                bad_asdus: 0,
            },
        );
        f(
            "we\"ird",
            &RtuRow {
                state: "off",
                ..RtuRow::default()
            },
        );
    }
    fn latencies(&self) -> &Latencies {
        &self.latencies
    }
    fn for_each_tls_event(&self, f: &mut dyn FnMut(&str, &str, u64)) {
        f("north", "handshake", 2);
    }

    fn for_each_sparkplug_drop(&self, f: &mut dyn FnMut(&str, &str, u64)) {
        f("north", "history_full", 4);
    }
}

fn scrape(fake: Fake) -> std::collections::BTreeMap<super::scrape::Series, f64> {
    let text = render(&registry(Arc::new(fake)));
    parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn every_series_has_its_exact_name_labels_and_value() {
    let fake = Fake::default();
    fake.latencies.publish_us.observe(250.0);
    fake.latencies.publish_us.observe(1_000.0);
    let m = scrape(fake);
    for (name, labels, value) in [
        ("iec104gw_published_total", vec![], 7.0),
        ("iec104gw_publish_latency_microseconds_sum", vec![], 1250.0),
        ("iec104gw_publish_latency_microseconds_count", vec![], 2.0),
        (
            "iec104gw_publish_latency_microseconds_bucket",
            vec![("le", "200")],
            0.0,
        ),
        (
            "iec104gw_publish_latency_microseconds_bucket",
            vec![("le", "400")],
            1.0,
        ),
        (
            "iec104gw_publish_latency_microseconds_bucket",
            vec![("le", "+Inf")],
            2.0,
        ),
        ("iec104gw_command_round_trip_seconds_count", vec![], 0.0),
        ("iec104gw_queue_depth", vec![], 50.0),
        ("iec104gw_queue_dropped_total", vec![], 150.0),
        ("iec104gw_batches_to_disk_total", vec![], 2.0),
        ("iec104gw_mqtt_connected", vec![], 1.0),
        ("iec104gw_mqtt_connects_total", vec![], 1.0),
        ("iec104gw_commands_total", vec![], 3.0),
        (
            "iec104gw_rtu_asdus_received_total",
            vec![("rtu", "north")],
            4.0,
        ),
        (
            "iec104gw_rtu_objects_received_total",
            vec![("rtu", "north")],
            6.0,
        ),
        ("iec104gw_rtu_reconnects_total", vec![("rtu", "north")], 1.0),
        ("iec104gw_rtu_bad_asdus_total", vec![("rtu", "north")], 0.0),
        (
            "iec104gw_rtu_state",
            vec![("rtu", "north"), ("state", "started")],
            1.0,
        ),
        (
            "iec104gw_rtu_state",
            vec![("rtu", "north"), ("state", "off")],
            0.0,
        ),
        (
            "iec104gw_rtu_state",
            vec![("rtu", "we\"ird"), ("state", "off")],
            1.0,
        ),
        (
            "iec104gw_rtu_state",
            vec![("rtu", "we\"ird"), ("state", "connecting")],
            0.0,
        ),
        (
            "iec104gw_tls_events_total",
            vec![("kind", "handshake"), ("rtu", "north")],
            2.0,
        ),
    ] {
        assert_eq!(
            m.get(&key(name, &labels)),
            Some(&value),
            "{name} {labels:?}"
        );
    }
    // Five state series per RTU, no other.
    let states = m.keys().filter(|(n, _)| n == "iec104gw_rtu_state").count();
    assert_eq!(states, 10);
    assert!(!m.keys().any(|(n, _)| n.starts_with("iec104gw_cluster_")));
}

#[test]
fn cluster_series_appear_in_cluster_mode_and_every_name_is_listed() {
    let m = scrape(Fake {
        cluster: true,
        ..Fake::default()
    });
    for (name, value) in [
        ("iec104gw_cluster_members_live", 3.0),
        ("iec104gw_cluster_rtus_owned", 2.0),
        ("iec104gw_cluster_rtus_standby", 0.0),
        ("iec104gw_cluster_rtus_unowned", 4.0),
        ("iec104gw_cluster_takeovers_total", 5.0),
        ("iec104gw_cluster_handovers_total", 0.0),
        ("iec104gw_cluster_config_mismatches_total", 1.0),
        ("iec104gw_cluster_duplicate_ids_total", 0.0),
    ] {
        assert_eq!(m.get(&key(name, &[])), Some(&value), "{name}");
    }
    let exported: BTreeSet<&str> = m.keys().map(|(n, _)| n.as_str()).collect();
    let listed: BTreeSet<&str> = METRIC_NAMES.iter().copied().collect();
    assert_eq!(exported, listed);
}

/// Every `expr` string anywhere in a JSON document.
fn exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

/// The metric names a PromQL expression uses (identifiers starting with `iec104gw_`).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("iec104gw_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

#[test]
fn the_grafana_dashboard_queries_only_exported_metrics() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/grafana/iec104-gateway.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut all = Vec::new();
    exprs(&dash, &mut all);
    assert!(all.len() >= 20, "only {} queries found", all.len());
    let listed: BTreeSet<&str> = METRIC_NAMES.iter().copied().collect();
    let mut used = BTreeSet::new();
    for e in &all {
        let names = metric_names(e);
        assert!(!names.is_empty(), "query without a gateway metric: {e}");
        for n in names {
            assert!(listed.contains(n.as_str()), "{n} (in {e}) is not exported");
            used.insert(n);
        }
    }
    // The dashboard covers the areas it promises.
    for must in [
        "iec104gw_rtu_state",
        "iec104gw_publish_latency_microseconds_bucket",
        "iec104gw_queue_depth",
        "iec104gw_queue_dropped_total",
        "iec104gw_commands_total",
        "iec104gw_tls_events_total",
        "iec104gw_cluster_takeovers_total",
    ] {
        assert!(used.contains(must), "{must} not on the dashboard");
    }
}

#[test]
fn metric_names_are_extracted_from_promql() {
    assert_eq!(
        metric_names("sum(rate(iec104gw_a_total{x=\"iec\"}[5m])) / iec104gw_b"),
        ["iec104gw_a_total", "iec104gw_b"]
    );
}

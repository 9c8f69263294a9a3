//! The metrics in the Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use crate::model::metrics::lock;
use crate::model::{Metrics, RtuFigures};

/// The Prometheus text exposition.
pub fn render(m: &Metrics) -> String {
    let mut o = String::new();
    render_process(m, &mut o);
    if m.cluster.enabled.load(Relaxed) {
        render_cluster(m, &mut o);
    }
    render_rtus(m, &mut o);
    o
}

/// One metric with its help and type lines.
fn g(o: &mut String, name: &str, help: &str, kind: &str, v: u64) {
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
}

/// Publication, queue, broker and command figures.
fn render_process(m: &Metrics, o: &mut String) {
    g(
        o,
        "iec104gw_published_total",
        "Messages acknowledged by the broker.",
        "counter",
        m.published.load(Relaxed),
    );
    g(
        o,
        "iec104gw_publish_latency_microseconds_sum",
        "Sum of publish-to-PUBACK latencies.",
        "counter",
        m.latency_us_sum.load(Relaxed),
    );
    g(
        o,
        "iec104gw_publish_latency_microseconds_count",
        "Number of latencies summed.",
        "counter",
        m.latency_count.load(Relaxed),
    );
    g(
        o,
        "iec104gw_queue_depth",
        "Messages in the on-disk queue.",
        "gauge",
        m.queue_depth.load(Relaxed),
    );
    g(
        o,
        "iec104gw_queue_dropped_total",
        "Messages dropped because the queue bound was reached.",
        "counter",
        m.dropped.load(Relaxed),
    );
    g(
        o,
        "iec104gw_batches_to_disk_total",
        "ASDUs whose messages went to the on-disk queue (no broker, spill_after, or behind others on disk).",
        "counter",
        m.to_disk.load(Relaxed),
    );
    g(
        o,
        "iec104gw_mqtt_connected",
        "1 while connected to the broker.",
        "gauge",
        u64::from(m.mqtt_connected.load(Relaxed)),
    );
    g(
        o,
        "iec104gw_mqtt_connects_total",
        "Broker connections established.",
        "counter",
        m.mqtt_connects.load(Relaxed),
    );
    g(
        o,
        "iec104gw_commands_total",
        "Commands handled.",
        "counter",
        m.commands.load(Relaxed),
    );
    g(
        o,
        "iec104gw_commands_dropped_total",
        "Commands dropped before the router: the intake was full (a broker ignoring Receive Maximum).",
        "counter",
        m.commands_dropped.load(Relaxed),
    );
    g(
        o,
        "iec104gw_spoofed_total",
        "Foreign messages seen on this gateway's status or presence topics (the true one is published again).",
        "counter",
        m.spoofed.load(Relaxed),
    );
}

/// Cluster figures (cluster mode only).
fn render_cluster(m: &Metrics, o: &mut String) {
    let c = &m.cluster;
    {
        for (name, help, kind, v) in [
            (
                "iec104gw_cluster_members_live",
                "Live cluster nodes (online), this one included.",
                "gauge",
                &c.members,
            ),
            (
                "iec104gw_cluster_rtus_owned",
                "RTUs this node carries (role active).",
                "gauge",
                &c.owned,
            ),
            (
                "iec104gw_cluster_rtus_standby",
                "RTUs this node holds a standby connection to.",
                "gauge",
                &c.standby,
            ),
            (
                "iec104gw_cluster_takeovers_total",
                "RTUs this node took (role set to active).",
                "counter",
                &c.takeovers,
            ),
            (
                "iec104gw_cluster_handovers_total",
                "Started RTUs this node stopped for another owner or on leaving.",
                "counter",
                &c.handovers,
            ),
            (
                "iec104gw_cluster_config_mismatches_total",
                "Nodes seen with a different configuration hash.",
                "counter",
                &c.config_mismatches,
            ),
            (
                "iec104gw_cluster_duplicate_ids_total",
                "Other processes seen with this node's id.",
                "counter",
                &c.duplicate_ids,
            ),
        ] {
            g(o, name, help, kind, v.load(Relaxed));
        }
    }
}

/// Per-RTU figures and connection states.
fn render_rtus(m: &Metrics, o: &mut String) {
    let map = lock(&m.rtus);
    let fam =
        |o: &mut String, name: &str, help: &str, kind: &str, get: &dyn Fn(&RtuFigures) -> u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (rtu, f) in map.iter() {
                let _ = writeln!(o, "{name}{{rtu=\"{rtu}\"}} {}", get(f));
            }
        };
    fam(
        o,
        "iec104gw_rtu_asdus_received_total",
        "ASDUs (I-frames) received.",
        "counter",
        &|f| f.asdus,
    );
    fam(
        o,
        "iec104gw_rtu_objects_received_total",
        "Information objects received.",
        "counter",
        &|f| f.objects,
    );
    fam(
        o,
        "iec104gw_rtu_reconnects_total",
        "Connections lost.",
        "counter",
        &|f| f.reconnects,
    );
    fam(
        o,
        "iec104gw_rtu_bad_asdus_total",
        "Undecodable ASDUs.",
        "counter",
        &|f| f.bad_asdus,
    );
    let _ = writeln!(o, "# HELP iec104gw_rtu_state 1 for the current connection state.\n# TYPE iec104gw_rtu_state gauge");
    for (rtu, f) in map.iter() {
        for s in ["connecting", "started", "stopped", "disconnected", "off"] {
            let _ = writeln!(
                o,
                "iec104gw_rtu_state{{rtu=\"{rtu}\",state=\"{s}\"}} {}",
                u64::from(f.state == s)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_figures_are_rendered_only_in_cluster_mode() {
        let m = Metrics::default();
        assert!(!render(&m).contains("iec104gw_cluster_"));
        m.cluster.enabled.store(true, Relaxed);
        m.cluster.members.store(3, Relaxed);
        m.cluster.owned.store(2, Relaxed);
        m.cluster.takeovers.fetch_add(5, Relaxed);
        m.cluster.config_mismatches.fetch_add(1, Relaxed);
        let text = render(&m);
        for line in [
            "iec104gw_cluster_members_live 3",
            "iec104gw_cluster_rtus_owned 2",
            "iec104gw_cluster_rtus_standby 0",
            "iec104gw_cluster_takeovers_total 5",
            "iec104gw_cluster_handovers_total 0",
            "iec104gw_cluster_config_mismatches_total 1",
            "iec104gw_cluster_duplicate_ids_total 0",
            "# TYPE iec104gw_cluster_takeovers_total counter",
            "# TYPE iec104gw_cluster_members_live gauge",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}

//! The gateway's counters as the source of the Prometheus exposition.

use std::sync::atomic::Ordering::Relaxed;

use super::exposition::{ClusterScalars, Latencies, MetricSource, RtuRow, Scalars};
use crate::model::metrics::lock;
use crate::model::Metrics;

impl MetricSource for Metrics {
    fn scalars(&self) -> Scalars {
        let (mqtt_connected, mqtt_connects) = self.mqtt_state();
        Scalars {
            published: self.published.load(Relaxed),
            queue_depth: self.queue_depth.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            to_disk: self.to_disk.load(Relaxed),
            mqtt_connected,
            mqtt_connects,
            commands: self.commands.load(Relaxed),
            commands_dropped: self.commands_dropped.load(Relaxed),
            spoofed: self.spoofed.load(Relaxed),
        }
    }

    fn cluster(&self) -> Option<ClusterScalars> {
        let c = &self.cluster;
        let (coordination_connected, coordination_connects) = c.coordination.state();
        c.enabled.load(Relaxed).then(|| ClusterScalars {
            members: c.members.load(Relaxed),
            owned: c.owned.load(Relaxed),
            standby: c.standby.load(Relaxed),
            unowned: c.unowned.load(Relaxed),
            takeovers: c.takeovers.load(Relaxed),
            handovers: c.handovers.load(Relaxed),
            config_mismatches: c.config_mismatches.load(Relaxed),
            duplicate_ids: c.duplicate_ids.load(Relaxed),
            coordination_connected,
            coordination_connects,
        })
    }

    fn for_each_rtu(&self, f: &mut dyn FnMut(&str, &RtuRow)) {
        let map = lock(&self.rtus);
        for (name, r) in map.iter() {
            f(
                name,
                &RtuRow {
                    state: r.state,
                    asdus: r.asdus,
                    objects: r.objects,
                    reconnects: r.reconnects,
                    bad_asdus: r.bad_asdus,
                },
            );
        }
    }

    fn latencies(&self) -> &Latencies {
        &self.latencies
    }

    fn for_each_tls_event(&self, f: &mut dyn FnMut(&str, &str, u64)) {
        let map = lock(&self.tls_events);
        for ((rtu, kind), n) in map.iter() {
            f(rtu, kind, *n);
        }
    }

    fn for_each_sparkplug_drop(&self, f: &mut dyn FnMut(&str, &str, u64)) {
        // Copied first: the RTU figures' lock is not taken under the other.
        let history: Vec<(String, u64)> = lock(&self.sparkplug_history_dropped)
            .iter()
            .map(|(rtu, n)| (rtu.clone(), n.load(Relaxed)))
            .collect();
        let rtus = lock(&self.rtus);
        for (rtu, n) in &history {
            f(rtu, "history_full", *n);
            let queue_full = rtus.get(rtu).map_or(0, |r| r.sparkplug_queue_full);
            f(rtu, "queue_full", queue_full);
        }
    }
}

/// The Prometheus text exposition of `m` (for callers that render once, e.g. tests).
#[cfg(test)]
pub fn render(m: std::sync::Arc<Metrics>) -> String {
    super::exposition::render(&super::exposition::registry(m))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::ops::scrape::{key, parse};

    #[test]
    fn the_counters_are_exported_under_their_names() {
        let m = Arc::new(Metrics::default());
        m.rtu("north", |f| {
            f.state = "started";
            f.objects = 6;
        });
        m.published(std::time::Duration::from_micros(300));
        m.set_queue(50, 150);
        m.tls_event("north", "handshake");
        let s = parse(&render(m.clone())).unwrap();
        assert!(!s.keys().any(|(n, _)| n.starts_with("iec104gw_cluster_")));
        for (name, labels, value) in [
            ("iec104gw_published_total", vec![], 1.0),
            ("iec104gw_publish_latency_microseconds_sum", vec![], 300.0),
            ("iec104gw_publish_latency_microseconds_count", vec![], 1.0),
            ("iec104gw_queue_depth", vec![], 50.0),
            ("iec104gw_queue_dropped_total", vec![], 150.0),
            (
                "iec104gw_rtu_objects_received_total",
                vec![("rtu", "north")],
                6.0,
            ),
            (
                "iec104gw_rtu_state",
                vec![("rtu", "north"), ("state", "started")],
                1.0,
            ),
            (
                "iec104gw_tls_events_total",
                vec![("rtu", "north"), ("kind", "handshake")],
                1.0,
            ),
        ] {
            assert_eq!(s.get(&key(name, &labels)), Some(&value), "{name}");
        }
        m.cluster.enabled.store(true, Relaxed);
        m.cluster.takeovers.fetch_add(5, Relaxed);
        let s = parse(&render(m.clone())).unwrap();
        assert_eq!(
            s.get(&key("iec104gw_cluster_takeovers_total", &[])),
            Some(&5.0)
        );
        assert_eq!(
            s.get(&key("iec104gw_cluster_members_live", &[])),
            Some(&0.0)
        );
        // The coordination connection apart from the data connection.
        m.set_coordination(true);
        let s = parse(&render(m)).unwrap();
        let got = |n: &str| s.get(&key(n, &[])).copied();
        assert_eq!(got("iec104gw_cluster_coordination_connected"), Some(1.0));
        assert_eq!(
            got("iec104gw_cluster_coordination_connects_total"),
            Some(1.0)
        );
        assert_eq!(got("iec104gw_mqtt_connected"), Some(0.0));
    }

    /// Sparkplug drops appear per RTU with an edge node and reason: the history count as its
    /// driver stored it, the full-queue count of the session; nothing without edge nodes.
    #[test]
    fn sparkplug_drops_are_exported_by_rtu_and_reason() {
        let m = Arc::new(Metrics::default());
        m.rtu("north", |f| f.objects = 1);
        let s = parse(&render(m.clone())).unwrap();
        assert!(!s
            .keys()
            .any(|(n, _)| n.starts_with("iec104gw_sparkplug_dropped")));
        m.sparkplug_history("north").store(7, Relaxed);
        m.rtu("north", |f| f.sparkplug_queue_full += 2);
        let s = parse(&render(m)).unwrap();
        let name = "iec104gw_sparkplug_dropped_total";
        assert_eq!(
            s.get(&key(name, &[("rtu", "north"), ("reason", "history_full")])),
            Some(&7.0)
        );
        assert_eq!(
            s.get(&key(name, &[("rtu", "north"), ("reason", "queue_full")])),
            Some(&2.0)
        );
    }
}

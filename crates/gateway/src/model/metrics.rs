//! Counters and gauges every layer updates (rendered by `ops::metrics`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

/// The latency histograms (observed on the data and command paths, cheap to clone).
#[derive(Debug, Clone)]
pub struct Latencies {
    /// Publish → PUBACK, in microseconds (the unit of the metric kept from before).
    pub publish_us: Histogram,
    /// Command received → final result, in seconds.
    pub command_s: Histogram,
    /// Time tag of an information object → its message handed to the publisher, in seconds.
    pub time_tag_s: Histogram,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            // 100 µs .. ~3.3 s
            publish_us: Histogram::new(exponential_buckets(100.0, 2.0, 16)),
            // 5 ms .. ~41 s
            command_s: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            // 1 ms .. ~65 s
            time_tag_s: Histogram::new(exponential_buckets(0.001, 2.0, 17)),
        }
    }
}

/// Per-RTU figures.
#[derive(Debug, Default, Clone)]
pub struct RtuFigures {
    /// Connection state name.
    pub state: &'static str,
    /// ASDUs received.
    pub asdus: u64,
    /// Information objects received.
    pub objects: u64,
    /// Connections lost.
    pub reconnects: u64,
    /// Malformed or undecodable ASDUs.
    pub bad_asdus: u64,
    /// Values not handed to the Sparkplug edge node: its queue was full (beside the JSON
    /// output, the tap never waits).
    pub sparkplug_queue_full: u64,
}

/// Every metric of the process.
#[derive(Debug, Default)]
pub struct Metrics {
    pub(crate) rtus: Mutex<BTreeMap<String, RtuFigures>>,
    pub(crate) published: AtomicU64,
    /// Latency histograms (publish → PUBACK, command round trip, time tag → publish).
    pub latencies: Latencies,
    pub(crate) tls_events: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// Values each RTU's Sparkplug edge node dropped from its full history (kept by the
    /// edge node's driver), by RTU name; only RTUs with an edge node.
    pub(crate) sparkplug_history_dropped: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    pub(crate) queue_depth: AtomicU64,
    pub(crate) dropped: AtomicU64,
    /// The (data) broker connection.
    pub(crate) mqtt: Link,
    pub(crate) commands: AtomicU64,
    pub(crate) commands_dropped: AtomicU64,
    pub(crate) spoofed: AtomicU64,
    pub(crate) ready: AtomicBool,
    pub(crate) to_disk: AtomicU64,
    /// Woken whenever the state of a broker connection (data or coordination) changes (the
    /// cluster task watches both).
    pub mqtt_changed: tokio::sync::Notify,
    /// Cluster figures (rendered only in cluster mode).
    pub cluster: ClusterFigures,
}

/// Cluster gauges and counters.
#[derive(Debug, Default)]
pub struct ClusterFigures {
    /// Set in cluster mode.
    pub enabled: AtomicBool,
    /// Live nodes (online, us included).
    pub members: AtomicU64,
    /// RTUs this node is Active for.
    pub owned: AtomicU64,
    /// RTUs this node keeps a standby connection to.
    pub standby: AtomicU64,
    /// RTUs no live node reaches whose `unowned` status this node publishes (one node per
    /// orphan: summed over the nodes, every orphan once).
    pub unowned: AtomicU64,
    /// RTUs taken (role set to Active).
    pub takeovers: AtomicU64,
    /// RTUs handed to another node (a started RTU stopped because another node owns it, or
    /// because we leave).
    pub handovers: AtomicU64,
    /// Nodes seen with another configuration hash.
    pub config_mismatches: AtomicU64,
    /// Another process seen with our node id.
    pub duplicate_ids: AtomicU64,
    /// The coordination connection (its changes wake [`Metrics::mqtt_changed`] too).
    pub coordination: Link,
}

/// The state of one broker connection: up or down, and how many times it came up.
#[derive(Debug, Default)]
pub struct Link {
    connected: AtomicBool,
    connects: AtomicU64,
}

impl Link {
    /// Records the connection going up (counted) or down.
    pub fn set(&self, connected: bool) {
        if connected {
            self.connects.fetch_add(1, Relaxed);
        }
        self.connected.store(connected, Relaxed);
    }

    /// Whether the connection is up, and how many connections were made so far.
    pub fn state(&self) -> (bool, u64) {
        (self.connected.load(Relaxed), self.connects.load(Relaxed))
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Metrics {
    /// The counter of values `rtu`'s Sparkplug edge node dropped from its full history
    /// (made on first use: its driver stores the edge node's count into it).
    pub fn sparkplug_history(&self, rtu: &str) -> Arc<AtomicU64> {
        lock(&self.sparkplug_history_dropped)
            .entry(rtu.to_owned())
            .or_default()
            .clone()
    }

    /// Applies `f` to the figures of `rtu`.
    pub fn rtu(&self, rtu: &str, f: impl FnOnce(&mut RtuFigures)) {
        let mut map = lock(&self.rtus);
        if let Some(r) = map.get_mut(rtu) {
            f(r);
        } else {
            let mut r = RtuFigures {
                state: "connecting",
                ..RtuFigures::default()
            };
            f(&mut r);
            map.insert(rtu.to_owned(), r);
        }
    }

    /// A message was acknowledged by the broker after `latency`.
    pub fn published(&self, latency: std::time::Duration) {
        self.published.fetch_add(1, Relaxed);
        self.latencies
            .publish_us
            .observe(latency.as_secs_f64() * 1_000_000.0);
    }

    /// A command's final result came `latency` after the command.
    pub fn command_done(&self, latency: std::time::Duration) {
        self.latencies.command_s.observe(latency.as_secs_f64());
    }

    /// A TLS event of `kind` on the link to `rtu` (e.g. `handshake`, `bad_certificate`).
    pub fn tls_event(&self, rtu: &str, kind: &'static str) {
        let mut map = lock(&self.tls_events);
        match map.get_mut(&(rtu.to_owned(), kind)) {
            Some(n) => *n += 1,
            None => {
                map.insert((rtu.to_owned(), kind), 1);
            }
        }
    }

    /// Store depth and drops.
    pub fn set_queue(&self, depth: u64, dropped: u64) {
        self.queue_depth.store(depth, Relaxed);
        self.dropped.store(dropped, Relaxed);
    }

    /// Broker connection state.
    pub fn set_mqtt(&self, connected: bool) {
        if connected {
            self.ready.store(true, Relaxed);
        }
        self.mqtt.set(connected);
        self.mqtt_changed.notify_one();
    }

    /// The coordination connection's state changed.
    pub fn set_coordination(&self, connected: bool) {
        self.cluster.coordination.set(connected);
        self.mqtt_changed.notify_one();
    }

    /// Whether the broker connection is up, and how many connections were made so far.
    pub fn mqtt_state(&self) -> (bool, u64) {
        self.mqtt.state()
    }

    /// A batch (one ASDU's messages) went to the on-disk queue instead of straight from memory.
    pub fn to_disk(&self) {
        self.to_disk.fetch_add(1, Relaxed);
    }

    /// A command could not even be queued for the router (intake full).
    pub fn command_dropped(&self) {
        self.commands_dropped.fetch_add(1, Relaxed);
    }

    /// A foreign message was seen on one of our status or presence topics.
    pub fn spoofed(&self) {
        self.spoofed.fetch_add(1, Relaxed);
    }

    /// A command was handled.
    pub fn command(&self) {
        self.commands.fetch_add(1, Relaxed);
    }

    /// Messages dropped because the store bound was reached.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    /// Ready: the broker was reached at least once.
    pub fn ready(&self) -> bool {
        self.ready.load(Relaxed)
    }
}

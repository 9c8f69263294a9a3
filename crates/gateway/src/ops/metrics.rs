//! Counters and gauges, rendered in the Prometheus text format, and a tiny HTTP endpoint
//! (`/metrics`, `/health`, `/ready`) on tokio.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

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
}

/// Every metric of the process.
#[derive(Debug, Default)]
pub struct Metrics {
    rtus: Mutex<BTreeMap<String, RtuFigures>>,
    published: AtomicU64,
    latency_us_sum: AtomicU64,
    latency_count: AtomicU64,
    queue_depth: AtomicU64,
    dropped: AtomicU64,
    mqtt_connected: AtomicBool,
    mqtt_connects: AtomicU64,
    commands: AtomicU64,
    ready: AtomicBool,
    to_disk: AtomicU64,
    /// Woken whenever the broker connection state changes (the cluster task watches it).
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
    /// RTUs taken (role set to Active).
    pub takeovers: AtomicU64,
    /// RTUs handed to another node (a started RTU stopped because another node owns it, or
    /// because we leave).
    pub handovers: AtomicU64,
    /// Nodes seen with another configuration hash.
    pub config_mismatches: AtomicU64,
    /// Another process seen with our node id.
    pub duplicate_ids: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Metrics {
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
        self.latency_us_sum
            .fetch_add(latency.as_micros().min(u64::MAX as u128) as u64, Relaxed);
        self.latency_count.fetch_add(1, Relaxed);
    }

    /// Store depth and drops.
    pub fn set_queue(&self, depth: u64, dropped: u64) {
        self.queue_depth.store(depth, Relaxed);
        self.dropped.store(dropped, Relaxed);
    }

    /// Broker connection state.
    pub fn set_mqtt(&self, connected: bool) {
        if connected {
            self.mqtt_connects.fetch_add(1, Relaxed);
            self.ready.store(true, Relaxed);
        }
        self.mqtt_connected.store(connected, Relaxed);
        self.mqtt_changed.notify_one();
    }

    /// Whether the broker connection is up, and how many connections were made so far.
    pub fn mqtt_state(&self) -> (bool, u64) {
        (
            self.mqtt_connected.load(Relaxed),
            self.mqtt_connects.load(Relaxed),
        )
    }

    /// A batch (one ASDU's messages) went to the on-disk queue instead of straight from memory.
    pub fn to_disk(&self) {
        self.to_disk.fetch_add(1, Relaxed);
    }

    /// A command was handled.
    pub fn command(&self) {
        self.commands.fetch_add(1, Relaxed);
    }

    /// Messages dropped because the store bound was reached.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let g = |o: &mut String, name: &str, help: &str, kind: &str, v: u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        };
        g(
            &mut o,
            "iec104gw_published_total",
            "Messages acknowledged by the broker.",
            "counter",
            self.published.load(Relaxed),
        );
        g(
            &mut o,
            "iec104gw_publish_latency_microseconds_sum",
            "Sum of publish-to-PUBACK latencies.",
            "counter",
            self.latency_us_sum.load(Relaxed),
        );
        g(
            &mut o,
            "iec104gw_publish_latency_microseconds_count",
            "Number of latencies summed.",
            "counter",
            self.latency_count.load(Relaxed),
        );
        g(
            &mut o,
            "iec104gw_queue_depth",
            "Messages in the on-disk queue.",
            "gauge",
            self.queue_depth.load(Relaxed),
        );
        g(
            &mut o,
            "iec104gw_queue_dropped_total",
            "Messages dropped because the queue bound was reached.",
            "counter",
            self.dropped.load(Relaxed),
        );
        g(
            &mut o,
            "iec104gw_batches_to_disk_total",
            "ASDUs whose messages went to the on-disk queue (no broker, spill_after, or behind others on disk).",
            "counter",
            self.to_disk.load(Relaxed),
        );
        g(
            &mut o,
            "iec104gw_mqtt_connected",
            "1 while connected to the broker.",
            "gauge",
            u64::from(self.mqtt_connected.load(Relaxed)),
        );
        g(
            &mut o,
            "iec104gw_mqtt_connects_total",
            "Broker connections established.",
            "counter",
            self.mqtt_connects.load(Relaxed),
        );
        g(
            &mut o,
            "iec104gw_commands_total",
            "Commands handled.",
            "counter",
            self.commands.load(Relaxed),
        );
        let c = &self.cluster;
        if c.enabled.load(Relaxed) {
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
                g(&mut o, name, help, kind, v.load(Relaxed));
            }
        }
        let map = lock(&self.rtus);
        let fam = |o: &mut String,
                   name: &str,
                   help: &str,
                   kind: &str,
                   get: &dyn Fn(&RtuFigures) -> u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (rtu, f) in map.iter() {
                let _ = writeln!(o, "{name}{{rtu=\"{rtu}\"}} {}", get(f));
            }
        };
        fam(
            &mut o,
            "iec104gw_rtu_asdus_received_total",
            "ASDUs (I-frames) received.",
            "counter",
            &|f| f.asdus,
        );
        fam(
            &mut o,
            "iec104gw_rtu_objects_received_total",
            "Information objects received.",
            "counter",
            &|f| f.objects,
        );
        fam(
            &mut o,
            "iec104gw_rtu_reconnects_total",
            "Connections lost.",
            "counter",
            &|f| f.reconnects,
        );
        fam(
            &mut o,
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
        o
    }

    /// Ready: the broker was reached at least once.
    pub fn ready(&self) -> bool {
        self.ready.load(Relaxed)
    }
}

/// Serves `/metrics`, `/health` and `/ready` on `listener` until the future is dropped.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    // At most this many requests are served at once; further connections wait in the backlog.
    let slots = Arc::new(tokio::sync::Semaphore::new(16));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let Ok((mut sock, _)) = listener.accept().await else {
            // E.g. out of file descriptors: do not spin.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut buf = [0u8; 1024];
            let read =
                tokio::time::timeout(std::time::Duration::from_secs(5), sock.read(&mut buf)).await;
            let n = match read {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let head = String::from_utf8_lossy(buf.get(..n).unwrap_or_default());
            let path = head.split_whitespace().nth(1).unwrap_or("/");
            let (status, body) = match path {
                "/metrics" => ("200 OK", metrics.render()),
                "/health" => ("200 OK", "ok\n".to_owned()),
                "/ready" if metrics.ready() => ("200 OK", "ready\n".to_owned()),
                "/ready" => ("503 Service Unavailable", "not ready\n".to_owned()),
                _ => ("404 Not Found", "not found\n".to_owned()),
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
        });
    }
}

/// Binds the HTTP endpoint.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_figures_are_rendered_only_in_cluster_mode() {
        let m = Metrics::default();
        assert!(!m.render().contains("iec104gw_cluster_"));
        m.cluster.enabled.store(true, Relaxed);
        m.cluster.members.store(3, Relaxed);
        m.cluster.owned.store(2, Relaxed);
        m.cluster.takeovers.fetch_add(5, Relaxed);
        m.cluster.config_mismatches.fetch_add(1, Relaxed);
        let text = m.render();
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

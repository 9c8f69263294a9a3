//! The Prometheus text exposition (format 0.0.4), produced by `prometheus-client` from the
//! gateway's counters at scrape time.
//!
//! The counters stay plain atomics on the hot path; a [`prometheus_client::collector::Collector`]
//! reads them when `/metrics` is asked for. Metric names and labels are a public interface:
//! every name of [`METRIC_NAMES`] is kept exactly.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

pub use crate::model::metrics::Latencies;

/// Content type of the exposition.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Every sample name the gateway exports (histograms with their `_bucket`, `_sum` and
/// `_count` series). The cluster names appear only in cluster mode.
pub const METRIC_NAMES: &[&str] = &[
    "iec104gw_published_total",
    "iec104gw_publish_latency_microseconds_bucket",
    "iec104gw_publish_latency_microseconds_sum",
    "iec104gw_publish_latency_microseconds_count",
    "iec104gw_command_round_trip_seconds_bucket",
    "iec104gw_command_round_trip_seconds_sum",
    "iec104gw_command_round_trip_seconds_count",
    "iec104gw_time_tag_to_publish_seconds_bucket",
    "iec104gw_time_tag_to_publish_seconds_sum",
    "iec104gw_time_tag_to_publish_seconds_count",
    "iec104gw_queue_depth",
    "iec104gw_queue_dropped_total",
    "iec104gw_batches_to_disk_total",
    "iec104gw_mqtt_connected",
    "iec104gw_mqtt_connects_total",
    "iec104gw_commands_total",
    "iec104gw_commands_dropped_total",
    "iec104gw_spoofed_total",
    "iec104gw_cluster_members_live",
    "iec104gw_cluster_rtus_owned",
    "iec104gw_cluster_rtus_standby",
    "iec104gw_cluster_rtus_unowned",
    "iec104gw_cluster_takeovers_total",
    "iec104gw_cluster_handovers_total",
    "iec104gw_cluster_config_mismatches_total",
    "iec104gw_cluster_duplicate_ids_total",
    "iec104gw_cluster_coordination_connected",
    "iec104gw_cluster_coordination_connects_total",
    "iec104gw_rtu_asdus_received_total",
    "iec104gw_rtu_objects_received_total",
    "iec104gw_rtu_reconnects_total",
    "iec104gw_rtu_bad_asdus_total",
    "iec104gw_rtu_state",
    "iec104gw_tls_events_total",
    "iec104gw_sparkplug_dropped_total",
];

/// The connection states `iec104gw_rtu_state` has a series for (one is 1, the others 0).
pub const RTU_STATES: [&str; 5] = ["connecting", "started", "stopped", "disconnected", "off"];

/// Process-wide scalar figures at one scrape.
#[derive(Debug, Default, Clone, Copy)]
pub struct Scalars {
    /// Messages acknowledged by the broker.
    pub published: u64,
    /// Messages in the on-disk queue.
    pub queue_depth: u64,
    /// Messages dropped at the queue bound.
    pub dropped: u64,
    /// Batches that went to the on-disk queue.
    pub to_disk: u64,
    /// Broker connection up.
    pub mqtt_connected: bool,
    /// Broker connections established.
    pub mqtt_connects: u64,
    /// Commands handled.
    pub commands: u64,
    /// Commands the intake could not hold (a broker ignoring Receive Maximum).
    pub commands_dropped: u64,
    /// Foreign messages seen on this gateway's status or presence topics.
    pub spoofed: u64,
}

/// Cluster figures at one scrape (cluster mode only).
#[derive(Debug, Default, Clone, Copy)]
pub struct ClusterScalars {
    /// Live nodes, this one included.
    pub members: u64,
    /// RTUs carried (role active).
    pub owned: u64,
    /// RTUs held in standby.
    pub standby: u64,
    /// RTUs no live node reaches that this node publishes as unowned.
    pub unowned: u64,
    /// RTUs taken.
    pub takeovers: u64,
    /// RTUs handed over.
    pub handovers: u64,
    /// Nodes seen with another configuration hash.
    pub config_mismatches: u64,
    /// Other processes seen with our node id.
    pub duplicate_ids: u64,
    /// The coordination connection is up.
    pub coordination_connected: bool,
    /// Coordination connections made so far.
    pub coordination_connects: u64,
}

/// One RTU's figures at one scrape.
#[derive(Debug, Default, Clone, Copy)]
pub struct RtuRow {
    /// Connection state name (one of [`RTU_STATES`]).
    pub state: &'static str,
    /// ASDUs received.
    pub asdus: u64,
    /// Information objects received.
    pub objects: u64,
    /// Connections lost.
    pub reconnects: u64,
    /// Undecodable ASDUs.
    pub bad_asdus: u64,
}

/// What the exposition reads at each scrape (implemented by the gateway's counters).
pub trait MetricSource: std::fmt::Debug + Send + Sync + 'static {
    /// Process-wide figures.
    fn scalars(&self) -> Scalars;
    /// Cluster figures; `None` outside cluster mode (the cluster metrics are then absent).
    fn cluster(&self) -> Option<ClusterScalars>;
    /// Calls `f` for every RTU, in name order.
    fn for_each_rtu(&self, f: &mut dyn FnMut(&str, &RtuRow));
    /// The latency histograms.
    fn latencies(&self) -> &Latencies;
    /// Calls `f` for every (RTU, TLS event kind) counted so far, in order.
    fn for_each_tls_event(&self, f: &mut dyn FnMut(&str, &str, u64));
    /// Calls `f` for every RTU with a Sparkplug edge node and each reason its values were
    /// dropped (`history_full`, `queue_full`), in order; nothing without `[sparkplug]`.
    fn for_each_sparkplug_drop(&self, _f: &mut dyn FnMut(&str, &str, u64)) {}
}

#[derive(Debug)]
struct SourceCollector(Arc<dyn MetricSource>);

/// A registry exporting everything `source` has.
pub fn registry(source: Arc<dyn MetricSource>) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(SourceCollector(source)));
    r
}

/// Renders `registry` in the Prometheus text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::with_capacity(8 * 1024);
    // Writing to a String cannot fail; an encoder error would leave a partial text that the
    // scraper rejects, which is the right outcome for a bug.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, registry);
    out
}

type Enc<'a> = DescriptorEncoder<'a>;

fn counter(e: &mut Enc, name: &str, help: &str, v: u64) -> Result<(), std::fmt::Error> {
    let m = ConstCounter::new(v);
    m.encode(e.encode_descriptor(name, help, None, MetricType::Counter)?)
}

fn gauge(e: &mut Enc, name: &str, help: &str, v: u64) -> Result<(), std::fmt::Error> {
    let m = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
    m.encode(e.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

fn histogram(e: &mut Enc, name: &str, help: &str, h: &Histogram) -> Result<(), std::fmt::Error> {
    h.encode(e.encode_descriptor(name, help, None, MetricType::Histogram)?)
}

impl SourceCollector {
    fn scalars(&self, e: &mut Enc) -> Result<(), std::fmt::Error> {
        let s = self.0.scalars();
        let l = self.0.latencies();
        counter(
            e,
            "iec104gw_published",
            "Messages acknowledged by the broker.",
            s.published,
        )?;
        histogram(
            e,
            "iec104gw_publish_latency_microseconds",
            "Publish-to-PUBACK latency in microseconds.",
            &l.publish_us,
        )?;
        histogram(
            e,
            "iec104gw_command_round_trip_seconds",
            "Command received to its final result published, in seconds.",
            &l.command_s,
        )?;
        histogram(e, "iec104gw_time_tag_to_publish_seconds", "Time tag of an information object to its message handed to the broker, in seconds (objects with a time tag).", &l.time_tag_s)?;
        gauge(
            e,
            "iec104gw_queue_depth",
            "Messages in the on-disk queue.",
            s.queue_depth,
        )?;
        counter(
            e,
            "iec104gw_queue_dropped",
            "Messages dropped because the queue bound was reached.",
            s.dropped,
        )?;
        counter(e, "iec104gw_batches_to_disk", "ASDUs whose messages went to the on-disk queue (no broker, spill_after, or behind others on disk).", s.to_disk)?;
        gauge(
            e,
            "iec104gw_mqtt_connected",
            "1 while connected to the broker.",
            u64::from(s.mqtt_connected),
        )?;
        counter(
            e,
            "iec104gw_mqtt_connects",
            "Broker connections established.",
            s.mqtt_connects,
        )?;
        counter(e, "iec104gw_commands", "Commands handled.", s.commands)?;
        counter(
            e,
            "iec104gw_commands_dropped",
            "Commands dropped before the router: the intake was full (a broker ignoring Receive Maximum).",
            s.commands_dropped,
        )?;
        counter(
            e,
            "iec104gw_spoofed",
            "Foreign messages on this gateway's status or presence topics (the true one is published again).",
            s.spoofed,
        )
    }

    fn cluster(&self, e: &mut Enc) -> Result<(), std::fmt::Error> {
        let Some(c) = self.0.cluster() else {
            return Ok(());
        };
        gauge(
            e,
            "iec104gw_cluster_members_live",
            "Live cluster nodes (online), this one included.",
            c.members,
        )?;
        gauge(
            e,
            "iec104gw_cluster_rtus_owned",
            "RTUs this node carries (role active).",
            c.owned,
        )?;
        gauge(
            e,
            "iec104gw_cluster_rtus_standby",
            "RTUs this node holds a standby connection to.",
            c.standby,
        )?;
        gauge(
            e,
            "iec104gw_cluster_rtus_unowned",
            "RTUs no live node reaches, published as unowned by this node (summed over the nodes: each once).",
            c.unowned,
        )?;
        counter(
            e,
            "iec104gw_cluster_takeovers",
            "RTUs this node took (role set to active).",
            c.takeovers,
        )?;
        counter(
            e,
            "iec104gw_cluster_handovers",
            "Started RTUs this node stopped for another owner or on leaving.",
            c.handovers,
        )?;
        counter(
            e,
            "iec104gw_cluster_config_mismatches",
            "Nodes seen with a different configuration hash.",
            c.config_mismatches,
        )?;
        counter(
            e,
            "iec104gw_cluster_duplicate_ids",
            "Other processes seen with this node's id.",
            c.duplicate_ids,
        )?;
        gauge(
            e,
            "iec104gw_cluster_coordination_connected",
            "1 while the coordination connection (presence, beats, deltas) is up.",
            u64::from(c.coordination_connected),
        )?;
        counter(
            e,
            "iec104gw_cluster_coordination_connects",
            "Coordination connections made (the broker accepted them).",
            c.coordination_connects,
        )
    }

    fn rtu_family(
        &self,
        e: &mut Enc,
        name: &str,
        help: &str,
        get: fn(&RtuRow) -> u64,
    ) -> Result<(), std::fmt::Error> {
        let mut fam = e.encode_descriptor(name, help, None, MetricType::Counter)?;
        let mut result = Ok(());
        self.0.for_each_rtu(&mut |rtu, row| {
            if result.is_ok() {
                result = fam
                    .encode_family(&[("rtu", rtu)])
                    .and_then(|m| ConstCounter::new(get(row)).encode(m));
            }
        });
        result
    }

    fn rtu_states(&self, e: &mut Enc) -> Result<(), std::fmt::Error> {
        let help = "1 for the current connection state.";
        let mut fam = e.encode_descriptor("iec104gw_rtu_state", help, None, MetricType::Gauge)?;
        let mut result = Ok(());
        self.0.for_each_rtu(&mut |rtu, row| {
            for s in RTU_STATES {
                if result.is_ok() {
                    result = fam
                        .encode_family(&[("rtu", rtu), ("state", s)])
                        .and_then(|m| ConstGauge::new(i64::from(row.state == s)).encode(m));
                }
            }
        });
        result
    }
}

impl SourceCollector {
    fn tls_events(&self, e: &mut Enc) -> Result<(), std::fmt::Error> {
        let help = "TLS events of RTU links by kind (handshakes, refusals, certificate problems).";
        let mut fam =
            e.encode_descriptor("iec104gw_tls_events", help, None, MetricType::Counter)?;
        let mut result = Ok(());
        self.0.for_each_tls_event(&mut |rtu, kind, n| {
            if result.is_ok() {
                result = fam
                    .encode_family(&[("rtu", rtu), ("kind", kind)])
                    .and_then(|m| ConstCounter::new(n).encode(m));
            }
        });
        result
    }
}

impl SourceCollector {
    fn sparkplug_drops(&self, e: &mut Enc) -> Result<(), std::fmt::Error> {
        let help = "Values the Sparkplug output dropped, by RTU and reason: history_full (the edge node's history was full while no session was born; the oldest value went), queue_full (its input queue was full beside the JSON output).";
        let mut fam = e.encode_descriptor(
            "iec104gw_sparkplug_dropped",
            help,
            None,
            MetricType::Counter,
        )?;
        let mut result = Ok(());
        self.0.for_each_sparkplug_drop(&mut |rtu, reason, n| {
            if result.is_ok() {
                result = fam
                    .encode_family(&[("rtu", rtu), ("reason", reason)])
                    .and_then(|m| ConstCounter::new(n).encode(m));
            }
        });
        result
    }
}

impl Collector for SourceCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.scalars(&mut e)?;
        self.cluster(&mut e)?;
        self.rtu_family(
            &mut e,
            "iec104gw_rtu_asdus_received",
            "ASDUs (I-frames) received.",
            |r| r.asdus,
        )?;
        self.rtu_family(
            &mut e,
            "iec104gw_rtu_objects_received",
            "Information objects received.",
            |r| r.objects,
        )?;
        self.rtu_family(
            &mut e,
            "iec104gw_rtu_reconnects",
            "Connections lost.",
            |r| r.reconnects,
        )?;
        self.rtu_family(
            &mut e,
            "iec104gw_rtu_bad_asdus",
            "Undecodable ASDUs.",
            |r| r.bad_asdus,
        )?;
        self.rtu_states(&mut e)?;
        self.tls_events(&mut e)?;
        self.sparkplug_drops(&mut e)
    }
}

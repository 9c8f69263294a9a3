//! Feeds the live view from the data path: one table update per information object (no
//! allocation beyond a point's first appearance), one lock per ASDU; and the time tag →
//! publication latency of time-tagged objects.

use chrono::{DateTime, Utc};
use iec104::asdu::AsduView;

use crate::config::Rtu;
use crate::model::live::{points, LiveView, Received, RtuLive, Update};
use crate::model::Metrics;

/// Records the monitor-direction objects of `view` (type ids 1..=40) received at `at`.
pub fn record(
    live: &LiveView,
    rtu_live: &RtuLive,
    rtu: &Rtu,
    metrics: &Metrics,
    view: &AsduView<'_>,
    at: DateTime<Utc>,
) {
    let h = view.header();
    if !matches!(h.type_id, 1..=40) || view.type_id().is_none() {
        return;
    }
    let mut received = Received {
        cause: h.cot.cause.as_u8(),
        at,
        tz_offset_secs: rtu.tz_offset_secs,
        version: 0,
    };
    let context = received;
    let ca = h.common_address;
    let now_ms = at.timestamp_millis();
    let latency = &metrics.latencies.time_tag_s;
    let updates = view.objects().map(|o| {
        if let Some(tag) = o.element.time_tag() {
            if let Some(ms) = points::time_tag_ms(tag, &context) {
                latency.observe((now_ms - ms).max(0) as f64 / 1000.0);
            }
        }
        let point = rtu.points.get(&(ca, o.ioa));
        Update {
            ca,
            ioa: o.ioa,
            element: o.element,
            name: point.and_then(|p| p.name.as_deref()),
            scale: (point.and_then(|p| p.scale), point.and_then(|p| p.offset)),
        }
    });
    live.record(rtu_live, &mut received, updates);
}

//! The status page's JSON API and its event stream, read from the live view.
//!
//! Tables are filtered and paginated here (the page never holds more than one page of rows);
//! the event stream sends, at most every [`TICK`], what changed since the last event for the
//! rows the page shows.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::Stream;
use iec104::asdu::Quality;
use serde::Deserialize;
use serde_json::{json, Value};

use super::state::Ops;
use crate::model::live::{now_ms, LiveView, PointEntry, RtuLive};

/// Bound of the event rate per stream.
pub const TICK: Duration = Duration::from_millis(500);
/// Largest page.
pub const MAX_PAGE: usize = 500;
/// A value older than this is shown as stale.
pub const STALE_AFTER_MS: i64 = 15 * 60 * 1000;

/// Filter and page of a table.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TableQuery {
    /// Text to find in the name, or `ca/ioa` (a prefix of it).
    #[serde(default)]
    pub q: String,
    /// Type name prefix (e.g. `M_ME`).
    #[serde(default, rename = "type")]
    pub type_name: String,
    /// Only stale or invalid values.
    #[serde(default)]
    pub bad: bool,
    /// Page number from 0.
    #[serde(default)]
    pub page: usize,
    /// Rows per page (default 100, at most [`MAX_PAGE`]).
    #[serde(default)]
    pub size: Option<usize>,
    /// The RTU whose points the event stream follows.
    #[serde(default)]
    pub rtu: Option<String>,
    /// Stream only changes after this view version (the `version` of the JSON just loaded).
    #[serde(default)]
    pub since: Option<u64>,
    /// Stream only commands logged after this sequence number (the latest the page has).
    #[serde(default)]
    pub commands_after: Option<u64>,
}

impl TableQuery {
    fn size(&self) -> usize {
        self.size.unwrap_or(100).clamp(1, MAX_PAGE)
    }
}

fn rtu_row(r: &RtuLive, now: i64) -> Value {
    let s = r.status();
    let (points, bad) = r.with_points(|t| {
        let bad = t.entries().iter().filter(|e| is_bad(e, now)).count();
        (t.len(), bad)
    });
    json!({
        "name": r.name, "state": s.state, "reason": s.reason, "address": s.address,
        "role": s.role, "owner": s.owner, "tls": s.tls, "rate": (r.rate(now) * 10.0).round() / 10.0,
        "last_data_ms": r.last_data_ms(), "points": points, "bad": bad,
    })
}

fn rtu_matches(r: &RtuLive, q: &TableQuery) -> bool {
    let needle = q.q.to_lowercase();
    needle.is_empty() || r.name.to_lowercase().contains(&needle)
}

fn header(ops: &Ops) -> Value {
    let s = ops.source.scalars();
    let (points, refused) = ops.live.point_counts();
    json!({
        "node": ops.live.node, "mqtt_connected": s.mqtt_connected, "queue_depth": s.queue_depth,
        "queue_dropped": s.dropped, "published": s.published, "commands": s.commands,
        "points": points, "points_refused": refused, "cluster": ops.live.cluster(),
        "now_ms": now_ms(), "version": ops.live.version(),
    })
}

/// `GET /api/overview`: this node, the cluster, one page of RTUs.
pub async fn overview(State(ops): State<Ops>, Query(q): Query<TableQuery>) -> Response {
    let now = now_ms();
    let all: Vec<_> = ops
        .live
        .rtus()
        .iter()
        .filter(|r| rtu_matches(r, &q))
        .collect();
    let rows: Vec<Value> = all
        .iter()
        .skip(q.page.saturating_mul(q.size()))
        .take(q.size())
        .map(|r| rtu_row(r, now))
        .collect();
    Json(json!({"header": header(&ops), "total": all.len(), "rtus": rows})).into_response()
}

fn is_bad(e: &PointEntry, now: i64) -> bool {
    e.quality & (Quality::IV.bits() | Quality::NT.bits()) != 0
        || now - e.received_ms > STALE_AFTER_MS
}

fn point_row(e: &PointEntry, now: i64) -> Value {
    let quality: Vec<&str> = Quality::from_bits(e.quality).iter_names().collect();
    let type_name = iec104::type_id::TypeId::from_u8(e.type_id)
        .map(|t| t.name())
        .unwrap_or("unknown");
    json!({
        "ca": e.ca, "ioa": e.ioa, "name": e.name.as_deref(), "type": type_name,
        "value": e.value.to_json(), "quality": quality,
        "cause": iec104::cot::Cause::from_u8(e.cause).abbreviation(),
        "time_ms": e.time_tag_ms, "received_ms": e.received_ms,
        "invalid": e.quality & Quality::IV.bits() != 0,
        "stale": e.quality & Quality::NT.bits() != 0 || now - e.received_ms > STALE_AFTER_MS,
    })
}

fn point_matches(e: &PointEntry, q: &TableQuery, needle: &str, now: i64) -> bool {
    if q.bad && !is_bad(e, now) {
        return false;
    }
    if !q.type_name.is_empty() {
        let name = iec104::type_id::TypeId::from_u8(e.type_id)
            .map(|t| t.name())
            .unwrap_or("");
        if !name.starts_with(q.type_name.as_str()) {
            return false;
        }
    }
    if needle.is_empty() {
        return true;
    }
    if e.name
        .as_deref()
        .is_some_and(|n| n.to_lowercase().contains(needle))
    {
        return true;
    }
    let mut addr = String::with_capacity(12);
    use std::fmt::Write as _;
    let _ = write!(addr, "{}/{}", e.ca, e.ioa);
    addr.starts_with(needle)
}

/// The (CA, IOA) keys of one page of `rtu`'s points under `q`, sorted by address.
pub fn page_keys(rtu: &RtuLive, q: &TableQuery, now: i64) -> (usize, Vec<(u16, u32)>) {
    let needle = q.q.to_lowercase();
    rtu.with_points(|t| {
        let mut keys: Vec<(u16, u32)> = t
            .entries()
            .iter()
            .filter(|e| point_matches(e, q, &needle, now))
            .map(|e| (e.ca, e.ioa))
            .collect();
        keys.sort_unstable();
        let total = keys.len();
        let start = q.page.saturating_mul(q.size()).min(total);
        let end = start.saturating_add(q.size()).min(total);
        (
            total,
            keys.get(start..end).map(<[_]>::to_vec).unwrap_or_default(),
        )
    })
}

fn points_of(rtu: &RtuLive, keys: &[(u16, u32)], after: u64, now: i64) -> Vec<Value> {
    rtu.with_points(|t| {
        keys.iter()
            .filter_map(|&(ca, ioa)| t.get(ca, ioa))
            .filter(|e| e.version > after)
            .map(|e| point_row(e, now))
            .collect()
    })
}

/// `GET /api/rtu/{name}`: the RTU and one page of its points.
pub async fn rtu_points(
    State(ops): State<Ops>,
    Path(name): Path<String>,
    Query(q): Query<TableQuery>,
) -> Response {
    let Some(rtu) = ops.live.rtu(&name) else {
        return (StatusCode::NOT_FOUND, "no such RTU\n").into_response();
    };
    let now = now_ms();
    let (total, keys) = page_keys(rtu, &q, now);
    let rows = points_of(rtu, &keys, 0, now);
    Json(json!({"header": header(&ops), "rtu": rtu_row(rtu, now), "total": total, "points": rows}))
        .into_response()
}

/// `GET /api/commands`: the command log.
pub async fn commands(State(ops): State<Ops>) -> Response {
    let (rows, _) = ops.live.commands_since(0);
    Json(json!({"commands": rows})).into_response()
}

/// What one event stream follows and has sent.
struct Follow {
    ops: Ops,
    _slot: tokio::sync::OwnedSemaphorePermit,
    rtus: Vec<String>,
    points: Option<(String, Vec<(u16, u32)>)>,
    version: u64,
    command_seq: u64,
    tick: tokio::time::Interval,
}

impl Follow {
    /// The next event with what changed (waits at least one tick, at most until a change).
    async fn next(&mut self) -> Event {
        loop {
            self.tick.tick().await;
            let live: &LiveView = &self.ops.live;
            let version = live.version();
            if version == self.version {
                continue;
            }
            let after = self.version;
            self.version = version;
            let now = now_ms();
            let rtus: Vec<Value> = self
                .rtus
                .iter()
                .filter_map(|n| live.rtu(n))
                .filter(|r| r.version() > after)
                .map(|r| rtu_row(r, now))
                .collect();
            let points = match &self.points {
                Some((name, keys)) => live
                    .rtu(name)
                    .map(|r| points_of(r, keys, after, now))
                    .unwrap_or_default(),
                None => Vec::new(),
            };
            let (commands, seq) = live.commands_since(self.command_seq);
            self.command_seq = seq;
            let body = json!({"header": header(&self.ops), "rtus": rtus, "points": points, "commands": commands});
            return Event::default().event("delta").data(body.to_string());
        }
    }
}

/// `GET /api/events`: deltas for the overview page shown (`q`, `page`, `size`) or, with
/// `rtu`, for that RTU's point page.
pub async fn events(State(ops): State<Ops>, Query(q): Query<TableQuery>) -> Response {
    let Ok(slot) = ops.streams.clone().try_acquire_owned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many event streams\n").into_response();
    };
    let now = now_ms();
    let (rtus, points) = match &q.rtu {
        Some(name) => match ops.live.rtu(name) {
            Some(r) => (
                vec![name.clone()],
                Some((name.clone(), page_keys(r, &q, now).1)),
            ),
            None => return (StatusCode::NOT_FOUND, "no such RTU\n").into_response(),
        },
        None => {
            let names = ops
                .live
                .rtus()
                .iter()
                .filter(|r| rtu_matches(r, &q))
                .skip(q.page.saturating_mul(q.size()))
                .take(q.size())
                .map(|r| r.name.clone())
                .collect();
            (names, None)
        }
    };
    let command_seq = match q.commands_after {
        Some(after) => after,
        None => ops.live.commands_since(u64::MAX).1,
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let follow = Follow {
        version: q.since.unwrap_or_else(|| ops.live.version()),
        ops,
        _slot: slot,
        rtus,
        points,
        command_seq,
        tick,
    };
    Sse::new(stream(follow))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn stream(follow: Follow) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(follow, |mut f| async move {
        let e = f.next().await;
        Some((Ok(e), f))
    })
}

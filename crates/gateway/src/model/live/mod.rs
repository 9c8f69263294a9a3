//! The live view: a read-only picture of what the gateway does, fed by the layers (last
//! value per point from the data path, RTU states from the sessions, the cluster view, the
//! command outcomes) and read by the status page.
//!
//! Bounded: one entry per point up to [`LiveView::new`]'s `max_points` over all RTUs, a fixed
//! set of RTUs (from the configuration), a ring of the latest commands. A global version
//! number grows with every change so readers send only what changed since they last looked.

pub mod log;
pub mod points;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

pub use log::{CommandLog, CommandRow};
pub use points::{PointEntry, PointTable, Received, Update};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Connection facts of one RTU.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RtuStatus {
    /// Connection state (`connecting`, `started`, `stopped`, `disconnected`, `off`).
    pub state: &'static str,
    /// Why (for `disconnected`).
    pub reason: String,
    /// Address connected to, or the configured ones.
    pub address: String,
    /// Role in the cluster (`active`, `standby`, or empty outside cluster mode).
    pub role: &'static str,
    /// The node carrying it (this one outside cluster mode).
    pub owner: String,
    /// TLS: `off`, or a short state such as `on` / `handshake failed`.
    pub tls: String,
}

/// One RTU in the view.
#[derive(Debug)]
pub struct RtuLive {
    /// Configured name.
    pub name: String,
    status: Mutex<RtuStatus>,
    points: Mutex<PointTable>,
    objects: AtomicU64,
    last_data_ms: AtomicI64,
    version: AtomicU64,
    rate: Mutex<RateWindow>,
}

#[derive(Debug, Default)]
struct RateWindow {
    start_ms: i64,
    start_objects: u64,
    per_second: f64,
}

/// One node of the cluster as this node sees it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct NodeRow {
    /// Node id.
    pub node: String,
    /// `online`, `offline`, `stale`, ... (as the cluster reports it).
    pub state: String,
    /// Whether it is this process.
    pub me: bool,
    /// RTUs it carries.
    pub carries: Vec<String>,
    /// RTUs it holds in standby.
    pub standby: Vec<String>,
}

/// The live view of one gateway process.
#[derive(Debug)]
pub struct LiveView {
    /// This node's id.
    pub node: String,
    rtus: Vec<Arc<RtuLive>>,
    by_name: HashMap<String, usize>,
    version: AtomicU64,
    points: AtomicUsize,
    max_points: usize,
    points_refused: AtomicU64,
    commands: Mutex<CommandLog>,
    cluster: Mutex<Option<Vec<NodeRow>>>,
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl LiveView {
    /// A view of `rtus` (name, configured addresses, TLS state) on node `node`, keeping at
    /// most `max_points` points in all and the latest `max_commands` commands.
    pub fn new(
        node: &str,
        rtus: impl IntoIterator<Item = (String, String, String)>,
        max_points: usize,
        max_commands: usize,
    ) -> LiveView {
        let rtus: Vec<Arc<RtuLive>> = rtus
            .into_iter()
            .map(|(name, address, tls)| {
                Arc::new(RtuLive {
                    status: Mutex::new(RtuStatus {
                        state: "connecting",
                        address,
                        owner: node.to_owned(),
                        tls,
                        ..RtuStatus::default()
                    }),
                    name,
                    points: Mutex::default(),
                    objects: AtomicU64::new(0),
                    last_data_ms: AtomicI64::new(0),
                    version: AtomicU64::new(0),
                    rate: Mutex::default(),
                })
            })
            .collect();
        let by_name = rtus
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.clone(), i))
            .collect();
        LiveView {
            node: node.to_owned(),
            rtus,
            by_name,
            version: AtomicU64::new(1),
            points: AtomicUsize::new(0),
            max_points,
            points_refused: AtomicU64::new(0),
            commands: Mutex::new(CommandLog::new(max_commands)),
            cluster: Mutex::new(None),
        }
    }

    /// A new version number (every change takes one).
    pub fn next_version(&self) -> u64 {
        self.version.fetch_add(1, Relaxed) + 1
    }

    /// The latest version handed out.
    pub fn version(&self) -> u64 {
        self.version.load(Relaxed)
    }

    /// Every RTU, in configuration order.
    pub fn rtus(&self) -> &[Arc<RtuLive>] {
        &self.rtus
    }

    /// The RTU called `name`.
    pub fn rtu(&self, name: &str) -> Option<&Arc<RtuLive>> {
        self.by_name.get(name).and_then(|&i| self.rtus.get(i))
    }

    /// Records the objects of one ASDU of `rtu` (one lock for the whole ASDU; a point is
    /// added only while the global bound allows).
    pub fn record<'a>(
        &self,
        rtu: &RtuLive,
        received: &mut Received,
        objects: impl Iterator<Item = Update<'a>>,
    ) {
        received.version = self.next_version();
        let mut table = lock(&rtu.points);
        let mut n = 0u64;
        for u in objects {
            n += 1;
            let may_grow = self.points.load(Relaxed) < self.max_points;
            match table.update(&u, received, may_grow) {
                Some(true) => {
                    self.points.fetch_add(1, Relaxed);
                }
                Some(false) => {}
                None => {
                    self.points_refused.fetch_add(1, Relaxed);
                }
            }
        }
        drop(table);
        rtu.objects.fetch_add(n, Relaxed);
        rtu.last_data_ms
            .store(received.at.timestamp_millis(), Relaxed);
        rtu.version.store(received.version, Relaxed);
    }

    /// Changes the connection facts of `rtu`.
    pub fn set_status(&self, rtu: &str, f: impl FnOnce(&mut RtuStatus)) {
        if let Some(r) = self.rtu(rtu) {
            f(&mut lock(&r.status));
            r.version.store(self.next_version(), Relaxed);
        }
    }

    /// Logs a command outcome.
    pub fn command(&self, row: CommandRow) {
        lock(&self.commands).push(row);
        self.next_version();
    }

    /// Commands logged after sequence number `after` (oldest first), and the latest number.
    pub fn commands_since(&self, after: u64) -> (Vec<CommandRow>, u64) {
        let log = lock(&self.commands);
        (log.since(after).cloned().collect(), log.last_seq())
    }

    /// Replaces the cluster picture (cluster mode only).
    pub fn set_cluster(&self, nodes: Vec<NodeRow>) {
        *lock(&self.cluster) = Some(nodes);
        self.next_version();
    }

    /// The cluster picture (`None` outside cluster mode).
    pub fn cluster(&self) -> Option<Vec<NodeRow>> {
        lock(&self.cluster).clone()
    }

    /// Points held, and updates refused because the bound was reached.
    pub fn point_counts(&self) -> (usize, u64) {
        (self.points.load(Relaxed), self.points_refused.load(Relaxed))
    }
}

impl RtuLive {
    /// The connection facts.
    pub fn status(&self) -> RtuStatus {
        lock(&self.status).clone()
    }

    /// Version of its latest change.
    pub fn version(&self) -> u64 {
        self.version.load(Relaxed)
    }

    /// When data last came, UTC milliseconds (0: never).
    pub fn last_data_ms(&self) -> i64 {
        self.last_data_ms.load(Relaxed)
    }

    /// Information objects per second, over windows of at least a second.
    pub fn rate(&self, now_ms: i64) -> f64 {
        let objects = self.objects.load(Relaxed);
        let mut w = lock(&self.rate);
        let elapsed = now_ms - w.start_ms;
        if elapsed >= 1000 {
            if w.start_ms != 0 {
                w.per_second =
                    objects.saturating_sub(w.start_objects) as f64 * 1000.0 / elapsed as f64;
            }
            w.start_ms = now_ms;
            w.start_objects = objects;
        }
        w.per_second
    }

    /// Runs `f` on the point table (the lock is held while `f` runs: keep it short).
    pub fn with_points<T>(&self, f: impl FnOnce(&PointTable) -> T) -> T {
        f(&lock(&self.points))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iec104::asdu::{AsduParams, AsduView};

    // M_SP_NA_1 (1), SQ=0, 2 objects, COT 3 (spont), OA 0, CA 1; IOA 10 SIQ 0x01 (on),
    // IOA 11 SIQ 0x80 (off, IV) — IEC 60870-5-101 7.3.1.1 with the 104 field sizes.
    const TWO_SP: [u8; 14] = [
        0x01, 0x02, 0x03, 0x00, 0x01, 0x00, 0x0A, 0x00, 0x00, 0x01, 0x0B, 0x00, 0x00, 0x80,
    ];

    fn record(view: &LiveView, bytes: &[u8]) {
        let asdu = AsduView::parse(bytes, &AsduParams::IEC104).unwrap();
        let rtu = view.rtu("north").unwrap().clone();
        let mut received = Received {
            cause: 3,
            at: chrono::Utc::now(),
            tz_offset_secs: 0,
            version: 0,
        };
        let updates = asdu.objects().map(|o| Update {
            ca: 1,
            ioa: o.ioa,
            element: o.element,
            name: None,
            scale: (None, None),
        });
        view.record(&rtu, &mut received, updates);
    }

    fn view(max_points: usize) -> LiveView {
        let rtus = [("north".to_owned(), "a:1".to_owned(), "off".to_owned())];
        LiveView::new("gw", rtus, max_points, 4)
    }

    #[test]
    fn one_entry_per_point_with_value_quality_and_version() {
        let v = view(10);
        record(&v, &TWO_SP);
        let first = v.version();
        record(&v, &TWO_SP);
        assert_eq!(v.point_counts(), (2, 0));
        let rtu = v.rtu("north").unwrap();
        rtu.with_points(|t| {
            let on = t.get(1, 10).unwrap();
            assert_eq!(on.value, points::PointValue::Bool(true));
            assert_eq!(on.quality, 0);
            let bad = t.get(1, 11).unwrap();
            assert_eq!(bad.quality, 0x80);
            assert!(on.version > first, "the second update has a newer version");
        });
        assert!(rtu.version() > first);
    }

    #[test]
    fn points_beyond_the_bound_are_refused_and_counted() {
        let v = view(1);
        record(&v, &TWO_SP);
        record(&v, &TWO_SP);
        assert_eq!(v.point_counts(), (1, 2));
    }
}

//! The Sparkplug history on disk: a redb file of its own beside the queue
//! (`{queue stem}.sparkplug.redb`), one table per RTU (`history/{rtu}`) of held values by id,
//! and the count of values dropped per RTU. The JSON queue's file and figures are untouched.
//!
//! Bounded per RTU by `buffer_capacity`: beyond it the oldest values are dropped, counted
//! (kept in the file, so it survives restarts, and sent as `History/Dropped` in the NBIRTH)
//! and logged as a warning. Holds are written in one durable transaction per batch the
//! driver hands over (each tick of 100 ms at most, or 1024 changes); sent values are removed
//! in the same way.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use iec104_sparkplug::edge::{HeldChange, HeldValue};
use iec104_sparkplug::session::HistoryStore;
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::StoreError;

const DROPPED: TableDefinition<&str, u64> = TableDefinition::new("dropped");

/// The history file beside the queue at `queue`.
pub fn path_beside(queue: &Path) -> PathBuf {
    queue.with_extension("sparkplug.redb")
}

/// What an earlier run left for one RTU, and where its history goes now.
#[derive(Debug)]
pub struct Restored {
    /// The RTU's durable history, for the driver.
    pub store: Arc<RtuHistory>,
    /// The values held, oldest first.
    pub held: Vec<HeldValue>,
    /// Values dropped so far (the bound was reached).
    pub dropped: u64,
}

/// Opens (or creates) the history file and reads each RTU's held values; `rtus` are the
/// RTU names with their capacity. Blocking.
pub fn open(path: &Path, rtus: &[(String, u64)]) -> Result<HashMap<String, Restored>, StoreError> {
    let db = Arc::new(Database::create(path)?);
    let mut out = HashMap::with_capacity(rtus.len());
    for (rtu, capacity) in rtus {
        let store = RtuHistory {
            db: db.clone(),
            rtu: rtu.clone(),
            table: format!("history/{rtu}"),
            capacity: (*capacity).max(1),
            counters: Mutex::new(Counters::default()),
        };
        let (held, dropped) = store.load()?;
        out.insert(
            rtu.clone(),
            Restored {
                store: Arc::new(store),
                held,
                dropped,
            },
        );
    }
    Ok(out)
}

#[derive(Debug, Default)]
struct Counters {
    len: u64,
    dropped: u64,
}

/// The durable history of one RTU's edge node.
#[derive(Debug)]
pub struct RtuHistory {
    db: Arc<Database>,
    rtu: String,
    table: String,
    capacity: u64,
    counters: Mutex<Counters>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RtuHistory {
    fn def(&self) -> TableDefinition<'_, u64, &'static [u8]> {
        TableDefinition::new(&self.table)
    }

    /// Reads the held values (dropping the oldest beyond the capacity, and those that cannot
    /// be read, with a warning).
    fn load(&self) -> Result<(Vec<HeldValue>, u64), StoreError> {
        let tx = self.db.begin_write()?;
        let mut held = Vec::new();
        let mut c = lock(&self.counters);
        {
            let mut table = tx.open_table(self.def())?;
            let mut dropped_table = tx.open_table(DROPPED)?;
            c.dropped = dropped_table
                .get(self.rtu.as_str())?
                .map_or(0, |v| v.value());
            let mut over = table.len()?.saturating_sub(self.capacity);
            if over > 0 {
                tracing::warn!(rtu = %self.rtu, dropped = over, "sparkplug history above its capacity: oldest values dropped");
                c.dropped += over;
                dropped_table.insert(self.rtu.as_str(), c.dropped)?;
            }
            while over > 0 && table.pop_first()?.is_some() {
                over -= 1;
            }
            let mut unreadable = Vec::new();
            for entry in table.iter()? {
                let (k, v) = entry?;
                match HeldValue::decode(v.value()) {
                    Ok(h) => held.push(h),
                    Err(e) => {
                        tracing::warn!(rtu = %self.rtu, id = k.value(), error = %e, "sparkplug history value unreadable: removed");
                        unreadable.push(k.value());
                    }
                }
            }
            for id in unreadable {
                table.remove(id)?;
            }
            c.len = table.len()?;
        }
        tx.commit()?;
        Ok((held, c.dropped))
    }

    /// Removes the values with these ids (those the edge node could not take back).
    pub fn forget(&self, ids: &[u64]) -> Result<(), StoreError> {
        let mut c = lock(&self.counters);
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(self.def())?;
            for id in ids {
                if table.remove(*id)?.is_some() {
                    c.len = c.len.saturating_sub(1);
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Makes the changes in one durable transaction; returns how many values the bound
    /// dropped.
    pub fn write(&self, changes: &[HeldChange]) -> Result<u64, StoreError> {
        let mut c = lock(&self.counters);
        let tx = self.db.begin_write()?;
        let mut len = c.len;
        let mut dropped_now = 0;
        {
            let mut table = tx.open_table(self.def())?;
            let mut buf;
            for change in changes {
                match change {
                    HeldChange::Hold(h) => {
                        buf = h.encode();
                        if table.insert(h.id, buf.as_slice())?.is_none() {
                            len += 1;
                        }
                        while len > self.capacity && table.pop_first()?.is_some() {
                            len -= 1;
                            dropped_now += 1;
                        }
                    }
                    HeldChange::Release(last) => loop {
                        let first = table.first()?.map(|(k, _)| k.value());
                        match first {
                            Some(id) if id <= *last => {
                                table.remove(id)?;
                                len = len.saturating_sub(1);
                            }
                            _ => break,
                        }
                    },
                }
            }
            if dropped_now > 0 {
                let mut dropped = tx.open_table(DROPPED)?;
                dropped.insert(self.rtu.as_str(), c.dropped + dropped_now)?;
            }
        }
        tx.commit()?;
        c.len = len;
        c.dropped += dropped_now;
        Ok(dropped_now)
    }

    /// Values held.
    pub fn len(&self) -> u64 {
        lock(&self.counters).len
    }

    /// Values dropped because the bound was reached, since the file was created.
    pub fn dropped(&self) -> u64 {
        lock(&self.counters).dropped
    }
}

impl HistoryStore for RtuHistory {
    fn apply(&self, changes: &[HeldChange]) {
        match self.write(changes) {
            Ok(0) => {}
            Ok(dropped) => tracing::warn!(
                rtu = %self.rtu,
                dropped,
                total = self.dropped(),
                "sparkplug history full: oldest values dropped"
            ),
            Err(e) => {
                tracing::error!(rtu = %self.rtu, error = %e, "cannot write the sparkplug history (kept in memory only)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iec104_sparkplug::{DataType, PointAddress, Value};

    fn held(id: u64) -> HeldValue {
        HeldValue {
            id,
            address: Some(PointAddress { ca: 1, ioa: 7 }),
            name: None,
            datatype: DataType::Float,
            value: Some(Value::Float(id as f32)),
            quality: None,
            timestamp: 1_700_000_000_000 + id,
        }
    }

    fn ids(values: &[HeldValue]) -> Vec<u64> {
        values.iter().map(|h| h.id).collect()
    }

    #[test]
    fn sparkplug_history_survives_reopen_is_bounded_and_released() {
        let dir = std::env::temp_dir().join(format!(
            "gw-spb-history-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let queue = dir.join("queue.redb");
        let path = path_beside(&queue);
        assert_eq!(path, dir.join("queue.sparkplug.redb"));
        let rtus = [("a".to_owned(), 3), ("b".to_owned(), 3)];
        {
            let mut open = open(&path, &rtus).unwrap();
            let a = open.remove("a").unwrap();
            assert!(a.held.is_empty());
            let holds: Vec<HeldChange> = (1..=5).map(|i| HeldChange::Hold(held(i))).collect();
            // Five into a bound of three: the two oldest are dropped and counted.
            assert_eq!(a.store.write(&holds).unwrap(), 2);
            assert_eq!((a.store.len(), a.store.dropped()), (3, 2));
            a.store.write(&[HeldChange::Release(3)]).unwrap();
            assert_eq!(a.store.len(), 2);
        }
        let mut open = open(&path, &rtus).unwrap();
        let a = open.remove("a").unwrap();
        assert_eq!((ids(&a.held), a.dropped), (vec![4, 5], 2));
        assert_eq!(a.held[0], held(4));
        let b = open.remove("b").unwrap();
        assert!(b.held.is_empty(), "each RTU has its own table");
        a.store.forget(&[5]).unwrap();
        a.store
            .write(&[HeldChange::Hold(held(6)), HeldChange::Hold(held(7))])
            .unwrap();
        assert_eq!(a.store.len(), 3);
        drop((a, b, open));
        // A smaller capacity after a restart drops the oldest beyond it, counted.
        let mut open_again = open_with(&path, &[("a".to_owned(), 1)]);
        let a = open_again.remove("a").unwrap();
        assert_eq!((ids(&a.held), a.dropped), (vec![7], 4));
        a.store.write(&[HeldChange::Release(7)]).unwrap();
        assert_eq!(a.store.len(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn open_with(path: &Path, rtus: &[(String, u64)]) -> HashMap<String, Restored> {
        open(path, rtus).unwrap()
    }
}

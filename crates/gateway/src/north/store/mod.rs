//! The on-disk queue of messages waiting for the broker's acknowledgement (redb).
//!
//! Entries are keyed by a growing sequence number, so reading in key order is publish order.
//! The queue is bounded: past `max` entries the oldest are dropped and counted (the count is
//! kept in the database too, so it survives restarts).

pub mod held;
pub mod writer;

use std::path::Path;
use std::sync::Mutex;

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::model::{Message, MessageError};

const QUEUE: TableDefinition<u64, &[u8]> = TableDefinition::new("queue");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const DROPPED: &str = "dropped";

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error.
    #[error("store: {0}")]
    Db(Box<redb::Error>),
}

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        StoreError::Db(Box::new(e))
    }
}

/// Entries read back: id and message (or why it cannot be read).
pub type Entries = Vec<(u64, Result<Message, MessageError>)>;

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(Box::new(e.into()))
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

struct Counters {
    next_id: u64,
    len: u64,
    dropped: u64,
    /// Removals committed without durability since the last durable commit.
    relaxed_removals: u32,
}

/// At most this many removals in a row are committed without durability (while the queue
/// drains with no appends, every this many one is made durable, so that a crash re-publishes
/// a bounded number of messages and redb frees pages).
const RELAXED_REMOVALS: u32 = 64;

/// The bounded, crash-safe queue.
pub struct Store {
    db: Database,
    max: u64,
    counters: Mutex<Counters>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Store {
    /// Opens (or creates) the queue at `path`, bounded to `max` entries.
    pub fn open(path: &Path, max: u64) -> Result<Store, StoreError> {
        let db = Database::create(path)?;
        let tx = db.begin_write()?;
        let counters = {
            let queue = tx.open_table(QUEUE)?;
            let meta = tx.open_table(META)?;
            let next_id = queue.last()?.map(|(k, _)| k.value() + 1).unwrap_or(1);
            let dropped = meta.get(DROPPED)?.map(|v| v.value()).unwrap_or(0);
            Counters {
                next_id,
                len: queue.len()?,
                dropped,
                relaxed_removals: 0,
            }
        };
        tx.commit()?;
        Ok(Store {
            db,
            max: max.max(1),
            counters: Mutex::new(counters),
        })
    }

    /// Appends `messages` in one durable transaction; drops the oldest entries beyond the
    /// bound. Returns how many were dropped by this call.
    pub fn append(&self, messages: &[Message]) -> Result<u64, StoreError> {
        if messages.is_empty() {
            return Ok(0);
        }
        let mut c = lock(&self.counters);
        let tx = self.db.begin_write()?;
        let mut dropped_now = 0;
        let (next_id, len) = {
            let mut queue = tx.open_table(QUEUE)?;
            let mut id = c.next_id;
            let mut buf = Vec::new();
            for m in messages {
                buf.clear();
                m.encode(&mut buf);
                queue.insert(id, buf.as_slice())?;
                id += 1;
            }
            let mut len = c.len + messages.len() as u64;
            while len > self.max {
                if queue.pop_first()?.is_none() {
                    break;
                }
                len -= 1;
                dropped_now += 1;
            }
            if dropped_now > 0 {
                let mut meta = tx.open_table(META)?;
                meta.insert(DROPPED, c.dropped + dropped_now)?;
            }
            (id, len)
        };
        tx.commit()?;
        // A durable commit persists every relaxed removal before it.
        c.relaxed_removals = 0;
        c.next_id = next_id;
        c.len = len;
        c.dropped += dropped_now;
        Ok(dropped_now)
    }

    /// Up to `limit` entries with an id greater than `after`, in order. Entries that cannot be
    /// decoded are returned as errors with their id (the caller removes them).
    pub fn read_after(&self, after: u64, limit: usize) -> Result<Entries, StoreError> {
        let tx = self.db.begin_read()?;
        let queue = tx.open_table(QUEUE)?;
        let mut out = Vec::new();
        for entry in queue.range(after.saturating_add(1)..)? {
            if out.len() >= limit {
                break;
            }
            let (k, v) = entry?;
            out.push((k.value(), Message::decode(v.value())));
        }
        Ok(out)
    }

    /// Removes acknowledged entries (missing ids are ignored).
    pub fn remove(&self, ids: &[u64]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut c = lock(&self.counters);
        let mut tx = self.db.begin_write()?;
        // A removal need not reach the disk by itself: it is persisted by the next (durable)
        // append, and one lost in a crash only re-publishes messages the broker already has,
        // which at-least-once delivery allows. This saves an fsync per PUBACK batch.
        if c.relaxed_removals < RELAXED_REMOVALS {
            tx.set_durability(redb::Durability::None);
            c.relaxed_removals += 1;
        } else {
            c.relaxed_removals = 0;
        }
        let mut removed = 0;
        {
            let mut queue = tx.open_table(QUEUE)?;
            for id in ids {
                if queue.remove(*id)?.is_some() {
                    removed += 1;
                }
            }
        }
        tx.commit()?;
        c.len = c.len.saturating_sub(removed);
        Ok(())
    }

    /// Entries waiting.
    pub fn len(&self) -> u64 {
        lock(&self.counters).len
    }

    /// Entries dropped because the bound was reached, since the store was created.
    pub fn dropped(&self) -> u64 {
        lock(&self.counters).dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(i: u32) -> Message {
        Message {
            topic: format!("t/{i}"),
            payload: i.to_be_bytes().to_vec(),
            qos: 1,
            retain: false,
        }
    }

    fn dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "gw-store-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn append_read_remove_in_order_and_survives_reopen() {
        let d = dir();
        let path = d.join("q.redb");
        {
            let s = Store::open(&path, 100).unwrap();
            s.append(&[msg(1), msg(2)]).unwrap();
            s.append(&[msg(3)]).unwrap();
            let all = s.read_after(0, 10).unwrap();
            let ids: Vec<u64> = all.iter().map(|(id, _)| *id).collect();
            assert_eq!(ids, vec![1, 2, 3]);
            s.remove(&[1]).unwrap();
            assert_eq!(s.len(), 2);
        }
        let s = Store::open(&path, 100).unwrap();
        assert_eq!(s.len(), 2);
        let all = s.read_after(0, 10).unwrap();
        let got: Vec<Message> = all.into_iter().map(|(_, m)| m.unwrap()).collect();
        assert_eq!(got, vec![msg(2), msg(3)]);
        // New ids continue after the last one, never reusing an id.
        s.append(&[msg(4)]).unwrap();
        assert_eq!(s.read_after(3, 10).unwrap()[0].0, 4);
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn bound_drops_oldest_and_counts() {
        let d = dir();
        let s = Store::open(&d.join("q.redb"), 3).unwrap();
        s.append(&[msg(1), msg(2)]).unwrap();
        assert_eq!(s.append(&[msg(3), msg(4), msg(5)]).unwrap(), 2);
        assert_eq!(s.len(), 3);
        assert_eq!(s.dropped(), 2);
        let got: Vec<Message> = s
            .read_after(0, 10)
            .unwrap()
            .into_iter()
            .map(|(_, m)| m.unwrap())
            .collect();
        assert_eq!(got, vec![msg(3), msg(4), msg(5)]);
        std::fs::remove_dir_all(d).unwrap();
    }
}

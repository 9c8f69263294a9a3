//! The status board: the latest retained status message per topic, republished after every
//! reconnection to the broker.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::Message;

/// Latest retained status per topic, with a version per update.
#[derive(Debug, Default)]
pub struct StatusBoard {
    entries: Mutex<Entries>,
    /// Bumped on every update (a cheap "anything new?" for the publisher). Entry versions are
    /// taken from it too, board-wide, so a topic removed and set again never reuses a version.
    version: AtomicU64,
    /// Woken on every update.
    pub changed: Notify,
}

/// The entries by topic, and their topics by version (so that a consumer finds what changed
/// without looking at every entry: thousands of RTU statuses, read after every PUBACK).
#[derive(Debug, Default)]
struct Entries {
    by_topic: BTreeMap<String, (u64, Message)>,
    by_version: BTreeMap<u64, String>,
}

impl Entries {
    /// Gives the entry of `topic` the version `version` (when there is one).
    fn bump(&mut self, topic: &str, version: u64) -> bool {
        let Some((v, _)) = self.by_topic.get_mut(topic) else {
            return false;
        };
        self.by_version.remove(v);
        *v = version;
        self.by_version.insert(version, topic.to_owned());
        true
    }

    fn remove(&mut self, topic: &str) {
        if let Some((v, _)) = self.by_topic.remove(topic) {
            self.by_version.remove(&v);
        }
    }
}

/// What one consumer has taken from the board (see [`StatusBoard::changed_since`]); a new
/// one has taken nothing (after a reconnection everything goes out again).
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Every version up to this one was taken (versions start at 1: 0 is nothing yet).
    upto: u64,
    /// Topics to hand out again although unchanged (the consumer could not take them).
    again: BTreeSet<String>,
}

impl Seen {
    /// `topic` could not be taken: hand it out again on the next call.
    pub fn again(&mut self, topic: String) {
        self.again.insert(topic);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl StatusBoard {
    /// A new, empty board.
    pub fn new() -> Arc<StatusBoard> {
        Arc::new(StatusBoard::default())
    }

    /// Sets the status message of its topic.
    pub fn set(&self, message: Message) {
        let mut e = lock(&self.entries);
        let version = self.next_version();
        let topic = message.topic.clone();
        if let Some((old, _)) = e.by_topic.insert(topic.clone(), (version, message)) {
            e.by_version.remove(&old);
        }
        e.by_version.insert(version, topic);
        drop(e);
        self.changed.notify_one();
    }

    /// A new version, board-wide (also bumps what [`StatusBoard::version`] returns).
    fn next_version(&self) -> u64 {
        self.version.fetch_add(1, Ordering::SeqCst).wrapping_add(1)
    }

    /// Publishes the status of `topic` again (as a new version), if there is one.
    pub fn touch(&self, topic: &str) {
        let mut e = lock(&self.entries);
        let version = self.next_version();
        let touched = e.bump(topic, version);
        drop(e);
        if touched {
            self.changed.notify_one();
        }
    }

    /// Forgets the status of `topic`: it is not published again (after a reconnection
    /// either); what the broker retains stays until someone else overwrites it.
    pub fn remove(&self, topic: &str) {
        lock(&self.entries).remove(topic);
    }

    /// The payload of the status of `topic`, if there is one.
    pub fn payload(&self, topic: &str) -> Option<Vec<u8>> {
        lock(&self.entries)
            .by_topic
            .get(topic)
            .map(|(_, m)| m.payload.clone())
    }

    /// Forgets the status of `topic` (see [`StatusBoard::remove`]) when `mine` says its
    /// payload is one we set (the check and the removal are one step).
    pub fn remove_if(&self, topic: &str, mine: impl Fn(&[u8]) -> bool) {
        let mut e = lock(&self.entries);
        if e.by_topic.get(topic).is_some_and(|(_, m)| mine(&m.payload)) {
            e.remove(topic);
        }
    }

    /// Sets `field` to `value` in every JSON status whose topic ends with `suffix` (e.g. the
    /// queue's drop count in each RTU status), as a new version of each.
    pub fn patch(&self, suffix: &str, field: &str, value: serde_json::Value) {
        let mut e = lock(&self.entries);
        let mut patched = Vec::new();
        for (topic, (_, m)) in e.by_topic.iter_mut() {
            if !topic.ends_with(suffix) {
                continue;
            }
            if let Ok(serde_json::Value::Object(mut map)) = serde_json::from_slice(&m.payload) {
                map.insert(field.to_owned(), value.clone());
                m.payload = serde_json::Value::Object(map).to_string().into_bytes();
                patched.push(topic.clone());
            }
        }
        for topic in patched {
            let version = self.next_version();
            e.bump(&topic, version);
        }
        drop(e);
        self.changed.notify_one();
    }

    /// A number that changes whenever an entry changes.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
    }

    /// Entries changed since `seen` (which is updated): every entry for a new `seen`, else
    /// those set or touched since, and those it asked for again; in the order of their
    /// changes. Costs what changed, not the size of the board.
    pub fn changed_since(&self, seen: &mut Seen) -> Vec<Message> {
        self.changed_since_at_most(seen, usize::MAX)
    }

    /// [`StatusBoard::changed_since`], at most `limit` entries (the rest on the next calls).
    pub fn changed_since_at_most(&self, seen: &mut Seen, limit: usize) -> Vec<Message> {
        let e = lock(&self.entries);
        let upto = seen.upto;
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(topic) = seen.again.pop_first() else {
                break;
            };
            match e.by_topic.get(&topic) {
                // Changed since: it comes with the changes below.
                Some((v, m)) if *v <= upto => out.push(m.clone()),
                _ => {}
            }
        }
        let mut changes = e.by_version.range(upto + 1..);
        loop {
            if out.len() >= limit {
                // The rest on the next call.
                return out;
            }
            match changes.next() {
                Some((v, topic)) => {
                    if let Some((_, m)) = e.by_topic.get(topic) {
                        out.push(m.clone());
                    }
                    seen.upto = *v;
                }
                None => break,
            }
        }
        // Every version is taken under the lock: none up to this one can still appear.
        seen.upto = self.version.load(Ordering::SeqCst);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changes_are_returned() {
        let b = StatusBoard::new();
        let m = |t: &str, p: &str| Message {
            topic: t.into(),
            payload: p.as_bytes().to_vec(),
            qos: 1,
            retain: true,
        };
        b.set(m("a", "1"));
        b.set(m("b", "1"));
        let mut seen = Seen::default();
        assert_eq!(b.changed_since(&mut seen).len(), 2);
        assert!(b.changed_since(&mut seen).is_empty());
        b.set(m("a", "2"));
        assert_eq!(b.changed_since(&mut seen), vec![m("a", "2")]);
        // A patch touches the JSON of matching topics only.
        b.set(m("x/status", r#"{"state":"started"}"#));
        b.changed_since(&mut seen);
        b.patch("/status", "queue_dropped", serde_json::json!(7));
        assert_eq!(
            b.changed_since(&mut seen),
            vec![m("x/status", r#"{"queue_dropped":7,"state":"started"}"#)]
        );
        // After a reconnection everything is published again.
        let mut seen = Seen::default();
        assert_eq!(b.changed_since(&mut seen).len(), 3);
        // A touched entry goes out again, unchanged; an unknown topic is ignored.
        b.touch("a");
        b.touch("nowhere");
        assert_eq!(b.changed_since(&mut seen), vec![m("a", "2")]);
        // A removed topic is not published again; set again later, it is (its version is new
        // even though the publisher saw an older one under the same topic).
        let mut fresh = Seen::default();
        b.remove("b");
        assert_eq!(b.changed_since(&mut fresh).len(), 2, "b is gone");
        // (Per-topic versions would restart at 1, which `seen` already holds for "b".)
        b.set(m("b", "3"));
        assert_eq!(b.changed_since(&mut seen), vec![m("b", "3")]);
        // One the consumer could not take comes again, unchanged; once.
        seen.again("a".into());
        assert_eq!(b.changed_since(&mut seen), vec![m("a", "2")]);
        assert!(b.changed_since(&mut seen).is_empty());
        // Changes come in the order they were made.
        b.set(m("x/status", "9"));
        b.set(m("a", "3"));
        assert_eq!(
            b.changed_since(&mut seen),
            vec![m("x/status", "9"), m("a", "3")]
        );
    }

    #[test]
    fn a_consumer_that_started_on_an_empty_board_sees_the_first_entry() {
        let b = StatusBoard::new();
        let mut seen = Seen::default();
        assert!(b.changed_since(&mut seen).is_empty());
        let first = Message {
            topic: "t".into(),
            payload: b"1".to_vec(),
            qos: 1,
            retain: true,
        };
        b.set(first.clone());
        assert_eq!(b.changed_since(&mut seen), vec![first]);
    }

    #[test]
    fn at_most_takes_the_rest_on_the_next_calls() {
        let b = StatusBoard::new();
        let m = |t: &str| Message {
            topic: t.into(),
            payload: b"1".to_vec(),
            qos: 1,
            retain: true,
        };
        for t in ["c", "a", "b"] {
            b.set(m(t));
        }
        let mut seen = Seen::default();
        assert_eq!(b.changed_since_at_most(&mut seen, 2), vec![m("c"), m("a")]);
        seen.again("c".into());
        b.set(m("d"));
        assert_eq!(b.changed_since_at_most(&mut seen, 2), vec![m("c"), m("b")]);
        assert_eq!(b.changed_since_at_most(&mut seen, 2), vec![m("d")]);
        assert!(b.changed_since_at_most(&mut seen, 2).is_empty());
    }
}

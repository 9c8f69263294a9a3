//! The status board: the latest retained status message per topic, republished after every
//! reconnection to the broker.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::Message;

/// Latest retained status per topic, with a version per update.
#[derive(Debug, Default)]
pub struct StatusBoard {
    entries: Mutex<BTreeMap<String, (u64, Message)>>,
    /// Bumped on every update (a cheap "anything new?" for the publisher). Entry versions are
    /// taken from it too, board-wide, so a topic removed and set again never reuses a version.
    version: AtomicU64,
    /// Woken on every update.
    pub changed: Notify,
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
        e.insert(message.topic.clone(), (version, message));
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
        let touched = match e.get_mut(topic) {
            Some((v, _)) => {
                *v = version;
                true
            }
            None => false,
        };
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
            .get(topic)
            .map(|(_, m)| m.payload.clone())
    }

    /// Forgets the status of `topic` (see [`StatusBoard::remove`]) when `mine` says its
    /// payload is one we set (the check and the removal are one step).
    pub fn remove_if(&self, topic: &str, mine: impl Fn(&[u8]) -> bool) {
        let mut e = lock(&self.entries);
        if e.get(topic).is_some_and(|(_, m)| mine(&m.payload)) {
            e.remove(topic);
        }
    }

    /// Sets `field` to `value` in every JSON status whose topic ends with `suffix` (e.g. the
    /// queue's drop count in each RTU status), as a new version of each.
    pub fn patch(&self, suffix: &str, field: &str, value: serde_json::Value) {
        let mut e = lock(&self.entries);
        for (topic, (version, m)) in e.iter_mut() {
            if !topic.ends_with(suffix) {
                continue;
            }
            if let Ok(serde_json::Value::Object(mut map)) = serde_json::from_slice(&m.payload) {
                map.insert(field.to_owned(), value.clone());
                m.payload = serde_json::Value::Object(map).to_string().into_bytes();
                *version = self.next_version();
            }
        }
        drop(e);
        self.changed.notify_one();
    }

    /// A number that changes whenever an entry changes.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
    }

    /// Entries newer than the versions in `seen` (which is updated).
    pub fn changed_since(&self, seen: &mut BTreeMap<String, u64>) -> Vec<Message> {
        let e = lock(&self.entries);
        let mut out = Vec::new();
        for (topic, (version, m)) in e.iter() {
            if seen.get(topic) != Some(version) {
                seen.insert(topic.clone(), *version);
                out.push(m.clone());
            }
        }
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
        let mut seen = BTreeMap::new();
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
        seen.clear();
        assert_eq!(b.changed_since(&mut seen).len(), 3);
        // A touched entry goes out again, unchanged; an unknown topic is ignored.
        b.touch("a");
        b.touch("nowhere");
        assert_eq!(b.changed_since(&mut seen), vec![m("a", "2")]);
        // A removed topic is not published again; set again later, it is (its version is new
        // even though the publisher saw an older one under the same topic).
        let mut fresh = BTreeMap::new();
        b.remove("b");
        assert_eq!(b.changed_since(&mut fresh).len(), 2, "b is gone");
        // (Per-topic versions would restart at 1, which `seen` already holds for "b".)
        b.set(m("b", "3"));
        assert_eq!(b.changed_since(&mut seen), vec![m("b", "3")]);
    }
}

//! Our own retained topics (RTU statuses, the presence) watched for foreign messages: the
//! gateway subscribes to them, recognises its own publications (the last few payloads per
//! topic) and reports anything else as spoofing, so that the true message is published again.

use std::collections::{HashMap, VecDeque};

use crate::model::hash::fnv1a64;

/// Recent payloads we published, per guarded topic.
#[derive(Debug, Default)]
pub struct Guard {
    recent: HashMap<String, VecDeque<u64>>,
}

/// Payloads remembered per topic (our own echoes arrive a little late).
const RECENT: usize = 8;

impl Guard {
    /// We published `payload` on `topic` (a status or the presence).
    pub fn published(&mut self, topic: &str, payload: &[u8]) {
        let r = self.recent.entry(topic.to_owned()).or_default();
        if r.len() == RECENT {
            r.pop_front();
        }
        r.push_back(fnv1a64(payload));
    }

    /// Whether `topic` is one of ours.
    pub fn guards(&self, topic: &str) -> bool {
        self.recent.contains_key(topic)
    }

    /// Whether a message on a guarded topic is not one of ours (a spoof or a deletion).
    pub fn foreign(&self, topic: &str, payload: &[u8]) -> bool {
        self.recent
            .get(topic)
            .is_some_and(|r| !r.contains(&fnv1a64(payload)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_echoes_pass_others_are_foreign() {
        let mut g = Guard::default();
        g.published("p/north/status", b"a");
        g.published("p/north/status", b"b");
        assert!(g.guards("p/north/status") && !g.guards("p/south/status"));
        assert!(!g.foreign("p/north/status", b"a"));
        assert!(!g.foreign("p/north/status", b"b"));
        assert!(g.foreign("p/north/status", b"{\"state\":\"started\"}"));
        assert!(g.foreign("p/north/status", b""));
        assert!(!g.foreign("p/south/status", b"x"));
    }
}

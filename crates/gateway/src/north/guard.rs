//! Our own retained topics (RTU statuses, the presence) watched for foreign messages: the
//! gateway subscribes to them, recognises its own publications (the last few payloads per
//! topic) and reports anything else as spoofing, so that the true message is published again.
//!
//! In a cluster an RTU's status topic is shared: whichever node carries the RTU writes it, so
//! a status from another node is no spoof (answering it would start a war of statuses between
//! the nodes, and a node resuming from a pause would put its stale `started` back). There a
//! message is foreign only when it claims to come from this node and is not one we published.

use std::collections::{HashMap, VecDeque};

use serde::Deserialize;

use crate::model::hash::fnv1a64;

/// Recent payloads we published, per guarded topic.
#[derive(Debug, Default)]
pub struct Guard {
    recent: HashMap<String, VecDeque<u64>>,
    /// Cluster mode: this node's id; status topics are shared with the other nodes.
    shared_as: Option<String>,
}

/// The one field of a status payload the shared-topic rule reads.
#[derive(Deserialize)]
struct Author<'a> {
    #[serde(borrow)]
    node: Option<std::borrow::Cow<'a, str>>,
}

/// Payloads remembered per topic (our own echoes arrive a little late).
const RECENT: usize = 8;

impl Guard {
    /// A guard; `shared_as` is this node's id in cluster mode (status topics shared).
    pub fn new(shared_as: Option<String>) -> Guard {
        Guard {
            recent: HashMap::new(),
            shared_as,
        }
    }

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
        let unknown = self
            .recent
            .get(topic)
            .is_some_and(|r| !r.contains(&fnv1a64(payload)));
        match &self.shared_as {
            Some(me) if unknown && topic.ends_with("/status") => claims(payload, me),
            _ => unknown,
        }
    }
}

/// Whether a status payload names `me` as its node (a deletion or another node's status does
/// not; an unreadable one is treated as a claim: nobody else has a reason to write it).
fn claims(payload: &[u8], me: &str) -> bool {
    if payload.is_empty() {
        return false;
    }
    match serde_json::from_slice::<Author<'_>>(payload) {
        Ok(a) => a.node.as_deref() == Some(me),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_echoes_pass_others_are_foreign() {
        let mut g = Guard::new(None);
        g.published("p/north/status", b"a");
        g.published("p/north/status", b"b");
        assert!(g.guards("p/north/status") && !g.guards("p/south/status"));
        assert!(!g.foreign("p/north/status", b"a"));
        assert!(!g.foreign("p/north/status", b"b"));
        assert!(g.foreign("p/north/status", b"{\"state\":\"started\"}"));
        assert!(g.foreign("p/north/status", b""));
        assert!(!g.foreign("p/south/status", b"x"));
    }

    #[test]
    fn in_a_cluster_another_nodes_status_is_not_foreign() {
        let mut g = Guard::new(Some("gw-b".into()));
        let ours = br#"{"rtu":"s1","node":"gw-b","state":"started"}"#;
        g.published("p/s1/status", ours);
        assert!(!g.foreign("p/s1/status", ours));
        // The node that carries the RTU now writes its status: no spoof, nothing answered.
        assert!(!g.foreign(
            "p/s1/status",
            br#"{"rtu":"s1","node":"gw-a","state":"started"}"#
        ));
        assert!(!g.foreign("p/s1/status", b""));
        // A message in our name that we did not publish is one.
        assert!(g.foreign(
            "p/s1/status",
            br#"{"rtu":"s1","node":"gw-b","state":"stopped"}"#
        ));
        assert!(g.foreign("p/s1/status", b"not json"));
        // The presence topic stays ours alone.
        g.published("p/_cluster/gw-b", b"x");
        assert!(g.foreign("p/_cluster/gw-b", b"y"));
    }
}

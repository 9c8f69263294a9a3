//! What the recorded messages say about the cluster: the last status of an RTU and the node
//! it names, the presence of each node and its `active` list, standby states, and data
//! messages.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde_json::Value;

use super::PREFIX;
use crate::subscriber::Received;

/// `{prefix}/{rtu}/status`.
pub fn status_topic(rtu: &str) -> String {
    format!("{PREFIX}/{rtu}/status")
}

/// `{prefix}/_cluster/{node}`.
pub fn presence_topic(node: &str) -> String {
    format!("{PREFIX}/_cluster/{node}")
}

/// `{prefix}/{rtu}/standby/{node}`.
pub fn standby_topic(rtu: &str, node: &str) -> String {
    format!("{PREFIX}/{rtu}/standby/{node}")
}

/// The last message on `topic`.
pub fn last<'a>(msgs: &'a [Received], topic: &str) -> Option<&'a Received> {
    msgs.iter().rev().find(|m| m.topic == topic)
}

/// Whether `m` is a data message (an information object of an RTU).
pub fn is_data(m: &Received) -> bool {
    m.json.get("ioa").is_some()
        && m.json.get("rtu").is_some()
        && !m.topic.ends_with("/result")
        && !m.topic.ends_with("/command")
}

/// The node an RTU's last status names, when that status says "started".
pub fn owner(msgs: &[Received], rtu: &str) -> Option<String> {
    let s = last(msgs, &status_topic(rtu))?;
    (s.json["state"] == "started")
        .then(|| s.json["node"].as_str().map(str::to_owned))
        .flatten()
}

/// The last presence payload of `node`.
pub fn presence<'a>(msgs: &'a [Received], node: &str) -> Option<&'a Value> {
    last(msgs, &presence_topic(node)).map(|m| &m.json)
}

/// The `active` list of `node`'s last presence.
pub fn active(msgs: &[Received], node: &str) -> BTreeSet<String> {
    presence(msgs, node)
        .map(PresenceExt::active_list)
        .unwrap_or_default()
}

/// The state of `node`'s last standby report for `rtu`.
pub fn standby_state(msgs: &[Received], rtu: &str, node: &str) -> Option<String> {
    last(msgs, &standby_topic(rtu, node)).and_then(|m| m.json["state"].as_str().map(str::to_owned))
}

/// How long the cluster topics must stay unchanged before a consistent state counts as
/// settled (a consistent snapshot can be a transient: two nodes starting together each take
/// the RTUs before they hear of each other, and a joining node is online before it acts).
pub const QUIET: std::time::Duration = std::time::Duration::from_millis(500);

/// Whether `m` is on a cluster topic: an RTU status, a standby report or a presence (not the
/// nodes' periodic beats `{prefix}/_cluster/{node}/beat`).
pub fn is_cluster_topic(m: &Received) -> bool {
    m.topic.ends_with("/status")
        || m.topic.contains("/standby/")
        || (m.topic.starts_with(&format!("{PREFIX}/_cluster/")) && !m.topic.ends_with("/beat"))
}

/// The ownership when the record shows the cluster consistent on the nodes `live` with
/// `standby` standby connections per RTU: every RTU's last status is "started" naming a node
/// of `live`; each live node's last presence is "online" and its `active` list is exactly the
/// RTUs whose status names it; for every RTU, min(standby, live − 1) live non-owners report
/// their standby connection "stopped" and the owner reports none. Also returns when the last
/// cluster message arrived. None while not consistent.
pub fn consistent(
    msgs: &[Received],
    rtus: &[String],
    live: &[&str],
    standby: usize,
) -> Option<(BTreeMap<String, String>, Instant)> {
    let mut map = BTreeMap::new();
    for r in rtus {
        let o = owner(msgs, r)?;
        if !live.contains(&o.as_str()) {
            return None;
        }
        if standby_state(msgs, r, &o).is_some() {
            return None;
        }
        let standbys = live
            .iter()
            .filter(|n| **n != o && standby_state(msgs, r, n).as_deref() == Some("stopped"))
            .count();
        if standbys != standby.min(live.len() - 1) {
            return None;
        }
        map.insert(r.clone(), o);
    }
    for n in live {
        if presence(msgs, n)?["status"] != "online" {
            return None;
        }
        let mine: BTreeSet<String> = map
            .iter()
            .filter(|(_, o)| o.as_str() == *n)
            .map(|(r, _)| r.clone())
            .collect();
        if active(msgs, n) != mine {
            return None;
        }
    }
    let last = msgs.iter().rev().find(|m| is_cluster_topic(m))?.at;
    Some((map, last))
}

/// [`consistent`] and nothing changed on the cluster topics for [`QUIET`]: the ownership and
/// when the last cluster message arrived.
pub fn settled(
    msgs: &[Received],
    rtus: &[String],
    live: &[&str],
    standby: usize,
) -> Option<(BTreeMap<String, String>, Instant)> {
    consistent(msgs, rtus, live, standby).filter(|(_, last)| last.elapsed() >= QUIET)
}

/// RTUs owned by `node` in `map`.
pub fn owned_by(map: &BTreeMap<String, String>, node: &str) -> Vec<String> {
    map.iter()
        .filter(|(_, o)| o.as_str() == node)
        .map(|(r, _)| r.clone())
        .collect()
}

/// The node owning the most RTUs in `map` (ties: the first by name).
pub fn busiest(map: &BTreeMap<String, String>) -> String {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for o in map.values() {
        *count.entry(o).or_default() += 1;
    }
    count
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(n, _)| (*n).to_owned())
        .unwrap_or_default()
}

/// Data messages of `rtu` that arrived after `after`.
pub fn data_after<'a>(
    msgs: &'a [Received],
    rtu: &'a str,
    after: Instant,
) -> impl Iterator<Item = &'a Received> + 'a {
    // The record is in arrival order: walk back from the end.
    msgs.iter()
        .rev()
        .take_while(move |m| m.at > after)
        .filter(move |m| is_data(m) && m.json["rtu"] == rtu)
}

/// Status messages of `rtu` (in arrival order) that arrived after `after`.
pub fn statuses_after<'a>(msgs: &'a [Received], rtu: &str, after: Instant) -> Vec<&'a Received> {
    let t = status_topic(rtu);
    msgs.iter()
        .filter(|m| m.at > after && m.topic == t)
        .collect()
}

/// Reading a presence payload.
pub trait PresenceExt {
    /// Its `active` list.
    fn active_list(&self) -> BTreeSet<String>;
}

impl PresenceExt for Value {
    fn active_list(&self) -> BTreeSet<String> {
        self["active"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The last status of each RTU, the standby reports of `nodes` and their presence, one per
/// line (for failure messages).
pub fn describe(msgs: &[Received], rtus: &[String], nodes: &[&str]) -> String {
    let mut s = String::new();
    for r in rtus {
        s.push_str(&format!(
            "\n  {r}: status {}",
            last(msgs, &status_topic(r))
                .map(|x| x.json.to_string())
                .unwrap_or("-".into())
        ));
        for n in nodes {
            s.push_str(&format!(
                "\n    standby {n}: {:?}",
                standby_state(msgs, r, n)
            ));
        }
    }
    for n in nodes {
        s.push_str(&format!(
            "\n  {n}: presence {}",
            presence(msgs, n)
                .map(|x| x.to_string())
                .unwrap_or("-".into())
        ));
    }
    s
}

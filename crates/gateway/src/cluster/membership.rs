//! The membership view, built from the retained presence messages on
//! `{prefix}/_cluster/{node}` (pure: no I/O, no clock).
//!
//! A node is *live* while its latest presence says `online`; a `leaving` node is on its way out
//! (not a candidate for new ownership, but it may still hold RTUs it is stopping); `offline`
//! (the last will or a clean exit) or an empty retained message (deleted) means gone.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// One presence message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// Node id.
    pub node: String,
    /// `online`, `leaving` or `offline`.
    pub status: String,
    /// Random hex, new per process start.
    pub incarnation: String,
    /// Hash of the shared configuration (16 hex digits).
    pub config_hash: String,
    /// RTUs with data transfer started on this node.
    #[serde(default)]
    pub active: Vec<String>,
    /// RTUs this node has a connection to (standby or started): it can take them over with
    /// one STARTDT. An added field: absent means none.
    #[serde(default)]
    pub ready: Vec<String>,
    /// RFC 3339 time of the publication.
    #[serde(default)]
    pub since: String,
}

/// Presence status `online`.
pub const ONLINE: &str = "online";
/// Presence status `leaving`.
pub const LEAVING: &str = "leaving";
/// Presence status `offline`.
pub const OFFLINE: &str = "offline";

/// Something to report loudly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alarm {
    /// Another process announces itself under our node id.
    DuplicateId {
        /// Its incarnation.
        incarnation: String,
    },
    /// A node runs with a different configuration.
    ConfigMismatch {
        /// That node.
        node: String,
        /// Its configuration hash.
        hash: String,
    },
    /// A presence message that cannot be read.
    Unreadable {
        /// The node of the topic.
        node: String,
        /// The parse error.
        error: String,
    },
}

/// What one presence message changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The view (live set or someone's `active` list) changed.
    pub changed: bool,
    /// The message was our own presence with our incarnation (an echo of what we published).
    pub echo: Option<Presence>,
    /// Problems to report.
    pub alarms: Vec<Alarm>,
    /// RTUs that node listed as started and no longer does (or it went offline).
    pub released: Vec<String>,
    /// That node was online or leaving and is now offline (its will, or its goodbye).
    pub went_offline: bool,
    /// That node is still online or leaving: `released` were handed over deliberately.
    pub still_there: bool,
    /// RTUs that node lists as started and did not before.
    pub claimed: Vec<String>,
}

/// The view of the cluster as seen by one node.
#[derive(Debug, Clone)]
pub struct View {
    me: String,
    incarnation: String,
    config_hash: String,
    nodes: BTreeMap<String, Presence>,
    mismatches: BTreeSet<(String, String)>,
    started: Option<chrono::DateTime<chrono::FixedOffset>>,
}

impl View {
    /// An empty view for node `me`.
    pub fn new(me: &str, incarnation: &str, config_hash: &str) -> View {
        View {
            me: me.to_owned(),
            incarnation: incarnation.to_owned(),
            config_hash: config_hash.to_owned(),
            nodes: BTreeMap::new(),
            mismatches: BTreeSet::new(),
            started: None,
        }
    }

    /// The presence of every node seen (ours included once echoed), by node id.
    pub fn nodes(&self) -> impl Iterator<Item = &Presence> {
        self.nodes.values()
    }

    /// Applies a message of `{prefix}/_cluster/{node}` (empty payload: deleted).
    /// `own_online_confirmed`: our own presence was already echoed on this broker connection,
    /// so another incarnation under our id is a live second process, not an old retained one.
    /// Another incarnation under our id whose `since` is after our start (`started`, RFC
    /// 3339) is one too.
    pub fn apply(&mut self, node: &str, payload: &[u8], own_online_confirmed: bool) -> Applied {
        let mut out = Applied::default();
        if payload.is_empty() {
            if let Some(old) = self.nodes.remove(node) {
                out.changed = true;
                if old.status != OFFLINE {
                    out.released = old.active;
                    out.went_offline = true;
                }
            }
            return out;
        }
        let p: Presence = match serde_json::from_slice(payload) {
            Ok(p) => p,
            Err(e) => {
                out.alarms.push(Alarm::Unreadable {
                    node: node.to_owned(),
                    error: e.to_string(),
                });
                return out;
            }
        };
        if p.node != node {
            out.alarms.push(Alarm::Unreadable {
                node: node.to_owned(),
                error: format!("payload names node {:?}", p.node),
            });
            return out;
        }
        if node == self.me {
            if p.incarnation == self.incarnation {
                out.echo = Some(p);
            } else if p.status != OFFLINE
                && (own_online_confirmed || self.after_our_start(&p.since))
            {
                out.alarms.push(Alarm::DuplicateId {
                    incarnation: p.incarnation,
                });
            }
            // Our own entry is never taken from the broker: we know our state.
            return out;
        }
        if p.status != OFFLINE
            && p.config_hash != self.config_hash
            && self
                .mismatches
                .insert((node.to_owned(), p.config_hash.clone()))
        {
            out.alarms.push(Alarm::ConfigMismatch {
                node: node.to_owned(),
                hash: p.config_hash.clone(),
            });
        }
        let old = self.nodes.insert(node.to_owned(), p.clone());
        out.still_there = p.status != OFFLINE;
        if p.status != OFFLINE {
            let before: &[String] = match old.as_ref().filter(|o| o.status != OFFLINE) {
                Some(o) => &o.active,
                None => &[],
            };
            out.claimed = p
                .active
                .iter()
                .filter(|r| !before.contains(r))
                .cloned()
                .collect();
        }
        if let Some(o) = old.as_ref().filter(|o| o.status != OFFLINE) {
            out.went_offline = p.status == OFFLINE;
            out.released = o
                .active
                .iter()
                .filter(|r| p.status == OFFLINE || !p.active.contains(r))
                .cloned()
                .collect();
        }
        out.changed = match old {
            Some(o) => {
                o.status != p.status
                    || o.active != p.active
                    || o.ready != p.ready
                    || o.incarnation != p.incarnation
            }
            None => true,
        };
        out
    }

    /// Sets the RFC 3339 time this process started (a presence of another process under our
    /// id published after it is not an old retained message).
    pub fn set_started(&mut self, started: &str) {
        self.started = chrono::DateTime::parse_from_rfc3339(started).ok();
    }

    fn after_our_start(&self, since: &str) -> bool {
        match (self.started, chrono::DateTime::parse_from_rfc3339(since)) {
            (Some(start), Ok(t)) => t > start,
            _ => false,
        }
    }

    /// Other nodes whose latest presence is `online`.
    pub fn live_others(&self) -> impl Iterator<Item = &str> {
        self.nodes
            .values()
            .filter(|p| p.status == ONLINE)
            .map(|p| p.node.as_str())
    }

    /// Other nodes, online or leaving, that list `rtu` as started.
    pub fn holders(&self, rtu: &str) -> impl Iterator<Item = &str> + '_ {
        let rtu = rtu.to_owned();
        self.nodes
            .values()
            .filter(move |p| p.status != OFFLINE && p.active.contains(&rtu))
            .map(|p| p.node.as_str())
    }

    /// Whether `node` has a connection to `rtu` (lists it in `ready` or `active`).
    pub fn ready(&self, node: &str, rtu: &str) -> bool {
        self.nodes
            .get(node)
            .is_some_and(|p| p.ready.iter().any(|r| r == rtu) || p.active.iter().any(|r| r == rtu))
    }

    /// Our node id.
    pub fn me(&self) -> &str {
        &self.me
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(node: &str, status: &str, inc: &str, hash: &str, active: &[&str]) -> Vec<u8> {
        serde_json::to_vec(&Presence {
            node: node.into(),
            status: status.into(),
            incarnation: inc.into(),
            config_hash: hash.into(),
            active: active.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn live_is_online_only() {
        let mut v = View::new("a", "i1", "h");
        assert!(v.apply("b", &msg("b", ONLINE, "x", "h", &[]), true).changed);
        assert!(
            v.apply("c", &msg("c", LEAVING, "y", "h", &["s1"]), true)
                .changed
        );
        assert!(
            v.apply("d", &msg("d", OFFLINE, "z", "h", &["s2"]), true)
                .changed
        );
        assert_eq!(v.live_others().collect::<Vec<_>>(), vec!["b"]);
        // A leaving node still holds what it lists; an offline one holds nothing.
        assert_eq!(v.holders("s1").collect::<Vec<_>>(), vec!["c"]);
        assert_eq!(v.holders("s2").count(), 0);
        // The same message again changes nothing; deleting does.
        assert!(!v.apply("b", &msg("b", ONLINE, "x", "h", &[]), true).changed);
        // c releases s1 by dropping it, b (now with s3) by being deleted.
        assert_eq!(
            v.apply("c", &msg("c", LEAVING, "y", "h", &[]), true)
                .released,
            vec!["s1".to_owned()]
        );
        v.apply("b", &msg("b", ONLINE, "x", "h", &["s3"]), true);
        assert_eq!(v.apply("b", b"", true).released, vec!["s3".to_owned()]);
        assert_eq!(v.live_others().count(), 0);
    }

    #[test]
    fn own_topic_echo_and_duplicate_id() {
        let mut v = View::new("a", "i1", "h");
        let echo = v.apply("a", &msg("a", ONLINE, "i1", "h", &["s1"]), false);
        assert_eq!(echo.echo.map(|p| p.active), Some(vec!["s1".to_owned()]));
        assert!(echo.alarms.is_empty());
        // An old retained presence of a previous process before our echo: not an alarm.
        let old = v.apply("a", &msg("a", ONLINE, "i0", "h", &[]), false);
        assert!(old.alarms.is_empty() && old.echo.is_none());
        // After our echo, another incarnation online under our id is a second process.
        let dup = v.apply("a", &msg("a", ONLINE, "i2", "h", &[]), true);
        assert_eq!(
            dup.alarms,
            vec![Alarm::DuplicateId {
                incarnation: "i2".into()
            }]
        );
        // Before our echo, one published after our start is a second process too.
        v.set_started("2026-11-24T03:00:00.000Z");
        let mut late = Presence {
            node: "a".into(),
            status: ONLINE.into(),
            incarnation: "i3".into(),
            config_hash: "h".into(),
            active: vec![],
            since: "2026-11-24T03:00:01.000Z".into(),
            ..Default::default()
        };
        assert_eq!(
            v.apply("a", &serde_json::to_vec(&late).unwrap(), false)
                .alarms
                .len(),
            1
        );
        late.since = "2026-11-24T02:59:59.000Z".into();
        assert!(v
            .apply("a", &serde_json::to_vec(&late).unwrap(), false)
            .alarms
            .is_empty());
        // Its will (offline) is not.
        assert!(v
            .apply("a", &msg("a", OFFLINE, "i2", "h", &[]), true)
            .alarms
            .is_empty());
        // Never in our own live set from the broker.
        assert_eq!(v.live_others().count(), 0);
    }

    #[test]
    fn config_mismatch_is_reported_once_per_hash() {
        let mut v = View::new("a", "i1", "h1");
        let m = v.apply("b", &msg("b", ONLINE, "x", "h2", &[]), true);
        assert_eq!(
            m.alarms,
            vec![Alarm::ConfigMismatch {
                node: "b".into(),
                hash: "h2".into()
            }]
        );
        assert!(v
            .apply("b", &msg("b", ONLINE, "x", "h2", &["s"]), true)
            .alarms
            .is_empty());
        assert_eq!(
            v.apply("b", &msg("b", ONLINE, "x", "h3", &[]), true)
                .alarms
                .len(),
            1
        );
        assert!(v
            .apply("c", &msg("c", ONLINE, "x", "h1", &[]), true)
            .alarms
            .is_empty());
    }

    #[test]
    fn garbage_is_reported_not_applied() {
        let mut v = View::new("a", "i1", "h");
        let g = v.apply("b", b"{not json", true);
        assert!(!g.changed);
        assert!(matches!(g.alarms[0], Alarm::Unreadable { .. }));
        let wrong = v.apply("b", &msg("c", ONLINE, "x", "h", &[]), true);
        assert!(matches!(wrong.alarms[0], Alarm::Unreadable { .. }));
        assert_eq!(v.live_others().count(), 0);
    }
}

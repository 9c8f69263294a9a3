//! The membership view, built from what the nodes say about themselves on
//! `{prefix}/_cluster/{node}` (retained full presence), `.../state` (a full snapshot, asked for,
//! not retained) and `.../delta` (the changes from one state to the next, not retained)
//! (pure: no I/O, no clock).
//!
//! Every node numbers the states it announces (`seq`, per incarnation); a delta applies only to
//! the state just before it, so a missed delta is noticed (a gap) and the node is asked for a
//! snapshot. Retained presence is a fast start only: the view converges without it.
//!
//! A node is *live* while its latest state says `online`; a `leaving` node is on its way out
//! (not a candidate for new ownership, but it may still hold RTUs it is stopping); `offline`
//! (the last will or a clean exit) or an empty retained message (deleted) means gone.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// One presence message (retained on `{prefix}/_cluster/{node}`, and the snapshot on
/// `{prefix}/_cluster/{node}/state`).
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
    /// Number of this state within the incarnation (1, 2, …; 0: not numbered — the last will,
    /// the goodbye, or an older gateway). An added field.
    #[serde(default)]
    pub seq: u64,
}

/// The change from state `seq - 1` to state `seq` of one node
/// (`{prefix}/_cluster/{node}/delta`, QoS 1, not retained).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// Node id.
    pub node: String,
    /// Its incarnation.
    pub incarnation: String,
    /// The state this delta leads to.
    pub seq: u64,
    /// Its status in that state.
    pub status: String,
    /// RTUs it started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active_add: Vec<String>,
    /// RTUs it no longer has started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active_del: Vec<String>,
    /// RTUs it now holds a standby connection to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ready_add: Vec<String>,
    /// RTUs it no longer holds a standby connection to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ready_del: Vec<String>,
}

impl Delta {
    /// The delta from `old` to `new` (lists sorted or not).
    pub fn between(old: &Presence, new: &Presence) -> Delta {
        let diff = |a: &[String], b: &[String]| -> Vec<String> {
            let b: BTreeSet<&String> = b.iter().collect();
            let mut d: Vec<String> = a.iter().filter(|x| !b.contains(x)).cloned().collect();
            d.sort();
            d
        };
        Delta {
            node: new.node.clone(),
            incarnation: new.incarnation.clone(),
            seq: new.seq,
            status: new.status.clone(),
            active_add: diff(&new.active, &old.active),
            active_del: diff(&old.active, &new.active),
            ready_add: diff(&new.ready, &old.ready),
            ready_del: diff(&old.ready, &new.ready),
        }
    }
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

/// What a delta did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaOutcome {
    /// Applied to the state just before it.
    Applied(Applied),
    /// Already known (a state we have, or an older one): nothing to do.
    Stale,
    /// It does not follow the state we know (a delta was missed, or the incarnation is
    /// unknown): ask that node for a snapshot of (at least) this state.
    Gap {
        /// The delta's incarnation.
        incarnation: String,
        /// The delta's state number.
        seq: u64,
    },
    /// Unreadable (reported like an unreadable presence).
    Unreadable(Alarm),
}

/// What the view knows of one other node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Member {
    /// Node id.
    pub node: String,
    /// `online`, `leaving` or `offline`.
    pub status: String,
    /// Its incarnation.
    pub incarnation: String,
    /// Its configuration hash.
    pub config_hash: String,
    /// The number of the state known (0: not numbered).
    pub seq: u64,
    /// RTUs it has started.
    pub active: BTreeSet<String>,
    /// RTUs it holds a standby connection to.
    pub ready: BTreeSet<String>,
}

impl Member {
    fn of(p: Presence) -> Member {
        Member {
            node: p.node,
            status: p.status,
            incarnation: p.incarnation,
            config_hash: p.config_hash,
            seq: p.seq,
            active: p.active.into_iter().collect(),
            ready: p.ready.into_iter().collect(),
        }
    }
}

/// The view of the cluster as seen by one node.
#[derive(Debug, Clone)]
pub struct View {
    me: String,
    incarnation: String,
    config_hash: String,
    nodes: BTreeMap<String, Member>,
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

    /// What is known of every other node, by node id.
    pub fn nodes(&self) -> impl Iterator<Item = &Member> {
        self.nodes.values()
    }

    /// What is known of `node`.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn member(&self, node: &str) -> Option<&Member> {
        self.nodes.get(node)
    }

    /// Whether a presence message of `node` is the last will (or goodbye) of the incarnation we
    /// know online or leaving: `Some(incarnation)` then.
    pub fn offline_of_known(&self, node: &str, payload: &[u8]) -> Option<String> {
        let p: Presence = serde_json::from_slice(payload).ok()?;
        let m = self.nodes.get(node)?;
        (p.node == node
            && p.status == OFFLINE
            && m.status != OFFLINE
            && m.incarnation == p.incarnation)
            .then_some(p.incarnation)
    }

    /// Applies a message of `{prefix}/_cluster/{node}` or `.../state` (empty payload: deleted).
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
                    out.released = old.active.into_iter().collect();
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
        if let Some(old) = self.nodes.get(node) {
            let same = old.incarnation == p.incarnation;
            // An older state of the incarnation we know (a retained presence overtaken by
            // deltas), or the will of an earlier life of a node we know online: nothing.
            if (same && p.seq != 0 && p.seq < old.seq)
                || (!same && p.status == OFFLINE && old.status != OFFLINE)
            {
                return out;
            }
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
        self.replace(node, Member::of(p), &mut out);
        out
    }

    /// Applies a message of `{prefix}/_cluster/{node}/delta`.
    pub fn apply_delta(&mut self, node: &str, payload: &[u8]) -> DeltaOutcome {
        let d: Delta = match serde_json::from_slice(payload) {
            Ok(d) => d,
            Err(e) => {
                return DeltaOutcome::Unreadable(Alarm::Unreadable {
                    node: node.to_owned(),
                    error: e.to_string(),
                })
            }
        };
        if d.node != node {
            return DeltaOutcome::Unreadable(Alarm::Unreadable {
                node: node.to_owned(),
                error: format!("delta names node {:?}", d.node),
            });
        }
        if node == self.me {
            return DeltaOutcome::Stale;
        }
        let Some(old) = self
            .nodes
            .get(node)
            .filter(|m| m.incarnation == d.incarnation)
        else {
            return DeltaOutcome::Gap {
                incarnation: d.incarnation,
                seq: d.seq,
            };
        };
        if d.seq <= old.seq {
            return DeltaOutcome::Stale;
        }
        if d.seq != old.seq + 1 || old.seq == 0 {
            return DeltaOutcome::Gap {
                incarnation: d.incarnation,
                seq: d.seq,
            };
        }
        let mut new = old.clone();
        new.seq = d.seq;
        new.status = d.status;
        for r in d.active_del {
            new.active.remove(&r);
        }
        new.active.extend(d.active_add);
        for r in d.ready_del {
            new.ready.remove(&r);
        }
        new.ready.extend(d.ready_add);
        let mut out = Applied::default();
        self.replace(node, new, &mut out);
        DeltaOutcome::Applied(out)
    }

    /// Stores `new` as what `node` says now and reports the difference to what it said before.
    fn replace(&mut self, node: &str, new: Member, out: &mut Applied) {
        let old = self.nodes.insert(node.to_owned(), new);
        let new = &self.nodes[node];
        let was_there = old.as_ref().filter(|o| o.status != OFFLINE);
        out.still_there = new.status != OFFLINE;
        if new.status != OFFLINE {
            out.claimed = match was_there {
                Some(o) => new.active.difference(&o.active).cloned().collect(),
                None => new.active.iter().cloned().collect(),
            };
        }
        if let Some(o) = was_there {
            out.went_offline = new.status == OFFLINE;
            out.released = if new.status == OFFLINE {
                o.active.iter().cloned().collect()
            } else {
                o.active.difference(&new.active).cloned().collect()
            };
        }
        out.changed = match &old {
            Some(o) => {
                o.status != new.status
                    || o.active != new.active
                    || o.ready != new.ready
                    || o.incarnation != new.incarnation
            }
            None => true,
        };
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
    pub fn holders<'a>(&'a self, rtu: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.nodes
            .values()
            .filter(move |p| p.status != OFFLINE && p.active.contains(rtu))
            .map(|p| p.node.as_str())
    }

    /// Whether `node` has a connection to `rtu` (lists it in `ready` or `active`).
    pub fn ready(&self, node: &str, rtu: &str) -> bool {
        self.nodes
            .get(node)
            .is_some_and(|p| p.ready.contains(rtu) || p.active.contains(rtu))
    }

    /// Whether what we know of `node` is older than its state `seq` of `incarnation`. The
    /// will of that incarnation (`offline`) is its last word: nothing to ask it for (it cannot
    /// answer; asking made the survivors send a request every 250 ms until its beats aged out).
    pub fn behind(&self, node: &str, incarnation: &str, seq: u64) -> bool {
        match self.nodes.get(node) {
            Some(m) if m.incarnation == incarnation && m.status == OFFLINE => false,
            Some(m) => m.incarnation != incarnation || m.seq < seq,
            None => true,
        }
    }

    /// Our node id.
    pub fn me(&self) -> &str {
        &self.me
    }
}

#[cfg(test)]
impl Presence {
    /// A presence of `node` (incarnation `inc-{node}`, configuration hash `h`, as the
    /// virtual-time tests' settings) in `status`, with `active` started.
    pub(crate) fn of(node: &str, status: &str, active: &[&str]) -> Presence {
        Presence {
            node: node.into(),
            status: status.into(),
            incarnation: format!("inc-{node}"),
            config_hash: "h".into(),
            active: active.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
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

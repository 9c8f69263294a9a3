//! The glue for orphans and command duties: the `unowned` status of the RTUs no live node
//! reaches that are ours to publish (see [`super::paths`]), and what the command router must
//! answer beyond the RTUs we carry.

use std::collections::BTreeSet;

use tokio::sync::watch;

use super::state::ClusterState;
use crate::contract::{LinkState, RtuStatus, Topics};
use crate::model::{no_carrier, Duty, Message, Metrics, StatusBoard};

/// Whether a status payload is an `unowned` one (which only this glue sets).
fn is_unowned(payload: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| {
            v.get("state")
                .and_then(|s| s.as_str())
                .map(|s| s == "unowned")
        })
        .unwrap_or(false)
}

/// Puts the `unowned` status of our orphans on the board (again, when our own session took
/// the topic back meanwhile), takes it off for those that are no longer ours, and tells the
/// router what it answers. `published`: the orphans whose status we set.
pub fn follow(
    state: &ClusterState,
    board: &StatusBoard,
    topics: &Topics,
    metrics: &Metrics,
    duty: &watch::Sender<Duty>,
    published: &mut BTreeSet<usize>,
) {
    let me = state.view().me();
    let rtus = state.rtus();
    let now = state.orphans();
    for i in published.difference(now) {
        if let Some(r) = rtus.get(*i) {
            board.remove_if(&topics.status(&r.name), is_unowned);
        }
    }
    for i in now {
        let Some(r) = rtus.get(*i) else { continue };
        let topic = topics.status(&r.name);
        if board.payload(&topic).is_some_and(|p| is_unowned(&p)) {
            continue;
        }
        if !published.contains(i) {
            tracing::warn!(rtu = %r.name, "no live node reaches the RTU: published as unowned");
        }
        let reason = no_carrier(&r.name);
        let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let status = RtuStatus {
            rtu: &r.name,
            node: me,
            state: LinkState::Unowned,
            reason: Some(&reason),
            address: None,
            since: &since,
            queue_dropped: metrics.dropped(),
        };
        board.set(Message {
            topic,
            payload: status.to_json(),
            qos: 1,
            retain: true,
        });
    }
    *published = now.clone();
    let want = Duty {
        unknown: state.answers_unknown(),
        orphans: now
            .iter()
            .filter_map(|i| rtus.get(*i).map(|r| r.name.clone()))
            .collect(),
    };
    duty.send_if_modified(|d| {
        let changed = *d != want;
        if changed {
            *d = want;
        }
        changed
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unowned_statuses_are_ours() {
        assert!(is_unowned(br#"{"rtu":"s","state":"unowned","reason":"x"}"#));
        assert!(!is_unowned(br#"{"rtu":"s","state":"started"}"#));
        assert!(!is_unowned(b"not json"));
        assert_eq!(no_carrier("sub1"), "no node carries rtu sub1");
    }
}

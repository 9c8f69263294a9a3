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
    metrics
        .cluster
        .unowned
        .store(now.len() as u64, std::sync::atomic::Ordering::Relaxed);
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

impl super::Task {
    /// [`follow`] with this task's state, board, topics, metrics and duties.
    pub(super) fn follow_orphans(&self, published: &mut BTreeSet<usize>) {
        follow(
            &self.state,
            &self.board,
            &self.topics,
            &self.metrics,
            &self.duty,
            published,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::cluster::state::Settings;
    use crate::model::Report;
    use std::time::{Duration, Instant};

    /// Node "a" alone with RTU "sub1", synced at `t0`.
    fn alone(t0: Instant) -> ClusterState {
        let mut s = ClusterState::new(
            Settings {
                incarnation: "i".into(),
                ..Settings::quiet("a")
            },
            vec![("sub1".into(), None)],
        )
        .with_path_failover(Duration::from_secs(3));
        s.coordination(true);
        let p = s.step(t0).publish.unwrap();
        s.presence("a", &serde_json::to_vec(&p).unwrap(), t0);
        s.step(t0);
        s
    }

    /// Steps `s` at `t` and echoes what it published (as the broker would).
    fn step_echoed(s: &mut ClusterState, t: Instant) {
        if let Some(p) = s.step(t).publish {
            s.presence("a", &serde_json::to_vec(&p).unwrap(), t);
            s.step(t);
        }
    }

    fn state_of(board: &StatusBoard, topic: &str) -> Option<String> {
        let p = board.payload(topic)?;
        let v: serde_json::Value = serde_json::from_slice(&p).ok()?;
        v["state"].as_str().map(str::to_owned)
    }

    #[test]
    fn the_unowned_status_is_kept_on_the_board_and_taken_off_only_when_ours() {
        let t0 = Instant::now();
        let mut s = alone(t0);
        let board = StatusBoard::new();
        let topics = Topics::new("p");
        let metrics = Metrics::default();
        let (duty, rx) = watch::channel(Duty::default());
        let mut published = BTreeSet::new();
        let topic = topics.status("sub1");
        // Not reached yet, but not for path_failover: nothing.
        follow(&s, &board, &topics, &metrics, &duty, &mut published);
        assert_eq!(state_of(&board, &topic), None);
        assert!(rx.borrow().unknown, "alone: the smallest live id");
        // Nobody reached it for 3 s: unowned, with the reason, and our duty.
        s.step(t0 + Duration::from_secs(3));
        follow(&s, &board, &topics, &metrics, &duty, &mut published);
        assert_eq!(state_of(&board, &topic).as_deref(), Some("unowned"));
        let v: serde_json::Value = serde_json::from_slice(&board.payload(&topic).unwrap()).unwrap();
        assert_eq!(
            (v["node"].as_str(), v["reason"].as_str()),
            (Some("a"), Some("no node carries rtu sub1"))
        );
        assert_eq!(rx.borrow().orphans.iter().collect::<Vec<_>>(), ["sub1"]);
        // Our session (standby now) took the topic off the board: set again.
        board.remove(&topic);
        follow(&s, &board, &topics, &metrics, &duty, &mut published);
        assert_eq!(state_of(&board, &topic).as_deref(), Some("unowned"));
        // The session connects and starts: its own status stays; the duty ends.
        s.session(0, Report::Connected);
        step_echoed(&mut s, t0 + Duration::from_secs(4));
        board.set(Message {
            topic: topic.clone(),
            payload: br#"{"state":"started"}"#.to_vec(),
            qos: 1,
            retain: true,
        });
        follow(&s, &board, &topics, &metrics, &duty, &mut published);
        assert_eq!(state_of(&board, &topic).as_deref(), Some("started"));
        assert!(rx.borrow().orphans.is_empty());
    }

    #[test]
    fn an_unowned_status_no_longer_ours_is_taken_off_the_board() {
        let t0 = Instant::now();
        let mut s = alone(t0);
        let board = StatusBoard::new();
        let topics = Topics::new("p");
        let (duty, _rx) = watch::channel(Duty::default());
        let mut published = BTreeSet::new();
        s.step(t0 + Duration::from_secs(3));
        follow(
            &s,
            &board,
            &topics,
            &Metrics::default(),
            &duty,
            &mut published,
        );
        assert_eq!(
            state_of(&board, &topics.status("sub1")).as_deref(),
            Some("unowned")
        );
        s.session(0, Report::Connected);
        step_echoed(&mut s, t0 + Duration::from_secs(4));
        follow(
            &s,
            &board,
            &topics,
            &Metrics::default(),
            &duty,
            &mut published,
        );
        assert_eq!(state_of(&board, &topics.status("sub1")), None);
    }

    #[test]
    fn only_unowned_statuses_are_ours() {
        assert!(is_unowned(br#"{"rtu":"s","state":"unowned","reason":"x"}"#));
        assert!(!is_unowned(br#"{"rtu":"s","state":"started"}"#));
        assert!(!is_unowned(b"not json"));
    }
}

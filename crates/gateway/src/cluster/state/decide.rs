//! The decisions of a step: who owns each RTU (preferred node, rendezvous ranking, paths to
//! the RTU), and our role for it.

use super::*;

impl ClusterState {
    /// Whether `node` has a connection to RTU `r` (ours from our sessions' reports).
    pub(super) fn reaches(&self, r: &RtuState, node: &str) -> bool {
        if node == self.settings.me {
            r.connected
        } else {
            self.view.ready(node, &r.name)
        }
    }

    /// The ranking of `r` among `candidates` with the nodes that lost their path to it last.
    pub(super) fn path_rank<'a>(
        &self,
        i: usize,
        r: &RtuState,
        candidates: &[&'a str],
    ) -> Vec<&'a str> {
        let base = ranking(&r.name, r.preferred.as_deref(), candidates);
        self.paths.order(i, base, |n| self.reaches(r, n))
    }

    /// Observes every RTU's paths (while the view is trusted: see [`ClusterState::step`]),
    /// notes the orphans that are ours and the live nodes.
    pub(super) fn observe_paths(&mut self, candidates: &[&str], now: Instant, out: &mut Output) {
        let expected = 1 + self.settings.standby;
        let mut orphans = BTreeSet::new();
        for i in 0..self.rtus.len() {
            let r = &self.rtus[i];
            let rank = self.path_rank(i, r, candidates);
            let reach: Vec<bool> = rank.iter().map(|n| self.reaches(r, n)).collect();
            let reaches = |n: &str| rank.iter().position(|x| *x == n).is_some_and(|k| reach[k]);
            let carried = r.started || self.view.holders(&r.name).any(|h| self.fresh(h, now));
            if let Some(at) = self
                .paths
                .observe(i, &rank, expected, reaches, carried, now)
            {
                wake(out, now, at);
            }
            if self.paths.orphan(i, now) && rank.first() == Some(&self.settings.me.as_str()) {
                orphans.insert(i);
            }
        }
        self.orphans = orphans;
        let mut live: Vec<String> = candidates.iter().map(|n| (*n).to_owned()).collect();
        live.sort();
        self.live_now = live;
    }

    /// The role `r` should have in this round.
    pub(super) fn decide(
        &self,
        i: usize,
        r: &RtuState,
        round: &Round,
        out: &mut Output,
    ) -> Decision {
        if self.leaving {
            (Role::Off, "leaving", None)
        } else if !round.acting {
            if !self.ever_synced {
                (r.role, "not synced yet", None)
            } else if r.role == Role::Active && round.declared_dead {
                (
                    Role::Standby,
                    "coordination lost while our data reaches the broker: the others carry it",
                    None,
                )
            } else if r.role == Role::Active && r.lost && !r.started {
                (
                    Role::Standby,
                    "connection lost while unsynced: maybe fenced",
                    None,
                )
            } else {
                (r.role, "unsynced: roles kept", r.waiting_since)
            }
        } else {
            let rank = self.path_rank(i, r, round.candidates);
            if let Some(d) = self.decide_path(i, r, &rank, round) {
                return d;
            }
            if rank.first() == Some(&round.me) {
                self.decide_owner(r, round, out)
            } else {
                self.decide_other(r, &rank, round.me)
            }
        }
    }

    /// Path failover and orphans (see [`crate::cluster::paths`]): a role when our path to `r` is lost
    /// (we keep trying in standby through the hold-down) or nobody reaches it (the owner and
    /// the standby nodes keep trying in standby; the first of them publishes it `unowned`).
    pub(super) fn decide_path(
        &self,
        i: usize,
        r: &RtuState,
        rank: &[&str],
        round: &Round,
    ) -> Option<Decision> {
        let reaches = |n: &str| self.reaches(r, n);
        if !r.started && self.paths.counts_as_demoted(i, round.me, rank, reaches) {
            return Some((
                Role::Standby,
                "our path to it was lost: another node carries it; reconnecting (hold-down)",
                None,
            ));
        }
        if r.started || !self.paths.orphan(i, round.now) {
            return None;
        }
        let tries = rank
            .iter()
            .take(1 + self.settings.standby)
            .any(|n| *n == round.me);
        Some(match (rank.first() == Some(&round.me), tries) {
            (true, _) => (
                Role::Standby,
                "no live node reaches it: we publish it unowned and keep trying",
                None,
            ),
            (false, true) => (Role::Standby, "no live node reaches it: trying", None),
            (false, false) => (
                Role::Off,
                "no live node reaches it; neither owner nor standby",
                None,
            ),
        })
    }

    /// We rank first for `r`.
    pub(super) fn decide_owner(&self, r: &RtuState, round: &Round, out: &mut Output) -> Decision {
        let now = round.now;
        if r.started {
            (Role::Active, "owner", None)
        } else if !self.view.holders(&r.name).any(|h| self.fresh(h, now)) {
            // Nobody else (live) holds it; a frozen holder is fenced by our STARTDT.
            match round.grace_end {
                // An RTU we never saw carried, in our first heartbeat: nodes started with us
                // may not be heard yet (their views differ).
                Some(end) if now < end && !self.seen_held.contains(&r.name) => {
                    wake(out, now, end);
                    (
                        Role::Standby,
                        "owner, startup grace (hearing of the other nodes)",
                        None,
                    )
                }
                _ if round.hold_end.is_some() && !self.handed.contains(&r.name) => (
                    Role::Standby,
                    "owner, but just reconnected: the others may be reconnecting too",
                    None,
                ),
                _ => (Role::Active, "owner, nobody else holds it", None),
            }
        } else if !r.connected {
            // The holder hands over once we are connected (ready); the timeout runs from
            // then, so a slow connection does not turn a graceful handover into a fence.
            (Role::Standby, "owner, connecting before the handover", None)
        } else {
            let timeout = self.settings.handover_timeout;
            let since = r.waiting_since.unwrap_or(now);
            if now.saturating_duration_since(since) >= timeout {
                (Role::Active, "owner, handover timeout passed", Some(since))
            } else {
                wake(out, now, since + timeout);
                (
                    Role::Standby,
                    "owner, waiting for the holder to release",
                    Some(since),
                )
            }
        }
    }

    /// Another node ranks first for `r`: standby, off, or carrying it until the owner is ready.
    pub(super) fn decide_other(&self, r: &RtuState, rank: &[&str], me: &str) -> Decision {
        let standby = self.settings.standby;
        let in_set = rank.iter().skip(1).take(standby).any(|n| *n == me);
        let owner = rank.first().copied().unwrap_or_default();
        // Its claim must be newer than our start: a node resuming from a pause still lists
        // what it carried before (and was fenced from meanwhile).
        let claim_newer = self
            .presence_seq
            .get(owner)
            .is_some_and(|s| *s > r.started_seq);
        if r.started && !(self.view.ready(owner, &r.name) && claim_newer) {
            // Hand over only to an owner that has its connection up: the takeover is then one
            // STARTDT, and an owner that cannot reach the RTU never gets it from us.
            (
                Role::Active,
                "carrying it until the owner is connected",
                None,
            )
        } else if in_set {
            (Role::Standby, "standby", None)
        } else {
            (Role::Off, "neither owner nor standby", None)
        }
    }

    /// Records the decisions and reports the changed roles.
    pub(super) fn apply(&mut self, decided: Vec<Decision>, synced: bool, out: &mut Output) {
        for (i, (r, (role, reason, waiting))) in self.rtus.iter_mut().zip(decided).enumerate() {
            r.waiting_since = waiting;
            if synced {
                r.lost = false;
            }
            if r.role != role {
                r.role = role;
                out.changes.push(Change {
                    rtu: i,
                    role,
                    reason,
                });
            }
        }
    }
}

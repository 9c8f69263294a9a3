//! What a step publishes: snapshots for those who asked, our requests for snapshots, and our
//! own state as a delta and a retained presence, paced.

use super::*;

impl ClusterState {
    /// A snapshot of our announced state when asked for, at most one per coalescing window.
    pub(super) fn snapshot_step(&mut self, now: Instant, out: &mut Output) {
        if !self.snapshot_asked || self.seq_out == 0 {
            return;
        }
        if let Some(at) = self.last_snapshot.map(|t| t + self.settings.coalesce) {
            if now < at {
                wake(out, now, at);
                return;
            }
        }
        self.snapshot_asked = false;
        self.last_snapshot = Some(now);
        out.snapshot = Some(self.announced.clone());
    }

    /// Asks the nodes whose beats announce a state we do not have (for `snapshot_after`), or
    /// whose delta did not follow what we know, for a snapshot.
    pub(super) fn request_step(&mut self, now: Instant, out: &mut Output) {
        let after = self.settings.snapshot_after;
        let liveness = self.settings.liveness;
        for (node, (at, inc, seq)) in &self.beats {
            if now.saturating_duration_since(*at) > liveness {
                self.behind.remove(node);
                continue;
            }
            if !self.view.behind(node, inc, *seq) {
                self.behind.remove(node);
                continue;
            }
            let since = *self.behind.entry(node.clone()).or_insert(now);
            if now >= since + after {
                self.ask.insert(node.clone(), (inc.clone(), *seq));
            } else {
                wake(out, now, since + after);
            }
        }
        let ask = std::mem::take(&mut self.ask);
        for (node, (inc, seq)) in ask {
            if !self.view.behind(&node, &inc, seq) {
                continue;
            }
            match self.asked.get(&node).map(|t| *t + after) {
                Some(next) if now < next => {
                    wake(out, now, next);
                    self.ask.insert(node, (inc, seq));
                }
                _ => {
                    self.asked.insert(node.clone(), now);
                    out.requests.push(node);
                }
            }
        }
    }

    /// Our presence: published again when what we announce changed (unsynced until its echo),
    /// at most once per coalescing window, with the delta from the previous one.
    pub(super) fn presence_step(&mut self, now: Instant, out: &mut Output) {
        if self.republish
            && self.synced
            && self.own_fresh(now)
            && matches!((self.probe_after, self.own_heard), (Some(a), Some(h)) if h > a)
        {
            // Resumed and our link works: announce what we carry now, as a new claim.
            self.republish = false;
            self.published = None;
        }
        if self.reannounce && self.synced {
            self.reannounce = false;
            self.published = None;
        }
        let status = if self.leaving { LEAVING } else { ONLINE };
        let want = (status.to_owned(), self.active(), self.ready());
        if self.published.as_ref() != Some(&want) {
            if let Some(at) = self.delta_pacer.next_allowed() {
                if now < at {
                    wake(out, now, at);
                    self.unannounced = true;
                    return;
                }
            }
            self.unannounced = false;
            self.seq_out += 1;
            let p = self.presence_now(status);
            let delta = Delta::between(&self.announced, &p);
            // Dropping an RTU whose connection was lost (we may have been fenced, and our
            // link may be dead): no decision before the echo of that publication.
            if delta.active_del.iter().any(|name| {
                self.index
                    .get(name)
                    .and_then(|i| self.rtus.get(*i))
                    .is_some_and(|r| r.lost)
            }) {
                self.echo_needed = true;
            }
            // A release goes out in full at once: consumers (and a new owner's watchers) see
            // it in the retained presence before the new owner's status.
            if !delta.active_del.is_empty() {
                self.release_pending = true;
            }
            out.delta = Some(delta);
            self.announced = p;
            self.published = Some(want);
            self.delta_pacer.spend(now);
        }
        self.full_presence_step(now, status, out);
    }

    /// The full (retained) presence, every state in it: at most once per `presence_every`,
    /// at once for a change of status, while leaving, and until the first echo on this
    /// broker connection (which syncs; later publications do not unsync: our beats' round
    /// trips watch the link).
    pub(super) fn full_presence_step(&mut self, now: Instant, status: &str, out: &mut Output) {
        if self.full_seq == self.seq_out && !self.own_will {
            return;
        }
        let urgent = std::mem::take(&mut self.own_will)
            || self.leaving
            || !self.echoed_on_connection
            || self.echo_needed
            || self.release_pending
            || self.full_status != status;
        let next = self.full_pacer.next_allowed();
        if !urgent && next.is_some_and(|t| now < t) {
            if let Some(t) = next {
                wake(out, now, t);
            }
            return;
        }
        out.publish = Some(self.announced.clone());
        self.full_seq = self.seq_out;
        self.full_pacer.spend(now);
        self.full_status = status.to_owned();
        self.release_pending = false;
        if !self.echoed_on_connection || std::mem::take(&mut self.echo_needed) {
            self.synced = false;
        }
    }
}

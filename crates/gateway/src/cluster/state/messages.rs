//! What other nodes publish: presences (wills among them, held back while the node's beats
//! still come), deltas and snapshot requests, absorbed into the view.

use super::*;

impl ClusterState {
    /// A message on `{prefix}/_cluster/{node}` (retained) or `.../state` (a snapshot) at
    /// `now`.
    pub fn presence(&mut self, node: &str, payload: &[u8], now: Instant) -> Vec<Alarm> {
        if node != self.settings.me && !self.settings.will_wait.is_zero() {
            if let Some(incarnation) = self.view.offline_of_known(node, payload) {
                if self.beats.contains_key(node) {
                    // Its beats may still come: the will may be a late one (another broker
                    // node's, about a node that reconnected elsewhere).
                    self.wills.insert(
                        node.to_owned(),
                        HeldWill {
                            at: now,
                            incarnation,
                            payload: payload.to_vec(),
                        },
                    );
                    return Vec::new();
                }
            }
        }
        self.wills.remove(node);
        let applied = self.view.apply(node, payload, self.echoed_on_connection);
        self.absorb(node, applied, now)
    }

    /// A message on `{prefix}/_cluster/{node}/delta` at `now`.
    pub fn delta(&mut self, node: &str, payload: &[u8], now: Instant) -> Vec<Alarm> {
        match self.view.apply_delta(node, payload) {
            DeltaOutcome::Applied(applied) => self.absorb(node, applied, now),
            DeltaOutcome::Stale => Vec::new(),
            DeltaOutcome::Gap { incarnation, seq } => {
                self.ask.insert(node.to_owned(), (incarnation, seq));
                Vec::new()
            }
            DeltaOutcome::Unreadable(a) => vec![a],
        }
    }

    /// A request for our state (`{prefix}/_cluster/{me}/sync`): a snapshot goes out (at most
    /// one per coalescing window, whoever asked).
    pub fn sync_request(&mut self) {
        self.snapshot_asked = true;
    }

    /// How many wills about a node whose beats went on were dropped as late.
    pub fn late_wills(&self) -> u64 {
        self.late_wills
    }

    /// What one applied presence, snapshot or delta of `node` means for the decisions.
    pub(super) fn absorb(
        &mut self,
        node: &str,
        applied: crate::cluster::membership::Applied,
        now: Instant,
    ) -> Vec<Alarm> {
        if applied.went_offline && node != self.settings.me {
            self.probe_after = Some(now);
            self.probe_pending = true;
            self.unconfirmed_offline.insert(node.to_owned());
        }
        if node != self.settings.me {
            self.seq += 1;
            self.presence_seq.insert(node.to_owned(), self.seq);
        }
        if node != self.settings.me
            && applied.claimed.iter().any(|c| {
                self.index
                    .get(c)
                    .is_some_and(|i| self.rtus.get(*i).is_some_and(|r| r.started))
            })
        {
            self.reannounce = true;
        }
        if applied.still_there && node != self.settings.me {
            self.handed.extend(applied.released.iter().cloned());
        }
        for name in &applied.released {
            if let Some(&i) = self.index.get(name) {
                if self.rtus.get(i).is_some_and(|r| r.started) && !self.refresh.contains(&i) {
                    self.refresh.push(i);
                }
            }
        }
        if node != self.settings.me {
            self.heard.insert(node.to_owned(), now);
            for c in &applied.claimed {
                if self.index.contains_key(c) {
                    self.seen_held.insert(c.clone());
                }
            }
        }
        if let Some(echo) = &applied.echo {
            if echo.status == OFFLINE && !self.leaving {
                tracing::warn!("cluster: our own last will came back while we run (a late will): presence published again");
                self.own_will = true;
            }
        }
        if let Some(echo) = applied.echo {
            if self.connected && self.full_seq > 0 && echo.seq == self.full_seq {
                self.echoed_seq = echo.seq;
                self.synced = true;
                self.ever_synced = true;
                self.echoed_on_connection = true;
                self.own_heard = Some(now);
                if std::mem::take(&mut self.reconnected) {
                    self.hold_until = Some(now + self.settings.reconnect_hold);
                }
            }
        }
        applied.alarms
    }

    /// Held wills whose node stayed silent for `will_wait` after its latest beat: applied now.
    pub(super) fn release_wills(&mut self, now: Instant, out: &mut Output) {
        let wait = self.settings.will_wait;
        let due: Vec<String> = self
            .wills
            .iter()
            .filter_map(|(node, w)| {
                let last = self.beats.get(node).map_or(w.at, |b| b.0);
                let at = (last + wait).max(w.at);
                if now >= at {
                    Some(node.clone())
                } else {
                    wake(out, now, at);
                    None
                }
            })
            .collect();
        for node in due {
            if let Some(w) = self.wills.remove(&node) {
                let applied = self
                    .view
                    .apply(&node, &w.payload, self.echoed_on_connection);
                let _ = self.absorb(&node, applied, now);
            }
        }
    }
}

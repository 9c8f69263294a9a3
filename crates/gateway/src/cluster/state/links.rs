//! The node's two broker connections and liveness: the coordination and data links, our own
//! and other nodes' beats, and when the others must have declared us dead.

use super::*;

impl ClusterState {
    /// The coordination connection (presence, beats, deltas, snapshots) came up or went down.
    /// Up: the view is trusted again only after the echo of our presence (republished on every
    /// connection). Down: not acting (see [`ClusterState::data_link`] for what the data
    /// connection's state adds).
    pub fn coordination(&mut self, connected: bool) {
        if connected && self.ever_synced {
            self.reconnected = true;
        }
        if !connected {
            self.handed.clear();
            if self.connected {
                let at = self.last_step;
                self.expect_back = self
                    .view
                    .live_others()
                    .filter(|n| at.is_some_and(|t| self.fresh(n, t)))
                    .map(str::to_owned)
                    .chain(self.unconfirmed_offline.iter().cloned())
                    .collect();
            }
        } else {
            self.back.clear();
        }
        self.connected = connected;
        self.synced = false;
        self.echoed_on_connection = false;
    }

    /// The data connection (RTU data, statuses, commands) came up or went down. Its loss alone
    /// changes no role: the data waits in the store and our beats still prove us alive on the
    /// coordination connection. It matters only while the coordination connection is down
    /// too: with the data connection up for the whole of `coordination_loss_hold` after the
    /// coordination connection was lost, the broker is reachable and the others have declared
    /// us dead (our will, or our beats stopped): every Active RTU goes to Standby, or our data
    /// would duplicate theirs. With both down (the broker unreachable) the partition rule
    /// holds: started RTUs are kept and their data waits in the store.
    pub fn data_link(&mut self, connected: bool) {
        self.data_connected = connected;
        if !connected {
            self.coordination_lost_at = None;
        }
    }

    /// The coordination connection has been down, the data connection up, for the whole of
    /// `coordination_loss_hold` at `now` (see [`ClusterState::data_link`]); else when that will be.
    pub(super) fn declared_dead(&mut self, now: Instant) -> Result<bool, Instant> {
        if self.connected || !self.data_connected || !self.ever_synced {
            self.coordination_lost_at = None;
            return Ok(false);
        }
        let since = *self.coordination_lost_at.get_or_insert(now);
        let at = since + self.settings.coordination_loss_hold;
        if now >= at {
            Ok(true)
        } else {
            Err(at)
        }
    }

    /// A beat of `node` (`{prefix}/_cluster/{node}/beat`, carrying its incarnation) at `now`,
    /// without a state number (see [`ClusterState::beat_seq`]).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn beat(&mut self, node: &str, incarnation: &[u8], now: Instant) {
        self.beat_seq(node, incarnation, 0, now);
    }

    /// A beat of `node` carrying its incarnation and the number of its latest announced state
    /// (0: none) at `now`. A view behind it asks for a snapshot; a held will of that
    /// incarnation was late (the node is alive) and is dropped.
    pub fn beat_seq(&mut self, node: &str, incarnation: &[u8], seq: u64, now: Instant) {
        if node != self.settings.me {
            let inc = String::from_utf8_lossy(incarnation).into_owned();
            if self
                .wills
                .get(node)
                .is_some_and(|w| w.incarnation == inc && now > w.at)
            {
                self.wills.remove(node);
                self.late_wills += 1;
            }
            self.beats.insert(node.to_owned(), (now, inc, seq));
        }
        if node == self.settings.me {
            if incarnation == self.settings.incarnation.as_bytes() && self.connected {
                self.own_heard = Some(now);
            }
        } else {
            self.heard.insert(node.to_owned(), now);
            // Back (after our reconnection) once its beat finds our view of it current: a
            // retained presence can be older than what it did while we were away.
            let inc = String::from_utf8_lossy(incarnation);
            if !self.view.behind(node, &inc, seq) {
                self.back.insert(node.to_owned());
            }
        }
    }

    pub(super) fn fresh(&self, node: &str, now: Instant) -> bool {
        let within = |t: Instant| now.saturating_duration_since(t) <= self.settings.liveness;
        // After we resumed from a pause, every node gets a whole window to be heard again.
        self.heard.get(node).is_some_and(|t| within(*t))
            || (self.heard.contains_key(node) && self.resumed_at.is_some_and(within))
    }

    pub(super) fn own_fresh(&self, now: Instant) -> bool {
        self.own_heard
            .is_some_and(|t| now.saturating_duration_since(t) <= self.settings.liveness)
    }
}

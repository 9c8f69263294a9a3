//! RTU paths, sans I/O: which node can reach which RTU, as every node sees it in the view
//! (another node reaches an RTU it lists as `ready` or `active`; we reach those our sessions
//! report connected), and the two decisions built on it (issue #11, points 4 and 5):
//!
//! - **Path failover.** A node expected to connect to an RTU (its owner or one of its standby
//!   nodes) that has had no connection for `path_failover` while another live node has one is
//!   *demoted* for that RTU: it goes to the end of the RTU's ranking, so a node with a working
//!   connection becomes the owner (one STARTDT and a GI, as in any takeover). A demoted node
//!   keeps trying in standby. It is demoted until its path has worked for the *hold-down*
//!   (10 × `path_failover`) without a break: a flapping path (a loose connector, a switch port
//!   going up and down) never pulls the RTU back and forth. A demotion counts only while some
//!   node that is not demoted has a connection: when nobody else reaches the RTU, a demoted
//!   node with a path is the best there is.
//! - **Orphans.** An RTU no live node reaches for `path_failover` is an orphan: the first node
//!   of its ranking publishes its status `unowned` and answers its commands.
//!
//! Every node computes the same from the same view; the times are each node's own (they differ
//! by the broker's latency).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What we know of one node's path to one RTU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// It has a connection, since `at`; `down_since`: the loss before it, which still counts
    /// when this connection ends within `path_failover` (a connection that opens and breaks at
    /// once, e.g. accepted and reset, does not restore the path).
    Up {
        at: Instant,
        down_since: Option<Instant>,
    },
    /// It has had none since then; `was_up`: it had one before (else it never connected).
    Down { since: Instant, was_up: bool },
    /// Demoted; its path works again since `up_since` (None: not yet, or broke again).
    Demoted { up_since: Option<Instant> },
}

/// The paths of the nodes to every RTU and the RTUs nobody reaches.
#[derive(Debug, Clone)]
pub struct Paths {
    failover: Duration,
    hold_down: Duration,
    /// By RTU index, then node: only nodes expected to connect, and demoted ones.
    nodes: BTreeMap<usize, BTreeMap<String, Path>>,
    /// By RTU index: no live node has reached it since then.
    unreached: BTreeMap<usize, Instant>,
    /// By RTU index: some live node has reached it since then.
    reached: BTreeMap<usize, Instant>,
}

/// The earliest time something changes by itself, after `now`.
struct Wake {
    now: Instant,
    at: Option<Instant>,
}

impl Wake {
    fn at(&mut self, t: Instant) {
        if t > self.now {
            self.at = Some(self.at.map_or(t, |w| w.min(t)));
        }
    }
}

/// The hold-down is this many times `path_failover`.
pub const HOLD_DOWN_FACTOR: u32 = 10;

impl Paths {
    /// Paths acting after `failover` (hold-down [`HOLD_DOWN_FACTOR`] times that).
    pub fn new(failover: Duration) -> Paths {
        Paths {
            failover,
            hold_down: failover * HOLD_DOWN_FACTOR,
            nodes: BTreeMap::new(),
            unreached: BTreeMap::new(),
            reached: BTreeMap::new(),
        }
    }

    /// How long a path must work again before its node gets the RTU back.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn hold_down(&self) -> Duration {
        self.hold_down
    }

    fn demoted(&self, rtu: usize, node: &str) -> bool {
        matches!(
            self.nodes.get(&rtu).and_then(|m| m.get(node)),
            Some(Path::Demoted { .. })
        )
    }

    /// `rank` (the RTU's usual ranking of the live nodes) with the demoted nodes moved to the
    /// end, in their order, when some other node that is not demoted has a connection.
    pub fn order<'a>(
        &self,
        rtu: usize,
        rank: Vec<&'a str>,
        reaches: impl Fn(&str) -> bool,
    ) -> Vec<&'a str> {
        let carried = rank.iter().any(|n| !self.demoted(rtu, n) && reaches(n));
        if !carried {
            return rank;
        }
        let (mut kept, demoted): (Vec<&str>, Vec<&str>) =
            rank.into_iter().partition(|n| !self.demoted(rtu, n));
        kept.extend(demoted);
        kept
    }

    /// Whether `node` is demoted for `rtu` and that counts now (see [`Paths::order`]).
    pub fn counts_as_demoted(
        &self,
        rtu: usize,
        node: &str,
        rank: &[&str],
        reaches: impl Fn(&str) -> bool,
    ) -> bool {
        self.demoted(rtu, node)
            && rank
                .iter()
                .any(|n| *n != node && !self.demoted(rtu, n) && reaches(n))
    }

    /// One observation of `rtu` at `now`: `rank` is its ranking of the live nodes (we among
    /// them), the first `expected` of it should connect, `reaches` says who has a connection,
    /// `carried`: a node has data transfer started. A node that never connected is demoted only
    /// while nobody carries the RTU (a holder keeps carrying it until a new owner connects).
    /// Returns when something changes next by itself.
    pub fn observe(
        &mut self,
        rtu: usize,
        rank: &[&str],
        expected: usize,
        reaches: impl Fn(&str) -> bool,
        carried: bool,
        now: Instant,
    ) -> Option<Instant> {
        let mut paths = self.nodes.remove(&rtu).unwrap_or_default();
        // Gone nodes and nodes no longer expected (and not demoted) are forgotten.
        paths.retain(|n, p| {
            rank.contains(&n.as_str())
                && (matches!(p, Path::Demoted { .. }) || rank.iter().take(expected).any(|e| e == n))
        });
        let mut wake = Wake { now, at: None };
        // Nobody reaching it: an orphan after `failover`.
        let reached = if rank.iter().any(|n| reaches(n)) {
            self.unreached.remove(&rtu);
            Some(*self.reached.entry(rtu).or_insert(now))
        } else {
            self.reached.remove(&rtu);
            let since = *self.unreached.entry(rtu).or_insert(now);
            wake.at(since + self.failover);
            None
        };
        // Anyone else not demoted reaching it.
        let demoted = |paths: &BTreeMap<String, Path>, n: &str| {
            matches!(paths.get(n), Some(Path::Demoted { .. }))
        };
        for node in rank.iter().take(expected) {
            let others = rank
                .iter()
                .any(|n| n != node && !demoted(&paths, n) && reaches(n));
            let old = paths.get(*node).copied();
            let new = self.next(old, reaches(node), others, carried, reached, &mut wake);
            paths.insert((*node).to_owned(), new);
        }
        // Demoted nodes (expected or not): back once their path worked for the hold-down.
        for (node, p) in paths.iter_mut() {
            if let Path::Demoted { up_since } = *p {
                *p = match (reaches(node), up_since) {
                    (false, _) => Path::Demoted { up_since: None },
                    (true, Some(t)) if now >= t + self.hold_down => Path::Up {
                        at: now,
                        down_since: None,
                    },
                    (true, since) => {
                        let t = since.unwrap_or(now);
                        wake.at(t + self.hold_down);
                        Path::Demoted { up_since: Some(t) }
                    }
                };
            }
        }
        if !paths.is_empty() {
            self.nodes.insert(rtu, paths);
        }
        wake.at
    }

    /// The next state of an expected node's path (`old`; `up`: it has a connection; `others`:
    /// another node that is not demoted has one; `carried`: a node has data transfer started;
    /// `reached`: since when some node reaches the RTU). The time without a connection counts
    /// only from when another node reaches the RTU (an RTU nobody reaches is down itself, not
    /// one node's path to it).
    fn next(
        &self,
        old: Option<Path>,
        up: bool,
        others: bool,
        carried: bool,
        reached: Option<Instant>,
        wake: &mut Wake,
    ) -> Path {
        let now = wake.now;
        match old {
            Some(p @ Path::Up { .. }) if up => p,
            None if up => Path::Up {
                at: now,
                down_since: None,
            },
            Some(Path::Down { since, .. }) if up => Path::Up {
                at: now,
                down_since: Some(since),
            },
            None => {
                wake.at(now + self.failover);
                Path::Down {
                    since: now,
                    was_up: false,
                }
            }
            Some(Path::Up { at, down_since }) => {
                let since = down_since
                    .filter(|_| now < at + self.failover)
                    .unwrap_or(now);
                wake.at(since + self.failover);
                Path::Down {
                    since,
                    was_up: true,
                }
            }
            Some(d @ Path::Down { .. }) if !others => d,
            Some(Path::Down { since, was_up }) => {
                let from = reached.map_or(since, |r| r.max(since));
                if now >= from + self.failover && (was_up || !carried) {
                    Path::Demoted { up_since: None }
                } else {
                    wake.at(from + self.failover);
                    Path::Down { since, was_up }
                }
            }
            Some(d @ Path::Demoted { .. }) => d,
        }
    }

    /// Whether no live node has reached `rtu` for `path_failover` (as of the last observation).
    pub fn orphan(&self, rtu: usize, now: Instant) -> bool {
        self.unreached
            .get(&rtu)
            .is_some_and(|since| now >= *since + self.failover)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PF: Duration = Duration::from_secs(3);

    #[test]
    fn a_lost_owner_is_demoted_after_path_failover_only_if_another_node_reaches_it() {
        let t0 = Instant::now();
        let mut p = Paths::new(PF);
        let rank = ["a", "b"];
        // Both up.
        p.observe(0, &rank, 2, |_| true, false, t0);
        // a's path ends: nothing yet, a wake-up at t0 + 1 + 3 s.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(
            p.observe(0, &rank, 2, |n| n == "b", false, t1),
            Some(t1 + PF)
        );
        assert_eq!(p.order(0, rank.to_vec(), |n| n == "b"), ["a", "b"]);
        let t2 = t1 + PF - Duration::from_millis(1);
        p.observe(0, &rank, 2, |n| n == "b", false, t2);
        assert_eq!(p.order(0, rank.to_vec(), |n| n == "b"), ["a", "b"]);
        // At path_failover: demoted.
        p.observe(0, &rank, 2, |n| n == "b", false, t1 + PF);
        assert_eq!(p.order(0, rank.to_vec(), |n| n == "b"), ["b", "a"]);
        assert!(!p.orphan(0, t1 + PF));
    }

    #[test]
    fn nobody_else_reaching_it_demotes_nobody_and_makes_an_orphan() {
        let t0 = Instant::now();
        let mut p = Paths::new(PF);
        let rank = ["a", "b"];
        p.observe(0, &rank, 2, |_| true, false, t0);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(p.observe(0, &rank, 2, |_| false, false, t1), Some(t1 + PF));
        p.observe(0, &rank, 2, |_| false, false, t1 + PF);
        assert_eq!(p.order(0, rank.to_vec(), |_| false), ["a", "b"]);
        assert!(p.orphan(0, t1 + PF));
        assert!(!p.orphan(0, t1 + PF - Duration::from_millis(1)));
        // One connection ends the orphan.
        p.observe(0, &rank, 2, |n| n == "b", false, t1 + PF * 2);
        assert!(!p.orphan(0, t1 + PF * 2));
    }

    #[test]
    fn the_hold_down_keeps_a_returned_path_demoted_and_restarts_on_a_break() {
        let t0 = Instant::now();
        let mut p = Paths::new(PF);
        let rank = ["a", "b"];
        let hold = p.hold_down();
        assert_eq!(hold, PF * HOLD_DOWN_FACTOR);
        p.observe(0, &rank, 2, |_| true, false, t0);
        p.observe(0, &rank, 2, |n| n == "b", false, t0);
        p.observe(0, &rank, 2, |n| n == "b", false, t0 + PF);
        // b carries now; a is expected no more (standby 0 beyond the owner) but stays tracked.
        let demoted_rank = p.order(0, rank.to_vec(), |n| n == "b");
        assert_eq!(demoted_rank, ["b", "a"]);
        // a's path is back at t1: a wake-up at t1 + hold, still demoted until then.
        let t1 = t0 + PF * 2;
        assert_eq!(
            p.observe(0, &demoted_rank, 1, |_| true, false, t1),
            Some(t1 + hold)
        );
        p.observe(0, &demoted_rank, 1, |_| true, false, t1 + hold / 2);
        assert_eq!(p.order(0, rank.to_vec(), |_| true), ["b", "a"]);
        // It breaks again: the hold-down starts over when it comes back.
        let t2 = t1 + hold / 2 + Duration::from_secs(1);
        p.observe(0, &demoted_rank, 1, |n| n == "b", false, t2);
        let t3 = t2 + Duration::from_secs(1);
        assert_eq!(
            p.observe(0, &demoted_rank, 1, |_| true, false, t3),
            Some(t3 + hold)
        );
        p.observe(0, &demoted_rank, 1, |_| true, false, t1 + hold);
        assert_eq!(p.order(0, rank.to_vec(), |_| true), ["b", "a"]);
        p.observe(0, &demoted_rank, 1, |_| true, false, t3 + hold);
        assert_eq!(p.order(0, rank.to_vec(), |_| true), ["a", "b"]);
    }

    #[test]
    fn a_demoted_node_with_a_path_is_first_again_when_the_carrier_loses_its_own() {
        let t0 = Instant::now();
        let mut p = Paths::new(PF);
        let rank = ["a", "b"];
        p.observe(0, &rank, 2, |_| true, false, t0);
        p.observe(0, &rank, 2, |n| n == "b", false, t0);
        p.observe(0, &rank, 2, |n| n == "b", false, t0 + PF);
        assert!(p.counts_as_demoted(0, "a", &rank, |n| n == "b"));
        // a is back (in its hold-down) and b loses its path: a is the only one reaching it.
        assert_eq!(p.order(0, rank.to_vec(), |n| n == "a"), ["a", "b"]);
        assert!(!p.counts_as_demoted(0, "a", &rank, |n| n == "a"));
    }

    #[test]
    fn a_node_that_never_connected_is_demoted_only_while_nobody_carries_the_rtu() {
        let t0 = Instant::now();
        let rank = ["a", "b"];
        // b carries it (a holder waiting for the new owner a): a is not demoted.
        let mut p = Paths::new(PF);
        for s in 0..5 {
            p.observe(0, &rank, 2, |n| n == "b", true, t0 + PF * s);
        }
        assert_eq!(p.order(0, rank.to_vec(), |n| n == "b"), ["a", "b"]);
        // Nobody carries it (all started together; a cannot reach it): a is demoted.
        let mut p = Paths::new(PF);
        for s in 0..2 {
            p.observe(0, &rank, 2, |n| n == "b", false, t0 + PF * s);
        }
        assert_eq!(p.order(0, rank.to_vec(), |n| n == "b"), ["b", "a"]);
    }

    #[test]
    fn a_connection_that_breaks_at_once_does_not_restore_the_path() {
        let t0 = Instant::now();
        let mut p = Paths::new(PF);
        let rank = ["a", "b"];
        p.observe(0, &rank, 2, |_| true, false, t0);
        p.observe(0, &rank, 2, |n| n == "b", false, t0);
        // a's retry is accepted and reset (up for 10 ms) just before path_failover.
        let blip = t0 + PF - Duration::from_millis(20);
        p.observe(0, &rank, 2, |_| true, false, blip);
        let after = blip + Duration::from_millis(10);
        assert_eq!(
            p.observe(0, &rank, 2, |n| n == "b", false, after),
            Some(t0 + PF)
        );
        p.observe(0, &rank, 2, |n| n == "b", false, t0 + PF);
        assert_eq!(p.order(0, rank.to_vec(), |n| n == "b"), ["b", "a"]);
        // One that lasts path_failover does: the next loss counts from its end.
        let mut p = Paths::new(PF);
        p.observe(0, &rank, 2, |_| true, false, t0);
        p.observe(0, &rank, 2, |n| n == "b", false, t0);
        p.observe(0, &rank, 2, |_| true, false, t0 + Duration::from_secs(1));
        let end = t0 + Duration::from_secs(1) + PF;
        assert_eq!(
            p.observe(0, &rank, 2, |n| n == "b", false, end),
            Some(end + PF)
        );
    }

    #[test]
    fn nodes_not_expected_to_connect_are_never_demoted() {
        // c ranks third with one standby: it never connects and is not demoted for that.
        let t0 = Instant::now();
        let mut p = Paths::new(PF);
        let rank = ["a", "b", "c"];
        for s in 0..5 {
            p.observe(0, &rank, 2, |n| n != "c", false, t0 + PF * s);
        }
        assert_eq!(p.order(0, rank.to_vec(), |n| n != "c"), ["a", "b", "c"]);
        assert!(!p.demoted(0, "c"));
    }
}

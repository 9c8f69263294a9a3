//! Which broker the publisher connects to next: sans-IO rules over the node's ordered list
//! (the first is the node's preferred broker), with time passed in.
//!
//! - The publisher stays on a broker while the connection holds.
//! - When the connection is lost, or the broker does not accept it (no CONNACK within
//!   `connect_timeout`), it moves on to the next broker at once; only when every broker
//!   failed in a row does it wait the reconnect backoff before the next round. With one
//!   broker every retry waits, as before.
//! - It moves back to the first broker only when told to (`return_to_first`): connected
//!   elsewhere, it checks the first every `return_check` and moves back once it answers.

use std::time::{Duration, Instant};

/// The position in the node's broker list and the failures since the last success.
#[derive(Debug, Clone)]
pub struct Rotation {
    len: usize,
    current: usize,
    failed_in_row: usize,
    return_check: Option<Duration>,
}

/// What to do after a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Connect to this broker (index into the list) at once.
    Now(usize),
    /// Wait the reconnect backoff, then connect to this broker.
    AfterBackoff(usize),
}

impl Rotation {
    /// A rotation over `len` brokers (at least one), starting on the first; `return_check`
    /// is the period of the checks of the first broker when away from it (None: never back).
    pub fn new(len: usize, return_check: Option<Duration>) -> Rotation {
        Rotation {
            len: len.max(1),
            current: 0,
            failed_in_row: 0,
            return_check,
        }
    }

    /// The broker to use now (index into the list).
    pub fn current(&self) -> usize {
        self.current
    }

    /// The connection to the current broker ended; `was_connected` tells whether the broker
    /// had accepted it (CONNACK).
    pub fn ended(&mut self, was_connected: bool) -> Next {
        if was_connected {
            self.failed_in_row = 0;
        } else {
            self.failed_in_row += 1;
        }
        if self.len == 1 {
            return Next::AfterBackoff(0);
        }
        self.current = (self.current + 1) % self.len;
        if self.failed_in_row >= self.len {
            self.failed_in_row = 0;
            Next::AfterBackoff(self.current)
        } else {
            Next::Now(self.current)
        }
    }

    /// The current broker accepted the connection at `now`: the checks of the first broker
    /// to run while connected here (None when on the first, or when never moving back).
    pub fn connected(&mut self, now: Instant) -> Option<ReturnChecks> {
        self.failed_in_row = 0;
        let every = self.return_check?;
        (self.current != 0).then(|| ReturnChecks {
            every,
            next: now + every,
        })
    }

    /// The connection was left because the first broker answered a check: it is next, at
    /// once.
    pub fn back_to_first(&mut self) -> Next {
        self.current = 0;
        self.failed_in_row = 0;
        Next::Now(0)
    }
}

/// The schedule of the checks of the first broker while connected to another one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReturnChecks {
    every: Duration,
    next: Instant,
}

impl ReturnChecks {
    /// When the next check is due.
    pub fn due(&self) -> Instant {
        self.next
    }

    /// A check ended at `now`; true when the first broker answered (leave this connection
    /// and go back), else the next check is scheduled.
    pub fn checked(&mut self, answered: bool, now: Instant) -> bool {
        if !answered {
            self.next = now + self.every;
        }
        answered
    }
}

/// The reconnect backoff: 200 ms after a connection the broker had accepted, doubled after
/// each wait up to 5 s, plus up to a quarter of random jitter (so nodes restarted together do
/// not come back in step).
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(200);
    const MAX: Duration = Duration::from_secs(5);

    /// Starts at the first step.
    pub fn new() -> Backoff {
        Backoff { next: Self::FIRST }
    }

    /// A connection was accepted: the next wait is the first step again.
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }

    /// The wait before the next round (with jitter); the one after is twice as long.
    pub fn wait(&mut self) -> Duration {
        let jitter = fastrand::u64(0..=self.next.as_millis() as u64 / 4);
        let wait = self.next + Duration::from_millis(jitter);
        self.next = (self.next * 2).min(Self::MAX);
        wait
    }
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECK: Duration = Duration::from_secs(30);

    #[test]
    fn one_broker_always_waits_before_the_retry() {
        let mut r = Rotation::new(1, None);
        assert_eq!(r.ended(true), Next::AfterBackoff(0));
        assert_eq!(r.ended(false), Next::AfterBackoff(0));
        assert_eq!(r.current(), 0);
    }

    #[test]
    fn a_lost_connection_moves_on_at_once_and_stays_there() {
        let mut r = Rotation::new(3, None);
        assert_eq!(r.current(), 0);
        assert_eq!(r.ended(true), Next::Now(1));
        assert_eq!(r.current(), 1);
        // Connected to the second broker: no checks of the first are scheduled.
        assert_eq!(r.connected(Instant::now()), None);
        assert_eq!(r.current(), 1);
    }

    #[test]
    fn a_full_round_of_failures_waits_once_then_starts_over() {
        let mut r = Rotation::new(3, None);
        assert_eq!(r.ended(false), Next::Now(1));
        assert_eq!(r.ended(false), Next::Now(2));
        assert_eq!(r.ended(false), Next::AfterBackoff(0));
        assert_eq!(r.ended(false), Next::Now(1));
    }

    #[test]
    fn a_success_resets_the_count_of_failures() {
        let mut r = Rotation::new(2, None);
        assert_eq!(r.ended(false), Next::Now(1));
        assert_eq!(r.ended(true), Next::Now(0));
        assert_eq!(r.ended(false), Next::Now(1));
        assert_eq!(r.ended(false), Next::AfterBackoff(0));
    }

    #[test]
    fn a_connack_also_resets_the_count_of_failures() {
        let mut r = Rotation::new(2, None);
        assert_eq!(r.ended(false), Next::Now(1));
        r.connected(Instant::now());
        // The connection to the second then drops before anything: the first is next at
        // once, not after the backoff.
        assert_eq!(r.ended(false), Next::Now(0));
    }

    #[test]
    fn on_the_first_broker_nothing_is_checked() {
        let mut r = Rotation::new(3, Some(CHECK));
        assert_eq!(r.connected(Instant::now()), None);
    }

    #[test]
    fn away_from_the_first_it_is_checked_every_period_until_it_answers() {
        let t0 = Instant::now();
        let mut r = Rotation::new(3, Some(CHECK));
        assert_eq!(r.ended(true), Next::Now(1));
        let mut checks = r
            .connected(t0)
            .expect("checks scheduled on the second broker");
        assert_eq!(checks.due(), t0 + CHECK);
        // The first broker does not answer: the next check one period after this one ended.
        let t1 = t0 + CHECK + Duration::from_secs(2);
        assert!(!checks.checked(false, t1));
        assert_eq!(checks.due(), t1 + CHECK);
        // It answers: leave, and the first broker is next at once.
        assert!(checks.checked(true, t1 + CHECK));
        assert_eq!(r.back_to_first(), Next::Now(0));
        assert_eq!(r.current(), 0);
        assert_eq!(r.connected(t1 + CHECK), None);
    }

    #[test]
    fn without_return_to_first_no_checks_anywhere() {
        let mut r = Rotation::new(2, None);
        r.ended(true);
        assert_eq!(r.current(), 1);
        assert_eq!(r.connected(Instant::now()), None);
    }

    #[test]
    fn backoff_doubles_to_five_seconds_with_a_quarter_of_jitter_and_resets() {
        let mut b = Backoff::new();
        let waits: Vec<Duration> = (0..7).map(|_| b.wait()).collect();
        for (w, base) in waits.iter().zip([200u64, 400, 800, 1600, 3200, 5000, 5000]) {
            let base = Duration::from_millis(base);
            assert!(*w >= base && *w <= base + base / 4, "{w:?} for {base:?}");
        }
        b.reset();
        assert!(b.wait() <= Duration::from_millis(250));
    }
}

//! A token bucket for the cluster's publications (pure, time passed in): a few go out back
//! to back, then one per period, so a takeover's quick changes show at once while a long
//! run of changes is still paced.

use std::time::{Duration, Instant};

/// Paces one kind of publication: at most `burst` back to back, one per `every` on average.
#[derive(Debug, Clone)]
pub struct Pacer {
    every: Duration,
    burst: u32,
    /// When the bucket is full again (`None`: it is full).
    full_at: Option<Instant>,
}

impl Pacer {
    /// A full bucket of `burst` (at least 1) publications, refilled one per `every`.
    pub fn new(every: Duration, burst: u32) -> Self {
        Pacer {
            every,
            burst: burst.max(1),
            full_at: None,
        }
    }

    /// The earliest time a publication may go out (`None` or a past time: now).
    pub fn next_allowed(&self) -> Option<Instant> {
        let slack = self.every * (self.burst - 1);
        self.full_at.map(|t| t.checked_sub(slack).unwrap_or(t))
    }

    /// Whether a publication may go out at `now`.
    #[cfg(test)]
    pub fn allows(&self, now: Instant) -> bool {
        self.next_allowed().is_none_or(|t| now >= t)
    }

    /// Counts a publication made at `now` (allowed or urgent).
    pub fn spend(&mut self, now: Instant) {
        self.full_at = Some(self.full_at.map_or(now, |t| t.max(now)) + self.every);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_burst_goes_out_back_to_back_then_one_per_period() {
        let t0 = Instant::now();
        let mut p = Pacer::new(100 * MS, 3);
        for _ in 0..3 {
            assert!(p.allows(t0));
            p.spend(t0);
        }
        assert!(!p.allows(t0));
        assert_eq!(p.next_allowed(), Some(t0 + 100 * MS));
        assert!(!p.allows(t0 + 99 * MS));
        assert!(p.allows(t0 + 100 * MS));
        p.spend(t0 + 100 * MS);
        assert_eq!(p.next_allowed(), Some(t0 + 200 * MS));
    }

    #[test]
    fn a_quiet_period_refills_the_bucket_but_not_beyond_the_burst() {
        let t0 = Instant::now();
        let mut p = Pacer::new(100 * MS, 2);
        p.spend(t0);
        // Ten periods of quiet: two back to back again, not ten.
        let t1 = t0 + 1000 * MS;
        assert!(p.allows(t1));
        p.spend(t1);
        assert!(p.allows(t1));
        p.spend(t1);
        assert!(!p.allows(t1));
    }

    #[test]
    fn a_burst_of_one_is_a_plain_window() {
        let t0 = Instant::now();
        let mut p = Pacer::new(250 * MS, 1);
        p.spend(t0);
        assert_eq!(p.next_allowed(), Some(t0 + 250 * MS));
        let zero = Pacer::new(Duration::ZERO, 3);
        assert!(zero.allows(t0));
    }
}

//! Reconnection delay: exponential with jitter, reset after a successful start.

use std::time::Duration;

/// Exponential backoff between `min` and `max`, each delay scaled by a random 0.5..=1.0.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    /// A backoff from `min` to `max`.
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max,
            failures: 0,
        }
    }

    /// The delay before the next attempt; `unit` in 0.0..=1.0 is the random draw.
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let base = self
            .min
            .saturating_mul(1u32 << self.failures.min(16))
            .min(self.max);
        self.failures = self.failures.saturating_add(1);
        base.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
    }

    /// After a successful connection.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_max_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(4));
        assert_eq!(b.next_delay(1.0), Duration::from_millis(500));
        assert_eq!(b.next_delay(1.0), Duration::from_millis(1000));
        assert_eq!(b.next_delay(0.0), Duration::from_millis(1000)); // 2000 * 0.5
        assert_eq!(b.next_delay(1.0), Duration::from_secs(4));
        assert_eq!(b.next_delay(1.0), Duration::from_secs(4));
        b.reset();
        assert_eq!(b.next_delay(1.0), Duration::from_millis(500));
    }
}

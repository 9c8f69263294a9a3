//! Which broker the publisher connects to next: a sans-IO rule over the node's ordered list.
//!
//! The publisher stays on a broker while the connection holds; it never moves back to a
//! broker earlier in the list on its own. When the connection is lost, or the broker does not
//! accept it (no CONNACK within `connect_timeout`), it moves on to the next broker at once;
//! only when every broker failed in a row does it wait (the reconnect backoff) before the
//! next round. With one broker every retry waits, as before.

/// The position in the node's broker list and the failures since the last success.
#[derive(Debug, Clone)]
pub struct Rotation {
    len: usize,
    current: usize,
    failed_in_row: usize,
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
    /// A rotation over `len` brokers (at least one), starting on the first.
    pub fn new(len: usize) -> Rotation {
        Rotation {
            len: len.max(1),
            current: 0,
            failed_in_row: 0,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_broker_always_waits_before_the_retry() {
        let mut r = Rotation::new(1);
        assert_eq!(r.ended(true), Next::AfterBackoff(0));
        assert_eq!(r.ended(false), Next::AfterBackoff(0));
    }

    #[test]
    fn a_lost_connection_moves_on_at_once_and_stays_there() {
        let mut r = Rotation::new(3);
        assert_eq!(r.current(), 0);
        assert_eq!(r.ended(true), Next::Now(1));
        assert_eq!(r.current(), 1);
        // Connected to b2 and it holds: nothing moves back to b1.
        assert_eq!(r.current(), 1);
    }

    #[test]
    fn a_full_round_of_failures_waits_once_then_starts_over() {
        let mut r = Rotation::new(3);
        assert_eq!(r.ended(false), Next::Now(1));
        assert_eq!(r.ended(false), Next::Now(2));
        assert_eq!(r.ended(false), Next::AfterBackoff(0));
        assert_eq!(r.ended(false), Next::Now(1));
    }

    #[test]
    fn a_success_resets_the_count_of_failures() {
        let mut r = Rotation::new(2);
        assert_eq!(r.ended(false), Next::Now(1));
        assert_eq!(r.ended(true), Next::Now(0));
        assert_eq!(r.ended(false), Next::Now(1));
        assert_eq!(r.ended(false), Next::AfterBackoff(0));
    }
}

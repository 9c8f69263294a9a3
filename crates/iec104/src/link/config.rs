//! Link layer parameters (IEC 60870-5-104 §5.5, §9.6) and their validation.

use std::time::Duration;

/// Which end of the link this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Controlling station (client, "master"): sends STARTDT/STOPDT act.
    Controlling,
    /// Controlled station (server, "outstation"): answers STARTDT/STOPDT with con.
    Controlled,
}

/// Link layer parameters. [`LinkConfig::default`] gives the standard values (§9.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// k: maximum number of sent, unacknowledged I frames (default 12).
    pub k: u16,
    /// w: acknowledge at the latest after receiving (and releasing) w I frames (default 8).
    pub w: u16,
    /// t0: connection establishment timeout (default 30 s; used by the async client).
    pub t0: Duration,
    /// t1: timeout for the acknowledgement of a sent I frame or the con of a sent U act
    /// (default 15 s).
    pub t1: Duration,
    /// t2: acknowledge received I frames at the latest this long after receiving the oldest
    /// unacknowledged one (default 10 s, must be below t1).
    pub t2: Duration,
    /// t3: send TESTFR act after this long without receiving any frame (default 20 s).
    pub t3: Duration,
    /// ASDUs waiting for a free place in the k window, at most (default 1024).
    pub send_queue: usize,
    /// Release every received I frame on receipt (default true). When false the application
    /// must call `Link::release` before a frame is acknowledged to the peer.
    pub auto_release: bool,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            k: 12,
            w: 8,
            t0: Duration::from_secs(30),
            t1: Duration::from_secs(15),
            t2: Duration::from_secs(10),
            t3: Duration::from_secs(20),
            send_queue: 1024,
            auto_release: true,
        }
    }
}

/// A [`LinkConfig`] value the link cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// k must be in 1..=32767 (sequence numbers are 15 bits).
    #[error("k = {0} out of range 1..=32767")]
    K(u16),
    /// w must be in 1..=k.
    #[error("w = {w} out of range 1..=k (k = {k})")]
    W {
        /// The w given.
        w: u16,
        /// The k given.
        k: u16,
    },
    /// A timer is zero.
    #[error("{0} must be greater than zero")]
    ZeroTimer(&'static str),
    /// A timer (named) is longer than [`LinkConfig::MAX_TIMER`]; §9.6 ranges are 1..255 s.
    #[error("{name} = {value:?} is longer than the maximum {max:?}")]
    TimerTooLong {
        /// Which timer.
        name: &'static str,
        /// The duration given.
        value: Duration,
        /// The maximum accepted ([`LinkConfig::MAX_TIMER`]).
        max: Duration,
    },
    /// t2 must be shorter than t1 (§5.5), or the peer times out before we acknowledge.
    #[error("t2 ({t2:?}) must be shorter than t1 ({t1:?})")]
    T2NotBelowT1 {
        /// The t1 given.
        t1: Duration,
        /// The t2 given.
        t2: Duration,
    },
    /// The send queue must hold at least one ASDU.
    #[error("send_queue must be at least 1")]
    SendQueue,
    /// A channel or queue capacity (named) must be at least 1.
    #[error("{0} must be at least 1")]
    ZeroCapacity(&'static str),
}

impl LinkConfig {
    /// The longest timer accepted: 24 h. The standard's ranges (§9.6) end at 255 s; anything
    /// beyond a day is a mistake (or "never"), not a time-out.
    pub const MAX_TIMER: Duration = Duration::from_secs(24 * 60 * 60);

    /// Checks the ranges: k 1..=32767, w 1..=k (the standard recommends w <= 2k/3), all timers
    /// non-zero and at most [`LinkConfig::MAX_TIMER`], t2 < t1, send_queue >= 1.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=32767).contains(&self.k) {
            return Err(ConfigError::K(self.k));
        }
        if self.w == 0 || self.w > self.k {
            return Err(ConfigError::W {
                w: self.w,
                k: self.k,
            });
        }
        for (name, t) in [
            ("t0", self.t0),
            ("t1", self.t1),
            ("t2", self.t2),
            ("t3", self.t3),
        ] {
            if t.is_zero() {
                return Err(ConfigError::ZeroTimer(name));
            }
            if t > Self::MAX_TIMER {
                return Err(ConfigError::TimerTooLong {
                    name,
                    value: t,
                    max: Self::MAX_TIMER,
                });
            }
        }
        if self.t2 >= self.t1 {
            return Err(ConfigError::T2NotBelowT1 {
                t1: self.t1,
                t2: self.t2,
            });
        }
        if self.send_queue == 0 {
            return Err(ConfigError::SendQueue);
        }
        Ok(())
    }
}

//! Time tags of spontaneous events: an RTU reports a change once, with the time it happened.
//! A point that changes once in a tick is tagged with the tick's time; one that changes `k`
//! times has its changes spread evenly over the interval since the previous tick (the last at
//! the tick's time), so a breaker that opens and closes within a tick does so at two different
//! times. A point never gets two events with one time tag: a change in a millisecond the point
//! already used moves to its next free millisecond (at most [`MAX_AHEAD_MS`] ahead of the
//! station clock; a point changing faster than that reports its changes merged).

/// How far ahead of the station clock a point's next free millisecond may lie.
pub const MAX_AHEAD_MS: i64 = 100;

/// The time tag (milliseconds since the epoch) of change `i` (0-based) of `k` changes of one
/// point in the interval `(now_ms - interval_ms, now_ms]`: evenly spread, the last at `now_ms`.
pub fn nth_change(now_ms: i64, interval_ms: i64, k: usize, i: usize) -> i64 {
    let k = i64::try_from(k).unwrap_or(i64::MAX).max(1);
    let i = i64::try_from(i).unwrap_or(0).min(k - 1);
    now_ms - (k - 1 - i).saturating_mul(interval_ms.max(0)) / k
}

/// A point's last tag more than this ahead of the station clock means the clock was set
/// back (clock synchronization): tags start again from the clock.
pub const CLOCK_SET_BACK_MS: i64 = 1000;

/// The time tag an event of a point last tagged `last_ms` gets when it is wanted at
/// `wanted_ms`: `wanted_ms` if later than `last_ms`, else the millisecond after `last_ms`;
/// `None` when that lies beyond `latest_ms` (the change waits: a point changes at most once
/// per millisecond).
pub fn next_tag(last_ms: Option<i64>, wanted_ms: i64, latest_ms: i64) -> Option<i64> {
    let tag = match last_ms {
        Some(last) if last > latest_ms.saturating_add(CLOCK_SET_BACK_MS) => wanted_ms,
        Some(last) if wanted_ms <= last => last.saturating_add(1),
        _ => wanted_ms,
    };
    (tag <= latest_ms).then_some(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_of_a_point_spread_over_the_interval_ending_now() {
        let tags: Vec<i64> = (0..4).map(|i| nth_change(1000, 100, 4, i)).collect();
        assert_eq!(tags, [925, 950, 975, 1000]);
        assert_eq!(nth_change(1000, 100, 1, 0), 1000);
        // More changes than milliseconds: tags repeat, never go backwards.
        let tags: Vec<i64> = (0..250).map(|i| nth_change(1000, 100, 250, i)).collect();
        assert!(tags.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!((tags[0], tags[249]), (901, 1000));
    }

    #[test]
    fn a_point_never_gets_one_tag_twice() {
        assert_eq!(next_tag(None, 500, 1000), Some(500));
        assert_eq!(next_tag(Some(400), 500, 1000), Some(500));
        assert_eq!(next_tag(Some(500), 500, 1000), Some(501));
        assert_eq!(next_tag(Some(700), 500, 1000), Some(701));
        assert_eq!(next_tag(Some(1000), 1000, 1000), None);
        // The clock was set back by a minute: tags follow it.
        assert_eq!(next_tag(Some(61_000), 1000, 1000), Some(1000));
    }

    #[test]
    fn many_updates_of_one_point_in_a_tick_get_distinct_rising_tags() {
        // One point picked for all 300 updates of a 100 ms tick (virtual time, no clock).
        let mut last = None;
        let mut tags = Vec::new();
        for wanted in (0..300).map(|i| nth_change(10_000, 100, 300, i)) {
            if let Some(tag) = next_tag(last, wanted, 10_000) {
                last = Some(tag);
                tags.push(tag);
            }
        }
        assert_eq!(tags.len(), 100, "one per millisecond of the tick");
        assert!(tags.windows(2).all(|w| w[0] < w[1]));
        assert_eq!((tags[0], tags[99]), (9_901, 10_000));
    }
}

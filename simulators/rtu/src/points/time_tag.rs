//! Time tags of spontaneous events: an RTU reports a change once, with the time it happened.
//! The updates of one tick are spread over the interval since the previous tick, and a point
//! never gets two events with one time tag (the second change in a millisecond moves to the
//! next free millisecond, or waits for the next tick when that would lie in the future).

/// The time tags (milliseconds since the epoch) of `n` updates due in the interval
/// `(now_ms - interval_ms, now_ms]`, evenly spread, the last at `now_ms`, in order.
pub fn spread(now_ms: i64, interval_ms: i64, n: usize) -> impl Iterator<Item = i64> {
    let interval_ms = interval_ms.max(0);
    let n_i = i64::try_from(n).unwrap_or(i64::MAX).max(1);
    (0..n).map(move |i| {
        let before = n_i - 1 - i64::try_from(i).unwrap_or(0);
        now_ms - before.saturating_mul(interval_ms) / n_i
    })
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
    fn updates_spread_over_the_interval_ending_now() {
        assert_eq!(
            spread(1000, 100, 4).collect::<Vec<_>>(),
            [925, 950, 975, 1000]
        );
        assert_eq!(spread(1000, 100, 1).collect::<Vec<_>>(), [1000]);
        assert_eq!(spread(1000, 100, 0).count(), 0);
        // More updates than milliseconds: tags repeat across points, never go backwards.
        let tags: Vec<i64> = spread(1000, 100, 250).collect();
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
        for wanted in spread(10_000, 100, 300) {
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

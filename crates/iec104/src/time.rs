//! Binary time tags of IEC 60870-5-4 as used by IEC 60870-5-101 §7.2.6.18–20:
//! CP56Time2a (seven octets, date and time), CP24Time2a (three octets, minutes and milliseconds)
//! and CP16Time2a (two octets, milliseconds).
//!
//! Decoding keeps the fields exactly as received (no range check), so that a malformed time tag
//! never makes an ASDU undecodable; [`Cp56Time2a::to_naive`] is where ranges are checked.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};

/// Seven-octet binary time, IEC 60870-5-4 CP56Time2a.
///
/// Octet layout (IEC 60870-5-101 §7.2.6.18):
/// 1–2 milliseconds 0..=59999 (seconds × 1000 + ms), little endian;
/// 3 bits 0–5 minute, bit 6 RES1 (GEN in edition 2: substituted time), bit 7 IV;
/// 4 bits 0–4 hour, bits 5–6 RES2, bit 7 SU (summer time);
/// 5 bits 0–4 day of month, bits 5–7 day of week (1 = Monday … 7 = Sunday, 0 = not used);
/// 6 bits 0–3 month; 7 bits 0–6 year of the century (0..=99).
///
/// Reserved bits (RES2, octet 6 bits 4–7, octet 7 bit 7) are dropped on decode and sent as 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Cp56Time2a {
    /// Seconds × 1000 + milliseconds (0..=59999 when valid).
    pub millis: u16,
    /// Minute (0..=59 when valid).
    pub minute: u8,
    /// RES1 / GEN bit: the time was substituted (not the genuine acquisition time).
    pub substituted: bool,
    /// IV bit: the time tag is invalid.
    pub invalid: bool,
    /// Hour (0..=23 when valid).
    pub hour: u8,
    /// SU bit: summer time.
    pub summer_time: bool,
    /// Day of month (1..=31 when valid).
    pub day: u8,
    /// Day of week: 1 = Monday … 7 = Sunday, 0 = not used.
    pub weekday: u8,
    /// Month (1..=12 when valid).
    pub month: u8,
    /// Year of the century (0..=99), read as 2000 + year.
    pub year: u8,
}

impl Cp56Time2a {
    /// Encoded size in octets.
    pub const SIZE: usize = 7;

    /// Decodes the seven octets. Out-of-range values are kept as received. Octets 1–3 are a
    /// CP24Time2a (milliseconds, minute, GEN, IV).
    #[inline]
    pub const fn decode(b: &[u8; 7]) -> Cp56Time2a {
        let low = Cp24Time2a::decode(&[b[0], b[1], b[2]]);
        Cp56Time2a {
            millis: low.millis,
            minute: low.minute,
            substituted: low.substituted,
            invalid: low.invalid,
            hour: b[3] & 0x1F,
            summer_time: b[3] & 0x80 != 0,
            day: b[4] & 0x1F,
            weekday: b[4] >> 5,
            month: b[5] & 0x0F,
            year: b[6] & 0x7F,
        }
    }

    /// Encodes to seven octets; each field is masked to its bit width.
    #[inline]
    pub const fn encode(&self) -> [u8; 7] {
        let [o1, o2, o3] = Cp24Time2a {
            millis: self.millis,
            minute: self.minute,
            substituted: self.substituted,
            invalid: self.invalid,
        }
        .encode();
        [
            o1,
            o2,
            o3,
            (self.hour & 0x1F) | if self.summer_time { 0x80 } else { 0 },
            (self.day & 0x1F) | ((self.weekday & 0x07) << 5),
            self.month & 0x0F,
            self.year & 0x7F,
        ]
    }

    /// The time tag of a calendar date and time. The year is taken modulo 100 (the format
    /// only carries the year of the century), the weekday is filled in (1 = Monday), a leap
    /// second is clamped to 59.999 s. IV, SU and GEN are clear.
    pub fn from_naive(t: &NaiveDateTime) -> Cp56Time2a {
        let millis = (t.second() * 1000 + t.nanosecond() / 1_000_000).min(59_999);
        Cp56Time2a {
            millis: millis as u16,
            minute: t.minute() as u8,
            substituted: false,
            invalid: false,
            hour: t.hour() as u8,
            summer_time: false,
            day: t.day() as u8,
            weekday: t.weekday().number_from_monday() as u8,
            month: t.month() as u8,
            year: t.year().rem_euclid(100) as u8,
        }
    }

    /// The time tag of a UTC instant (see [`Cp56Time2a::from_naive`]).
    pub fn from_datetime(t: &DateTime<Utc>) -> Cp56Time2a {
        Cp56Time2a::from_naive(&t.naive_utc())
    }

    /// The calendar date and time, reading year 0..=99 as 2000..=2099, or `None` when a field is
    /// out of range (month 0, 31 February, hour 24, millis ≥ 60000, year ≥ 100, …). The
    /// weekday, IV, SU and GEN bits are not interpreted.
    pub fn to_naive(&self) -> Option<NaiveDateTime> {
        if self.millis >= 60_000 || self.year > 99 {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(
            2000 + i32::from(self.year),
            self.month.into(),
            self.day.into(),
        )?;
        date.and_hms_milli_opt(
            self.hour.into(),
            self.minute.into(),
            u32::from(self.millis / 1000),
            u32::from(self.millis % 1000),
        )
    }

    /// [`Cp56Time2a::to_naive`] as a UTC instant. The SU bit is not applied: IEC 60870-5-104
    /// installations normally send UTC; the flags stay available on `self`.
    pub fn to_utc(&self) -> Option<DateTime<Utc>> {
        self.to_naive().map(|t| t.and_utc())
    }
}

impl From<DateTime<Utc>> for Cp56Time2a {
    fn from(t: DateTime<Utc>) -> Cp56Time2a {
        Cp56Time2a::from_datetime(&t)
    }
}

/// Three-octet binary time, IEC 60870-5-4 CP24Time2a: milliseconds (0..=59999) and minute.
///
/// Octets 1–2 milliseconds little endian; octet 3 bits 0–5 minute, bit 6 RES1/GEN, bit 7 IV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Cp24Time2a {
    /// Seconds × 1000 + milliseconds.
    pub millis: u16,
    /// Minute.
    pub minute: u8,
    /// RES1 / GEN bit: substituted time.
    pub substituted: bool,
    /// IV bit: the time tag is invalid.
    pub invalid: bool,
}

impl Cp24Time2a {
    /// Encoded size in octets.
    pub const SIZE: usize = 3;

    /// Decodes the three octets.
    #[inline]
    pub const fn decode(b: &[u8; 3]) -> Cp24Time2a {
        Cp24Time2a {
            millis: u16::from_le_bytes([b[0], b[1]]),
            minute: b[2] & 0x3F,
            substituted: b[2] & 0x40 != 0,
            invalid: b[2] & 0x80 != 0,
        }
    }

    /// Encodes to three octets.
    #[inline]
    pub const fn encode(&self) -> [u8; 3] {
        let ms = self.millis.to_le_bytes();
        [
            ms[0],
            ms[1],
            (self.minute & 0x3F)
                | if self.substituted { 0x40 } else { 0 }
                | if self.invalid { 0x80 } else { 0 },
        ]
    }
}

impl Cp24Time2a {
    /// The UTC instant closest to `now` whose minute and milliseconds are this tag's: CP24Time2a
    /// only carries those, so the receiver completes date and hour from its own clock (the
    /// hour before or after `now`'s is taken when closer, e.g. a tag of minute 59 received at
    /// 10:00:05 is 09:59). `None` when the minute or milliseconds are out of range.
    pub fn to_utc_near(&self, now: &DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.minute >= 60 || self.millis >= 60_000 {
            return None;
        }
        let hour = now
            .naive_utc()
            .date()
            .and_hms_opt(now.hour(), 0, 0)?
            .and_utc();
        let candidate = hour
            + chrono::Duration::minutes(i64::from(self.minute))
            + chrono::Duration::milliseconds(i64::from(self.millis));
        [
            candidate - chrono::Duration::hours(1),
            candidate,
            candidate + chrono::Duration::hours(1),
        ]
        .into_iter()
        .min_by_key(|c| (*c - *now).num_milliseconds().abs())
    }
}

/// Two-octet binary time, IEC 60870-5-4 CP16Time2a: milliseconds 0..=59999 (elapsed, relay
/// duration or operating time in protection events; delay in C_CD_NA_1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Cp16Time2a {
    /// Milliseconds.
    pub millis: u16,
}

impl Cp16Time2a {
    /// Encoded size in octets.
    pub const SIZE: usize = 2;

    /// Decodes the two octets (little endian).
    #[inline]
    pub const fn decode(b: &[u8; 2]) -> Cp16Time2a {
        Cp16Time2a {
            millis: u16::from_le_bytes(*b),
        }
    }

    /// Encodes to two octets.
    #[inline]
    pub const fn encode(&self) -> [u8; 2] {
        self.millis.to_le_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// 2026-11-24 10:15:30.123 UTC, derived by hand from §7.2.6.18:
    /// ms = 30 s × 1000 + 123 = 30123 = 0x75AB → AB 75; minute 15 = 0x0F; hour 10 = 0x0A;
    /// day 24 = 0x18 with day of week 0 (not used); month 11 = 0x0B; year 26 = 0x1A.
    /// (These are the octets c104/lib60870 sent in the test vectors.)
    const TUESDAY_NO_DOW: [u8; 7] = [0xAB, 0x75, 0x0F, 0x0A, 0x18, 0x0B, 0x1A];

    #[test]
    fn decodes_every_field() {
        let t = Cp56Time2a::decode(&TUESDAY_NO_DOW);
        assert_eq!(t.millis, 30123);
        assert_eq!(t.minute, 15);
        assert_eq!(t.hour, 10);
        assert_eq!(t.day, 24);
        assert_eq!(t.weekday, 0);
        assert_eq!(t.month, 11);
        assert_eq!(t.year, 26);
        assert!(!t.invalid && !t.summer_time && !t.substituted);
        let expected = Utc.with_ymd_and_hms(2026, 11, 24, 10, 15, 30).unwrap()
            + chrono::Duration::milliseconds(123);
        assert_eq!(t.to_utc(), Some(expected));
    }

    #[test]
    fn flag_bits() {
        // Octet 3 = 0x80 | 0x40 | 59 (IV, GEN, minute 59); octet 4 = 0x80 | 23 (SU, hour 23);
        // octet 5 = (7 << 5) | 31 (Sunday, day 31); octet 6 = 12; octet 7 = 99.
        let b = [0x5F, 0xEA, 0xFB, 0x97, 0xFF, 0x0C, 0x63];
        let t = Cp56Time2a::decode(&b);
        assert_eq!(t.millis, 59999);
        assert_eq!(
            (t.minute, t.hour, t.day, t.weekday, t.month, t.year),
            (59, 23, 31, 7, 12, 99)
        );
        assert!(t.invalid && t.substituted && t.summer_time);
        assert_eq!(t.encode(), b);
        // Reserved bits are dropped: RES2 (octet 4 bits 5-6), octet 6 bits 4-7, octet 7 bit 7.
        let noisy = [0x00, 0x00, 0x00, 0x60, 0x01, 0xF1, 0x80];
        let t = Cp56Time2a::decode(&noisy);
        assert_eq!((t.hour, t.month, t.year), (0, 1, 0));
        assert_eq!(t.encode(), [0, 0, 0, 0, 0x01, 0x01, 0x00]);
    }

    #[test]
    fn chrono_conversions() {
        let dt = Utc.with_ymd_and_hms(2026, 11, 24, 10, 15, 30).unwrap()
            + chrono::Duration::milliseconds(123);
        let t = Cp56Time2a::from_datetime(&dt);
        // 2026-11-24 is a Tuesday: day of week 2 → octet 5 = (2 << 5) | 24 = 0x58.
        assert_eq!(t.encode(), [0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A]);
        assert_eq!(t.to_utc(), Some(dt));
        // Out of range fields give None, never a panic.
        for bad in [
            Cp56Time2a { month: 0, ..t },
            Cp56Time2a { month: 13, ..t },
            Cp56Time2a { day: 0, ..t },
            Cp56Time2a {
                day: 31,
                month: 2,
                ..t
            },
            Cp56Time2a { hour: 24, ..t },
            Cp56Time2a { minute: 60, ..t },
            Cp56Time2a { millis: 60000, ..t },
            Cp56Time2a { year: 100, ..t },
        ] {
            assert_eq!(bad.to_naive(), None, "{bad:?}");
        }
        // Year 99 is 2099, 0 is 2000.
        assert_eq!(
            Cp56Time2a { year: 99, ..t }.to_naive().unwrap().year(),
            2099
        );
        assert_eq!(Cp56Time2a { year: 0, ..t }.to_naive().unwrap().year(), 2000);
    }

    #[test]
    fn short_formats() {
        // CP24: 0x1234 = 4660 ms, octet 3 = 0x80 | 0x40 | 0x05.
        let t = Cp24Time2a::decode(&[0x34, 0x12, 0xC5]);
        assert_eq!(
            (t.millis, t.minute, t.invalid, t.substituted),
            (4660, 5, true, true)
        );
        assert_eq!(t.encode(), [0x34, 0x12, 0xC5]);
        assert_eq!(Cp16Time2a::decode(&[0x60, 0xEA]).millis, 60000);
    }

    #[test]
    fn cp24_is_completed_from_the_receiver_clock() {
        let at = |h, m, s, ms| {
            Utc.with_ymd_and_hms(2026, 11, 24, h, m, s).unwrap()
                + chrono::Duration::milliseconds(ms)
        };
        // 15:30.123 received at 10:15:31 → 10:15:30.123.
        let t = Cp24Time2a {
            millis: 30123,
            minute: 15,
            ..Default::default()
        };
        assert_eq!(t.to_utc_near(&at(10, 15, 31, 0)), Some(at(10, 15, 30, 123)));
        // Minute 59 received at 10:00:05 belongs to the previous hour.
        let t = Cp24Time2a {
            millis: 58000,
            minute: 59,
            ..Default::default()
        };
        assert_eq!(t.to_utc_near(&at(10, 0, 5, 0)), Some(at(9, 59, 58, 0)));
        // Across midnight: minute 59 received at 00:00:01 is 23:59 of the day before.
        let t = Cp24Time2a {
            millis: 59999,
            minute: 59,
            ..Default::default()
        };
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 1).unwrap();
        assert_eq!(t.to_utc_near(&now), Some(at(23, 59, 59, 999)));
        // A sender clock slightly ahead: minute 0 received at 09:59:59 is 10:00.
        let t = Cp24Time2a {
            millis: 500,
            minute: 0,
            ..Default::default()
        };
        assert_eq!(t.to_utc_near(&at(9, 59, 59, 0)), Some(at(10, 0, 0, 500)));
        assert_eq!(Cp24Time2a { minute: 60, ..t }.to_utc_near(&now), None);
        assert_eq!(Cp24Time2a { millis: 60000, ..t }.to_utc_near(&now), None);
        assert_eq!(Cp16Time2a { millis: 1 }.encode(), [1, 0]);
    }
}

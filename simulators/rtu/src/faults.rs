//! Fault injection: what can go wrong with a station, when, from a scenario (`[[station.fault]]`)
//! or from `--fault kind=burst,at=5,events=500` (the same keys).

use iec104::asdu::Quality;
use serde::Deserialize;

/// What to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Close every connection of the station.
    DropConnections,
    /// Write nothing for `duration` seconds (for ever without it): no acknowledgement, no
    /// TESTFR con, no I-frame, so the client's t1 expires.
    StopAcknowledging,
    /// Delay every response by `delay_ms` for `duration` seconds (for ever without it).
    DelayResponses,
    /// Send a malformed frame (`octets`, default `68 04 47 00 00 00`: a U-frame asking for
    /// STARTDT and TESTFR at once) to every connection.
    MalformedFrame,
    /// Shut the station down for `down_ms`, then start it again (end of initialization sent).
    Restart,
    /// `events` spontaneous events at once (the avalanche after a grid fault).
    Burst,
    /// A measurement fault: the points of `points` (default every monitored point) report
    /// the quality `flags` (default IV) for `duration` seconds (for ever without it); the
    /// change of quality is reported spontaneously when it begins and when it ends.
    Quality,
    /// A protection trip: start events (`start`, an `M_EP_TE_1` point), the protection
    /// event (`event`, `M_EP_TD_1`, on), after `operate_ms` the output circuit command
    /// (`trip`, `M_EP_TF_1`), after `breaker_ms` more the breaker (`breaker`, a single or
    /// double point) off and the protection event off; each reported once with its own time.
    ProtectionTrip,
}

/// When the fault's clock starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeBase {
    /// When the station starts.
    #[default]
    Start,
    /// When a client first starts data transfer (STARTDT) on the station.
    Startdt,
}

/// One fault to inject.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// What.
    pub kind: FaultKind,
    /// Seconds after `from`.
    pub at: f64,
    /// Repeat every this many seconds.
    #[serde(default)]
    pub every: Option<f64>,
    /// What `at` counts from.
    #[serde(default)]
    pub from: TimeBase,
    /// How long the fault lasts, in seconds (delay_responses, stop_acknowledging).
    #[serde(default)]
    pub duration: Option<f64>,
    /// delay_responses: the delay.
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// restart: how long the station stays down (default 1000).
    #[serde(default)]
    pub down_ms: Option<u64>,
    /// burst: how many events (default 1000).
    #[serde(default)]
    pub events: Option<u32>,
    /// malformed_frame: the octets, in hex (`"68 04 47 00 00 00"`), 1 to 255 of them.
    #[serde(default)]
    pub octets: Option<String>,
    /// quality: the flags, `["IV", "NT"]` (or `"IV+NT"` on the command line); default IV.
    #[serde(default)]
    pub flags: Option<Flags>,
    /// quality: the IOAs affected (default every monitored point).
    #[serde(default)]
    pub points: Option<Vec<u32>>,
    /// protection_trip: IOA of the `M_EP_TE_1` point (start events).
    #[serde(default)]
    pub start: Option<u32>,
    /// protection_trip: IOA of the `M_EP_TD_1` point (protection event).
    #[serde(default)]
    pub event: Option<u32>,
    /// protection_trip: IOA of the `M_EP_TF_1` point (output circuit information).
    #[serde(default)]
    pub trip: Option<u32>,
    /// protection_trip: IOA of the breaker (single or double point) that opens.
    #[serde(default)]
    pub breaker: Option<u32>,
    /// protection_trip: relay operating time, start to trip command (default 40 ms).
    #[serde(default)]
    pub operate_ms: Option<u16>,
    /// protection_trip: trip command to breaker open (default 60 ms).
    #[serde(default)]
    pub breaker_ms: Option<u16>,
}

/// Quality flag names: a list, or one string with `+` or spaces between names.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Flags {
    /// `["IV", "NT"]`.
    List(Vec<String>),
    /// `"IV+NT"`.
    Text(String),
}

impl Flags {
    /// The names, one by one.
    pub fn names(&self) -> Vec<String> {
        match self {
            Flags::List(v) => v.clone(),
            Flags::Text(t) => t
                .split(['+', ' '])
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }
}

/// The default malformed frame: start 0x68, length 4, control field 0x47 0x00 0x00 0x00 — a
/// U-frame (bits 1-2 = 11) with STARTDT act (0x04) and TESTFR act (0x40) both set, which
/// IEC 60870-5-104 §5.3 does not allow (exactly one function per U-frame).
pub const MALFORMED: [u8; 6] = [0x68, 0x04, 0x47, 0x00, 0x00, 0x00];

/// A `--fault` argument that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("bad --fault {given:?}: {message} (expected e.g. kind=burst,at=5,events=500)")]
pub struct FaultArgError {
    given: String,
    message: String,
}

impl FaultSpec {
    /// Reads `kind=burst,at=5,events=500`: comma-separated `key=value` with the keys of a
    /// scenario's `[[station.fault]]`; numbers are numbers, anything else a string.
    pub fn parse_arg(s: &str) -> Result<FaultSpec, FaultArgError> {
        let err = |message: String| FaultArgError {
            given: s.chars().take(100).collect(),
            message,
        };
        let mut table = toml::Table::new();
        for pair in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| err(format!("{pair:?} is not key=value")))?;
            let value = value.trim();
            let value = if let Ok(i) = value.parse::<i64>() {
                toml::Value::Integer(i)
            } else if let Ok(f) = value.parse::<f64>() {
                toml::Value::Float(f)
            } else {
                toml::Value::String(value.to_string())
            };
            table.insert(key.trim().to_string(), value);
        }
        // An integer `at` or `every` is fine too.
        for key in ["at", "every", "duration"] {
            if let Some(toml::Value::Integer(i)) = table.get(key) {
                let f = *i as f64;
                table.insert(key.to_string(), toml::Value::Float(f));
            }
        }
        FaultSpec::deserialize(toml::Value::Table(table)).map_err(|e| err(e.to_string()))
    }

    /// The flags of a `quality` fault; `None` without `flags`, or when a name is not one of
    /// IV, NT, SB, BL, OV, EI (see [`FaultSpec::check`]).
    pub fn quality_flags(&self) -> Option<Quality> {
        let names = self.flags.as_ref()?.names();
        names.iter().try_fold(Quality::GOOD, |q, name| {
            let flag = Quality::from_name(&name.to_ascii_uppercase())
                .filter(|f| ![Quality::CA, Quality::CY].contains(f))?;
            Some(q.union(flag))
        })
    }

    /// The octets of a malformed frame: `octets` or [`MALFORMED`]; `None` when `octets` is
    /// not 1 to 255 hex octets.
    pub fn frame(&self) -> Option<Vec<u8>> {
        let Some(text) = &self.octets else {
            return Some(MALFORMED.to_vec());
        };
        let octets = text
            .split_whitespace()
            .map(|h| u8::from_str_radix(h, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        (1..=255).contains(&octets.len()).then_some(octets)
    }
}

/// A fault's schedule inside a station (seconds since its time base).
#[derive(Debug, Clone)]
pub struct Scheduled {
    /// The fault.
    pub spec: FaultSpec,
    /// When it fires next, in seconds since the station start; `None` until the time base is
    /// known (STARTDT) or after a one-shot fault fired.
    pub due: Option<f64>,
}

impl Scheduled {
    /// Schedules `spec` for a station started at t = 0.
    pub fn new(spec: FaultSpec) -> Scheduled {
        let due = (spec.from == TimeBase::Start).then_some(spec.at);
        Scheduled { spec, due }
    }

    /// A client started data transfer at `t`: faults counted from STARTDT get their time.
    pub fn on_startdt(&mut self, t: f64, first: bool) {
        if first && self.spec.from == TimeBase::Startdt && self.due.is_none() {
            self.due = Some(t + self.spec.at);
        }
    }

    /// Whether it fires at `t`; moves on to the next repetition if so.
    pub fn fire(&mut self, t: f64) -> bool {
        match self.due {
            Some(due) if t >= due => {
                self.due = self
                    .spec
                    .every
                    .filter(|e| *e > 0.0)
                    .map(|every| (due + every).max(t));
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::points::PointTable;

    #[test]
    fn parse_arg_reads_keys_and_refuses_unknown_ones() {
        let f = FaultSpec::parse_arg("kind=burst,at=5,events=500").unwrap();
        assert_eq!(f.kind, FaultKind::Burst);
        assert_eq!(f.at, 5.0);
        assert_eq!(f.events, Some(500));
        let f = FaultSpec::parse_arg("kind=restart,at=0.5,from=startdt,down_ms=200").unwrap();
        assert_eq!(f.from, TimeBase::Startdt);
        assert!(FaultSpec::parse_arg("kind=burst,at=5,colour=red")
            .unwrap_err()
            .to_string()
            .contains("colour"));
        assert!(FaultSpec::parse_arg("kind=explode,at=5").is_err());
        assert!(FaultSpec::parse_arg("burst").is_err());
        let f = FaultSpec::parse_arg("kind=malformed_frame,at=1,octets=AA 01").unwrap();
        assert_eq!(f.frame(), Some(vec![0xAA, 0x01]));
        let f = FaultSpec::parse_arg("kind=malformed_frame,at=1,octets=ZZ").unwrap();
        assert_eq!(f.frame(), None);
    }

    fn table(points: &[(u32, &str)]) -> PointTable {
        let configs: Vec<_> = points
            .iter()
            .map(|(ioa, t)| {
                let mut p = crate::config::generated_points(1).remove(0);
                p.ioa = *ioa;
                p.type_name = t.to_string();
                p
            })
            .collect();
        PointTable::new(&configs).unwrap()
    }

    #[test]
    fn quality_and_protection_faults_are_checked_against_the_points() {
        let t = table(&[
            (1, "M_DP_TB_1"),
            (2, "M_EP_TE_1"),
            (3, "M_EP_TD_1"),
            (4, "M_ME_NC_1"),
        ]);
        let f = FaultSpec::parse_arg("kind=quality,at=1,flags=IV+NT").unwrap();
        assert_eq!(f.quality_flags(), Some(Quality::IV.union(Quality::NT)));
        assert_eq!(f.check(&t), Ok(()));
        let f = FaultSpec::parse_arg("kind=quality,at=1,flags=IV+XX").unwrap();
        assert!(f.check(&t).unwrap_err().contains("flags"));
        let mut f = FaultSpec::parse_arg("kind=quality,at=1").unwrap();
        f.points = Some(vec![4, 9]);
        assert!(f.check(&t).unwrap_err().contains("IOA 9"));
        let f =
            FaultSpec::parse_arg("kind=protection_trip,at=1,start=2,event=3,breaker=1").unwrap();
        assert_eq!(f.check(&t), Ok(()));
        // The start must be packed start events, the breaker a single or double point.
        let f = FaultSpec::parse_arg("kind=protection_trip,at=1,start=3").unwrap();
        assert!(f.check(&t).unwrap_err().contains("start = 3"));
        let f = FaultSpec::parse_arg("kind=protection_trip,at=1,breaker=4").unwrap();
        assert!(f.check(&t).unwrap_err().contains("breaker = 4"));
        let f = FaultSpec::parse_arg("kind=protection_trip,at=1").unwrap();
        assert!(f.check(&t).is_err());
    }

    #[test]
    fn schedule_repeats_and_waits_for_startdt() {
        let mut s =
            Scheduled::new(FaultSpec::parse_arg("kind=drop_connections,at=2,every=3").unwrap());
        assert!(!s.fire(1.9));
        assert!(s.fire(2.0));
        assert!(!s.fire(4.9));
        assert!(s.fire(5.0));
        let mut s = Scheduled::new(FaultSpec::parse_arg("kind=burst,at=1,from=startdt").unwrap());
        assert!(!s.fire(100.0));
        s.on_startdt(10.0, true);
        assert!(!s.fire(10.5));
        assert!(s.fire(11.0));
        assert!(!s.fire(20.0));
    }
}

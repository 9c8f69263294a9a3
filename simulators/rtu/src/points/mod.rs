//! The point table of a station: values, their schedules, and their encoding as information
//! objects.

pub mod behaviour;
pub mod time_tag;

use std::collections::HashMap;

use iec104::asdu::{
    BinaryCounter, Bitstring, DoublePoint, DoubleState, Element, Normalized, OutputCircuit,
    ProtectionEvent, Qdp, Qds, Quality, Scaled, SinglePoint, StartEvents, StatusChange,
    StepPosition,
};
use iec104::time::{Cp16Time2a, Cp24Time2a, Cp56Time2a};
use iec104::type_id::TypeId;

mod fault_check;

use crate::config::PointConfig;
use behaviour::{Behaviour, Rng, ValueKind};

/// What a command point does when executed.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandSpec {
    /// The point it changes, if any.
    pub drives: Option<u32>,
    /// Milliseconds between ActCon and the change (then ActTerm).
    pub delay_ms: u64,
    /// Select required before execute.
    pub sbo: bool,
}

/// One point with its current value.
#[derive(Debug, Clone)]
pub struct Point {
    /// Information object address.
    pub ioa: u32,
    /// Its type (for command points the `_NA_1` or `_TA_1` form configured).
    pub type_id: TypeId,
    /// The current value (see [`ValueKind`] for the encoding of states).
    pub value: f64,
    /// The value last reported spontaneously or periodically.
    pub last_sent: f64,
    /// How the value moves.
    pub behaviour: Behaviour,
    /// Updates per second of its own, if any.
    pub rate: Option<f64>,
    /// Updates due, fractional (for `rate`).
    pub credit: f64,
    /// Smallest reported change.
    pub deadband: f64,
    /// Periodic reporting interval in seconds.
    pub period: Option<f64>,
    /// When the next periodic report is due (seconds since start).
    pub next_periodic: f64,
    /// Interrogation (or counter) group.
    pub group: Option<u8>,
    /// For command points.
    pub command: Option<CommandSpec>,
    /// Counter readings so far (sequence number of integrated totals).
    pub sequence: u8,
    /// Frozen counter value (counter interrogation with freeze).
    pub frozen: Option<f64>,
    /// Quality flags of the scenario (`quality = ["SB"]`): always set.
    pub quality: Quality,
    /// Quality flags of an active `quality` fault (IV, NT, ...); cleared when it ends.
    pub fault_quality: Quality,
    /// The time tag (milliseconds since the epoch) last given to an event of this point: the
    /// next one gets a later one (see [`time_tag`]).
    pub last_tag_ms: Option<i64>,
    /// The point's own random generator (its behaviour's steps), seeded per station and IOA
    /// by [`PointTable::seed`]: a point's value sequence depends on the seed and on how often
    /// it is updated, not on how the updates of all points interleave.
    pub rng: Rng,
    /// Protection events: the CP16Time2a of the next report (elapsed time, relay duration or
    /// relay operating time, in milliseconds).
    pub elapsed_ms: u16,
}

/// Why a point configuration is refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PointError {
    /// Not a type mnemonic.
    #[error("IOA {ioa}: unknown type {name:?}")]
    UnknownType {
        /// The point.
        ioa: u32,
        /// The text given.
        name: String,
    },
    /// A type the simulator cannot serve.
    #[error("IOA {ioa}: type {type_id} is not supported (monitor types 1-16, 20, 21, 30-40; commands 45-51, 58-64)")]
    Unsupported {
        /// The point.
        ioa: u32,
        /// The type.
        type_id: TypeId,
    },
    /// The initial value does not fit the type.
    #[error("IOA {ioa}: bad initial value {value}")]
    BadValue {
        /// The point.
        ioa: u32,
        /// The value (bounded).
        value: String,
    },
    /// Two points with one address.
    #[error("IOA {0} is configured twice")]
    Duplicate(u32),
    /// IOA beyond three octets.
    #[error("IOA {0} does not fit three octets")]
    IoaRange(u32),
    /// A command drives a point that does not exist or is a command.
    #[error("IOA {ioa}: drives IOA {target}, which is not a monitored point of this station")]
    BadTarget {
        /// The command point.
        ioa: u32,
        /// The target.
        target: u32,
    },
    /// A quality flag that is not one of IV, NT, SB, BL, OV, EI.
    #[error("IOA {ioa}: quality flag {flag:?} is not one of IV, NT, SB, BL, OV, EI")]
    BadQuality {
        /// The point.
        ioa: u32,
        /// The text given (bounded).
        flag: String,
    },
    /// A rate, period or deadband that is negative or not finite.
    #[error("IOA {ioa}: {field} must be a finite number >= 0")]
    BadNumber {
        /// The point.
        ioa: u32,
        /// The field.
        field: &'static str,
    },
}

/// Monitor types the simulator serves.
fn monitor_supported(t: TypeId) -> bool {
    matches!(t.as_u8(), 1..=16 | 20 | 21 | 30..=40)
}

/// Command types the simulator serves.
fn command_supported(t: TypeId) -> bool {
    matches!(t.as_u8(), 45..=51 | 58..=64)
}

/// The `_NA_1` form of a command type (58..=64 → 45..=51).
pub fn command_base(t: TypeId) -> u8 {
    match t.as_u8() {
        n @ 58..=64 => n - 13,
        n => n,
    }
}

impl Point {
    /// A point from its configuration.
    pub fn from_config(c: &PointConfig) -> Result<Point, PointError> {
        let type_id = TypeId::from_name(&c.type_name.to_ascii_uppercase()).ok_or_else(|| {
            PointError::UnknownType {
                ioa: c.ioa,
                name: c.type_name.chars().take(32).collect(),
            }
        })?;
        if c.ioa > 0xFF_FFFF {
            return Err(PointError::IoaRange(c.ioa));
        }
        let is_command = command_supported(type_id);
        if !is_command && !monitor_supported(type_id) {
            return Err(PointError::Unsupported {
                ioa: c.ioa,
                type_id,
            });
        }
        for (field, v) in [
            ("rate", c.rate),
            ("period", c.period),
            ("deadband", Some(c.deadband)),
        ] {
            if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
                return Err(PointError::BadNumber { ioa: c.ioa, field });
            }
        }
        let kind = value_kind(type_id);
        let value = match &c.value {
            None => default_value(kind),
            Some(v) => parse_value(v, kind).ok_or_else(|| PointError::BadValue {
                ioa: c.ioa,
                value: v.to_string().chars().take(64).collect(),
            })?,
        };
        Ok(Point {
            ioa: c.ioa,
            type_id,
            value,
            last_sent: value,
            behaviour: if is_command {
                Behaviour::Constant
            } else {
                c.behaviour.clone()
            },
            rate: c.rate.filter(|r| *r > 0.0),
            credit: 0.0,
            deadband: c.deadband,
            period: c.period.filter(|p| *p > 0.0),
            next_periodic: c.period.unwrap_or(0.0),
            group: c.group,
            command: is_command.then_some(CommandSpec {
                drives: c.drives,
                delay_ms: c.delay_ms,
                sbo: c.sbo,
            }),
            sequence: 0,
            frozen: None,
            quality: parse_quality(c.ioa, &c.quality)?,
            fault_quality: Quality::GOOD,
            last_tag_ms: None,
            rng: Rng::new(u64::from(c.ioa)),
            elapsed_ms: 0,
        })
    }

    /// The value kind for behaviours.
    pub fn kind(&self) -> ValueKind {
        value_kind(self.type_id)
    }

    /// Whether this is a command point.
    pub fn is_command(&self) -> bool {
        self.command.is_some()
    }

    /// Whether this is an integrated total (answered by counter interrogation, not by GI).
    pub fn is_counter(&self) -> bool {
        matches!(self.type_id.as_u8(), 15 | 16 | 37)
    }

    /// Whether this is an event of protection equipment (`M_EP_T*`): reported as it
    /// happens, never in an interrogation (IEC 60870-5-101 §7.4.5 lists no protection types).
    pub fn is_protection(&self) -> bool {
        matches!(self.type_id.as_u8(), 17..=19 | 38..=40)
    }

    /// Whether this is a monitored point that reports a state or value (not a command, not a
    /// protection event).
    pub fn is_monitored(&self) -> bool {
        !self.is_command() && !self.is_protection()
    }

    /// The quality flags the point reports now: the scenario's and an active fault's.
    pub fn current_quality(&self) -> Quality {
        self.quality.union(self.fault_quality)
    }

    /// The element of a monitored point with value `v` at `time` (CP24 types take its
    /// minutes and milliseconds); `None` for a command point.
    pub fn element_with(&self, v: f64, time: &Cp56Time2a) -> Option<Element<'static>> {
        let good = self.current_quality();
        let qds = Qds::new(good);
        let qdp = Qdp::new(good);
        let cp16 = Cp16Time2a {
            millis: self.elapsed_ms,
        };
        let cp24 = Cp24Time2a {
            millis: time.millis,
            minute: time.minute,
            substituted: false,
            invalid: false,
        };
        let sp = SinglePoint::new(v != 0.0, good);
        let dp = DoublePoint::new(DoubleState::from_bits(v as u8), good);
        let st = StepPosition::new(v.round().clamp(-64.0, 63.0) as i8, false);
        let bo = Bitstring(wrap_u32(v));
        let nva = Normalized::from_f32(v as f32);
        let sva = Scaled(v.round().clamp(-32768.0, 32767.0) as i16);
        let r32 = v as f32;
        let invalid = good.contains(Quality::IV);
        let bcr = BinaryCounter::new(wrap_u32(v) as i32, self.sequence, false, false, invalid);
        let e = match self.type_id.as_u8() {
            1 => Element::M_SP_NA_1(sp),
            2 => Element::M_SP_TA_1(sp, cp24),
            3 => Element::M_DP_NA_1(dp),
            4 => Element::M_DP_TA_1(dp, cp24),
            5 => Element::M_ST_NA_1(st, qds),
            6 => Element::M_ST_TA_1(st, qds, cp24),
            7 => Element::M_BO_NA_1(bo, qds),
            8 => Element::M_BO_TA_1(bo, qds, cp24),
            9 => Element::M_ME_NA_1(nva, qds),
            10 => Element::M_ME_TA_1(nva, qds, cp24),
            11 => Element::M_ME_NB_1(sva, qds),
            12 => Element::M_ME_TB_1(sva, qds, cp24),
            13 => Element::M_ME_NC_1(r32, qds),
            14 => Element::M_ME_TC_1(r32, qds, cp24),
            15 => Element::M_IT_NA_1(bcr),
            16 => Element::M_IT_TA_1(bcr, cp24),
            20 => Element::M_PS_NA_1(
                StatusChange {
                    status: wrap_u32(v) as u16,
                    change: 0,
                },
                qds,
            ),
            21 => Element::M_ME_ND_1(nva),
            30 => Element::M_SP_TB_1(sp, *time),
            31 => Element::M_DP_TB_1(dp, *time),
            32 => Element::M_ST_TB_1(st, qds, *time),
            33 => Element::M_BO_TB_1(bo, qds, *time),
            34 => Element::M_ME_TD_1(nva, qds, *time),
            35 => Element::M_ME_TE_1(sva, qds, *time),
            36 => Element::M_ME_TF_1(r32, qds, *time),
            37 => Element::M_IT_TB_1(bcr, *time),
            38 => Element::M_EP_TD_1(
                ProtectionEvent::new(DoubleState::from_bits(v as u8), good),
                cp16,
                *time,
            ),
            39 => Element::M_EP_TE_1(StartEvents((wrap_u32(v) & 0x3F) as u8), qdp, cp16, *time),
            40 => Element::M_EP_TF_1(OutputCircuit((wrap_u32(v) & 0x0F) as u8), qdp, cp16, *time),
            _ => return None,
        };
        Some(e)
    }

    /// The element with the current value.
    pub fn element(&self, time: &Cp56Time2a) -> Option<Element<'static>> {
        self.element_with(self.value, time)
    }
}

/// The 32 low bits of an integer-valued number, wrapping.
fn wrap_u32(v: f64) -> u32 {
    if v.is_finite() {
        v.round().rem_euclid(4_294_967_296.0) as u32
    } else {
        0
    }
}

fn value_kind(t: TypeId) -> ValueKind {
    match t.as_u8() {
        1 | 2 | 30 | 45 | 58 => ValueKind::Single,
        3 | 4 | 31 | 38 | 46 | 59 => ValueKind::Double,
        _ => ValueKind::Number,
    }
}

/// The scenario's quality flags of a point (`quality = ["SB", "BL"]`).
fn parse_quality(ioa: u32, names: &[String]) -> Result<Quality, PointError> {
    let mut quality = Quality::GOOD;
    for name in names {
        let flag = Quality::from_name(&name.to_ascii_uppercase())
            .filter(|q| ![Quality::CA, Quality::CY].contains(q))
            .ok_or_else(|| PointError::BadQuality {
                ioa,
                flag: name.chars().take(16).collect(),
            })?;
        quality = quality.union(flag);
    }
    Ok(quality)
}

fn default_value(kind: ValueKind) -> f64 {
    match kind {
        ValueKind::Double => 1.0,
        _ => 0.0,
    }
}

fn parse_value(v: &toml::Value, kind: ValueKind) -> Option<f64> {
    match (v, kind) {
        (toml::Value::Boolean(b), ValueKind::Single) => Some(f64::from(u8::from(*b))),
        (toml::Value::Boolean(b), ValueKind::Double) => Some(if *b { 2.0 } else { 1.0 }),
        (toml::Value::String(s), ValueKind::Single) => match s.to_ascii_lowercase().as_str() {
            "on" => Some(1.0),
            "off" => Some(0.0),
            _ => None,
        },
        (toml::Value::String(s), ValueKind::Double) => match s.to_ascii_lowercase().as_str() {
            "intermediate" => Some(0.0),
            "off" => Some(1.0),
            "on" => Some(2.0),
            "indeterminate" => Some(3.0),
            _ => None,
        },
        (toml::Value::Integer(i), ValueKind::Single) if (0..=1).contains(i) => Some(*i as f64),
        (toml::Value::Integer(i), ValueKind::Double) if (0..=3).contains(i) => Some(*i as f64),
        (toml::Value::Integer(i), ValueKind::Number) => Some(*i as f64),
        (toml::Value::Float(f), ValueKind::Number) if f.is_finite() => Some(*f),
        _ => None,
    }
}

/// The points of one station, by address and in configuration order.
#[derive(Debug, Clone, Default)]
pub struct PointTable {
    /// Points in configuration order.
    pub points: Vec<Point>,
    by_ioa: HashMap<u32, usize>,
    /// Indexes of monitored points that change by themselves and share the station rate.
    pub shared: Vec<usize>,
    /// Indexes of points with a rate of their own.
    pub own_rate: Vec<usize>,
    /// Indexes of points with periodic reporting.
    pub periodic: Vec<usize>,
}

impl PointTable {
    /// A table from configured points; checks addresses and command targets.
    pub fn new(configs: &[PointConfig]) -> Result<PointTable, PointError> {
        let mut table = PointTable::default();
        for c in configs {
            let point = Point::from_config(c)?;
            let index = table.points.len();
            if table.by_ioa.insert(point.ioa, index).is_some() {
                return Err(PointError::Duplicate(point.ioa));
            }
            if !point.is_command() && point.behaviour.is_active() {
                if point.rate.is_some() {
                    table.own_rate.push(index);
                } else {
                    table.shared.push(index);
                }
            }
            if point.period.is_some() && !point.is_command() {
                table.periodic.push(index);
            }
            table.points.push(point);
        }
        for p in &table.points {
            if let Some(CommandSpec {
                drives: Some(target),
                ..
            }) = &p.command
            {
                if !table.get(*target).is_some_and(|t| !t.is_command()) {
                    return Err(PointError::BadTarget {
                        ioa: p.ioa,
                        target: *target,
                    });
                }
            }
        }
        Ok(table)
    }

    /// The point at `ioa`.
    pub fn get(&self, ioa: u32) -> Option<&Point> {
        self.by_ioa.get(&ioa).and_then(|&i| self.points.get(i))
    }

    /// Seeds every point's generator from the station's `seed` and the point's IOA.
    pub fn seed(&mut self, seed: u64) {
        for p in &mut self.points {
            p.rng = Rng::new(seed ^ u64::from(p.ioa).wrapping_mul(0xD1B5_4A32_D192_ED03));
        }
    }

    /// The index of the point at `ioa` in [`PointTable::points`].
    pub fn index(&self, ioa: u32) -> Option<usize> {
        self.by_ioa.get(&ioa).copied()
    }

    /// The point at `ioa`, mutable.
    pub fn get_mut(&mut self, ioa: u32) -> Option<&mut Point> {
        match self.by_ioa.get(&ioa) {
            Some(&i) => self.points.get_mut(i),
            None => None,
        }
    }

    /// Whether some command point accepts commands of `type_id` (either time form).
    pub fn accepts_command_type(&self, type_id: TypeId) -> bool {
        let base = command_base(type_id);
        self.points
            .iter()
            .any(|p| p.is_command() && command_base(p.type_id) == base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::generated_points;

    fn point(ioa: u32, t: &str, value: Option<toml::Value>) -> PointConfig {
        let mut p = generated_points(1).remove(0);
        p.ioa = ioa;
        p.type_name = t.to_string();
        p.value = value;
        p
    }

    #[test]
    fn initial_values_by_kind() {
        let dp = Point::from_config(&point(1, "M_DP_NA_1", Some("on".into()))).unwrap();
        assert_eq!(dp.value, 2.0);
        let sp = Point::from_config(&point(2, "m_sp_tb_1", Some(true.into()))).unwrap();
        assert_eq!(sp.value, 1.0);
        let f =
            Point::from_config(&point(3, "M_ME_TF_1", Some(toml::Value::Float(110.5)))).unwrap();
        assert_eq!(f.value, 110.5);
        assert!(Point::from_config(&point(4, "M_DP_NA_1", Some("maybe".into()))).is_err());
        assert!(matches!(
            Point::from_config(&point(5, "M_EP_TA_1", None)),
            Err(PointError::Unsupported { .. })
        ));
        assert!(matches!(
            Point::from_config(&point(6, "M_XX_NA_1", None)),
            Err(PointError::UnknownType { .. })
        ));
    }

    #[test]
    fn quality_of_the_scenario_and_of_a_fault_is_encoded() {
        let t = Cp56Time2a::default();
        let mut c = point(1, "M_ME_TF_1", Some(toml::Value::Float(1.5)));
        c.quality = vec!["SB".into()];
        let mut p = Point::from_config(&c).unwrap();
        // QDS (IEC 60870-5-101 §7.2.6.3): IV 0x80, NT 0x40, SB 0x20, BL 0x10.
        assert_eq!(p.element(&t), Some(Element::M_ME_TF_1(1.5, Qds(0x20), t)));
        p.fault_quality = Quality::IV.union(Quality::NT);
        assert_eq!(p.element(&t), Some(Element::M_ME_TF_1(1.5, Qds(0xE0), t)));
        let mut c = point(2, "M_DP_NA_1", Some("on".into()));
        c.quality = vec!["bl".into()];
        // DIQ: DPI 2 (on) | BL 0x10.
        let p = Point::from_config(&c).unwrap();
        assert_eq!(
            p.element(&t),
            Some(Element::M_DP_NA_1(DoublePoint::new(
                DoubleState::On,
                Quality::BL
            )))
        );
        assert_eq!(p.element(&t).and_then(|e| e.quality()), Some(Quality::BL));
        c.quality = vec!["CY".into()];
        assert!(matches!(
            Point::from_config(&c),
            Err(PointError::BadQuality { .. })
        ));
    }

    #[test]
    fn protection_points_encode_their_events() {
        let t = Cp56Time2a::default();
        let mut p = Point::from_config(&point(1, "M_EP_TD_1", Some("on".into()))).unwrap();
        p.elapsed_ms = 30;
        assert_eq!(
            p.element(&t),
            Some(Element::M_EP_TD_1(
                ProtectionEvent(0x02),
                Cp16Time2a { millis: 30 },
                t
            ))
        );
        assert!(p.is_protection() && !p.is_monitored());
        let p =
            Point::from_config(&point(2, "M_EP_TE_1", Some(toml::Value::Integer(0x0F)))).unwrap();
        assert_eq!(
            p.element(&t),
            Some(Element::M_EP_TE_1(
                StartEvents(0x0F),
                Qdp(0),
                Cp16Time2a::default(),
                t
            ))
        );
    }

    #[test]
    fn elements_carry_the_value() {
        let t = Cp56Time2a::default();
        let p =
            Point::from_config(&point(1, "M_ST_TB_1", Some(toml::Value::Integer(-70)))).unwrap();
        // VTI clamps to −64..=63.
        assert_eq!(
            p.element(&t),
            Some(Element::M_ST_TB_1(StepPosition::new(-64, false), Qds(0), t))
        );
        let p =
            Point::from_config(&point(2, "M_ME_NB_1", Some(toml::Value::Integer(1234)))).unwrap();
        assert_eq!(
            p.element(&t),
            Some(Element::M_ME_NB_1(Scaled(1234), Qds(0)))
        );
        let p = Point::from_config(&point(3, "C_DC_NA_1", None)).unwrap();
        assert_eq!(p.element(&t), None);
    }

    #[test]
    fn table_checks_duplicates_and_targets() {
        let mut a = point(1, "M_SP_NA_1", None);
        let b = point(1, "M_DP_NA_1", None);
        assert_eq!(
            PointTable::new(&[a.clone(), b]).unwrap_err(),
            PointError::Duplicate(1)
        );
        let mut c = point(2, "C_SC_NA_1", None);
        c.drives = Some(9);
        assert!(matches!(
            PointTable::new(&[a.clone(), c.clone()]),
            Err(PointError::BadTarget { .. })
        ));
        c.drives = Some(1);
        a.behaviour = Behaviour::Toggle;
        let table = PointTable::new(&[a, c]).unwrap();
        assert_eq!(table.shared, vec![0]);
        assert!(table.accepts_command_type(TypeId::C_SC_TA_1));
        assert!(!table.accepts_command_type(TypeId::C_DC_NA_1));
    }
}

//! [`CommandRequest`]: a process command written as JSON (or given on a command line), turned
//! into an [`Element`] with typed errors.

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::asdu::{
    Asdu, AsduError, Bitstring, DoubleCommand, DoubleState, Element, InformationObject, Normalized,
    Qos, Scaled, SingleCommand, StepCommand,
};
use crate::cot::{Cause, Cot};
use crate::time::Cp56Time2a;
use crate::type_id::TypeId;

/// A process command request, e.g.
/// `{"type":"C_DC_NA_1","value":"on","select":true,"id":"op-17"}`.
///
/// | field | meaning |
/// |---|---|
/// | `type` | mnemonic of a command type (C_SC, C_DC, C_RC, C_SE_NA/NB/NC, C_BO, `_NA_1` or `_TA_1`), case-insensitive |
/// | `value` | C_SC: `true`/`false` (or `"on"`/`"off"`, 1/0); C_DC: `"off"`/`"on"`; C_RC: `"lower"`/`"higher"`; C_SE_NA: a number −1.0…1.0; C_SE_NB: an integer −32768…32767; C_SE_NC: a number; C_BO: an integer 0…2³²−1 or a `"0x…"` string |
/// | `select` | select-before-operate wanted (default false); see [`CommandRequest::to_element`] |
/// | `qu` | qualifier of command 0…31 (C_SC/C_DC/C_RC) |
/// | `ql` | qualifier of set-point 0…127 (C_SE) |
/// | `time` | `true` (now) or an RFC 3339 instant: the command carries a CP56Time2a time tag, and an `_NA_1` type is sent as its `_TA_1` form. `_TA_1` types without `time` carry "now" |
/// | `ca`, `ioa`, `id` | optional addressing and correlation, not interpreted here |
///
/// Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct CommandRequest {
    /// Mnemonic of the command type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The commanded value (see the type docs); `null` when absent.
    #[serde(default)]
    pub value: Value,
    /// Select-before-operate wanted.
    #[serde(default)]
    pub select: bool,
    /// Qualifier of command (QU) for C_SC/C_DC/C_RC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qu: Option<i64>,
    /// Qualifier of set-point command (QL) for C_SE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ql: Option<i64>,
    /// `true` or an RFC 3339 instant: send with a CP56Time2a time tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Value>,
    /// Common address, when the request carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<u16>,
    /// Information object address, when the request carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ioa: Option<u32>,
    /// Correlation id chosen by the requester.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// Why a [`CommandRequest`] cannot be turned into a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    /// The type is not a mnemonic of the standard.
    #[error("unknown type {0:?}: expected one of C_SC_NA_1, C_DC_NA_1, C_RC_NA_1, C_SE_NA_1, C_SE_NB_1, C_SE_NC_1, C_BO_NA_1 or their _TA_1 forms")]
    UnknownType(String),
    /// The type exists but is not a process command.
    #[error("{0} is not a process command: expected one of C_SC_NA_1, C_DC_NA_1, C_RC_NA_1, C_SE_NA_1, C_SE_NB_1, C_SE_NC_1, C_BO_NA_1 or their _TA_1 forms")]
    NotACommand(TypeId),
    /// The value has the wrong kind or name.
    #[error("{type_id}: value must be {expected}, got {got}")]
    BadValue {
        /// The command type.
        type_id: TypeId,
        /// What is accepted, e.g. `one of off/on`.
        expected: &'static str,
        /// The value given (JSON, bounded).
        got: String,
    },
    /// The value is a number outside the range of the type.
    #[error("{type_id}: value {got} out of range for {kind} ({range})")]
    OutOfRange {
        /// The command type.
        type_id: TypeId,
        /// `normalized`, `scaled`, `short float`, `bitstring`.
        kind: &'static str,
        /// The accepted range.
        range: &'static str,
        /// The value given (JSON, bounded).
        got: String,
    },
    /// A qualifier outside its range, or given for a type that has none.
    #[error("{type_id}: {name} {got} not allowed ({allowed})")]
    Qualifier {
        /// The command type.
        type_id: TypeId,
        /// `qu` or `ql`.
        name: &'static str,
        /// The value given.
        got: i64,
        /// What is allowed.
        allowed: &'static str,
    },
    /// Select requested for C_BO, which has no S/E bit.
    #[error("{0} has no select/execute bit: select-before-operate is not possible")]
    NoSelect(TypeId),
    /// `time` is neither `true`/`false` nor an RFC 3339 instant.
    #[error("time must be true or an RFC 3339 instant, got {0}")]
    BadTime(String),
    /// The instant cannot be carried by CP56Time2a (years 2000 to 2099).
    #[error("time {0} cannot be sent as CP56Time2a (years 2000..=2099)")]
    TimeOutOfRange(String),
    /// The ASDU cannot be built (e.g. an IOA wider than three octets).
    #[error("cannot build the command ASDU: {0}")]
    Asdu(#[from] AsduError),
}

/// The `_TA_1` form of a command type `_NA_1` (45..=51 → 58..=64).
fn with_time(t: TypeId) -> TypeId {
    match t.as_u8() {
        45..=51 => TypeId::from_u8(t.as_u8() + 13).unwrap_or(t),
        _ => t,
    }
}

/// A bounded rendering of a JSON value for error messages.
fn shown(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 64 {
        let cut = (0..=61).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

impl CommandRequest {
    /// A request of `type_name` and `value` with every other field absent.
    pub fn new(type_name: impl Into<String>, value: Value) -> CommandRequest {
        CommandRequest {
            type_name: type_name.into(),
            value,
            select: false,
            qu: None,
            ql: None,
            time: None,
            ca: None,
            ioa: None,
            id: None,
        }
    }

    /// The type id that will be sent: the mnemonic (case-insensitive), turned into its
    /// `_TA_1` form when `time` is given.
    pub fn type_id(&self) -> Result<TypeId, CommandError> {
        let t = TypeId::from_name(&self.type_name.to_ascii_uppercase())
            .ok_or_else(|| CommandError::UnknownType(self.type_name.clone()))?;
        if !t.is_command() {
            return Err(CommandError::NotACommand(t));
        }
        Ok(if self.time_requested()? {
            with_time(t)
        } else {
            t
        })
    }

    fn time_requested(&self) -> Result<bool, CommandError> {
        match &self.time {
            None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(false),
            Some(Value::Bool(true)) | Some(Value::String(_)) => Ok(true),
            Some(other) => Err(CommandError::BadTime(shown(other))),
        }
    }

    /// The time tag to send: the instant of `time`, or `now`.
    fn time_tag(&self, now: DateTime<Utc>) -> Result<Cp56Time2a, CommandError> {
        let at = match &self.time {
            Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
                .map_err(|_| CommandError::BadTime(shown(&Value::String(s.clone()))))?
                .with_timezone(&Utc),
            _ => now,
        };
        if !(2000..=2099).contains(&at.year()) {
            return Err(CommandError::TimeOutOfRange(at.to_rfc3339()));
        }
        Ok(Cp56Time2a::from_datetime(&at))
    }

    /// The activation ASDU of the command (cause act, IEC 60870-5-104 sizes) to `ca`/`ioa`,
    /// with S/E = `select` (see [`CommandRequest::to_element`]).
    pub fn to_asdu(
        &self,
        ca: u16,
        ioa: u32,
        select: bool,
        now: DateTime<Utc>,
    ) -> Result<Asdu, CommandError> {
        let element = self.to_element(select, now)?;
        let cot = Cot::new(Cause::Activation);
        Ok(Asdu::single(cot, ca, InformationObject::new(ioa, element))?)
    }

    /// The command element with S/E = `select` (the caller runs select-before-operate by
    /// calling this with `true`, then `false`; [`CommandRequest::select`] only says whether
    /// the requester asked for it). `_TA_1` types carry the instant of `time`, or `now`.
    pub fn to_element(
        &self,
        select: bool,
        now: DateTime<Utc>,
    ) -> Result<Element<'static>, CommandError> {
        let t = self.type_id()?;
        let v = &self.value;
        let bad = |expected: &'static str| CommandError::BadValue {
            type_id: t,
            expected,
            got: shown(v),
        };
        let range = |kind: &'static str, range: &'static str| CommandError::OutOfRange {
            type_id: t,
            kind,
            range,
            got: shown(v),
        };
        let base = t.as_u8();
        let (qu, ql) = self.qualifiers(t, select)?;
        let tag = if base >= 58 {
            Some(self.time_tag(now)?)
        } else {
            None
        };
        let qos = Qos::new(ql, select);
        let e = match base {
            45 | 58 => {
                let on = match v {
                    Value::Bool(b) => *b,
                    Value::String(s) if s.eq_ignore_ascii_case("on") => true,
                    Value::String(s) if s.eq_ignore_ascii_case("off") => false,
                    Value::Number(n) if n.as_u64() == Some(1) => true,
                    Value::Number(n) if n.as_u64() == Some(0) => false,
                    _ => return Err(bad("one of true/false (or on/off, 1/0)")),
                };
                let sco = SingleCommand::new(on, qu, select);
                tag.map_or(Element::C_SC_NA_1(sco), |tag| Element::C_SC_TA_1(sco, tag))
            }
            46 | 59 | 47 | 60 => {
                let double = matches!(base, 46 | 59);
                let (off, on, expected) = if double {
                    ("off", "on", "one of off/on")
                } else {
                    ("lower", "higher", "one of lower/higher")
                };
                let state = match v {
                    Value::String(s) if s.eq_ignore_ascii_case(off) => DoubleState::Off,
                    Value::String(s) if s.eq_ignore_ascii_case(on) => DoubleState::On,
                    _ => return Err(bad(expected)),
                };
                match (double, tag) {
                    (true, None) => Element::C_DC_NA_1(DoubleCommand::new(state, qu, select)),
                    (true, Some(tag)) => {
                        Element::C_DC_TA_1(DoubleCommand::new(state, qu, select), tag)
                    }
                    (false, None) => Element::C_RC_NA_1(StepCommand::new(state, qu, select)),
                    (false, Some(tag)) => {
                        Element::C_RC_TA_1(StepCommand::new(state, qu, select), tag)
                    }
                }
            }
            48 | 61 => {
                let x = v.as_f64().ok_or_else(|| bad("a number -1.0..1.0"))?;
                if !(-1.0..=1.0).contains(&x) {
                    return Err(range("normalized", "-1.0..1.0"));
                }
                let n = Normalized::from_f32(x as f32);
                tag.map_or(Element::C_SE_NA_1(n, qos), |tag| {
                    Element::C_SE_TA_1(n, qos, tag)
                })
            }
            49 | 62 => {
                let x = match v {
                    Value::Number(n) => {
                        n.as_i64().ok_or_else(|| bad("an integer -32768..32767"))?
                    }
                    _ => return Err(bad("an integer -32768..32767")),
                };
                let s = Scaled(i16::try_from(x).map_err(|_| range("scaled", "-32768..32767"))?);
                tag.map_or(Element::C_SE_NB_1(s, qos), |tag| {
                    Element::C_SE_TB_1(s, qos, tag)
                })
            }
            50 | 63 => {
                let x = v.as_f64().ok_or_else(|| bad("a number"))?;
                let f = x as f32;
                if !f.is_finite() {
                    return Err(range("short float", "±3.4e38"));
                }
                tag.map_or(Element::C_SE_NC_1(f, qos), |tag| {
                    Element::C_SE_TC_1(f, qos, tag)
                })
            }
            _ => {
                let expected = "an integer 0..4294967295 or a \"0x...\" string";
                let x = match v {
                    Value::Number(n) => n.as_u64().ok_or_else(|| bad(expected))?,
                    Value::String(s) => s
                        .strip_prefix("0x")
                        .or_else(|| s.strip_prefix("0X"))
                        .and_then(|h| u64::from_str_radix(h, 16).ok())
                        .ok_or_else(|| bad(expected))?,
                    _ => return Err(bad(expected)),
                };
                let b =
                    Bitstring(u32::try_from(x).map_err(|_| range("bitstring", "0..4294967295"))?);
                tag.map_or(Element::C_BO_NA_1(b), |tag| Element::C_BO_TA_1(b, tag))
            }
        };
        Ok(e)
    }

    /// QU (C_SC/C_DC/C_RC) or QL (C_SE) as given, or 0; C_BO has neither and no select.
    fn qualifiers(&self, t: TypeId, select: bool) -> Result<(u8, u8), CommandError> {
        let qualifier = |name: &'static str, given: Option<i64>, max: i64, allowed| match given {
            None => Ok(0u8),
            Some(q) if (0..=max).contains(&q) => Ok(q as u8),
            Some(q) => Err(CommandError::Qualifier {
                type_id: t,
                name,
                got: q,
                allowed,
            }),
        };
        let none = |name: &'static str, given: Option<i64>| match given {
            None => Ok(()),
            Some(q) => Err(CommandError::Qualifier {
                type_id: t,
                name,
                got: q,
                allowed: "this type has no such qualifier",
            }),
        };
        match t.as_u8() {
            45..=47 | 58..=60 => {
                none("ql", self.ql)?;
                Ok((qualifier("qu", self.qu, 31, "0..=31")?, 0))
            }
            48..=50 | 61..=63 => {
                none("qu", self.qu)?;
                Ok((0, qualifier("ql", self.ql, 127, "0..=127")?))
            }
            _ => {
                none("qu", self.qu)?;
                none("ql", self.ql)?;
                if select {
                    return Err(CommandError::NoSelect(t));
                }
                Ok((0, 0))
            }
        }
    }
}

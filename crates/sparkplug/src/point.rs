//! IEC 60870-5-104 points as Sparkplug metrics: the kind of a point (from its type id), its
//! value, and the command a writable metric issues.

use iec104::type_id::TypeId;

use crate::datatype::DataType;
use crate::value::Value;

/// Where a point lives on its RTU: common address and information object address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PointAddress {
    /// Common address of the ASDU (station).
    pub ca: u16,
    /// Information object address.
    pub ioa: u32,
}

/// The kind of a monitored point, one per family of monitoring type ids (with and without
/// time tag share a kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PointKind {
    /// M_SP_NA_1, M_SP_TA_1, M_SP_TB_1: Boolean.
    Single,
    /// M_DP_NA_1, M_DP_TA_1, M_DP_TB_1: UInt8 0..=3 (0 intermediate, 1 off, 2 on, 3 faulty).
    Double,
    /// M_ST_NA_1, M_ST_TA_1, M_ST_TB_1: Int8 -64..=63, transient flag as property.
    Step,
    /// M_BO_NA_1, M_BO_TA_1, M_BO_TB_1: UInt32.
    Bitstring,
    /// M_ME_NA_1, M_ME_TA_1, M_ME_TD_1, M_ME_ND_1: Float in -1..1.
    Normalized,
    /// M_ME_NB_1, M_ME_TB_1, M_ME_TE_1: Int16.
    Scaled,
    /// M_ME_NC_1, M_ME_TC_1, M_ME_TF_1: Float.
    Float,
    /// M_IT_NA_1, M_IT_TA_1, M_IT_TB_1: Int32, sequence number as property.
    Counter,
}

impl PointKind {
    /// The kind for a monitoring type id, or `None` for one that is not mapped to a metric.
    pub fn from_type_id(type_id: TypeId) -> Option<PointKind> {
        use TypeId as T;
        Some(match type_id {
            T::M_SP_NA_1 | T::M_SP_TA_1 | T::M_SP_TB_1 => PointKind::Single,
            T::M_DP_NA_1 | T::M_DP_TA_1 | T::M_DP_TB_1 => PointKind::Double,
            T::M_ST_NA_1 | T::M_ST_TA_1 | T::M_ST_TB_1 => PointKind::Step,
            T::M_BO_NA_1 | T::M_BO_TA_1 | T::M_BO_TB_1 => PointKind::Bitstring,
            T::M_ME_NA_1 | T::M_ME_TA_1 | T::M_ME_TD_1 | T::M_ME_ND_1 => PointKind::Normalized,
            T::M_ME_NB_1 | T::M_ME_TB_1 | T::M_ME_TE_1 => PointKind::Scaled,
            T::M_ME_NC_1 | T::M_ME_TC_1 | T::M_ME_TF_1 => PointKind::Float,
            T::M_IT_NA_1 | T::M_IT_TA_1 | T::M_IT_TB_1 => PointKind::Counter,
            _ => return None,
        })
    }

    /// The Sparkplug datatype of the metric.
    pub const fn datatype(self) -> DataType {
        match self {
            PointKind::Single => DataType::Boolean,
            PointKind::Double => DataType::UInt8,
            PointKind::Step => DataType::Int8,
            PointKind::Bitstring => DataType::UInt32,
            PointKind::Normalized | PointKind::Float => DataType::Float,
            PointKind::Scaled => DataType::Int16,
            PointKind::Counter => DataType::Int32,
        }
    }
}

/// The value of a monitored point, as decoded from its information element.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PointValue {
    /// SPI.
    Single(bool),
    /// DPI 0..=3.
    Double(u8),
    /// VTI: value and transient flag.
    Step {
        /// -64..=63.
        value: i8,
        /// The equipment is moving.
        transient: bool,
    },
    /// BSI.
    Bitstring(u32),
    /// NVA as a fraction.
    Normalized(f32),
    /// SVA.
    Scaled(i16),
    /// IEEE STD 754 short float.
    Float(f32),
    /// BCR: counter reading and sequence number.
    Counter {
        /// Counter reading.
        value: i32,
        /// Sequence number 0..=31.
        sequence: u8,
    },
}

impl PointValue {
    /// The kind of point this value belongs to.
    pub const fn kind(&self) -> PointKind {
        match self {
            PointValue::Single(_) => PointKind::Single,
            PointValue::Double(_) => PointKind::Double,
            PointValue::Step { .. } => PointKind::Step,
            PointValue::Bitstring(_) => PointKind::Bitstring,
            PointValue::Normalized(_) => PointKind::Normalized,
            PointValue::Scaled(_) => PointKind::Scaled,
            PointValue::Float(_) => PointKind::Float,
            PointValue::Counter { .. } => PointKind::Counter,
        }
    }

    /// The metric value.
    pub fn metric_value(&self) -> Value {
        match *self {
            PointValue::Single(v) => Value::Boolean(v),
            PointValue::Double(v) => Value::UInt8(v),
            PointValue::Step { value, .. } => Value::Int8(value),
            PointValue::Bitstring(v) => Value::UInt32(v),
            PointValue::Normalized(v) | PointValue::Float(v) => Value::Float(v),
            PointValue::Scaled(v) => Value::Int16(v),
            PointValue::Counter { value, .. } => Value::Int32(value),
        }
    }
}

/// The command a writable metric issues, one per family of command type ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandKind {
    /// C_SC_NA_1 / C_SC_TA_1: Boolean (true = ON).
    Single,
    /// C_DC_NA_1 / C_DC_TA_1: Boolean (false = OFF (DCS 1), true = ON (DCS 2)).
    Double,
    /// C_RC_NA_1 / C_RC_TA_1: Boolean (false = next step lower (RCS 1), true = higher (RCS 2)).
    Regulating,
    /// C_SE_NA_1 / C_SE_TA_1: Float in -1..1.
    Normalized,
    /// C_SE_NB_1 / C_SE_TB_1: Int16.
    Scaled,
    /// C_SE_NC_1 / C_SE_TC_1: Float.
    Float,
    /// C_BO_NA_1 / C_BO_TA_1: UInt32.
    Bitstring,
}

impl CommandKind {
    /// The kind for a command type id, or `None` for a type id that is not a process command.
    pub fn from_type_id(type_id: TypeId) -> Option<CommandKind> {
        use TypeId as T;
        Some(match type_id {
            T::C_SC_NA_1 | T::C_SC_TA_1 => CommandKind::Single,
            T::C_DC_NA_1 | T::C_DC_TA_1 => CommandKind::Double,
            T::C_RC_NA_1 | T::C_RC_TA_1 => CommandKind::Regulating,
            T::C_SE_NA_1 | T::C_SE_TA_1 => CommandKind::Normalized,
            T::C_SE_NB_1 | T::C_SE_TB_1 => CommandKind::Scaled,
            T::C_SE_NC_1 | T::C_SE_TC_1 => CommandKind::Float,
            T::C_BO_NA_1 | T::C_BO_TA_1 => CommandKind::Bitstring,
            _ => return None,
        })
    }

    /// The Sparkplug datatype of the writable metric.
    pub const fn datatype(self) -> DataType {
        match self {
            CommandKind::Single | CommandKind::Double | CommandKind::Regulating => {
                DataType::Boolean
            }
            CommandKind::Normalized | CommandKind::Float => DataType::Float,
            CommandKind::Scaled => DataType::Int16,
            CommandKind::Bitstring => DataType::UInt32,
        }
    }

    /// The command value for a written metric value; `None` when the value has another
    /// datatype or is out of range (a normalized value outside -1..1, a non-finite float).
    pub fn command_value(self, value: &Value) -> Option<CommandValue> {
        Some(match (self, value) {
            (CommandKind::Single, Value::Boolean(v)) => CommandValue::Single(*v),
            (CommandKind::Double, Value::Boolean(v)) => CommandValue::Double(*v),
            (CommandKind::Regulating, Value::Boolean(v)) => CommandValue::Regulating(*v),
            (CommandKind::Normalized, Value::Float(v)) if (-1.0..1.0).contains(v) => {
                CommandValue::Normalized(*v)
            }
            (CommandKind::Scaled, Value::Int16(v)) => CommandValue::Scaled(*v),
            (CommandKind::Float, Value::Float(v)) if v.is_finite() => CommandValue::Float(*v),
            (CommandKind::Bitstring, Value::UInt32(v)) => CommandValue::Bitstring(*v),
            _ => return None,
        })
    }
}

/// The value of a command to issue to the RTU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CommandValue {
    /// SCS: true = ON.
    Single(bool),
    /// DCS: false = OFF (1), true = ON (2).
    Double(bool),
    /// RCS: false = next step lower (1), true = next step higher (2).
    Regulating(bool),
    /// Normalized set-point.
    Normalized(f32),
    /// Scaled set-point.
    Scaled(i16),
    /// Short float set-point.
    Float(f32),
    /// Bitstring.
    Bitstring(u32),
}

impl CommandValue {
    /// The metric value that reports this command's value.
    pub fn metric_value(&self) -> Value {
        match *self {
            CommandValue::Single(v) | CommandValue::Double(v) | CommandValue::Regulating(v) => {
                Value::Boolean(v)
            }
            CommandValue::Normalized(v) | CommandValue::Float(v) => Value::Float(v),
            CommandValue::Scaled(v) => Value::Int16(v),
            CommandValue::Bitstring(v) => Value::UInt32(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_monitoring_family_has_one_datatype() {
        assert_eq!(
            PointKind::from_type_id(TypeId::M_SP_TB_1),
            Some(PointKind::Single)
        );
        assert_eq!(
            PointKind::from_type_id(TypeId::M_ME_ND_1),
            Some(PointKind::Normalized)
        );
        assert_eq!(
            PointKind::from_type_id(TypeId::M_ME_TE_1).map(|k| k.datatype()),
            Some(DataType::Int16)
        );
        assert_eq!(
            PointKind::from_type_id(TypeId::M_IT_TB_1).map(|k| k.datatype()),
            Some(DataType::Int32)
        );
        assert_eq!(PointKind::from_type_id(TypeId::C_SC_NA_1), None);
    }

    #[test]
    fn written_values_become_commands_only_when_they_fit() {
        let k = CommandKind::from_type_id(TypeId::C_SE_NA_1).map(|k| (k, k.datatype()));
        assert_eq!(k, Some((CommandKind::Normalized, DataType::Float)));
        let n = CommandKind::Normalized;
        assert_eq!(
            n.command_value(&Value::Float(0.5)),
            Some(CommandValue::Normalized(0.5))
        );
        assert_eq!(n.command_value(&Value::Float(1.0)), None);
        assert_eq!(
            CommandKind::Float.command_value(&Value::Float(f32::NAN)),
            None
        );
        assert_eq!(CommandKind::Single.command_value(&Value::Int16(1)), None);
        assert_eq!(
            CommandKind::Double.command_value(&Value::Boolean(false)),
            Some(CommandValue::Double(false))
        );
    }
}

//! Sparkplug B datatypes (the `DataType` enum of the .proto) and the choice of datatype for
//! each IEC 60870-5-104 point kind.

/// The Sparkplug B `DataType` numbers this crate writes or reads (Sparkplug 3.0 §6.4.16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum DataType {
    /// Int8 (int_value, two's complement).
    Int8 = 1,
    /// Int16 (int_value, two's complement).
    Int16 = 2,
    /// Int32 (int_value, two's complement).
    Int32 = 3,
    /// Int64 (long_value, two's complement).
    Int64 = 4,
    /// UInt8 (int_value).
    UInt8 = 5,
    /// UInt16 (int_value).
    UInt16 = 6,
    /// UInt32 (int_value).
    UInt32 = 7,
    /// UInt64 (long_value).
    UInt64 = 8,
    /// Float (float_value).
    Float = 9,
    /// Double (double_value).
    Double = 10,
    /// Boolean (boolean_value).
    Boolean = 11,
    /// String (string_value).
    String = 12,
    /// DateTime: milliseconds since the Unix epoch (long_value).
    DateTime = 13,
}

impl DataType {
    /// The number written in `Metric.datatype` / `PropertyValue.type`.
    pub const fn number(self) -> u32 {
        self as u32
    }

    /// The datatype for a number, or `None` for one this crate does not handle.
    pub const fn from_number(n: u32) -> Option<DataType> {
        Some(match n {
            1 => DataType::Int8,
            2 => DataType::Int16,
            3 => DataType::Int32,
            4 => DataType::Int64,
            5 => DataType::UInt8,
            6 => DataType::UInt16,
            7 => DataType::UInt32,
            8 => DataType::UInt64,
            9 => DataType::Float,
            10 => DataType::Double,
            11 => DataType::Boolean,
            12 => DataType::String,
            13 => DataType::DateTime,
            _ => return None,
        })
    }

    /// The specification's name, e.g. `"Int16"`.
    pub const fn name(self) -> &'static str {
        match self {
            DataType::Int8 => "Int8",
            DataType::Int16 => "Int16",
            DataType::Int32 => "Int32",
            DataType::Int64 => "Int64",
            DataType::UInt8 => "UInt8",
            DataType::UInt16 => "UInt16",
            DataType::UInt32 => "UInt32",
            DataType::UInt64 => "UInt64",
            DataType::Float => "Float",
            DataType::Double => "Double",
            DataType::Boolean => "Boolean",
            DataType::String => "String",
            DataType::DateTime => "DateTime",
        }
    }
}

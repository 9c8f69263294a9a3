//! The Sparkplug B payload messages (`sparkplug_b.proto`, Sparkplug 3.0, package
//! `org.eclipse.tahu.protobuf`), written by hand with prost's derive so that no build needs
//! `protoc`. Field names, numbers and wire types are those of the specification's .proto
//! (proto2: every scalar is `optional`). Extension ranges carry no fields and are omitted:
//! unknown fields are skipped on decoding, as protobuf requires.

/// `Payload`: one Sparkplug message body.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Payload {
    /// Milliseconds since the Unix epoch (UTC) at which the message was made.
    #[prost(uint64, optional, tag = "1")]
    pub timestamp: Option<u64>,
    /// The metrics.
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
    /// Sequence number 0..=255 (absent in NDEATH and STATE-less payloads).
    #[prost(uint64, optional, tag = "3")]
    pub seq: Option<u64>,
    /// Schema identifier of `body`.
    #[prost(string, optional, tag = "4")]
    pub uuid: Option<String>,
    /// Opaque body bypassing the metrics.
    #[prost(bytes = "vec", optional, tag = "5")]
    pub body: Option<Vec<u8>>,
}

/// `Payload.Metric`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    /// Metric name (births carry it; data messages may use the alias alone).
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// Alias announced in the birth.
    #[prost(uint64, optional, tag = "2")]
    pub alias: Option<u64>,
    /// Milliseconds since the Unix epoch (UTC) of the value.
    #[prost(uint64, optional, tag = "3")]
    pub timestamp: Option<u64>,
    /// A [`crate::DataType`] number.
    #[prost(uint32, optional, tag = "4")]
    pub datatype: Option<u32>,
    /// The value was buffered and is sent late.
    #[prost(bool, optional, tag = "5")]
    pub is_historical: Option<bool>,
    /// The value must not be stored by the host.
    #[prost(bool, optional, tag = "6")]
    pub is_transient: Option<bool>,
    /// The metric has no value.
    #[prost(bool, optional, tag = "7")]
    pub is_null: Option<bool>,
    /// File/multi-part metadata.
    #[prost(message, optional, tag = "8")]
    pub metadata: Option<MetaData>,
    /// Properties of the metric (quality and the like).
    #[prost(message, optional, tag = "9")]
    pub properties: Option<PropertySet>,
    /// The value.
    #[prost(oneof = "MetricValue", tags = "10, 11, 12, 13, 14, 15, 16, 17, 18, 19")]
    pub value: Option<MetricValue>,
}

/// `Payload.Metric.value` oneof.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum MetricValue {
    /// Int8, Int16, Int32 (two's complement), UInt8, UInt16, UInt32.
    #[prost(uint32, tag = "10")]
    IntValue(u32),
    /// Int64 (two's complement), UInt64, DateTime.
    #[prost(uint64, tag = "11")]
    LongValue(u64),
    /// Float.
    #[prost(float, tag = "12")]
    FloatValue(f32),
    /// Double.
    #[prost(double, tag = "13")]
    DoubleValue(f64),
    /// Boolean.
    #[prost(bool, tag = "14")]
    BooleanValue(bool),
    /// String, Text, UUID.
    #[prost(string, tag = "15")]
    StringValue(String),
    /// Bytes, File.
    #[prost(bytes = "vec", tag = "16")]
    BytesValue(Vec<u8>),
    /// DataSet.
    #[prost(message, tag = "17")]
    DatasetValue(DataSet),
    /// Template.
    #[prost(message, tag = "18")]
    TemplateValue(Template),
    /// Extension (no fields defined).
    #[prost(message, tag = "19")]
    ExtensionValue(Extension),
}

/// An extension message of the .proto: no fields are defined.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Extension {}

/// `Payload.MetaData`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetaData {
    /// Part of a multi-part message.
    #[prost(bool, optional, tag = "1")]
    pub is_multi_part: Option<bool>,
    /// MIME type.
    #[prost(string, optional, tag = "2")]
    pub content_type: Option<String>,
    /// Size in octets.
    #[prost(uint64, optional, tag = "3")]
    pub size: Option<u64>,
    /// Sequence of a multi-part message.
    #[prost(uint64, optional, tag = "4")]
    pub seq: Option<u64>,
    /// File name.
    #[prost(string, optional, tag = "5")]
    pub file_name: Option<String>,
    /// File type.
    #[prost(string, optional, tag = "6")]
    pub file_type: Option<String>,
    /// MD5 of the content.
    #[prost(string, optional, tag = "7")]
    pub md5: Option<String>,
    /// Free text.
    #[prost(string, optional, tag = "8")]
    pub description: Option<String>,
}

/// `Payload.PropertySet`: parallel lists of keys and values.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PropertySet {
    /// Property names.
    #[prost(string, repeated, tag = "1")]
    pub keys: Vec<String>,
    /// Property values, one per key.
    #[prost(message, repeated, tag = "2")]
    pub values: Vec<PropertyValue>,
}

/// `Payload.PropertySetList`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PropertySetList {
    /// The sets.
    #[prost(message, repeated, tag = "1")]
    pub propertyset: Vec<PropertySet>,
}

/// `Payload.PropertyValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PropertyValue {
    /// A [`crate::DataType`] number.
    #[prost(uint32, optional, tag = "1")]
    pub r#type: Option<u32>,
    /// The property has no value.
    #[prost(bool, optional, tag = "2")]
    pub is_null: Option<bool>,
    /// The value.
    #[prost(oneof = "PropertyValueKind", tags = "3, 4, 5, 6, 7, 8, 9, 10, 11")]
    pub value: Option<PropertyValueKind>,
}

/// `Payload.PropertyValue.value` oneof.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum PropertyValueKind {
    /// Int8..Int32, UInt8..UInt32.
    #[prost(uint32, tag = "3")]
    IntValue(u32),
    /// Int64, UInt64, DateTime.
    #[prost(uint64, tag = "4")]
    LongValue(u64),
    /// Float.
    #[prost(float, tag = "5")]
    FloatValue(f32),
    /// Double.
    #[prost(double, tag = "6")]
    DoubleValue(f64),
    /// Boolean.
    #[prost(bool, tag = "7")]
    BooleanValue(bool),
    /// String, Text.
    #[prost(string, tag = "8")]
    StringValue(String),
    /// A nested set.
    #[prost(message, tag = "9")]
    PropertysetValue(PropertySet),
    /// A list of sets.
    #[prost(message, tag = "10")]
    PropertysetsValue(PropertySetList),
    /// Extension (no fields defined).
    #[prost(message, tag = "11")]
    ExtensionValue(Extension),
}

/// `Payload.DataSet`: a table.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DataSet {
    /// Number of columns.
    #[prost(uint64, optional, tag = "1")]
    pub num_of_columns: Option<u64>,
    /// Column names.
    #[prost(string, repeated, tag = "2")]
    pub columns: Vec<String>,
    /// Column datatypes.
    #[prost(uint32, repeated, packed = "false", tag = "3")]
    pub types: Vec<u32>,
    /// Rows.
    #[prost(message, repeated, tag = "4")]
    pub rows: Vec<DataSetRow>,
}

/// `Payload.DataSet.Row`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DataSetRow {
    /// One value per column.
    #[prost(message, repeated, tag = "1")]
    pub elements: Vec<DataSetValue>,
}

/// `Payload.DataSet.DataSetValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DataSetValue {
    /// The value.
    #[prost(oneof = "DataSetValueKind", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub value: Option<DataSetValueKind>,
}

/// `Payload.DataSet.DataSetValue.value` oneof.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum DataSetValueKind {
    /// 32-bit integers.
    #[prost(uint32, tag = "1")]
    IntValue(u32),
    /// 64-bit integers.
    #[prost(uint64, tag = "2")]
    LongValue(u64),
    /// Float.
    #[prost(float, tag = "3")]
    FloatValue(f32),
    /// Double.
    #[prost(double, tag = "4")]
    DoubleValue(f64),
    /// Boolean.
    #[prost(bool, tag = "5")]
    BooleanValue(bool),
    /// String.
    #[prost(string, tag = "6")]
    StringValue(String),
    /// Extension (no fields defined).
    #[prost(message, tag = "7")]
    ExtensionValue(Extension),
}

/// `Payload.Template`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Template {
    /// Template version.
    #[prost(string, optional, tag = "1")]
    pub version: Option<String>,
    /// Member metrics.
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
    /// Parameters.
    #[prost(message, repeated, tag = "3")]
    pub parameters: Vec<TemplateParameter>,
    /// Name of the definition this instance refers to.
    #[prost(string, optional, tag = "4")]
    pub template_ref: Option<String>,
    /// This is a definition, not an instance.
    #[prost(bool, optional, tag = "5")]
    pub is_definition: Option<bool>,
}

/// `Payload.Template.Parameter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TemplateParameter {
    /// Parameter name.
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// A [`crate::DataType`] number.
    #[prost(uint32, optional, tag = "2")]
    pub r#type: Option<u32>,
    /// The value.
    #[prost(oneof = "TemplateParameterValue", tags = "3, 4, 5, 6, 7, 8, 9")]
    pub value: Option<TemplateParameterValue>,
}

/// `Payload.Template.Parameter.value` oneof.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum TemplateParameterValue {
    /// 32-bit integers.
    #[prost(uint32, tag = "3")]
    IntValue(u32),
    /// 64-bit integers.
    #[prost(uint64, tag = "4")]
    LongValue(u64),
    /// Float.
    #[prost(float, tag = "5")]
    FloatValue(f32),
    /// Double.
    #[prost(double, tag = "6")]
    DoubleValue(f64),
    /// Boolean.
    #[prost(bool, tag = "7")]
    BooleanValue(bool),
    /// String.
    #[prost(string, tag = "8")]
    StringValue(String),
    /// Extension (no fields defined).
    #[prost(message, tag = "9")]
    ExtensionValue(Extension),
}

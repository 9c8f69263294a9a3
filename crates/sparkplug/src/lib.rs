//! Sparkplug B 3.0 output for IEC 60870-5-104 points.
//!
//! - [`proto`]: the Sparkplug B payload messages (prost, no `protoc` needed);
//! - [`topic`]: building and parsing `spBv1.0/...` topics;
//! - [`edge`]: the sans-IO edge node state machine of one RTU (births, deaths, `bdSeq`,
//!   `seq`, aliases, primary host STATE, history, rebirth, commands);
//! - [`point`], [`quality`], [`datatype`], [`value`]: how IEC 104 points become metrics;
//! - [`config`]: the `[sparkplug]` configuration table.
//!
//! See `docs/sparkplug.md` for the mapping and the failover design.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod datatype;
pub mod edge;
pub mod element;
pub mod host_state;
pub mod point;
pub mod proto;
pub mod quality;
pub mod session;
pub mod topic;
pub mod value;

pub use config::{ConfigError, SparkplugConfig, SparkplugSettings};
pub use datatype::DataType;
pub use edge::{Action, EdgeNode, EdgeSettings, PointUpdate, Publication};
pub use point::{CommandKind, CommandValue, PointAddress, PointKind, PointValue};
pub use topic::{MessageType, Topic, TopicError};
pub use value::Value;

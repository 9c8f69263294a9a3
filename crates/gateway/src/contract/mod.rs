//! The MQTT contract (docs/gateway.md): every topic the gateway publishes or subscribes to
//! ([`Topics`], parsing command topics into a [`CommandTarget`]) and every JSON payload
//! (data [`DataEncoder`], [`RtuStatus`], [`GatewayPresence`], [`Beat`], [`CommandResult`]) and the audit trail ([`audit`]).

pub mod audit;
pub mod command;
pub mod data;
pub mod status;
pub mod topics;

pub use command::{CommandResult, CommandStatus, ResultDetail, ResultPoint};
pub use data::{DataEncoder, Envelope};
pub use status::{Beat, GatewayPresence, LinkState, PresenceStatus, RtuStatus};
pub use topics::{Address, ClusterTopic, CommandTarget, PointRef, TopicError, Topics, MAX_IOA};

/// `time` in RFC 3339 with milliseconds, UTC (`2026-11-24T10:15:30.123Z`): every time of the
/// contract.
pub fn rfc3339(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Now in [`rfc3339`] form.
pub fn now_rfc3339() -> String {
    rfc3339(chrono::Utc::now())
}

//! Messages between the MQTT side and the rest: what arrives from the broker, what is
//! published without the store.

use bytes::Bytes;

use super::Message;

/// A message received from the broker (a command).
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: Bytes,
    /// MQTT v5 response topic, when the sender gave one.
    pub response_topic: Option<String>,
    /// MQTT v5 correlation data, when the sender gave it.
    pub correlation: Option<Bytes>,
}

/// A message published without storing (a command result), with its MQTT v5 correlation data.
#[derive(Debug, Clone)]
pub struct Direct {
    /// The message.
    pub message: Message,
    /// Correlation data to echo (MQTT v5).
    pub correlation: Option<Bytes>,
}

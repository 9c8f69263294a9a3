//! Messages between the MQTT side and the rest: what arrives from the broker, what is
//! published without the store.

use bytes::Bytes;

use super::Message;

/// The broker's delivery of one QoS 1 publication, acknowledged (PUBACK) only once the
/// message was handled. Until then the broker counts it in flight and, at its limit (MQTT 5
/// Receive Maximum, a 3.1.1 broker's in-flight window), sends no more: back-pressure on the
/// subscription instead of dropped commands.
pub struct Ack(Option<Box<dyn FnOnce() + Send + Sync>>);

impl Ack {
    /// An acknowledgement running `f` once.
    pub fn new(f: impl FnOnce() + Send + Sync + 'static) -> Ack {
        Ack(Some(Box::new(f)))
    }

    /// Nothing to acknowledge (QoS 0, tests).
    pub fn none() -> Ack {
        Ack(None)
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Ack(pending)"
        } else {
            "Ack(done)"
        })
    }
}

/// A message received from the broker (a command).
#[derive(Debug)]
pub struct Incoming {
    /// Topic.
    pub topic: String,
    /// Payload; cut to at most [`Incoming::KEEP`] octets (the router refuses more without
    /// parsing), so an oversized publication holds no memory past its arrival.
    pub payload: Bytes,
    /// Size of the payload as received.
    pub size: usize,
    /// MQTT v5 response topic, when the sender gave one.
    pub response_topic: Option<String>,
    /// MQTT v5 correlation data, when the sender gave it.
    pub correlation: Option<Bytes>,
    /// MQTT v5 user properties `name=value` (who sent it, where the broker or the sender
    /// tells), bounded.
    pub sender: Option<String>,
    /// The RETAIN flag: set when the broker sends a retained message because we just
    /// subscribed (MQTT 3.1.1 3.3.1.3; MQTT 5 without retain-as-published), clear for a
    /// message published while we were subscribed.
    pub retained: bool,
    /// The broker's acknowledgement, given once the message was handled.
    pub ack: Ack,
}

impl Incoming {
    /// Payload octets kept from a publication (commands are at most 4096).
    pub const KEEP: usize = 4097;

    /// Payload octets kept from a cluster coordination message (`{prefix}/_cluster/…`): a
    /// node's full state lists every RTU (about 10 octets each), far over [`Incoming::KEEP`].
    pub const KEEP_CLUSTER: usize = 1 << 20;

    /// A received message; a payload over [`Incoming::KEEP`] octets
    /// ([`Incoming::KEEP_CLUSTER`] on a cluster topic) is cut (copied, so the large buffer is
    /// freed).
    pub fn new(topic: String, payload: &Bytes) -> Incoming {
        let size = payload.len();
        let keep = if topic.split('/').nth(1) == Some("_cluster") {
            Self::KEEP_CLUSTER
        } else {
            Self::KEEP
        };
        let payload = if size > keep {
            Bytes::copy_from_slice(&payload[..keep])
        } else {
            payload.clone()
        };
        Incoming {
            topic,
            payload,
            size,
            response_topic: None,
            correlation: None,
            sender: None,
            retained: false,
            ack: Ack::none(),
        }
    }
}

/// A message published without storing (a command result), with its MQTT v5 correlation data.
#[derive(Debug, Clone)]
pub struct Direct {
    /// The message.
    pub message: Message,
    /// Correlation data to echo (MQTT v5).
    pub correlation: Option<Bytes>,
}

//! What the south hands the north for each received ASDU: its messages and the handle that
//! acknowledges the I-frame to the RTU once they are safe (acknowledged by the broker or on
//! disk). The north never names the IEC 104 client: it only calls [`Release::release`].

use std::fmt;

use super::Message;

/// Acknowledges one received I-frame to its RTU (an S-frame, or the next I-frame's N(R)).
/// Made by the south from its connection and the frame's receive token.
pub struct Release(Box<dyn FnOnce() + Send>);

impl Release {
    /// A handle that runs `ack` once, when released.
    pub fn new(ack: impl FnOnce() + Send + 'static) -> Release {
        Release(Box::new(ack))
    }

    /// Acknowledges the I-frame.
    pub fn release(self) {
        (self.0)()
    }
}

impl fmt::Debug for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Release")
    }
}

/// The messages of one received ASDU and what to release once they are durable.
#[derive(Debug)]
pub struct Batch {
    /// Messages to store (may be empty: the ASDU is still released in order).
    pub messages: Vec<Message>,
    /// Acknowledges the I-frame to the RTU.
    pub release: Option<Release>,
    /// When the ASDU was received (bounds its wait before memory-first gives up on it).
    pub at: std::time::Instant,
}

impl Batch {
    /// The messages of an ASDU received now and the release of its I-frame.
    pub fn new(messages: Vec<Message>, release: Option<Release>) -> Batch {
        Batch {
            messages,
            release,
            at: std::time::Instant::now(),
        }
    }
}

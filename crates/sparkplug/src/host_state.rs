//! The primary host application's STATE message (Sparkplug 3.0 §5.2.1): a retained JSON
//! payload `{"online":true|false,"timestamp":MS}` on `spBv1.0/STATE/{host_id}`.

use serde::Deserialize;

/// A decoded STATE payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct HostState {
    /// The host application is online.
    pub online: bool,
    /// Milliseconds since the Unix epoch at which the host published it.
    pub timestamp: u64,
}

/// A STATE payload that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("STATE payload is not {{\"online\":BOOL,\"timestamp\":MS}}: {0}")]
pub struct HostStateError(#[from] serde_json::Error);

impl HostState {
    /// Reads a STATE payload; other fields a host adds are ignored.
    pub fn decode(payload: &[u8]) -> Result<HostState, HostStateError> {
        Ok(serde_json::from_slice(payload)?)
    }

    /// The payload a host publishes.
    pub fn encode(&self) -> Vec<u8> {
        format!(
            "{{\"online\":{},\"timestamp\":{}}}",
            self.online, self.timestamp
        )
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specification_example_reads() {
        let s = HostState::decode(br#"{"online" : true, "timestamp" : 1668114759262}"#);
        assert_eq!(
            s.ok(),
            Some(HostState {
                online: true,
                timestamp: 1668114759262
            })
        );
    }

    #[test]
    fn malformed_state_is_an_error() {
        for bad in [
            &b"ONLINE"[..],
            br#"{"online":"yes","timestamp":1}"#,
            br#"{"online":true}"#,
            b"",
        ] {
            assert!(HostState::decode(bad).is_err());
        }
    }

    #[test]
    fn encode_reads_back() {
        let s = HostState {
            online: false,
            timestamp: 5,
        };
        assert_eq!(HostState::decode(&s.encode()).ok(), Some(s));
    }
}

//! The retained status of an RTU (`{prefix}/{rtu}/status`, or the standby topic in a cluster)
//! and the presence of a gateway (`{prefix}/_gateway/{node}`, `{prefix}/_cluster/{node}/beat`).

use serde::Serialize;

/// The state of an RTU's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// Connecting (TCP, then STARTDT or STOPDT by role).
    Connecting,
    /// Data transfer started.
    Started,
    /// Connected, data transfer stopped (standby).
    Stopped,
    /// The connection ended; `reason` says why.
    Disconnected,
    /// Cluster mode: no live node reaches the RTU (published by one node; `reason` says so).
    Unowned,
}

impl LinkState {
    /// The lowercase name (also the metrics' state label).
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Connecting => "connecting",
            LinkState::Started => "started",
            LinkState::Stopped => "stopped",
            LinkState::Disconnected => "disconnected",
            LinkState::Unowned => "unowned",
        }
    }
}

/// `{"rtu","node","state","reason","address","since","queue_dropped"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RtuStatus<'a> {
    /// RTU name.
    pub rtu: &'a str,
    /// This gateway node.
    pub node: &'a str,
    /// The state.
    pub state: LinkState,
    /// Why the connection ended (null otherwise).
    pub reason: Option<&'a str>,
    /// The address connected or tried (null when none).
    pub address: Option<&'a str>,
    /// RFC 3339 time of the state change.
    pub since: &'a str,
    /// Messages dropped from the full on-disk queue so far.
    pub queue_dropped: u64,
}

impl RtuStatus<'_> {
    /// How every status topic ends (the board patches retained statuses by it).
    pub const TOPIC_SUFFIX: &'static str = "/status";
    /// The field counting dropped messages (patched into retained statuses when it grows).
    pub const QUEUE_DROPPED: &'static str = "queue_dropped";

    /// The JSON text.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Presence status of a gateway running alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PresenceStatus {
    /// Running.
    Online,
    /// Stopped (last will, or a clean stop).
    Offline,
}

/// `{prefix}/_gateway/{node}`: `{"node","status","since"}` (retained).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GatewayPresence<'a> {
    /// This node.
    pub node: &'a str,
    /// Online or offline.
    pub status: PresenceStatus,
    /// RFC 3339 time of the publication.
    pub since: &'a str,
}

impl GatewayPresence<'_> {
    /// The JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// `{prefix}/_cluster/{node}/beat`: `{"node","incarnation"}` (QoS 0, not retained).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Beat<'a> {
    /// The node.
    pub node: &'a str,
    /// Its process incarnation.
    pub incarnation: &'a str,
    /// The number of its latest announced state (an added field).
    pub seq: u64,
}

impl Beat<'_> {
    /// The JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_json() {
        let s = RtuStatus {
            rtu: "sub1",
            node: "gw1",
            state: LinkState::Disconnected,
            reason: Some("connect to 127.0.0.1:2404: refused"),
            address: Some("127.0.0.1:2404"),
            since: "2026-11-24T10:00:00.000Z",
            queue_dropped: 3,
        };
        assert_eq!(
            String::from_utf8(s.to_json()).unwrap(),
            r#"{"rtu":"sub1","node":"gw1","state":"disconnected","reason":"connect to 127.0.0.1:2404: refused","address":"127.0.0.1:2404","since":"2026-11-24T10:00:00.000Z","queue_dropped":3}"#
        );
        let s = RtuStatus {
            state: LinkState::Connecting,
            reason: None,
            address: None,
            ..s
        };
        assert_eq!(
            String::from_utf8(s.to_json()).unwrap(),
            r#"{"rtu":"sub1","node":"gw1","state":"connecting","reason":null,"address":null,"since":"2026-11-24T10:00:00.000Z","queue_dropped":3}"#
        );
        for (st, text) in [
            (LinkState::Started, "started"),
            (LinkState::Stopped, "stopped"),
            (LinkState::Unowned, "unowned"),
        ] {
            assert_eq!(serde_json::to_string(&st).unwrap(), format!("\"{text}\""));
            assert_eq!(st.as_str(), text);
        }
    }

    #[test]
    fn presence_and_beat_json() {
        let p = GatewayPresence {
            node: "gw1",
            status: PresenceStatus::Online,
            since: "2026-11-24T10:00:00.000Z",
        };
        assert_eq!(
            p.to_json(),
            r#"{"node":"gw1","status":"online","since":"2026-11-24T10:00:00.000Z"}"#
        );
        let p = GatewayPresence {
            status: PresenceStatus::Offline,
            ..p
        };
        assert_eq!(
            p.to_json(),
            r#"{"node":"gw1","status":"offline","since":"2026-11-24T10:00:00.000Z"}"#
        );
        let b = Beat {
            node: "gw1",
            incarnation: "00000000000000ff",
            seq: 7,
        };
        assert_eq!(
            b.to_json(),
            r#"{"node":"gw1","incarnation":"00000000000000ff","seq":7}"#
        );
    }
}

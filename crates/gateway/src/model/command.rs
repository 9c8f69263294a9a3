//! A checked command on its way from the router to an RTU session.

use iec104::json::CommandRequest;

/// A checked command for one RTU session.
#[derive(Debug, Clone)]
pub struct CommandJob {
    /// Common address.
    pub ca: u16,
    /// Information object address.
    pub ioa: u32,
    /// The request (its element was checked to build).
    pub request: CommandRequest,
    /// Where the outcome goes: the MQTT v5 response topic, else `{command topic}/result`.
    pub result_topic: String,
    /// MQTT v5 correlation data to echo in the result.
    pub correlation: Option<bytes::Bytes>,
    /// Why the MQTT 5 response topic was not used (said in every result), if it was refused.
    pub response_topic_refused: Option<String>,
    /// Who sent the command (MQTT 5 user properties), for the audit trail.
    pub sender: Option<String>,
    /// When the command arrived (for the round-trip latency).
    pub received: std::time::Instant,
    /// A command from a Sparkplug DCMD: its outcomes go back to the RTU's edge node (which
    /// reports them in the point's result metric) instead of a JSON result topic.
    pub reply: Option<CommandReply>,
}

/// Where the outcomes of a command written by a Sparkplug host go.
#[derive(Debug, Clone)]
pub struct CommandReply {
    /// The edge node's id of the command.
    pub id: u64,
    /// The input queue of the RTU's edge node.
    pub tap: tokio::sync::mpsc::Sender<iec104_sparkplug::session::Input>,
}

//! What an RTU session is told (its role) and what it reports (to the cluster).

/// What the session should do with its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Data transfer started: data flows and is published.
    Active,
    /// Connected but stopped (STOPDT): ready to take over.
    Standby,
    /// No connection (a started one is stopped with STOPDT, then closed).
    Off,
}

/// What a session reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// Connected (TCP and link up), data transfer not started.
    Connected,
    /// Data transfer started (STARTDT con).
    Started,
    /// Data transfer stopped (STOPDT con).
    Stopped,
    /// The connection ended (closed by the peer, lost, or closed by us).
    Closed,
}

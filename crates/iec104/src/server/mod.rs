//! The controlled station (server): accepts connections, groups them for redundancy and
//! sends the application's events to the started connection of each group.

pub mod group;
pub mod mode;

pub use group::Group;
pub use mode::{RedundancyGroupConfig, RedundancyMode, Selection};

/// Identifies one accepted connection for the life of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

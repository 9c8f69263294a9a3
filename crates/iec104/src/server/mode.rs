//! Redundancy modes: how connections are put into redundancy groups.

use std::net::IpAddr;

/// How the server puts connections into redundancy groups (lib60870's server modes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RedundancyMode {
    /// All connections share one group: one started connection, one event queue
    /// (lib60870's `CS104_MODE_SINGLE_REDUNDANCY_GROUP`).
    #[default]
    SingleGroup,
    /// Several groups chosen by the client's IP address
    /// (lib60870's `CS104_MODE_MULTIPLE_REDUNDANCY_GROUPS`); see [`RedundancyMode::select`].
    Groups(Vec<RedundancyGroupConfig>),
    /// Every connection is its own group: each started connection receives every event
    /// ("multiple active", lib60870's `CS104_MODE_CONNECTION_IS_REDUNDANCY_GROUP`). Events
    /// enqueued while no connection exists are not kept for later connections.
    ConnectionIsGroup,
}

/// One redundancy group of [`RedundancyMode::Groups`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedundancyGroupConfig {
    /// A name for logs and the application.
    pub name: String,
    /// Client addresses that belong to the group. A group without addresses is a catch-all
    /// for clients that match no other group.
    pub addresses: Vec<IpAddr>,
}

impl RedundancyGroupConfig {
    /// A group named `name` for the clients at `addresses` (empty: catch-all).
    pub fn new(name: impl Into<String>, addresses: impl IntoIterator<Item = IpAddr>) -> Self {
        RedundancyGroupConfig {
            name: name.into(),
            addresses: addresses.into_iter().collect(),
        }
    }
}

/// Where [`RedundancyMode::select`] puts a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// The one group of [`RedundancyMode::SingleGroup`] (and of an empty
    /// [`RedundancyMode::Groups`] list).
    Single,
    /// The group at this index of the [`RedundancyMode::Groups`] list.
    Group(usize),
    /// A new group of its own ([`RedundancyMode::ConnectionIsGroup`]).
    Own,
    /// No group accepts the client: the connection is refused.
    Refused,
}

impl RedundancyMode {
    /// The group for a client at `peer`.
    ///
    /// For [`RedundancyMode::Groups`] this follows lib60870 (`getMatchingRedundancyGroup`):
    /// the first group listing `peer` wins; failing that, a group without addresses takes it
    /// (the last such group, as lib60870 scans); failing that, the connection is refused. An
    /// empty list behaves like one catch-all group, as lib60870 creates one when none is
    /// configured. IPv4-mapped IPv6 peers (`::ffff:a.b.c.d`) compare as their IPv4 address.
    pub fn select(&self, peer: IpAddr) -> Selection {
        match self {
            RedundancyMode::SingleGroup => Selection::Single,
            RedundancyMode::ConnectionIsGroup => Selection::Own,
            RedundancyMode::Groups(groups) if groups.is_empty() => Selection::Single,
            RedundancyMode::Groups(groups) => {
                let peer = canonical(peer);
                let mut catch_all = None;
                for (index, group) in groups.iter().enumerate() {
                    if group.addresses.iter().any(|a| canonical(*a) == peer) {
                        return Selection::Group(index);
                    }
                    if group.addresses.is_empty() {
                        catch_all = Some(index);
                    }
                }
                catch_all.map_or(Selection::Refused, Selection::Group)
            }
        }
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn single_and_connection_modes() {
        assert_eq!(
            RedundancyMode::SingleGroup.select(ip("10.0.0.1")),
            Selection::Single
        );
        assert_eq!(
            RedundancyMode::ConnectionIsGroup.select(ip("10.0.0.1")),
            Selection::Own
        );
        assert_eq!(
            RedundancyMode::Groups(vec![]).select(ip("10.0.0.1")),
            Selection::Single
        );
    }

    #[test]
    fn groups_by_address_refuse_strangers_without_catch_all() {
        let mode = RedundancyMode::Groups(vec![
            RedundancyGroupConfig::new("a", [ip("127.0.0.1"), ip("10.0.0.1")]),
            RedundancyGroupConfig::new("b", [ip("127.0.0.2")]),
        ]);
        assert_eq!(mode.select(ip("10.0.0.1")), Selection::Group(0));
        assert_eq!(mode.select(ip("127.0.0.2")), Selection::Group(1));
        assert_eq!(mode.select(ip("::ffff:127.0.0.2")), Selection::Group(1));
        assert_eq!(mode.select(ip("127.0.0.3")), Selection::Refused);
    }

    #[test]
    fn catch_all_takes_only_unmatched_clients() {
        let mode = RedundancyMode::Groups(vec![
            RedundancyGroupConfig::new("any", []),
            RedundancyGroupConfig::new("b", [ip("127.0.0.2")]),
            RedundancyGroupConfig::new("any2", []),
        ]);
        assert_eq!(mode.select(ip("127.0.0.2")), Selection::Group(1));
        // lib60870 keeps the last catch-all it saw.
        assert_eq!(mode.select(ip("127.0.0.3")), Selection::Group(2));
    }
}

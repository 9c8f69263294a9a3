//! The server's shared bookkeeping: groups, connections and the signals between them.
//!
//! One `std::sync::Mutex` guards it; every critical section is short and never awaits.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{mpsc, Notify};

use super::group::Group;
use super::mode::{RedundancyMode, Selection};
use super::{ConnectionId, ConnectionInfo, GroupId, GroupInfo, LocalClose};
use crate::session::lock;

/// Responses waiting for one connection (beyond the link's own queue); `send_to` waits
/// when this is full.
pub(crate) const RESPONSE_QUEUE: usize = 32;

/// Raw octet strings waiting for one connection (fault injection, `send_raw`).
pub(crate) const RAW_QUEUE: usize = 8;

/// A response for one connection.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) asdu: Bytes,
    /// Sent only once every group event numbered below this was handed out
    /// (`ServerHandle::send_to_after_events`).
    pub(crate) after: Option<u64>,
}

/// Signals from the rest of the server to one connection's future.
#[derive(Debug, Default)]
pub(crate) struct ConnSignal {
    /// An event was enqueued for the group this connection is the started one of.
    pub(crate) wake: Notify,
    /// The connection must close; the reason is in `reason`.
    pub(crate) close: Notify,
    reason: Mutex<Option<LocalClose>>,
    /// Fault injection: the connection writes nothing (see `ServerHandle::set_mute`).
    muted: AtomicBool,
    /// `muted` changed.
    pub(crate) control: Notify,
}

impl ConnSignal {
    /// Asks the connection to close (the first reason given wins).
    pub(crate) fn close(&self, why: LocalClose) {
        let mut reason = lock(&self.reason);
        if reason.is_none() {
            *reason = Some(why);
        }
        drop(reason);
        self.close.notify_one();
    }

    /// Whether the connection must write nothing.
    pub(crate) fn muted(&self) -> bool {
        self.muted.load(Ordering::Relaxed)
    }

    /// Mutes or unmutes the connection.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn set_muted(&self, mute: bool) {
        self.muted.store(mute, Ordering::Relaxed);
        self.control.notify_one();
    }

    /// Why the connection was asked to close, if it was.
    pub(crate) fn reason(&self) -> Option<LocalClose> {
        *lock(&self.reason)
    }
}

/// Why a connection was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No redundancy group accepts the client's address.
    NoGroup,
    /// `max_connections` connections are open.
    TooMany,
}

/// What a newly accepted connection needs.
pub(crate) struct Registration {
    pub(crate) id: ConnectionId,
    pub(crate) group: GroupId,
    pub(crate) signal: Arc<ConnSignal>,
    pub(crate) responses: mpsc::Receiver<Response>,
    pub(crate) raw: mpsc::Receiver<Bytes>,
}

struct GroupSlot {
    name: String,
    group: Group,
}

struct ConnSlot {
    peer: SocketAddr,
    group: GroupId,
    started: bool,
    signal: Arc<ConnSignal>,
    responses: mpsc::Sender<Response>,
    /// Fault injection (`ServerHandle::send_raw`, feature `testing`); without the feature
    /// nothing sends on it and the connection's receiver stays idle.
    #[cfg_attr(not(any(test, feature = "testing")), allow(dead_code))]
    raw: mpsc::Sender<Bytes>,
}

struct Inner {
    mode: RedundancyMode,
    queue_size: usize,
    max_connections: usize,
    groups: BTreeMap<GroupId, GroupSlot>,
    conns: BTreeMap<ConnectionId, ConnSlot>,
    next_conn: u64,
    next_group: u64,
}

/// Groups and connections of one server.
pub(crate) struct Registry {
    inner: Mutex<Inner>,
}

impl Registry {
    /// The groups the mode fixes up front are created now.
    pub(crate) fn new(mode: RedundancyMode, queue_size: usize, max_connections: usize) -> Registry {
        let mut groups = BTreeMap::new();
        let mut next_group = 0;
        match &mode {
            RedundancyMode::Groups(list) if !list.is_empty() => {
                for g in list {
                    groups.insert(
                        GroupId(next_group),
                        GroupSlot {
                            name: g.name.clone(),
                            group: Group::new(queue_size),
                        },
                    );
                    next_group += 1;
                }
            }
            RedundancyMode::SingleGroup | RedundancyMode::Groups(_) => {
                groups.insert(
                    GroupId(0),
                    GroupSlot {
                        name: "default".into(),
                        group: Group::new(queue_size),
                    },
                );
                next_group = 1;
            }
            RedundancyMode::ConnectionIsGroup => {}
        }
        Registry {
            inner: Mutex::new(Inner {
                mode,
                queue_size,
                max_connections,
                groups,
                conns: BTreeMap::new(),
                next_conn: 1,
                next_group,
            }),
        }
    }

    /// Accepts a connection from `peer` into its group, or refuses it.
    pub(crate) fn register(&self, peer: SocketAddr) -> Result<Registration, Refusal> {
        let mut inner = lock(&self.inner);
        if inner.conns.len() >= inner.max_connections {
            return Err(Refusal::TooMany);
        }
        let group = match inner.mode.select(peer.ip()) {
            Selection::Single => GroupId(0),
            Selection::Group(index) => GroupId(index as u64),
            Selection::Refused => return Err(Refusal::NoGroup),
            Selection::Own => {
                let id = GroupId(inner.next_group);
                inner.next_group += 1;
                let slot = GroupSlot {
                    name: format!("{peer}"),
                    group: Group::new(inner.queue_size),
                };
                inner.groups.insert(id, slot);
                id
            }
        };
        let id = ConnectionId(inner.next_conn);
        inner.next_conn += 1;
        let signal = Arc::new(ConnSignal::default());
        let (tx, rx) = mpsc::channel(RESPONSE_QUEUE);
        let (raw_tx, raw_rx) = mpsc::channel(RAW_QUEUE);
        inner.conns.insert(
            id,
            ConnSlot {
                peer,
                group,
                started: false,
                signal: signal.clone(),
                responses: tx,
                raw: raw_tx,
            },
        );
        Ok(Registration {
            id,
            group,
            signal,
            responses: rx,
            raw: raw_rx,
        })
    }

    /// Forgets a closed connection; its events in flight go back to its group.
    pub(crate) fn unregister(&self, conn: ConnectionId) {
        let mut inner = lock(&self.inner);
        let Some(slot) = inner.conns.remove(&conn) else {
            return;
        };
        if matches!(inner.mode, RedundancyMode::ConnectionIsGroup) {
            inner.groups.remove(&slot.group);
        } else if let Some(g) = inner.groups.get_mut(&slot.group) {
            g.group.deactivate(conn);
        }
    }

    /// `conn` was started (STARTDT confirmed): it becomes its group's started connection and
    /// the connection started before in the group is asked to close.
    pub(crate) fn activate(&self, conn: ConnectionId) {
        let mut inner = lock(&self.inner);
        let Some(slot) = inner.conns.get_mut(&conn) else {
            return;
        };
        slot.started = true;
        let group = slot.group;
        let previous = inner
            .groups
            .get_mut(&group)
            .and_then(|g| g.group.activate(conn));
        if let Some(previous) = previous {
            if let Some(prev) = inner.conns.get_mut(&previous) {
                prev.started = false;
                prev.signal.close(LocalClose::Superseded);
            }
        }
    }

    /// `conn` was stopped (STOPDT confirmed): its events in flight go back to the group.
    pub(crate) fn deactivate(&self, conn: ConnectionId) {
        let mut inner = lock(&self.inner);
        let Some(slot) = inner.conns.get_mut(&conn) else {
            return;
        };
        slot.started = false;
        let group = slot.group;
        if let Some(g) = inner.groups.get_mut(&group) {
            g.group.deactivate(conn);
        }
    }

    /// The next event for `conn` to send, if it is its group's started connection.
    pub(crate) fn next_event(&self, conn: ConnectionId, group: GroupId) -> Option<Bytes> {
        lock(&self.inner)
            .groups
            .get_mut(&group)?
            .group
            .next_event(conn)
    }

    /// The link refused the event `conn` just took: it goes back to the front of the group's
    /// queue (`requeue`), or is dropped.
    pub(crate) fn unsend(&self, conn: ConnectionId, group: GroupId, requeue: bool) {
        if let Some(g) = lock(&self.inner).groups.get_mut(&group) {
            g.group.unsend(conn, requeue);
        }
    }

    /// The peer of `conn` acknowledged `count` of its events.
    pub(crate) fn acknowledge(&self, conn: ConnectionId, group: GroupId, count: usize) {
        if count == 0 {
            return;
        }
        if let Some(g) = lock(&self.inner).groups.get_mut(&group) {
            g.group.acknowledge(conn, count);
        }
    }

    /// Queues an event in every group and wakes the started connections. Returns how many
    /// groups dropped their oldest event to make room.
    pub(crate) fn enqueue(&self, asdu: &Bytes) -> usize {
        let mut inner = lock(&self.inner);
        let Inner { groups, conns, .. } = &mut *inner;
        let mut dropped = 0;
        for g in groups.values_mut() {
            if g.group.enqueue(asdu.clone()).is_some() {
                dropped += 1;
            }
            if let Some(slot) = g.group.active().and_then(|active| conns.get(&active)) {
                slot.signal.wake.notify_one();
            }
        }
        dropped
    }

    /// The response sender of `conn`, and the number its group's next event will get.
    pub(crate) fn responses(&self, conn: ConnectionId) -> Option<(mpsc::Sender<Response>, u64)> {
        let inner = lock(&self.inner);
        let slot = inner.conns.get(&conn)?;
        let next = inner
            .groups
            .get(&slot.group)
            .map_or(0, |g| g.group.next_number());
        Some((slot.responses.clone(), next))
    }

    /// Whether `group` handed out (or dropped) every event numbered below `number`.
    pub(crate) fn handed_out_before(&self, group: GroupId, number: u64) -> bool {
        lock(&self.inner)
            .groups
            .get(&group)
            .map_or(true, |g| g.group.handed_out_before(number))
    }

    /// The raw octet sender of `conn`.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn raw(&self, conn: ConnectionId) -> Option<mpsc::Sender<Bytes>> {
        lock(&self.inner).conns.get(&conn).map(|c| c.raw.clone())
    }

    /// Mutes or unmutes `conn`; false when it is unknown.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn set_muted(&self, conn: ConnectionId, mute: bool) -> bool {
        match lock(&self.inner).conns.get(&conn) {
            Some(slot) => {
                slot.signal.set_muted(mute);
                true
            }
            None => false,
        }
    }

    /// Asks `conn` to close; false when it is unknown.
    pub(crate) fn close(&self, conn: ConnectionId, why: LocalClose) -> bool {
        match lock(&self.inner).conns.get(&conn) {
            Some(slot) => {
                slot.signal.close(why);
                true
            }
            None => false,
        }
    }

    /// Asks every connection to close.
    pub(crate) fn close_all(&self, why: LocalClose) {
        for slot in lock(&self.inner).conns.values() {
            slot.signal.close(why);
        }
    }

    /// Events dropped by `group`'s full queue; `None` for an unknown group.
    pub(crate) fn dropped_events(&self, group: GroupId) -> Option<u64> {
        lock(&self.inner)
            .groups
            .get(&group)
            .map(|g| g.group.dropped())
    }

    /// A snapshot of the groups.
    pub(crate) fn groups(&self) -> Vec<GroupInfo> {
        lock(&self.inner)
            .groups
            .iter()
            .map(|(id, g)| GroupInfo {
                id: *id,
                name: g.name.clone(),
                active: g.group.active(),
                waiting: g.group.waiting_len(),
                in_flight: g.group.in_flight_len(),
                dropped: g.group.dropped(),
            })
            .collect()
    }

    /// A snapshot of the open connections.
    pub(crate) fn connections(&self) -> Vec<ConnectionInfo> {
        lock(&self.inner)
            .conns
            .iter()
            .map(|(id, c)| ConnectionInfo {
                id: *id,
                peer: c.peer,
                group: c.group,
                started: c.started,
            })
            .collect()
    }
}

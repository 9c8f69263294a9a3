//! The application's handle on a running server.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::Notify;

use super::registry::{Registry, Response};
use super::{ConnectionId, ConnectionInfo, GroupId, GroupInfo, HandleError, LocalClose};
use crate::apci::MAX_ASDU_LEN;

/// A cloneable handle to a running server: enqueue events, answer one connection, close
/// connections, read counters.
#[derive(Clone)]
pub struct ServerHandle {
    pub(crate) registry: Arc<Registry>,
    pub(crate) shutdown: Arc<Notify>,
    pub(crate) local_addr: SocketAddr,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The address the server listens on (the real port after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Queues an event (a spontaneous or periodic ASDU) for every redundancy group; each
    /// group's started connection sends it, or the group keeps it until one starts. Never
    /// waits: a full group queue drops its oldest event. Returns how many groups dropped one
    /// (see [`ServerHandle::dropped_events`]), or an error for an ASDU no I-frame can carry.
    ///
    /// With [`RedundancyMode::ConnectionIsGroup`](super::RedundancyMode::ConnectionIsGroup)
    /// the groups are the open connections: with none open the event goes nowhere, and that
    /// is not counted as a drop.
    pub fn enqueue(&self, asdu: Bytes) -> Result<usize, HandleError> {
        check_length(&asdu)?;
        Ok(self.registry.enqueue(&asdu))
    }

    /// Sends a response (a confirmation, interrogation data, ...) to one connection only;
    /// waits while that connection's queue is full. It is sent once the connection is started
    /// and is never sent to another connection. Responses go ahead of waiting events; see
    /// [`ServerHandle::send_to_after_events`] for one that must not.
    pub async fn send_to(&self, conn: ConnectionId, asdu: Bytes) -> Result<(), HandleError> {
        self.respond(conn, asdu, false).await
    }

    /// As [`ServerHandle::send_to`], but the response goes after every event enqueued so far
    /// for the connection's group: e.g. the ActTerm of a command after the status change the
    /// command caused (enqueued first as a spontaneous event). Responses keep their order
    /// among themselves, so later responses to the connection wait behind it.
    pub async fn send_to_after_events(
        &self,
        conn: ConnectionId,
        asdu: Bytes,
    ) -> Result<(), HandleError> {
        self.respond(conn, asdu, true).await
    }

    async fn respond(
        &self,
        conn: ConnectionId,
        asdu: Bytes,
        after_events: bool,
    ) -> Result<(), HandleError> {
        check_length(&asdu)?;
        let (sender, next_event) = self
            .registry
            .responses(conn)
            .ok_or(HandleError::UnknownConnection(conn))?;
        let after = after_events.then_some(next_event);
        sender
            .send(Response { asdu, after })
            .await
            .map_err(|_| HandleError::Closed(conn))
    }

    /// Fault injection: while muted, the connection writes nothing — no acknowledgement, no
    /// TESTFR or STARTDT/STOPDT con, no I-frame — but goes on reading, so the client's t1
    /// expires. Frames the link produces meanwhile are discarded (the link believes them
    /// sent); events and responses wait and flow again after unmuting. False when the
    /// connection is not open. Only with the cargo feature `testing`.
    #[cfg(any(test, feature = "testing"))]
    pub fn set_mute(&self, conn: ConnectionId, mute: bool) -> bool {
        self.registry.set_muted(conn, mute)
    }

    /// Fault injection: writes `octets` as they are to the connection's socket, after the
    /// frames already written, bypassing the link layer (e.g. a malformed APCI). At most
    /// 255 octets (one maximal APDU); waits while a few are already waiting. Only with the
    /// cargo feature `testing`.
    #[cfg(any(test, feature = "testing"))]
    pub async fn send_raw(&self, conn: ConnectionId, octets: Bytes) -> Result<(), HandleError> {
        if octets.is_empty() || octets.len() > crate::apci::MAX_FRAME_LEN {
            return Err(HandleError::RawLength {
                length: octets.len(),
            });
        }
        let sender = self
            .registry
            .raw(conn)
            .ok_or(HandleError::UnknownConnection(conn))?;
        sender
            .send(octets)
            .await
            .map_err(|_| HandleError::Closed(conn))
    }

    /// Closes one connection; false when it is not open.
    pub fn close(&self, conn: ConnectionId) -> bool {
        self.registry.close(conn, LocalClose::Application)
    }

    /// Closes every connection and ends the server's run future.
    pub fn shutdown(&self) {
        self.registry.close_all(LocalClose::Shutdown);
        self.shutdown.notify_one();
    }

    /// Events `group` dropped because its queue was full; `None` for an unknown group.
    pub fn dropped_events(&self, group: GroupId) -> Option<u64> {
        self.registry.dropped_events(group)
    }

    /// A snapshot of the redundancy groups.
    pub fn groups(&self) -> Vec<GroupInfo> {
        self.registry.groups()
    }

    /// A snapshot of the open connections.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.registry.connections()
    }
}

fn check_length(asdu: &Bytes) -> Result<(), HandleError> {
    if asdu.is_empty() || asdu.len() > MAX_ASDU_LEN {
        return Err(HandleError::BadLength { length: asdu.len() });
    }
    Ok(())
}

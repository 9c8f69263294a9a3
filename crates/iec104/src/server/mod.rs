//! The controlled station (server): accepts connections, puts them into redundancy groups and
//! sends the application's events to the started connection of each group.
//!
//! - **Events** ([`ServerHandle::enqueue`]: spontaneous or periodic data) go to every
//!   redundancy group. In a group only one connection is started at a time; the group keeps
//!   events in a bounded queue while none is, and sends the events its started connection did
//!   not get acknowledged again, in order, on the next one (see [`Group`]).
//! - **Responses** ([`ServerHandle::send_to`]: confirmations, interrogation data) go to one
//!   connection only and are never replayed elsewhere.
//! - **Modes** ([`RedundancyMode`]): one group for all, groups by client address, or one
//!   group per connection (every started connection gets every event).
//! - A STARTDT act on a second connection of a group is confirmed, then the group's previously
//!   started connection is closed ([`CloseReason::Superseded`]).
//! - Bad input or a t1 expiry closes that connection only, with one `warn` log line naming the
//!   error and the offending octets (bounded hex).
//! - For simulators and tests, with the cargo feature `testing`: `ServerHandle::set_mute` (a
//!   connection that stops answering) and `ServerHandle::send_raw` (octets written as they
//!   are, e.g. a malformed frame).
//!
//! The library spawns no task: every connection is a future driven inside the run future
//! returned by [`Server::bind`]. A received ASDU is released to the link once it is in the
//! [`ServerEvents`] queue, so with `link.auto_release` off (the [`ServerConfig`] default) it
//! is acknowledged only then. When the application stops reading that queue, connections stop
//! reading their sockets (TCP back-pressure), so keep draining it.
//!
//! ```no_run
//! use bytes::Bytes;
//! use iec104::asdu::{AsduParams, AsduView};
//! use iec104::cot::Cause;
//! use iec104::server::{Server, ServerConfig, ServerEvent};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let (handle, mut events, run) = Server::bind("0.0.0.0:2404".parse()?, ServerConfig::default()).await?;
//! tokio::spawn(run); // or drive it in a select! of your own
//! // M_SP_NA_1, one object, COT spontaneous, CA 1, IOA 100, SIQ on.
//! handle.enqueue(Bytes::from_static(&[1, 1, 3, 0, 1, 0, 100, 0, 0, 1]))?;
//! while let Some(event) = events.recv().await {
//!     if let ServerEvent::Asdu { conn, asdu } = event {
//!         // Decode the command, act on it, answer: here a positive confirmation (COT 7).
//!         let request = AsduView::parse(&asdu, &AsduParams::IEC104)?;
//!         let answer = request.reply(Cause::ActivationCon, false);
//!         handle.send_to(conn, answer.into_bytes()).await?;
//!     }
//! }
//! # Ok(())
//! # }
//! ```

mod conn;
mod group;
mod handle;
mod mode;
mod registry;
mod run;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::asdu::AsduParams;
use crate::codec::CodecError;
use crate::hex::HexHead;
use crate::link::{ConfigError, LinkConfig, LinkError};

pub use group::Group;
pub use handle::ServerHandle;
pub use mode::{RedundancyGroupConfig, RedundancyMode, Selection};
pub use run::Server;

/// Events waiting for the application; connections wait while this is full.
pub const EVENT_QUEUE: usize = 256;

/// Identifies one accepted connection for the life of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// Identifies one redundancy group: the index in [`RedundancyMode::Groups`], 0 for the single
/// group, or a fresh number per connection for [`RedundancyMode::ConnectionIsGroup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub u64);

/// Configuration of a [`Server`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Link layer parameters (k, w, t0–t3, queue) for every connection. The default turns
    /// `auto_release` off: the server releases each received ASDU once the application's
    /// event queue holds it.
    pub link: LinkConfig,
    /// ASDU field sizes; used to check that received ASDUs hold at least a data unit identifier.
    pub params: AsduParams,
    /// How connections are grouped for redundancy.
    pub mode: RedundancyMode,
    /// Events each group keeps while no connection is started (oldest dropped beyond).
    pub queue_size: usize,
    /// Connections open at once; further ones are refused.
    pub max_connections: usize,
    /// Closes a connection that has not started data transfer (STARTDT) this long after it
    /// was accepted, so idle connections cannot hold every slot. `None` (the default) keeps
    /// them: a redundant standby connection legitimately stays stopped for hours.
    pub start_timeout: Option<Duration>,
}

impl ServerConfig {
    /// Checks the link parameters, the ASDU parameters and that the capacities are at least 1.
    pub fn validate(&self) -> Result<(), ServerError> {
        self.link.validate()?;
        if !self.params.is_valid() {
            return Err(ServerError::Params(self.params));
        }
        if self.queue_size == 0 {
            return Err(ServerError::ZeroCapacity("queue_size"));
        }
        if self.max_connections == 0 {
            return Err(ServerError::ZeroCapacity("max_connections"));
        }
        Ok(())
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            // Released once handed to the application, not on receipt.
            link: LinkConfig {
                auto_release: false,
                ..LinkConfig::default()
            },
            params: AsduParams::IEC104,
            mode: RedundancyMode::SingleGroup,
            queue_size: 1000,
            max_connections: 16,
            start_timeout: None,
        }
    }
}

/// What happens on the server, for the application.
#[derive(Debug)]
pub enum ServerEvent {
    /// A client connected and was put into `group`.
    Connected {
        /// The new connection.
        conn: ConnectionId,
        /// The client's address.
        peer: SocketAddr,
        /// Its redundancy group.
        group: GroupId,
    },
    /// A client's connection was refused (no group for its address, or too many connections).
    Refused {
        /// The client's address.
        peer: SocketAddr,
    },
    /// A client's TLS handshake failed (no certificate, unknown CA, revoked, not allowed...);
    /// it was closed before joining a group.
    #[cfg(feature = "tls")]
    TlsRefused {
        /// The client's address.
        peer: SocketAddr,
        /// What failed; [`crate::tls::TlsError::kind`] names it for metrics.
        error: crate::tls::TlsError,
    },
    /// The client started data transfer (STARTDT confirmed); the connection now receives its
    /// group's events.
    Started {
        /// The connection.
        conn: ConnectionId,
    },
    /// The client stopped data transfer (STOPDT confirmed).
    Stopped {
        /// The connection.
        conn: ConnectionId,
    },
    /// The client sent an ASDU (a command, an interrogation, ...); answer with
    /// [`ServerHandle::send_to`].
    Asdu {
        /// The connection it came on.
        conn: ConnectionId,
        /// The ASDU octets, from the type id on.
        asdu: Bytes,
    },
    /// The connection is closed; the last event of the connection.
    Closed {
        /// The connection.
        conn: ConnectionId,
        /// Why.
        reason: CloseReason,
    },
}

/// Why a connection closed.
#[derive(Debug)]
pub enum CloseReason {
    /// The client closed the TCP connection.
    PeerClosed,
    /// Another connection of the same redundancy group was started.
    Superseded,
    /// The application called [`ServerHandle::close`].
    Application,
    /// The server shut down.
    Shutdown,
    /// The client sent a malformed frame.
    Codec(CodecError),
    /// The client broke the link protocol, or a timer (t1) expired.
    Link {
        /// What went wrong.
        error: LinkError,
        /// The received frame that broke the protocol (bounded); `None` for a timeout.
        frame: Option<HexHead>,
    },
    /// The client sent an I-frame whose ASDU is shorter than a data unit identifier.
    ShortAsdu {
        /// The ASDU octets (bounded).
        bytes: HexHead,
    },
    /// Writing to the client made no progress for t1 (it does not read).
    WriteTimeout,
    /// The client did not start data transfer within [`ServerConfig::start_timeout`].
    NotStarted,
    /// A socket error.
    Io(std::io::Error),
}

/// A close the server itself decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LocalClose {
    Superseded,
    Application,
    Shutdown,
}

impl From<LocalClose> for CloseReason {
    fn from(l: LocalClose) -> Self {
        match l {
            LocalClose::Superseded => CloseReason::Superseded,
            LocalClose::Application => CloseReason::Application,
            LocalClose::Shutdown => CloseReason::Shutdown,
        }
    }
}

/// A snapshot of one open connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The connection.
    pub id: ConnectionId,
    /// The client's address.
    pub peer: SocketAddr,
    /// Its redundancy group.
    pub group: GroupId,
    /// Whether it is its group's started connection.
    pub started: bool,
}

/// A snapshot of one redundancy group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// The group.
    pub id: GroupId,
    /// Its configured name ("default" for the single group, the peer for a per-connection one).
    pub name: String,
    /// Its started connection.
    pub active: Option<ConnectionId>,
    /// Events waiting for a started connection.
    pub waiting: usize,
    /// Events sent and not yet acknowledged.
    pub in_flight: usize,
    /// Events dropped because the queue was full.
    pub dropped: u64,
}

/// Errors of [`ServerHandle::send_to`] and [`ServerHandle::enqueue`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HandleError {
    /// The ASDU is empty or longer than an I-frame can carry (249 octets).
    #[error("ASDU of {length} octets cannot be sent (allowed 1..=249)")]
    BadLength {
        /// Its length.
        length: usize,
    },
    /// Raw octets for `ServerHandle::send_raw` (feature `testing`) are empty or longer than 255.
    #[error("{length} raw octets cannot be sent (allowed 1..=255)")]
    RawLength {
        /// Their length.
        length: usize,
    },
    /// No such connection is open.
    #[error("{0} is not open")]
    UnknownConnection(ConnectionId),
    /// The connection closed before the response could be queued.
    #[error("{0} closed")]
    Closed(ConnectionId),
}

/// Errors of the server itself (not of one connection).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The link configuration is invalid.
    #[error("invalid link configuration: {0}")]
    Config(#[from] ConfigError),
    /// The ASDU parameters are invalid.
    #[error("invalid ASDU parameters: {0:?}")]
    Params(AsduParams),
    /// A capacity (`queue_size`, `max_connections`) is zero.
    #[error("{0} must be at least 1")]
    ZeroCapacity(&'static str),
    /// Binding the listening socket failed.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// The application's stream of [`ServerEvent`]s.
#[derive(Debug)]
pub struct ServerEvents {
    pub(crate) rx: mpsc::Receiver<ServerEvent>,
}

impl ServerEvents {
    /// The next event; `None` once the server's run future is gone.
    pub async fn recv(&mut self) -> Option<ServerEvent> {
        self.rx.recv().await
    }

    /// The next event if one is ready.
    pub fn try_recv(&mut self) -> Option<ServerEvent> {
        self.rx.try_recv().ok()
    }
}

#[cfg(test)]
mod tests;

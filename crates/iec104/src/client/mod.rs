//! Async client (controlling station) over the [`link`](crate::link) state machine.
//!
//! [`connect`] returns three parts: a cloneable [`Client`] handle for commands, a
//! [`ClientEvents`] receiver, and a [`Connection`] future that does all the work (socket,
//! link, timers). The library spawns nothing: the caller awaits or spawns the `Connection`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), iec104::client::ClientError> {
//! use iec104::client::{connect, ClientConfig, ClientEvent};
//! let (client, mut events, connection) = connect("127.0.0.1:2404", ClientConfig::default()).await?;
//! tokio::spawn(connection);
//! client.start_dt().await?;
//! while let Some(event) = events.recv().await {
//!     if let ClientEvent::Closed { reason } = event {
//!         println!("closed: {reason:?}");
//!     }
//! }
//! # Ok(()) }
//! ```

mod connection;
#[cfg(test)]
mod tests;
#[cfg(feature = "tls")]
mod tls;

#[cfg(feature = "tls")]
pub use tls::connect_tls;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::apci::FrameError;
use crate::hex::HexHead;
use crate::link::{ConfigError, Link, LinkConfig, LinkError, ReceiveToken, Role};

/// Parameters of a client connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Link layer parameters (k, w, t0–t3, send queue, auto release).
    pub link: LinkConfig,
    /// Capacity of the event channel; when the application does not keep up, the connection
    /// stops reading the socket (TCP back-pressure) but keeps its timers running.
    pub event_capacity: usize,
    /// Capacity of the channel of ASDUs waiting to enter the link's send queue.
    pub send_capacity: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            link: LinkConfig::default(),
            event_capacity: 256,
            send_capacity: 16,
        }
    }
}

impl ClientConfig {
    /// Checks the link parameters and that both capacities are at least 1.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.link.validate()?;
        if self.event_capacity == 0 {
            return Err(ConfigError::ZeroCapacity("event_capacity"));
        }
        if self.send_capacity == 0 {
            return Err(ConfigError::ZeroCapacity("send_capacity"));
        }
        Ok(())
    }
}

/// Why a client call or the connection failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The TCP connection was not established within t0.
    #[error("connection not established within t0 = {0:?}")]
    ConnectTimeout(Duration),
    /// Socket error.
    #[error("io: {0}")]
    Io(Arc<std::io::Error>),
    /// The peer sent octets that are not a valid APDU.
    #[error("bad frame from peer: {error}; octets: {bytes}")]
    Frame {
        /// What is wrong.
        error: FrameError,
        /// The offending octets (bounded).
        bytes: HexHead,
    },
    /// Link layer protocol violation or timeout; `bytes` holds the offending APDU if any.
    #[error("link: {error}{}", .bytes.as_ref().map(|b| format!("; octets: {b}")).unwrap_or_default())]
    Link {
        /// What happened.
        error: LinkError,
        /// The APDU that caused it (none for timeouts).
        bytes: Option<HexHead>,
    },
    /// Writing to the socket did not progress for t1.
    #[error("write blocked for t1 = {0:?}")]
    WriteTimeout(Duration),
    /// The peer closed the TCP connection.
    #[error("connection closed by peer")]
    PeerClosed,
    /// Invalid configuration.
    #[error("config: {0}")]
    Config(#[from] ConfigError),
    /// `send` while data transfer is not started.
    #[error("data transfer not started")]
    NotStarted,
    /// `send` of an empty ASDU or one longer than 249 octets.
    #[error("ASDU of {0} octets cannot be sent (allowed 1..=249)")]
    AsduLength(usize),
    /// The connection is closed (the call could not be carried out).
    #[error("connection closed")]
    Closed,
    /// The TLS handshake failed or the TLS session ended (see `TlsError::kind`).
    #[cfg(feature = "tls")]
    #[error("TLS: {0}")]
    Tls(crate::tls::TlsError),
}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        #[cfg(feature = "tls")]
        if crate::tls::TlsError::is_tls_io(&e) {
            return ClientError::Tls(crate::tls::TlsError::from_io(&e));
        }
        ClientError::Io(Arc::new(e))
    }
}

/// Why the connection ended (in [`ClientEvent::Closed`]).
#[derive(Debug, Clone)]
pub enum CloseReason {
    /// [`Client::close`] was called.
    Requested,
    /// The connection failed; the [`Connection`] future returned this error.
    Error(ClientError),
    /// The [`Connection`] future was dropped before it finished.
    Aborted,
}

/// What the connection reports to the application.
#[derive(Debug, Clone)]
pub enum ClientEvent {
    /// Data transfer started (STARTDT con received).
    Started,
    /// Data transfer stopped (STOPDT con received).
    Stopped,
    /// An ASDU from the controlled station. Without auto release, pass `token` to
    /// [`Client::release`] once it is processed.
    Asdu {
        /// The ASDU octets.
        asdu: Bytes,
        /// Identifies the frame for [`Client::release`].
        token: ReceiveToken,
    },
    /// The connection ended; always the last event.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

enum Command {
    Start(oneshot::Sender<Result<(), ClientError>>),
    Stop(oneshot::Sender<Result<(), ClientError>>),
}

type SendRequest = (Bytes, oneshot::Sender<Result<(), ClientError>>);

/// State shared between the handles and the connection, bounded by construction.
struct Shared {
    /// Newest release request (releases are cumulative).
    release: Mutex<Option<ReceiveToken>>,
    close: AtomicBool,
    notify: Notify,
    reason: Mutex<Option<CloseReason>>,
}

use crate::session::lock;

/// Cloneable handle to send commands to a client connection.
#[derive(Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    sends: mpsc::Sender<SendRequest>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

/// Receiver of [`ClientEvent`]s; ends with exactly one [`ClientEvent::Closed`].
pub struct ClientEvents {
    rx: mpsc::Receiver<ClientEvent>,
    shared: Arc<Shared>,
    done: bool,
}

impl std::fmt::Debug for ClientEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientEvents")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// The future that runs a client connection; await it or spawn it. Resolves to `Ok(())` after
/// [`Client::close`], otherwise to the error that ended the connection. It keeps running when
/// every [`Client`] handle is dropped (events still flow); close it with [`Client::close`] or by
/// dropping it.
#[must_use = "the connection does nothing unless awaited or spawned"]
pub struct Connection {
    fut: Pin<Box<dyn Future<Output = Result<(), ClientError>> + Send>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

impl Future for Connection {
    type Output = Result<(), ClientError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.fut.as_mut().poll(cx)
    }
}

/// Connects over TCP within t0 and sets up a client on the stream (see [`Client::from_stream`]).
pub async fn connect(
    addr: impl ToSocketAddrs,
    config: ClientConfig,
) -> Result<(Client, ClientEvents, Connection), ClientError> {
    config.validate()?;
    let t0 = config.link.t0;
    let stream = tokio::time::timeout(t0, TcpStream::connect(addr))
        .await
        .map_err(|_| ClientError::ConnectTimeout(t0))??;
    stream.set_nodelay(true)?;
    Client::from_stream(stream, config)
}

impl Client {
    /// Sets up a client on an already connected stream (TCP, TLS, an in-memory duplex...).
    pub fn from_stream<S>(
        io: S,
        config: ClientConfig,
    ) -> Result<(Client, ClientEvents, Connection), ClientError>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        config.validate()?;
        let now = tokio::time::Instant::now().into_std();
        let link = Link::new(Role::Controlling, config.link.clone(), now)?;
        let (cmd_tx, cmd_rx) = mpsc::channel(8);
        let (send_tx, send_rx) = mpsc::channel(config.send_capacity);
        let (ev_tx, ev_rx) = mpsc::channel(config.event_capacity);
        let shared = Arc::new(Shared {
            release: Mutex::new(None),
            close: AtomicBool::new(false),
            notify: Notify::new(),
            reason: Mutex::new(None),
        });
        let parts = connection::Parts {
            link,
            commands: cmd_rx,
            sends: send_rx,
            events: ev_tx,
            shared: shared.clone(),
        };
        let client = Client {
            commands: cmd_tx,
            sends: send_tx,
            shared: shared.clone(),
        };
        let events = ClientEvents {
            rx: ev_rx,
            shared,
            done: false,
        };
        let fut = Box::pin(connection::run(io, parts));
        Ok((client, events, Connection { fut }))
    }

    async fn command(
        &self,
        make: fn(oneshot::Sender<Result<(), ClientError>>) -> Command,
    ) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| ClientError::Closed)?;
        rx.await.map_err(|_| ClientError::Closed)?
    }

    /// Sends STARTDT act; resolves when STARTDT con arrives (or with the error that closed the
    /// connection, e.g. t1).
    pub async fn start_dt(&self) -> Result<(), ClientError> {
        self.command(Command::Start).await
    }

    /// Sends STOPDT act; resolves when STOPDT con arrives.
    pub async fn stop_dt(&self) -> Result<(), ClientError> {
        self.command(Command::Stop).await
    }

    /// Queues an ASDU for transmission; waits while the link's send queue is full
    /// (back-pressure). Resolves once the link accepted it (not when acknowledged).
    pub async fn send(&self, asdu: Bytes) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        self.sends
            .send((asdu, tx))
            .await
            .map_err(|_| ClientError::Closed)?;
        rx.await.map_err(|_| ClientError::Closed)?
    }

    /// Releases every received ASDU up to and including `token` for acknowledgement (only
    /// needed without auto release). Release in receipt order: a newer call replaces an older
    /// one not yet picked up.
    pub fn release(&self, token: ReceiveToken) {
        *lock(&self.shared.release) = Some(token);
        self.shared.notify.notify_one();
    }

    /// Closes the connection: the [`Connection`] future resolves to `Ok(())`.
    pub fn close(&self) {
        self.shared.close.store(true, Ordering::SeqCst);
        self.shared.notify.notify_one();
    }
}

impl ClientEvents {
    /// The next event; `None` after [`ClientEvent::Closed`] was returned.
    pub async fn recv(&mut self) -> Option<ClientEvent> {
        if self.done {
            return None;
        }
        match self.rx.recv().await {
            Some(event) => Some(event),
            None => {
                self.done = true;
                let reason = lock(&self.shared.reason)
                    .take()
                    .unwrap_or(CloseReason::Aborted);
                Some(ClientEvent::Closed { reason })
            }
        }
    }
}

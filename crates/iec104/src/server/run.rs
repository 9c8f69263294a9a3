//! Binding the listener and the run future that accepts and drives every connection.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

use super::registry::{Refusal, Registry};
use super::{
    conn, LocalClose, ServerConfig, ServerError, ServerEvent, ServerEvents, ServerHandle,
    EVENT_QUEUE,
};
use crate::transport::Transport;

/// How long accepting pauses after an accept error (typically: out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The controlled station. See the [module documentation](super).
#[derive(Debug)]
pub struct Server;

impl Server {
    /// Binds `addr` (port 0 picks a free port, see [`ServerHandle::local_addr`]) and returns
    /// the handle, the event stream and the run future. Nothing happens until the caller
    /// drives the run future (awaits it or spawns it); dropping it closes every connection.
    /// It ends with `Ok(())` after [`ServerHandle::shutdown`].
    pub async fn bind(
        addr: SocketAddr,
        config: ServerConfig,
    ) -> Result<
        (
            ServerHandle,
            ServerEvents,
            impl Future<Output = Result<(), ServerError>>,
        ),
        ServerError,
    > {
        Server::bind_with(addr, config, Tls::None).await
    }

    /// Like [`Server::bind`], but every connection is a TLS session (IEC 62351-3): the
    /// handshake runs within t0 before the connection joins a group; a client that fails it
    /// is reported as [`ServerEvent::TlsRefused`] and never reaches the link layer.
    #[cfg(feature = "tls")]
    pub async fn bind_tls(
        addr: SocketAddr,
        config: ServerConfig,
        tls: crate::tls::TlsAcceptor,
    ) -> Result<
        (
            ServerHandle,
            ServerEvents,
            impl Future<Output = Result<(), ServerError>>,
        ),
        ServerError,
    > {
        Server::bind_with(addr, config, Tls::Acceptor(tls)).await
    }

    async fn bind_with(
        addr: SocketAddr,
        config: ServerConfig,
        tls: Tls,
    ) -> Result<
        (
            ServerHandle,
            ServerEvents,
            impl Future<Output = Result<(), ServerError>>,
        ),
        ServerError,
    > {
        config.validate()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ServerError::Bind { addr, source })?;
        let registry = Arc::new(Registry::new(
            config.mode.clone(),
            config.queue_size,
            config.max_connections,
        ));
        let shutdown = Arc::new(Notify::new());
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        let handle = ServerHandle {
            registry: registry.clone(),
            shutdown: shutdown.clone(),
            local_addr,
        };
        let run = run(listener, registry, shutdown, tx, config, tls);
        Ok((handle, ServerEvents { rx }, run))
    }
}

/// Whether connections are TLS sessions.
enum Tls {
    None,
    #[cfg(feature = "tls")]
    Acceptor(crate::tls::TlsAcceptor),
}

/// Puts an accepted (and, with TLS, authenticated) connection into its group, or refuses it.
fn admit(
    stream: Transport,
    peer: SocketAddr,
    registry: &Arc<Registry>,
    events: &mpsc::Sender<ServerEvent>,
    config: &Arc<ServerConfig>,
) -> Option<impl Future<Output = ()>> {
    match registry.register(peer) {
        Ok(registration) => {
            tracing::debug!(%peer, conn = %registration.id, "accepted");
            Some(conn::run(
                stream,
                peer,
                registration,
                registry.clone(),
                events.clone(),
                config.clone(),
            ))
        }
        Err(refusal) => {
            let why = match refusal {
                Refusal::NoGroup => "no redundancy group for the address",
                Refusal::TooMany => "too many connections",
            };
            tracing::info!(%peer, "connection refused: {why}");
            // Never wait for the application here: a full queue loses this notice.
            let _ = events.try_send(ServerEvent::Refused { peer });
            None
        }
    }
}

async fn run(
    listener: TcpListener,
    registry: Arc<Registry>,
    shutdown: Arc<Notify>,
    events: mpsc::Sender<ServerEvent>,
    config: ServerConfig,
    tls: Tls,
) -> Result<(), ServerError> {
    let config = Arc::new(config);
    let mut conns = FuturesUnordered::new();
    let mut handshakes: FuturesUnordered<Handshake> = FuturesUnordered::new();
    // After a failed accept, accepting pauses until then (the connections go on).
    let mut accept_paused: Option<Instant> = None;
    loop {
        tokio::select! {
            biased;
            _ = shutdown.notified() => break,
            Some(()) = conns.next(), if !conns.is_empty() => {}
            _ = tokio::time::sleep_until(accept_paused.unwrap_or_else(Instant::now)), if accept_paused.is_some() => {
                accept_paused = None;
            }
            Some((peer, result)) = handshakes.next(), if !handshakes.is_empty() => match result {
                Ok(stream) => conns.extend(admit(stream, peer, &registry, &events, &config)),
                Err(error) => handshake_failed(peer, error, &events),
            },
            accepted = listener.accept(), if accept_paused.is_none() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    match &tls {
                        Tls::None => conns.extend(admit(stream.into(), peer, &registry, &events, &config)),
                        #[cfg(feature = "tls")]
                        Tls::Acceptor(acceptor) => {
                            if handshakes.len() >= config.max_connections {
                                tracing::info!(%peer, "connection refused: too many TLS handshakes at once");
                                let _ = events.try_send(ServerEvent::Refused { peer });
                            } else {
                                handshakes.push(handshake(acceptor.clone(), stream, peer, config.link.t0));
                            }
                        }
                    }
                }
                Err(error) => {
                    // Typically out of file descriptors; back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    accept_paused = Some(Instant::now() + ACCEPT_BACKOFF);
                }
            },
        }
    }
    registry.close_all(LocalClose::Shutdown);
    while conns.next().await.is_some() {}
    Ok(())
}

/// Why a handshake failed (no handshake happens without the `tls` feature).
#[cfg(feature = "tls")]
type HandshakeError = crate::tls::TlsError;
#[cfg(not(feature = "tls"))]
type HandshakeError = std::convert::Infallible;

/// A TLS handshake in progress: the peer and its outcome.
type Handshake =
    std::pin::Pin<Box<dyn Future<Output = (SocketAddr, Result<Transport, HandshakeError>)> + Send>>;

/// The TLS handshake of one accepted connection.
#[cfg(feature = "tls")]
fn handshake(
    acceptor: crate::tls::TlsAcceptor,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    t0: Duration,
) -> Handshake {
    Box::pin(async move { (peer, acceptor.accept(stream, t0).await.map(Transport::from)) })
}

#[cfg(feature = "tls")]
fn handshake_failed(peer: SocketAddr, error: HandshakeError, events: &mpsc::Sender<ServerEvent>) {
    tracing::warn!(%peer, kind = error.kind(), "TLS handshake refused: {error}");
    // Never wait for the application here: a full queue loses this notice.
    let _ = events.try_send(ServerEvent::TlsRefused { peer, error });
}

#[cfg(not(feature = "tls"))]
fn handshake_failed(_: SocketAddr, error: HandshakeError, _: &mpsc::Sender<ServerEvent>) {
    match error {}
}

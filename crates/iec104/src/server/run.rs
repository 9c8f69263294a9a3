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
        let run = run(listener, registry, shutdown, tx, config);
        Ok((handle, ServerEvents { rx }, run))
    }
}

async fn run(
    listener: TcpListener,
    registry: Arc<Registry>,
    shutdown: Arc<Notify>,
    events: mpsc::Sender<ServerEvent>,
    config: ServerConfig,
) -> Result<(), ServerError> {
    let config = Arc::new(config);
    let mut conns = FuturesUnordered::new();
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
            accepted = listener.accept(), if accept_paused.is_none() => match accepted {
                Ok((stream, peer)) => match registry.register(peer) {
                    Ok(registration) => {
                        tracing::debug!(%peer, conn = %registration.id, "accepted");
                        conns.push(conn::run(stream, peer, registration, registry.clone(), events.clone(), config.clone()));
                    }
                    Err(refusal) => {
                        let why = match refusal {
                            Refusal::NoGroup => "no redundancy group for the address",
                            Refusal::TooMany => "too many connections",
                        };
                        tracing::info!(%peer, "connection refused: {why}");
                        // Never wait for the application here: a full queue loses this notice.
                        let _ = events.try_send(ServerEvent::Refused { peer });
                        drop(stream);
                    }
                },
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

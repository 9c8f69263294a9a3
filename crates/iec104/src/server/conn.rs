//! One connection's future: socket, link state machine, timers, and the group's events.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::codec::Framed;

use super::registry::{Registration, Registry};
use super::{CloseReason, ConnectionId, GroupId, ServerConfig, ServerEvent};
use crate::codec::{ApduCodec, CodecError};
use crate::link::{Link, LinkEvent, LinkState, Role};

/// Unregisters the connection however its future ends (even when dropped).
struct Registered {
    registry: Arc<Registry>,
    id: ConnectionId,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.unregister(self.id);
    }
}

/// Drives one accepted connection until it closes; emits Connected first and Closed last.
pub(crate) async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    registration: Registration,
    registry: Arc<Registry>,
    events: mpsc::Sender<ServerEvent>,
    config: Arc<ServerConfig>,
) {
    let Registration { id, group, signal, responses } = registration;
    let registered = Registered { registry: registry.clone(), id };
    // The application may have gone; the connection still serves its group.
    let _ = events.send(ServerEvent::Connected { conn: id, peer, group }).await;
    let mut conn = Conn {
        id,
        group,
        registry,
        events: events.clone(),
        config,
        link: None,
        kinds: VecDeque::new(),
        responses,
    };
    let reason = tokio::select! {
        reason = conn.drive(stream) => reason,
        _ = signal.close.notified() => signal.reason().map_or(CloseReason::Shutdown, CloseReason::from),
    };
    match &reason {
        CloseReason::Codec(error) => tracing::warn!(conn = %id, %peer, %error, "closing connection: bad frame"),
        CloseReason::Link(error) => tracing::warn!(conn = %id, %peer, %error, "closing connection: link error"),
        CloseReason::ShortAsdu { length } => {
            tracing::warn!(conn = %id, %peer, length, "closing connection: ASDU shorter than its header")
        }
        CloseReason::Io(error) => tracing::info!(conn = %id, %peer, %error, "connection failed"),
        other => tracing::debug!(conn = %id, %peer, reason = ?other, "connection closed"),
    }
    // Unregister before Closed, so a snapshot taken after Closed no longer lists it.
    drop(registered);
    let _ = events.send(ServerEvent::Closed { conn: id, reason }).await;
}

struct Conn {
    id: ConnectionId,
    group: GroupId,
    registry: Arc<Registry>,
    events: mpsc::Sender<ServerEvent>,
    config: Arc<ServerConfig>,
    link: Option<Link>,
    /// For every I-frame handed to the link and not yet acknowledged, in order: whether it is
    /// a group event (true) or a response to this connection (false).
    kinds: VecDeque<bool>,
    responses: mpsc::Receiver<bytes::Bytes>,
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

impl Conn {
    async fn drive(&mut self, stream: TcpStream) -> CloseReason {
        let _ = stream.set_nodelay(true);
        let mut framed = Framed::new(stream, ApduCodec::new());
        let mut link = Link::new(Role::Controlled, self.config.link.clone(), now());
        loop {
            if let Err(reason) = self.process_events(&mut link).await {
                return reason;
            }
            self.feed(&mut link);
            while let Some(apdu) = link.poll_transmit(now()) {
                if let Err(e) = framed.feed(apdu).await {
                    return codec_reason(e);
                }
            }
            if let Err(e) = framed.flush().await {
                return codec_reason(e);
            }
            let deadline = link.poll_timeout().map(Instant::from_std);
            let started = link.state() == LinkState::Started;
            let room = started && self.has_room(&link);
            tokio::select! {
                frame = framed.next() => match frame {
                    None => return CloseReason::PeerClosed,
                    Some(Err(e)) => return codec_reason(e),
                    Some(Ok(apdu)) => {
                        if let Err(e) = link.handle_apdu(now(), apdu) {
                            return CloseReason::Link(e);
                        }
                    }
                },
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    if let Err(e) = link.handle_timeout(now()) {
                        return CloseReason::Link(e);
                    }
                }
                response = self.responses.recv(), if room => {
                    if let Some(asdu) = response {
                        self.push(&mut link, asdu, false);
                    }
                }
                _ = self.registry.signal(self.id).wake.notified(), if room => {}
            }
        }
    }
}

//! One connection's future: socket, link state machine, timers, and the group's events.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::codec::Framed;

use super::registry::{ConnSignal, Registration, Registry};
use super::{CloseReason, ConnectionId, GroupId, ServerConfig, ServerEvent};
use crate::apci::Apdu;
use crate::codec::{ApduCodec, CodecError};
use crate::hex::HexHead;
use crate::link::{Link, LinkEvent, LinkState, Role};

/// Unregisters the connection however its future ends (even when dropped): its events in
/// flight go back to its group.
struct Registered {
    registry: Arc<Registry>,
    id: ConnectionId,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.unregister(self.id);
    }
}

/// Drives one accepted connection until it closes; emits `Connected` first and `Closed` last.
pub(crate) async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    registration: Registration,
    registry: Arc<Registry>,
    events: mpsc::Sender<ServerEvent>,
    config: Arc<ServerConfig>,
) {
    let Registration {
        id,
        group,
        signal,
        responses,
    } = registration;
    let registered = Registered {
        registry: registry.clone(),
        id,
    };
    let mut conn = Conn {
        id,
        group,
        registry,
        events: events.clone(),
        config,
        signal: signal.clone(),
        responses,
    };
    let connected = ServerEvent::Connected {
        conn: id,
        peer,
        group,
    };
    let reason = tokio::select! {
        reason = async {
            // The application may have dropped its event stream; the connection still serves
            // its group.
            let _ = events.send(connected).await;
            conn.drive(stream).await
        } => reason,
        _ = signal.close.notified() => signal.reason().map_or(CloseReason::Shutdown, CloseReason::from),
    };
    match &reason {
        CloseReason::Codec(error) => {
            tracing::warn!(conn = %id, %peer, "closing connection: {error}")
        }
        CloseReason::Link {
            error,
            frame: Some(frame),
        } => {
            tracing::warn!(conn = %id, %peer, "closing connection: {error}; received frame: {frame}")
        }
        CloseReason::Link { error, frame: None } => {
            tracing::warn!(conn = %id, %peer, "closing connection: {error}")
        }
        CloseReason::ShortAsdu { bytes } => {
            tracing::warn!(conn = %id, %peer, "closing connection: ASDU shorter than its data unit identifier: {bytes}")
        }
        CloseReason::WriteTimeout => {
            tracing::warn!(conn = %id, %peer, "closing connection: the peer read nothing for t1")
        }
        CloseReason::Io(error) => tracing::info!(conn = %id, %peer, "connection failed: {error}"),
        other => tracing::debug!(conn = %id, %peer, reason = ?other, "connection closed"),
    }
    // Unregister before `Closed`, so a snapshot taken after `Closed` no longer lists it.
    drop(registered);
    let closed = ServerEvent::Closed { conn: id, reason };
    if matches!(
        &closed,
        ServerEvent::Closed {
            reason: CloseReason::Shutdown,
            ..
        }
    ) {
        // The run future waits for every connection at shutdown: never wait for the
        // application then (this notice is lost when its queue is full).
        let _ = events.try_send(closed);
    } else {
        let _ = events.send(closed).await;
    }
}

struct Conn {
    id: ConnectionId,
    group: GroupId,
    registry: Arc<Registry>,
    events: mpsc::Sender<ServerEvent>,
    config: Arc<ServerConfig>,
    signal: Arc<ConnSignal>,
    responses: mpsc::Receiver<Bytes>,
}

/// The link's clock: tokio's, so that tests with paused time drive the timers.
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

fn codec_reason(error: CodecError) -> CloseReason {
    match error {
        CodecError::Io(e) => CloseReason::Io(e),
        other => CloseReason::Codec(other),
    }
}

impl Conn {
    async fn drive(&mut self, stream: TcpStream) -> CloseReason {
        let _ = stream.set_nodelay(true);
        let mut framed = Framed::new(stream, ApduCodec::new());
        let mut link = match Link::new(Role::Controlled, self.config.link.clone(), now()) {
            Ok(link) => link,
            // `Server::bind` validated the configuration.
            Err(e) => {
                return CloseReason::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
            }
        };
        // For every I-frame handed to the link and not yet acknowledged, in order: whether it
        // is a group event (true) or a response to this connection (false). At most k long.
        let mut kinds: VecDeque<bool> = VecDeque::new();
        let t1 = self.config.link.t1;
        loop {
            // Frames first: a STARTDT con goes out before the group's previous connection is
            // closed by the activation below.
            if let Err(e) = transmit(&mut framed, &mut link, t1).await {
                return e;
            }
            while let Some(event) = link.poll_event() {
                if let Err(reason) = self.on_event(&mut link, &mut kinds, event).await {
                    return reason;
                }
            }
            self.feed(&mut link, &mut kinds);
            if let Err(e) = transmit(&mut framed, &mut link, t1).await {
                return e;
            }
            let deadline = link.poll_timeout().map(Instant::from_std);
            let room = has_room(&link);
            // Received frames first: acknowledgements waiting in the socket (say, after a
            // wait for the application) must count before a timer is judged.
            tokio::select! {
                biased;
                frame = framed.next() => match frame {
                    None => return CloseReason::PeerClosed,
                    Some(Err(e)) => return codec_reason(e),
                    Some(Ok(apdu)) => {
                        // A cheap copy (the ASDU is reference counted) for the log line.
                        let received = apdu.clone();
                        if let Err(error) = link.handle_apdu(now(), apdu) {
                            return CloseReason::Link { error, frame: Some(frame_hex(&received)) };
                        }
                    }
                },
                response = self.responses.recv(), if room => {
                    if let Some(asdu) = response {
                        push(&mut link, &mut kinds, asdu, false);
                    }
                }
                _ = self.signal.wake.notified(), if room => {}
                _ = sleep_until(deadline) => {}
            }
            // Timers are checked on every turn, so a peer sending without pause cannot hold
            // them off.
            if link.poll_timeout().is_some_and(|at| at <= now()) {
                if let Err(error) = link.handle_timeout(now()) {
                    return CloseReason::Link { error, frame: None };
                }
            }
        }
    }

    async fn on_event(
        &mut self,
        link: &mut Link,
        kinds: &mut VecDeque<bool>,
        event: LinkEvent,
    ) -> Result<(), CloseReason> {
        match event {
            LinkEvent::Started => {
                self.registry.activate(self.id);
                let _ = self
                    .events
                    .send(ServerEvent::Started { conn: self.id })
                    .await;
            }
            LinkEvent::Stopped => {
                // Ed.2: STOPDT con is sent once every sent I-frame is acknowledged, and the
                // link's queue is always empty here (see `has_room`), so nothing is in flight;
                // the group keeps the next events for whichever connection starts.
                self.registry.deactivate(self.id);
                let _ = self
                    .events
                    .send(ServerEvent::Stopped { conn: self.id })
                    .await;
            }
            LinkEvent::Asdu { asdu, token } => {
                if asdu.len() < self.config.params.header_len() {
                    return Err(CloseReason::ShortAsdu {
                        bytes: HexHead::new(&asdu),
                    });
                }
                let _ = self
                    .events
                    .send(ServerEvent::Asdu {
                        conn: self.id,
                        asdu,
                    })
                    .await;
                // Handed to the application: it may be acknowledged now.
                link.release(token);
            }
            LinkEvent::Acknowledged { count } => {
                let n = count.min(kinds.len());
                let acked_events = kinds.drain(..n).filter(|is_event| *is_event).count();
                self.registry.acknowledge(self.id, self.group, acked_events);
            }
            LinkEvent::TestFrameConfirmed => {}
        }
        Ok(())
    }

    /// Hands responses (first) and group events to the link while the window has room.
    fn feed(&mut self, link: &mut Link, kinds: &mut VecDeque<bool>) {
        while has_room(link) {
            if let Ok(asdu) = self.responses.try_recv() {
                push(link, kinds, asdu, false);
            } else if let Some(asdu) = self.registry.next_event(self.id, self.group) {
                push(link, kinds, asdu, true);
            } else {
                break;
            }
        }
    }
}

/// Started, and what the link holds fits in the k window: a new ASDU is sent at once, so the
/// link's own queue stays empty and events wait in their group instead.
fn has_room(link: &Link) -> bool {
    link.state() == LinkState::Started
        && link.unacknowledged_len() + link.queued_len() < usize::from(link.config().k)
}

fn push(link: &mut Link, kinds: &mut VecDeque<bool>, asdu: Bytes, is_event: bool) {
    match link.send_asdu(now(), asdu) {
        Ok(()) => kinds.push_back(is_event),
        // Not reachable: the handle checks lengths and `has_room` was true. An event lost
        // here stays in its group's in-flight list and is sent again on the next connection.
        Err(error) => tracing::error!("link refused an ASDU: {error}"),
    }
}

/// The received frame's octets (bounded), re-encoded from its decoded form.
fn frame_hex(apdu: &Apdu) -> HexHead {
    let mut octets = BytesMut::with_capacity(apdu.wire_len());
    match crate::apci::encode(&mut octets, apdu) {
        Ok(()) => HexHead::new(&octets),
        Err(_) => HexHead::new(&apdu.asdu),
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Writes every frame the link has; a peer that does not read for t1 is dead (the link's
/// timers cannot run while a write is blocked).
async fn transmit(
    framed: &mut Framed<TcpStream, ApduCodec>,
    link: &mut Link,
    t1: std::time::Duration,
) -> Result<(), CloseReason> {
    let write = async {
        let mut any = false;
        while let Some(apdu) = link.poll_transmit(now()) {
            framed.feed(apdu).await.map_err(codec_reason)?;
            any = true;
        }
        if any {
            SinkExt::<Apdu>::flush(framed).await.map_err(codec_reason)?;
        }
        Ok(())
    };
    tokio::time::timeout(t1, write)
        .await
        .unwrap_or(Err(CloseReason::WriteTimeout))
}

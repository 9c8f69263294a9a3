//! One connection's future: socket, link state machine, timers, and the group's events.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::codec::Framed;

use super::registry::{ConnSignal, Registration, Registry, Response};
use super::{CloseReason, ConnectionId, GroupId, ServerConfig, ServerEvent};
use crate::apci::Apdu;
use crate::codec::{ApduCodec, CodecError};
use crate::hex::HexHead;
use crate::link::{Link, LinkEvent, LinkState, Role, SendError};
use crate::session::{apdu_hex, flush_link, now, FlushError, OVERDUE_READS};
use crate::transport::Transport;

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
    stream: Transport,
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
        raw,
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
        raw,
        kinds: VecDeque::new(),
        held: None,
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
        CloseReason::NotStarted => {
            tracing::info!(conn = %id, %peer, "closing connection: not started in time")
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
    responses: mpsc::Receiver<Response>,
    raw: mpsc::Receiver<Bytes>,
    /// For every I-frame handed to the link and not yet acknowledged, in order: whether it
    /// is a group event (true) or a response to this connection (false). At most k long.
    kinds: VecDeque<bool>,
    /// The next response: received but waiting for room, for the events it must follow, or
    /// because the link refused it.
    held: Option<Response>,
}

fn codec_reason(error: CodecError) -> CloseReason {
    match error {
        CodecError::Io(e) => CloseReason::Io(e),
        other => CloseReason::Codec(other),
    }
}

impl Conn {
    async fn drive(&mut self, stream: Transport) -> CloseReason {
        let mut framed = Framed::new(stream, ApduCodec::new());
        let mut link = match Link::new(Role::Controlled, self.config.link.clone(), now()) {
            Ok(link) => link,
            // `Server::bind` validated the configuration.
            Err(e) => {
                return CloseReason::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
            }
        };
        let t1 = self.config.link.t1;
        let mut overdue_reads = 0;
        // Until the first STARTDT: when an idle connection is closed.
        let mut start_deadline = self.config.start_timeout.map(|t| Instant::now() + t);
        loop {
            // Frames first: a STARTDT con goes out before the group's previous connection is
            // closed by the activation below.
            if let Err(e) = transmit(&mut framed, &mut link, t1, self.signal.muted()).await {
                return e;
            }
            while let Some(event) = link.poll_event() {
                if let Err(reason) = self.on_event(&mut link, event).await {
                    return reason;
                }
            }
            // Fill the window: hand over what fits, send it, repeat while something moved
            // (the link's own queue may be shorter than k).
            loop {
                let fed = self.feed(&mut link);
                if let Err(e) = transmit(&mut framed, &mut link, t1, self.signal.muted()).await {
                    return e;
                }
                if fed == 0 {
                    break;
                }
            }
            if link.state() != LinkState::Stopped {
                start_deadline = None;
            }
            let deadline = link.poll_timeout().map(Instant::from_std);
            let room = self.has_room(&link);
            tokio::select! {
                biased;
                frame = framed.next() => {
                    if let Err(reason) = on_frame(&mut link, frame) {
                        return reason;
                    }
                }
                response = self.responses.recv(), if room && self.held.is_none() => {
                    // Sent by `feed` at the top of the loop.
                    self.held = response;
                }
                _ = self.signal.wake.notified(), if room => {}
                _ = self.signal.control.notified() => {}
                octets = self.raw.recv() => {
                    if let Some(octets) = octets {
                        if let Err(e) = write_raw(&mut framed, &octets, t1).await {
                            return e;
                        }
                    }
                }
                _ = sleep_until(deadline) => {}
                _ = sleep_until(start_deadline) => return CloseReason::NotStarted,
            }
            // Timers are judged on every turn, after the frames already received (say, while
            // the application was slow to take an event) are read, up to a bound.
            if link.poll_timeout().is_some_and(|at| at <= now()) {
                if overdue_reads < OVERDUE_READS {
                    if let Some(frame) = framed.next().now_or_never() {
                        overdue_reads += 1;
                        if let Err(reason) = on_frame(&mut link, frame) {
                            return reason;
                        }
                        continue;
                    }
                }
                overdue_reads = 0;
                if let Err(error) = link.handle_timeout(now()) {
                    return CloseReason::Link { error, frame: None };
                }
            } else {
                overdue_reads = 0;
            }
        }
    }

    async fn on_event(&mut self, link: &mut Link, event: LinkEvent) -> Result<(), CloseReason> {
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
                let n = count.min(self.kinds.len());
                let acked_events = self.kinds.drain(..n).filter(|is_event| *is_event).count();
                self.registry.acknowledge(self.id, self.group, acked_events);
            }
            LinkEvent::TestFrameConfirmed => {}
        }
        Ok(())
    }

    /// Started, not muted, and what the link holds fits in the k window and in its queue: a
    /// new ASDU is sent at once, so the link's queue stays (nearly) empty and events wait in
    /// their group instead.
    fn has_room(&self, link: &Link) -> bool {
        link.state() == LinkState::Started
            && !self.signal.muted()
            && link.can_send()
            && link.unacknowledged_len() + link.queued_len() < usize::from(link.config().k)
    }

    /// Hands responses (first, unless they must follow events) and group events to the link
    /// while there is room; returns how many.
    fn feed(&mut self, link: &mut Link) -> usize {
        let mut fed = 0;
        while self.has_room(link) {
            let response = self.held.take().or_else(|| self.responses.try_recv().ok());
            let next = match response {
                Some(r)
                    if r.after
                        .is_some_and(|n| !self.registry.handed_out_before(self.group, n)) =>
                {
                    // Events enqueued before this response go first.
                    self.held = Some(r);
                    self.registry
                        .next_event(self.id, self.group)
                        .map(|e| (e, true))
                }
                Some(r) => Some((r.asdu, false)),
                None => self
                    .registry
                    .next_event(self.id, self.group)
                    .map(|e| (e, true)),
            };
            let Some((asdu, is_event)) = next else { break };
            if !self.push(link, asdu, is_event) {
                break;
            }
            fed += 1;
        }
        fed
    }

    /// Hands one ASDU to the link. If the link refuses it (not expected: callers check
    /// `has_room`, the handle checks lengths), nothing is lost or reordered: an event goes
    /// back to the front of its group, a response is held for the next turn; only an ASDU no
    /// I-frame can carry is dropped.
    fn push(&mut self, link: &mut Link, asdu: Bytes, is_event: bool) -> bool {
        match link.send_asdu(now(), asdu) {
            Ok(()) => {
                self.kinds.push_back(is_event);
                true
            }
            Err(error) => {
                let drop = matches!(error, SendError::BadLength(_));
                tracing::error!(conn = %self.id, "link refused an ASDU: {error}");
                if is_event {
                    self.registry.unsend(self.id, self.group, !drop);
                } else if !drop {
                    self.held = Some(Response {
                        asdu: error.into_asdu(),
                        after: None,
                    });
                }
                false
            }
        }
    }
}

/// Processes one received frame (or the end of the stream).
fn on_frame(link: &mut Link, frame: Option<Result<Apdu, CodecError>>) -> Result<(), CloseReason> {
    match frame {
        None => Err(CloseReason::PeerClosed),
        Some(Err(e)) => Err(codec_reason(e)),
        Some(Ok(apdu)) => {
            // A cheap copy (the ASDU is reference counted) for the log line.
            let received = apdu.clone();
            link.handle_apdu(now(), apdu)
                .map_err(|error| CloseReason::Link {
                    error,
                    frame: Some(apdu_hex(&received)),
                })
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Writes every frame the link has, bounded by t1. Muted: the frames are discarded.
async fn transmit(
    framed: &mut Framed<Transport, ApduCodec>,
    link: &mut Link,
    t1: std::time::Duration,
    muted: bool,
) -> Result<(), CloseReason> {
    if muted {
        while link.poll_transmit(now()).is_some() {}
        return Ok(());
    }
    flush_link(framed, link, t1).await.map_err(|e| match e {
        FlushError::Timeout => CloseReason::WriteTimeout,
        FlushError::Codec(e) => codec_reason(e),
    })
}

/// Writes raw octets (fault injection) after everything written so far.
async fn write_raw(
    framed: &mut Framed<Transport, ApduCodec>,
    octets: &[u8],
    t1: std::time::Duration,
) -> Result<(), CloseReason> {
    framed.write_buffer_mut().extend_from_slice(octets);
    match tokio::time::timeout(t1, SinkExt::<Apdu>::flush(framed)).await {
        Err(_) => Err(CloseReason::WriteTimeout),
        Ok(result) => result.map_err(codec_reason),
    }
}

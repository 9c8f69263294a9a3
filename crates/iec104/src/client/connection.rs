//! The client connection loop: socket, link state machine and timers under one `select!`.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::{FutureExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::Framed;

use super::{lock, ClientError, ClientEvent, CloseReason, Command, SendRequest, Shared};
use crate::apci::Apdu;
use crate::codec::{ApduCodec, CodecError};
use crate::hex::HexHead;
use crate::link::{Link, LinkError, LinkEvent, SendError};
use crate::session::{apdu_hex, flush_link, now, FlushError, OVERDUE_READS};

/// Everything the connection future owns besides the stream.
pub(super) struct Parts {
    pub(super) link: Link,
    pub(super) commands: mpsc::Receiver<Command>,
    pub(super) sends: mpsc::Receiver<SendRequest>,
    pub(super) events: mpsc::Sender<ClientEvent>,
    pub(super) shared: Arc<Shared>,
}

type Reply = oneshot::Sender<Result<(), ClientError>>;

fn codec_error(e: CodecError) -> ClientError {
    match e {
        CodecError::Io(e) => e.into(),
        CodecError::Frame { error, bytes } => ClientError::Frame { error, bytes },
        // Only our own frames are encoded; the link produces valid ones.
        CodecError::Encode(error) => ClientError::Frame {
            error,
            bytes: HexHead::new(&[]),
        },
    }
}

fn link_error(error: LinkError, apdu: Option<&Apdu>) -> ClientError {
    ClientError::Link {
        error,
        bytes: apdu.map(apdu_hex),
    }
}

/// Runs the connection; on the way out records the close reason (before the event sender is
/// dropped, so [`super::ClientEvents`] always sees it) and logs one warning on failure.
pub(super) async fn run<S>(io: S, parts: Parts) -> Result<(), ClientError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let Parts {
        link,
        commands,
        sends,
        events,
        shared,
    } = parts;
    let mut st = State {
        link,
        pending: VecDeque::new(),
        start_reply: None,
        stop_reply: None,
        events_open: true,
    };
    let result = drive(io, &mut st, commands, sends, &events, &shared).await;
    let reason = match &result {
        Ok(()) => CloseReason::Requested,
        Err(e) => {
            tracing::warn!(error = %e, "IEC 104 client connection closed");
            CloseReason::Error(e.clone())
        }
    };
    // A start_dt/stop_dt still waiting learns why it failed.
    for reply in [st.start_reply.take(), st.stop_reply.take()]
        .into_iter()
        .flatten()
    {
        let _ = reply.send(Err(result.clone().err().unwrap_or(ClientError::Closed)));
    }
    *lock(&shared.reason) = Some(reason);
    drop(events);
    result
}

struct State {
    link: Link,
    pending: VecDeque<ClientEvent>,
    start_reply: Option<Reply>,
    stop_reply: Option<Reply>,
    events_open: bool,
}

impl State {
    /// Moves link events to the pending application events and answers start/stop calls.
    fn collect_events(&mut self) {
        while let Some(event) = self.link.poll_event() {
            let out = match event {
                LinkEvent::Started => {
                    if let Some(r) = self.start_reply.take() {
                        let _ = r.send(Ok(()));
                    }
                    ClientEvent::Started
                }
                LinkEvent::Stopped => {
                    if let Some(r) = self.stop_reply.take() {
                        let _ = r.send(Ok(()));
                    }
                    ClientEvent::Stopped
                }
                LinkEvent::Asdu { asdu, token } => ClientEvent::Asdu { asdu, token },
                LinkEvent::Acknowledged { .. } | LinkEvent::TestFrameConfirmed => continue,
            };
            if self.events_open {
                self.pending.push_back(out);
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        let now = now();
        let (result, reply, slot) = match cmd {
            Command::Start(reply) => (self.link.start(now), reply, &mut self.start_reply),
            Command::Stop(reply) => (self.link.stop(now), reply, &mut self.stop_reply),
        };
        match result {
            Ok(()) => *slot = Some(reply),
            Err(e) => {
                let _ = reply.send(Err(ClientError::Link {
                    error: e,
                    bytes: None,
                }));
            }
        }
    }
}

async fn drive<S>(
    io: S,
    st: &mut State,
    mut commands: mpsc::Receiver<Command>,
    mut sends: mpsc::Receiver<SendRequest>,
    events: &mpsc::Sender<ClientEvent>,
    shared: &Shared,
) -> Result<(), ClientError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let t1 = st.link.config().t1;
    let mut framed = Framed::new(io, ApduCodec::new());
    let mut commands_open = true;
    let mut sends_open = true;
    loop {
        // Write everything the link has to say, bounded by t1 so a stuck peer cannot hang us.
        flush_link(&mut framed, &mut st.link, t1)
            .await
            .map_err(|e| match e {
                FlushError::Timeout => ClientError::WriteTimeout(t1),
                FlushError::Codec(e) => codec_error(e),
            })?;
        st.collect_events();
        let deadline = st.link.poll_timeout().map(tokio::time::Instant::from_std);
        let can_send = st.link.can_send();
        let read_ok = st.pending.is_empty();
        tokio::select! {
            biased;
            _ = shared.notify.notified() => {
                if shared.close.load(Ordering::SeqCst) {
                    // An orderly end (TLS: close_notify), bounded like every write.
                    let _ = tokio::time::timeout(t1, framed.get_mut().shutdown()).await;
                    return Ok(());
                }
                if let Some(token) = lock(&shared.release).take() {
                    st.link.release(token);
                }
            }
            _ = async { tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)).await },
                if deadline.is_some() => {
                // Frames already received (reading pauses while the application is behind)
                // may hold the acknowledgement t1 waits for: read them first, a bounded number,
                // and no more than a bounded backlog of events.
                let mut read = 0;
                while read < OVERDUE_READS && st.pending.len() < OVERDUE_READS {
                    let Some(frame) = framed.next().now_or_never() else { break };
                    on_frame(st, frame)?;
                    st.collect_events();
                    read += 1;
                }
                if st.link.poll_timeout().is_some_and(|at| at <= now()) {
                    st.link.handle_timeout(now()).map_err(|e| link_error(e, None))?;
                }
            }
            permit = events.reserve(), if !st.pending.is_empty() => match permit {
                Ok(permit) => {
                    if let Some(e) = st.pending.pop_front() {
                        permit.send(e);
                    }
                }
                Err(_) => {
                    // The application dropped the receiver: keep running, discard events.
                    st.events_open = false;
                    st.pending.clear();
                }
            },
            cmd = commands.recv(), if commands_open => match cmd {
                Some(cmd) => st.command(cmd),
                None => commands_open = false,
            },
            req = sends.recv(), if can_send && sends_open => {
                let Some((asdu, reply)) = req else {
                    sends_open = false;
                    continue;
                };
                {
                    let result = st.link.send_asdu(now(), asdu).map_err(|e| match e {
                        SendError::NotStarted(_) => ClientError::NotStarted,
                        SendError::BadLength(b) => ClientError::AsduLength(b.len()),
                        SendError::QueueFull(_) => ClientError::Closed,
                    });
                    let _ = reply.send(result);
                }
            }
            frame = framed.next(), if read_ok => on_frame(st, frame)?,
        }
    }
}

/// Processes one received frame (or the end of the stream).
fn on_frame(st: &mut State, frame: Option<Result<Apdu, CodecError>>) -> Result<(), ClientError> {
    match frame {
        Some(Ok(apdu)) => st
            .link
            .handle_apdu(now(), apdu.clone())
            .map_err(|e| link_error(e, Some(&apdu))),
        Some(Err(e)) => Err(codec_error(e)),
        None => Err(ClientError::PeerClosed),
    }
}

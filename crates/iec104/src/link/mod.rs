//! The link layer of IEC 60870-5-104 (§5) as a sans-IO state machine shared by both ends.
//!
//! The caller owns the socket and the clock: it feeds received APDUs with
//! [`Link::handle_apdu`], calls [`Link::handle_timeout`] when [`Link::poll_timeout`] is reached,
//! writes every frame [`Link::poll_transmit`] returns, and drains [`Link::poll_event`] after each
//! call. Time is always passed in; nothing here sleeps, spawns or does IO.
//!
//! ```
//! use std::time::Instant;
//! use bytes::Bytes;
//! use iec104::link::{Link, LinkConfig, LinkEvent, Role};
//!
//! let now = Instant::now();
//! let mut client = Link::new(Role::Controlling, LinkConfig::default(), now).unwrap();
//! let mut server = Link::new(Role::Controlled, LinkConfig::default(), now).unwrap();
//! // Wire the two state machines back to back instead of through a socket.
//! fn pump(from: &mut Link, to: &mut Link, now: Instant) {
//!     while let Some(apdu) = from.poll_transmit(now) {
//!         to.handle_apdu(now, apdu).unwrap();
//!     }
//! }
//! client.start(now).unwrap();
//! pump(&mut client, &mut server, now); // STARTDT act
//! pump(&mut server, &mut client, now); // STARTDT con
//! assert_eq!(client.poll_event(), Some(LinkEvent::Started));
//! server.send_asdu(now, Bytes::from_static(&[0x01, 0x01, 0x03, 0x00, 0x01, 0x00, 0x10, 0x00, 0x00, 0x01])).unwrap();
//! pump(&mut server, &mut client, now); // I frame
//! assert!(matches!(client.poll_event(), Some(LinkEvent::Asdu { .. })));
//! ```
//!
//! Rules implemented (IEC 60870-5-104 Ed.2 §5.2–§5.5):
//! - **k**: at most k sent, unacknowledged I frames; further ASDUs wait in a bounded queue and
//!   [`Link::send_asdu`] hands the ASDU back with [`SendError::QueueFull`] when that is full.
//! - **w / t2**: received I frames are acknowledged (S frame, or N(R) of an outgoing I frame)
//!   at the latest after w *released* frames, or t2 after the receipt of the oldest released
//!   unacknowledged frame. An acknowledgement never covers a frame the application has not
//!   released ([`Link::release`]; with [`LinkConfig::auto_release`] on receipt).
//! - **t1**: an I frame not acknowledged, or a STARTDT/STOPDT/TESTFR act not confirmed, t1
//!   after it was sent is [`LinkError::T1Timeout`].
//! - **t3**: t3 without any received frame sends TESTFR act (then t1 applies). TESTFR act is
//!   always answered with con, in every state and role.
//! - **Sequence numbers** (15 bits, modulo 32768): an N(S) other than V(R) and an N(R) outside
//!   [oldest unacknowledged, V(S)] are errors.
//! - **STARTDT/STOPDT** (§5.3): the controlling station sends act and waits for con (t1); the
//!   controlled station answers con. A controlled station receiving STOPDT act stops sending
//!   I frames, acknowledges what it received (with auto release off: once the application
//!   released it), waits until all its sent I frames are acknowledged, then sends STOPDT con
//!   (Ed.2 figure 17). A controlling station waiting for
//!   STOPDT con acknowledges every released I frame at once.
//!
//! Choices where the standard leaves room, with the clause they rest on:
//! - I frame received by the controlled station when not started (stopped, or STOPDT act being
//!   drained): §5.3 — the controlling station sends data only in the started state — so it is
//!   [`LinkError::UnexpectedIFrame`] (lib60870 closes too).
//! - I frame received by the controlling station: accepted while started and while waiting for
//!   STOPDT con (frames sent before the peer saw our act, §5.3 figure 17); in the stopped state
//!   and before STARTDT con it is [`LinkError::UnexpectedIFrame`] — §5.3: "in this state the
//!   controlled station does not send any data via this connection, except unnumbered control
//!   functions and confirmations".
//! - STARTDT/STOPDT act received by the controlling station, or any STARTDT/STOPDT con
//!   received by the controlled station, or a con without an outstanding act: only the
//!   controlling station sends act (§5.3), so these are [`LinkError::UnexpectedU`].
//! - STARTDT act while started, STOPDT act while stopped (controlled): confirmed again,
//!   without an event (idempotent). STARTDT act while draining for STOPDT con: error.
//! - TESTFR con without an outstanding TESTFR act: ignored (it is harmless evidence of a live
//!   peer; lib60870 does the same).
//! - S frames are accepted in every state (acknowledgements continue while stopped).

mod config;
mod error;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::apci::{seq_add, seq_distance, Apci, Apdu, UFunction, MAX_ASDU_LEN, SEQ_MODULUS};

pub use config::{ConfigError, LinkConfig, Role};
pub use error::{Awaited, LinkError, SendError};

/// Received I frames that may stay unacknowledged at most (N(R) is only unambiguous below
/// 2^15 outstanding frames).
const MAX_RECV_UNACKED: usize = (SEQ_MODULUS - 1) as usize;

/// The data transfer state of the link (§5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkState {
    /// No user data (initial state after the TCP connection is set up).
    Stopped,
    /// Controlling station: STARTDT act sent, waiting for con.
    PendingStart,
    /// User data transfer enabled.
    Started,
    /// Controlling station: STOPDT act sent, waiting for con. Controlled station: STOPDT act
    /// received, waiting until all sent I frames are acknowledged before confirming.
    PendingStop,
}

/// True when `now` has reached `at + timer`. A sum `Instant` cannot represent is a deadline
/// that never comes (no panic on overflow).
fn reached(now: Instant, at: Instant, timer: Duration) -> bool {
    at.checked_add(timer)
        .is_some_and(|deadline| now >= deadline)
}

/// Identifies a received I frame for [`Link::release`].
///
/// It names the link that received the frame and the frame's position among every I frame
/// that link received, so a token never aliases a later frame with the same 15-bit N(S)
/// (32768 frames on) nor a frame of another connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReceiveToken {
    link: u64,
    index: u64,
    seq: u16,
}

impl ReceiveToken {
    /// N(S) of the received frame.
    pub fn seq(&self) -> u16 {
        self.seq
    }
}

/// Source of link identities for [`ReceiveToken`].
static NEXT_LINK_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Something the application should know about, from [`Link::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// Data transfer started (STARTDT con received, or STARTDT act confirmed).
    Started,
    /// Data transfer stopped (STOPDT con received, or sent).
    Stopped,
    /// An ASDU received in an I frame; release it with `token` when it is safely processed
    /// (unless auto release is on).
    Asdu {
        /// The ASDU octets (a slice of the received frame).
        asdu: Bytes,
        /// For [`Link::release`].
        token: ReceiveToken,
    },
    /// The peer acknowledged this many of our oldest unacknowledged I frames.
    Acknowledged {
        /// Number of frames newly acknowledged.
        count: usize,
    },
    /// The peer answered our TESTFR act.
    TestFrameConfirmed,
}

#[derive(Debug)]
struct Sent {
    asdu: Bytes,
    at: Instant,
}

/// U frames waiting to be transmitted, one bit per function (a repeated request coalesces).
#[derive(Debug, Default, Clone, Copy)]
struct UOut(u8);

impl UOut {
    fn bit(f: UFunction) -> u8 {
        match f {
            UFunction::StartDtAct => 1,
            UFunction::StartDtCon => 2,
            UFunction::StopDtAct => 4,
            UFunction::StopDtCon => 8,
            UFunction::TestFrAct => 16,
            UFunction::TestFrCon => 32,
        }
    }
    fn insert(&mut self, f: UFunction) {
        self.0 |= Self::bit(f);
    }
    fn contains(self, f: UFunction) -> bool {
        self.0 & Self::bit(f) != 0
    }
    fn take(&mut self, f: UFunction) -> bool {
        let had = self.contains(f);
        self.0 &= !Self::bit(f);
        had
    }
}

/// The link state machine of one connection. See the [module docs](self).
#[derive(Debug)]
pub struct Link {
    role: Role,
    config: LinkConfig,
    state: LinkState,
    // Send side.
    /// V(S): N(S) of the next I frame.
    send_seq: u16,
    /// N(S) of the oldest unacknowledged I frame (last valid N(R) received).
    peer_ack: u16,
    unacked: VecDeque<Sent>,
    queue: VecDeque<Bytes>,
    // Receive side.
    /// V(R): N(S) expected in the next received I frame.
    recv_seq: u16,
    /// Frames with N(S) below this are released by the application.
    released: u16,
    /// This link's identity, carried by its tokens.
    id: u64,
    /// I frames received on this link so far.
    received_total: u64,
    /// I frames released by the application so far (always <= `received_total`).
    released_total: u64,
    /// The last N(R) we sent.
    our_ack: u16,
    /// Receipt time of each received, unacknowledged frame (oldest first).
    recv_times: VecDeque<Instant>,
    /// Controlled station after STOPDT act: acknowledge what is released at once.
    ack_flush: bool,
    // Control functions.
    u_out: UOut,
    /// The STARTDT/STOPDT act sent and waiting for con, with its send time.
    startstop_sent: Option<(UFunction, Instant)>,
    testfr_sent: Option<Instant>,
    last_rx: Instant,
    events: VecDeque<LinkEvent>,
}

impl Link {
    /// A link for a freshly connected TCP connection, in the stopped state. `now` starts t3.
    pub fn new(role: Role, config: LinkConfig, now: Instant) -> Result<Link, ConfigError> {
        config.validate()?;
        Ok(Link {
            role,
            state: LinkState::Stopped,
            send_seq: 0,
            peer_ack: 0,
            unacked: VecDeque::with_capacity(usize::from(config.k).min(64)),
            queue: VecDeque::new(),
            recv_seq: 0,
            released: 0,
            id: NEXT_LINK_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            received_total: 0,
            released_total: 0,
            our_ack: 0,
            recv_times: VecDeque::new(),
            ack_flush: false,
            u_out: UOut::default(),
            startstop_sent: None,
            testfr_sent: None,
            last_rx: now,
            events: VecDeque::new(),
            config,
        })
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The parameters in use.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// The data transfer state.
    pub fn state(&self) -> LinkState {
        self.state
    }

    /// V(S): the N(S) the next I frame will carry.
    pub fn send_seq(&self) -> u16 {
        self.send_seq
    }

    /// V(R): the N(S) expected in the next received I frame.
    pub fn recv_seq(&self) -> u16 {
        self.recv_seq
    }

    /// Controlling station: request data transfer (queues STARTDT act; t1 runs from its
    /// transmission). Allowed in the stopped state only.
    pub fn start(&mut self, _now: Instant) -> Result<(), LinkError> {
        if self.role != Role::Controlling {
            return Err(LinkError::WrongRole { op: "start" });
        }
        if self.state != LinkState::Stopped {
            return Err(LinkError::WrongState {
                op: "start",
                state: self.state,
            });
        }
        self.state = LinkState::PendingStart;
        self.u_out.insert(UFunction::StartDtAct);
        Ok(())
    }

    /// Controlling station: stop data transfer (queues STOPDT act). Allowed when started.
    /// Queued ASDUs stay queued; no new I frames are sent until started again.
    pub fn stop(&mut self, _now: Instant) -> Result<(), LinkError> {
        if self.role != Role::Controlling {
            return Err(LinkError::WrongRole { op: "stop" });
        }
        if self.state != LinkState::Started {
            return Err(LinkError::WrongState {
                op: "stop",
                state: self.state,
            });
        }
        self.state = LinkState::PendingStop;
        self.u_out.insert(UFunction::StopDtAct);
        Ok(())
    }

    /// Queues an ASDU for transmission in an I frame. Fails, handing the ASDU back, when data
    /// transfer is not started, when the queue is full (back-pressure: retry after
    /// [`LinkEvent::Acknowledged`]) or when the ASDU length is not 1..=249.
    pub fn send_asdu(&mut self, _now: Instant, asdu: Bytes) -> Result<(), SendError> {
        if asdu.is_empty() || asdu.len() > MAX_ASDU_LEN {
            return Err(SendError::BadLength(asdu));
        }
        if self.state != LinkState::Started {
            return Err(SendError::NotStarted(asdu));
        }
        if !self.can_send() {
            return Err(SendError::QueueFull(asdu));
        }
        self.queue.push_back(asdu);
        Ok(())
    }

    /// True when the send queue has room for another ASDU.
    pub fn can_send(&self) -> bool {
        self.queue.len() < self.config.send_queue
    }

    /// ASDUs queued, not yet sent.
    pub fn queued_len(&self) -> usize {
        self.queue.len()
    }

    /// Sent I frames not yet acknowledged by the peer.
    pub fn unacknowledged_len(&self) -> usize {
        self.unacked.len()
    }

    /// Processes a received APDU. An error is a protocol violation: close the connection.
    pub fn handle_apdu(&mut self, now: Instant, apdu: Apdu) -> Result<(), LinkError> {
        self.last_rx = now;
        match apdu.apci {
            Apci::I { send_seq, recv_seq } => self.on_i(now, send_seq, recv_seq, apdu.asdu),
            Apci::S { recv_seq } => self.on_ack(recv_seq),
            Apci::U(f) => self.on_u(f),
        }
    }

    fn on_i(
        &mut self,
        now: Instant,
        send_seq: u16,
        recv_seq: u16,
        asdu: Bytes,
    ) -> Result<(), LinkError> {
        let allowed = match self.role {
            Role::Controlled => self.state == LinkState::Started,
            Role::Controlling => matches!(self.state, LinkState::Started | LinkState::PendingStop),
        };
        if !allowed {
            return Err(LinkError::UnexpectedIFrame {
                state: self.state,
                role: self.role,
            });
        }
        if send_seq != self.recv_seq {
            return Err(LinkError::BadSendSeq {
                received: send_seq,
                expected: self.recv_seq,
            });
        }
        self.on_ack(recv_seq)?;
        if self.recv_times.len() >= MAX_RECV_UNACKED {
            return Err(LinkError::ReceiveWindowExhausted {
                count: self.recv_times.len(),
            });
        }
        self.recv_times.push_back(now);
        self.recv_seq = seq_add(self.recv_seq, 1);
        let index = self.received_total;
        self.received_total += 1;
        if self.config.auto_release {
            self.released = self.recv_seq;
            self.released_total = self.received_total;
        }
        self.events.push_back(LinkEvent::Asdu {
            asdu,
            token: ReceiveToken {
                link: self.id,
                index,
                seq: send_seq,
            },
        });
        Ok(())
    }

    /// Applies a received N(R).
    fn on_ack(&mut self, recv_seq: u16) -> Result<(), LinkError> {
        let newly = usize::from(seq_distance(recv_seq, self.peer_ack));
        if recv_seq >= SEQ_MODULUS || newly > self.unacked.len() {
            return Err(LinkError::BadRecvSeq {
                received: recv_seq,
                acknowledged: self.peer_ack,
                next_send: self.send_seq,
            });
        }
        if newly > 0 {
            self.unacked.drain(..newly);
            self.peer_ack = recv_seq;
            self.events
                .push_back(LinkEvent::Acknowledged { count: newly });
        }
        if self.role == Role::Controlled
            && self.state == LinkState::PendingStop
            && self.unacked.is_empty()
        {
            self.confirm_stop();
        }
        Ok(())
    }

    fn confirm_stop(&mut self) {
        self.state = LinkState::Stopped;
        self.u_out.insert(UFunction::StopDtCon);
        self.events.push_back(LinkEvent::Stopped);
    }

    fn on_u(&mut self, f: UFunction) -> Result<(), LinkError> {
        let unexpected = LinkError::UnexpectedU {
            function: f,
            state: self.state,
            role: self.role,
        };
        match (f, self.role) {
            (UFunction::TestFrAct, _) => self.u_out.insert(UFunction::TestFrCon),
            (UFunction::TestFrCon, _) => {
                if self.testfr_sent.take().is_some() {
                    self.events.push_back(LinkEvent::TestFrameConfirmed);
                }
            }
            (UFunction::StartDtAct, Role::Controlled) => match self.state {
                LinkState::Stopped => {
                    self.state = LinkState::Started;
                    self.u_out.insert(UFunction::StartDtCon);
                    self.events.push_back(LinkEvent::Started);
                }
                LinkState::Started => self.u_out.insert(UFunction::StartDtCon),
                LinkState::PendingStart | LinkState::PendingStop => return Err(unexpected),
            },
            (UFunction::StopDtAct, Role::Controlled) => match self.state {
                LinkState::Started => {
                    self.ack_flush = true;
                    if self.unacked.is_empty() {
                        self.confirm_stop();
                    } else {
                        self.state = LinkState::PendingStop;
                    }
                }
                LinkState::Stopped => {
                    self.ack_flush = true;
                    self.u_out.insert(UFunction::StopDtCon);
                }
                // Already draining: the con follows when everything is acknowledged.
                LinkState::PendingStop => {}
                LinkState::PendingStart => return Err(unexpected),
            },
            (UFunction::StartDtCon, Role::Controlling) if self.awaiting(UFunction::StartDtAct) => {
                self.startstop_sent = None;
                self.state = LinkState::Started;
                self.events.push_back(LinkEvent::Started);
            }
            (UFunction::StopDtCon, Role::Controlling) if self.awaiting(UFunction::StopDtAct) => {
                self.startstop_sent = None;
                self.state = LinkState::Stopped;
                self.events.push_back(LinkEvent::Stopped);
            }
            _ => return Err(unexpected),
        }
        Ok(())
    }

    /// True when `act` was transmitted and its con is awaited. An act only queued (not yet
    /// returned by [`Link::poll_transmit`]) awaits nothing: the peer has not seen it (§5.3).
    fn awaiting(&self, act: UFunction) -> bool {
        let expected_state = match act {
            UFunction::StartDtAct => LinkState::PendingStart,
            _ => LinkState::PendingStop,
        };
        self.state == expected_state && matches!(self.startstop_sent, Some((f, _)) if f == act)
    }

    /// Checks the timers against `now`. An error (t1) means: close the connection. A t3 expiry
    /// queues TESTFR act; a due t2 acknowledgement is produced by [`Link::poll_transmit`].
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), LinkError> {
        let t1 = self.config.t1;
        if let Some(sent) = self.unacked.front() {
            if reached(now, sent.at, t1) {
                return Err(LinkError::T1Timeout {
                    awaited: Awaited::Ack {
                        send_seq: self.peer_ack,
                    },
                });
            }
        }
        if let Some((act, at)) = self.startstop_sent {
            if reached(now, at, t1) {
                return Err(LinkError::T1Timeout {
                    awaited: Awaited::Con(act),
                });
            }
        }
        if let Some(at) = self.testfr_sent {
            if reached(now, at, t1) {
                return Err(LinkError::T1Timeout {
                    awaited: Awaited::Con(UFunction::TestFrAct),
                });
            }
        }
        if let Some(t3) = self.t3_deadline() {
            if now >= t3 {
                self.u_out.insert(UFunction::TestFrAct);
            }
        }
        Ok(())
    }

    fn t3_deadline(&self) -> Option<Instant> {
        if self.testfr_sent.is_some() || self.u_out.contains(UFunction::TestFrAct) {
            None
        } else {
            self.last_rx.checked_add(self.config.t3)
        }
    }

    /// Received frames released by the application and not yet acknowledged to the peer.
    fn released_unacked(&self) -> u16 {
        seq_distance(self.released, self.our_ack)
    }

    fn t2_deadline(&self) -> Option<Instant> {
        if self.released_unacked() > 0 {
            self.recv_times
                .front()
                .and_then(|t| t.checked_add(self.config.t2))
        } else {
            None
        }
    }

    /// The earliest instant at which [`Link::handle_timeout`] (then [`Link::poll_transmit`])
    /// must be called, if any timer runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let t1 = self.config.t1;
        [
            self.unacked.front().and_then(|s| s.at.checked_add(t1)),
            self.startstop_sent.and_then(|(_, at)| at.checked_add(t1)),
            self.testfr_sent.and_then(|at| at.checked_add(t1)),
            self.t2_deadline(),
            self.t3_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Marks the acknowledgement of every released frame as sent.
    fn acknowledge_released(&mut self) -> u16 {
        let n = usize::from(self.released_unacked());
        self.recv_times.drain(..n.min(self.recv_times.len()));
        self.our_ack = self.released;
        if self.all_received_acknowledged() {
            self.ack_flush = false;
        }
        self.released
    }

    /// True when our last N(R) covers every received I frame (none unreleased or unacknowledged).
    fn all_received_acknowledged(&self) -> bool {
        seq_distance(self.recv_seq, self.our_ack) == 0
    }

    /// The next frame to write, if any. Call until `None` after every other call. I frames
    /// carry the current N(R) and count as an acknowledgement.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Apdu> {
        // Control functions first (STOPDT con last, after the final acknowledgement).
        for f in [
            UFunction::TestFrCon,
            UFunction::StartDtCon,
            UFunction::StartDtAct,
            UFunction::StopDtAct,
            UFunction::TestFrAct,
        ] {
            if self.u_out.take(f) {
                match f {
                    UFunction::StartDtAct | UFunction::StopDtAct => {
                        self.startstop_sent = Some((f, now))
                    }
                    UFunction::TestFrAct => self.testfr_sent = Some(now),
                    _ => {}
                }
                return Some(Apdu::u(f));
            }
        }
        if self.state == LinkState::Started && self.unacked.len() < usize::from(self.config.k) {
            if let Some(asdu) = self.queue.pop_front() {
                let send_seq = self.send_seq;
                let recv_seq = self.acknowledge_released();
                self.send_seq = seq_add(send_seq, 1);
                self.unacked.push_back(Sent {
                    asdu: asdu.clone(),
                    at: now,
                });
                return Some(Apdu::i(send_seq, recv_seq, asdu));
            }
        }
        let pending = self.released_unacked();
        if pending > 0 {
            let due = pending >= self.config.w
                || self.ack_flush
                || (self.role == Role::Controlling && self.state == LinkState::PendingStop)
                || self.t2_deadline().is_some_and(|t| now >= t);
            if due {
                return Some(Apdu::s(self.acknowledge_released()));
            }
        } else if self.all_received_acknowledged() {
            self.ack_flush = false;
        }
        // Ed.2 §5.3 figure 17: the con follows the acknowledgement of every received I frame.
        // With auto release off, frames the application has not released yet hold it back
        // (and `ack_flush` stays on so their acknowledgement goes out as soon as released).
        if self.all_received_acknowledged() && self.u_out.take(UFunction::StopDtCon) {
            return Some(Apdu::u(UFunction::StopDtCon));
        }
        None
    }

    /// The next event, if any. Drain after every `handle_*` call (each call adds at most three).
    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    /// The application has durably processed every received I frame up to and including the
    /// one of `upto`; they may now be acknowledged. Tokens of frames already released (or of
    /// another connection) are ignored.
    pub fn release(&mut self, upto: ReceiveToken) {
        if upto.link != self.id
            || upto.index < self.released_total
            || upto.index >= self.received_total
        {
            return;
        }
        self.released_total = upto.index + 1;
        self.released = seq_add(upto.seq, 1);
    }

    /// ASDUs sent and not yet acknowledged by the peer, oldest first.
    pub fn unacknowledged(&self) -> impl Iterator<Item = &Bytes> + '_ {
        self.unacked.iter().map(|s| &s.asdu)
    }

    /// ASDUs queued and not yet sent, oldest first.
    pub fn queued(&self) -> impl Iterator<Item = &Bytes> + '_ {
        self.queue.iter()
    }

    /// On close: takes every ASDU not known to be delivered — the unacknowledged ones, then the
    /// queued ones, in order — so they can be sent again on another connection. The link must
    /// not be used afterwards.
    pub fn take_pending(&mut self) -> Vec<Bytes> {
        let mut out = Vec::with_capacity(self.unacked.len() + self.queue.len());
        out.extend(self.unacked.drain(..).map(|s| s.asdu));
        out.extend(self.queue.drain(..));
        self.peer_ack = self.send_seq;
        out
    }
}

//! Errors of the link state machine.

use bytes::Bytes;

use super::{LinkState, Role};
use crate::apci::UFunction;

/// What a t1 timeout was waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Awaited {
    /// The acknowledgement of the sent I frame with this N(S).
    Ack {
        /// N(S) of the oldest unacknowledged I frame.
        send_seq: u16,
    },
    /// The con answering this act.
    Con(UFunction),
}

/// A protocol violation by the peer, a timeout, or a call not allowed in the current state.
/// Errors from `handle_apdu` and `handle_timeout` mean the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// t1 expired (§5.5): the peer did not acknowledge an I frame or confirm a U act in time.
    #[error("t1 timeout waiting for {awaited:?}")]
    T1Timeout {
        /// What was not answered.
        awaited: Awaited,
    },
    /// An I frame's N(S) is not the expected receive sequence number.
    #[error("received N(S) = {received}, expected {expected}")]
    BadSendSeq {
        /// N(S) of the frame.
        received: u16,
        /// Our receive state variable V(R).
        expected: u16,
    },
    /// An N(R) that acknowledges a frame never sent or goes backwards.
    #[error("received N(R) = {received}, valid range {acknowledged}..={next_send}")]
    BadRecvSeq {
        /// N(R) of the frame.
        received: u16,
        /// The last N(R) received (oldest unacknowledged N(S)).
        acknowledged: u16,
        /// Our send state variable V(S).
        next_send: u16,
    },
    /// An I frame received in a state where the peer must not send data (§5.3).
    #[error("I frame received in state {state:?} by the {role:?} station")]
    UnexpectedIFrame {
        /// Our state.
        state: LinkState,
        /// Our role.
        role: Role,
    },
    /// A U frame that makes no sense for our role and state (§5.3).
    #[error("{function} received in state {state:?} by the {role:?} station")]
    UnexpectedU {
        /// The function received.
        function: UFunction,
        /// Our state.
        state: LinkState,
        /// Our role.
        role: Role,
    },
    /// The peer sent 32767 I frames we could not acknowledge yet (they were not released).
    #[error("{count} received I frames unacknowledged: receive window exhausted")]
    ReceiveWindowExhausted {
        /// Received, unacknowledged I frames.
        count: usize,
    },
    /// `start`/`stop` called by the controlled station, which never sends STARTDT/STOPDT act.
    #[error("{op} is only for the controlling station")]
    WrongRole {
        /// The call.
        op: &'static str,
    },
    /// `start`/`stop` called in a state that does not allow it.
    #[error("{op} not allowed in state {state:?}")]
    WrongState {
        /// The call.
        op: &'static str,
        /// Our state.
        state: LinkState,
    },
}

/// Why `Link::send_asdu` did not accept an ASDU; the ASDU is handed back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The send queue is full: wait for acknowledgements and try again.
    #[error("send queue full")]
    QueueFull(Bytes),
    /// Data transfer is not started (no STARTDT, or STOPDT in progress).
    #[error("data transfer not started")]
    NotStarted(Bytes),
    /// The ASDU is empty or longer than 249 octets.
    #[error("ASDU of {} octets cannot be sent (allowed 1..=249)", .0.len())]
    BadLength(Bytes),
}

impl SendError {
    /// The ASDU that was not accepted.
    pub fn into_asdu(self) -> Bytes {
        match self {
            SendError::QueueFull(b) | SendError::NotStarted(b) | SendError::BadLength(b) => b,
        }
    }
}

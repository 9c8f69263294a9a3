//! IEC 60870-5-104: APDU codec, ASDUs of every type id, a sans-IO link layer, and an async
//! client (controlling station) and server (controlled station).
//!
//! Layers, bottom up; nothing below reaches up:
//! - [`apci`]: frames (I, S, U formats) as pure functions, and [`codec`] for tokio framing;
//! - [`asdu`]: ASDUs and information elements, with a zero-copy view for decoding;
//! - [`link`]: the link layer state machine (k/w windows, t0–t3, STARTDT/STOPDT/TESTFR),
//!   sans-IO: events and time in, frames and events out;
//! - [`client`] and [`server`]: tokio sessions over the state machine;
//! - `json` (cargo feature `json`, on by default): the JSON representation of objects and
//!   commands (`docs/json.md`);
//! - `tls` (cargo feature `tls`, on by default): IEC 62351-3 TLS under client and server
//!   links (`docs/tls.md`); [`transport`] is the stream either way.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod apci;
pub mod asdu;
pub mod client;
pub mod codec;
pub mod cot;
pub mod hex;
#[cfg(feature = "json")]
pub mod json;
pub mod link;
pub mod server;
mod session;
pub mod time;
#[cfg(feature = "tls")]
pub mod tls;
pub mod transport;
pub mod type_id;

pub use apci::{Apci, Apdu, FrameError, UFunction};
pub use codec::{ApduCodec, CodecError};
pub use cot::{Cause, Cot};
pub use link::{Link, LinkConfig, LinkError, LinkEvent, LinkState, ReceiveToken, Role, SendError};
pub use type_id::TypeId;

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
//!   commands (`docs/json.md`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod apci;
pub mod asdu;
#[cfg(feature = "tokio")]
pub mod client;
#[cfg(feature = "tokio")]
pub mod codec;
pub mod cot;
pub mod hex;
#[cfg(feature = "json")]
pub mod json;
pub mod link;
#[cfg(feature = "tokio")]
pub mod server;
#[cfg(feature = "tokio")]
mod session;
pub mod time;
pub mod type_id;

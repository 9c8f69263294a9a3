//! IEC 60870-5-104: APDU codec, ASDUs of every type id, a sans-IO link layer, and an async
//! client (controlling station) and server (controlled station).
//!
//! Layers, bottom up; nothing below reaches up:
//! - [`apci`]: frames (I, S, U formats) as pure functions, and `codec` for tokio framing;
//! - [`asdu`]: ASDUs and information elements, with a zero-copy view for decoding
//!   ([`asdu::AsduView`]) and an owned, validated ASDU for encoding ([`asdu::Asdu`]);
//!   [`cot`] (cause of transmission), [`type_id`] and [`time`] (CP56/CP24/CP16 time tags) are
//!   the fields it is made of;
//! - [`link`]: the link layer state machine (k/w windows, t0–t3, STARTDT/STOPDT/TESTFR),
//!   sans-IO: events and time in, frames and events out;
//! - `client` and `server`: tokio sessions over the state machine;
//! - `json`: the JSON representation of objects and commands (`docs/json.md`);
//! - `tls`: IEC 62351-3 TLS under client and server links (`docs/tls.md`); `transport` is
//!   the stream either way.
//!
//! Every public type has exactly one path: its module's (`iec104::cot::Cause`,
//! `iec104::type_id::TypeId`, `iec104::asdu::AsduView`, `iec104::link::LinkConfig`,
//! `iec104::server::ServerHandle`, ...). The crate root re-exports nothing.
//!
//! The byte-level parsers (information elements, time tags, addresses, the APCI control
//! field) are hand-written over fixed-size arrays: nom versions of them, measured with
//! `cargo bench -p iec104 --bench decode` and by instruction counts, cost 18 % (time tags
//! alone) to 103 % (every element) more instructions per decoded ASDU (see
//! `docs/benchmarks.md`); decoding stays copy-free and allocation-free without it.
//!
//! # Cargo features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `tokio` | on | the tokio driver: `codec` (APDU framing for `tokio_util`), `client`, `server`; pulls tokio, tokio-util, futures-util |
//! | `json` | on | `json`: JSON for objects and commands; pulls serde, serde_json |
//! | `tls` | on | `tls` and TLS in `transport`: IEC 62351-3 with rustls (ring provider); implies `tokio` |
//! | `tls-testing` | off | `tls::testing`: certificates made at run time (rcgen) |
//! | `testing` | off | fault injection for simulators and tests: `ServerHandle::set_mute`, `ServerHandle::send_raw` (implies `tokio`) |
//!
//! With `default-features = false` the crate is frames, ASDUs and the link layer, with no async
//! runtime in its dependency tree (`cargo tree -p iec104 --no-default-features -e normal`);
//! add `features = ["json"]` for the JSON without tokio.
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
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "tokio")]
pub mod transport;

pub mod type_id;

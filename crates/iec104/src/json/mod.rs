//! The JSON representation of information objects and commands (`docs/json.md`), defined once
//! for every program of the workspace: the command-line client's output, the gateway's MQTT
//! payloads and the simulator's events log.
//!
//! - [`JsonObject`] borrows one decoded information object and serializes it as one JSON
//!   object (one line), fields in the documented order. Programs add their own fields with
//!   `#[serde(flatten)]`:
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use iec104::asdu::{AsduParams, AsduView};
//! use iec104::json::JsonObject;
//!
//! #[derive(serde::Serialize)]
//! struct Payload<'a> {
//!     #[serde(flatten)]
//!     object: JsonObject<'a>,
//!     rtu: &'a str,
//! }
//!
//! // M_SP_NA_1, one object, spont, CA 1, IOA 10, SIQ 0x01 (ON, good quality).
//! let bytes = [0x01, 0x01, 0x03, 0x00, 0x01, 0x00, 0x0A, 0x00, 0x00, 0x01];
//! let view = AsduView::parse(&bytes, &AsduParams::IEC104).unwrap();
//! let now = Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap();
//! let object = JsonObject::from_view(&view, now).next().unwrap();
//! let line = serde_json::to_string(&Payload { object, rtu: "north" }).unwrap();
//! assert_eq!(
//!     line,
//!     r#"{"ca":1,"ioa":10,"type":"M_SP_NA_1","cot":"spont","value":true,"quality":[],"rtu":"north"}"#
//! );
//! ```
//!
//! - [`CommandRequest`] is the reverse direction for commands: a deserializable request
//!   (`{"type":"C_DC_NA_1","value":"on","select":true}`) turned into an [`Element`] with
//!   typed errors ([`CommandError`]).
//!
//! [`Element`]: crate::asdu::Element

mod command;
#[cfg(test)]
mod command_tests;
mod object;
#[cfg(test)]
mod tests;

pub use command::{CommandError, CommandRequest};
pub use object::{JsonObject, JsonObjects};

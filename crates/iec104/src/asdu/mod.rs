//! ASDUs: the data unit identifier, information objects and their elements.
//!
//! Decoding: [`AsduView::parse`] validates the whole ASDU once, then [`AsduView::objects`]
//! yields every [`InformationObject`] without allocating and without failing. Encoding:
//! [`AsduBuilder`] produces an owned, validated [`Asdu`].

mod access;
mod address;
mod commands;
mod elements;
mod error;
mod file;
mod header;
mod object;
mod owned;
mod quality;
mod view;
mod wire;

pub use access::TimeTag;
pub use address::encode_object;
#[cfg(feature = "json")]
pub(crate) use address::read_ioa;
pub use commands::{
    Coi, DoubleCommand, Fbp, Qcc, Qoi, Qos, Qpa, Qpm, Qrp, SingleCommand, StepCommand, Tsc,
};
pub use elements::{
    BinaryCounter, Bitstring, DoublePoint, DoubleState, Normalized, OutputCircuit, ProtectionEvent,
    Qdp, Qds, Scaled, SinglePoint, StartEvents, StatusChange, StepPosition,
};
pub use error::{AsduError, HexPrefix};
pub use file::{
    DirectoryEntry, FileCommand, FileReady, LastSection, QueryLog, SectionReady, Segment, Sof,
};
pub use header::{broadcast_address, AsduHeader, AsduParams};
pub use object::{Element, InformationObject};
pub use owned::{Asdu, AsduBuilder, MAX_ASDU_LEN, MAX_OBJECTS};
pub use quality::Quality;
pub use view::{decode_all, AsduView, Objects};

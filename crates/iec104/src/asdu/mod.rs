//! ASDUs: the data unit identifier, information objects and their elements.
//!
//! Decoding: [`AsduView::parse`] validates the whole ASDU once, then [`AsduView::objects`]
//! yields every [`InformationObject`] without allocating and without failing. Encoding:
//! [`AsduBuilder`] produces an owned, validated [`Asdu`].

pub mod access;
pub mod commands;
pub mod elements;
pub mod error;
pub mod file;
pub mod header;
pub mod object;
pub mod owned;
pub mod quality;
pub mod view;
mod wire;

pub use access::TimeTag;
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
pub use owned::{encode_object, Asdu, AsduBuilder, MAX_ASDU_LEN, MAX_OBJECTS};
pub use quality::Quality;
pub use view::{decode_all, AsduView, Objects};

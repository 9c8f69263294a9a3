//! ASDUs: the data unit identifier, information objects and their elements.

pub mod header;

pub use header::{broadcast_address, AsduHeader, AsduParams};

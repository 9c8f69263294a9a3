//! Types shared by the layers.

pub mod live;

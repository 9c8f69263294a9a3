//! Shared types at the bottom of the gateway: what the layers hand each other through the
//! channels the `app` wires. Imports nothing from the other layers.

mod batch;
mod command;
mod duty;
pub mod hash;
pub mod live;
mod message;
pub mod metrics;
mod mqtt;
mod session;
mod status;

pub use batch::{Batch, Release};
pub use command::{CommandJob, CommandReply};
pub use duty::{no_carrier, Duty};
pub use message::{Message, MessageError};
pub use metrics::Metrics;
pub use mqtt::{Ack, Direct, Incoming};
pub use session::{Report, Role};
pub use status::{Seen, StatusBoard};

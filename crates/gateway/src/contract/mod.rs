//! Topics and payloads the gateway publishes (growing: today the command results and the
//! audit trail).

pub mod audit;
pub mod command;

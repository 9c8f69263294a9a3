//! Topics and payloads the gateway publishes (growing: today the command results).

pub mod command;

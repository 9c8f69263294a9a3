//! Helpers for the end-to-end tests: the gateway binary as a process, a real MQTT broker
//! (mosquitto), a subscriber, and scripted IEC 104 stations built on the iec104 server.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod aedes;
pub mod broker;
pub mod cluster;
pub mod gateway;
pub mod raw_host;
pub mod sparkplug_peers;
pub mod station;
pub mod subscriber;

pub use testkit::{free_port, scratch, wait_listening, Scratch};

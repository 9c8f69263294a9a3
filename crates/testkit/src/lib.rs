//! Test support in one place, for every test of the workspace (`publish = false`):
//!
//! - [`interop`]: THE rule for a missing peer (`IEC104_INTEROP`): skip with a visible note, or
//!   fail under `require`;
//! - [`scratch`]: scratch folders, removed when the test passes, kept and named when it fails;
//! - [`net`]: free ports, waiting for a listener, a bounded HTTP GET;
//! - [`signal`]: signals to child processes;
//! - [`mosquitto`]: a real MQTT broker on a free port;
//! - [`peer`]: peer processes (the c104 scripts in `peers/`) read line by line.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod interop;
pub mod mosquitto;
pub mod net;
pub mod peer;
pub mod scratch;
pub mod signal;

pub use interop::{require_peer, Interop, Skip};
pub use net::{free_port, free_range, http_get, wait_listening, HttpResponse};
pub use scratch::{scratch, Scratch};
pub use signal::{signal, Signal};

//! The IEC 60870-5-104 to MQTT gateway as a library.
//!
//! Layers, imports running one way (see `docs/architecture.md`):
//! `app` (wiring) → `south` (IEC 104 sessions), `north` (MQTT and the store), `commands`
//! (the command router), `cluster`, `ops` (metrics, HTTP, systemd) → `model`, `contract`,
//! `config` (shared types, topics and payloads, settings).
//!
//! Start a gateway in-process with [`start`] (on a tokio runtime) and stop it with
//! [`Gateway::run_until`]; the binary `iec104-gateway` is a thin command line over this.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// `println!` that ignores a closed stdout (e.g. `| head`) instead of panicking.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

pub mod app;

mod cluster;
mod commands;
pub mod config;
pub mod contract;
#[cfg(feature = "demo")]
pub mod demo;
mod model;
mod north;
mod ops;
mod south;

pub use app::{run, signals, start, Gateway, StartError};
pub use config::{load, parse, Loaded, Overrides};
pub use ops::exposition::METRIC_NAMES;
pub use ops::scrape;

//! `iec104_sim`: simulated IEC 60870-5-104 controlled stations (RTUs), as a library (the
//! `iec104-sim` binary is a thin CLI over it; `iec104-gateway demo` runs stations in-process).
//!
//! ```no_run
//! # async fn demo() -> Result<(), iec104_sim::SimError> {
//! use iec104_sim::{Options, Scenario};
//! let scenario = Scenario::from_file("simulators/scenarios/substation-110kv.toml")?;
//! let mut options = Options::new("127.0.0.1:0".parse().unwrap());
//! options.events_log = Some("events.jsonl".into());
//! let sim = iec104_sim::start(&scenario, options).await?; // binds every station
//! for s in sim.stations() {
//!     println!("{} (CA {}) on {}", s.name, s.ca, s.addr);
//! }
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let running = tokio::spawn(sim.run(async move { let _ = stopped.await; }));
//! // ... later:
//! let _ = stop.send(());
//! let summary = running.await.expect("not panicked")?;
//! println!("{} objects sent", summary.objects);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod events_log;
mod faults;
mod points;
mod run;
mod station;
mod tls;

pub use config::{ConfigError, GroupConfig, Redundancy, Scenario, StationConfig};
pub use faults::FaultArgError;
pub use run::{start, Options, SimError, Simulation, StationInfo, Summary};
pub use station::StationError;
pub use tls::StationTls;

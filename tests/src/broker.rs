//! A real broker: mosquitto on 127.0.0.1 (from the workspace's test kit).

pub use testkit::mosquitto::Broker;

/// Path of mosquitto (for the benchmarks, which report a missing broker themselves).
pub const MOSQUITTO: &str = "/usr/sbin/mosquitto";

/// Whether a broker test may run: the one rule of `testkit::interop` (mosquitto present; else
/// skipped with a note, or a failure under `IEC104_INTEROP=require`).
pub fn available() -> bool {
    testkit::require_peer("mosquitto").is_ok()
}

//! Operations: counters rendered for Prometheus, the HTTP endpoint, systemd notifications.

pub mod metrics;
pub mod notify;

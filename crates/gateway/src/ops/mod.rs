//! Operations: the metrics rendered for Prometheus, the HTTP endpoint, systemd notifications.

pub mod http;
pub mod metrics;
pub mod notify;

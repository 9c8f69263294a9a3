//! Operations: the metrics rendered for Prometheus, the HTTP endpoint with the status page,
//! systemd notifications.

pub mod api;
pub mod exposition;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod scrape;
pub mod state;

#[cfg(test)]
mod http_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) use tests::Fake;

//! Operations: the HTTP endpoint (metrics, health, status page).

pub mod api;
pub mod exposition;
pub mod http;
pub mod scrape;

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) use tests::Fake;
#[cfg(test)]
mod http_tests;

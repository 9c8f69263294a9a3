//! Operations: the HTTP endpoint (metrics, health, status page).

pub mod api;
pub mod exposition;
pub mod http;
pub mod scrape;

#[cfg(test)]
mod tests;

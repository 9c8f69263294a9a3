//! The endpoint's read-only state and its bounds, shared by the router (`http.rs`) and the
//! page's API (`api.rs`).

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::sync::Semaphore;

use super::exposition::{self, MetricSource};
use crate::model::live::LiveView;

/// Connection and request bounds of the endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub connections: usize,
    /// Time a connection has to send a complete request head.
    pub header_read: Duration,
    /// Ordinary (non-streaming) requests served at once.
    pub requests: usize,
    /// Time an ordinary request may take.
    pub request_time: Duration,
    /// Event streams open at once.
    pub streams: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections: 1024,
            header_read: Duration::from_secs(10),
            requests: 64,
            request_time: Duration::from_secs(30),
            streams: 64,
        }
    }
}

/// Everything the endpoint reads (read-only).
#[derive(Clone)]
pub struct Ops {
    /// The metric registry (rendered on `/metrics`).
    pub registry: Arc<Registry>,
    /// The counters behind it (for the page's header figures).
    pub source: Arc<dyn MetricSource>,
    /// Ready: the broker was reached at least once.
    pub ready: Arc<dyn Fn() -> bool + Send + Sync>,
    /// The live view of the status page.
    pub live: Arc<LiveView>,
    /// The access token, when configured.
    pub token: Option<Arc<str>>,
    /// Event streams open at once.
    pub streams: Arc<Semaphore>,
}

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ops")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

impl Ops {
    /// The endpoint's state for `source` and `live`.
    pub fn new(
        source: Arc<dyn MetricSource>,
        ready: Arc<dyn Fn() -> bool + Send + Sync>,
        live: Arc<LiveView>,
        token: Option<String>,
        limits: &Limits,
    ) -> Ops {
        Ops {
            registry: Arc::new(exposition::registry(source.clone())),
            source,
            ready,
            live,
            token: token.map(Arc::from),
            streams: Arc::new(Semaphore::new(limits.streams)),
        }
    }
}

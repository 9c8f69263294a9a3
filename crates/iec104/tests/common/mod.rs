//! Helpers shared by the integration tests (`mod common;`).

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

/// Records every tracing event as (level, fields).
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<(tracing::Level, String)>>>);

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut s = String::new();
        event.record(&mut Fields(&mut s));
        self.0.lock().unwrap().push((*event.metadata().level(), s));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

impl Capture {
    /// Installs a new capture as the global subscriber (once per test binary).
    pub fn install_global() -> Capture {
        let capture = Capture::default();
        tracing::subscriber::set_global_default(capture.clone()).unwrap();
        capture
    }

    /// Every event recorded so far, as (level, "field=value " ...).
    pub fn lines(&self) -> Vec<(tracing::Level, String)> {
        self.0.lock().unwrap().clone()
    }
}

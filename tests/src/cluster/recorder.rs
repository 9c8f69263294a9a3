//! A subscriber that records every message (topic, JSON, retain flag, arrival instant) in
//! the background, so that a test can look at everything at once and wait for a condition
//! over the whole record.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::subscriber::{Received, Subscriber};

struct Shared {
    msgs: Mutex<Vec<Received>>,
    more: Notify,
}

/// The recording subscriber.
pub struct Recorder {
    shared: Arc<Shared>,
    client: rumqttc::AsyncClient,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    /// Subscribes to `filter` on 127.0.0.1:`port` and records from now on.
    pub async fn start(port: u16, filter: &str) -> Recorder {
        let mut sub = Subscriber::start(port, filter).await;
        let client = sub.client();
        let shared = Arc::new(Shared {
            msgs: Mutex::new(Vec::new()),
            more: Notify::new(),
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Some(m) = sub.next(Duration::from_secs(3600)).await {
                s.msgs.lock().unwrap_or_else(|p| p.into_inner()).push(m);
                s.more.notify_waiters();
            }
        });
        Recorder {
            shared,
            client,
            task,
        }
    }

    /// Publishes `payload` on `topic` with QoS 1 (e.g. a command).
    pub async fn publish(&self, topic: &str, payload: &str) {
        self.client
            .publish(
                topic,
                rumqttc::QoS::AtLeastOnce,
                false,
                payload.as_bytes().to_vec(),
            )
            .await
            .expect("publish");
    }

    /// Runs `f` on everything recorded so far.
    pub fn with<T>(&self, f: impl FnOnce(&[Received]) -> T) -> T {
        let msgs = self.shared.msgs.lock().unwrap_or_else(|p| p.into_inner());
        f(&msgs)
    }

    /// Number of messages recorded so far.
    pub fn len(&self) -> usize {
        self.with(|m| m.len())
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until `f` over the record returns Some, at most `within` (re-evaluated on every
    /// new message, and at least every 250 ms for conditions on other sources).
    pub async fn wait<T>(
        &self,
        within: Duration,
        mut f: impl FnMut(&[Received]) -> Option<T>,
    ) -> Option<T> {
        let end = Instant::now() + within;
        let mut evaluated: Option<Instant> = None;
        loop {
            // At most one evaluation per 20 ms: conditions over a long record are not free.
            if let Some(e) = evaluated {
                tokio::time::sleep_until(e + Duration::from_millis(20)).await;
            }
            let more = self.shared.more.notified();
            tokio::pin!(more);
            more.as_mut().enable();
            evaluated = Some(Instant::now());
            if let Some(t) = self.with(&mut f) {
                return Some(t);
            }
            let now = Instant::now();
            if now >= end {
                return None;
            }
            let wake = end.min(now + Duration::from_millis(250));
            let _ = tokio::time::timeout_at(wake, more).await;
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

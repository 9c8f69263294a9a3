//! Commands from the broker on their way to the router. The publisher must never wait for
//! the router: the router waits for the publisher to take its results, and the publisher
//! must keep reading the connection for the PUBACKs of those results (waiting here would
//! deadlock both). Commands are acknowledged to the broker only once handled, so a broker
//! that honours MQTT 5 Receive Maximum (or its own in-flight window) holds the rest; what
//! it sends anyway waits here in order, up to [`Intake::MAX`] commands (each payload is
//! already cut to a command's size), beyond which a command is counted and logged as
//! dropped.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::model::{Incoming, Metrics};

/// Commands waiting for the router, in arrival order.
#[derive(Debug, Default)]
pub struct Intake {
    waiting: VecDeque<Incoming>,
    last_warning: Option<Instant>,
}

impl Intake {
    /// Commands held at most (about 70 MB of cut payloads in the worst case).
    pub const MAX: usize = 16_384;

    /// Hands `m` to the router when there is room and nothing waits before it; else keeps it.
    pub fn push(&mut self, m: Incoming, router: &mpsc::Sender<Incoming>, metrics: &Metrics) {
        if self.waiting.is_empty() {
            // Closed: the router is gone (shutting down), nothing to hold it for.
            if let Err(mpsc::error::TrySendError::Full(m)) = router.try_send(m) {
                self.waiting.push_back(m);
            }
        } else if self.waiting.len() < Self::MAX {
            self.waiting.push_back(m);
        } else {
            metrics.command_dropped();
            let now = Instant::now();
            if self
                .last_warning
                .map_or(true, |t| now.duration_since(t) >= Duration::from_secs(10))
            {
                self.last_warning = Some(now);
                tracing::warn!(
                    held = Self::MAX,
                    "command intake full: command dropped (the broker ignores Receive Maximum?)"
                );
            }
        }
    }

    /// Whether commands wait for room at the router.
    pub fn waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Passes the oldest waiting command through a reserved slot.
    pub fn pass(&mut self, permit: mpsc::Permit<'_, Incoming>) {
        if let Some(m) = self.waiting.pop_front() {
            permit.send(m);
        }
    }
}

//! The group-commit writer: batches the publisher sends to disk (no broker, a batch not
//! acknowledged within `spill_after`, or behind others already on disk) are appended to the
//! store in one transaction, THEN their I-frames are released to the RTUs (so an event the
//! RTU considers delivered is on disk), then the publisher is woken.

use crate::contract::RtuStatus;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Notify};

use super::Store;
use crate::model::Message;
use crate::model::{Batch, Metrics, StatusBoard};

/// Batches per transaction, at most.
const GROUP: usize = 512;

/// Runs until every sender is dropped; counts the batches committed in `committed`.
pub async fn run(
    store: Arc<Store>,
    mut rx: mpsc::Receiver<Batch>,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    board: Arc<StatusBoard>,
    committed: Arc<AtomicU64>,
) {
    let mut group: Vec<Batch> = Vec::with_capacity(GROUP);
    loop {
        if group.is_empty() {
            match rx.recv().await {
                Some(b) => group.push(b),
                None => return,
            }
        }
        while group.len() < GROUP {
            match rx.try_recv() {
                Ok(b) => group.push(b),
                Err(_) => break,
            }
        }
        let messages: Vec<Message> = group.iter().flat_map(|b| b.messages.clone()).collect();
        let s = store.clone();
        let result = tokio::task::spawn_blocking(move || s.append(&messages)).await;
        match result {
            Ok(Ok(dropped)) => {
                if dropped > 0 {
                    tracing::warn!(
                        dropped,
                        total = store.dropped(),
                        "store bound reached: oldest messages dropped"
                    );
                    board.patch(
                        RtuStatus::TOPIC_SUFFIX,
                        RtuStatus::QUEUE_DROPPED,
                        serde_json::json!(store.dropped()),
                    );
                }
                let n = group.len() as u64;
                for b in group.drain(..) {
                    if let Some(release) = b.release {
                        release.release();
                    }
                }
                committed.fetch_add(n, Ordering::SeqCst);
                metrics.set_queue(store.len(), store.dropped());
                wake.notify_one();
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot append to the store; retrying in 1 s (RTUs are not acknowledged meanwhile)");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "store task failed; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

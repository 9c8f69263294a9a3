//! Helpers of the interop tests (`tests/interop_c104.rs`): a pcap writer, a tshark runner, a
//! recording proxy, session steps and a tiny station. Peer availability (`IEC104_INTEROP`),
//! peer processes and free ports come from the workspace's test kit (`testkit`). (Not `tests/common`:
//! that module holds the tracing capture shared by the other integration tests.)
#![allow(dead_code)]

pub mod expect;
pub mod pcap;
pub mod proxy;
pub mod session;
pub mod station;
pub mod tshark;
pub mod type_cases;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A fresh path in the cargo target's temporary directory for this test binary.
pub fn temp_path(name: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-{n}-{name}", std::process::id()))
}

/// Runs a future with a bound; panics naming `what` when it takes longer.
pub async fn bounded<F: std::future::Future>(what: &str, timeout: Duration, f: F) -> F::Output {
    tokio::time::timeout(timeout, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {timeout:?}: {what}"))
}

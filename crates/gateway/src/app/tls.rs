//! TLS of the RTU links at the process level: the connectors loaded at start, and their
//! reload on SIGHUP and when a certificate, key or CRL file changes (checked every
//! [`CHECK_EVERY`]). Working connections stay up unless their RTU is refused now.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;

use super::StartError;
use crate::config::Loaded;
use crate::model::Metrics;
use crate::south::tls::Connectors;

/// How often the TLS files are looked at for changes.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);

/// Loads the files of every `[rtu.tls]` (once per distinct configuration).
pub(super) fn load(loaded: &Loaded) -> Result<Arc<Connectors>, StartError> {
    let rtus = loaded
        .rtus
        .iter()
        .filter_map(|r| r.tls.as_ref().map(|t| (r.name.as_str(), t)));
    Connectors::load(rtus)
        .map(Arc::new)
        .map_err(|e| StartError::Tls(e.to_string()))
}

/// What a file looks like now (modification time and length; `None` when unreadable).
fn signature(files: &[PathBuf]) -> Vec<Option<(SystemTime, u64)>> {
    files
        .iter()
        .map(|f| {
            let m = std::fs::metadata(f).ok()?;
            Some((m.modified().ok()?, m.len()))
        })
        .collect()
}

/// Spawns the reloader: on SIGHUP (always handled, so that `systemctl reload` never ends
/// the process) and, when any RTU speaks TLS, on a change of any of its files.
pub(super) fn spawn_reloader(
    tls: Arc<Connectors>,
    metrics: Arc<Metrics>,
) -> Option<JoinHandle<()>> {
    let files = tls.files();
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    Some(tokio::spawn(async move {
        let mut seen = signature(&files);
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let signalled = async {
                match &mut hangup {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let signalled = std::future::pending::<Option<()>>();
            let why = tokio::select! {
                _ = tick.tick(), if !files.is_empty() => {
                    let now = signature(&files);
                    if now == seen {
                        continue;
                    }
                    seen = now;
                    "a file changed"
                }
                _ = signalled => {
                    seen = signature(&files);
                    "SIGHUP"
                }
            };
            if files.is_empty() {
                tracing::info!(
                    trigger = why,
                    "no TLS files to reload (no RTU has [rtu.tls])"
                );
                continue;
            }
            let failed = tls.reload(&metrics);
            if failed == 0 {
                tracing::info!(trigger = why, "tls: certificates, keys and CRLs reloaded");
            }
        }
    }))
}

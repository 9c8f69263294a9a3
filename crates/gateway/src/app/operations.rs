//! Starts the operations side: the HTTP endpoint and the systemd notifications.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::StartError;
use crate::config::Loaded;
use crate::model::Metrics;
use crate::ops::{http, notify};

/// Binds `gateway.http_listen`, when set.
pub(super) async fn bind_http(
    loaded: &Loaded,
) -> Result<Option<(SocketAddr, TcpListener)>, StartError> {
    let Some(addr) = loaded.gateway.http_listen else {
        return Ok(None);
    };
    let listener = http::bind(addr)
        .await
        .map_err(|source| StartError::HttpBind { addr, source })?;
    let bound = listener.local_addr().unwrap_or(addr);
    tracing::info!(addr = %bound, "HTTP endpoint: /metrics /health /ready");
    Ok(Some((bound, listener)))
}

/// Serves the HTTP endpoint.
pub(super) fn serve_http(listener: TcpListener, metrics: Arc<Metrics>) -> JoinHandle<()> {
    tokio::spawn(http::serve(listener, metrics))
}

/// Tells systemd the gateway is ready and starts the watchdog pings when systemd wants them.
pub(super) fn ready() -> Option<JoinHandle<()>> {
    notify::notify("READY=1\nSTATUS=running");
    notify::watchdog_interval().map(|every| {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                notify::notify("WATCHDOG=1");
            }
        })
    })
}

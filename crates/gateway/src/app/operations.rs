//! Starts the operations side: the HTTP endpoint (metrics, health, status page) and the
//! systemd notifications.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::StartError;
use crate::config::Loaded;
use crate::model::live::LiveView;
use crate::model::Metrics;
use crate::ops::http::{self, Limits, Ops};
use crate::ops::notify;

/// Points the status page keeps a last value of, over all RTUs.
pub const MAX_POINTS: usize = 200_000;
/// Commands the status page's log keeps.
pub const MAX_COMMANDS: usize = 200;

/// The bound HTTP endpoint and its access token.
#[derive(Debug)]
pub(super) struct HttpEndpoint {
    pub addr: SocketAddr,
    listener: TcpListener,
    token: Option<String>,
}

/// The live view of the status page, for the configured RTUs.
pub(super) fn live_view(loaded: &Loaded) -> Arc<LiveView> {
    let rtus = loaded.rtus.iter().map(|r| {
        let tls = if r.tls.is_some() { "on" } else { "off" };
        (r.name.clone(), r.addresses.join(", "), tls.to_owned())
    });
    Arc::new(LiveView::new(&loaded.node, rtus, MAX_POINTS, MAX_COMMANDS))
}

/// Reads the access token of `gateway.http_token_file` (surrounding whitespace removed).
fn read_token(loaded: &Loaded) -> Result<Option<String>, StartError> {
    let Some(file) = &loaded.gateway.http_token_file else {
        return Ok(None);
    };
    let path = file.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|source| StartError::ReadFile {
        what: "http_token_file ",
        path: path.clone(),
        source,
    })?;
    let token = text.trim().to_owned();
    if token.is_empty() {
        return Err(StartError::ReadFile {
            what: "http_token_file ",
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "the file is empty"),
        });
    }
    Ok(Some(token))
}

/// Binds `gateway.http_listen`, when set, and reads the access token.
pub(super) async fn bind_http(loaded: &Loaded) -> Result<Option<HttpEndpoint>, StartError> {
    let Some(addr) = loaded.gateway.http_listen else {
        return Ok(None);
    };
    let token = read_token(loaded)?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::HttpBind { addr, source })?;
    let bound = listener.local_addr().unwrap_or(addr);
    tracing::info!(addr = %bound, token = token.is_some(), "HTTP endpoint: / (status page), /metrics, /health, /ready");
    Ok(Some(HttpEndpoint {
        addr: bound,
        listener,
        token,
    }))
}

/// Serves the HTTP endpoint (until the returned task is aborted).
pub(super) fn serve_http(
    endpoint: HttpEndpoint,
    metrics: Arc<Metrics>,
    live: Arc<LiveView>,
) -> JoinHandle<()> {
    let limits = Limits::default();
    let ready = metrics.clone();
    let ops = Ops::new(
        metrics,
        Arc::new(move || ready.ready()),
        live,
        endpoint.token,
        &limits,
    );
    let router = http::router(ops, &limits);
    tokio::spawn(http::serve(
        endpoint.listener,
        router,
        limits,
        std::future::pending(),
    ))
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

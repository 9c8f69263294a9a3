//! The HTTP endpoint on axum/hyper: `/metrics`, `/health`, `/ready` and the status page
//! (`/`, `/api/...`, server-sent events on `/api/events`).
//!
//! Limits: at most [`Limits::connections`] connections at once (more wait in the backlog);
//! a connection that does not send a request head within [`Limits::header_read`] is closed, so
//! idle connections give their slot back and cannot starve `/metrics`; ordinary requests are
//! limited in number and time, event streams in number. Unknown methods get 405.
//!
//! Access: with a token, every request needs it (`Authorization: Bearer …` or `?token=`,
//! compared in constant time). Without one, the status page and its API answer only clients
//! on the loopback interface; `/metrics`, `/health` and `/ready` answer everyone.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::limit::ConcurrencyLimitLayer;

use super::api;
use super::exposition;

pub use super::state::{Limits, Ops};

const INDEX_HTML: &str = include_str!("web/index.html");
const APP_JS: &str = include_str!("web/app.js");
const STYLE_CSS: &str = include_str!("web/style.css");

async fn metrics(State(ops): State<Ops>) -> Response {
    let body = exposition::render(&ops.registry);
    ([(header::CONTENT_TYPE, exposition::CONTENT_TYPE)], body).into_response()
}

async fn health() -> &'static str {
    "ok\n"
}

async fn ready(State(ops): State<Ops>) -> Response {
    if (ops.ready)() {
        "ready\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The router of the endpoint (without the connection handling of [`serve`]).
pub fn router(ops: Ops, limits: &Limits) -> Router {
    let plain = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .route("/api/overview", get(api::overview))
        .route("/api/rtu/{name}", get(api::rtu_points))
        .route("/api/commands", get(api::commands))
        .layer(ConcurrencyLimitLayer::new(limits.requests))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_time,
        ));
    let streams = Router::new().route("/api/events", get(api::events));
    plain
        .merge(streams)
        .layer(axum::middleware::from_fn_with_state(ops.clone(), access))
        .with_state(ops)
}

/// Whether `path` is open to every client when no token is configured.
fn public_path(path: &str) -> bool {
    matches!(path, "/metrics" | "/health" | "/ready")
}

/// The token a request presents (header first, then the query).
fn presented_token(req: &Request) -> Option<&str> {
    if let Some(v) = req.headers().get(header::AUTHORIZATION) {
        return v.to_str().ok().and_then(|v| v.strip_prefix("Bearer "));
    }
    req.uri()
        .query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
}

async fn access(State(ops): State<Ops>, req: Request, next: Next) -> Response {
    match &ops.token {
        Some(token) => {
            let ok = presented_token(&req)
                .is_some_and(|t| bool::from(t.as_bytes().ct_eq(token.as_bytes())));
            if !ok {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer")],
                    "a valid access token is required (Authorization: Bearer … or ?token=)\n",
                )
                    .into_response();
            }
        }
        None => {
            let peer = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip());
            let local = peer.is_some_and(|ip| ip.is_loopback());
            if !local && !public_path(req.uri().path()) {
                return (
                    StatusCode::FORBIDDEN,
                    "the status page answers only local clients unless [gateway] http_token_file is set\n",
                )
                    .into_response();
            }
        }
    }
    next.run(req).await
}

/// Serves `router` on `listener` until `stop` completes (connections in flight are dropped
/// with the returned future).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stop: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.connections));
    let mut conns = tokio::task::JoinSet::new();
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            _ = &mut stop => break,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            _ = &mut stop => break,
            a = listener.accept() => a,
            // Reap finished connections so the set stays as small as the open ones.
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let (sock, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // E.g. out of file descriptors: do not spin.
                tracing::warn!(error = %e, "HTTP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = router.clone().layer(axum::Extension(ConnectInfo(peer)));
        conns.spawn(async move {
            let _permit = permit;
            let service = TowerToHyperService::new(service);
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read)
                .serve_connection(TokioIo::new(sock), service);
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "HTTP connection ended");
            }
        });
    }
}

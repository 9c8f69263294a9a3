//! Tests of the HTTP endpoint over real sockets: bounds, methods, access.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use super::http::{router, serve, Limits, Ops};
use super::scrape::{key, parse};
use super::Fake;
use crate::model::live::LiveView;

fn ops(token: Option<&str>) -> Ops {
    let live = Arc::new(LiveView::new(
        "gw1",
        [(
            "north".to_owned(),
            "127.0.0.1:2404".to_owned(),
            "off".to_owned(),
        )],
        1000,
        10,
    ));
    Ops::new(
        Arc::new(Fake::default()),
        Arc::new(|| true),
        live,
        token.map(str::to_owned),
        &Limits::default(),
    )
}

/// Serves `ops` with `limits` on a free port; the server lives as long as the returned sender.
async fn start(ops: Ops, limits: Limits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = router(ops, &limits);
    tokio::spawn(serve(listener, app, limits, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// Sends `head` (a request without body) and returns the status code and body.
async fn request(addr: SocketAddr, head: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_answer_while_500_idle_connections_are_open() {
    let (addr, _stop) = start(ops(None), Limits::default()).await;
    let mut idle = Vec::new();
    for _ in 0..500 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    let (status, body) = request(addr, &get("/metrics")).await;
    assert_eq!(status, 200, "{body}");
    let m = parse(&body).unwrap();
    assert_eq!(m.get(&key("iec104gw_published_total", &[])), Some(&7.0));
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_so_they_cannot_hold_every_slot() {
    let limits = Limits {
        connections: 4,
        header_read: Duration::from_millis(200),
        ..Limits::default()
    };
    let (addr, _stop) = start(ops(None), limits).await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // Every slot is held by a silent client; the server closes them and answers.
    let (status, _) = request(addr, &get("/health")).await;
    assert_eq!(status, 200);
    for mut s in idle {
        let mut buf = [0u8; 512];
        // The server closes the connection (EOF, possibly after a 408 response).
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}

#[tokio::test]
async fn unknown_and_wrong_methods_get_405() {
    let (addr, _stop) = start(ops(None), Limits::default()).await;
    for method in ["POST", "DELETE", "FOO"] {
        let head = format!("{method} /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        assert_eq!(request(addr, &head).await.0, 405, "{method}");
    }
    assert_eq!(request(addr, &get("/nothing")).await.0, 404);
    assert_eq!(request(addr, &get("/ready")).await.0, 200);
}

#[tokio::test]
async fn with_a_token_every_request_needs_it() {
    let (addr, _stop) = start(ops(Some("s3cret")), Limits::default()).await;
    for path in ["/metrics", "/", "/api/overview", "/health"] {
        assert_eq!(request(addr, &get(path)).await.0, 401, "{path}");
    }
    let wrong = "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cres\r\nConnection: close\r\n\r\n";
    assert_eq!(request(addr, wrong).await.0, 401);
    let right = "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\nConnection: close\r\n\r\n";
    assert_eq!(request(addr, right).await.0, 200);
    assert_eq!(
        request(addr, &get("/api/overview?token=s3cret")).await.0,
        200
    );
}

#[tokio::test]
async fn without_a_token_the_page_is_for_local_clients_only() {
    for (peer, path, want) in [
        ("10.1.2.3:5000", "/", 403),
        ("10.1.2.3:5000", "/api/overview", 403),
        ("10.1.2.3:5000", "/metrics", 200),
        ("10.1.2.3:5000", "/health", 200),
        ("127.0.0.1:5000", "/", 200),
        ("[::1]:5000", "/api/overview", 200),
    ] {
        let peer: SocketAddr = peer.parse().unwrap();
        let app = router(ops(None), &Limits::default()).layer(axum::Extension(ConnectInfo(peer)));
        let req = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = app.oneshot(req).await.unwrap();
        assert_eq!(resp.status().as_u16(), want, "{peer} {path}");
    }
}

/// Figures, not a test of timing: `cargo test -p iec104-gateway --lib -- --ignored
/// status_page_figures --nocapture` prints how long the page's requests take with 3 000 RTUs
/// and 100 000 points.
#[tokio::test]
#[ignore]
async fn status_page_figures() {
    use iec104::asdu::{Element, SinglePoint};
    let rtus = (0..3000).map(|i| {
        (
            format!("rtu-{i:04}"),
            "10.0.0.1:2404".to_owned(),
            "off".to_owned(),
        )
    });
    let live = Arc::new(LiveView::new("gw1", rtus, 200_000, 200));
    let t = std::time::Instant::now();
    for (i, r) in live.rtus().iter().enumerate() {
        let n = if i == 0 { 10_000 } else { 30 };
        let mut received = crate::model::live::Received {
            cause: 3,
            at: chrono::Utc::now(),
            tz_offset_secs: 0,
            version: 0,
        };
        let updates = (0..n).map(|ioa| crate::model::live::Update {
            ca: 1,
            ioa,
            element: Element::M_SP_NA_1(SinglePoint::new(true, iec104::asdu::Quality::GOOD)),
            name: None,
            scale: (None, None),
        });
        live.record(r, &mut received, updates);
    }
    eprintln!(
        "filled {:?} points in {:?}",
        live.point_counts(),
        t.elapsed()
    );
    let ops = Ops::new(
        Arc::new(Fake::default()),
        Arc::new(|| true),
        live,
        None,
        &Limits::default(),
    );
    let (addr, _stop) = start(ops, Limits::default()).await;
    for path in [
        "/api/overview",
        "/api/overview?page=29",
        "/api/rtu/rtu-0000",
        "/api/rtu/rtu-0000?q=1/99&page=3",
        "/api/rtu/rtu-0001",
        "/metrics",
    ] {
        let t = std::time::Instant::now();
        let (status, body) = request(addr, &get(path)).await;
        eprintln!("{path}: {status}, {} bytes, {:?}", body.len(), t.elapsed());
    }
}

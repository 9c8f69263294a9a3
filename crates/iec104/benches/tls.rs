//! Cost of TLS (IEC 62351-3) on a link: the handshake (mutual authentication, ECDSA P-256
//! test certificates, in memory) and the steady-state rate of ASDUs over one loopback link,
//! clear vs TLS (client sends, server receives and acknowledges; one current-thread runtime
//! runs both ends, so the two sides' crypto shares one core).
//!
//! `cargo bench -p iec104 --bench tls -- --warm-up-time 1 --measurement-time 5`

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use iec104::client::{self, Client, ClientConfig};
use iec104::server::{Server, ServerConfig, ServerEvent, ServerEvents};
use iec104::tls::testing::TestPki;
use iec104::tls::TlsConfig;
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn pki() -> (std::path::PathBuf, TestPki) {
    let dir = std::env::temp_dir().join(format!("iec104-bench-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let pki = TestPki::generate(&dir).expect("PKI");
    (dir, pki)
}

fn handshake(c: &mut Criterion) {
    let (dir, pki) = pki();
    let rt = runtime();
    let mut g = c.benchmark_group("tls_handshake");
    for (name, tls13) in [("mutual_tls13", true), ("mutual_tls12", false)] {
        let client_config = TlsConfig {
            tls13,
            ..pki.client_config()
        };
        let acceptor = pki.server_config().acceptor().expect("server");
        // A fresh connector per handshake (made outside the timing): a full handshake, no
        // session resumption from the previous iteration.
        g.bench_function(name, |b| {
            b.iter_batched(
                || client_config.connector().expect("client"),
                |connector| {
                    rt.block_on(async {
                        let (a, b) = tokio::io::duplex(64 * 1024);
                        let t = Duration::from_secs(10);
                        let (client, server) = tokio::join!(
                            connector.connect("localhost", a, t),
                            acceptor.accept(b, t)
                        );
                        client.expect("client handshake");
                        server.expect("server handshake");
                    })
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
    let _ = std::fs::remove_dir_all(dir);
}

/// M_ME_NC_1, one object (IOA 1, 230.5, good quality), COT spontaneous, CA 1.
fn asdu() -> Bytes {
    let mut v = vec![13, 1, 3, 0, 1, 0, 1, 0, 0];
    v.extend(230.5f32.to_le_bytes());
    v.push(0);
    Bytes::from(v)
}

async fn link(tls: Option<&TestPki>) -> (Client, ServerEvents) {
    let addr = "127.0.0.1:0".parse().expect("addr");
    let config = ServerConfig::default();
    let (handle, events, run) = match tls {
        Some(pki) => {
            let acceptor = pki.server_config().acceptor().expect("server");
            let (h, e, r) = Server::bind_tls(addr, config, acceptor)
                .await
                .expect("bind");
            (h, e, tokio::spawn(r))
        }
        None => {
            let (h, e, r) = Server::bind(addr, config).await.expect("bind");
            (h, e, tokio::spawn(r))
        }
    };
    drop(run);
    let target = handle.local_addr().to_string();
    let (client, _client_events, connection) = match tls {
        Some(pki) => {
            let connector = pki.client_config().connector().expect("client");
            client::connect_tls(&target, ClientConfig::default(), &connector).await
        }
        None => client::connect(target.as_str(), ClientConfig::default()).await,
    }
    .expect("connect");
    tokio::spawn(connection);
    std::mem::forget(handle); // the server lives as long as the bench process
    std::mem::forget(_client_events);
    client.start_dt().await.expect("STARTDT");
    (client, events)
}

fn steady_state(c: &mut Criterion) {
    let (dir, pki) = pki();
    let rt = runtime();
    let mut g = c.benchmark_group("link_asdus");
    g.throughput(Throughput::Elements(1));
    for (name, tls) in [("tls13", Some(&pki)), ("clear", None)] {
        let (client, mut events) = rt.block_on(link(tls));
        let asdu = asdu();
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    let send = async {
                        for _ in 0..iters {
                            client.send(asdu.clone()).await.expect("send");
                        }
                    };
                    let receive = async {
                        let mut n = 0;
                        while n < iters {
                            if let Some(ServerEvent::Asdu { .. }) = events.recv().await {
                                n += 1;
                            }
                        }
                    };
                    tokio::join!(send, receive);
                    start.elapsed()
                })
            })
        });
    }
    g.finish();
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, handshake, steady_state);
criterion_main!(benches);

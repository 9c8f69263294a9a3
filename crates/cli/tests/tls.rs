//! The real `iec104` binary with `--tls-*` against a TLS station of the protocol crate
//! (`Server::bind_tls`) on 127.0.0.1: a station interrogation with mutual authentication, and
//! each refusal exits 3 naming what failed; unreadable files are usage errors (exit 2).

mod common;

use std::path::Path;

use bytes::Bytes;
use common::{run, stderr, stdout_lines};
use iec104::server::{Server, ServerConfig, ServerEvent, ServerHandle};
use iec104::tls::testing::TestPki;

/// C_IC_NA_1 act CA 1 QOI 20, and the station's answers (hex from IEC 60870-5-104 §8).
const GI_ACT: [u8; 10] = [0x64, 0x01, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x14];
const GI_CON: [u8; 10] = [0x64, 0x01, 0x07, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x14];
const GI_TERM: [u8; 10] = [0x64, 0x01, 0x0A, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x14];
/// M_SP_NA_1 inrogen CA 1, IOA 1, SIQ on.
const SP_ON: [u8; 10] = [0x01, 0x01, 0x14, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x01];

/// A TLS station answering a station interrogation with one single point.
async fn tls_station(pki: &TestPki) -> ServerHandle {
    let acceptor = pki.server_config().acceptor().expect("station TLS");
    let (handle, mut events, run) = Server::bind_tls(
        "127.0.0.1:0".parse().unwrap(),
        ServerConfig::default(),
        acceptor,
    )
    .await
    .expect("bind");
    tokio::spawn(run);
    let answering = handle.clone();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let ServerEvent::Asdu { conn, asdu } = event {
                if asdu.as_ref() == GI_ACT {
                    for reply in [GI_CON, SP_ON, GI_TERM] {
                        let _ = answering
                            .send_to(conn, Bytes::copy_from_slice(&reply))
                            .await;
                    }
                }
            }
        }
    });
    handle
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[tokio::test]
async fn interrogate_over_tls_and_refusals() {
    let dir = std::env::temp_dir().join(format!("iec104-cli-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pki = TestPki::generate(&dir).expect("PKI");
    let station = tls_station(&pki).await;
    let addr = station.local_addr().to_string();
    let base = [
        "interrogate",
        addr.as_str(),
        "--format",
        "json",
        "--timeout",
        "10",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let run_with = |args: Vec<String>| async move {
        run(&args.iter().map(String::as_str).collect::<Vec<_>>()).await
    };

    let good = [
        "--tls-ca",
        p(&pki.ca),
        "--tls-cert",
        p(&pki.client.cert),
        "--tls-key",
        p(&pki.client.key),
    ];
    let out = run_with(with(&good)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("\"ioa\":1") && lines[0].contains("\"value\":true"),
        "{lines:?}"
    );

    let revoked = [
        "--tls-ca",
        p(&pki.ca),
        "--tls-cert",
        p(&pki.revoked.cert),
        "--tls-key",
        p(&pki.revoked.key),
    ];
    let out = run_with(with(&revoked)).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("certificate_revoked"),
        "{}",
        stderr(&out)
    );

    let distrustful = [
        "--tls-ca",
        p(&pki.other_ca),
        "--tls-cert",
        p(&pki.client.cert),
        "--tls-key",
        p(&pki.client.key),
    ];
    let out = run_with(with(&distrustful)).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("TLS refused (unknown_ca)"),
        "{}",
        stderr(&out)
    );

    // Without --tls-*: the station's TLS alert is named as such.
    let out = run_with(with(&[])).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("answered with TLS"),
        "{}",
        stderr(&out)
    );

    let missing = dir.join("missing.pem");
    let out = run_with(with(&["--tls-ca", p(&missing)])).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("missing.pem"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

//! TLS (IEC 62351-3) interop with c104 (lib60870-C with mbedtls), mutual authentication both
//! ways, with certificates from `iec104::tls::testing` (ECDSA P-256; c104's default cipher list
//! accepts them):
//! - `our_tls_client_against_c104_tls_server`: our client interrogates a c104 TLS server; a
//!   client certificate of another CA is refused by c104 (mbedtls -0x2700, X509 verify failed)
//!   and seen by us as a TLS error; c104's certificate checked against another CA is refused
//!   by us as `unknown_ca`; a plain client gets no IEC 104 answer.
//! - `c104_tls_client_against_our_tls_server`: c104's client against our server. c104 2.2.1's
//!   client cannot verify any server: its mbedtls (>= 3.6.3) refuses certificate verification
//!   without a host name and c104 sets none (-0x5d80, see docs/interop-findings.md). The test
//!   accepts that known failure only in that exact form, and checks that our server reports it
//!   as a typed refusal; once c104 connects, it checks the data instead.
//!
//! `IEC104_INTEROP` unset/`auto`: skipped when c104 is missing; `require`: a failure (see
//! `testkit::interop`).

mod interop;

use std::path::PathBuf;
use std::time::Duration;

use iec104::asdu::{Asdu, Qoi};
use iec104::client::{self, ClientConfig, ClientError};
use iec104::cot::{Cause, Cot};
use iec104::server::{Server, ServerConfig, ServerEvent};
use iec104::tls::testing::TestPki;
use iec104::tls::TlsConfig;
use interop::bounded;
use interop::session::{interrogate, STEP};
use testkit::peer::PeerProcess;

struct Scratch {
    dir: PathBuf,
    pki: TestPki,
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = interop::temp_path(&format!("tls-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let pki = TestPki::generate(&dir).expect("test PKI");
        Scratch { dir, pki }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path(p: &std::path::Path) -> String {
    p.display().to_string()
}

#[tokio::test]
async fn our_tls_client_against_c104_tls_server() {
    if testkit::require_peer("c104").is_err() {
        return;
    }
    let s = Scratch::new("c104-server");
    let port = testkit::free_port();
    let pki = &s.pki;
    let mut server = PeerProcess::python(
        "c104_tls_server.py",
        &[
            port.to_string(),
            path(&pki.server.cert),
            path(&pki.server.key),
            path(&pki.ca),
        ],
    );
    server.wait_line("READY", Duration::from_secs(30)).await;
    let addr = format!("127.0.0.1:{port}");

    // Mutual authentication, then a general interrogation over TLS.
    let connector = pki.client_config().connector().expect("client TLS");
    let (client, mut events, connection) = bounded(
        "connect",
        STEP,
        client::connect_tls(&addr, ClientConfig::default(), &connector),
    )
    .await
    .expect("TLS connect to c104");
    tokio::spawn(connection);
    bounded("STARTDT", STEP, client.start_dt())
        .await
        .expect("STARTDT con over TLS");
    let gi = Asdu::interrogation(1, Qoi::STATION, Cot::new(Cause::Activation));
    let data = interrogate(&client, &mut events, gi, "GI over TLS").await;
    let ioas: Vec<u32> = data
        .iter()
        .flat_map(|a| a.view().objects().map(|o| o.ioa).collect::<Vec<_>>())
        .collect();
    assert_eq!(ioas, vec![100], "c104 serves one point, IOA 100");
    client.close();

    // A client certificate of another CA: c104 refuses it, we get a TLS error.
    let stranger = pki
        .config(&pki.other_client)
        .connector()
        .expect("stranger TLS");
    let refused = match client::connect_tls(&addr, ClientConfig::default(), &stranger).await {
        Err(e) => e,
        Ok((c, _events, conn)) => {
            tokio::spawn(conn);
            bounded("refusal", STEP, c.start_dt())
                .await
                .expect_err("c104 must refuse")
        }
    };
    assert!(matches!(refused, ClientError::Tls(_)), "{refused}");
    let line = server.wait_line("TLS: handshake failed", STEP).await;
    assert!(
        line.contains("-0x2700"),
        "c104 names the X509 verification failure: {line}"
    );

    // c104's certificate checked against another CA: we refuse it.
    let distrustful = TlsConfig {
        ca_files: vec![pki.other_ca.clone()],
        crl_file: None,
        ..pki.client_config()
    };
    match client::connect_tls(
        &addr,
        ClientConfig::default(),
        &distrustful.connector().unwrap(),
    )
    .await
    {
        Err(ClientError::Tls(e)) => assert_eq!(e.kind(), "unknown_ca", "{e}"),
        other => panic!("expected unknown_ca, got {:?}", other.map(|_| ())),
    }

    // Plain IEC 104 to a TLS station: no STARTDT con.
    let (plain, _events, conn) = client::connect(addr.as_str(), ClientConfig::default())
        .await
        .expect("TCP");
    tokio::spawn(conn);
    let plain_error = bounded("plain STARTDT", STEP, plain.start_dt())
        .await
        .expect_err("no TLS, no answer");
    assert!(!matches!(plain_error, ClientError::Tls(_)), "{plain_error}");
    server.close_stdin();
}

/// What c104 2.2.1's client prints when its mbedtls refuses to verify without a host name.
const C104_NO_HOSTNAME: &str = "mbedtls_ssl_handshake returned -0x5d80";

#[tokio::test]
async fn c104_tls_client_against_our_tls_server() {
    if testkit::require_peer("c104").is_err() {
        return;
    }
    let s = Scratch::new("c104-client");
    let pki = &s.pki;
    let acceptor = pki.server_config().acceptor().expect("server TLS");
    let (handle, mut events, run) = Server::bind_tls(
        "127.0.0.1:0".parse().unwrap(),
        ServerConfig::default(),
        acceptor,
    )
    .await
    .expect("bind");
    tokio::spawn(run);
    let port = handle.local_addr().port();
    let mut peer = PeerProcess::python(
        "c104_tls_client.py",
        &[
            port.to_string(),
            path(&pki.client.cert),
            path(&pki.client.key),
            path(&pki.ca),
        ],
    );
    let (lines, _status) = peer.finish(Duration::from_secs(40)).await;
    let known_defect = lines.iter().any(|l| l.contains(C104_NO_HOSTNAME));
    if known_defect {
        eprintln!(
            "c104_tls_client_against_our_tls_server: c104's client refuses to verify a server \
             without a host name (mbedtls >= 3.6.3, {C104_NO_HOSTNAME}); checking that our \
             server reported the aborted handshakes as typed refusals"
        );
        assert!(lines.iter().any(|l| l.starts_with("FAILED")), "{lines:#?}");
        let event = bounded("TlsRefused", STEP, events.recv())
            .await
            .expect("event");
        match event {
            ServerEvent::TlsRefused { error, .. } => {
                assert_eq!(error.kind(), "handshake", "{error}")
            }
            other => panic!("{other:?}"),
        }
        return;
    }
    assert!(
        lines.iter().any(|l| l == "POINT 100 True") || lines.contains(&"DONE".to_string()),
        "{lines:#?}"
    );
}

/// TLS 1.3 KeyUpdate towards c104's server: with `key_update_interval` c104 (mbedtls 3.6)
/// drops the link at our first KeyUpdate; the same rounds without it pass (the control). This
/// is why `key_update_interval` is off by default (docs/tls.md).
#[tokio::test]
async fn key_update_towards_c104_tls_server() {
    if testkit::require_peer("c104").is_err() {
        return;
    }
    let s = Scratch::new("c104-keyupdate");
    let pki = &s.pki;
    for key_update in [None, Some(Duration::from_millis(200))] {
        let port = testkit::free_port();
        let mut server = PeerProcess::python(
            "c104_tls_server.py",
            &[
                port.to_string(),
                path(&pki.server.cert),
                path(&pki.server.key),
                path(&pki.ca),
            ],
        );
        server.wait_line("READY", Duration::from_secs(30)).await;
        let config = TlsConfig {
            key_update_interval: key_update,
            tls12: false,
            ..pki.client_config()
        };
        let connector = config.connector().unwrap();
        let (client, mut events, connection) = bounded(
            "connect",
            STEP,
            client::connect_tls(
                &format!("127.0.0.1:{port}"),
                ClientConfig::default(),
                &connector,
            ),
        )
        .await
        .expect("TLS 1.3 connect to c104");
        let connection = tokio::spawn(connection);
        bounded("STARTDT", STEP, client.start_dt())
            .await
            .expect("STARTDT con");
        let mut outcome = Ok(());
        for round in 0..4 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let gi = Asdu::interrogation(1, Qoi::STATION, Cot::new(Cause::Activation));
            if let Err(e) = bounded("send", STEP, client.send(gi.into_bytes())).await {
                outcome = Err(format!("round {round}: {e}"));
                break;
            }
            let mut seen = 0;
            while seen < 3 {
                match bounded("event", STEP, events.recv()).await {
                    Some(client::ClientEvent::Asdu { .. }) => seen += 1,
                    Some(client::ClientEvent::Closed { reason }) => {
                        outcome = Err(format!("round {round}: {reason:?}"));
                        break;
                    }
                    Some(_) => {}
                    None => break,
                }
            }
            if outcome.is_err() {
                break;
            }
        }
        client.close();
        let _ = connection.await;
        server.close_stdin();
        match key_update {
            None => assert_eq!(outcome, Ok(()), "the control without KeyUpdate must pass"),
            Some(_) => {
                let e = outcome.expect_err(
                    "c104 2.2.1 closes at a KeyUpdate; if it no longer does, update docs/tls.md",
                );
                eprintln!("c104 with KeyUpdate: {e}");
                assert!(e.contains("PeerClosed") || e.contains("Io"), "{e}");
            }
        }
    }
}

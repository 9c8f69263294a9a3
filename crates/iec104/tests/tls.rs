//! TLS (IEC 62351-3) between our client and our server, in process over 127.0.0.1: mutual
//! authentication, every refusal with its typed error on both sides, renewal of session keys,
//! and the link layer over TLS behaving as over TCP (redundancy takeover, TESTFR and t1).
//! Certificates come from `iec104::tls::testing` (rcgen, made per test in a scratch dir).

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use iec104::client::{
    self, Client, ClientConfig, ClientError, ClientEvent, ClientEvents, CloseReason,
};
use iec104::link::LinkConfig;
use iec104::server::{Server, ServerConfig, ServerEvent, ServerEvents, ServerHandle};
use iec104::tls::testing::TestPki;
use iec104::tls::{TlsConfig, TlsConfigError, TlsError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Safety net for every wait (a hung test fails instead of hanging); not a timing claim.
const WAIT: Duration = Duration::from_secs(30);

/// M_SP_NA_1, one object, COT spontaneous, CA 1, IOA `ioa`, SIQ on.
fn event(ioa: u8) -> Bytes {
    Bytes::from(vec![1, 1, 3, 0, 1, 0, ioa, 0, 0, 1])
}

/// A scratch directory with a fresh test PKI, removed on drop.
struct Scratch {
    dir: PathBuf,
    pki: TestPki,
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("iec104-tls-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let pki = TestPki::generate(&dir).unwrap();
        Scratch { dir, pki }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn tls_server(tls: &TlsConfig, config: ServerConfig) -> (ServerHandle, ServerEvents) {
    let acceptor = tls.acceptor().unwrap();
    let (handle, events, run) = Server::bind_tls("127.0.0.1:0".parse().unwrap(), config, acceptor)
        .await
        .unwrap();
    tokio::spawn(run);
    (handle, events)
}

async fn tls_client(
    handle: &ServerHandle,
    tls: &TlsConfig,
    config: ClientConfig,
) -> Result<(Client, ClientEvents), ClientError> {
    let connector = tls.connector().unwrap();
    let addr = handle.local_addr().to_string();
    let (client, events, connection) = client::connect_tls(&addr, config, &connector).await?;
    tokio::spawn(connection);
    Ok((client, events))
}

/// The next server event that is not `Connected`/`Started`/`Stopped`.
async fn next_server_event(events: &mut ServerEvents) -> ServerEvent {
    loop {
        let event = tokio::time::timeout(WAIT, events.recv())
            .await
            .unwrap()
            .unwrap();
        match event {
            ServerEvent::Connected { .. }
            | ServerEvent::Started { .. }
            | ServerEvent::Stopped { .. } => {}
            other => return other,
        }
    }
}

async fn next_asdu(events: &mut ClientEvents) -> Bytes {
    loop {
        match tokio::time::timeout(WAIT, events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            ClientEvent::Asdu { asdu, .. } => return asdu,
            ClientEvent::Closed { reason } => panic!("closed: {reason:?}"),
            _ => {}
        }
    }
}

async fn closed_reason(events: &mut ClientEvents) -> CloseReason {
    loop {
        if let ClientEvent::Closed { reason } = tokio::time::timeout(WAIT, events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            return reason;
        }
    }
}

/// Mutual authentication over TLS 1.3 and 1.2: data flows both ways after STARTDT.
#[tokio::test]
async fn mutual_authentication_carries_the_link_over_tls_13_and_12() {
    let s = Scratch::new("mutual");
    for tls13 in [true, false] {
        let (handle, mut server_events) =
            tls_server(&s.pki.server_config(), ServerConfig::default()).await;
        let client_tls = TlsConfig {
            tls13,
            ..s.pki.client_config()
        };
        let (client, mut events) = tls_client(&handle, &client_tls, ClientConfig::default())
            .await
            .unwrap();
        client.start_dt().await.unwrap();
        handle.enqueue(event(7)).unwrap();
        assert_eq!(next_asdu(&mut events).await, event(7));
        client.send(event(9)).await.unwrap();
        match next_server_event(&mut server_events).await {
            ServerEvent::Asdu { asdu, .. } => assert_eq!(asdu, event(9)),
            other => panic!("tls13={tls13}: {other:?}"),
        }
        client.close();
        handle.shutdown();
    }
}

/// A client refused by the server: the server reports `TlsRefused` with `kind`, the client
/// gets a `ClientError::Tls` (at the handshake or, with TLS 1.3, at its first read).
async fn refused_by_server(server_tls: TlsConfig, client_tls: TlsConfig, kind: &str) {
    let (handle, mut server_events) = tls_server(&server_tls, ServerConfig::default()).await;
    let client_error = match tls_client(&handle, &client_tls, ClientConfig::default()).await {
        Err(e) => e,
        Ok((client, _events)) => client.start_dt().await.expect_err("server must refuse"),
    };
    match next_server_event(&mut server_events).await {
        ServerEvent::TlsRefused { error, .. } => assert_eq!(error.kind(), kind, "{error}"),
        other => panic!("expected TlsRefused({kind}), got {other:?}"),
    }
    assert!(
        matches!(
            &client_error,
            ClientError::Tls(TlsError::PeerAlert(_) | TlsError::Handshake(_))
        ),
        "client side of a {kind} refusal: {client_error}"
    );
    handle.shutdown();
}

#[tokio::test]
async fn server_refuses_a_client_of_another_ca() {
    let s = Scratch::new("other-ca");
    let client = s.pki.config(&s.pki.other_client);
    refused_by_server(s.pki.server_config(), client, "unknown_ca").await;
}

#[tokio::test]
async fn server_refuses_an_expired_client_certificate() {
    let s = Scratch::new("expired");
    refused_by_server(
        s.pki.server_config(),
        s.pki.config(&s.pki.expired),
        "expired",
    )
    .await;
}

#[tokio::test]
async fn server_refuses_a_revoked_client_certificate() {
    let s = Scratch::new("revoked");
    refused_by_server(
        s.pki.server_config(),
        s.pki.config(&s.pki.revoked),
        "revoked",
    )
    .await;
    // Without the CRL the same certificate passes: the refusal is the CRL's doing.
    let (handle, _events) = tls_server(
        &TlsConfig {
            crl_file: None,
            ..s.pki.server_config()
        },
        ServerConfig::default(),
    )
    .await;
    let (client, _e) = tls_client(
        &handle,
        &s.pki.config(&s.pki.revoked),
        ClientConfig::default(),
    )
    .await
    .unwrap();
    client.start_dt().await.unwrap();
}

#[tokio::test]
async fn server_refuses_a_client_outside_its_allow_list() {
    let s = Scratch::new("allow");
    let server = TlsConfig {
        allowed_certs: vec![s.pki.client.cert.clone()],
        ..s.pki.server_config()
    };
    refused_by_server(server.clone(), s.pki.config(&s.pki.client2), "not_allowed").await;
    // The listed client passes.
    let (handle, _events) = tls_server(&server, ServerConfig::default()).await;
    let (client, _e) = tls_client(&handle, &s.pki.client_config(), ClientConfig::default())
        .await
        .unwrap();
    client.start_dt().await.unwrap();
}

#[tokio::test]
async fn allow_list_without_ca_accepts_only_listed_certificates() {
    let s = Scratch::new("allow-only");
    let server = TlsConfig {
        ca_files: vec![],
        crl_file: None,
        allowed_certs: vec![s.pki.client.cert.clone()],
        ..s.pki.server_config()
    };
    // Even a certificate of another CA is only judged by the list.
    refused_by_server(
        server.clone(),
        s.pki.config(&s.pki.other_client),
        "not_allowed",
    )
    .await;
    let (handle, _events) = tls_server(&server, ServerConfig::default()).await;
    let (client, _e) = tls_client(&handle, &s.pki.client_config(), ClientConfig::default())
        .await
        .unwrap();
    client.start_dt().await.unwrap();
}

#[tokio::test]
async fn server_refuses_a_client_with_an_rsa_key_under_2048_bits() {
    let s = Scratch::new("short-rsa");
    let (handle, mut server_events) =
        tls_server(&s.pki.server_config(), ServerConfig::default()).await;
    let connector = s.pki.short_rsa_connector().unwrap();
    let addr = handle.local_addr().to_string();
    let client_error = match client::connect_tls(&addr, ClientConfig::default(), &connector).await {
        Err(e) => e,
        Ok((client, _events, connection)) => {
            tokio::spawn(connection);
            client.start_dt().await.expect_err("server must refuse")
        }
    };
    match next_server_event(&mut server_events).await {
        ServerEvent::TlsRefused {
            error: TlsError::KeyTooShort { bits, min },
            ..
        } => {
            assert_eq!((bits, min), (1024, 2048));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(client_error, ClientError::Tls(_)),
        "{client_error}"
    );
}

#[tokio::test]
async fn our_own_rsa_key_under_2048_bits_is_refused_when_loading() {
    let s = Scratch::new("own-short");
    let config = TlsConfig {
        cert_file: Some(s.pki.short_rsa_cert.clone()),
        ..s.pki.client_config()
    };
    match config.connector() {
        Err(TlsConfigError::KeyTooShort {
            file,
            bits: 1024,
            min: 2048,
        }) => assert_eq!(file, s.pki.short_rsa_cert),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn client_refuses_a_server_of_another_ca() {
    let s = Scratch::new("client-unknown-ca");
    let (handle, mut server_events) =
        tls_server(&s.pki.server_config(), ServerConfig::default()).await;
    let client = TlsConfig {
        ca_files: vec![s.pki.other_ca.clone()],
        crl_file: None,
        ..s.pki.client_config()
    };
    match tls_client(&handle, &client, ClientConfig::default()).await {
        Err(ClientError::Tls(e)) => assert_eq!(e.kind(), "unknown_ca", "{e}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    match next_server_event(&mut server_events).await {
        ServerEvent::TlsRefused { error, .. } => assert_eq!(error.kind(), "peer_alert", "{error}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn hostname_check_is_off_by_default_and_on_when_asked() {
    let s = Scratch::new("hostname");
    let acceptor = s.pki.server_config().acceptor().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = acceptor.accept(tcp, WAIT).await;
        }
    });
    // The server's certificate names localhost and 127.0.0.1, not station.example.
    let plain = s.pki.client_config().connector().unwrap();
    let checking = TlsConfig {
        check_hostname: true,
        ..s.pki.client_config()
    }
    .connector()
    .unwrap();
    let tcp = || tokio::net::TcpStream::connect(addr);
    plain
        .connect("station.example", tcp().await.unwrap(), WAIT)
        .await
        .expect("no hostname check by default");
    let e = checking
        .connect("station.example", tcp().await.unwrap(), WAIT)
        .await
        .expect_err("hostname check on");
    assert_eq!(e.kind(), "name_mismatch", "{e}");
    checking
        .connect("localhost", tcp().await.unwrap(), WAIT)
        .await
        .expect("the certificate names localhost");
}

#[tokio::test]
async fn a_plain_client_is_refused_by_a_tls_server_and_a_tls_client_by_a_plain_server() {
    let s = Scratch::new("plain");
    let (handle, mut server_events) =
        tls_server(&s.pki.server_config(), ServerConfig::default()).await;
    let (c, _e, conn) = client::connect(handle.local_addr(), ClientConfig::default())
        .await
        .unwrap();
    tokio::spawn(conn);
    let plain_error = c
        .start_dt()
        .await
        .expect_err("TLS server must refuse plain IEC 104");
    match next_server_event(&mut server_events).await {
        ServerEvent::TlsRefused { error, .. } => assert_eq!(error.kind(), "not_tls", "{error}"),
        other => panic!("{other:?}"),
    }
    assert!(!matches!(plain_error, ClientError::Tls(_)), "{plain_error}");

    let (plain, _events, run) =
        Server::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
            .await
            .unwrap();
    tokio::spawn(run);
    let connector = s.pki.client_config().connector().unwrap();
    match client::connect_tls(
        &plain.local_addr().to_string(),
        ClientConfig::default(),
        &connector,
    )
    .await
    {
        Err(ClientError::Tls(e)) => assert_eq!(e.kind(), "handshake", "{e}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn settings_errors_name_the_file_and_the_problem() {
    let s = Scratch::new("settings");
    let missing = s.dir.join("nope.pem");
    let e = TlsConfig {
        ca_files: vec![missing.clone()],
        ..s.pki.client_config()
    }
    .connector()
    .unwrap_err();
    assert!(
        e.to_string().contains("nope.pem") && e.to_string().contains("cannot read"),
        "{e}"
    );
    // A key where a certificate belongs.
    let e = TlsConfig {
        ca_files: vec![s.pki.client.key.clone()],
        ..s.pki.client_config()
    }
    .connector()
    .unwrap_err();
    assert!(
        e.to_string().contains("client.key") && e.to_string().contains("no certificate"),
        "{e}"
    );
    let e = TlsConfig {
        key_file: Some(s.pki.server.key.clone()),
        ..s.pki.client_config()
    }
    .connector()
    .unwrap_err();
    assert!(e.to_string().contains("server.key"), "{e}");
    let e = TlsConfig {
        ca_files: vec![],
        crl_file: None,
        ..s.pki.client_config()
    }
    .connector()
    .unwrap_err();
    assert!(e.to_string().starts_with("ca_files:"), "{e}");
    let e = TlsConfig {
        cert_file: None,
        key_file: None,
        ..s.pki.server_config()
    }
    .acceptor()
    .unwrap_err();
    assert!(e.to_string().starts_with("cert_file:"), "{e}");
}

/// A second client of the group starts data transfer over TLS: the first one is superseded
/// and the next event goes to the second, as over TCP.
#[tokio::test]
async fn redundancy_takeover_works_over_tls() {
    let s = Scratch::new("takeover");
    let (handle, _server_events) =
        tls_server(&s.pki.server_config(), ServerConfig::default()).await;
    let (a, mut a_events) = tls_client(&handle, &s.pki.client_config(), ClientConfig::default())
        .await
        .unwrap();
    a.start_dt().await.unwrap();
    handle.enqueue(event(1)).unwrap();
    assert_eq!(next_asdu(&mut a_events).await, event(1));
    let (b, mut b_events) = tls_client(
        &handle,
        &s.pki.config(&s.pki.client2),
        ClientConfig::default(),
    )
    .await
    .unwrap();
    b.start_dt().await.unwrap();
    match closed_reason(&mut a_events).await {
        CloseReason::Error(ClientError::PeerClosed | ClientError::Io(_)) => {}
        other => panic!("A must be closed by the server: {other:?}"),
    }
    handle.enqueue(event(2)).unwrap();
    // A had not acknowledged event 1 (w and t2 not reached): the group sends it again first.
    assert_eq!(next_asdu(&mut b_events).await, event(1));
    assert_eq!(next_asdu(&mut b_events).await, event(2));
}

/// TESTFR after t3 and its t1 go through TLS like over TCP: a server that stops answering is
/// detected by the client's t1.
#[tokio::test]
async fn testfr_and_t1_expiry_work_over_tls() {
    let s = Scratch::new("t1");
    let (handle, mut server_events) =
        tls_server(&s.pki.server_config(), ServerConfig::default()).await;
    let link = LinkConfig {
        t1: Duration::from_millis(600),
        t2: Duration::from_millis(300),
        t3: Duration::from_millis(400),
        ..LinkConfig::default()
    };
    let config = ClientConfig {
        link,
        ..ClientConfig::default()
    };
    let (client, mut events) = tls_client(&handle, &s.pki.client_config(), config)
        .await
        .unwrap();
    client.start_dt().await.unwrap();
    let conn = loop {
        if let ServerEvent::Connected { conn, .. } =
            tokio::time::timeout(WAIT, server_events.recv())
                .await
                .unwrap()
                .unwrap()
        {
            break conn;
        }
    };
    handle.set_mute(conn, true);
    match closed_reason(&mut events).await {
        CloseReason::Error(ClientError::Link { error, .. }) => {
            assert!(error.to_string().contains("t1"), "{error}")
        }
        other => panic!("expected t1 expiry, got {other:?}"),
    }
}

/// TLS streams with both renewals: TLS 1.3 sends KeyUpdates and keeps the bytes intact;
/// a TLS 1.2 session ends with `renewal_reconnect` once its interval has passed.
#[tokio::test]
async fn session_keys_are_renewed() {
    let s = Scratch::new("renewal");
    for (tls13, expect_reconnect) in [(true, false), (false, true)] {
        let renewal = |c: TlsConfig| TlsConfig {
            tls13,
            key_update_interval: Some(Duration::from_millis(50)),
            reconnect_interval: Some(Duration::from_millis(300)),
            ..c
        };
        let acceptor = renewal(s.pki.server_config()).acceptor().unwrap();
        let connector = renewal(s.pki.client_config()).connector().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp, WAIT).await.unwrap();
            let mut buf = [0u8; 4];
            while tls.read_exact(&mut buf).await.is_ok() {
                if tls.write_all(&buf).await.is_err() {
                    break;
                }
            }
            tls.key_updates()
        });
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut tls = connector.connect("localhost", tcp, WAIT).await.unwrap();
        let mut failure = None;
        for i in 0u32..8 {
            tokio::time::sleep(Duration::from_millis(60)).await;
            if let Err(e) = tls.write_all(&i.to_be_bytes()).await {
                failure = Some(TlsError::from_io(&e));
                break;
            }
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await.unwrap();
            assert_eq!(buf, i.to_be_bytes());
        }
        drop(tls);
        let server_updates = server.await.unwrap();
        if expect_reconnect {
            assert_eq!(failure.map(|e| e.kind()), Some("renewal_reconnect"));
        } else {
            assert!(failure.is_none(), "{failure:?}");
            assert!(server_updates > 0, "the server side sent no KeyUpdate");
        }
    }
}

//! End-to-end: the gateway (in process) carries RTUs over IEC 62351-3 TLS into MQTT
//! (mosquitto), against TLS stations of the simulator with a test PKI made by rcgen; RTUs whose
//! certificate is from another CA, expired, revoked or made out for another name are refused
//! with the right status reason and counted in `iec104gw_tls_events_total{rtu,kind}`; a CRL
//! that revokes a connected RTU's certificate ends that connection at once.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use iec104::tls::testing::{Identity, TestPki};
use iec104_e2e::broker::{self, Broker};
use iec104_e2e::gateway::Gateway;
use iec104_e2e::scratch;
use iec104_e2e::subscriber::Subscriber;

const WAIT: Duration = Duration::from_secs(20);

/// One TLS station of the simulator presenting `identity`, requiring the gateway's client
/// certificate signed by the test CA; stopped when the sender is dropped.
struct TlsStation {
    addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn tls_station(pki: &TestPki, identity: &Identity, listen: &str, ca: u16) -> TlsStation {
    let scenario = format!(
        "seed = 1\n[[station]]\nname = \"s\"\nca = {ca}\nrate = 0\n[station.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\nca_file = \"{}\"\n[[station.point]]\nioa = 1001\ntype = \"M_ME_NC_1\"\nvalue = 42.5\n",
        identity.cert.display(),
        identity.key.display(),
        pki.ca.display(),
    );
    let scenario = iec104_sim::Scenario::from_toml_str(&scenario).expect("scenario");
    let options = iec104_sim::Options::new(listen.parse().expect("listen"));
    let sim = iec104_sim::start(&scenario, options)
        .await
        .expect("simulator");
    let addr = sim.stations()[0].addr;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(sim.run(async move {
        let _ = stopped.await;
    }));
    TlsStation { addr, _stop: stop }
}

fn gateway_config(
    port: u16,
    dir: &Path,
    pki: &TestPki,
    crl: &Path,
    http: u16,
    rtus: &str,
) -> String {
    format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\ntopic_prefix = \"e2e\"\n[gateway]\nnode = \"gw-tls\"\nstore_path = \"{}\"\nhttp_listen = \"127.0.0.1:{http}\"\n\n[tls]\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\ncrl_file = \"{}\"\n\n{rtus}",
        dir.join("queue.redb").display(),
        pki.ca.display(),
        pki.client.cert.display(),
        pki.client.key.display(),
        crl.display(),
    )
}

fn rtu(name: &str, addr: SocketAddr, ca: u16, tls_extra: &str) -> String {
    format!("[[rtu]]\nname = \"{name}\"\naddress = \"{addr}\"\ncommon_address = {ca}\nt0 = 5\n[rtu.tls]\n{tls_extra}\n")
}

/// Waits for a status of `rtu` with `state` whose reason starts with `reason` (if given).
async fn status(sub: &mut Subscriber, rtu: &str, state: &str, reason: Option<&str>) -> String {
    let topic = format!("e2e/{rtu}/status");
    let m = sub
        .wait_for(WAIT, |m| {
            m.topic == topic
                && m.json["state"] == state
                && reason.map_or(true, |r| {
                    m.json["reason"].as_str().is_some_and(|s| s.starts_with(r))
                })
        })
        .await
        .unwrap_or_else(|| panic!("no status {state} {reason:?} of {rtu}"));
    m.json["reason"].as_str().unwrap_or_default().to_owned()
}

/// Waits until /metrics counts at least one TLS event of `kind` for `rtu`.
async fn counted(http: u16, rtu: &str, kind: &str) -> f64 {
    let sample = format!("iec104gw_tls_events_total{{rtu=\"{rtu}\",kind=\"{kind}\"}}");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Ok(r) = testkit::http_get(http, "/metrics", WAIT).await {
            if let Some(v) = r.metric(&sample).filter(|v| *v >= 1.0) {
                return v;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("{sample} never counted; /metrics:\n{}", r.body);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_rtu_is_carried_into_mqtt() {
    if !broker::available() {
        return;
    }
    let dir = scratch("tls-data");
    let pki = TestPki::generate(&dir).expect("test PKI");
    let broker = Broker::start(&dir).await;
    let station = tls_station(&pki, &pki.server, "127.0.0.1:0", 7).await;
    let mut sub = Subscriber::start(broker.port, "e2e/#").await;
    let http = iec104_e2e::free_port();
    let cfg = gateway_config(
        broker.port,
        &dir,
        &pki,
        &pki.crl,
        http,
        &rtu("secure", station.addr, 7, ""),
    );
    let gw = Gateway::start(&dir, &cfg);
    status(&mut sub, "secure", "started", None).await;
    // The station's point, from the general interrogation that follows STARTDT.
    let m = sub
        .wait_for(WAIT, |m| m.topic == "e2e/secure/7/1001")
        .await
        .expect("the TLS station's point never arrived");
    assert_eq!(m.json["value"], 42.5, "{}", m.json);
    // The status page says the link is TLS.
    let page = testkit::http_get(http, "/api/overview", WAIT)
        .await
        .expect("/api/overview");
    assert!(page.body.contains("\"tls\":\"on\""), "{}", page.body);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_rtu_certificates_show_in_status_and_metrics() {
    if !broker::available() {
        return;
    }
    let dir = scratch("tls-refused");
    let pki = TestPki::generate(&dir).expect("test PKI");
    let broker = Broker::start(&dir).await;
    let stranger = tls_station(&pki, &pki.other_client, "127.0.0.1:0", 1).await;
    let expired = tls_station(&pki, &pki.expired, "127.0.0.1:0", 2).await;
    let revoked = tls_station(&pki, &pki.revoked, "127.0.0.1:0", 3).await;
    // The server certificate names localhost and 127.0.0.1, not ::1.
    let misnamed = tls_station(&pki, &pki.server, "[::1]:0", 4).await;
    let mut sub = Subscriber::start(broker.port, "e2e/+/status").await;
    let http = iec104_e2e::free_port();
    let rtus = [
        rtu("stranger", stranger.addr, 1, ""),
        rtu("expired", expired.addr, 2, ""),
        rtu("revoked", revoked.addr, 3, ""),
        rtu("misnamed", misnamed.addr, 4, "check_hostname = true"),
    ]
    .concat();
    let gw = Gateway::start(
        &dir,
        &gateway_config(broker.port, &dir, &pki, &pki.crl, http, &rtus),
    );
    for (name, reason, kind) in [
        ("stranger", "tls: unknown CA", "unknown_ca"),
        ("expired", "tls: certificate expired", "expired"),
        ("revoked", "tls: certificate revoked", "revoked"),
        (
            "misnamed",
            "tls: certificate name mismatch",
            "name_mismatch",
        ),
    ] {
        status(&mut sub, name, "disconnected", Some(reason)).await;
        counted(http, name, kind).await;
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crl_revoking_a_connected_rtu_ends_its_connection() {
    if !broker::available() {
        return;
    }
    let dir = scratch("tls-reload");
    let pki = TestPki::generate(&dir).expect("test PKI");
    // The CRL in force lists nobody at first.
    let live_crl = dir.join("live.crl");
    std::fs::copy(&pki.crl_empty, &live_crl).expect("copy CRL");
    let broker = Broker::start(&dir).await;
    let station = tls_station(&pki, &pki.revoked, "127.0.0.1:0", 9).await;
    let mut sub = Subscriber::start(broker.port, "e2e/+/status").await;
    let http = iec104_e2e::free_port();
    let cfg = gateway_config(
        broker.port,
        &dir,
        &pki,
        &live_crl,
        http,
        &rtu("soon", station.addr, 9, ""),
    );
    let gw = Gateway::start(&dir, &cfg);
    status(&mut sub, "soon", "started", None).await;
    // The CA revokes the station's certificate: the new CRL replaces the old one in one step.
    let next = dir.join("next.crl");
    std::fs::copy(&pki.crl, &next).expect("copy CRL");
    std::fs::rename(&next, &live_crl).expect("replace CRL");
    let reason = status(
        &mut sub,
        "soon",
        "disconnected",
        Some("tls: certificate revoked"),
    )
    .await;
    assert_eq!(reason, "tls: certificate revoked");
    counted(http, "soon", "revoked").await;
    gw.stop().await;
}

/// The independent peer: a c104 (lib60870-C with mbedtls) TLS station, mutual
/// authentication; its one point reaches MQTT. `IEC104_INTEROP=require` fails without c104.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_carries_a_c104_tls_station_into_mqtt() {
    if !broker::available() || testkit::require_peer("c104").is_err() {
        return;
    }
    let dir = scratch("tls-c104");
    let pki = TestPki::generate(&dir).expect("test PKI");
    let broker = Broker::start(&dir).await;
    let port = iec104_e2e::free_port();
    let path = |p: &Path| p.display().to_string();
    let mut station = testkit::peer::PeerProcess::python(
        "c104_tls_server.py",
        &[
            port.to_string(),
            path(&pki.server.cert),
            path(&pki.server.key),
            path(&pki.ca),
        ],
    );
    station.wait_line("READY", WAIT).await;
    let mut sub = Subscriber::start(broker.port, "e2e/#").await;
    let http = iec104_e2e::free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let cfg = gateway_config(
        broker.port,
        &dir,
        &pki,
        &pki.crl,
        http,
        &rtu("c104", addr, 1, ""),
    );
    let gw = Gateway::start(&dir, &cfg);
    status(&mut sub, "c104", "started", None).await;
    let m = sub
        .wait_for(WAIT, |m| m.topic == "e2e/c104/1/100")
        .await
        .expect("c104's point never arrived over TLS");
    assert_eq!(m.json["value"], true, "{}", m.json);
    gw.stop().await;
}

/// SIGHUP (`systemctl reload`) reloads the TLS files of the gateway process: a first SIGHUP with
/// unchanged files keeps the working connection; after the CRL that revokes the RTU is put in
/// place, the connection ends with `tls: certificate revoked` (the first disconnection seen),
/// and the process lives on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_without_dropping_working_connections() {
    use testkit::signal::{signal, Signal};
    if !broker::available() {
        return;
    }
    let dir = scratch("tls-sighup");
    let pki = TestPki::generate(&dir).expect("test PKI");
    let live_crl = dir.join("live.crl");
    std::fs::copy(&pki.crl_empty, &live_crl).expect("copy CRL");
    let broker = Broker::start(&dir).await;
    let station = tls_station(&pki, &pki.revoked, "127.0.0.1:0", 5).await;
    let mut sub = Subscriber::start(broker.port, "e2e/+/status").await;
    let http = iec104_e2e::free_port();
    let cfg = gateway_config(
        broker.port,
        &dir,
        &pki,
        &live_crl,
        http,
        &rtu("hup", station.addr, 5, ""),
    );
    let mut gw = iec104_e2e::gateway::GatewayProcess::start(&dir, &cfg);
    status(&mut sub, "hup", "started", None).await;
    let pid = gw.pid().expect("gateway pid");
    signal(pid, Signal::Hup).expect("SIGHUP");
    counted(http, "hup", "reloaded").await;
    let next = dir.join("next.crl");
    std::fs::copy(&pki.crl, &next).expect("copy CRL");
    std::fs::rename(&next, &live_crl).expect("replace CRL");
    signal(pid, Signal::Hup).expect("SIGHUP");
    let reason = status(&mut sub, "hup", "disconnected", None).await;
    assert_eq!(reason, "tls: certificate revoked");
    counted(http, "hup", "revoked").await;
    assert!(!gw.exited(), "SIGHUP must not end the gateway");
    gw.stop().await;
}

/// `check` refuses an unusable TLS file with the RTU, the key, the file and what is wrong.
#[test]
fn check_names_an_unusable_tls_file() {
    let dir = scratch("tls-check");
    let pki = TestPki::generate(&dir).expect("test PKI");
    let bad = dir.join("truncated.crl");
    std::fs::write(&bad, "-----BEGIN X509 CRL-----\nAAAA\n").expect("write");
    let addr: SocketAddr = "127.0.0.1:19998".parse().expect("addr");
    let cfg = gateway_config(1883, &dir, &pki, &bad, 0, &rtu("sub1", addr, 1, ""));
    let (code, _stdout, stderr) = iec104_e2e::gateway::check(&dir, &cfg);
    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("rtu \"sub1\": tls.crl_file"), "{stderr}");
    assert!(stderr.contains(&bad.display().to_string()), "{stderr}");
    assert!(stderr.contains("not valid PEM"), "{stderr}");
}

/// TLS 1.2 key renewal by reconnection (`versions = ["1.2"]`, `reconnect_interval`): the
/// session ends with `tls: session renewal`, is counted, and the RTU is started again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls12_sessions_are_renewed_by_reconnecting() {
    if !broker::available() {
        return;
    }
    let dir = scratch("tls-renewal");
    let pki = TestPki::generate(&dir).expect("test PKI");
    let broker = Broker::start(&dir).await;
    let station = tls_station(&pki, &pki.server, "127.0.0.1:0", 3).await;
    let mut sub = Subscriber::start(broker.port, "e2e/+/status").await;
    let http = iec104_e2e::free_port();
    // t3 = 1 s: the link writes (TESTFR) at least every second, where the renewal is checked.
    let rtus = format!(
        "[[rtu]]\nname = \"renewed\"\naddress = \"{}\"\ncommon_address = 3\nt3 = 1\n[rtu.tls]\nversions = [\"1.2\"]\nreconnect_interval = 2\n",
        station.addr
    );
    let gw = Gateway::start(
        &dir,
        &gateway_config(broker.port, &dir, &pki, &pki.crl, http, &rtus),
    );
    status(&mut sub, "renewed", "started", None).await;
    let reason = status(&mut sub, "renewed", "disconnected", None).await;
    assert!(reason.starts_with("tls: session renewal"), "{reason}");
    counted(http, "renewed", "renewal_reconnect").await;
    status(&mut sub, "renewed", "started", None).await;
    gw.stop().await;
}

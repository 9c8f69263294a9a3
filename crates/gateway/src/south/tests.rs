//! The session against a station on the iec104 server: active/standby switching (STARTDT,
//! STOPDT, interrogation after every start) and release only after the writer took the batch.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use iec104::asdu::{AsduParams, AsduView};
use iec104::cot::Cause;
use iec104::server::{Server, ServerConfig, ServerEvent, ServerHandle};
use tokio::sync::{mpsc, watch};

use super::*;
use crate::config;

const WAIT: Duration = Duration::from_secs(10);

async fn station() -> (ServerHandle, mpsc::UnboundedReceiver<String>) {
    station_on(None).await
}

/// A station serving TLS when `tls` is given.
async fn station_on(
    tls: Option<iec104::tls::TlsAcceptor>,
) -> (ServerHandle, mpsc::UnboundedReceiver<String>) {
    let addr = "127.0.0.1:0".parse().unwrap();
    type Run = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<(), iec104::server::ServerError>> + Send>,
    >;
    let (handle, mut events, run): (_, _, Run) = match tls {
        Some(tls) => {
            let (h, e, r) = Server::bind_tls(addr, ServerConfig::default(), tls)
                .await
                .unwrap();
            (h, e, Box::pin(r))
        }
        None => {
            let (h, e, r) = Server::bind(addr, ServerConfig::default()).await.unwrap();
            (h, e, Box::pin(r))
        }
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let h = handle.clone();
    tokio::spawn(async move {
        tokio::pin!(run);
        loop {
            let ev = tokio::select! {
                _ = &mut run => return,
                ev = events.recv() => match ev { Some(ev) => ev, None => return },
            };
            match ev {
                ServerEvent::Started { .. } => {
                    let _ = tx.send("started".to_owned());
                }
                ServerEvent::Stopped { .. } => {
                    let _ = tx.send("stopped".to_owned());
                }
                ServerEvent::Asdu { conn, asdu } => {
                    let t = asdu.first().copied().unwrap_or(0);
                    let _ = tx.send(format!("asdu {t}"));
                    if t == 100 {
                        if let Ok(view) = AsduView::parse(&asdu, &AsduParams::IEC104) {
                            let con = view.reply(Cause::ActivationCon, false);
                            let _ = h.send_to(conn, con.into_bytes()).await;
                        }
                    }
                }
                _ => {}
            }
        }
    });
    (handle, rx)
}

async fn expect(rx: &mut mpsc::UnboundedReceiver<String>, what: &str) {
    loop {
        let got = tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect(what)
            .expect("station alive");
        if got == what {
            return;
        }
    }
}

fn state(board: &StatusBoard, seen: &mut crate::model::Seen) -> Option<String> {
    board.changed_since(seen).last().map(|m| {
        let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        v["state"].as_str().unwrap().to_owned()
    })
}

#[tokio::test]
async fn active_standby_active() {
    let (station, mut seen_by_station) = station().await;
    let text = format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n[[rtu]]\nname = \"r\"\naddress = \"{}\"\ncommon_address = 1\nt2 = 0.1\n",
        station.local_addr()
    );
    let rtu = Arc::new(config::parse(&text, "t").unwrap().rtus.remove(0));
    let (writer, mut batches) = mpsc::channel(16);
    let (results, _results_rx) = mpsc::channel(16);
    let board = StatusBoard::new();
    let shared = Shared {
        publish: Publish {
            topics: crate::contract::Topics::new("p"),
            node: "n".into(),
            qos: 1,
            retain: false,
        },
        writer,
        board: board.clone(),
        results,
        metrics: Arc::default(),
        live: Arc::new(crate::model::live::LiveView::new("n", [], 10, 10)),
        command_timeout: Duration::from_secs(1),
        audit: Default::default(),
        tls: Arc::default(),
    };
    let (role_tx, role_rx) = watch::channel(Role::Active);
    let (_cmd_tx, cmd_rx) = mpsc::channel(4);
    let (stop_tx, stop_rx) = watch::channel(false);
    let session = tokio::spawn(RtuSession::new(rtu, shared, role_rx, cmd_rx).run(stop_rx));

    // Active: STARTDT, then a general interrogation.
    expect(&mut seen_by_station, "started").await;
    expect(&mut seen_by_station, "asdu 100").await;
    // M_SP_NA_1 spont CA 1 IOA 5 ON (SIQ 1): one message on p/r/1/5, handed to the writer
    // together with the token that releases its I-frame.
    station
        .enqueue(Bytes::from_static(&[1, 1, 3, 0, 1, 0, 5, 0, 0, 1]))
        .unwrap();
    let batch = loop {
        let b = tokio::time::timeout(WAIT, batches.recv())
            .await
            .unwrap()
            .unwrap();
        if !b.messages.is_empty() {
            break b;
        }
        if let Some(r) = b.release {
            r.release();
        }
    };
    assert_eq!(batch.messages[0].topic, "p/r/1/5");
    // Not released yet: three times t2 (0.1 s) later the station still counts it
    // unacknowledged, where an automatic acknowledgement would have gone out after t2.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(station.groups()[0].in_flight, 1);
    batch.release.unwrap().release();
    let end = tokio::time::Instant::now() + WAIT;
    while station.groups()[0].in_flight > 0 {
        assert!(
            tokio::time::Instant::now() < end,
            "never acknowledged after release"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut seen = crate::model::Seen::default();
    assert_eq!(state(&board, &mut seen).as_deref(), Some("started"));

    // Standby: STOPDT on the same connection.
    role_tx.send(Role::Standby).unwrap();
    expect(&mut seen_by_station, "stopped").await;
    let end = tokio::time::Instant::now() + WAIT;
    loop {
        if state(&board, &mut seen).as_deref() == Some("stopped") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "status never said stopped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        station.connections().len(),
        1,
        "standby keeps the connection"
    );

    // Active again: STARTDT and a fresh interrogation.
    role_tx.send(Role::Active).unwrap();
    expect(&mut seen_by_station, "started").await;
    expect(&mut seen_by_station, "asdu 100").await;

    stop_tx.send(true).unwrap();
    tokio::time::timeout(WAIT, session).await.unwrap().unwrap();
}

/// Cluster mode: Off on a started session sends STOPDT while events keep flowing (the station
/// confirms only once everything it sent is acknowledged, which needs those events processed
/// and released), then closes; the session reports Started, Stopped, Closed; the main status
/// topic is left to the new owner and the standby topic is cleared.
#[tokio::test]
async fn cluster_off_stops_with_events_in_flight_then_closes() {
    use crate::model::Report;
    let (station, mut seen_by_station) = station().await;
    let text = format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n[[rtu]]\nname = \"r\"\naddress = \"{}\"\ncommon_address = 1\n",
        station.local_addr()
    );
    let rtu = Arc::new(config::parse(&text, "t").unwrap().rtus.remove(0));
    // Room for one batch: the session blocks on the second until the test drains.
    let (writer, mut batches) = mpsc::channel(1);
    let (results, _results_rx) = mpsc::channel(16);
    let board = StatusBoard::new();
    let shared = Shared {
        publish: Publish {
            topics: crate::contract::Topics::new("p"),
            node: "n".into(),
            qos: 1,
            retain: false,
        },
        writer,
        board: board.clone(),
        results,
        metrics: Arc::default(),
        live: Arc::new(crate::model::live::LiveView::new("n", [], 10, 10)),
        command_timeout: Duration::from_secs(1),
        audit: Default::default(),
        tls: Arc::default(),
    };
    let (role_tx, role_rx) = watch::channel(Role::Active);
    let (_cmd_tx, cmd_rx) = mpsc::channel(4);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (reports_tx, mut reports) = mpsc::channel(16);
    let session = RtuSession::new(rtu, shared, role_rx, cmd_rx).with_cluster(ClusterLink {
        index: 3,
        reports: reports_tx,
    });
    let session = tokio::spawn(session.run(stop_rx));
    expect(&mut seen_by_station, "started").await;
    assert_eq!(
        tokio::time::timeout(WAIT, reports.recv()).await.unwrap(),
        Some((3, Report::Connected))
    );
    assert_eq!(
        tokio::time::timeout(WAIT, reports.recv()).await.unwrap(),
        Some((3, Report::Started))
    );
    expect(&mut seen_by_station, "asdu 100").await;
    let mut seen = crate::model::Seen::default();
    let main = |seen: &mut crate::model::Seen| {
        board
            .changed_since(seen)
            .into_iter()
            .rfind(|m| m.topic == "p/r/status")
    };
    assert!(
        main(&mut seen).is_some(),
        "active: status on the main topic"
    );
    // Ten spontaneous events (M_SP_NA_1 spont CA 1 IOA 5..14): while the session waits on
    // the full writer, several are queued behind the role change; if the session stopped
    // processing events during its STOPDT, one of them would stay unacknowledged and the
    // station would never confirm (fails with probability 1 - 2^-7 or so, as select! picks
    // among ready branches at random).
    for ioa in 5u8..15 {
        station
            .enqueue(Bytes::from(vec![1, 1, 3, 0, 1, 0, ioa, 0, 0, 1]))
            .unwrap();
    }
    // The first data batch is taken but not released: an event is unacknowledged.
    let first = loop {
        let b = tokio::time::timeout(WAIT, batches.recv())
            .await
            .unwrap()
            .unwrap();
        if !b.messages.is_empty() {
            break b;
        }
        if let Some(r) = b.release {
            r.release();
        }
    };
    role_tx.send(Role::Off).unwrap();
    // Release everything as it comes (as the writer does once durable) until the station
    // has confirmed the STOPDT: the session must go on processing events meanwhile.
    if let Some(r) = first.release {
        r.release();
    }
    let end = tokio::time::Instant::now() + WAIT;
    let mut stopped = false;
    while !stopped {
        assert!(
            tokio::time::Instant::now() < end,
            "no STOPDT con within {WAIT:?}"
        );
        tokio::select! {
            b = batches.recv() => {
                if let Some(Batch { release: Some(r), .. }) = b {
                    r.release();
                }
            }
            s = seen_by_station.recv() => stopped = s.as_deref() == Some("stopped"),
            _ = tokio::time::sleep_until(end) => {}
        }
    }
    assert_eq!(
        tokio::time::timeout(WAIT, reports.recv()).await.unwrap(),
        Some((3, Report::Stopped))
    );
    assert_eq!(
        tokio::time::timeout(WAIT, reports.recv()).await.unwrap(),
        Some((3, Report::Closed))
    );
    // Off: no connection left, nothing in flight at the station.
    let end = tokio::time::Instant::now() + WAIT;
    while !station.connections().is_empty() {
        assert!(
            tokio::time::Instant::now() < end,
            "connection kept while Off"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(station.groups()[0].in_flight, 0);
    // The main status is not ours any more (not republished), the standby topic is cleared.
    let mut fresh = crate::model::Seen::default();
    let all = board.changed_since(&mut fresh);
    assert!(all.iter().all(|m| m.topic != "p/r/status"), "{all:?}");
    let standby = all.iter().find(|m| m.topic == "p/r/standby/n").unwrap();
    assert!(standby.payload.is_empty());

    stop_tx.send(true).unwrap();
    tokio::time::timeout(WAIT, session).await.unwrap().unwrap();
}

/// One command at a time: while a command awaits its ActCon the session takes no other, so
/// the queue (16, as the sessions are wired) fills and the router answers busy; the next one
/// is taken once the first timed out.
#[tokio::test]
async fn one_command_at_a_time_the_rest_wait_in_the_bounded_queue() {
    use iec104::json::CommandRequest;
    let (station, mut seen_by_station) = station().await;
    let text = format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n[[rtu]]\nname = \"r\"\naddress = \"{}\"\ncommon_address = 1\n",
        station.local_addr()
    );
    let rtu = Arc::new(config::parse(&text, "t").unwrap().rtus.remove(0));
    let (writer, mut batches) = mpsc::channel::<Batch>(16);
    tokio::spawn(async move {
        while let Some(b) = batches.recv().await {
            if let Some(r) = b.release {
                r.release();
            }
        }
    });
    let (results, mut results_rx) = mpsc::channel(16);
    let shared = Shared {
        publish: Publish {
            topics: crate::contract::Topics::new("p"),
            node: "n".into(),
            qos: 1,
            retain: false,
        },
        writer,
        board: StatusBoard::new(),
        results,
        metrics: Arc::default(),
        live: Arc::new(crate::model::live::LiveView::new("n", [], 10, 10)),
        command_timeout: Duration::from_millis(500),
        audit: Default::default(),
        tls: Arc::default(),
    };
    let (_role_tx, role_rx) = watch::channel(Role::Active);
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    let (stop_tx, stop_rx) = watch::channel(false);
    let session = tokio::spawn(RtuSession::new(rtu, shared, role_rx, cmd_rx).run(stop_rx));
    expect(&mut seen_by_station, "asdu 100").await;
    let job = |id: &str| {
        let mut request = CommandRequest::new("C_DC_NA_1", serde_json::json!("on"));
        request.id = Some(id.to_owned());
        CommandJob {
            ca: 1,
            ioa: 100,
            request,
            result_topic: "res".into(),
            correlation: None,
            response_topic_refused: None,
            sender: None,
            received: std::time::Instant::now(),
            reply: None,
        }
    };
    // The station never answers a C_DC_NA_1 (46): the first command stays unconfirmed.
    cmd_tx.send(job("first")).await.unwrap();
    expect(&mut seen_by_station, "asdu 46").await;
    for i in 0..16 {
        cmd_tx.try_send(job(&format!("queued {i}"))).unwrap();
    }
    assert!(
        matches!(
            cmd_tx.try_send(job("busy")),
            Err(mpsc::error::TrySendError::Full(_))
        ),
        "the session took a second command while the first awaited its ActCon"
    );
    let first = tokio::time::timeout(WAIT, results_rx.recv())
        .await
        .unwrap()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&first.message.payload).unwrap();
    assert_eq!(
        (v["id"].as_str(), v["status"].as_str()),
        (Some("first"), Some("timeout"))
    );
    // Then the next one goes: room for one more in the queue.
    expect(&mut seen_by_station, "asdu 46").await;
    cmd_tx.try_send(job("late")).unwrap();

    stop_tx.send(true).unwrap();
    tokio::time::timeout(WAIT, session).await.unwrap().unwrap();
}

/// A standby connection (cluster) is made over TLS like an active one: the session connects
/// to a station that speaks only TLS without STARTDT, then starts it on the same connection.
#[tokio::test]
async fn standby_connection_over_tls() {
    let dir = std::env::temp_dir().join(format!("gw-south-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pki = iec104::tls::testing::TestPki::generate(&dir).unwrap();
    let acceptor = pki.server_config().acceptor().unwrap();
    let (station, mut seen_by_station) = station_on(Some(acceptor)).await;
    let text = format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n[tls]\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n[[rtu]]\nname = \"r\"\naddress = \"{}\"\ncommon_address = 1\n[rtu.tls]\n",
        pki.ca.display(),
        pki.client.cert.display(),
        pki.client.key.display(),
        station.local_addr()
    );
    let settings = config::parse(&text, "t").unwrap();
    let tls = tls::Connectors::load(
        settings
            .rtus
            .iter()
            .filter_map(|r| r.tls.as_ref().map(|t| (r.name.as_str(), t))),
    )
    .unwrap();
    let rtu = Arc::new(settings.rtus[0].clone());
    let (writer, _batches) = mpsc::channel(16);
    let (results, _results_rx) = mpsc::channel(16);
    let board = StatusBoard::new();
    let shared = Shared {
        publish: Publish {
            topics: crate::contract::Topics::new("p"),
            node: "n".into(),
            qos: 1,
            retain: false,
        },
        writer,
        board: board.clone(),
        results,
        metrics: Arc::default(),
        live: Arc::new(crate::model::live::LiveView::new("n", [], 10, 10)),
        command_timeout: Duration::from_secs(1),
        audit: Default::default(),
        tls: Arc::new(tls),
    };
    let (role_tx, role_rx) = watch::channel(Role::Standby);
    let (_cmd_tx, cmd_rx) = mpsc::channel(4);
    let (stop_tx, stop_rx) = watch::channel(false);
    let session = tokio::spawn(RtuSession::new(rtu, shared, role_rx, cmd_rx).run(stop_rx));
    let end = tokio::time::Instant::now() + WAIT;
    while station.connections().is_empty() {
        assert!(tokio::time::Instant::now() < end, "no standby connection");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    role_tx.send(Role::Active).unwrap();
    expect(&mut seen_by_station, "started").await;
    expect(&mut seen_by_station, "asdu 100").await;
    assert_eq!(
        station.connections().len(),
        1,
        "the standby connection was started"
    );
    stop_tx.send(true).unwrap();
    tokio::time::timeout(WAIT, session).await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// `[mqtt] json_data = false`: Sparkplug is the only data output. The session writes no JSON
/// data messages (its batches only carry the I-frames' releases), and it waits for room in
/// the edge node's tap instead of dropping: three values of one ASDU pass through a tap of
/// one place, in order (on this single-threaded runtime a tap that dropped when full would
/// lose the second and third, which arrive before the test can take the first).
#[tokio::test]
async fn sparkplug_only_sends_no_json_data_and_waits_for_the_tap() {
    use iec104_sparkplug::session::Input;
    let (station, mut seen_by_station) = station().await;
    let text = format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\njson_data = false\n[sparkplug]\ngroup_id = \"g\"\n[[rtu]]\nname = \"r\"\naddress = \"{}\"\ncommon_address = 1\n",
        station.local_addr()
    );
    let rtu = Arc::new(config::parse(&text, "t").unwrap().rtus.remove(0));
    let (writer, mut batches) = mpsc::channel::<Batch>(16);
    let (data_tx, mut data_rx) = mpsc::unbounded_channel::<usize>();
    tokio::spawn(async move {
        while let Some(b) = batches.recv().await {
            let _ = data_tx.send(b.messages.len());
            if let Some(r) = b.release {
                r.release();
            }
        }
    });
    let (results, _results_rx) = mpsc::channel(16);
    let shared = Shared {
        publish: Publish {
            topics: crate::contract::Topics::new("p"),
            node: "n".into(),
            qos: 1,
            retain: false,
        },
        writer,
        board: StatusBoard::new(),
        results,
        metrics: Arc::default(),
        live: Arc::new(crate::model::live::LiveView::new("n", [], 10, 10)),
        command_timeout: Duration::from_secs(1),
        audit: Default::default(),
        tls: Arc::default(),
    };
    let (_role_tx, role_rx) = watch::channel(Role::Active);
    let (_cmd_tx, cmd_rx) = mpsc::channel(4);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (tap, mut inputs) = mpsc::channel(1);
    let session = RtuSession::new(rtu, shared, role_rx, cmd_rx).with_sparkplug_only(tap);
    let session = tokio::spawn(session.run(stop_rx));
    expect(&mut seen_by_station, "asdu 100").await;
    // M_SP_NA_1 (1), three objects (VSQ 3), spontaneous (COT 3), OA 0, CA 1; IOAs 5, 6, 7
    // (three octets, least significant first) with SIQ on, off, on.
    station
        .enqueue(Bytes::from(vec![
            1, 3, 3, 0, 1, 0, 5, 0, 0, 1, 6, 0, 0, 0, 7, 0, 0, 1,
        ]))
        .unwrap();
    let mut values = Vec::new();
    while values.len() < 3 {
        match tokio::time::timeout(WAIT, inputs.recv()).await.unwrap() {
            Some(Input::Value(u)) => values.push((u.address.ioa, u.value)),
            Some(_) => {}
            None => panic!("tap closed"),
        }
    }
    use iec104_sparkplug::PointValue;
    assert_eq!(
        values,
        [
            (5, PointValue::Single(true)),
            (6, PointValue::Single(false)),
            (7, PointValue::Single(true))
        ]
    );
    stop_tx.send(true).unwrap();
    // Let the session end (it may wait for the tap once more with the link-down).
    let drain = async { while inputs.recv().await.is_some() {} };
    tokio::time::timeout(WAIT, drain).await.unwrap();
    tokio::time::timeout(WAIT, session).await.unwrap().unwrap();
    data_rx.close();
    while let Some(n) = data_rx.recv().await {
        assert_eq!(n, 0, "a JSON data message was written");
    }
}

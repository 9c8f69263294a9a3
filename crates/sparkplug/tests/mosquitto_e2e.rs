//! The edge node driver against a real broker (mosquitto) and a host played by the test:
//! STATE gating, births, data, a DCMD round trip, the will on a crash, and the next carrier
//! of the RTU starting with the bdSeq after the one it observed.

use std::time::Duration;

use iec104::asdu::Quality;
use iec104::type_id::TypeId;
use iec104_e2e::broker::{self, Broker};
use iec104_e2e::raw_host;
use iec104_sparkplug::edge::{CommandOutcome, CommandSpec, PointConfig};
use iec104_sparkplug::proto::{Metric, MetricValue, Payload};
use iec104_sparkplug::session::{self, Input, SessionSettings};
use iec104_sparkplug::{EdgeNode, EdgeSettings, PointAddress, PointKind, PointUpdate, PointValue};
use prost::Message;
use rumqttc::{AsyncClient, MqttOptions, QoS};
use tokio::sync::mpsc;

/// Bound of every wait, so that a broken test ends instead of hanging (not a timing target).
const BOUND: Duration = Duration::from_secs(30);

fn edge_node(node: &str) -> EdgeNode {
    let settings = EdgeSettings {
        group_id: "G".into(),
        edge_node_id: "rtu1".into(),
        device_id: "rtu1".into(),
        primary_host_id: Some("scada".into()),
        qos: 0,
        buffer_capacity: 100,
        command_timeout_ms: 10_000,
        gateway_node: Some(node.into()),
    };
    let points = [
        PointConfig {
            address: PointAddress { ca: 1, ioa: 1 },
            name: Some("f".into()),
            kind: Some(PointKind::Float),
            command: None,
        },
        PointConfig {
            address: PointAddress { ca: 1, ioa: 2 },
            name: Some("q0".into()),
            kind: None,
            command: Some(CommandSpec {
                type_id: TypeId::C_DC_NA_1,
                select: true,
            }),
        },
    ];
    EdgeNode::new(settings, &points).unwrap_or_else(|e| panic!("{e}"))
}

fn session_settings(port: u16) -> SessionSettings {
    let mut mqtt = MqttOptions::new("spb-G-rtu1", "127.0.0.1", port);
    mqtt.set_keep_alive(Duration::from_secs(5));
    SessionSettings {
        mqtt,
        tick: Duration::from_millis(20),
        reconnect_delay: Duration::from_millis(200),
        carrier: None,
        history_dropped: None,
        brokers: None,
        connect_timeout_s: None,
    }
}

struct Host {
    client: AsyncClient,
    received: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
}

impl Host {
    /// Connects and subscribes (SUBACK awaited); a task forwards every publication.
    async fn start(port: u16) -> Host {
        let (client, received) = raw_host::start(port, "host", &["spBv1.0/G/#"], BOUND).await;
        Host { client, received }
    }

    /// The next message on `spBv1.0/G/...` whose type is in `kinds`.
    async fn next(&mut self, kinds: &[&str]) -> (String, Payload) {
        loop {
            let (topic, payload) = match tokio::time::timeout(BOUND, self.received.recv()).await {
                Ok(Some(m)) => m,
                other => panic!("host waiting for {kinds:?}: {other:?}"),
            };
            let kind = topic.split('/').nth(2).unwrap_or_default();
            if kinds.contains(&kind) {
                let payload =
                    Payload::decode(payload.as_slice()).unwrap_or_else(|e| panic!("{topic}: {e}"));
                return (topic, payload);
            }
        }
    }
}

fn metric<'a>(p: &'a Payload, name: &str) -> &'a Metric {
    p.metrics
        .iter()
        .find(|m| m.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no {name} in {p:?}"))
}

fn float(ioa: u32, v: f32) -> Input {
    Input::Value(PointUpdate {
        address: PointAddress { ca: 1, ioa },
        value: PointValue::Float(v),
        quality: Quality::GOOD,
        time_tag_ms: None,
        interrogated: false,
    })
}

/// The general interrogation's answer of a point.
fn answer(ioa: u32, v: f32) -> Input {
    match float(ioa, v) {
        Input::Value(u) => Input::Value(PointUpdate {
            interrogated: true,
            ..u
        }),
        other => other,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_node_session_against_mosquitto() {
    if !broker::available() {
        return;
    }
    let dir = iec104_e2e::scratch("sparkplug");
    let mut broker = Broker::start(&dir).await;
    let mut host = Host::start(broker.port).await;

    let (inputs, rx) = mpsc::channel(64);
    let (commands_tx, mut commands) = mpsc::channel(8);
    let driver = tokio::spawn(session::run(
        edge_node("gw-a"),
        session_settings(broker.port),
        rx,
        commands_tx,
    ));
    for i in [
        Input::LinkUp,
        answer(1, 50.0),
        Input::InterrogationComplete,
        float(1, 49.5),
    ] {
        inputs.send(i).await.unwrap_or_else(|e| panic!("{e}"));
    }
    // Nothing is born before the primary host is online; then NBIRTH, DBIRTH, history.
    let state = br#"{"online":true,"timestamp":1}"#.to_vec();
    host.client
        .publish("spBv1.0/STATE/scada", QoS::AtLeastOnce, true, state)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (topic, nbirth) = host.next(&["NBIRTH", "DBIRTH", "DDATA"]).await;
    assert_eq!(
        (topic.as_str(), nbirth.seq),
        ("spBv1.0/G/NBIRTH/rtu1", Some(0))
    );
    assert_eq!(
        metric(&nbirth, "bdSeq").value,
        Some(MetricValue::LongValue(0))
    );
    let (topic, dbirth) = host.next(&["DBIRTH", "DDATA"]).await;
    assert_eq!(
        (topic.as_str(), dbirth.seq),
        ("spBv1.0/G/DBIRTH/rtu1/rtu1", Some(1))
    );
    assert_eq!(
        metric(&dbirth, "f").value,
        Some(MetricValue::FloatValue(49.5))
    );
    assert_eq!(metric(&dbirth, "q0").is_null, Some(true));

    // 49.5 came after the interrogation but before the births: history.
    let (_, history) = host.next(&["DDATA"]).await;
    let h = &history.metrics[0];
    assert_eq!(
        (history.seq, h.alias, &h.value, h.is_historical),
        (
            Some(2),
            Some(16),
            &Some(MetricValue::FloatValue(49.5)),
            Some(true)
        )
    );

    inputs
        .send(float(1, 51.0))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, data) = host.next(&["DDATA"]).await;
    let d = &data.metrics[0];
    assert_eq!(
        (data.seq, d.alias, &d.value, d.is_historical),
        (
            Some(3),
            Some(16),
            &Some(MetricValue::FloatValue(51.0)),
            None
        )
    );

    // DCMD: the write becomes a command; its outcome comes back as the result metric.
    let write = Payload {
        metrics: vec![Metric {
            name: Some("q0".into()),
            value: Some(MetricValue::BooleanValue(true)),
            ..Default::default()
        }],
        ..Default::default()
    };
    host.client
        .publish(
            "spBv1.0/G/DCMD/rtu1/rtu1",
            QoS::AtLeastOnce,
            false,
            write.encode_to_vec(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let request = tokio::time::timeout(BOUND, commands.recv())
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no command"));
    assert_eq!(
        (request.address.ioa, request.type_id, request.select),
        (2, TypeId::C_DC_NA_1, true)
    );
    inputs
        .send(Input::Outcome {
            id: request.id,
            outcome: CommandOutcome::Confirmed,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let result_alias = metric(&dbirth, "q0/Command Result").alias;
    let mut results = Vec::new();
    while results.last() != Some(&Some(MetricValue::StringValue("confirmed".into()))) {
        let (_, d) = host.next(&["DDATA"]).await;
        results.extend(
            d.metrics
                .iter()
                .filter(|m| m.alias == result_alias)
                .map(|m| m.value.clone()),
        );
    }
    assert_eq!(results[0], Some(MetricValue::StringValue("pending".into())));

    // A crash of the carrier: the broker publishes the will, an NDEATH with bdSeq 0.
    driver.abort();
    let _ = driver.await;
    let (topic, death) = host.next(&["NDEATH"]).await;
    assert_eq!(topic, "spBv1.0/G/NDEATH/rtu1");
    assert_eq!(
        metric(&death, "bdSeq").value,
        Some(MetricValue::LongValue(0))
    );

    // The next carrier learnt bdSeq 0 from the NBIRTH it observed: its session is bdSeq 1.
    let (inputs, rx) = mpsc::channel(64);
    let (commands_tx, _commands) = mpsc::channel(8);
    let mut next = edge_node("gw-b");
    next.observe("spBv1.0/G/NBIRTH/rtu1", &nbirth.encode_to_vec())
        .unwrap_or_else(|e| panic!("{e}"));
    let driver = tokio::spawn(session::run(
        next,
        session_settings(broker.port),
        rx,
        commands_tx,
    ));
    let (_, nbirth) = host.next(&["NBIRTH"]).await;
    assert_eq!(
        metric(&nbirth, "bdSeq").value,
        Some(MetricValue::LongValue(1))
    );
    assert_eq!(
        metric(&nbirth, "Node Info/Gateway").value,
        Some(MetricValue::StringValue("gw-b".into()))
    );

    // A clean stop publishes the NDEATH itself (the broker drops the will on DISCONNECT).
    drop(inputs);
    let (_, death) = host.next(&["NDEATH"]).await;
    assert_eq!(
        metric(&death, "bdSeq").value,
        Some(MetricValue::LongValue(1))
    );
    let _ = driver.await;
    broker.stop().await;
}

/// The edge node's sessions move through a broker list: the first that fails, the next at once.
#[derive(Debug)]
struct InTurn {
    options: Vec<MqttOptions>,
    next: std::sync::atomic::AtomicUsize,
}

impl session::Brokers for InTurn {
    fn options(&self) -> MqttOptions {
        let i = self.next.load(std::sync::atomic::Ordering::SeqCst);
        self.options[i % self.options.len()].clone()
    }

    fn ended(&self, was_connected: bool) -> bool {
        if !was_connected {
            self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        was_connected
    }
}

/// MQTT options with `client_id` on 127.0.0.1:`port`.
fn options(client_id: &str, port: u16) -> MqttOptions {
    let mut o = MqttOptions::new(client_id, "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(5));
    o
}

/// Issue #11: a node that does not carry the RTU watches the carrier's births on the brokers
/// in its order, so with the first broker down it watches on the next one; when it takes
/// over, its session (also on the next broker) continues with the bdSeq after the carrier's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watching_node_follows_the_broker_list_and_continues_the_bd_seq() {
    if !broker::available() {
        return;
    }
    let dir = iec104_e2e::scratch("sparkplug-watch");
    // `log_type subscribe`: mosquitto names each subscription, so the test sees the watcher's.
    let broker = Broker::start_with(&dir, "log_type subscribe\n".into()).await;
    let dead = iec104_e2e::free_port();
    let mut host = Host::start(broker.port).await;
    let state = br#"{"online":true,"timestamp":1}"#.to_vec();
    host.client
        .publish("spBv1.0/STATE/scada", QoS::AtLeastOnce, true, state)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // gw-b watches: its first broker is a dead port, the second the live one.
    let watcher_id = "spb-G-rtu1-watch-gw-b";
    let (carry, carrying) = tokio::sync::watch::channel(false);
    let settings_b = SessionSettings {
        carrier: Some(session::Carrier {
            carrying,
            observers: vec![options(watcher_id, dead), options(watcher_id, broker.port)],
        }),
        brokers: Some(std::sync::Arc::new(InTurn {
            options: vec![
                options("spb-G-rtu1", dead),
                options("spb-G-rtu1", broker.port),
            ],
            next: 0.into(),
        })),
        ..session_settings(dead)
    };
    let (inputs_b, rx_b) = mpsc::channel(64);
    let (commands_b, _commands_b) = mpsc::channel(8);
    let driver_b = tokio::spawn(session::run(
        edge_node("gw-b"),
        settings_b,
        rx_b,
        commands_b,
    ));
    let subscribed = format!("{watcher_id} 1 spBv1.0/G/NBIRTH/rtu1");
    assert!(
        broker.wait_logged(&subscribed, BOUND).await,
        "the watcher never subscribed on the second broker:\n{}",
        broker.log_tail(20)
    );

    // gw-a carries the RTU, having learnt bdSeq 5 from an earlier carrier: it is born with
    // bdSeq 6; then it crashes (its will: NDEATH 6).
    let mut gw_a = edge_node("gw-a");
    let earlier = Payload {
        metrics: vec![Metric {
            name: Some("bdSeq".into()),
            value: Some(MetricValue::LongValue(5)),
            ..Default::default()
        }],
        ..Default::default()
    };
    gw_a.observe("spBv1.0/G/NBIRTH/rtu1", &earlier.encode_to_vec())
        .unwrap_or_else(|e| panic!("{e}"));
    let (inputs_a, rx_a) = mpsc::channel(64);
    let (commands_a, _commands_a) = mpsc::channel(8);
    let driver_a = tokio::spawn(session::run(
        gw_a,
        session_settings(broker.port),
        rx_a,
        commands_a,
    ));
    for i in [Input::LinkUp, answer(1, 50.0), Input::InterrogationComplete] {
        inputs_a.send(i).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let (_, nbirth) = host.next(&["NBIRTH"]).await;
    assert_eq!(
        metric(&nbirth, "bdSeq").value,
        Some(MetricValue::LongValue(6))
    );
    driver_a.abort();
    let _ = driver_a.await;
    let (_, death) = host.next(&["NDEATH"]).await;
    assert_eq!(
        metric(&death, "bdSeq").value,
        Some(MetricValue::LongValue(6))
    );

    // gw-b takes over: its own session fails on the dead port (a session attempt takes a
    // bdSeq: 7), is born on the live one with 8. A watcher stuck on the first broker would
    // have learnt nothing and been born with 1, below the carrier's.
    for i in [Input::LinkUp, answer(1, 51.0), Input::InterrogationComplete] {
        inputs_b.send(i).await.unwrap_or_else(|e| panic!("{e}"));
    }
    carry.send(true).unwrap_or_else(|e| panic!("{e}"));
    let (_, nbirth) = host.next(&["NBIRTH"]).await;
    assert_eq!(
        metric(&nbirth, "bdSeq").value,
        Some(MetricValue::LongValue(8))
    );
    assert_eq!(
        metric(&nbirth, "Node Info/Gateway").value,
        Some(MetricValue::StringValue("gw-b".into()))
    );
    drop(inputs_b);
    let _ = driver_b.await;
}

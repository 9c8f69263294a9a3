//! End-to-end: the gateway against a hostile MQTT client (real mosquitto, gateway in
//! process): hijacking response topics, floods, oversized publications, point limits, the
//! audit topic.

use std::collections::HashMap;
use std::time::Duration;

use iec104_e2e::broker::{self, Broker};
use iec104_e2e::gateway::Gateway;
use iec104_e2e::scratch;
use iec104_e2e::station::{self, Station};
use iec104_e2e::subscriber::Subscriber;

const WAIT: Duration = Duration::from_secs(15);

fn config(port: u16, dir: &std::path::Path, station: &str, extra_mqtt: &str, http: u16) -> String {
    format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\ntopic_prefix = \"e2e\"\n{extra_mqtt}\n[gateway]\nnode = \"gw-sec\"\nstore_path = \"{}\"\ncommand_timeout = 1.5\naudit_topic = true\nhttp_listen = \"127.0.0.1:{http}\"\n\n[[rtu]]\nname = \"north\"\naddress = \"{station}\"\ncommon_address = 1\nt0 = 2\n[[rtu.point]]\nioa = {}\ncommands = true\n[[rtu.point]]\nioa = {}\ncommands = true\nselect_required = true\nmax_rate = 1\n",
        dir.join("queue.redb").display(),
        station::CONFIRM,
        station::REFUSE,
    )
}

async fn started(sub: &mut Subscriber) {
    sub.wait_for(WAIT, |m| {
        m.topic == "e2e/north/status" && m.json["state"] == "started"
    })
    .await
    .expect("north never reported started");
}

async fn http_get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect http");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut out = String::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_string(&mut out)).await;
    out
}

/// An MQTT 5 client that publishes commands with response topics.
async fn requester(port: u16) -> (rumqttc::v5::AsyncClient, tokio::task::JoinHandle<()>) {
    use rumqttc::v5::{AsyncClient, MqttOptions};
    let mut o = MqttOptions::new("e2e-hostile", "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(5));
    let (client, mut el) = AsyncClient::new(o, 16);
    let poll = tokio::spawn(async move { while el.poll().await.is_ok() {} });
    (client, poll)
}

async fn command_v5(c: &rumqttc::v5::AsyncClient, topic: &str, payload: &str, response: &str) {
    use rumqttc::v5::mqttbytes::v5::PublishProperties;
    let props = PublishProperties {
        response_topic: Some(response.into()),
        correlation_data: Some(bytes::Bytes::from_static(b"c")),
        user_properties: vec![("operator".into(), "alice".into())],
        ..Default::default()
    };
    c.publish_with_properties(
        topic,
        rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
        false,
        payload.to_owned(),
        props,
    )
    .await
    .expect("publish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_topics_cannot_hijack_the_gateways_topics() {
    if !broker::available() {
        return;
    }
    let dir = scratch("sec-hijack");
    let broker = Broker::start(&dir).await;
    let mut st = Station::start(1).await;
    let mut sub = Subscriber::start(broker.port, "#").await;
    let http = iec104_e2e::free_port();
    let gw = Gateway::start(
        &dir,
        &config(broker.port, &dir, &st.addr.to_string(), "", http),
    );
    started(&mut sub).await;
    let (client, poll) = requester(broker.port).await;
    let t = format!("e2e/north/1/{}/command", station::CONFIRM);
    let hijacks = [
        "e2e/north/1/200",
        "e2e/north/status",
        "e2e/_gateway/gw-sec",
        "e2e/north/1/101/command",
        "e2e/_response/x/command",
        "elsewhere/replies",
    ];
    for (i, h) in hijacks.iter().enumerate() {
        let id = format!("h{i}");
        command_v5(
            &client,
            &t,
            &format!(r#"{{"type":"C_SC_NA_1","value":true,"id":"{id}"}}"#),
            h,
        )
        .await;
        let r = sub
            .wait_for(WAIT, |m| {
                assert_ne!(
                    &m.topic, h,
                    "the gateway published on the hijacked topic {h}"
                );
                m.topic == format!("{t}/result") && m.json["id"] == id.as_str()
            })
            .await
            .unwrap_or_else(|| panic!("no result on .../command/result for {h}"));
        assert!(
            r.json["response_topic_refused"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "{h}: {}",
            r.json
        );
        // Wait for the termination too, so the next command finds the session free.
        sub.wait_for(WAIT, |m| {
            m.json["id"] == id.as_str() && m.json["status"] == "terminated"
        })
        .await
        .expect("terminated");
    }
    // Only the confirm point was ever commanded at the station (nothing at 101).
    while let Ok(Some((_, ioa, _))) =
        tokio::time::timeout(Duration::from_millis(50), st.commands.recv()).await
    {
        assert_eq!(ioa, station::CONFIRM);
    }
    // Under the response prefix the response topic is honoured.
    command_v5(
        &client,
        &t,
        r#"{"type":"C_SC_NA_1","value":true,"id":"ok"}"#,
        "e2e/_response/op",
    )
    .await;
    let r = sub
        .wait_for(WAIT, |m| {
            m.topic == "e2e/_response/op" && m.json["id"] == "ok"
        })
        .await
        .expect("result on the response topic");
    assert!(r.json.get("response_topic_refused").is_none(), "{}", r.json);
    // The audit topic carries the request with who sent it, and its result.
    let a = sub
        .wait_for(WAIT, |m| {
            m.topic == "e2e/_audit/gw-sec" && m.json["id"] == "ok" && m.json["event"] == "result"
        })
        .await
        .expect("audit record of the result");
    assert_eq!(a.json["sender"], "operator=alice", "{}", a.json);
    assert_eq!(a.json["rtu"], "north");
    poll.abort();
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn point_limits_refuse_direct_execute_and_too_many_commands() {
    if !broker::available() {
        return;
    }
    let dir = scratch("sec-limits");
    let broker = Broker::start(&dir).await;
    let st = Station::start(1).await;
    let mut sub = Subscriber::start(broker.port, "e2e/#").await;
    let http = iec104_e2e::free_port();
    let gw = Gateway::start(
        &dir,
        &config(broker.port, &dir, &st.addr.to_string(), "", http),
    );
    started(&mut sub).await;
    let t = format!("e2e/north/1/{}/command", station::REFUSE);
    let result = |id: &'static str| {
        move |m: &iec104_e2e::subscriber::Received| {
            m.topic.ends_with("/command/result") && m.json["id"] == id
        }
    };
    sub.publish(&t, r#"{"type":"C_SC_NA_1","value":true,"id":"direct"}"#)
        .await;
    let r = sub.wait_for(WAIT, result("direct")).await.expect("result");
    assert_eq!(r.json["status"], "rejected");
    assert!(
        r.json["error"]
            .as_str()
            .unwrap_or_default()
            .contains("select"),
        "{}",
        r.json
    );
    // max_rate = 1: the first select goes to the RTU (which refuses it), the second is
    // refused by the gateway.
    sub.publish(
        &t,
        r#"{"type":"C_SC_NA_1","value":true,"select":true,"id":"s1"}"#,
    )
    .await;
    let r = sub.wait_for(WAIT, result("s1")).await.expect("result");
    assert_eq!(r.json["negative"], true, "{}", r.json);
    sub.publish(
        &t,
        r#"{"type":"C_SC_NA_1","value":true,"select":true,"id":"s2"}"#,
    )
    .await;
    let r = sub.wait_for(WAIT, result("s2")).await.expect("result");
    assert!(
        r.json["error"]
            .as_str()
            .unwrap_or_default()
            .contains("max_rate"),
        "{}",
        r.json
    );
    gw.stop().await;
}

/// Commands sent in the flood (bounded).
const FLOOD: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_commands_gets_one_result_each() {
    if !broker::available() {
        return;
    }
    let dir = scratch("sec-flood");
    let broker = Broker::start(&dir).await;
    let st = Station::start(1).await;
    let mut status = Subscriber::start(broker.port, "e2e/north/status").await;
    let mut sub = Subscriber::start(broker.port, "e2e/north/+/+/command/result").await;
    let http = iec104_e2e::free_port();
    let gw = Gateway::start(
        &dir,
        &config(broker.port, &dir, &st.addr.to_string(), "", http),
    );
    started(&mut status).await;
    let mut o = rumqttc::MqttOptions::new("e2e-flooder", "127.0.0.1", broker.port);
    o.set_keep_alive(Duration::from_secs(5));
    let (client, mut el) = rumqttc::AsyncClient::new(o, 1000);
    let poll = tokio::spawn(async move { while el.poll().await.is_ok() {} });
    let t = format!("e2e/north/1/{}/command", station::CONFIRM);
    let begun = std::time::Instant::now();
    for i in 0..FLOOD {
        client
            .publish(
                &t,
                rumqttc::QoS::AtLeastOnce,
                false,
                format!(r#"{{"type":"C_SC_NA_1","value":true,"id":"f{i}"}}"#),
            )
            .await
            .expect("publish");
    }
    let sent = begun.elapsed();
    let mut results: HashMap<String, Vec<String>> = HashMap::new();
    let result_topic = format!("{t}/result");
    while results.len() < FLOOD {
        let Some(m) = sub.next(Duration::from_secs(60)).await else {
            break;
        };
        if m.topic != result_topic {
            continue;
        }
        let id = m.json["id"].as_str().unwrap_or_default().to_owned();
        let status = m.json["status"].as_str().unwrap_or_default().to_owned();
        results.entry(id).or_default().push(status);
    }
    println!(
        "flood: {FLOOD} commands sent in {sent:?}, results for {} in {:?}",
        results.len(),
        begun.elapsed()
    );
    let missing = (0..FLOOD)
        .filter(|i| !results.contains_key(&format!("f{i}")))
        .count();
    if missing > 0 {
        let metrics = http_get(http, "/metrics").await;
        panic!("{missing} of {FLOOD} commands got no result; metrics: {metrics}");
    }
    for (id, statuses) in &results {
        let mut s = statuses.clone();
        s.sort();
        s.dedup();
        assert_eq!(s.len(), statuses.len(), "{id}: {statuses:?}");
    }
    poll.abort();
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_command_does_not_cost_the_connection_with_mqtt_3() {
    if !broker::available() {
        return;
    }
    let dir = scratch("sec-big");
    let broker = Broker::start(&dir).await;
    let st = Station::start(1).await;
    // Not subscribed to the command topics: the test's own client would receive the 2 MiB
    // publication too.
    let mut status = Subscriber::start(broker.port, "e2e/north/status").await;
    let mut sub = Subscriber::start(broker.port, "e2e/north/+/+/command/result").await;
    let http = iec104_e2e::free_port();
    let gw = Gateway::start(
        &dir,
        &config(broker.port, &dir, &st.addr.to_string(), "version = 4", http),
    );
    started(&mut status).await;
    let t = format!("e2e/north/1/{}/command", station::CONFIRM);
    let mut o = rumqttc::MqttOptions::new("e2e-big", "127.0.0.1", broker.port);
    o.set_max_packet_size(8 << 20, 8 << 20);
    let (client, mut el) = rumqttc::AsyncClient::new(o, 10);
    let poll = tokio::spawn(async move { while el.poll().await.is_ok() {} });
    client
        .publish(&t, rumqttc::QoS::AtLeastOnce, false, vec![b'{'; 2 << 20])
        .await
        .expect("publish");
    let r = sub
        .wait_for(WAIT, |m| {
            m.topic == format!("{t}/result") && m.json["status"] == "invalid"
        })
        .await
        .expect("an invalid result for the oversized command");
    assert!(
        r.json["error"]
            .as_str()
            .unwrap_or_default()
            .contains("2097152 octets"),
        "{}",
        r.json
    );
    sub.publish(&t, r#"{"type":"C_SC_NA_1","value":true,"id":"after"}"#)
        .await;
    sub.wait_for(WAIT, |m| {
        m.json["id"] == "after" && m.json["status"] == "confirmed"
    })
    .await
    .expect("the next command is carried out");
    let metrics = http_get(http, "/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "iec104gw_mqtt_connects_total 1"),
        "the broker connection was lost: {metrics}"
    );
    poll.abort();
    gw.stop().await;
}

const SECRET: &str = "S3cr3t-pa55-XYZ-771";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_password_never_leaves_its_file() {
    use std::process::Stdio;
    if !broker::available() {
        return;
    }
    let dir = scratch("sec-secret");
    let broker = Broker::start(&dir).await;
    let st = Station::start(1).await;
    let mut sub = Subscriber::start(broker.port, "#").await;
    let http = iec104_e2e::free_port();
    // A relative password_file is looked up in $CREDENTIALS_DIRECTORY (systemd LoadCredential=).
    let creds = dir.join("credentials");
    std::fs::create_dir_all(&creds).expect("credentials dir");
    std::fs::write(creds.join("mqtt-password"), format!("{SECRET}\n")).expect("secret");
    let text = config(
        broker.port,
        &dir,
        &st.addr.to_string(),
        "username = \"gw\"\npassword_file = \"mqtt-password\"",
        http,
    );
    let path = dir.join("gateway.toml");
    std::fs::write(&path, &text).expect("config");
    let bin = iec104_e2e::gateway::binary();
    let check = std::process::Command::new(&bin)
        .args(["check", "--config"])
        .arg(&path)
        .env("CREDENTIALS_DIRECTORY", &creds)
        .env("RUST_LOG", "trace")
        .output()
        .expect("check");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let mut everything = String::from_utf8_lossy(&check.stdout).into_owned();
    everything.push_str(&String::from_utf8_lossy(&check.stderr));
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = tokio::process::Command::new(&bin)
        .args(["run", "--config"])
        .arg(&path)
        .env("CREDENTIALS_DIRECTORY", &creds)
        .env("RUST_LOG", "trace")
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start gateway");
    started(&mut sub).await;
    sub.publish(
        &format!("e2e/north/1/{}/command", station::CONFIRM),
        r#"{"type":"C_SC_NA_1","value":true,"id":"s"}"#,
    )
    .await;
    let mut mqtt = String::new();
    while let Some(m) = sub.wait_for(WAIT, |_| true).await {
        mqtt.push_str(&m.topic);
        mqtt.push_str(&m.json.to_string());
        if m.json["id"] == "s" && m.json["status"] == "terminated" {
            break;
        }
    }
    assert!(
        mqtt.contains("terminated"),
        "the command did not complete: {mqtt}"
    );
    everything.push_str(&http_get(http, "/metrics").await);
    everything.push_str(&mqtt);
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
    }
    let _ = tokio::time::timeout(WAIT, child.wait()).await;
    let logs = std::fs::read_to_string(&out).unwrap_or_default()
        + &std::fs::read_to_string(&err).unwrap_or_default();
    assert!(
        logs.contains("connected to the MQTT broker"),
        "trace logs expected: {logs}"
    );
    everything.push_str(&logs);
    assert!(!everything.contains(SECRET), "the password leaked");

    // A password in the URL or a numeric password is refused without being echoed.
    for (mqtt_keys, secret) in [
        (
            format!("url = \"mqtt://gw:{SECRET}@127.0.0.1:1\"\n"),
            SECRET.to_owned(),
        ),
        (
            "username = \"gw\"\npassword = 98127346501\n".to_owned(),
            "98127346501".to_owned(),
        ),
    ] {
        let text = format!(
            "[mqtt]\n{mqtt_keys}{}",
            if mqtt_keys.contains("url") {
                ""
            } else {
                "url = \"mqtt://127.0.0.1:1\"\n"
            }
        );
        let (code, stdout, stderr) = iec104_e2e::gateway::check(&dir, &text);
        assert_ne!(code, 0, "{text}");
        assert!(
            !stdout.contains(&secret) && !stderr.contains(&secret),
            "{stdout}{stderr}"
        );
        assert!(stderr.contains("password"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_status_or_presence_is_corrected_and_counted() {
    if !broker::available() {
        return;
    }
    let dir = scratch("sec-spoof");
    let broker = Broker::start(&dir).await;
    let st = Station::start(1).await;
    let mut sub = Subscriber::start(broker.port, "e2e/+/+").await;
    let http = iec104_e2e::free_port();
    let gw = Gateway::start(
        &dir,
        &config(broker.port, &dir, &st.addr.to_string(), "", http),
    );
    started(&mut sub).await;
    let c = sub.client();
    for (topic, fake) in [
        (
            "e2e/north/status",
            r#"{"state":"disconnected","spoof":true}"#,
        ),
        (
            "e2e/_gateway/gw-sec",
            r#"{"status":"offline","spoof":true}"#,
        ),
    ] {
        c.publish(
            topic,
            rumqttc::QoS::AtLeastOnce,
            true,
            fake.as_bytes().to_vec(),
        )
        .await
        .expect("publish");
        sub.wait_for(WAIT, |m| m.topic == topic && m.json["spoof"] == true)
            .await
            .expect("the spoof itself");
        let truth = sub
            .wait_for(WAIT, |m| m.topic == topic)
            .await
            .unwrap_or_else(|| panic!("the gateway did not correct {topic}"));
        assert!(
            truth.retain || truth.json.get("spoof").is_none(),
            "{}",
            truth.json
        );
        assert!(truth.json.get("spoof").is_none(), "{}", truth.json);
    }
    let metrics = http_get(http, "/metrics").await;
    assert!(
        metrics.lines().any(|l| l == "iec104gw_spoofed_total 2"),
        "{metrics}"
    );
    gw.stop().await;
}

/// A restarted gateway finds its previous life's retained status and presence on the broker
/// (sent to it, with the RETAIN flag, when it subscribes to its own topics): that is no spoof.
/// A spoof published afterwards is the only one counted — and since the broker delivers in
/// order, it arrives after those retained copies, so the count proves they were not counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_gateway_does_not_take_its_own_retained_past_for_a_spoof() {
    if !broker::available() {
        return;
    }
    let dir = scratch("sec-restart");
    let broker = Broker::start(&dir).await;
    let st = Station::start(1).await;
    let mut sub = Subscriber::start(broker.port, "e2e/+/+").await;
    let http = iec104_e2e::free_port();
    let conf = config(broker.port, &dir, &st.addr.to_string(), "", http);
    let first = Gateway::start(&dir, &conf);
    started(&mut sub).await;
    first.stop().await;
    let second = Gateway::start(&dir, &conf);
    started(&mut sub).await;
    sub.client()
        .publish(
            "e2e/north/status",
            rumqttc::QoS::AtLeastOnce,
            true,
            br#"{"node":"gw-sec","state":"disconnected","spoof":true}"#.to_vec(),
        )
        .await
        .expect("publish");
    let mut counted = None;
    for _ in 0..200 {
        let metrics = http_get(http, "/metrics").await;
        counted = metrics
            .lines()
            .find_map(|l| l.strip_prefix("iec104gw_spoofed_total "))
            .map(str::to_owned);
        if counted.as_deref().is_some_and(|n| n != "0") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        counted.as_deref(),
        Some("1"),
        "spoofs counted after a restart"
    );
    second.stop().await;
}

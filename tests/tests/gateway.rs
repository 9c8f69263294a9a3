//! End-to-end: the real gateway binary between scripted stations and a real mosquitto.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use iec104::asdu::Quality;
use iec104_e2e::broker::{self, Broker};
use iec104_e2e::gateway::{self, Gateway, GatewayProcess};
use iec104_e2e::scratch;
use iec104_e2e::station::{self, Station};
use iec104_e2e::subscriber::{Received, Subscriber};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(15);

/// A configuration naming `rtus` (t2 = 1 s: a burst's last I-frames are acknowledged, and the
/// station sees them so, a second after the durable write instead of after the default 10 s).
fn config(port: u16, dir: &std::path::Path, rtus: &[(&str, String)]) -> String {
    config_http(port, dir, rtus, None)
}

fn config_http(
    port: u16,
    dir: &std::path::Path,
    rtus: &[(&str, String)],
    http: Option<u16>,
) -> String {
    let mut s = format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\ntopic_prefix = \"e2e\"\n\n[gateway]\nnode = \"gw-test\"\nstore_path = \"{}\"\ncommand_timeout = 1.5\n",
        dir.join("queue.redb").display()
    );
    if let Some(h) = http {
        s.push_str(&format!("http_listen = \"127.0.0.1:{h}\"\n"));
    }
    for (name, addr) in rtus {
        s.push_str(&format!(
            "\n[[rtu]]\nname = \"{name}\"\naddress = \"{addr}\"\ncommon_address = 1\nt0 = 2\nt2 = 1\n[[rtu.point]]\nioa = {}\ncommands = true\n[[rtu.point]]\nioa = {}\ncommands = true\n[[rtu.point]]\nioa = {}\ncommands = true\nname = \"silent\"\n",
            station::CONFIRM,
            station::REFUSE,
            station::SILENT
        ));
    }
    s
}

async fn started(sub: &mut Subscriber, rtu: &str) {
    let topic = format!("e2e/{rtu}/status");
    sub.wait_for(WAIT, |m| m.topic == topic && m.json["state"] == "started")
        .await
        .unwrap_or_else(|| panic!("{rtu} never reported started"));
}

/// The fields of the ground truth must be in the payload unchanged.
fn assert_intact(truth: &Value, got: &Received) {
    for (k, v) in truth.as_object().expect("object") {
        assert_eq!(&got.json[k], v, "field {k} of {} ({})", got.topic, got.json);
    }
    assert_eq!(got.json["rtu"], "north");
    assert_eq!(got.json["node"], "gw-test");
    assert!(got.json["received"].is_string());
}

fn qualities(i: u32) -> (Quality, Value) {
    match i % 3 {
        0 => (Quality::GOOD, serde_json::json!([])),
        1 => (Quality::IV, serde_json::json!(["IV"])),
        _ => (
            Quality::from_bits(0x40 | 0x01),
            serde_json::json!(["NT", "OV"]),
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_intact_with_status_and_presence() {
    if !broker::available() {
        return;
    }
    let dir = scratch("data");
    let broker = Broker::start(&dir).await;
    let st = Station::start(1).await;
    let mut sub = Subscriber::start(broker.port, "e2e/#").await;
    let http = iec104_e2e::free_port();
    let gw = Gateway::start(
        &dir,
        &config_http(
            broker.port,
            &dir,
            &[("north", st.addr.to_string())],
            Some(http),
        ),
    );
    let mut seen = Vec::new();
    let presence = sub
        .wait_for(WAIT, |m| {
            seen.push(format!("{} {} retain={}", m.topic, m.json, m.retain));
            m.topic == "e2e/_gateway/gw-test"
        })
        .await
        .expect("presence");
    assert_eq!(presence.json["status"], "online", "{seen:#?}");
    started(&mut sub, "north").await;
    // The general interrogation after STARTDT.
    let gi = sub
        .wait_for(WAIT, |m| m.topic == "e2e/north/1/1")
        .await
        .expect("GI object");
    assert_eq!(gi.json["cot"], "inrogen");
    assert_eq!(gi.json["value"], true);
    let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 10, 15, 30).unwrap();
    let mut truth = Vec::new();
    for i in 0..60u32 {
        let (q, names) = qualities(i);
        let t = t0 + chrono::Duration::milliseconds(i64::from(i) * 1234);
        let mut v = st.float(1000 + i % 5, 200.0 + i as f32 * 0.25, q, t);
        v["quality"] = names;
        truth.push(v);
    }
    for t in &truth {
        let topic = format!("e2e/north/1/{}", t["ioa"]);
        let got = sub
            .wait_for(WAIT, |m| m.topic == topic && m.json["time"] == t["time"])
            .await
            .unwrap_or_else(|| panic!("event {t} never arrived"));
        assert_intact(t, &got);
    }
    // The HTTP endpoint: health, readiness and the figures of what just happened.
    let get = |path: &'static str| async move {
        testkit::http_get(http, path, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    assert_eq!(get("/health").await.status, 200);
    assert_eq!(get("/ready").await.status, 200);
    // Exact samples (a substring match of `... 6` also passed for 60-69). Objects: the
    // interrogation's ActCon, object and ActTerm, and the 60 events.
    let metrics = get("/metrics").await;
    for (name, value) in [
        ("iec104gw_rtu_state{rtu=\"north\",state=\"started\"}", 1.0),
        ("iec104gw_rtu_objects_received_total{rtu=\"north\"}", 63.0),
        ("iec104gw_mqtt_connected", 1.0),
        ("iec104gw_queue_dropped_total", 0.0),
        // Broker up and quick: every ASDU went straight from memory, none through the disk.
        ("iec104gw_batches_to_disk_total", 0.0),
    ] {
        assert_eq!(
            metrics.metric(name),
            Some(value),
            "{name}\n{}",
            metrics.body
        );
    }
    gw.stop().await;
    // The RTU's final status reaches the broker before the presence goes offline.
    let mut final_status = false;
    let offline = sub
        .wait_for(WAIT, |m| {
            if m.topic == "e2e/north/status" && m.json["state"] == "disconnected" {
                final_status = true;
            }
            m.topic == "e2e/_gateway/gw-test" && m.json["status"] == "offline"
        })
        .await;
    assert!(offline.is_some(), "no offline presence after a clean stop");
    assert!(
        final_status,
        "the final RTU status did not arrive before the offline presence"
    );
}

async fn command(sub: &mut Subscriber, topic: &str, payload: &str, id: &str) -> Value {
    sub.publish(topic, payload).await;
    let result = format!("{topic}/result");
    sub.wait_for(WAIT, |m| m.topic == result && m.json["id"] == id)
        .await
        .unwrap_or_else(|| panic!("no result for {id} on {result}"))
        .json
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_round_trip_with_every_outcome() {
    if !broker::available() {
        return;
    }
    let dir = scratch("cmd");
    let broker = Broker::start(&dir).await;
    let mut st = Station::start(1).await;
    let mut sub = Subscriber::start(broker.port, "e2e/#").await;
    let gw = Gateway::start(
        &dir,
        &config(broker.port, &dir, &[("north", st.addr.to_string())]),
    );
    started(&mut sub, "north").await;

    // Select-before-operate, confirmed then terminated.
    let t = "e2e/north/1/100/command";
    let r = command(
        &mut sub,
        t,
        r#"{"type":"C_DC_NA_1","value":"on","select":true,"id":"op-1"}"#,
        "op-1",
    )
    .await;
    assert_eq!(r["status"], "confirmed", "{r}");
    assert_eq!(r["cause"], "actcon");
    let term = sub
        .wait_for(WAIT, |m| {
            m.topic == format!("{t}/result") && m.json["id"] == "op-1"
        })
        .await
        .expect("terminated");
    assert_eq!(term.json["status"], "terminated");
    // The station saw select (S/E = 1) then execute, both C_DC_NA_1 (46) at IOA 100.
    assert_eq!(st.commands.recv().await, Some((46, 100, 0x80)));
    assert_eq!(st.commands.recv().await, Some((46, 100, 0)));

    // Refused by the RTU: ActCon with P/N = 1.
    let r = command(
        &mut sub,
        "e2e/north/1/101/command",
        r#"{"type":"C_SC_NA_1","value":true,"id":"op-2"}"#,
        "op-2",
    )
    .await;
    assert_eq!(r["status"], "rejected", "{r}");
    assert_eq!(r["negative"], true);
    assert_eq!(r["cause"], "actcon");

    // Unknown IOA at the RTU (allowed by us for IOA 100 only; so use a set-point on 100's
    // neighbour? no: the station refuses unknown IOAs with cause 47 — not configured here, so
    // the gateway refuses first).
    let r = command(
        &mut sub,
        "e2e/north/1/555/command",
        r#"{"type":"C_SC_NA_1","value":true,"id":"op-3"}"#,
        "op-3",
    )
    .await;
    assert_eq!(r["status"], "rejected", "{r}");
    assert!(
        r["error"]
            .as_str()
            .unwrap_or_default()
            .contains("not allowed"),
        "{r}"
    );

    // The RTU never answers: timeout (command_timeout = 1.5 s), addressed by point name.
    let r = command(
        &mut sub,
        "e2e/north/silent/command",
        r#"{"type":"C_SE_NC_1","value":1.5,"id":"op-4"}"#,
        "op-4",
    )
    .await;
    assert_eq!(r["status"], "timeout", "{r}");

    // Malformed: not JSON, unknown type, bad value — each `invalid` with its reason.
    let r = command(
        &mut sub,
        t,
        r#"{"type":"C_XX_NA_1","value":1,"id":"op-5"}"#,
        "op-5",
    )
    .await;
    assert_eq!(r["status"], "invalid");
    assert!(
        r["error"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown type"),
        "{r}"
    );
    let r = command(
        &mut sub,
        t,
        r#"{"type":"C_DC_NA_1","value":"maybe","id":"op-6"}"#,
        "op-6",
    )
    .await;
    assert_eq!(r["status"], "invalid");
    assert!(
        r["error"].as_str().unwrap_or_default().contains("off/on"),
        "{r}"
    );
    sub.publish(t, "this is not json").await;
    let r = sub
        .wait_for(WAIT, |m| {
            m.topic == format!("{t}/result")
                && m.json["status"] == "invalid"
                && m.json["id"].is_null()
        })
        .await
        .expect("invalid result for a non-JSON payload");
    assert!(r.json["error"]
        .as_str()
        .unwrap_or_default()
        .contains("not JSON"));
    gw.stop().await;
}

/// Sends `n` events, `pace` apart; returns the ground truth.
async fn burst(st: &Station, first: u32, n: u32) -> Vec<Value> {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
    let mut truth = Vec::new();
    for i in first..first + n {
        let t = t0 + chrono::Duration::milliseconds(i64::from(i));
        let mut v = st.float(2000, i as f32, Quality::GOOD, t);
        v["quality"] = serde_json::json!([]);
        truth.push(v);
    }
    truth
}

/// Every truth event arrives (duplicates allowed: at-least-once).
async fn all_arrive(sub: &mut Subscriber, truth: &[Value]) {
    let mut missing: std::collections::BTreeSet<String> = truth
        .iter()
        .map(|t| t["time"].as_str().unwrap_or_default().to_owned())
        .collect();
    let end = tokio::time::Instant::now() + Duration::from_secs(30);
    while !missing.is_empty() {
        let left = end.saturating_duration_since(tokio::time::Instant::now());
        let Some(m) = sub.wait_for(left, |m| m.topic == "e2e/north/1/2000").await else {
            panic!(
                "{} of {} events lost, e.g. {:?}",
                missing.len(),
                truth.len(),
                missing.iter().next()
            );
        };
        if let Some(t) = m.json["time"].as_str() {
            if missing.remove(t) {
                let truth = truth.iter().find(|x| x["time"] == t).expect("truth");
                assert_intact(truth, &m);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_outage_loses_nothing() {
    if !broker::available() {
        return;
    }
    let dir = scratch("outage");
    let mut broker = Broker::start(&dir).await;
    let st = Station::start(1).await;
    let mut sub = Subscriber::start(broker.port, "e2e/#").await;
    let gw = Gateway::start(
        &dir,
        &config(broker.port, &dir, &[("north", st.addr.to_string())]),
    );
    started(&mut sub, "north").await;
    let mut truth = burst(&st, 0, 100).await;
    broker.stop().await;
    // While the broker is down, events keep coming and go to disk: the gateway acknowledges
    // them to the RTU only after the durable write, so wait for that, not for a guessed time.
    truth.extend(burst(&st, 100, 300).await);
    let end = tokio::time::Instant::now() + WAIT;
    while st.unacknowledged() > 0 {
        assert!(tokio::time::Instant::now() < end, "never written to disk");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    broker.restart().await;
    truth.extend(burst(&st, 400, 100).await);
    all_arrive(&mut sub, &truth).await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_killed_while_broker_down_loses_nothing_acknowledged() {
    if !broker::available() {
        return;
    }
    let dir = scratch("kill");
    let mut broker = Broker::start(&dir).await;
    let st = Station::start(1).await;
    let mut sub = Subscriber::start(broker.port, "e2e/#").await;
    let cfg = config(broker.port, &dir, &[("north", st.addr.to_string())]);
    let gw = GatewayProcess::start(&dir, &cfg);
    started(&mut sub, "north").await;
    broker.stop().await;
    let truth = burst(&st, 0, 300).await;
    // Wait until the station has every event acknowledged (they are on the gateway's disk).
    let end = tokio::time::Instant::now() + WAIT;
    while st.unacknowledged() > 0 {
        assert!(
            tokio::time::Instant::now() < end,
            "events never acknowledged by the gateway"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gw.kill().await;
    let gw = Gateway::start(&dir, &cfg);
    tokio::time::sleep(Duration::from_millis(500)).await;
    broker.restart().await;
    all_arrive(&mut sub, &truth).await;
    gw.stop().await;
}

/// Receives burst events until at most `left` of `missing` (time tag -> ground truth) remain;
/// panics with the count when nothing new comes for `quiet`.
async fn receive_until(
    sub: &mut Subscriber,
    total: usize,
    missing: &mut std::collections::HashMap<String, Value>,
    left: usize,
    quiet: Duration,
) {
    while missing.len() > left {
        let Some(m) = sub.wait_for(quiet, |m| m.topic == "e2e/north/1/2000").await else {
            panic!(
                "{} of {total} events lost, e.g. {:?}",
                missing.len(),
                missing.keys().next()
            );
        };
        if let Some(truth) = m.json["time"].as_str().and_then(|t| missing.remove(t)) {
            assert_intact(&truth, &m);
        }
    }
}

/// Issue 5's guarantee: a node killed with SIGKILL while the broker is UP, and never
/// restarted, loses nothing. The first gateway is killed in the middle of a burst; a second
/// one (same configuration, a fresh empty store) connects to the same station, which sends on
/// STARTDT every event the first did not acknowledge. Every event must reach the subscriber
/// (at least once). With "acknowledge once on the local disk", the events the dead node had
/// stored but not yet published are lost, and this test fails. A small MQTT in-flight window
/// (2) makes the broker side the bottleneck, as a slow broker would: a node that acknowledges
/// on its disk builds a backlog there, which the kill strands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_killed_with_broker_up_loses_nothing_without_restart() {
    if !broker::available() {
        return;
    }
    const N: u32 = 5_000;
    let dir = scratch("kill-up");
    let dir_b = dir.join("second");
    std::fs::create_dir_all(&dir_b).expect("second dir");
    let broker = Broker::start(&dir).await;
    // The station keeps every event of the burst until a connection acknowledges it, and
    // sends up to 100 I-frames ahead (a disk-acknowledging node takes them 100 per commit).
    let st = Station::start_with_queue(1, 2 * N as usize, 100).await;
    let mut sub = Subscriber::start(broker.port, "e2e/#").await;
    // spill_after 5 s (below half of t1 = 15 s): on this loaded test machine a batch may
    // wait over the default 1 s behind the in-flight window of 2, and a spilled batch is
    // acknowledged from the node's disk, which the kill strands (the documented limit).
    let slow = |d: &std::path::Path| {
        config(broker.port, d, &[("north", st.addr.to_string())])
            .replace(
                "topic_prefix = \"e2e\"\n",
                "topic_prefix = \"e2e\"\nmax_inflight = 2\n",
            )
            .replace(
                "command_timeout = 1.5\n",
                "command_timeout = 1.5\nspill_after = 5\n",
            )
    };
    let gw = GatewayProcess::start(&dir, &slow(&dir));
    started(&mut sub, "north").await;
    let truth = burst(&st, 0, N).await;
    let mut missing: std::collections::HashMap<String, Value> = truth
        .into_iter()
        .map(|t| (t["time"].as_str().unwrap_or_default().to_owned(), t))
        .collect();
    let total = missing.len();
    // Kill it once a fifth of the burst has arrived: the burst is in full flow.
    receive_until(&mut sub, total, &mut missing, total * 4 / 5, WAIT).await;
    gw.kill().await;
    assert!(
        !missing.is_empty(),
        "the whole burst arrived before the kill: widen the burst"
    );
    let second = Gateway::start(&dir_b, &slow(&dir_b));
    receive_until(&mut sub, total, &mut missing, 0, WAIT).await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_rtu_is_reconnected_while_others_go_on() {
    if !broker::available() {
        return;
    }
    let dir = scratch("malformed");
    let broker = Broker::start(&dir).await;
    let st = Station::start(1).await;
    // A station that confirms STARTDT and then sends an invalid frame, on every connection.
    let bad = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let bad_addr = bad.local_addr().expect("addr");
    let (conn_tx, mut conns) = tokio::sync::mpsc::unbounded_channel();
    let bad_task = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let Ok((mut s, _)) = bad.accept().await else {
                return;
            };
            let _ = conn_tx.send(());
            let mut buf = [0u8; 6];
            // STARTDT act = 68 04 07 00 00 00 (IEC 60870-5-104 5.3: U format, bit 2 STARTDT act).
            if s.read_exact(&mut buf).await.is_ok() && buf == [0x68, 0x04, 0x07, 0x00, 0x00, 0x00] {
                // STARTDT con = 68 04 0B 00 00 00, then a start octet 0x68 with APDU length 2:
                // shorter than the 4 control octets every APDU has — malformed.
                let _ = s
                    .write_all(&[0x68, 0x04, 0x0B, 0x00, 0x00, 0x00, 0x68, 0x02, 0x01, 0x00])
                    .await;
            }
            let _ = s.read(&mut buf).await;
        }
    });
    let mut sub = Subscriber::start(broker.port, "e2e/#").await;
    let gw = Gateway::start(
        &dir,
        &config(
            broker.port,
            &dir,
            &[
                ("north", st.addr.to_string()),
                ("broken", bad_addr.to_string()),
            ],
        ),
    );
    started(&mut sub, "north").await;
    // The broken RTU is disconnected with a reason naming the bad frame, and reconnected.
    let d = sub
        .wait_for(WAIT, |m| {
            m.topic == "e2e/broken/status" && m.json["state"] == "disconnected"
        })
        .await
        .expect("broken RTU disconnected");
    assert!(
        d.json["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("frame"),
        "{}",
        d.json
    );
    for _ in 0..2 {
        tokio::time::timeout(WAIT, conns.recv())
            .await
            .expect("reconnected")
            .expect("conn");
    }
    // Meanwhile the good RTU goes on.
    let truth = burst(&st, 0, 50).await;
    all_arrive(&mut sub, &truth).await;
    bad_task.abort();
    gw.stop().await;
}

#[test]
fn bad_configuration_gives_clear_errors() {
    let dir = scratch("badcfg");
    let text = "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n\n[[rtu]]\nname = \"a\"\naddress = \"127.0.0.1:2404\"\ncommon_address = 1\n\n[[rtu]]\nname = \"a\"\naddress = \"nowhere\"\ncommon_address = 1\nk = 0\n";
    let (code, _out, err) = gateway::check(&dir, text);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("check.toml:10:8: duplicate rtu name \"a\""),
        "{err}"
    );
    assert!(
        err.contains(":11:11: rtu \"a\": address \"nowhere\" is not host:port"),
        "{err}"
    );
    assert!(err.contains(":13:5: rtu \"a\": link parameters"), "{err}");
    let (code, _out, err) = gateway::check(&dir, "[mqtt]\nurl = \"mqtt://x:1\"\nbogus = 1\n");
    assert_eq!(code, 2);
    assert!(err.contains(":3:1: unknown field `bogus`"), "{err}");
    let good = "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n[[rtu]]\nname = \"a\"\naddress = \"127.0.0.1:2404\"\ncommon_address = 1\n";
    let (code, out, err) = gateway::check(&dir, good);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("iec104/a/{ca}/{ioa}"), "{out}");
}

/// What the demo printed so far, read line by line while it runs (so it never blocks on a
/// full pipe).
struct DemoOutput {
    lines: tokio::sync::watch::Receiver<String>,
}

impl DemoOutput {
    fn read(child: &mut tokio::process::Child) -> DemoOutput {
        use tokio::io::AsyncBufReadExt as _;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = tokio::sync::watch::channel(String::new());
        tokio::spawn(async move {
            let mut reader = tokio::io::BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                tx.send_modify(|all| {
                    all.push_str(&line);
                    all.push('\n');
                });
            }
        });
        DemoOutput { lines }
    }

    /// Waits until everything printed so far contains each of `wanted`; panics with the
    /// output when it does not within `within`.
    async fn shows(&mut self, wanted: &[&str], within: Duration) {
        let all_there = |out: &String| wanted.iter().all(|w| out.contains(w));
        let seen = tokio::time::timeout(within, self.lines.wait_for(all_there))
            .await
            .is_ok_and(|r| r.is_ok());
        // Not seen: the wait ran out, or the demo ended (its stdout closed) without them all.
        if !seen {
            let out = self.lines.borrow().clone();
            let absent: Vec<&&str> = wanted.iter().filter(|w| !out.contains(**w)).collect();
            panic!("the demo never printed {absent:?}:\n{out}");
        }
    }
}

/// Starts `iec104-gateway demo` with its broker on `port` (and `--duration` when given).
fn demo(port: u16, duration: Option<u32>) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new(gateway::binary());
    cmd.arg("demo");
    if let Some(d) = duration {
        cmd.args(["--duration", &d.to_string()]);
    }
    cmd.arg("--mqtt-port")
        .arg(port.to_string())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("run demo")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_shows_data_status_operates_the_breaker_and_ends_on_ctrl_c() {
    let port = iec104_e2e::free_port();
    let mut child = demo(port, None);
    let mut out = DemoOutput::read(&mut child);
    assert!(
        iec104_e2e::wait_listening(port, WAIT).await,
        "embedded broker"
    );
    // An operator on the embedded broker (MQTT 3.1.1): open breaker Q0 of line Süd.
    let mut op = Subscriber::start(port, "iec104/uw-nord/#").await;
    // Data flowing from the substation means it is started.
    op.wait_for(WAIT, |m| m.json["rtu"] == "uw-nord")
        .await
        .expect("uw-nord data");
    op.publish(
        "iec104/uw-nord/line_sued_q0_cmd/command",
        r#"{"type":"C_DC_NA_1","value":"off","select":true,"id":"op-1"}"#,
    )
    .await;
    let state = op
        .wait_for(WAIT, |m| {
            m.topic == "iec104/uw-nord/line_sued_q0" && m.json["cot"] == "retrem"
        })
        .await
        .expect("the breaker position follows the command");
    assert_eq!(state.json["value"], "off");
    let watch = format!("mosquitto_sub -i watch -h 127.0.0.1 -p {port} -t 'iec104/#' -v");
    // The banner, every substation's status, data (sub-3's over IEC 62351-3 TLS) and the
    // command's results, as the live view prints them.
    let wanted = [
        watch.as_str(),
        "iec104/uw-nord/status",
        "iec104/sub-2/status",
        "iec104/sub-3/status",
        "started",
        "DATA     iec104/",
        "over IEC 62351-3 TLS",
        "DATA     iec104/sub-3/",
        "id=\"op-1\" confirmed",
        "id=\"op-1\" terminated",
    ];
    out.shows(&wanted, WAIT * 2).await;
    // Ctrl-C ends it cleanly.
    let status = testkit::signal::signal_and_wait(&mut child, testkit::signal::Signal::Int, WAIT)
        .await
        .expect("the demo ends on SIGINT");
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_ends_by_itself_after_its_duration() {
    let port = iec104_e2e::free_port();
    let mut child = demo(port, Some(1));
    let mut out = DemoOutput::read(&mut child);
    let status = tokio::time::timeout(WAIT * 2, child.wait())
        .await
        .expect("the demo ends after --duration")
        .expect("demo exit status");
    assert!(status.success(), "{status}");
    out.shows(&["status page: http://127.0.0.1:"], WAIT).await;
}

#[test]
fn systemd_unit_verifies() {
    // The one peer rule: skipped with a note, or a failure under IEC104_INTEROP=require.
    let Ok(analyze) = testkit::require_peer("systemd-analyze") else {
        return;
    };
    let dir = scratch("systemd");
    // The unit names /usr/bin/iec104-gateway; verify a copy pointing at the built binary.
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../systemd/iec104-gateway.service"
    ))
    .expect("unit");
    let unit = unit.replace(
        "/usr/bin/iec104-gateway",
        &gateway::binary().display().to_string(),
    );
    let path = dir.join("iec104-gateway.service");
    std::fs::write(&path, unit).expect("write unit");
    let out = std::process::Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .expect("verify");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !err.contains("iec104-gateway.service:"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt5_response_topic_and_correlation_data_are_honoured() {
    use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    if !broker::available() {
        return;
    }
    let dir = scratch("v5");
    let broker = Broker::start(&dir).await;
    let st = Station::start(1).await;
    let mut sub = Subscriber::start(broker.port, "e2e/#").await;
    let gw = Gateway::start(
        &dir,
        &config(broker.port, &dir, &[("north", st.addr.to_string())]),
    );
    started(&mut sub, "north").await;
    // An MQTT 5 requester: subscribes to its reply topic, sends the command with a response
    // topic and correlation data.
    let mut o = MqttOptions::new("e2e-v5-requester", "127.0.0.1", broker.port);
    o.set_keep_alive(Duration::from_secs(5));
    let (client, mut el) = AsyncClient::new(o, 16);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let poll = tokio::spawn(async move {
        while let Ok(ev) = el.poll().await {
            let _ = tx.send(ev);
        }
    });
    client
        .subscribe("e2e/_response/op-9", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let suback = tokio::time::timeout(WAIT, async {
        while let Some(ev) = rx.recv().await {
            if matches!(ev, Event::Incoming(Packet::SubAck(_))) {
                return true;
            }
        }
        false
    });
    assert!(suback.await.unwrap_or(false), "no SUBACK");
    let props = PublishProperties {
        response_topic: Some("e2e/_response/op-9".into()),
        correlation_data: Some(bytes::Bytes::from_static(b"\x00corr\xff")),
        ..Default::default()
    };
    client
        .publish_with_properties(
            "e2e/north/1/100/command",
            QoS::AtLeastOnce,
            false,
            r#"{"type":"C_SC_NA_1","value":true,"id":"op-9"}"#,
            props,
        )
        .await
        .expect("publish");
    let reply = tokio::time::timeout(WAIT, async {
        while let Some(ev) = rx.recv().await {
            if let Event::Incoming(Packet::Publish(p)) = ev {
                return Some(p);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .expect("a reply on the response topic");
    assert_eq!(&reply.topic[..], b"e2e/_response/op-9");
    let json: Value = serde_json::from_slice(&reply.payload).expect("JSON reply");
    assert_eq!(json["id"], "op-9");
    assert_eq!(json["status"], "confirmed", "{json}");
    let corr = reply.properties.and_then(|p| p.correlation_data);
    assert_eq!(corr.as_deref(), Some(&b"\x00corr\xff"[..]));
    poll.abort();
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_notify_ready_and_watchdog() {
    if !broker::available() {
        return;
    }
    let dir = scratch("notify");
    let broker = Broker::start(&dir).await;
    let sock_path = dir.join("notify.sock");
    let sock = tokio::net::UnixDatagram::bind(&sock_path).expect("bind notify socket");
    let path = dir.join("gateway.toml");
    std::fs::write(&path, config(broker.port, &dir, &[])).expect("config");
    let mut child = tokio::process::Command::new(gateway::binary())
        .args(["--log-format", "json", "run", "--config"])
        .arg(&path)
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "200000")
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start gateway");
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    let end = tokio::time::Instant::now() + WAIT;
    while !(got.iter().any(|m: &String| m.contains("READY=1"))
        && got.iter().filter(|m| m.contains("WATCHDOG=1")).count() >= 2)
    {
        let n = tokio::time::timeout_at(end, sock.recv(&mut buf))
            .await
            .expect("notifications in time")
            .expect("recv");
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let pid = child.id().expect("pid");
    let _ = tokio::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .await;
    loop {
        let n = tokio::time::timeout_at(end, sock.recv(&mut buf))
            .await
            .expect("STOPPING=1 in time")
            .expect("recv");
        if String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1") {
            break;
        }
    }
    let mut stderr = child.stderr.take().expect("stderr");
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("exit")
        .expect("status");
    assert!(status.success());
    // --log-format json: every log line is a JSON object with a level and a message.
    let mut logs = String::new();
    use tokio::io::AsyncReadExt;
    stderr.read_to_string(&mut logs).await.expect("logs");
    let lines: Vec<&str> = logs.lines().collect();
    assert!(lines.len() >= 3, "{logs}");
    for line in lines {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"));
        assert!(
            v["level"].is_string() && v["fields"]["message"].is_string(),
            "{line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_bound_drops_oldest_and_counts() {
    if !broker::available() {
        return;
    }
    let dir = scratch("bound");
    let mut broker = Broker::start(&dir).await;
    let st = Station::start(1).await;
    let mut sub = Subscriber::start(broker.port, "e2e/#").await;
    let http = iec104_e2e::free_port();
    let cfg = config_http(
        broker.port,
        &dir,
        &[("north", st.addr.to_string())],
        Some(http),
    )
    .replace(
        "command_timeout = 1.5\n",
        "command_timeout = 1.5\nqueue_max_messages = 50\n",
    );
    let gw = Gateway::start(&dir, &cfg);
    started(&mut sub, "north").await;
    sub.wait_for(WAIT, |m| m.topic == "e2e/north/1/1")
        .await
        .expect("GI done");
    broker.stop().await;
    let truth = burst(&st, 0, 200).await;
    let end = tokio::time::Instant::now() + WAIT;
    while st.unacknowledged() > 0 {
        assert!(
            tokio::time::Instant::now() < end,
            "events never acknowledged by the gateway"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The drops are counted as the queue takes the batches: wait for the figure, then read
    // both exactly.
    let end = tokio::time::Instant::now() + WAIT;
    let metrics = loop {
        let m = testkit::http_get(http, "/metrics", WAIT)
            .await
            .expect("/metrics");
        if m.metric("iec104gw_queue_dropped_total") == Some(150.0) {
            break m;
        }
        assert!(tokio::time::Instant::now() < end, "{}", m.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        metrics.metric("iec104gw_queue_depth"),
        Some(50.0),
        "{}",
        metrics.body
    );
    broker.restart().await;
    // The status says how many were dropped (published first on reconnection), then the
    // newest 50 arrive.
    let status = sub
        .wait_for(WAIT, |m| {
            m.topic == "e2e/north/status" && m.json["queue_dropped"] == 150
        })
        .await;
    assert!(status.is_some(), "status does not show the drops");
    all_arrive(&mut sub, &truth[150..]).await;
    gw.stop().await;
}

/// A CA and a server certificate for 127.0.0.1 made with the openssl command; None when
/// openssl is missing.
fn certificates(dir: &std::path::Path) -> Option<()> {
    let run = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .ok()?;
    std::fs::write(
        dir.join("client.cnf"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    )
    .ok()?;
    let ok = run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=e2e-ca",
    ]) && run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]) && run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]) && run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "client.key",
        "-out",
        "client.csr",
        "-subj",
        "/CN=gateway",
    ]) && run(&[
        "x509",
        "-req",
        "-in",
        "client.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "client.pem",
        "-days",
        "2",
        "-extfile",
        "client.cnf",
    ]);
    if !ok {
        return None;
    }
    // mosquitto drops root privileges: let it read its key (test material only).
    use std::os::unix::fs::PermissionsExt;
    for f in [
        "server.key",
        "server.pem",
        "ca.pem",
        "client.key",
        "client.pem",
    ] {
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644)).ok()?;
    }
    Some(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_to_the_broker() {
    if !broker::available() {
        return;
    }
    let dir = scratch("tls");
    // openssl failing is a missing peer like any other: a failure under require.
    let made = certificates(&dir).ok_or_else(|| {
        "openssl could not make the test certificates (apt-get install openssl)".to_string()
    });
    if testkit::interop::require("openssl", made).is_err() {
        return;
    }
    let tls_port = iec104_e2e::free_port();
    let extra = format!(
        "listener {tls_port} 127.0.0.1\ncafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\nrequire_certificate true\n",
        d = dir.display()
    );
    let broker = Broker::start_with(&dir, extra).await;
    assert!(
        iec104_e2e::wait_listening(tls_port, WAIT).await,
        "TLS listener"
    );
    let st = Station::start(1).await;
    let mut sub = Subscriber::start(broker.port, "e2e/#").await;
    let cfg = config(broker.port, &dir, &[("north", st.addr.to_string())]).replace(
        &format!("url = \"mqtt://127.0.0.1:{}\"", broker.port),
        &format!(
            "url = \"mqtts://127.0.0.1:{tls_port}\"\nca_file = \"{d}/ca.pem\"\ncert_file = \"{d}/client.pem\"\nkey_file = \"{d}/client.key\"",
            d = dir.display()
        ),
    );
    assert!(cfg.contains("mqtts://"));
    // The Sparkplug edge node connects the same way (its own session, same TLS files).
    let mut spb = Subscriber::start(broker.port, "spBv1.0/#").await;
    let cfg = format!("{cfg}\n[sparkplug]\ngroup_id = \"plant\"\n");
    let gw = Gateway::start(&dir, &cfg);
    started(&mut sub, "north").await;
    let truth = burst(&st, 0, 20).await;
    all_arrive(&mut sub, &truth).await;
    let birth = spb
        .wait_for(WAIT, |m| m.topic == "spBv1.0/plant/DBIRTH/north/north")
        .await;
    assert!(birth.is_some(), "the edge node is born over mqtts");
    gw.stop().await;
    let death = spb
        .wait_for(WAIT, |m| m.topic == "spBv1.0/plant/NDEATH/north")
        .await;
    assert!(death.is_some(), "the edge node's NDEATH over mqtts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_address_and_periodic_system_commands() {
    if !broker::available() {
        return;
    }
    let dir = scratch("addrs");
    let broker = Broker::start(&dir).await;
    let mut st = Station::start(1).await;
    let mut sub = Subscriber::start(broker.port, "e2e/#").await;
    // The first address refuses connections (a port nobody listens on): the gateway goes on
    // to the second one.
    let dead = iec104_e2e::free_port();
    let cfg = config(broker.port, &dir, &[("north", st.addr.to_string())]).replace(
        &format!("address = \"{}\"", st.addr),
        &format!(
            "addresses = [\"127.0.0.1:{dead}\", \"{}\"]\ninterrogation_period = 1\ncounter_interrogation_period = 1\nclock_sync_period = 1",
            st.addr
        ),
    );
    let gw = Gateway::start(&dir, &cfg);
    let refused = sub
        .wait_for(WAIT, |m| {
            m.topic == "e2e/north/status" && m.json["state"] == "disconnected"
        })
        .await
        .expect("the dead address reported");
    assert_eq!(refused.json["address"], format!("127.0.0.1:{dead}"));
    started(&mut sub, "north").await;
    // At start: clock sync, interrogation, counter interrogation; then each again every second.
    let mut counts = std::collections::BTreeMap::new();
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    while counts.values().filter(|n| **n >= 3).count() < 3 {
        let t = tokio::time::timeout_at(end, st.system.recv())
            .await
            .unwrap_or_else(|_| panic!("periodic system commands missing: {counts:?}"))
            .expect("station running");
        *counts.entry(t).or_insert(0u32) += 1;
    }
    gw.stop().await;
}

#[test]
fn shipped_configurations_are_valid() {
    for name in ["reference.toml", "demo.toml"] {
        let path = format!("{}/../config/{name}", env!("CARGO_MANIFEST_DIR"));
        let out = std::process::Command::new(gateway::binary())
            .args(["check", "--config", &path])
            .output()
            .expect("run check");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("is valid"), "{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_to_a_disconnected_rtu_is_rejected() {
    if !broker::available() {
        return;
    }
    let dir = scratch("cmd-down");
    let broker = Broker::start(&dir).await;
    let mut sub = Subscriber::start(broker.port, "e2e/#").await;
    let dead = format!("127.0.0.1:{}", iec104_e2e::free_port());
    let gw = Gateway::start(&dir, &config(broker.port, &dir, &[("north", dead)]));
    sub.wait_for(WAIT, |m| {
        m.topic == "e2e/north/status" && m.json["state"] == "disconnected"
    })
    .await
    .expect("disconnected status");
    let r = command(
        &mut sub,
        "e2e/north/1/100/command",
        r#"{"type":"C_SC_NA_1","value":true,"id":"op-d"}"#,
        "op-d",
    )
    .await;
    assert_eq!(r["status"], "rejected", "{r}");
    assert!(
        r["error"]
            .as_str()
            .unwrap_or_default()
            .contains("not connected"),
        "{r}"
    );
    gw.stop().await;
}

/// MQTT 5 (the default): a publication the broker refuses (PUBACK "not authorized", from an
/// ACL) is dropped and counted; it must not block every later message. rumqttc turns such a
/// PUBACK into a connection error, so without care the gateway reconnected and published
/// the same refused message again, forever, with everything behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_publication_does_not_block_the_others() {
    if !broker::available() {
        return;
    }
    let dir = scratch("refused");
    let acl = dir.join("acl");
    // Anonymous clients: read everything under e2e/; write only the presence, the statuses
    // and point 1/2000 of north (1/2001 and whatever the interrogation brings are refused).
    std::fs::write(
        &acl,
        "topic read e2e/#\ntopic write e2e/_gateway/#\ntopic write e2e/+/status\ntopic write e2e/north/1/2000\n",
    )
    .expect("acl");
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&acl, std::fs::Permissions::from_mode(0o644));
    }
    let broker = Broker::start_with(&dir, format!("acl_file {}\n", acl.display())).await;
    let st = Station::start(1).await;
    let mut sub = Subscriber::start(broker.port, "e2e/#").await;
    let gw = Gateway::start(
        &dir,
        &config(broker.port, &dir, &[("north", st.addr.to_string())]),
    );
    started(&mut sub, "north").await;
    let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 13, 0, 0).unwrap();
    // The refused one first, then events the broker accepts.
    let _ = st.float(2001, 1.0, Quality::GOOD, t0);
    let truth = burst(&st, 0, 20).await;
    all_arrive(&mut sub, &truth).await;
    gw.stop().await;
}

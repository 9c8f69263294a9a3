//! End-to-end: a Sparkplug host writes metrics of the gateway's edge node with DCMDs encoded
//! by Eclipse Tahu's JavaScript codec (npm `sparkplug-payload`, in
//! `crates/sparkplug/tests/tahu`, installed by `npm ci`), not by our encoder. Gateway
//! in-process, the simulator process, mosquitto:
//! - a write of the breaker command (select-before-operate, as the point requires) reaches
//!   the simulator (its events log says executed), the result metric goes pending →
//!   confirmed → terminated, and the breaker's new state arrives as DDATA;
//! - a set-point above the point's `max` is refused by the gateway with the reason in the
//!   result metric and in the audit trail, and never reaches the simulator;
//! - `seq` has no gap across the session.
//!
//! IEC104_INTEROP=require: a missing node or npm package fails the test; otherwise skipped.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use iec104_e2e::broker::{self, Broker};
use iec104_e2e::gateway::Gateway;
use iec104_e2e::raw_host;
use iec104_e2e::sparkplug_peers::{pysparkplug_available, tahu_available, tahu_encode};
use iec104_e2e::subscriber::Subscriber;
use iec104_e2e::{free_port, scratch, wait_listening};
use iec104_sparkplug::proto::{MetricValue, Payload};
use prost::Message;
use rumqttc::{AsyncClient, QoS};
use serde_json::Value;
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

/// Bound of every wait, so that a broken test ends instead of hanging (not a timing target).
const WAIT: Duration = Duration::from_secs(30);

const SCENARIO: &str = r#"
[[station]]
name = "north"
ca = 1
[[station.point]]
ioa = 1
type = "M_DP_NA_1"
value = "off"
[[station.point]]
ioa = 2
type = "C_DC_NA_1"
drives = 1
sbo = true
[[station.point]]
ioa = 10
type = "C_SE_NC_1"
"#;

/// The host: every `spBv1.0/#` message, decoded; and its client to publish DCMDs.
async fn host(port: u16) -> (AsyncClient, mpsc::UnboundedReceiver<(String, Payload)>) {
    raw_host::start_decoded(
        port,
        "spb-cmd-host",
        &["spBv1.0/#"],
        WAIT,
        |topic, bytes| Payload::decode(bytes).unwrap_or_else(|e| panic!("{topic}: {e}")),
    )
    .await
}

/// Follows the edge node's messages: checks `seq` has no gap, finds what is waited for.
struct Follower {
    rx: mpsc::UnboundedReceiver<(String, Payload)>,
    last_seq: Option<u64>,
}

impl Follower {
    async fn until<T>(&mut self, what: &str, mut f: impl FnMut(&str, &Payload) -> Option<T>) -> T {
        loop {
            let (topic, p) = match tokio::time::timeout(WAIT, self.rx.recv()).await {
                Ok(Some(m)) => m,
                other => panic!("waiting for {what}: {other:?}"),
            };
            // The host subscribed before the gateway started: a death before the first birth
            // would be a session that ended without DISCONNECT.
            assert!(
                !(topic.contains("/NDEATH/") && self.last_seq.is_none()),
                "NDEATH before the first NBIRTH"
            );
            if topic.contains("/NBIRTH/") {
                self.last_seq = p.seq;
            } else if let (Some(last), Some(seq)) = (self.last_seq, p.seq) {
                assert_eq!(seq, (last + 1) % 256, "seq gap at {topic}");
                self.last_seq = Some(seq);
            }
            if let Some(t) = f(&topic, &p) {
                return t;
            }
        }
    }
}

fn alias_of(p: &Payload, name: &str) -> Option<u64> {
    p.metrics
        .iter()
        .find(|m| m.name.as_deref() == Some(name))
        .and_then(|m| m.alias)
}

fn text_of(p: &Payload, alias: u64) -> Vec<String> {
    p.metrics
        .iter()
        .filter(|m| m.alias == Some(alias))
        .filter_map(|m| match &m.value {
            Some(MetricValue::StringValue(s)) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

fn sim_commands(log: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("outcome").is_some() && v["type"] != "C_IC_NA_1")
        .collect()
}

/// Broker, simulator process (with its events log) and the gateway's configuration.
struct Env {
    dir: iec104_e2e::Scratch,
    broker: Broker,
    _sim: tokio::process::Child,
    log: PathBuf,
    config: String,
}

impl Env {
    async fn start(name: &str) -> Env {
        let dir = scratch(name);
        let broker = Broker::start(&dir).await;
        let port = free_port();
        let scenario = dir.join("scenario.toml");
        std::fs::write(&scenario, SCENARIO).unwrap_or_else(|e| panic!("{e}"));
        let log = dir.join("events.jsonl");
        let sim = tokio::process::Command::new(iec104_e2e::gateway::simulator())
            .args(["--listen", &format!("127.0.0.1:{port}"), "--config"])
            .arg(&scenario)
            .arg("--events-log")
            .arg(&log)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start iec104-sim: {e}"));
        assert!(wait_listening(port, WAIT).await, "simulator not listening");
        let config = format!(
            "[mqtt]\nurl = \"mqtt://127.0.0.1:{}\"\ntopic_prefix = \"e2e\"\n\n[gateway]\nnode = \"gw-spb\"\nstore_path = \"{}\"\naudit_topic = true\n\n[sparkplug]\ngroup_id = \"plant\"\n\n[[rtu]]\nname = \"north\"\naddress = \"127.0.0.1:{port}\"\ncommon_address = 1\n[[rtu.point]]\nioa = 1\nname = \"breaker\"\n[[rtu.point]]\nioa = 2\nname = \"breaker_cmd\"\ncommands = true\ncommand_type = \"C_DC_NA_1\"\nselect_required = true\n[[rtu.point]]\nioa = 10\nname = \"setpoint\"\ncommands = true\ncommand_type = \"C_SE_NC_1\"\nmax = 10.0\n",
            broker.port,
            dir.join("queue.redb").display(),
        );
        Env {
            dir,
            broker,
            _sim: sim,
            log,
            config,
        }
    }
}

const DCMD: &str = "spBv1.0/plant/DCMD/north/north";
const DDATA: &str = "spBv1.0/plant/DDATA/north/north";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_writes_a_breaker_through_the_command_policy() {
    if !broker::available() || !tahu_available() {
        return;
    }
    let env = Env::start("sparkplug-commands").await;
    let (client, rx) = host(env.broker.port).await;
    let mut spb = Follower { rx, last_seq: None };
    let mut audit = Subscriber::start(env.broker.port, "e2e/_audit/#").await;
    let gateway = Gateway::start(&env.dir, &env.config);
    let log = env.log.clone();

    // The DBIRTH names the writable metrics and their result metrics.
    let aliases = spb
        .until("DBIRTH", |t, p| {
            (t == "spBv1.0/plant/DBIRTH/north/north").then(|| {
                let a = |n| alias_of(p, n).unwrap_or_else(|| panic!("no {n} in {p:?}"));
                [
                    a("breaker"),
                    a("breaker_cmd"),
                    a("breaker_cmd/Command Result"),
                    a("setpoint/Command Result"),
                ]
            })
        })
        .await;
    let [breaker, _cmd, cmd_result, sp_result] = aliases;

    let write = |name: &str, datatype: &str, value: Value| {
        tahu_encode(&serde_json::json!({
            "timestamp": 1_764_000_000_000u64,
            "metrics": [{ "name": name, "type": datatype, "value": value }],
        }))
    };
    let close = write("breaker_cmd", "Boolean", Value::Bool(true));
    client
        .publish(DCMD, QoS::AtMostOnce, false, close)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut results = Vec::new();
    let mut breaker_on = false;
    spb.until("terminated and the breaker on", |t, p| {
        if t == DDATA {
            results.extend(text_of(p, cmd_result));
            breaker_on |= p
                .metrics
                .iter()
                .any(|m| m.alias == Some(breaker) && m.value == Some(MetricValue::IntValue(2)));
        }
        (breaker_on && results.last().is_some_and(|r| r == "terminated")).then_some(())
    })
    .await;
    assert_eq!(results, ["pending", "confirmed", "terminated"]);
    // The simulator's events log: the select, then the executed command.
    let mut executed = Vec::new();
    for _ in 0..300 {
        executed = sim_commands(&log);
        if executed.iter().any(|v| v["outcome"] == "executed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let summary: Vec<_> = executed
        .iter()
        .map(|v| (v["type"].clone(), v["ioa"].clone(), v["outcome"].clone()))
        .collect();
    assert_eq!(
        summary,
        [
            ("C_DC_NA_1".into(), 2.into(), "selected".into()),
            ("C_DC_NA_1".into(), 2.into(), "executed".into())
        ]
    );

    // A set-point above the point's max: refused by the gateway, with the reason.
    let too_high = write("setpoint", "Float", serde_json::json!(20.0));
    client
        .publish(DCMD, QoS::AtMostOnce, false, too_high)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let refusal = spb
        .until("the refusal", |t, p| {
            let texts = if t == DDATA {
                text_of(p, sp_result)
            } else {
                Vec::new()
            };
            texts.into_iter().find(|r| r.starts_with("refused"))
        })
        .await;
    assert_eq!(refusal, "refused: value 20 is above the point's max 10");
    let audited = audit
        .wait_for(WAIT, |m| {
            m.json["topic"] == DCMD && m.json["status"] == "rejected"
        })
        .await;
    let audited = audited.unwrap_or_else(|| panic!("no audit record of the refusal"));
    assert_eq!(
        (&audited.json["type"], &audited.json["reason"]),
        (
            &Value::from("C_SE_NC_1"),
            &Value::from("value 20 is above the point's max 10")
        )
    );
    gateway.stop().await;
    // Stopped: nothing more reaches the simulator; the refused set-point never did.
    assert!(
        sim_commands(&log).iter().all(|v| v["ioa"] != 10),
        "{:?}",
        sim_commands(&log)
    );
}

/// The next line of a child's output (empty when it ended or took more than 120 s).
async fn next_line(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) -> String {
    tokio::time::timeout(Duration::from_secs(120), lines.next_line())
        .await
        .ok()
        .and_then(Result::ok)
        .flatten()
        .unwrap_or_default()
}

/// A host application of another implementation (pysparkplug, `tests/sparkplug_host/host.py`)
/// follows the edge node: births before data, `seq` without gaps, a rebirth on its NCMD, and
/// its DCMD closes the simulator's breaker (the events log says executed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pysparkplug_host_follows_rebirths_and_operates_the_breaker() {
    if !broker::available() || !pysparkplug_available() {
        return;
    }
    let env = Env::start("sparkplug-pyhost").await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sparkplug_host/host.py");
    let mut host = tokio::process::Command::new("python3")
        .arg(&script)
        .args([
            &env.broker.port.to_string(),
            "plant",
            "north",
            "north",
            "breaker_cmd",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    let stdout = host.stdout.take().unwrap_or_else(|| panic!("stdout"));
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    // The host is subscribed before the gateway starts: it sees the first births.
    assert_eq!(next_line(&mut lines).await, "ready");
    let gateway = Gateway::start(&env.dir, &env.config);
    let text = next_line(&mut lines).await;
    let status = host.wait().await.unwrap_or_else(|e| panic!("host.py: {e}"));
    gateway.stop().await;
    let summary: Value =
        serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(status.success(), "host.py: {summary}");
    assert_eq!(summary["seq_gaps"], serde_json::json!([]), "{summary}");
    assert_eq!(summary["rebirth_seq"], 0, "{summary}");
    let order: Vec<&str> = summary["order"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(&order[..2], ["NBIRTH", "DBIRTH"], "{summary}");
    assert_eq!(
        summary["results"],
        serde_json::json!(["pending", "confirmed", "terminated"]),
        "{summary}"
    );
    assert_eq!(summary["written"], serde_json::json!([true]), "{summary}");
    let executed = sim_commands(&env.log);
    assert!(
        executed
            .iter()
            .any(|v| v["type"] == "C_DC_NA_1" && v["outcome"] == "executed"),
        "{executed:?}"
    );
}

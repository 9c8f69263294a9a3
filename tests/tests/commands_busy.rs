//! Each RTU carries out one command at a time; up to 16 more wait, beyond that a command is
//! `rejected` as busy (docs/gateway.md). A station that never answers holds the first command
//! until its timeout, so the waiting ones cannot drain meanwhile.

use std::time::Duration;

use iec104_e2e::broker::{self, Broker};
use iec104_e2e::gateway::Gateway;
use iec104_e2e::scratch;
use iec104_e2e::station::{self, Station};
use iec104_e2e::subscriber::Subscriber;

/// Every wait ends within this.
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eighteenth_command_of_an_rtu_is_rejected_as_busy() {
    if !broker::available() {
        return;
    }
    let dir = scratch("busy");
    let broker = Broker::start(&dir).await;
    let mut st = Station::start(1).await;
    let mut sub = Subscriber::start(broker.port, "e2e/#").await;
    // A command timeout far beyond the test: the first command stays in flight throughout.
    let config = format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:{}\"\ntopic_prefix = \"e2e\"\n\n[gateway]\n\
         node = \"gw-busy\"\nstore_path = \"{}\"\ncommand_timeout = 600\n\n[[rtu]]\n\
         name = \"north\"\naddress = \"{}\"\ncommon_address = 1\n[[rtu.point]]\nioa = {}\n\
         commands = true\nname = \"silent\"\n",
        broker.port,
        dir.join("queue.redb").display(),
        st.addr,
        station::SILENT
    );
    let gw = Gateway::start(&dir, &config);
    sub.wait_for(WAIT, |m| {
        m.topic == "e2e/north/status" && m.json["state"] == "started"
    })
    .await
    .expect("north started");
    let topic = "e2e/north/silent/command";
    let send = |n: usize| format!(r#"{{"type":"C_SC_NA_1","value":true,"id":"op-{n}"}}"#);
    // The first command reaches the RTU (which never answers): it is in flight.
    sub.publish(topic, &send(0)).await;
    let first = tokio::time::timeout(WAIT, st.commands.recv()).await;
    assert_eq!(
        first,
        Ok(Some((45, station::SILENT, 0))),
        "the first command"
    );
    // Then 16 wait and the 18th is refused (MQTT keeps the order of one publisher). (Sent
    // before the first reached the RTU, the 17th is refused already: the one in flight still
    // counts among the 16 until the session takes it.)
    for n in 1..18 {
        sub.publish(topic, &send(n)).await;
    }
    let result = sub
        .wait_for(WAIT, |m| m.topic == format!("{topic}/result"))
        .await
        .expect("a result");
    // The first result is the refusal of the 18th: the others are still in flight or waiting.
    assert_eq!(result.json["id"], "op-17", "{}", result.json);
    assert_eq!(result.json["status"], "rejected", "{}", result.json);
    let why = result.json["error"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(why.contains("busy"), "{}", result.json);
    gw.stop().await;
}

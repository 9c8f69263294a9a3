//! The `[mqtt]` settings against a real mosquitto: `qos`, `retain`, `version = 4` (MQTT 3.1.1)
//! and `username`/`password` (docs/gateway.md). Each is observed at the broker's side: what a
//! subscriber receives, and what a broker that refuses anonymous clients lets through.

use std::time::Duration;

use iec104_e2e::broker::{self, Broker};
use iec104_e2e::gateway::Gateway;
use iec104_e2e::station::Station;
use iec104_e2e::subscriber::{Received, Subscriber};
use iec104_e2e::{scratch, Scratch};

/// Every wait ends within this.
const WAIT: Duration = Duration::from_secs(30);

/// A gateway configuration for one RTU "north" at `rtu`, with `mqtt_extra` in `[mqtt]`.
fn config(broker: u16, dir: &std::path::Path, rtu: &str, mqtt_extra: &str) -> String {
    format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:{broker}\"\ntopic_prefix = \"e2e\"\n{mqtt_extra}\n\
         [gateway]\nnode = \"gw-mqtt\"\nstore_path = \"{}\"\n\n\
         [[rtu]]\nname = \"north\"\naddress = \"{rtu}\"\ncommon_address = 1\n",
        dir.join("queue.redb").display()
    )
}

/// A broker, a station and a gateway with `mqtt_extra` in `[mqtt]`; the first object the
/// gateway publishes (the interrogation's) as a subscriber receives it. `None`: skipped.
async fn first_object(
    name: &str,
    mqtt_extra: &str,
) -> Option<(Scratch, Broker, Station, Gateway, Received)> {
    if !broker::available() {
        return None;
    }
    let dir = scratch(name);
    let broker = Broker::start(&dir).await;
    let st = Station::start(1).await;
    let mut sub = Subscriber::start(broker.port, "e2e/north/#").await;
    let cfg = config(broker.port, &dir, &st.addr.to_string(), mqtt_extra);
    let gw = Gateway::start(&dir, &cfg);
    let live = sub
        .wait_for(WAIT, |m| m.topic == "e2e/north/1/1")
        .await
        .expect("the interrogation's object");
    Some((dir, broker, st, gw, live))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos_0_retained_over_mqtt_3_1_1() {
    let Some((_dir, broker, _st, gw, live)) =
        first_object("mqtt-qos", "qos = 0\nretain = true\nversion = 4").await
    else {
        return;
    };
    // Published with QoS 0 (a QoS 1 subscription gets the lower of the two) and retained (a
    // live subscriber sees retain = false, MQTT 3.3.1.3).
    assert_eq!(live.qos, 0, "{live:?}");
    // A subscriber that comes later gets it from the broker, flagged retained.
    let mut late = Subscriber::start(broker.port, "e2e/north/1/1").await;
    let kept = late
        .wait_for(WAIT, |m| m.topic == "e2e/north/1/1")
        .await
        .expect("the broker kept the last value");
    assert!(kept.retain, "{kept:?}");
    assert_eq!(kept.json["value"], live.json["value"]);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_is_not_retained_and_qos_1_by_default() {
    let Some((_dir, broker, _st, gw, live)) = first_object("mqtt-default", "").await else {
        return;
    };
    assert_eq!(live.qos, 1, "{live:?}");
    // The status is retained (docs/gateway.md): a late subscriber gets it, but no data. The
    // broker sends the retained messages when it takes the subscription, so they all come
    // before a marker the late subscriber publishes afterwards.
    let mut late = Subscriber::start(broker.port, "e2e/north/#").await;
    late.publish("e2e/north/marker", "{}").await;
    let mut retained = Vec::new();
    late.wait_for(WAIT, |m| {
        if m.retain {
            retained.push(m.topic.clone());
        }
        m.topic == "e2e/north/marker"
    })
    .await
    .expect("the marker");
    assert_eq!(
        retained,
        ["e2e/north/status"],
        "retained without mqtt.retain"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_sent_and_a_wrong_password_gets_nothing_through() {
    if !broker::available() {
        return;
    }
    let Ok(passwd) = testkit::require_peer("mosquitto_passwd") else {
        return;
    };
    let dir = scratch("mqtt-login");
    let file = dir.join("passwords");
    let made = std::process::Command::new(passwd)
        .arg("-b")
        .arg("-c")
        .arg(&file)
        .args(["gateway", "s3cret"])
        .status()
        .expect("run mosquitto_passwd");
    assert!(made.success());
    // mosquitto started as root reads it as its own user.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let extra = format!("allow_anonymous false\npassword_file {}\n", file.display());
    let broker = Broker::start_with(&dir, extra).await;
    let st = Station::start(1).await;
    let login = Some(("gateway", "s3cret"));
    let mut sub = Subscriber::start_as(broker.port, "e2e/#", login).await;

    // A wrong password: the broker refuses the gateway; its presence never appears.
    let wrong = "username = \"gateway\"\npassword = \"wrong\"";
    let gw = Gateway::start(
        &dir,
        &config(broker.port, &dir, &st.addr.to_string(), wrong),
    );
    let refused = broker_logged(&broker, "not authorised").await;
    assert!(
        refused,
        "mosquitto never refused the wrong password:\n{}",
        broker.log_tail(20)
    );
    gw.stop().await;
    assert!(
        sub.wait_for(Duration::ZERO, |m| m.topic == "e2e/_gateway/gw-mqtt")
            .await
            .is_none(),
        "published with a wrong password"
    );

    // The right one: online, and the data.
    let right = "username = \"gateway\"\npassword = \"s3cret\"";
    let dir2 = scratch("mqtt-login-ok");
    let gw = Gateway::start(
        &dir2,
        &config(broker.port, &dir2, &st.addr.to_string(), right),
    );
    let presence = sub
        .wait_for(WAIT, |m| m.topic == "e2e/_gateway/gw-mqtt")
        .await
        .expect("presence with the right password");
    assert_eq!(presence.json["status"], "online");
    sub.wait_for(WAIT, |m| m.topic == "e2e/north/1/1")
        .await
        .expect("data with the right password");
    gw.stop().await;
}

/// Waits (bounded) until mosquitto logged a line containing `text`.
async fn broker_logged(broker: &Broker, text: &str) -> bool {
    let end = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < end {
        if broker.logged(text) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

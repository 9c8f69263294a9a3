//! An MQTT subscriber (rumqttc) collecting messages for the tests, with a persistent session
//! so that it survives broker restarts.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use tokio::sync::mpsc;

/// A received message.
#[derive(Debug, Clone)]
pub struct Received {
    /// Topic.
    pub topic: String,
    /// Payload as JSON (Null when not JSON).
    pub json: Value,
    /// Retained flag.
    pub retain: bool,
    /// QoS it was delivered with (0, 1, 2).
    pub qos: u8,
    /// When it arrived here.
    pub at: std::time::Instant,
}

/// A subscriber of `filter`.
pub struct Subscriber {
    rx: mpsc::Receiver<Received>,
    client: AsyncClient,
    task: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    /// Connects to 127.0.0.1:`port` and subscribes to `filter` with QoS 1.
    pub async fn start(port: u16, filter: &str) -> Subscriber {
        Subscriber::start_as(port, filter, None).await
    }

    /// [`Subscriber::start`] with a user name and password.
    pub async fn start_as(port: u16, filter: &str, login: Option<(&str, &str)>) -> Subscriber {
        let mut o = MqttOptions::new(format!("e2e-sub-{}", fastrand::u32(..)), "127.0.0.1", port);
        if let Some((user, password)) = login {
            o.set_credentials(user, password);
        }
        o.set_clean_session(false);
        o.set_keep_alive(Duration::from_secs(5));
        o.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut el) = AsyncClient::new(o, 100);
        let (tx, rx) = mpsc::channel(100_000);
        let (sub_tx, mut sub_rx) = mpsc::channel::<()>(1);
        let c = client.clone();
        let filter = filter.to_owned();
        let task = tokio::spawn(async move {
            let mut subscribed = false;
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        if !subscribed || !ack.session_present {
                            let _ = c.subscribe(filter.clone(), QoS::AtLeastOnce).await;
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        subscribed = true;
                        let _ = sub_tx.try_send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let json = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                        let _ = tx
                            .send(Received {
                                topic: p.topic.clone(),
                                json,
                                retain: p.retain,
                                qos: p.qos as u8,
                                at: std::time::Instant::now(),
                            })
                            .await;
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), sub_rx.recv())
            .await
            .expect("subscribed within 10 s");
        Subscriber { rx, client, task }
    }

    /// The next message for which `pred` holds, within `within` (others are discarded).
    pub async fn wait_for(
        &mut self,
        within: Duration,
        mut pred: impl FnMut(&Received) -> bool,
    ) -> Option<Received> {
        let end = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(end, self.rx.recv()).await {
                Ok(Some(m)) if pred(&m) => return Some(m),
                Ok(Some(_)) => continue,
                _ => return None,
            }
        }
    }

    /// The next message, within `within` (None when nothing came or the client ended).
    pub async fn next(&mut self, within: Duration) -> Option<Received> {
        tokio::time::timeout(within, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// A handle of its MQTT client (to publish while the subscriber is elsewhere).
    pub fn client(&self) -> AsyncClient {
        self.client.clone()
    }

    /// Publishes `payload` on `topic` with QoS 1.
    pub async fn publish(&self, topic: &str, payload: &str) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.as_bytes().to_vec())
            .await
            .expect("publish");
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

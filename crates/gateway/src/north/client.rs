//! One face for rumqttc's MQTT 3.1.1 and MQTT 5 clients: the publisher sees the same calls
//! and the same few events whichever protocol the configuration chose.

use bytes::Bytes;
use rumqttc::v5::mqttbytes::v5 as p5;
use rumqttc::Outgoing;
use tokio::sync::mpsc;

use super::MqttSettings;
use crate::model::{Ack, Incoming};

/// MQTT 5 Receive Maximum: commands delivered but not yet handled, at most.
pub const RECEIVE_MAXIMUM: u16 = 64;

/// Largest incoming packet with MQTT 3.1.1: the protocol's own limit (remaining length of
/// 268,435,455 octets plus the fixed header).
const MAX_PACKET_V4: usize = 268_435_460;

/// What the publisher needs to know from the event loop.
#[derive(Debug)]
pub enum Ev {
    /// The broker accepted the connection.
    ConnAck,
    /// A publication was written with this packet id (in request order).
    Sent(u16),
    /// The next publication's packet id is still in flight: it waits for that id's PUBACK
    /// (`Outgoing::AwaitAck`).
    Collision(u16),
    /// The broker acknowledged this packet id; `refused` names a v5 failure reason.
    PubAck(u16, Option<String>),
    /// A message from a subscription.
    Message(Incoming),
    /// Our DISCONNECT was written.
    Disconnected,
    /// Anything else.
    Other,
}

/// A connected client of either protocol.
#[derive(Clone)]
pub enum Client {
    /// MQTT 3.1.1.
    V4(rumqttc::AsyncClient),
    /// MQTT 5.
    V5(rumqttc::v5::AsyncClient),
}

fn qos4(q: u8) -> rumqttc::QoS {
    if q == 0 {
        rumqttc::QoS::AtMostOnce
    } else {
        rumqttc::QoS::AtLeastOnce
    }
}

fn qos5(q: u8) -> rumqttc::v5::mqttbytes::QoS {
    if q == 0 {
        rumqttc::v5::mqttbytes::QoS::AtMostOnce
    } else {
        rumqttc::v5::mqttbytes::QoS::AtLeastOnce
    }
}

impl Client {
    /// Queues a publication without waiting; false when the request channel is full.
    pub fn publish(
        &self,
        topic: String,
        qos: u8,
        retain: bool,
        payload: Vec<u8>,
        correlation: Option<Bytes>,
    ) -> bool {
        match self {
            Client::V4(c) => c.try_publish(topic, qos4(qos), retain, payload).is_ok(),
            Client::V5(c) => match correlation {
                Some(data) => {
                    let props = p5::PublishProperties {
                        correlation_data: Some(data),
                        ..Default::default()
                    };
                    c.try_publish_with_properties(topic, qos5(qos), retain, payload, props)
                        .is_ok()
                }
                None => c.try_publish(topic, qos5(qos), retain, payload).is_ok(),
            },
        }
    }

    /// Subscribes with QoS 1.
    pub fn subscribe(&self, filter: String) {
        let _ = match self {
            Client::V4(c) => c.try_subscribe(filter, rumqttc::QoS::AtLeastOnce).is_ok(),
            Client::V5(c) => c
                .try_subscribe(filter, rumqttc::v5::mqttbytes::QoS::AtLeastOnce)
                .is_ok(),
        };
    }

    /// Queues a DISCONNECT.
    pub fn disconnect(&self) -> bool {
        match self {
            Client::V4(c) => c.try_disconnect().is_ok(),
            Client::V5(c) => c.try_disconnect().is_ok(),
        }
    }
}

fn outgoing(o: Outgoing) -> Ev {
    match o {
        Outgoing::Publish(pkid) => Ev::Sent(pkid),
        Outgoing::AwaitAck(pkid) => Ev::Collision(pkid),
        Outgoing::Disconnect => Ev::Disconnected,
        _ => Ev::Other,
    }
}

/// MQTT 5 user properties as `name=value, ...`, at most 256 characters.
fn sender(props: &[(String, String)]) -> Option<String> {
    if props.is_empty() {
        return None;
    }
    let mut s = String::new();
    for (k, v) in props {
        if !s.is_empty() {
            s.push_str(", ");
        }
        s.push_str(k);
        s.push('=');
        s.push_str(v);
    }
    if s.len() > 256 {
        let mut end = 256;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    Some(s)
}

/// The PUBACK of a QoS 1 publication, sent when the message was handled (manual acks).
fn ack5(c: &rumqttc::v5::AsyncClient, p: p5::Publish) -> Ack {
    if p.qos == rumqttc::v5::mqttbytes::QoS::AtMostOnce {
        return Ack::none();
    }
    let c = c.clone();
    Ack::new(move || {
        if c.try_ack(&p).is_err() {
            // The request queue is full (results going out): an acknowledgement must not
            // be lost, or the broker's window of unacknowledged commands stays full.
            later(async move { c.ack(&p).await.is_ok() });
        }
    })
}

/// Queues an acknowledgement that found the request queue full, once there is room.
fn later(ack: impl std::future::Future<Output = bool> + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(h) => {
            h.spawn(async move {
                if !ack.await {
                    tracing::debug!("PUBACK of a command not sent (connection ending)");
                }
            });
        }
        Err(_) => tracing::debug!("PUBACK of a command not sent (no runtime)"),
    }
}

/// The PUBACK of a QoS 1 publication (MQTT 3.1.1).
fn ack4(c: &rumqttc::AsyncClient, p: rumqttc::Publish) -> Ack {
    if p.qos == rumqttc::QoS::AtMostOnce {
        return Ack::none();
    }
    let c = c.clone();
    Ack::new(move || {
        if c.try_ack(&p).is_err() {
            later(async move { c.ack(&p).await.is_ok() });
        }
    })
}

/// One MQTT 5 event for the publisher.
fn event5(e: rumqttc::v5::Event, client: Option<&rumqttc::v5::AsyncClient>) -> Ev {
    match e {
        rumqttc::v5::Event::Incoming(p) => match p {
            p5::Packet::ConnAck(_) => Ev::ConnAck,
            p5::Packet::PubAck(a) => {
                let bad = !matches!(
                    a.reason,
                    p5::PubAckReason::Success | p5::PubAckReason::NoMatchingSubscribers
                );
                Ev::PubAck(a.pkid, bad.then(|| format!("{:?}", a.reason)))
            }
            p5::Packet::Publish(p) => {
                let props = p.properties.as_ref();
                let mut m =
                    Incoming::new(String::from_utf8_lossy(&p.topic).into_owned(), &p.payload);
                m.response_topic = props.and_then(|p| p.response_topic.clone());
                m.correlation = props.and_then(|p| p.correlation_data.clone());
                m.sender = props.and_then(|p| sender(&p.user_properties));
                m.retained = p.retain;
                if let Some(c) = client {
                    m.ack = ack5(c, p);
                }
                Ev::Message(m)
            }
            _ => Ev::Other,
        },
        rumqttc::v5::Event::Outgoing(o) => outgoing(o),
    }
}

/// The MQTT 5 last will: the offline presence, when this connection has a presence.
fn will5(s: &MqttSettings) -> Option<p5::LastWill> {
    (!s.presence_topic.is_empty()).then(|| {
        p5::LastWill::new(
            s.presence_topic.clone(),
            s.presence.1.clone().into_bytes(),
            rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
            true,
            None,
        )
    })
}

/// rumqttc's own bound on connecting (and on a write): at least its default 5 s, and not
/// below `connect_timeout`, which the publisher enforces itself (to the millisecond).
fn rumqttc_timeout(s: &MqttSettings) -> u64 {
    s.connect_timeout.as_secs_f64().ceil().max(5.0) as u64
}

/// Connects (lazily: the event loop connects on its first poll) and returns the client and
/// the event loop future that forwards events to `tx` until an error, which it sends last.
/// rumqttc's poll is not cancel-safe while connecting, so it runs apart from any select.
pub fn start(
    s: &MqttSettings,
    broker: &crate::config::Broker,
    cap: usize,
    tx: mpsc::Sender<Result<Ev, String>>,
) -> (
    Client,
    std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
) {
    let inflight = s.max_inflight.saturating_mul(2).max(16);
    let transport = s.tls.as_ref().filter(|_| broker.tls).map(|ca| {
        rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Simple {
            ca: ca.clone(),
            alpn: None,
            client_auth: s.client_auth.clone(),
        })
    });
    if s.v5 {
        let mut o =
            rumqttc::v5::MqttOptions::new(s.client_id.clone(), broker.host.clone(), broker.port);
        o.set_keep_alive(s.keep_alive);
        o.set_clean_start(true);
        if let Some(t) = transport {
            o.set_transport(t);
        }
        o.set_outgoing_inflight_upper_limit(inflight);
        // Announced to the broker: publications larger than this are not sent to us
        // (MQTT 5, 3.1.2.11.4), so a huge command costs neither memory nor the connection.
        o.set_max_packet_size(Some(1 << 20));
        // Commands are acknowledged once handled; the broker sends at most this many
        // unacknowledged ones (back-pressure instead of dropped commands).
        o.set_manual_acks(true);
        o.set_receive_maximum(Some(RECEIVE_MAXIMUM));
        if let Some(will) = will5(s) {
            o.set_last_will(will);
        }
        if let Some((u, p)) = &s.credentials {
            o.set_credentials(u.clone(), p.expose().to_owned());
        }
        let mut net = o.network_options();
        // Small publications are written one by one: Nagle's algorithm would hold them
        // back behind unacknowledged segments (tens of milliseconds with delayed ACKs).
        net.set_tcp_nodelay(true);
        net.set_connection_timeout(rumqttc_timeout(s));
        o.set_network_options(net);
        let (client, mut el) = rumqttc::v5::AsyncClient::new(o, cap);
        let acker = client.clone();
        let fut = async move {
            loop {
                let ev = match el.poll().await {
                    Ok(e) => Ok(event5(e, Some(&acker))),
                    Err(e) => Err(e.to_string()),
                };
                let failed = ev.is_err();
                if tx.send(ev).await.is_err() || failed {
                    return;
                }
            }
        };
        (Client::V5(client), Box::pin(fut))
    } else {
        let mut o =
            rumqttc::MqttOptions::new(s.client_id.clone(), broker.host.clone(), broker.port);
        o.set_keep_alive(s.keep_alive);
        o.set_clean_session(true);
        if let Some(t) = transport {
            o.set_transport(t);
        }
        o.set_inflight(inflight);
        // MQTT 3.1.1 has no way to tell the broker our limit: accept any packet the protocol
        // allows (a larger one would be a framing error that costs the connection); the
        // payload is cut to what a command can be as soon as it is read.
        o.set_max_packet_size(MAX_PACKET_V4, 1 << 20);
        o.set_manual_acks(true);
        if !s.presence_topic.is_empty() {
            o.set_last_will(rumqttc::LastWill::new(
                s.presence_topic.clone(),
                s.presence.1.clone(),
                rumqttc::QoS::AtLeastOnce,
                true,
            ));
        }
        if let Some((u, p)) = &s.credentials {
            o.set_credentials(u.clone(), p.expose().to_owned());
        }
        let (client, mut el) = rumqttc::AsyncClient::new(o, cap);
        let acker = client.clone();
        let mut net = el.network_options();
        // As for MQTT 5: no Nagle delay for small publications.
        net.set_tcp_nodelay(true);
        net.set_connection_timeout(rumqttc_timeout(s));
        el.set_network_options(net);
        let fut = async move {
            loop {
                let ev = match el.poll().await {
                    Ok(rumqttc::Event::Incoming(p)) => Ok(match p {
                        rumqttc::Packet::ConnAck(_) => Ev::ConnAck,
                        rumqttc::Packet::PubAck(a) => Ev::PubAck(a.pkid, None),
                        rumqttc::Packet::Publish(p) => {
                            let mut m = Incoming::new(p.topic.clone(), &p.payload);
                            m.retained = p.retain;
                            m.ack = ack4(&acker, p);
                            Ev::Message(m)
                        }
                        _ => Ev::Other,
                    }),
                    Ok(rumqttc::Event::Outgoing(o)) => Ok(outgoing(o)),
                    Err(e) => Err(e.to_string()),
                };
                let failed = ev.is_err();
                if tx.send(ev).await.is_err() || failed {
                    return;
                }
            }
        };
        (Client::V4(client), Box::pin(fut))
    }
}

/// Publishes `payload` on `topic` (retained, QoS 1) as a connection's last word, then
/// DISCONNECT once the broker acknowledged it (so the broker drops the will), all within 2 s.
/// `before`: publications handed to the client whose packet id is not known yet (the last
/// word's Sent event comes after theirs). Without a topic: DISCONNECT at once.
pub async fn last_word(
    client: &Client,
    events: &mut tokio::sync::mpsc::Receiver<Result<Ev, String>>,
    topic: &str,
    payload: &str,
    mut before: usize,
) {
    let said = !topic.is_empty()
        && client.publish(topic.to_owned(), 1, true, payload.as_bytes().to_vec(), None);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        let mut word = None;
        let mut disconnecting = !said && client.disconnect();
        loop {
            match events.recv().await {
                Some(Ok(Ev::Sent(pkid))) if said && word.is_none() => {
                    if before == 0 {
                        word = Some(pkid);
                    } else {
                        before -= 1;
                    }
                }
                Some(Ok(Ev::PubAck(pkid, _))) if !disconnecting && word == Some(pkid) => {
                    disconnecting = client.disconnect();
                }
                Some(Ok(Ev::Disconnected)) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
}

//! A subscriber that keeps payloads as bytes (Sparkplug B protobuf, not JSON): the "host"
//! of the Sparkplug tests. Returns once the broker acknowledged every subscription.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

/// Subscribes as `client_id` to each of `filters` on 127.0.0.1:`port` (every SUBACK awaited
/// within `within`) and forwards every publication as (topic, payload bytes) until the
/// receiver is dropped; also returns the client, to publish (DCMD, STATE).
pub async fn start(
    port: u16,
    client_id: &str,
    filters: &[&str],
    within: Duration,
) -> (AsyncClient, mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    start_decoded(port, client_id, filters, within, |_, bytes| bytes.to_vec()).await
}

/// [`start`], each payload turned into a `T` by `decode(topic, bytes)` as it arrives (a
/// decoder that panics on a bad payload makes the forwarding stop, which the test sees as
/// a message that never comes).
pub async fn start_decoded<T: Send + 'static>(
    port: u16,
    client_id: &str,
    filters: &[&str],
    within: Duration,
    decode: fn(&str, &[u8]) -> T,
) -> (AsyncClient, mpsc::UnboundedReceiver<(String, T)>) {
    let (client, mut eventloop) =
        AsyncClient::new(MqttOptions::new(client_id, "127.0.0.1", port), 64);
    for filter in filters {
        client
            .subscribe(*filter, QoS::AtLeastOnce)
            .await
            .unwrap_or_else(|e| panic!("subscribe {filter}: {e}"));
    }
    let mut acks = 0;
    while acks < filters.len() {
        match tokio::time::timeout(within, eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => acks += 1,
            Ok(Ok(_)) => {}
            other => panic!("{client_id}: {other:?}"),
        }
    }
    let (tx, rx) = mpsc::unbounded_channel();
    // The event loop ends when every client handle is gone: the task keeps one.
    let keep = client.clone();
    tokio::spawn(async move {
        let _keep = keep;
        while let Ok(event) = eventloop.poll().await {
            if let Event::Incoming(Packet::Publish(p)) = event {
                let value = decode(&p.topic, p.payload.as_ref());
                if tx.send((p.topic.clone(), value)).is_err() {
                    return;
                }
            }
        }
    });
    (client, rx)
}

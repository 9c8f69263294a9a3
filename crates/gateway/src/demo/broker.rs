//! The embedded MQTT broker of the demo (rumqttd) on 127.0.0.1: MQTT 3.1.1 and 5 on one
//! port (see [`super::front`]), any client id (an empty one too, with a clean session).

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

/// Listens on 127.0.0.1:`wanted` when free, else on a free port (saying so).
pub async fn bind_front(wanted: u16) -> Result<tokio::net::TcpListener, String> {
    match tokio::net::TcpListener::bind(("127.0.0.1", wanted)).await {
        Ok(l) => Ok(l),
        Err(e) => {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| format!("no free port: {e}"))?;
            let port = l.local_addr().map_err(|e| e.to_string())?.port();
            say!("port {wanted} is taken ({e}); the embedded broker uses port {port} instead");
            Ok(l)
        }
    }
}

/// A free port on 127.0.0.1 (for the broker's internal listeners).
fn free_port() -> Result<SocketAddr, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr().map_err(|e| e.to_string())
}

fn server(name: &str, listen: SocketAddr) -> ServerSettings {
    ServerSettings {
        name: name.into(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: 1 << 20,
            max_inflight_count: 500,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    }
}

/// Starts rumqttd (in its own threads; it lives until the process ends) with an MQTT 3.1.1
/// and an MQTT 5 listener on internal ports, and returns their addresses.
pub fn start() -> Result<(SocketAddr, SocketAddr), String> {
    let v4 = free_port()?;
    let v5 = free_port()?;
    let config = Config {
        id: 0,
        router: RouterConfig {
            max_connections: 1000,
            max_outgoing_packet_count: 200,
            max_segment_size: 100 * 1024 * 1024,
            max_segment_count: 10,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: Default::default(),
        },
        v4: Some(HashMap::from([("1".to_owned(), server("demo-v4", v4))])),
        v5: Some(HashMap::from([("2".to_owned(), server("demo-v5", v5))])),
        ..Config::default()
    };
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            let mut broker = Broker::new(config);
            if let Err(e) = broker.start() {
                eprintln!("embedded broker stopped: {e}");
            }
        })
        .map_err(|e| format!("cannot start the broker thread: {e}"))?;
    Ok((v4, v5))
}

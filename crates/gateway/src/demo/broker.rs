//! The embedded MQTT broker of the demo (rumqttd, MQTT 3.1.1) on 127.0.0.1.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

/// Picks `wanted` when free, else a free port (saying so); returns the port.
pub fn pick_port(wanted: u16) -> Result<u16, String> {
    match TcpListener::bind(("127.0.0.1", wanted)) {
        Ok(_) => Ok(wanted),
        Err(e) => {
            let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
            let port = l.local_addr().map_err(|e| e.to_string())?.port();
            say!("port {wanted} is taken ({e}); the embedded broker uses port {port} instead");
            Ok(port)
        }
    }
}

/// Starts rumqttd on 127.0.0.1:`port` in its own threads (it lives until the process ends).
pub fn start(port: u16) -> Result<(), String> {
    let listen: SocketAddr = ([127, 0, 0, 1], port).into();
    let server = ServerSettings {
        name: "demo".into(),
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
    };
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
        v4: Some(HashMap::from([("1".to_owned(), server)])),
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
    Ok(())
}

//! Sparkplug B output (`[sparkplug]`): one edge node per RTU over its own MQTT session
//! (crate `iec104-sparkplug`), fed by the south's tap. Runs beside the JSON publisher.

use std::collections::HashMap;
use std::time::Duration;

use iec104_sparkplug::edge::{CommandOutcome, EdgeNode, EdgeSettings, PointConfig};
use iec104_sparkplug::session::{self, Input, SessionSettings};
use iec104_sparkplug::{PointAddress, SparkplugSettings};
use rumqttc::MqttOptions;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::Loaded;

/// Inputs waiting for an edge node beyond which the tap drops values (the edge node's own
/// history keeps what it could not send).
pub const TAP_CAPACITY: usize = 4096;

/// The running edge nodes.
#[derive(Debug, Default)]
pub struct Sparkplug {
    /// Tap of each RTU's edge node, by RTU name (handed to the south sessions).
    pub taps: HashMap<String, mpsc::Sender<Input>>,
    /// The drivers; each ends (NDEATH, DISCONNECT) once every tap of its RTU is dropped.
    pub handles: Vec<JoinHandle<()>>,
}

/// Starts one edge node per RTU when `[sparkplug]` is configured (the configuration check
/// refused what this cannot do: a cluster, TLS).
pub fn start(loaded: &Loaded) -> Result<Sparkplug, iec104_sparkplug::edge::EdgeError> {
    let mut out = Sparkplug::default();
    let Some(settings) = &loaded.sparkplug else {
        return Ok(out);
    };
    // Every edge node is made before anything is spawned, so a failure spawns nothing.
    let mut nodes = Vec::with_capacity(loaded.rtus.len());
    for rtu in &loaded.rtus {
        let node = edge_node(loaded, settings, rtu)?;
        let edge_id = settings.edge_node_id(&rtu.name)?;
        nodes.push((
            rtu.name.clone(),
            node,
            session_settings(loaded, &settings.group_id, &edge_id),
        ));
    }
    for (name, node, session) in nodes {
        let (tap, inputs) = mpsc::channel(TAP_CAPACITY);
        let (commands, requests) = mpsc::channel(16);
        out.handles
            .push(tokio::spawn(session::run(node, session, inputs, commands)));
        out.handles
            .push(tokio::spawn(refuse_commands(requests, tap.downgrade())));
        out.taps.insert(name, tap);
    }
    Ok(out)
}

/// The MQTT session of one edge node: client id `spb-{group}-{edge}` (the same on every
/// node, so the broker never keeps two sessions of one edge node), the gateway's broker and
/// credentials.
fn session_settings(loaded: &Loaded, group: &str, edge_id: &str) -> SessionSettings {
    let mut mqtt = MqttOptions::new(
        format!("spb-{group}-{edge_id}"),
        loaded.broker.host.clone(),
        loaded.broker.port,
    );
    mqtt.set_keep_alive(loaded.mqtt.keep_alive.max(Duration::from_secs(1)));
    mqtt.set_max_packet_size(1 << 20, 1 << 20);
    // The same user and password as the main client (`password_file` included).
    match crate::config::security::mqtt_credentials(&loaded.mqtt) {
        Ok(Some((u, p))) => {
            mqtt.set_credentials(u, p.expose().to_owned());
        }
        Ok(None) => {}
        Err((path, e)) => {
            tracing::error!(file = %path.display(), error = %e, "sparkplug: cannot read the broker password");
        }
    }
    SessionSettings {
        mqtt,
        tick: Duration::from_millis(100),
        reconnect_delay: Duration::from_secs(1),
    }
}

fn edge_node(
    loaded: &Loaded,
    settings: &SparkplugSettings,
    rtu: &crate::config::Rtu,
) -> Result<EdgeNode, iec104_sparkplug::edge::EdgeError> {
    let mut points: Vec<PointConfig> = rtu
        .points
        .iter()
        .filter(|(_, p)| p.name.is_some())
        .map(|(&(ca, ioa), p)| PointConfig {
            address: PointAddress { ca, ioa },
            name: p.name.clone(),
            kind: None,
            command: None,
        })
        .collect();
    points.sort_by_key(|p| p.address);
    let edge = EdgeSettings {
        group_id: settings.group_id.clone(),
        edge_node_id: settings.edge_node_id(&rtu.name)?,
        device_id: settings.device_id(&rtu.name)?,
        primary_host_id: settings.primary_host_id.clone(),
        qos: settings.qos,
        buffer_capacity: settings.buffer_capacity,
        command_timeout_ms: loaded.gateway.command_timeout.as_millis() as u64,
        gateway_node: Some(loaded.node.clone()),
    };
    EdgeNode::new(edge, &points)
}

/// No point is a writable metric in this version (no `command_type` per point yet), so the
/// edge node refuses every DCMD itself; a request that still arrives is answered failed.
async fn refuse_commands(
    mut requests: mpsc::Receiver<iec104_sparkplug::edge::CommandRequest>,
    tap: mpsc::WeakSender<Input>,
) {
    while let Some(r) = requests.recv().await {
        let Some(tap) = tap.upgrade() else { return };
        let outcome = CommandOutcome::Failed("commands from Sparkplug are not wired yet".into());
        let _ = tap.try_send(Input::Outcome { id: r.id, outcome });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn edge_nodes_log_in_with_the_password_file() {
        let dir = std::env::temp_dir().join(format!("gw-spb-password-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("password");
        std::fs::write(&file, "from-the-file\n").unwrap();
        let text = format!(
            "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\nusername = \"gw\"\npassword_file = \"{}\"\n[sparkplug]\ngroup_id = \"g\"\n[[rtu]]\nname = \"r\"\naddress = \"127.0.0.1:2404\"\ncommon_address = 1\n",
            file.display()
        );
        let loaded = crate::config::parse(&text, "t").unwrap();
        let login = super::session_settings(&loaded, "g", "r")
            .mqtt
            .credentials();
        let _ = std::fs::remove_dir_all(&dir);
        let login = login.expect("credentials set");
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("gw", "from-the-file")
        );
    }
}

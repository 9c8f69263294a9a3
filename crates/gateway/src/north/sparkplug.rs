//! Sparkplug B output (`[sparkplug]`): one edge node per RTU over its own MQTT session
//! (crate `iec104-sparkplug`), fed by the south's tap. Runs beside the JSON publisher.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use iec104_sparkplug::edge::{
    CommandOutcome, CommandRequest, CommandSpec, EdgeNode, EdgeSettings, PointConfig,
};
use iec104_sparkplug::session::{self, Carrier, HistoryStore, Input, SessionSettings};
use iec104_sparkplug::topic::{MessageType, Topic};
use iec104_sparkplug::{PointAddress, SparkplugSettings};
use rumqttc::MqttOptions;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::commands::sparkplug::SparkplugCommand;
use crate::config::Loaded;
use crate::north::rotation::{Next, Rotation};
use crate::north::store::held::Restored;

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
    /// In a cluster: whether this node carries each RTU (by name), to be fed from the RTU's
    /// role with [`follow_role`]; the edge node has a session only while it is true.
    pub carriers: HashMap<String, watch::Sender<bool>>,
}

/// Keeps `carrier` true while `role` is Active (this node carries the RTU); ends when the
/// role's sender is gone.
pub async fn follow_role(
    mut role: watch::Receiver<crate::model::Role>,
    carrier: watch::Sender<bool>,
) {
    loop {
        let active = *role.borrow_and_update() == crate::model::Role::Active;
        carrier.send_if_modified(|c| std::mem::replace(c, active) != active);
        if role.changed().await.is_err() {
            return;
        }
    }
}

/// TLS to the broker (`mqtts://`), as the JSON output's client has it.
#[derive(Debug, Clone)]
pub struct Tls {
    /// CA certificates (PEM).
    pub ca: Vec<u8>,
    /// Client certificate and key (PEM), for mutual TLS.
    pub client_auth: Option<(Vec<u8>, Vec<u8>)>,
}

/// Starts one edge node per RTU when `[sparkplug]` is configured. Each connects like the JSON
/// output (`tls` for `mqtts://`); in a cluster only while this node carries the RTU
/// ([`Sparkplug::carriers`]). Commands written by hosts go to `router`. Each edge node takes
/// back what its RTU's durable history in `restored` held and keeps its history there; the
/// values each drops from its full history are counted in `metrics`.
pub fn start(
    loaded: &Loaded,
    tls: Option<&Tls>,
    router: &mpsc::Sender<SparkplugCommand>,
    mut restored: HashMap<String, Restored>,
    metrics: &crate::model::Metrics,
) -> Result<Sparkplug, iec104_sparkplug::edge::EdgeError> {
    let mut out = Sparkplug::default();
    let Some(settings) = &loaded.sparkplug else {
        return Ok(out);
    };
    // Every edge node is made before anything is spawned, so a failure spawns nothing.
    let mut nodes = Vec::with_capacity(loaded.rtus.len());
    for rtu in &loaded.rtus {
        let mut node = edge_node(loaded, settings, rtu)?;
        let history = restored
            .remove(&rtu.name)
            .map(|r| restore(&mut node, &rtu.name, r));
        let edge_id = settings.edge_node_id(&rtu.name)?;
        let device_id = settings.device_id(&rtu.name)?;
        let dcmd = Topic::device(&settings.group_id, MessageType::DCmd, &edge_id, &device_id)?;
        nodes.push((
            rtu.name.clone(),
            node,
            history,
            session_settings(loaded, tls, &settings.group_id, &edge_id),
            observers(loaded, tls, &settings.group_id, &edge_id),
            dcmd.to_string(),
        ));
    }
    for (name, node, history, mut session, observers, dcmd) in nodes {
        session.history_dropped = Some(metrics.sparkplug_history(&name));
        if loaded.cluster.is_some() {
            // Only the node carrying the RTU has the edge node's session; the others watch
            // its births and deaths with a client id of their own, on the same brokers.
            let (carrier, carrying) = watch::channel(false);
            session.carrier = Some(Carrier {
                carrying,
                observers,
            });
            out.carriers.insert(name.clone(), carrier);
        }
        let (tap, inputs) = mpsc::channel(TAP_CAPACITY);
        let (commands, requests) = mpsc::channel(16);
        out.handles.push(tokio::spawn(session::run_with_history(
            node, session, inputs, commands, history,
        )));
        let forward = Forward {
            rtu: name.clone(),
            topic: dcmd,
            tap: tap.downgrade(),
            router: router.clone(),
        };
        out.handles.push(tokio::spawn(forward.run(requests)));
        out.taps.insert(name, tap);
    }
    Ok(out)
}

/// Gives the edge node what its durable history held; values that no longer fit the
/// configuration are logged and removed from the file.
fn restore(node: &mut EdgeNode, rtu: &str, restored: Restored) -> Arc<dyn HistoryStore> {
    let refused = node.restore_history(restored.held, restored.dropped);
    if !refused.is_empty() {
        let ids: Vec<u64> = refused.iter().map(|(h, _)| h.id).collect();
        if let Some((_, e)) = refused.first() {
            tracing::warn!(rtu, count = ids.len(), error = %e, "sparkplug history values refused after a restart");
        }
        if let Err(e) = restored.store.forget(&ids) {
            tracing::error!(rtu, error = %e, "cannot remove refused sparkplug history values");
        }
    }
    if node.buffered() > 0 {
        tracing::info!(
            rtu,
            held = node.buffered(),
            on_disk = restored.store.len(),
            "sparkplug history restored"
        );
    }
    restored.store
}

/// The MQTT options of the session that watches the carrier's births and deaths while this
/// node does not carry the RTU: client id `spb-{group}-{edge}-watch-{node}`, one per broker in
/// this node's order (the watcher moves on like the edge node's session does).
fn observers(loaded: &Loaded, tls: Option<&Tls>, group: &str, edge_id: &str) -> Vec<MqttOptions> {
    let client_id = format!("spb-{group}-{edge_id}-watch-{}", loaded.node);
    options_in_order(loaded, tls, &client_id)
}

/// MQTT options with `client_id` for each broker in this node's order (at least one).
fn options_in_order(loaded: &Loaded, tls: Option<&Tls>, client_id: &str) -> Vec<MqttOptions> {
    let order = loaded.mqtt.brokers.in_order(&loaded.broker, &loaded.node);
    let mut options: Vec<MqttOptions> = order
        .iter()
        .map(|b| broker_options(loaded, tls, client_id, b))
        .collect();
    if options.is_empty() {
        options.push(broker_options(loaded, tls, client_id, &loaded.broker));
    }
    options
}

/// The MQTT session of one edge node: client id `spb-{group}-{edge}` (the same on every
/// node, so the broker never keeps two sessions of one edge node), the gateway's credentials
/// and TLS, and its brokers: the first in this node's order, and with several (`urls`) the
/// same rotation as the JSON output ([`Rotating`]).
fn session_settings(
    loaded: &Loaded,
    tls: Option<&Tls>,
    group: &str,
    edge_id: &str,
) -> SessionSettings {
    let options = options_in_order(loaded, tls, &format!("spb-{group}-{edge_id}"));
    let mqtt = options[0].clone();
    let brokers: Option<Arc<dyn iec104_sparkplug::session::Brokers>> =
        (options.len() > 1).then(|| Arc::new(Rotating::new(options)) as _);
    SessionSettings {
        mqtt,
        tick: Duration::from_millis(100),
        reconnect_delay: Duration::from_secs(1),
        carrier: None,
        history_dropped: None,
        brokers,
        // As the JSON output: not below `[mqtt] connect_timeout`, at least rumqttc's 5 s.
        connect_timeout_s: Some(
            loaded
                .mqtt
                .brokers
                .connect_timeout
                .as_secs_f64()
                .ceil()
                .max(5.0) as u64,
        ),
    }
}

/// The options of an edge node's session to `broker`: keep-alive as `[mqtt]`, TLS for an
/// `mqtts://` broker, the same user and password as the main client (`password_file`
/// included).
fn broker_options(
    loaded: &Loaded,
    tls: Option<&Tls>,
    client_id: &str,
    broker: &crate::config::Broker,
) -> MqttOptions {
    let mut mqtt = MqttOptions::new(client_id, broker.host.clone(), broker.port);
    // In a cluster the heartbeat, like the coordination connection: the carrier's NDEATH (its
    // will) then comes as soon as the cluster declares the node dead.
    let keep_alive = loaded
        .cluster
        .as_ref()
        .map_or(loaded.mqtt.keep_alive, |c| c.heartbeat);
    mqtt.set_keep_alive(keep_alive.max(Duration::from_secs(1)));
    mqtt.set_max_packet_size(1 << 20, 1 << 20);
    if let (true, Some(tls)) = (broker.tls, tls) {
        mqtt.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Simple {
                ca: tls.ca.clone(),
                alpn: None,
                client_auth: tls.client_auth.clone(),
            },
        ));
    }
    match crate::config::security::mqtt_credentials(&loaded.mqtt) {
        Ok(Some((u, p))) => {
            mqtt.set_credentials(u, p.expose().to_owned());
        }
        Ok(None) => {}
        Err((path, e)) => {
            tracing::error!(file = %path.display(), error = %e, "sparkplug: cannot read the broker password");
        }
    }
    mqtt
}

/// Several brokers (`[mqtt] urls`): an edge node's sessions go through this node's broker
/// list with the JSON output's rules ([`Rotation`]): on to the next broker at once when a
/// session is lost or refused, the reconnect delay only after every broker failed in a row.
/// (No return to the first broker: a session stays where it is while it holds.)
#[derive(Debug)]
pub struct Rotating {
    options: Vec<MqttOptions>,
    rotation: std::sync::Mutex<Rotation>,
}

impl Rotating {
    /// A rotation over `options` (this node's order), starting on the first.
    pub fn new(options: Vec<MqttOptions>) -> Rotating {
        Rotating {
            rotation: std::sync::Mutex::new(Rotation::new(options.len(), None)),
            options,
        }
    }

    fn rotation(&self) -> std::sync::MutexGuard<'_, Rotation> {
        self.rotation.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl iec104_sparkplug::session::Brokers for Rotating {
    fn options(&self) -> MqttOptions {
        let current = self.rotation().current();
        self.options
            .get(current)
            .or(self.options.first())
            .cloned()
            .unwrap_or_else(|| MqttOptions::new("spb", "127.0.0.1", 1883))
    }

    fn ended(&self, was_connected: bool) -> bool {
        matches!(self.rotation().ended(was_connected), Next::AfterBackoff(_))
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
        .filter(|(_, p)| p.name.is_some() || p.command_type.is_some())
        .map(|(&(ca, ioa), p)| PointConfig {
            address: PointAddress { ca, ioa },
            name: p.name.clone(),
            kind: None,
            // A write uses select-before-operate where the point requires it.
            command: p.command_type.map(|type_id| CommandSpec {
                type_id,
                select: p.limits.select_required,
            }),
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
        command_timeout_ms: edge_command_timeout(loaded.gateway.command_timeout),
        gateway_node: Some(loaded.node.clone()),
    };
    EdgeNode::new(edge, &points)
}

/// The edge node's own deadline for a command's outcome: beyond the RTU session's (which
/// waits `command_timeout` for the select's and again for the execute's confirmation, and
/// always reports), so the session's outcome is the one the host sees.
fn edge_command_timeout(command_timeout: Duration) -> u64 {
    let ms = u64::try_from(command_timeout.as_millis()).unwrap_or(u64::MAX / 4);
    ms.saturating_mul(3).saturating_add(1000)
}

/// Carries an edge node's command requests to the command router, which checks them like the
/// JSON commands; holds its RTU's tap weakly so the edge node still ends with its session.
struct Forward {
    rtu: String,
    topic: String,
    tap: mpsc::WeakSender<Input>,
    router: mpsc::Sender<SparkplugCommand>,
}

impl Forward {
    async fn run(self, mut requests: mpsc::Receiver<CommandRequest>) {
        while let Some(request) = requests.recv().await {
            let Some(tap) = self.tap.upgrade() else {
                return;
            };
            let id = request.id;
            let command = SparkplugCommand {
                rtu: self.rtu.clone(),
                topic: self.topic.clone(),
                request,
                reply: tap.clone(),
            };
            if self.router.send(command).await.is_err() {
                let outcome = CommandOutcome::Failed("the command router has stopped".into());
                let _ = tap.send(Input::Outcome { id, outcome }).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use iec104_sparkplug::session::Brokers;

    /// With `urls`, each edge node's sessions go through the node's broker list like the
    /// JSON output's: the first broker first, the next one at once after a failure, the
    /// reconnect delay only once every broker failed in a row, then from the top again.
    #[test]
    fn edge_node_sessions_follow_the_broker_list() {
        let text = "[mqtt]\nurls = [\"mqtt://b1:1883\", \"mqtts://b2:8883\"]\n[gateway]\nnode = \"n\"\n[sparkplug]\ngroup_id = \"g\"\n[[rtu]]\nname = \"r\"\naddress = \"127.0.0.1:2404\"\ncommon_address = 1\n";
        let loaded = crate::config::parse(text, "t").unwrap();
        let tls = super::Tls {
            ca: Vec::new(),
            client_auth: None,
        };
        let settings = super::session_settings(&loaded, Some(&tls), "g", "r");
        assert_eq!(settings.mqtt.broker_address(), ("b1".to_owned(), 1883));
        assert_eq!(settings.mqtt.client_id(), "spb-g-r");
        let brokers = settings.brokers.expect("several brokers: a rotation");
        let at = |b: &dyn Brokers| b.options().broker_address();
        assert_eq!(at(&*brokers), ("b1".to_owned(), 1883));
        assert!(!brokers.ended(false), "the next broker is tried at once");
        let second = brokers.options();
        assert_eq!(second.broker_address(), ("b2".to_owned(), 8883));
        assert_eq!(second.client_id(), "spb-g-r");
        assert!(
            matches!(second.transport(), rumqttc::Transport::Tls(_)),
            "mqtts:// gets TLS"
        );
        assert!(brokers.ended(false), "every broker failed: wait");
        assert_eq!(at(&*brokers), ("b1".to_owned(), 1883));
        // A session that was accepted and then lost moves on at once.
        assert!(!brokers.ended(true));
        assert_eq!(at(&*brokers), ("b2".to_owned(), 8883));
        // One broker: no rotation, every retry waits (as before).
        let one = text.replace(
            "urls = [\"mqtt://b1:1883\", \"mqtts://b2:8883\"]",
            "url = \"mqtt://b1:1883\"",
        );
        let loaded = crate::config::parse(&one, "t").unwrap();
        assert!(super::session_settings(&loaded, None, "g", "r")
            .brokers
            .is_none());
    }

    #[test]
    fn edge_node_sessions_take_the_connect_timeout_of_mqtt() {
        let text = "[mqtt]\nurl = \"mqtt://b1:1883\"\n{timeout}[gateway]\nnode = \"n\"\n[sparkplug]\ngroup_id = \"g\"\n[[rtu]]\nname = \"r\"\naddress = \"127.0.0.1:2404\"\ncommon_address = 1\n";
        let with = |line: &str| {
            let loaded = crate::config::parse(&text.replace("{timeout}", line), "t").unwrap();
            super::session_settings(&loaded, None, "g", "r").connect_timeout_s
        };
        // Rounded up to whole seconds, never below rumqttc's own 5 s (as the JSON output).
        assert_eq!(with("connect_timeout = 12.5\n"), Some(13));
        assert_eq!(with("connect_timeout = 1.0\n"), Some(5));
        assert_eq!(with(""), Some(5));
    }

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
        let login = super::session_settings(&loaded, None, "g", "r")
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

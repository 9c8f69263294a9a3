//! Every MQTT topic of the gateway, built and parsed in one place (docs/gateway.md, "Topics").

use std::fmt::Write as _;

/// The largest information object address (3 octets).
pub const MAX_IOA: u32 = 0xFF_FFFF;

/// The topics of one gateway, all under `prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
}

/// The address of an information object: common address and IOA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    /// Common address of the ASDU.
    pub ca: u16,
    /// Information object address (at most [`MAX_IOA`]).
    pub ioa: u32,
}

/// How a topic names a point: by address (`{ca}/{ioa}`) or by its configured name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PointRef {
    /// `{ca}/{ioa}`.
    Address(Address),
    /// `{name}` (configured in `[[rtu.point]]`).
    Name(String),
}

/// The point a command topic addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandTarget {
    /// RTU name.
    pub rtu: String,
    /// The point.
    pub point: PointRef,
}

/// Why a topic is not a command topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// The topic is not under the prefix.
    #[error("topic {0:?} is not under the prefix")]
    NotUnderPrefix(String),
    /// The levels do not match a command topic.
    #[error("topic {0:?}: expected {{rtu}}/{{ca}}/{{ioa}}/command or {{rtu}}/{{name}}/command")]
    NotCommand(String),
    /// `{ca}/{ioa}` are not numbers in range.
    #[error("ca {ca:?} / ioa {ioa:?} are not addresses")]
    BadAddress {
        /// The `{ca}` level.
        ca: String,
        /// The `{ioa}` level.
        ioa: String,
    },
}

const GATEWAY: &str = "_gateway";
const CLUSTER: &str = "_cluster";
const STATUS: &str = "status";
const STANDBY: &str = "standby";
const COMMAND: &str = "command";
const RESULT: &str = "result";
const BEAT: &str = "beat";
const DELTA: &str = "delta";
const STATE: &str = "state";
const SYNC: &str = "sync";

/// The kinds of cluster topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterTopic {
    /// `{prefix}/_cluster/{node}`: the retained presence.
    Presence,
    /// `.../beat`: the node is alive (QoS 0).
    Beat,
    /// `.../delta`: a change of its state.
    Delta,
    /// `.../state`: its full state, asked for.
    State,
    /// `.../sync`: a request to it for its full state.
    Sync,
}

impl Topics {
    /// The topics under `prefix` (one topic level, checked by the configuration).
    pub fn new(prefix: impl Into<String>) -> Topics {
        Topics {
            prefix: prefix.into(),
        }
    }

    /// The first topic level.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `{prefix}/{rtu}/`: the start of every data topic of `rtu`.
    pub fn data_base(&self, rtu: &str) -> String {
        format!("{}/{rtu}/", self.prefix)
    }

    /// Appends the data topic's tail for `point` (`{ca}/{ioa}` or `{name}`) to `base`
    /// (from [`Topics::data_base`]); one allocation per topic.
    pub fn data_with_base(base: &str, point: &PointRef) -> String {
        let mut t = String::with_capacity(base.len() + 16);
        t.push_str(base);
        match point {
            PointRef::Address(a) => {
                let _ = write!(t, "{}/{}", a.ca, a.ioa);
            }
            PointRef::Name(n) => t.push_str(n),
        }
        t
    }

    /// The data topic `{prefix}/{rtu}/{ca}/{ioa}` or `{prefix}/{rtu}/{name}`.
    pub fn data(&self, rtu: &str, point: &PointRef) -> String {
        Topics::data_with_base(&self.data_base(rtu), point)
    }

    /// `{prefix}/{rtu}/status` (retained).
    pub fn status(&self, rtu: &str) -> String {
        format!("{}/{rtu}/{STATUS}", self.prefix)
    }

    /// Cluster: `{prefix}/{rtu}/standby/{node}` (retained status of a standby node).
    pub fn standby(&self, rtu: &str, node: &str) -> String {
        format!("{}/{rtu}/{STANDBY}/{node}", self.prefix)
    }

    /// `{prefix}/_gateway/{node}`: the presence of a node running alone.
    pub fn presence(&self, node: &str) -> String {
        format!("{}/{GATEWAY}/{node}", self.prefix)
    }

    /// `{prefix}/_cluster/`: the start of every cluster topic.
    pub fn cluster_base(&self) -> String {
        format!("{}/{CLUSTER}/", self.prefix)
    }

    /// `{prefix}/_cluster/{node}`: a cluster node's presence (retained).
    pub fn cluster(&self, node: &str) -> String {
        format!("{}/{CLUSTER}/{node}", self.prefix)
    }

    /// `{prefix}/_cluster/{node}/beat`.
    pub fn cluster_beat(&self, node: &str) -> String {
        format!("{}/{CLUSTER}/{node}/{BEAT}", self.prefix)
    }

    /// The node of a cluster presence topic `{prefix}/_cluster/{node}` (None for beats and
    /// other topics).
    pub fn cluster_node<'t>(&self, topic: &'t str) -> Option<&'t str> {
        let node = topic
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix('/')?
            .strip_prefix(CLUSTER)?
            .strip_prefix('/')?;
        (!node.is_empty() && !node.contains('/')).then_some(node)
    }

    /// The node of a beat topic `{prefix}/_cluster/{node}/beat`.
    pub fn cluster_beat_node<'t>(&self, topic: &'t str) -> Option<&'t str> {
        self.cluster_sub_node(topic, BEAT)
    }

    /// `{prefix}/_cluster/{node}/delta`: the changes of a node's state (QoS 1, not retained).
    pub fn cluster_delta(&self, node: &str) -> String {
        format!("{}/{CLUSTER}/{node}/{DELTA}", self.prefix)
    }

    /// `{prefix}/_cluster/{node}/state`: a node's full state, asked for (QoS 1, not retained).
    pub fn cluster_state(&self, node: &str) -> String {
        format!("{}/{CLUSTER}/{node}/{STATE}", self.prefix)
    }

    /// `{prefix}/_cluster/{node}/sync`: a request to `node` for its full state.
    pub fn cluster_sync(&self, node: &str) -> String {
        format!("{}/{CLUSTER}/{node}/{SYNC}", self.prefix)
    }

    /// The node and kind of a cluster topic `{prefix}/_cluster/{node}[/{kind}]`.
    pub fn cluster_topic<'t>(&self, topic: &'t str) -> Option<(&'t str, ClusterTopic)> {
        if let Some(node) = self.cluster_node(topic) {
            return Some((node, ClusterTopic::Presence));
        }
        [
            (BEAT, ClusterTopic::Beat),
            (DELTA, ClusterTopic::Delta),
            (STATE, ClusterTopic::State),
            (SYNC, ClusterTopic::Sync),
        ]
        .into_iter()
        .find_map(|(s, k)| self.cluster_sub_node(topic, s).map(|n| (n, k)))
    }

    fn cluster_sub_node<'t>(&self, topic: &'t str, kind: &str) -> Option<&'t str> {
        let node = topic
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix('/')?
            .strip_prefix(CLUSTER)?
            .strip_prefix('/')?
            .strip_suffix(kind)?
            .strip_suffix('/')?;
        (!node.is_empty() && !node.contains('/')).then_some(node)
    }

    /// Whether `topic` is a cluster topic (presence or beat).
    pub fn is_cluster(&self, topic: &str) -> bool {
        topic
            .strip_prefix(self.prefix.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .and_then(|r| r.strip_prefix(CLUSTER))
            .is_some_and(|r| r.starts_with('/'))
    }

    /// The subscriptions of the cluster: presences, beats, deltas, snapshots and requests.
    pub fn cluster_subscriptions(&self) -> [String; 5] {
        [
            format!("{}/{CLUSTER}/+", self.prefix),
            format!("{}/{CLUSTER}/+/{BEAT}", self.prefix),
            format!("{}/{CLUSTER}/+/{DELTA}", self.prefix),
            format!("{}/{CLUSTER}/+/{STATE}", self.prefix),
            format!("{}/{CLUSTER}/+/{SYNC}", self.prefix),
        ]
    }

    /// The subscriptions of commands: `{prefix}/+/+/+/command` and `{prefix}/+/+/command`.
    pub fn command_subscriptions(&self) -> [String; 2] {
        [
            format!("{}/+/+/+/{COMMAND}", self.prefix),
            format!("{}/+/+/{COMMAND}", self.prefix),
        ]
    }

    /// Our own retained RTU statuses, watched for spoofing: `{prefix}/+/status`.
    pub fn status_watch(&self) -> String {
        format!("{}/+/status", self.prefix)
    }

    /// Where audit records go when `audit_topic = true`: `{prefix}/_audit/{node}`.
    pub fn audit(&self, node: &str) -> String {
        format!("{}/_audit/{node}", self.prefix)
    }

    /// The command topic of `target`: `{data topic}/command`.
    pub fn command(&self, target: &CommandTarget) -> String {
        let mut t = self.data(&target.rtu, &target.point);
        t.push('/');
        t.push_str(COMMAND);
        t
    }

    /// The result topic of a command received on `command_topic`: `{command_topic}/result`.
    pub fn command_result(command_topic: &str) -> String {
        format!("{command_topic}/{RESULT}")
    }

    /// Whether `topic` is a command result (which the gateway ignores when it hears it).
    pub fn is_command_result(topic: &str) -> bool {
        topic.ends_with("/result")
    }

    /// The RTU level of a topic under the prefix (None elsewhere).
    pub fn rtu_of<'t>(&self, topic: &'t str) -> Option<&'t str> {
        let rest = topic
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix('/')?;
        rest.split('/').next()
    }

    /// Parses `{prefix}/{rtu}/{ca}/{ioa}/command` or `{prefix}/{rtu}/{name}/command`.
    pub fn parse_command(&self, topic: &str) -> Result<CommandTarget, TopicError> {
        let rest = topic
            .strip_prefix(self.prefix.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| TopicError::NotUnderPrefix(topic.to_owned()))?;
        let mut levels = rest.split('/');
        let parts = (
            levels.next(),
            levels.next(),
            levels.next(),
            levels.next(),
            levels.next(),
        );
        let (rtu, point) = match parts {
            (Some(rtu), Some(ca), Some(ioa), Some(COMMAND), None) => {
                match (ca.parse::<u16>(), ioa.parse::<u32>()) {
                    (Ok(ca_n), Ok(ioa_n)) if ioa_n <= MAX_IOA && digits(ca) && digits(ioa) => (
                        rtu,
                        PointRef::Address(Address {
                            ca: ca_n,
                            ioa: ioa_n,
                        }),
                    ),
                    _ => {
                        return Err(TopicError::BadAddress {
                            ca: ca.to_owned(),
                            ioa: ioa.to_owned(),
                        })
                    }
                }
            }
            (Some(rtu), Some(name), Some(COMMAND), None, None) => {
                (rtu, PointRef::Name(name.to_owned()))
            }
            _ => return Err(TopicError::NotCommand(topic.to_owned())),
        };
        if rtu.is_empty() {
            return Err(TopicError::NotCommand(topic.to_owned()));
        }
        Ok(CommandTarget {
            rtu: rtu.to_owned(),
            point,
        })
    }
}

/// A level of plain decimal digits (no sign: `+1` parses as a number but is no address).
fn digits(level: &str) -> bool {
    !level.is_empty() && level.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t() -> Topics {
        Topics::new("iec104")
    }

    #[test]
    fn topics_of_docs_gateway_md() {
        let t = t();
        let a = PointRef::Address(Address { ca: 1, ioa: 100 });
        assert_eq!(t.data("sub1", &a), "iec104/sub1/1/100");
        assert_eq!(
            t.data("sub1", &PointRef::Name("q1".into())),
            "iec104/sub1/q1"
        );
        assert_eq!(t.status("sub1"), "iec104/sub1/status");
        assert_eq!(t.standby("sub1", "gw-a"), "iec104/sub1/standby/gw-a");
        assert_eq!(t.presence("gw-a"), "iec104/_gateway/gw-a");
        assert_eq!(t.cluster("gw-a"), "iec104/_cluster/gw-a");
        assert_eq!(t.cluster_beat("gw-a"), "iec104/_cluster/gw-a/beat");
        assert_eq!(
            t.cluster_subscriptions(),
            [
                "iec104/_cluster/+",
                "iec104/_cluster/+/beat",
                "iec104/_cluster/+/delta",
                "iec104/_cluster/+/state",
                "iec104/_cluster/+/sync"
            ]
        );
        assert_eq!(
            t.cluster_topic("iec104/_cluster/gw-a/delta"),
            Some(("gw-a", ClusterTopic::Delta))
        );
        assert_eq!(
            t.cluster_topic("iec104/_cluster/gw-a"),
            Some(("gw-a", ClusterTopic::Presence))
        );
        assert_eq!(t.cluster_topic("iec104/_cluster/gw-a/other"), None);
        assert_eq!(t.cluster_sync("gw-b"), "iec104/_cluster/gw-b/sync");
        assert_eq!(
            t.command_subscriptions(),
            ["iec104/+/+/+/command", "iec104/+/+/command"]
        );
        let target = CommandTarget {
            rtu: "sub1".into(),
            point: a,
        };
        assert_eq!(t.command(&target), "iec104/sub1/1/100/command");
        assert_eq!(
            Topics::command_result("iec104/sub1/1/100/command"),
            "iec104/sub1/1/100/command/result"
        );
        assert_eq!(t.cluster_node("iec104/_cluster/gw-a"), Some("gw-a"));
        assert_eq!(t.cluster_node("iec104/_cluster/gw-a/beat"), None);
        assert_eq!(
            t.cluster_beat_node("iec104/_cluster/gw-a/beat"),
            Some("gw-a")
        );
        assert_eq!(t.cluster_beat_node("iec104/_cluster/gw-a"), None);
        assert_eq!(t.cluster_beat_node("iec104/_cluster//beat"), None);
        assert!(t.is_cluster("iec104/_cluster/gw-a/beat"));
        assert!(!t.is_cluster("iec104/_clusterx/gw-a"));
        assert_eq!(t.rtu_of("iec104/sub1/q1/command"), Some("sub1"));
        assert_eq!(t.rtu_of("other/sub1/q1/command"), None);
    }

    #[test]
    fn bad_command_topics() {
        let t = t();
        assert_eq!(
            t.parse_command("x/sub1/1/2/command"),
            Err(TopicError::NotUnderPrefix("x/sub1/1/2/command".into()))
        );
        assert_eq!(
            t.parse_command("iec104x/sub1/1/2/command"),
            Err(TopicError::NotUnderPrefix(
                "iec104x/sub1/1/2/command".into()
            ))
        );
        assert!(matches!(
            t.parse_command("iec104/sub1/1/2/3/command"),
            Err(TopicError::NotCommand(_))
        ));
        assert!(matches!(
            t.parse_command("iec104/sub1/command"),
            Err(TopicError::NotCommand(_))
        ));
        for bad in ["70000/1", "1/16777216", "+1/2", "1/-2", "a/2"] {
            assert!(
                matches!(
                    t.parse_command(&format!("iec104/sub1/{bad}/command")),
                    Err(TopicError::BadAddress { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            t.parse_command("iec104/sub1/65535/16777215/command"),
            Ok(CommandTarget {
                rtu: "sub1".into(),
                point: PointRef::Address(Address {
                    ca: 65535,
                    ioa: MAX_IOA
                })
            })
        );
    }

    /// A topic level the configuration allows for RTU and point names: 1..=128 octets of any
    /// character but `/`, `+`, `#` and NUL (config `topic_level_ok`).
    fn level() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            any::<char>().prop_filter("no separator or wildcard", |c| {
                !matches!(c, '/' | '+' | '#' | '\0')
            }),
            1..=32,
        )
        .prop_map(|v| v.into_iter().collect::<String>())
        .prop_filter("at most 128 octets", |s| s.len() <= 128)
    }

    proptest! {
        #[test]
        fn command_topics_round_trip(
            prefix in level(),
            rtu in level(),
            name in level().prop_filter("not a number, not status", |s| s != "status" && s.parse::<u32>().is_err()),
            ca in any::<u16>(),
            ioa in 0..=MAX_IOA,
        ) {
            let t = Topics::new(prefix);
            for point in [PointRef::Address(Address { ca, ioa }), PointRef::Name(name.clone())] {
                let target = CommandTarget { rtu: rtu.clone(), point };
                prop_assert_eq!(t.parse_command(&t.command(&target)), Ok(target));
            }
        }
    }
}

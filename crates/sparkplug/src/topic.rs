//! Sparkplug B topics: `spBv1.0/{group}/{type}/{edge}[/{device}]` and `spBv1.0/STATE/{host}`.

use std::fmt;

/// The namespace element of every Sparkplug B topic.
pub const NAMESPACE: &str = "spBv1.0";

/// Message types of the edge namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// Edge node birth.
    NBirth,
    /// Edge node death (the MQTT will).
    NDeath,
    /// Device birth.
    DBirth,
    /// Device death.
    DDeath,
    /// Edge node data.
    NData,
    /// Device data.
    DData,
    /// Command to the edge node.
    NCmd,
    /// Command to a device.
    DCmd,
}

impl MessageType {
    const ALL: [MessageType; 8] = [
        MessageType::NBirth,
        MessageType::NDeath,
        MessageType::DBirth,
        MessageType::DDeath,
        MessageType::NData,
        MessageType::DData,
        MessageType::NCmd,
        MessageType::DCmd,
    ];

    /// The topic element, e.g. `"NBIRTH"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            MessageType::NBirth => "NBIRTH",
            MessageType::NDeath => "NDEATH",
            MessageType::DBirth => "DBIRTH",
            MessageType::DDeath => "DDEATH",
            MessageType::NData => "NDATA",
            MessageType::DData => "DDATA",
            MessageType::NCmd => "NCMD",
            MessageType::DCmd => "DCMD",
        }
    }

    /// True for the types addressed to a device (a topic with a device id).
    pub const fn is_device(self) -> bool {
        matches!(
            self,
            MessageType::DBirth | MessageType::DDeath | MessageType::DData | MessageType::DCmd
        )
    }

    fn parse(s: &str) -> Option<MessageType> {
        MessageType::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// Why a topic or an id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// An id (group, edge node, device, host) is empty or holds a character MQTT topics
    /// reserve.
    #[error("{what} {value:?} is not a valid Sparkplug id: it must be non-empty and hold none of '/', '+', '#' or NUL")]
    BadId {
        /// Which id.
        what: &'static str,
        /// The refused value.
        value: String,
    },
    /// The topic does not have the shape of a Sparkplug B topic.
    #[error("topic {0:?} is not a Sparkplug B topic: expected spBv1.0/GROUP/TYPE/EDGE[/DEVICE] or spBv1.0/STATE/HOST")]
    NotSparkplug(String),
}

/// Checks one id of the topic namespace (Sparkplug 3.0 §4.1.1: UTF-8, none of `/ + #`).
pub fn validate_id(what: &'static str, value: &str) -> Result<(), TopicError> {
    if value.is_empty() || value.contains(['/', '+', '#', '\0']) {
        return Err(TopicError::BadId {
            what,
            value: value.to_owned(),
        });
    }
    Ok(())
}

/// A Sparkplug B topic, built from checked ids or parsed from a received topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    /// A message of the edge namespace.
    Edge {
        /// Group id.
        group: String,
        /// Message type.
        message: MessageType,
        /// Edge node id.
        edge_node: String,
        /// Device id: present exactly for the device message types.
        device: Option<String>,
    },
    /// The primary host application's state.
    State {
        /// Host application id.
        host: String,
    },
}

impl Topic {
    /// An edge node topic (NBIRTH, NDEATH, NDATA, NCMD).
    pub fn node(group: &str, message: MessageType, edge_node: &str) -> Result<Topic, TopicError> {
        validate_id("group_id", group)?;
        validate_id("edge_node_id", edge_node)?;
        if message.is_device() {
            return Err(TopicError::NotSparkplug(format!(
                "{NAMESPACE}/{group}/{}/{edge_node}",
                message.as_str()
            )));
        }
        Ok(Topic::Edge {
            group: group.to_owned(),
            message,
            edge_node: edge_node.to_owned(),
            device: None,
        })
    }

    /// A device topic (DBIRTH, DDEATH, DDATA, DCMD).
    pub fn device(
        group: &str,
        message: MessageType,
        edge_node: &str,
        device: &str,
    ) -> Result<Topic, TopicError> {
        validate_id("group_id", group)?;
        validate_id("edge_node_id", edge_node)?;
        validate_id("device_id", device)?;
        if !message.is_device() {
            return Err(TopicError::NotSparkplug(format!(
                "{NAMESPACE}/{group}/{}/{edge_node}/{device}",
                message.as_str()
            )));
        }
        Ok(Topic::Edge {
            group: group.to_owned(),
            message,
            edge_node: edge_node.to_owned(),
            device: Some(device.to_owned()),
        })
    }

    /// The primary host's STATE topic.
    pub fn state(host: &str) -> Result<Topic, TopicError> {
        validate_id("host_id", host)?;
        Ok(Topic::State {
            host: host.to_owned(),
        })
    }

    /// Parses a received topic.
    pub fn parse(topic: &str) -> Result<Topic, TopicError> {
        let bad = || TopicError::NotSparkplug(topic.to_owned());
        let parts: Vec<&str> = topic.split('/').collect();
        match parts.as_slice() {
            [NAMESPACE, "STATE", host] => Topic::state(host).map_err(|_| bad()),
            [NAMESPACE, group, kind, edge] => {
                let message = MessageType::parse(kind).ok_or_else(bad)?;
                Topic::node(group, message, edge).map_err(|_| bad())
            }
            [NAMESPACE, group, kind, edge, device] => {
                let message = MessageType::parse(kind).ok_or_else(bad)?;
                Topic::device(group, message, edge, device).map_err(|_| bad())
            }
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::Edge {
                group,
                message,
                edge_node,
                device,
            } => {
                write!(f, "{NAMESPACE}/{group}/{}/{edge_node}", message.as_str())?;
                if let Some(d) = device {
                    write!(f, "/{d}")?;
                }
                Ok(())
            }
            Topic::State { host } => write!(f, "{NAMESPACE}/STATE/{host}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn topics_are_written_as_the_specification_shows() {
        let t = Topic::node("G", MessageType::NBirth, "E").map(|t| t.to_string());
        assert_eq!(t.as_deref(), Ok("spBv1.0/G/NBIRTH/E"));
        let t = Topic::device("G", MessageType::DCmd, "E", "D").map(|t| t.to_string());
        assert_eq!(t.as_deref(), Ok("spBv1.0/G/DCMD/E/D"));
        assert_eq!(
            Topic::state("scada").map(|t| t.to_string()).as_deref(),
            Ok("spBv1.0/STATE/scada")
        );
    }

    #[test]
    fn reserved_characters_and_empty_ids_are_refused() {
        for bad in ["", "a/b", "a+", "#", "x\0"] {
            assert!(matches!(
                Topic::node(bad, MessageType::NData, "E"),
                Err(TopicError::BadId {
                    what: "group_id",
                    ..
                })
            ));
            assert!(Topic::device("G", MessageType::DData, "E", bad).is_err());
            assert!(Topic::state(bad).is_err());
        }
    }

    #[test]
    fn node_types_have_no_device_and_device_types_need_one() {
        assert!(Topic::node("G", MessageType::DBirth, "E").is_err());
        assert!(Topic::device("G", MessageType::NBirth, "E", "D").is_err());
        assert!(Topic::parse("spBv1.0/G/NDATA/E/D").is_err());
        assert!(Topic::parse("spBv1.0/G/DDATA/E").is_err());
    }

    #[test]
    fn foreign_topics_are_refused() {
        for t in [
            "spAv1.0/G/NDATA/E",
            "spBv1.0/G/XDATA/E",
            "spBv1.0/G",
            "spBv1.0/STATE/a/b",
            "spBv1.0//NDATA/E",
            "",
        ] {
            assert_eq!(
                Topic::parse(t),
                Err(TopicError::NotSparkplug(t.to_owned())),
                "{t}"
            );
        }
    }

    fn id() -> impl Strategy<Value = String> {
        "[^/+#\u{0}]{1,12}"
    }

    proptest! {
        #[test]
        fn every_topic_reads_back(g in id(), e in id(), d in id(), k in 0usize..8) {
            let m = MessageType::ALL[k];
            let t = if m.is_device() { Topic::device(&g, m, &e, &d) } else { Topic::node(&g, m, &e) };
            let t = t.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(Topic::parse(&t.to_string()), Ok(t));
        }

        #[test]
        fn every_state_topic_reads_back(h in id()) {
            let t = Topic::state(&h).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(Topic::parse(&t.to_string()), Ok(t));
        }
    }
}

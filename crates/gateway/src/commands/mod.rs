//! Commands from MQTT: `{prefix}/{rtu}/{ca}/{ioa}/command` (or `{prefix}/{rtu}/{name}/command`)
//! carrying an `iec104::json::CommandRequest`. The router checks the topic, the configuration
//! (deny by default) and the request, then hands a [`CommandJob`] to the RTU's session. Every
//! outcome is published on `.../command/result`; a bad command is answered `invalid`, never
//! ignored.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use iec104::json::CommandRequest;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use crate::config::Rtu;
use crate::contract::command::result_message;
use crate::model::{CommandJob, Direct, Incoming, Message, Metrics, Role};

fn error_fields(error: impl Into<String>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("error".into(), Value::String(error.into()));
    m
}

/// Routes command messages to RTU sessions.
#[derive(Debug)]
pub struct Router {
    /// Topic prefix.
    pub prefix: String,
    /// RTUs by name with their sessions' command queues.
    pub rtus: HashMap<String, (Arc<Rtu>, mpsc::Sender<CommandJob>)>,
    /// Results (published without storing).
    pub results: mpsc::Sender<Direct>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The status page's live view (gets the refusals made here).
    pub live: Arc<crate::model::live::LiveView>,
    /// Cluster mode: the role of each RTU's session. A refusal for an RTU this node does not
    /// carry is left to the node that carries it (one answer per command).
    pub roles: Option<HashMap<String, tokio::sync::watch::Receiver<Role>>>,
}

/// Payloads larger than this are refused without parsing.
const MAX_COMMAND: usize = 4096;

impl Router {
    /// A refusal made here (invalid, not allowed, busy) in the status page's command log.
    fn log_refusal(&self, topic: &str, result: &Message) {
        let v: Value = serde_json::from_slice(&result.payload).unwrap_or(Value::Null);
        let text = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let point = topic
            .strip_prefix(&format!("{}/", self.prefix))
            .and_then(|rest| rest.strip_suffix("/command"))
            .and_then(|rest| rest.split_once('/'))
            .map(|(_, p)| p.to_owned())
            .unwrap_or_default();
        self.live.command(crate::model::live::CommandRow {
            seq: 0,
            at_ms: crate::model::live::now_ms(),
            rtu: text("rtu"),
            point,
            command: text("type"),
            id: text("id"),
            outcome: text("status"),
            detail: text("error"),
        });
    }

    /// Handles incoming command messages until the channel closes.
    pub async fn run(self, mut rx: mpsc::Receiver<Incoming>) {
        while let Some(m) = rx.recv().await {
            if let Some(result) = self.handle(&m) {
                if !self.answers_for(&m.topic) {
                    tracing::debug!(topic = %m.topic, "command refusal left to the node carrying the RTU");
                    continue;
                }
                self.log_refusal(&m.topic, &result);
                let direct = Direct {
                    message: result,
                    correlation: m.correlation.clone(),
                };
                if self.results.try_send(direct).is_err() {
                    tracing::warn!(topic = %m.topic, "result queue full: command result dropped");
                }
            }
        }
    }

    /// Cluster mode: whether this node answers for the RTU named in `topic` (it carries it, or
    /// the RTU is unknown, which every node answers alike).
    fn answers_for(&self, topic: &str) -> bool {
        let Some(roles) = &self.roles else {
            return true;
        };
        let rtu = topic
            .strip_prefix(&format!("{}/", self.prefix))
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default();
        roles.get(rtu).map_or(true, |r| *r.borrow() == Role::Active)
    }

    /// Checks one command; returns its `invalid`/`rejected` result, or None when it was
    /// handed to the session (which publishes the outcome).
    pub fn handle(&self, m: &Incoming) -> Option<Message> {
        if m.topic.ends_with("/result") {
            return None;
        }
        self.metrics.command();
        let result_topic = m
            .response_topic
            .clone()
            .filter(|t| !t.is_empty() && !t.contains(['+', '#']))
            .unwrap_or_else(|| format!("{}/result", m.topic));
        let parsed: Option<Value> = if m.payload.len() <= MAX_COMMAND {
            serde_json::from_slice(&m.payload).ok()
        } else {
            None
        };
        let id = parsed
            .as_ref()
            .and_then(|v| v.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let invalid = |e: String| {
            Some(result_message(
                &result_topic,
                id.as_deref(),
                "invalid",
                error_fields(e),
            ))
        };
        let Some(rest) = m.topic.strip_prefix(&format!("{}/", self.prefix)) else {
            return invalid(format!("topic {:?} is not under the prefix", m.topic));
        };
        let levels: Vec<&str> = rest.split('/').collect();
        let (rtu_name, target) = match levels.as_slice() {
            [rtu, ca, ioa, "command"] => (*rtu, Ok((*ca, *ioa))),
            [rtu, name, "command"] => (*rtu, Err(*name)),
            _ => {
                return invalid(format!(
                "topic {:?}: expected {{rtu}}/{{ca}}/{{ioa}}/command or {{rtu}}/{{name}}/command",
                m.topic
            ))
            }
        };
        let Some((rtu, jobs)) = self.rtus.get(rtu_name) else {
            return invalid(format!("unknown rtu {rtu_name:?}"));
        };
        let (ca, ioa) = match target {
            Ok((ca, ioa)) => match (ca.parse::<u16>(), ioa.parse::<u32>()) {
                (Ok(ca), Ok(ioa)) if ioa <= 0xFF_FFFF => (ca, ioa),
                _ => return invalid(format!("ca {ca:?} / ioa {ioa:?} are not addresses")),
            },
            Err(name) => match rtu.names.get(name) {
                Some(addr) => *addr,
                None => return invalid(format!("unknown point name {name:?} of rtu {rtu_name:?}")),
            },
        };
        let mut base = Map::new();
        base.insert("rtu".into(), json!(rtu.name));
        base.insert("ca".into(), json!(ca));
        base.insert("ioa".into(), json!(ioa));
        if !rtu.points.get(&(ca, ioa)).is_some_and(|p| p.commands) {
            let mut f = base;
            f.insert(
                "error".into(),
                json!("commands are not allowed for this point by the configuration"),
            );
            return Some(result_message(&result_topic, id.as_deref(), "rejected", f));
        }
        let Some(value) = parsed else {
            return invalid(if m.payload.len() > MAX_COMMAND {
                format!(
                    "payload of {} octets is too large (at most {MAX_COMMAND})",
                    m.payload.len()
                )
            } else {
                "payload is not JSON".to_owned()
            });
        };
        let request: CommandRequest = match serde_json::from_value(value) {
            Ok(r) => r,
            Err(e) => return invalid(format!("not a command request: {e}")),
        };
        if request.ca.is_some_and(|c| c != ca) || request.ioa.is_some_and(|i| i != ioa) {
            return invalid("ca/ioa in the payload differ from the topic".to_owned());
        }
        let checked = request.to_element(false, Utc::now()).and_then(|_| {
            if request.select {
                request.to_element(true, Utc::now())
            } else {
                Ok(iec104::asdu::Element::C_RD_NA_1)
            }
        });
        if let Err(e) = checked {
            return invalid(e.to_string());
        }
        let job = CommandJob {
            ca,
            ioa,
            request,
            result_topic: result_topic.clone(),
            correlation: m.correlation.clone(),
            received: std::time::Instant::now(),
        };
        match jobs.try_send(job) {
            Ok(()) => None,
            Err(_) => {
                let mut f = base;
                f.insert(
                    "error".into(),
                    json!("the RTU session is busy with other commands"),
                );
                Some(result_message(&result_topic, id.as_deref(), "rejected", f))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    fn router() -> (Router, mpsc::Receiver<CommandJob>) {
        let text = "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n[[rtu]]\nname = \"north\"\naddress = \"127.0.0.1:2404\"\ncommon_address = 1\n[[rtu.point]]\nioa = 100\ncommands = true\nname = \"q1\"\n[[rtu.point]]\nioa = 101\n";
        let rtu = Arc::new(config::parse(text, "t").unwrap().rtus.remove(0));
        let (tx, rx) = mpsc::channel(4);
        let (results, _) = mpsc::channel(4);
        let mut rtus = HashMap::new();
        rtus.insert("north".to_owned(), (rtu, tx));
        (
            Router {
                prefix: "iec104".into(),
                rtus,
                results,
                metrics: Arc::default(),
                live: Arc::new(crate::model::live::LiveView::new("n", [], 10, 10)),
                roles: None,
            },
            rx,
        )
    }

    #[test]
    fn in_a_cluster_only_the_carrying_node_answers() {
        let (mut r, _jobs) = router();
        let (tx, rx) = tokio::sync::watch::channel(Role::Standby);
        r.roles = Some(HashMap::from([("north".to_owned(), rx)]));
        assert!(!r.answers_for("iec104/north/1/101/command"));
        // Unknown RTUs are answered by every node alike.
        assert!(r.answers_for("iec104/south/1/101/command"));
        tx.send(Role::Active).unwrap();
        assert!(r.answers_for("iec104/north/1/101/command"));
        r.roles = None;
        let _ = tx.send(Role::Off);
        assert!(r.answers_for("iec104/north/1/101/command"));
    }

    fn incoming(topic: &str, payload: &str) -> Incoming {
        Incoming {
            topic: topic.into(),
            payload: bytes::Bytes::copy_from_slice(payload.as_bytes()),
            response_topic: None,
            correlation: None,
        }
    }

    fn status(m: &Message) -> (String, Value) {
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        (v["status"].as_str().unwrap().to_owned(), v)
    }

    #[test]
    fn allowed_command_goes_to_the_session() {
        let (r, mut rx) = router();
        assert!(r
            .handle(&incoming(
                "iec104/north/1/100/command",
                r#"{"type":"C_DC_NA_1","value":"on","select":true,"id":"op-17"}"#
            ))
            .is_none());
        let job = rx.try_recv().unwrap();
        assert_eq!((job.ca, job.ioa), (1, 100));
        assert_eq!(job.result_topic, "iec104/north/1/100/command/result");
        // By name too.
        assert!(r
            .handle(&incoming(
                "iec104/north/q1/command",
                r#"{"type":"C_SC_NA_1","value":true}"#
            ))
            .is_none());
        assert_eq!(rx.try_recv().unwrap().ioa, 100);
        // MQTT v5: the response topic and correlation data go with the job.
        let mut m = incoming(
            "iec104/north/1/100/command",
            r#"{"type":"C_SC_NA_1","value":true}"#,
        );
        m.response_topic = Some("replies/me".into());
        m.correlation = Some(bytes::Bytes::from_static(b"c-1"));
        assert!(r.handle(&m).is_none());
        let job = rx.try_recv().unwrap();
        assert_eq!(job.result_topic, "replies/me");
        assert_eq!(job.correlation.as_deref(), Some(&b"c-1"[..]));
    }

    #[test]
    fn denied_by_default() {
        let (r, _rx) = router();
        let m = r
            .handle(&incoming(
                "iec104/north/1/101/command",
                r#"{"type":"C_SC_NA_1","value":true,"id":"x"}"#,
            ))
            .unwrap();
        let (s, v) = status(&m);
        assert_eq!(s, "rejected");
        assert_eq!(v["id"], "x");
        assert!(v["error"].as_str().unwrap().contains("not allowed"));
    }

    #[test]
    fn malformed_is_invalid_with_reason() {
        let (r, _rx) = router();
        for (payload, reason) in [
            ("not json", "not JSON"),
            (r#"{"value":1}"#, "missing field `type`"),
            (
                r#"{"type":"C_DC_NA_1","value":"maybe","id":"a"}"#,
                "value must be one of",
            ),
            (r#"{"type":"C_BO_NA_1","value":1,"select":true}"#, "select"),
        ] {
            let m = r
                .handle(&incoming("iec104/north/1/100/command", payload))
                .unwrap();
            let (s, v) = status(&m);
            assert_eq!(s, "invalid", "{payload}");
            assert!(
                v["error"].as_str().unwrap().contains(reason),
                "{payload}: {v}"
            );
        }
        let m = r
            .handle(&incoming("iec104/nobody/1/100/command", "{}"))
            .unwrap();
        assert!(status(&m).1["error"]
            .as_str()
            .unwrap()
            .contains("unknown rtu"));
    }
}

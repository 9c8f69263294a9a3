//! Commands from MQTT: `{prefix}/{rtu}/{ca}/{ioa}/command` (or `{prefix}/{rtu}/{name}/command`)
//! carrying an `iec104::json::CommandRequest`. The router checks the topic, the configuration
//! (deny by default, per-point limits) and the request, then hands a [`CommandJob`] to the
//! RTU's session. Every request gets exactly one answer from here or from the session: a
//! bad command is answered `invalid`, a refused one `rejected`, never ignored. Results are
//! queued with back-pressure (the router waits; the broker holds further commands until
//! this one is acknowledged), never dropped. Every request and every refusal is audited.

mod policy;
pub mod sparkplug;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use iec104::json::CommandRequest;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::config::Rtu;
use crate::contract::audit::{Audit, Record};
use crate::contract::{
    CommandResult, CommandStatus, PointRef, ResultDetail, ResultPoint, TopicError, Topics,
};
use crate::model::{CommandJob, Direct, Incoming, Message, Metrics, Role};
use policy::{LogLimiter, OwnTopics, RateLimiter, ResultTopic};

/// Routes command messages to RTU sessions.
#[derive(Debug)]
pub struct Router {
    /// The topics (command topics are parsed with them).
    pub topics: Topics,
    /// MQTT 5 response topics are honoured only under this prefix.
    pub response_prefix: String,
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
    /// Cluster mode: what this node answers beyond the RTUs it carries (commands for unknown
    /// RTU names, and for RTUs no live node reaches whose `unowned` status it publishes).
    pub duty: Option<tokio::sync::watch::Receiver<crate::model::Duty>>,
    /// The audit trail.
    pub audit: Audit,
    /// Per-point command rates (`max_rate`).
    pub rates: RateLimiter,
    /// Refusal warnings, at most one per interval.
    pub refusal_log: LogLimiter,
    /// Commands written by Sparkplug hosts (`[sparkplug]`), checked like the JSON ones.
    pub sparkplug: Option<mpsc::Receiver<sparkplug::SparkplugCommand>>,
}

/// The next Sparkplug command, or forever when there is no such queue.
async fn next_sparkplug(
    rx: &mut Option<mpsc::Receiver<sparkplug::SparkplugCommand>>,
) -> Option<sparkplug::SparkplugCommand> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Payloads larger than this are refused without parsing.
const MAX_COMMAND: usize = 4096;

/// A command refused by the router: its status, the point once known, and why.
#[derive(Debug)]
struct Refusal {
    status: CommandStatus,
    point: Option<(String, u16, u32)>,
    error: String,
}

/// What the router makes of one command.
#[derive(Debug)]
pub struct Outcome {
    /// The immediate `invalid`/`rejected` result, or None when a session took the command.
    pub result: Option<Message>,
    /// What to audit about the request.
    pub audit: AuditFields,
}

/// The audited facts of a request, filled as far as the router got.
#[derive(Debug, Default)]
pub struct AuditFields {
    rtu: Option<String>,
    point: Option<(u16, u32)>,
    request: Option<CommandRequest>,
    status: Option<&'static str>,
    reason: Option<String>,
}

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
            .strip_prefix(&format!("{}/", self.topics.prefix()))
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

    /// A router with empty rate windows.
    pub fn new(
        topics: Topics,
        response_prefix: String,
        rtus: HashMap<String, (Arc<Rtu>, mpsc::Sender<CommandJob>)>,
        results: mpsc::Sender<Direct>,
        metrics: Arc<Metrics>,
        live: Arc<crate::model::live::LiveView>,
    ) -> Router {
        Router {
            topics,
            response_prefix,
            rtus,
            results,
            metrics,
            live,
            roles: None,
            duty: None,
            audit: Audit::default(),
            rates: RateLimiter::default(),
            refusal_log: LogLimiter::new(Duration::from_secs(10)),
            sparkplug: None,
        }
    }

    /// Handles incoming command messages until the channel closes. Each message is
    /// acknowledged to the broker only once its result is queued or a session took it.
    /// Sparkplug commands are taken in turn with them.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Incoming>) {
        let mut sparkplug = self.sparkplug.take();
        loop {
            tokio::select! {
                m = rx.recv() => match m {
                    Some(m) => self.incoming(m).await,
                    None => return,
                },
                c = next_sparkplug(&mut sparkplug) => match c {
                    Some(c) => self.sparkplug_command(c).await,
                    None => sparkplug = None,
                },
            }
        }
    }

    /// One command message from the broker.
    async fn incoming(&mut self, m: Incoming) {
        if Topics::is_command_result(&m.topic) {
            return;
        }
        let outcome = self.handle(&m);
        let answers = self.answers_for(&m.topic);
        self.audit_request(&m, &outcome.audit, answers).await;
        let Some(result) = outcome.result else {
            return;
        };
        if !answers {
            tracing::debug!(topic = %m.topic, "command refusal left to the node carrying the RTU");
            return;
        }
        self.log_refusal(&m.topic, &result);
        if let Some(held) = self.refusal_log.allow(Instant::now()) {
            tracing::warn!(topic = %m.topic, status = outcome.audit.status.unwrap_or(""), reason = outcome.audit.reason.as_deref().unwrap_or(""), held_back = held, "command refused");
        }
        let direct = Direct {
            message: result,
            correlation: m.correlation.clone(),
        };
        if self.results.send(direct).await.is_err() {
            tracing::debug!("publisher gone: command result not published");
        }
        // `m.ack` is dropped here: the broker may send the next command.
    }

    /// Writes the audit line of a request (and publishes it when an audit topic is set).
    async fn audit_request(&self, m: &Incoming, a: &AuditFields, answers: bool) {
        if !answers {
            return;
        }
        let req = a.request.as_ref();
        let record = Record {
            event: "request",
            topic: &m.topic,
            rtu: a.rtu.as_deref(),
            point: a.point,
            kind: req.map(|r| r.type_name.as_str()),
            value: req.map(|r| &r.value),
            select: req.map(|r| r.select),
            id: req.and_then(|r| r.id.as_deref()),
            sender: m.sender.as_deref(),
            status: a.status,
            reason: a.reason.as_deref(),
        };
        if let Some(msg) = self.audit.record(&record) {
            let _ = self
                .results
                .send(Direct {
                    message: msg,
                    correlation: None,
                })
                .await;
        }
    }

    /// Cluster mode: whether this node answers for the RTU named in `topic`: it carries it, or
    /// no live node does and its `unowned` status is ours, or the RTU is not configured and we
    /// are the live node with the smallest id (one answer per command in each case).
    fn answers_for(&self, topic: &str) -> bool {
        let Some(roles) = &self.roles else {
            return true;
        };
        let rtu = self.topics.rtu_of(topic).unwrap_or_default();
        let duty = self.duty.as_ref().map(|d| d.borrow().clone());
        match roles.get(rtu) {
            None => duty.map_or(true, |d| d.unknown),
            Some(r) => *r.borrow() == Role::Active || duty.is_some_and(|d| d.orphans.contains(rtu)),
        }
    }

    /// Cluster mode: whether no live node carries `rtu` and we answer for it.
    fn orphaned(&self, rtu: &str) -> bool {
        self.duty
            .as_ref()
            .is_some_and(|d| d.borrow().orphans.contains(rtu))
    }

    /// The result topic of `m` (see [`policy::result_topic`]).
    fn result_topic(&self, m: &Incoming) -> ResultTopic {
        let names: Vec<String> = self.rtus.keys().cloned().collect();
        policy::result_topic(
            &m.topic,
            m.response_topic.as_deref(),
            m.correlation.as_deref(),
            &self.response_prefix,
            &OwnTopics {
                prefix: self.topics.prefix(),
                rtus: &names,
            },
        )
    }

    /// Checks one command; returns its `invalid`/`rejected` result (None when it was
    /// handed to the session, which publishes the outcome) and what to audit.
    pub fn handle(&mut self, m: &Incoming) -> Outcome {
        self.metrics.command();
        let rt = self.result_topic(m);
        let mut audit = AuditFields::default();
        let parsed: Option<Value> = if m.size <= MAX_COMMAND {
            serde_json::from_slice(&m.payload).ok()
        } else {
            None
        };
        let id = parsed
            .as_ref()
            .and_then(|v| v.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let result = match self.check(m, parsed, &rt, &mut audit) {
            Ok(()) => None,
            Err(refusal) => {
                audit.status = Some(refusal.status.as_str());
                audit.reason = Some(refusal.error.clone());
                let point = refusal.point.as_ref().map(|(rtu, ca, ioa)| ResultPoint {
                    rtu,
                    ca: *ca,
                    ioa: *ioa,
                });
                let detail = ResultDetail {
                    response_topic_refused: rt.refused.clone(),
                    ..ResultDetail::error(refusal.error.clone())
                };
                Some(
                    CommandResult::new(id.as_deref(), refusal.status, point, detail)
                        .message(&rt.topic),
                )
            }
        };
        Outcome { result, audit }
    }

    /// The checks of [`Router::handle`]: Ok when a session took the job, else the refusal.
    fn check(
        &mut self,
        m: &Incoming,
        parsed: Option<Value>,
        rt: &ResultTopic,
        audit: &mut AuditFields,
    ) -> Result<(), Refusal> {
        let invalid = |e: String| Refusal {
            status: CommandStatus::Invalid,
            point: None,
            error: e,
        };
        let target = match self.topics.parse_command(&m.topic) {
            Ok(t) => t,
            Err(e @ (TopicError::NotUnderPrefix(_) | TopicError::NotCommand(_))) => {
                return Err(invalid(e.to_string()))
            }
            Err(e @ TopicError::BadAddress { .. }) => {
                // The RTU is checked first: an unknown RTU is named as such.
                return Err(match self.topics.rtu_of(&m.topic) {
                    Some(r) if !self.rtus.contains_key(r) => invalid(format!("unknown rtu {r:?}")),
                    _ => invalid(e.to_string()),
                });
            }
        };
        let rtu_name = target.rtu.as_str();
        let Some((rtu, jobs)) = self.rtus.get(rtu_name) else {
            return Err(invalid(format!("unknown rtu {rtu_name:?}")));
        };
        audit.rtu = Some(rtu.name.clone());
        let (ca, ioa) = match &target.point {
            PointRef::Address(a) => (a.ca, a.ioa),
            PointRef::Name(name) => match rtu.names.get(name) {
                Some(addr) => *addr,
                None => {
                    return Err(invalid(format!(
                        "unknown point name {name:?} of rtu {rtu_name:?}"
                    )))
                }
            },
        };
        audit.point = Some((ca, ioa));
        let rejected = |why: String| Refusal {
            status: CommandStatus::Rejected,
            point: Some((rtu.name.clone(), ca, ioa)),
            error: why,
        };
        let Some(point) = rtu.points.get(&(ca, ioa)).filter(|p| p.commands) else {
            return Err(rejected(
                "commands are not allowed for this point by the configuration".to_owned(),
            ));
        };
        let Some(value) = parsed else {
            return Err(invalid(if m.size > MAX_COMMAND {
                format!(
                    "payload of {} octets is too large (at most {MAX_COMMAND})",
                    m.size
                )
            } else {
                "payload is not JSON".to_owned()
            }));
        };
        let request: CommandRequest = match serde_json::from_value(value) {
            Ok(r) => r,
            Err(e) => return Err(invalid(format!("not a command request: {e}"))),
        };
        audit.request = Some(request.clone());
        if request.ca.is_some_and(|c| c != ca) || request.ioa.is_some_and(|i| i != ioa) {
            return Err(invalid(
                "ca/ioa in the payload differ from the topic".to_owned(),
            ));
        }
        let checked = request.to_element(false, Utc::now()).and_then(|_| {
            if request.select {
                request.to_element(true, Utc::now())
            } else {
                Ok(iec104::asdu::Element::C_RD_NA_1)
            }
        });
        if let Err(e) = checked {
            return Err(invalid(e.to_string()));
        }
        if self.orphaned(rtu_name) {
            return Err(rejected(crate::model::no_carrier(rtu_name)));
        }
        if let Some(why) = policy::check_limits(&point.limits, &request) {
            return Err(rejected(why));
        }
        if let Some(per_minute) = point.limits.max_rate {
            if !self
                .rates
                .admit((&rtu.name, ca, ioa), per_minute, Instant::now())
            {
                return Err(rejected(format!(
                    "more than {per_minute} commands per minute for this point (max_rate)"
                )));
            }
        }
        let job = CommandJob {
            ca,
            ioa,
            request,
            result_topic: rt.topic.clone(),
            correlation: m.correlation.clone(),
            response_topic_refused: rt.refused.clone(),
            sender: m.sender.clone(),
            received: std::time::Instant::now(),
            reply: None,
        };
        jobs.try_send(job)
            .map_err(|_| rejected("the RTU session is busy with other commands".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    fn router() -> (Router, mpsc::Receiver<CommandJob>) {
        let text = "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n[[rtu]]\nname = \"north\"\naddress = \"127.0.0.1:2404\"\ncommon_address = 1\n[[rtu.point]]\nioa = 100\ncommands = true\nname = \"q1\"\n[[rtu.point]]\nioa = 101\n[[rtu.point]]\nioa = 102\ncommands = true\nselect_required = true\nmax_rate = 2\nmin = 0.0\nmax = 10.0\n";
        let rtu = Arc::new(config::parse(text, "t").unwrap().rtus.remove(0));
        let (tx, rx) = mpsc::channel(4);
        let (results, _) = mpsc::channel(4);
        let mut rtus = HashMap::new();
        rtus.insert("north".to_owned(), (rtu, tx));
        (
            Router::new(
                Topics::new("iec104"),
                "iec104/_response/".into(),
                rtus,
                results,
                Arc::default(),
                Arc::new(crate::model::live::LiveView::new("n", [], 10, 10)),
            ),
            rx,
        )
    }

    #[test]
    fn in_a_cluster_only_the_carrying_node_answers() {
        let (mut r, _jobs) = router();
        let (tx, rx) = tokio::sync::watch::channel(Role::Standby);
        r.roles = Some(HashMap::from([("north".to_owned(), rx)]));
        assert!(!r.answers_for("iec104/north/1/101/command"));
        // Without duties from a cluster task, unknown RTUs are answered here.
        assert!(r.answers_for("iec104/south/1/101/command"));
        tx.send(Role::Active).unwrap();
        assert!(r.answers_for("iec104/north/1/101/command"));
        r.roles = None;
        let _ = tx.send(Role::Off);
        assert!(r.answers_for("iec104/north/1/101/command"));
    }

    #[test]
    fn unknown_rtus_and_orphans_are_answered_by_the_node_on_duty_only() {
        let (mut r, mut jobs) = router();
        let (_roles_tx, roles_rx) = tokio::sync::watch::channel(Role::Standby);
        r.roles = Some(HashMap::from([("north".to_owned(), roles_rx)]));
        let (duty_tx, duty_rx) = tokio::sync::watch::channel(crate::model::Duty::default());
        r.duty = Some(duty_rx);
        // Not on duty: neither the unknown RTU nor the RTU carried elsewhere.
        assert!(!r.answers_for("iec104/south/1/101/command"));
        assert!(!r.answers_for("iec104/north/1/100/command"));
        // On duty for unknown names (the live node with the smallest id).
        duty_tx.send_modify(|d| d.unknown = true);
        assert!(r.answers_for("iec104/south/1/101/command"));
        assert!(!r.answers_for("iec104/north/1/100/command"));
        // north orphaned and ours: answered here, rejected with the reason, not sent on.
        duty_tx.send_modify(|d| {
            d.orphans.insert("north".into());
        });
        assert!(r.answers_for("iec104/north/1/100/command"));
        let out = r.handle(&incoming(
            "iec104/north/1/100/command",
            r#"{"type":"C_SC_NA_1","value":true,"id":"o-1"}"#,
        ));
        let (st, v) = status(&out.result.unwrap());
        assert_eq!(st, "rejected");
        assert_eq!(v["error"], "no node carries rtu north");
        assert!(jobs.try_recv().is_err());
        // An invalid command for it is still answered invalid.
        let out = r.handle(&incoming("iec104/north/1/100/command", "{nope"));
        assert_eq!(status(&out.result.unwrap()).0, "invalid");
    }

    fn incoming(topic: &str, payload: &str) -> Incoming {
        Incoming::new(
            topic.into(),
            &bytes::Bytes::copy_from_slice(payload.as_bytes()),
        )
    }

    fn status(m: &Message) -> (String, Value) {
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        (v["status"].as_str().unwrap().to_owned(), v)
    }

    #[test]
    fn allowed_command_goes_to_the_session() {
        let (mut r, mut rx) = router();
        assert!(r
            .handle(&incoming(
                "iec104/north/1/100/command",
                r#"{"type":"C_DC_NA_1","value":"on","select":true,"id":"op-17"}"#
            ))
            .result
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
            .result
            .is_none());
        assert_eq!(rx.try_recv().unwrap().ioa, 100);
        // MQTT v5: the response topic and correlation data go with the job.
        let mut m = incoming(
            "iec104/north/1/100/command",
            r#"{"type":"C_SC_NA_1","value":true}"#,
        );
        m.response_topic = Some("iec104/_response/me".into());
        m.correlation = Some(bytes::Bytes::from_static(b"c-1"));
        assert!(r.handle(&m).result.is_none());
        let job = rx.try_recv().unwrap();
        assert_eq!(job.result_topic, "iec104/_response/me");
        assert_eq!(job.correlation.as_deref(), Some(&b"c-1"[..]));
    }

    #[test]
    fn denied_by_default() {
        let (mut r, _rx) = router();
        let m = r
            .handle(&incoming(
                "iec104/north/1/101/command",
                r#"{"type":"C_SC_NA_1","value":true,"id":"x"}"#,
            ))
            .result
            .unwrap();
        let (s, v) = status(&m);
        assert_eq!(s, "rejected");
        assert_eq!(v["id"], "x");
        assert!(v["error"].as_str().unwrap().contains("not allowed"));
    }

    #[test]
    fn malformed_is_invalid_with_reason() {
        let (mut r, _rx) = router();
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
                .result
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
            .result
            .unwrap();
        assert!(status(&m).1["error"]
            .as_str()
            .unwrap()
            .contains("unknown rtu"));
    }

    #[test]
    fn hijacking_response_topics_get_the_result_topic_and_a_reason() {
        let (mut r, _rx) = router();
        let mut m = incoming(
            "iec104/north/1/101/command",
            r#"{"type":"C_SC_NA_1","value":true}"#,
        );
        m.response_topic = Some("iec104/north/1/100/command".into());
        let out = r.handle(&m).result.unwrap();
        assert_eq!(out.topic, "iec104/north/1/101/command/result");
        let (_, v) = status(&out);
        assert!(
            v["response_topic_refused"]
                .as_str()
                .unwrap()
                .contains("only under"),
            "{v}"
        );
    }

    #[test]
    fn point_limits_refuse_with_reasons() {
        let (mut r, mut rx) = router();
        let t = "iec104/north/1/102/command";
        for (payload, reason) in [
            (
                r#"{"type":"C_SE_NC_1","value":1.0}"#,
                "select-before-operate",
            ),
            (
                r#"{"type":"C_SE_NC_1","value":11.0,"select":true}"#,
                "above",
            ),
            (
                r#"{"type":"C_SE_NC_1","value":-1.0,"select":true}"#,
                "below",
            ),
        ] {
            let (s, v) = status(&r.handle(&incoming(t, payload)).result.unwrap());
            assert_eq!(s, "rejected", "{payload}");
            assert!(
                v["error"].as_str().unwrap().contains(reason),
                "{payload}: {v}"
            );
        }
        let ok = r#"{"type":"C_SE_NC_1","value":5.0,"select":true}"#;
        assert!(r.handle(&incoming(t, ok)).result.is_none());
        assert!(r.handle(&incoming(t, ok)).result.is_none());
        let (s, v) = status(&r.handle(&incoming(t, ok)).result.unwrap());
        assert_eq!(s, "rejected");
        assert!(v["error"].as_str().unwrap().contains("max_rate"), "{v}");
        assert_eq!(rx.try_recv().unwrap().ioa, 102);
    }

    #[test]
    fn oversized_payload_is_cut_and_refused_with_its_size() {
        let (mut r, _rx) = router();
        let big = bytes::Bytes::from(vec![b'x'; 2 << 20]);
        let m = Incoming::new("iec104/north/1/100/command".into(), &big);
        assert_eq!((m.payload.len(), m.size), (Incoming::KEEP, 2 << 20));
        // A cluster state lists every RTU: kept up to 1 MiB.
        let c = Incoming::new("iec104/_cluster/gw-a".into(), &big);
        assert_eq!(c.payload.len(), Incoming::KEEP_CLUSTER);
        let small = bytes::Bytes::from(vec![b'x'; 60_000]);
        assert_eq!(
            Incoming::new("iec104/_cluster/gw-a".into(), &small)
                .payload
                .len(),
            60_000
        );
        let (s, v) = status(&r.handle(&m).result.unwrap());
        assert_eq!(s, "invalid");
        assert!(
            v["error"].as_str().unwrap().contains("2097152 octets"),
            "{v}"
        );
    }

    #[test]
    fn result_json_is_exact() {
        let (mut r, _rx) = router();
        let m = r
            .handle(&incoming(
                "iec104/north/1/101/command",
                r#"{"type":"C_SC_NA_1","value":true,"id":"x"}"#,
            ))
            .result
            .unwrap();
        assert_eq!(m.topic, "iec104/north/1/101/command/result");
        let text = String::from_utf8(m.payload).unwrap();
        let (head, time) = text.split_once(r#","time":""#).unwrap();
        assert_eq!(
            head,
            r#"{"id":"x","status":"rejected","rtu":"north","ca":1,"ioa":101,"error":"commands are not allowed for this point by the configuration""#
        );
        assert!(time.len() == 26 && time.ends_with("Z\"}"), "{time}");
        let m = r
            .handle(&incoming("iec104/north/x/y/z/command", "{}"))
            .result
            .unwrap();
        let text = String::from_utf8(m.payload).unwrap();
        assert!(
            text.starts_with(r#"{"id":null,"status":"invalid","error":"topic \"iec104/north/x/y/z/command\": expected {rtu}/{ca}/{ioa}/command or {rtu}/{name}/command","time":""#),
            "{text}"
        );
    }
}

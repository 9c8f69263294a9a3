//! Commands written by a Sparkplug host (a DCMD metric write, turned into a command request
//! by the RTU's edge node) through the same checks as the JSON command topic: the point must
//! allow commands, its limits (select required, min/max, max_rate) hold, the RTU session must
//! take it. Each request is audited; a refusal is reported back to the edge node with its
//! reason, an accepted command gets its outcomes from the session (one final outcome).

use std::time::Instant;

use chrono::Utc;
use iec104::json::CommandRequest;
use iec104_sparkplug::edge::{self, CommandOutcome};
use iec104_sparkplug::point::CommandValue;
use iec104_sparkplug::session::Input;
use serde_json::json;
use tokio::sync::mpsc;

use super::{policy, Router};
use crate::contract::audit::Record;
use crate::model::{CommandJob, CommandReply, Direct};

/// A command from an RTU's edge node.
#[derive(Debug)]
pub struct SparkplugCommand {
    /// The RTU's name.
    pub rtu: String,
    /// The DCMD topic it was written on (for the audit trail).
    pub topic: String,
    /// What the edge node asks.
    pub request: edge::CommandRequest,
    /// The edge node's input queue, where the outcomes go.
    pub reply: mpsc::Sender<Input>,
}

/// The JSON command request of a Sparkplug write (the shape of the JSON command topic), with
/// the id `spb-{edge node's id}` for the audit trail.
pub fn json_request(r: &edge::CommandRequest) -> CommandRequest {
    let value = match r.value {
        CommandValue::Single(on) => json!(on),
        CommandValue::Double(on) => json!(if on { "on" } else { "off" }),
        CommandValue::Regulating(up) => json!(if up { "higher" } else { "lower" }),
        CommandValue::Normalized(v) | CommandValue::Float(v) => json!(f64::from(v)),
        CommandValue::Scaled(v) => json!(v),
        CommandValue::Bitstring(v) => json!(v),
    };
    let mut request = CommandRequest::new(r.type_id.name(), value);
    request.select = r.select;
    request.id = Some(format!("spb-{}", r.id));
    request
}

impl Router {
    /// Checks a Sparkplug command and hands it to the RTU's session, or reports the refusal
    /// to the edge node (waiting for room: a refusal is never dropped). Audited either way.
    pub(super) async fn sparkplug_command(&mut self, c: SparkplugCommand) {
        self.metrics.command();
        let request = json_request(&c.request);
        let (ca, ioa) = (c.request.address.ca, c.request.address.ioa);
        let refusal = self.admit_sparkplug(&c, &request).err();
        let record = Record {
            event: "request",
            topic: &c.topic,
            rtu: Some(&c.rtu),
            point: Some((ca, ioa)),
            kind: Some(&request.type_name),
            value: Some(&request.value),
            select: Some(request.select),
            id: request.id.as_deref(),
            sender: None,
            status: refusal.as_ref().map(|_| "rejected"),
            reason: refusal.as_deref(),
        };
        if let Some(msg) = self.audit.record(&record) {
            let direct = Direct {
                message: msg,
                correlation: None,
            };
            let _ = self.results.send(direct).await;
        }
        let Some(reason) = refusal else {
            return;
        };
        if let Some(held) = self.refusal_log.allow(Instant::now()) {
            tracing::warn!(topic = %c.topic, %reason, held_back = held, "sparkplug command refused");
        }
        self.live.command(crate::model::live::CommandRow {
            seq: 0,
            at_ms: crate::model::live::now_ms(),
            rtu: c.rtu.clone(),
            point: format!("{ca}/{ioa}"),
            command: request.type_name.clone(),
            id: request.id.clone().unwrap_or_default(),
            outcome: "rejected".to_owned(),
            detail: reason.clone(),
        });
        let outcome = Input::Outcome {
            id: c.request.id,
            outcome: CommandOutcome::Refused(reason),
        };
        if c.reply.send(outcome).await.is_err() {
            tracing::debug!(rtu = %c.rtu, "sparkplug edge node gone: refusal not reported");
        }
    }

    /// The checks of the JSON command path for a Sparkplug write; Err is the refusal reason.
    fn admit_sparkplug(
        &mut self,
        c: &SparkplugCommand,
        request: &CommandRequest,
    ) -> Result<(), String> {
        let (ca, ioa) = (c.request.address.ca, c.request.address.ioa);
        let Some((rtu, jobs)) = self.rtus.get(&c.rtu) else {
            return Err(format!("unknown rtu {:?}", c.rtu));
        };
        let Some(point) = rtu.points.get(&(ca, ioa)).filter(|p| p.commands) else {
            return Err("commands are not allowed for this point by the configuration".to_owned());
        };
        request
            .to_element(false, Utc::now())
            .and_then(|_| request.to_element(request.select, Utc::now()))
            .map_err(|e| e.to_string())?;
        if let Some(why) = policy::check_limits(&point.limits, request) {
            return Err(why);
        }
        if let Some(per_minute) = point.limits.max_rate {
            if !self
                .rates
                .admit((&rtu.name, ca, ioa), per_minute, Instant::now())
            {
                return Err(format!(
                    "more than {per_minute} commands per minute for this point (max_rate)"
                ));
            }
        }
        let job = CommandJob {
            ca,
            ioa,
            request: request.clone(),
            result_topic: c.topic.clone(),
            correlation: None,
            response_topic_refused: None,
            sender: None,
            received: Instant::now(),
            reply: Some(CommandReply {
                id: c.request.id,
                tap: c.reply.clone(),
            }),
        };
        jobs.try_send(job)
            .map_err(|_| "the RTU session is busy with other commands".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iec104::type_id::TypeId;
    use iec104_sparkplug::PointAddress;
    use std::collections::HashMap;
    use std::sync::Arc;

    const CONFIG: &str = "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n[[rtu]]\nname = \"north\"\naddress = \"127.0.0.1:2404\"\ncommon_address = 1\n[[rtu.point]]\nioa = 100\ncommands = true\ncommand_type = \"C_DC_NA_1\"\nselect_required = true\n[[rtu.point]]\nioa = 101\n[[rtu.point]]\nioa = 102\ncommands = true\ncommand_type = \"C_SE_NC_1\"\nmax_rate = 1\nmax = 10.0\n";

    fn router() -> (Router, mpsc::Receiver<CommandJob>) {
        let mut loaded = crate::config::parse(CONFIG, "t").unwrap_or_else(|e| panic!("{e}"));
        let rtu = Arc::new(loaded.rtus.remove(0));
        let (jobs, jobs_rx) = mpsc::channel(4);
        let (results, _) = mpsc::channel(4);
        let router = Router::new(
            crate::contract::Topics::new("iec104"),
            "iec104/_response/".into(),
            HashMap::from([("north".to_owned(), (rtu, jobs))]),
            results,
            Arc::default(),
            Arc::new(crate::model::live::LiveView::new("n", [], 10, 10)),
        );
        (router, jobs_rx)
    }

    fn write(
        ioa: u32,
        type_id: TypeId,
        value: CommandValue,
        select: bool,
    ) -> (SparkplugCommand, mpsc::Receiver<Input>) {
        let (reply, replies) = mpsc::channel(4);
        let mut request = request(type_id, value, select);
        request.address.ioa = ioa;
        let c = SparkplugCommand {
            rtu: "north".into(),
            topic: "spBv1.0/plant/DCMD/north/north".into(),
            request,
            reply,
        };
        (c, replies)
    }

    fn refusal(replies: &mut mpsc::Receiver<Input>) -> Option<String> {
        match replies.try_recv() {
            Ok(Input::Outcome {
                outcome: CommandOutcome::Refused(r),
                ..
            }) => Some(r),
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_write_passes_the_json_commands_policy_and_reaches_the_session() {
        let (mut r, mut jobs) = router();
        let (c, mut replies) = write(100, TypeId::C_DC_NA_1, CommandValue::Double(true), true);
        r.sparkplug_command(c).await;
        let job = jobs.try_recv().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((job.ca, job.ioa), (1, 100));
        assert_eq!(job.request.value, json!("on"));
        assert!(job.request.select);
        assert_eq!(job.result_topic, "spBv1.0/plant/DCMD/north/north");
        assert_eq!(job.reply.as_ref().map(|r| r.id), Some(7));
        assert!(
            replies.try_recv().is_err(),
            "the session answers, not the router"
        );
    }

    #[tokio::test]
    async fn refused_writes_get_the_reason_of_the_json_path() {
        let (mut r, mut jobs) = router();
        let cases = [
            (
                101,
                TypeId::C_SC_NA_1,
                CommandValue::Single(true),
                false,
                "commands are not allowed for this point by the configuration",
            ),
            (
                100,
                TypeId::C_DC_NA_1,
                CommandValue::Double(true),
                false,
                "this point requires select-before-operate (\"select\": true)",
            ),
            (
                102,
                TypeId::C_SE_NC_1,
                CommandValue::Float(20.0),
                false,
                "value 20 is above the point's max 10",
            ),
        ];
        for (ioa, t, v, select, want) in cases {
            let (c, mut replies) = write(ioa, t, v, select);
            r.sparkplug_command(c).await;
            assert_eq!(refusal(&mut replies).as_deref(), Some(want), "ioa {ioa}");
        }
        // max_rate = 1: the second write within the minute is refused.
        let (c, _replies) = write(102, TypeId::C_SE_NC_1, CommandValue::Float(5.0), false);
        r.sparkplug_command(c).await;
        let (c, mut replies) = write(102, TypeId::C_SE_NC_1, CommandValue::Float(5.0), false);
        r.sparkplug_command(c).await;
        assert_eq!(
            refusal(&mut replies).as_deref(),
            Some("more than 1 commands per minute for this point (max_rate)")
        );
        assert_eq!(jobs.try_recv().map(|j| j.ioa).ok(), Some(102));
        assert!(
            jobs.try_recv().is_err(),
            "only the admitted write reached the session"
        );
    }

    fn request(type_id: TypeId, value: CommandValue, select: bool) -> edge::CommandRequest {
        edge::CommandRequest {
            id: 7,
            address: PointAddress { ca: 1, ioa: 102 },
            type_id,
            value,
            select,
        }
    }

    #[test]
    fn every_written_value_is_the_json_request_of_its_type() {
        for (t, v, want) in [
            (TypeId::C_SC_NA_1, CommandValue::Single(true), json!(true)),
            (TypeId::C_DC_NA_1, CommandValue::Double(false), json!("off")),
            (TypeId::C_DC_TA_1, CommandValue::Double(true), json!("on")),
            (
                TypeId::C_RC_NA_1,
                CommandValue::Regulating(true),
                json!("higher"),
            ),
            (TypeId::C_SE_NA_1, CommandValue::Normalized(0.5), json!(0.5)),
            (TypeId::C_SE_NB_1, CommandValue::Scaled(-300), json!(-300)),
            (TypeId::C_SE_NC_1, CommandValue::Float(12.25), json!(12.25)),
            (
                TypeId::C_BO_NA_1,
                CommandValue::Bitstring(0x8001),
                json!(0x8001),
            ),
        ] {
            let r = json_request(&request(t, v, false));
            assert_eq!((r.type_name.as_str(), &r.value), (t.name(), &want));
            assert_eq!(r.id.as_deref(), Some("spb-7"));
            // The request builds the command element of its type.
            let e = r.to_element(false, Utc::now());
            assert!(e.is_ok(), "{t}: {e:?}");
        }
    }
}

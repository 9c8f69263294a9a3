//! One command in progress: select (optional), execute, then the ActTerm, each awaited with
//! a timeout, matched by type id, common address and IOA.

use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use iec104::asdu::{Asdu, AsduView, InformationObject};
use iec104::{Cause, Cot, TypeId};
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use crate::model::CommandJob;

/// Where the command is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Select,
    Execute,
    Term,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Stage::Select => "select",
            Stage::Execute | Stage::Term => "execute",
        }
    }
}

/// A command sent to the RTU, waiting for its answers.
#[derive(Debug)]
pub struct Pending {
    /// The job.
    pub job: CommandJob,
    /// When the current wait ends.
    pub deadline: Instant,
    stage: Stage,
    timeout: Duration,
    type_id: TypeId,
    tz: i32,
}

/// What an ASDU means for the pending command.
#[derive(Debug)]
pub enum Step {
    /// Not an answer to it.
    Ignore,
    /// The select was confirmed: send this execute.
    Execute(Bytes),
    /// An outcome to publish; `done` ends the command.
    Result {
        /// Result status.
        status: &'static str,
        /// Result fields.
        fields: Map<String, Value>,
        /// The command is finished.
        done: bool,
    },
}

/// `{"error": text}`.
pub fn error(text: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("error".into(), json!(text));
    m
}

/// The command ASDU; time tags of "now" are in the RTU's time zone (`tz` seconds from UTC).
fn build(job: &CommandJob, select: bool, tz: i32) -> Result<(Bytes, TypeId), String> {
    let element = job
        .request
        .to_element(
            select,
            Utc::now() + chrono::Duration::seconds(i64::from(tz)),
        )
        .map_err(|e| e.to_string())?;
    let type_id = element.type_id();
    let asdu = Asdu::single(
        Cot::new(Cause::Activation),
        job.ca,
        InformationObject::new(job.ioa, element),
    )
    .map_err(|e| format!("cannot build the command: {e}"))?;
    Ok((asdu.into_bytes(), type_id))
}

impl Pending {
    /// Builds the first ASDU (select when asked, else execute).
    pub fn start(
        job: CommandJob,
        timeout: Duration,
        tz: i32,
    ) -> Result<(Pending, Bytes), Box<(CommandJob, String)>> {
        let select = job.request.select;
        match build(&job, select, tz) {
            Ok((asdu, type_id)) => Ok((
                Pending {
                    job,
                    deadline: Instant::now() + timeout,
                    stage: if select {
                        Stage::Select
                    } else {
                        Stage::Execute
                    },
                    timeout,
                    type_id,
                    tz,
                },
                asdu,
            )),
            Err(e) => Err(Box::new((job, e))),
        }
    }

    /// Confirmed, only an optional ActTerm is awaited: the next command may go.
    pub fn confirmed(&self) -> bool {
        self.stage == Stage::Term
    }

    /// The outcome when the deadline passed (None once confirmed: the ActTerm is optional).
    pub fn timed_out(&self) -> Option<(&'static str, Map<String, Value>)> {
        if self.stage == Stage::Term {
            return None;
        }
        let mut f = error(&format!(
            "no ActCon of the {} within {:?}",
            self.stage.name(),
            self.timeout
        ));
        f.insert("stage".into(), json!(self.stage.name()));
        f.insert("type".into(), json!(self.type_id.name()));
        Some(("timeout", f))
    }

    /// Interprets an ASDU from the RTU.
    pub fn answer(&mut self, view: &AsduView<'_>) -> Step {
        let h = view.header();
        if view.type_id() != Some(self.type_id) || h.common_address != self.job.ca {
            return Step::Ignore;
        }
        if view.objects().next().is_some_and(|o| o.ioa != self.job.ioa) {
            return Step::Ignore;
        }
        let cause = h.cot.cause;
        let negative = h.cot.negative
            || matches!(
                cause,
                Cause::UnknownTypeId
                    | Cause::UnknownCause
                    | Cause::UnknownCommonAddress
                    | Cause::UnknownObjectAddress
            );
        let mut fields = Map::new();
        fields.insert("type".into(), json!(self.type_id.name()));
        fields.insert("stage".into(), json!(self.stage.name()));
        fields.insert("cause".into(), json!(cause.abbreviation()));
        fields.insert("cause_code".into(), json!(cause.as_u8()));
        if negative {
            fields.insert("negative".into(), json!(true));
            fields.insert(
                "error".into(),
                json!(format!(
                    "refused by the RTU: cause {} {}{}",
                    cause.as_u8(),
                    cause.abbreviation(),
                    if h.cot.negative { ", P/N=1" } else { "" }
                )),
            );
            return Step::Result {
                status: "rejected",
                fields,
                done: true,
            };
        }
        match (self.stage, cause) {
            (Stage::Select, Cause::ActivationCon) => match build(&self.job, false, self.tz) {
                Ok((asdu, _)) => {
                    self.stage = Stage::Execute;
                    self.deadline = Instant::now() + self.timeout;
                    Step::Execute(asdu)
                }
                Err(e) => Step::Result {
                    status: "invalid",
                    fields: error(&e),
                    done: true,
                },
            },
            (Stage::Execute, Cause::ActivationCon) => {
                self.stage = Stage::Term;
                self.deadline = Instant::now() + self.timeout;
                Step::Result {
                    status: "confirmed",
                    fields,
                    done: false,
                }
            }
            // An ActTerm counts only after this command's ActCon (an earlier command's ActTerm
            // to the same point is not ours).
            (Stage::Term, Cause::ActivationTerm) => Step::Result {
                status: "terminated",
                fields,
                done: true,
            },
            _ => Step::Ignore,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iec104::asdu::AsduParams;
    use iec104::json::CommandRequest;

    fn job(select: bool) -> CommandJob {
        let mut request = CommandRequest::new("C_DC_NA_1", serde_json::json!("on"));
        request.select = select;
        CommandJob {
            ca: 1,
            ioa: 100,
            request,
            result_topic: "r".into(),
            correlation: None,
            received: std::time::Instant::now(),
        }
    }

    /// C_DC_NA_1 (46), one object, COT octet `cot` (cause | 0x40 for P/N), OA 0, CA 1,
    /// IOA 100 (0x64 0x00 0x00), DCO `dco` (0x82 = select ON, 0x02 = execute ON).
    fn answer(cot: u8, dco: u8) -> Vec<u8> {
        vec![46, 1, cot, 0, 1, 0, 0x64, 0, 0, dco]
    }

    fn step(p: &mut Pending, bytes: &[u8]) -> Step {
        p.answer(&AsduView::parse(bytes, &AsduParams::IEC104).unwrap())
    }

    #[test]
    fn select_then_execute_then_term() {
        let (mut p, first) = Pending::start(job(true), Duration::from_secs(5), 0).unwrap();
        // The select: S/E bit set, DCS 2 (ON).
        assert_eq!(first.last(), Some(&0x82));
        // An ActTerm before any ActCon is not ours.
        assert!(matches!(step(&mut p, &answer(10, 0x02)), Step::Ignore));
        let Step::Execute(exec) = step(&mut p, &answer(7, 0x82)) else {
            panic!("no execute")
        };
        assert_eq!(exec.last(), Some(&0x02));
        assert!(!p.confirmed());
        let Step::Result { status, done, .. } = step(&mut p, &answer(7, 0x02)) else {
            panic!()
        };
        assert_eq!((status, done), ("confirmed", false));
        assert!(p.confirmed());
        // Confirmed: a missing ActTerm is no failure.
        assert!(p.timed_out().is_none());
        let Step::Result { status, done, .. } = step(&mut p, &answer(10, 0x02)) else {
            panic!()
        };
        assert_eq!((status, done), ("terminated", true));
    }

    #[test]
    fn negative_answers_reject_with_cause() {
        let (mut p, _) = Pending::start(job(false), Duration::from_secs(5), 0).unwrap();
        // Another point's answer is ignored: IOA 101.
        let other = [46, 1, 7, 0, 1, 0, 0x65, 0, 0, 0x02];
        assert!(matches!(step(&mut p, &other), Step::Ignore));
        // ActCon with P/N = 1 (0x47).
        let Step::Result {
            status,
            fields,
            done,
        } = step(&mut p, &answer(0x47, 0x02))
        else {
            panic!()
        };
        assert_eq!((status, done), ("rejected", true));
        assert_eq!(fields["negative"], true);
        assert_eq!(fields["cause"], "actcon");
        // Unknown IOA (47) with P/N.
        let (mut p, _) = Pending::start(job(false), Duration::from_secs(5), 0).unwrap();
        let Step::Result { status, fields, .. } = step(&mut p, &answer(0x40 | 47, 0x02)) else {
            panic!()
        };
        assert_eq!(status, "rejected");
        assert_eq!(fields["cause_code"], 47);
        // No answer: timeout naming the stage.
        let (p, _) = Pending::start(job(true), Duration::from_secs(5), 0).unwrap();
        let (status, fields) = p.timed_out().unwrap();
        assert_eq!(
            (status, fields["stage"].as_str()),
            ("timeout", Some("select"))
        );
    }
}

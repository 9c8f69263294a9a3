//! One command in progress: select (optional), execute, then the ActTerm, each awaited with
//! a timeout, matched by type id, common address and IOA.

use std::time::{Duration, Instant};

use crate::contract::{CommandStatus, ResultDetail};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use iec104::asdu::{Asdu, AsduView, InformationObject};
use iec104::cot::{Cause, Cot};
use iec104::type_id::TypeId;

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
        status: CommandStatus,
        /// What the answer tells.
        detail: ResultDetail,
        /// The command is finished.
        done: bool,
    },
}

/// The command ASDU; time tags of `utc` are in the RTU's time zone (`tz` seconds from UTC).
fn build(
    job: &CommandJob,
    select: bool,
    tz: i32,
    utc: DateTime<Utc>,
) -> Result<(Bytes, TypeId), String> {
    let element = job
        .request
        .to_element(select, utc + chrono::Duration::seconds(i64::from(tz)))
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
    /// Builds the first ASDU (select when asked, else execute) at `now` (wall clock `utc`).
    pub fn start(
        job: CommandJob,
        timeout: Duration,
        tz: i32,
        now: Instant,
        utc: DateTime<Utc>,
    ) -> Result<(Pending, Bytes), Box<(CommandJob, String)>> {
        let select = job.request.select;
        match build(&job, select, tz, utc) {
            Ok((asdu, type_id)) => Ok((
                Pending {
                    job,
                    deadline: now + timeout,
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
    pub fn timed_out(&self) -> Option<(CommandStatus, ResultDetail)> {
        if self.stage == Stage::Term {
            return None;
        }
        let detail = ResultDetail {
            type_name: Some(self.type_id.name()),
            stage: Some(self.stage.name()),
            error: Some(format!(
                "no ActCon of the {} within {:?}",
                self.stage.name(),
                self.timeout
            )),
            ..ResultDetail::default()
        };
        Some((CommandStatus::Timeout, detail))
    }

    /// Interprets an ASDU from the RTU received at `now` (wall clock `utc`).
    pub fn answer(&mut self, view: &AsduView<'_>, now: Instant, utc: DateTime<Utc>) -> Step {
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
        let mut detail = ResultDetail {
            type_name: Some(self.type_id.name()),
            stage: Some(self.stage.name()),
            cause: Some(cause.abbreviation()),
            cause_code: Some(cause.as_u8()),
            ..ResultDetail::default()
        };
        if negative {
            detail.negative = Some(true);
            detail.error = Some(format!(
                "refused by the RTU: cause {} {}{}",
                cause.as_u8(),
                cause.abbreviation(),
                if h.cot.negative { ", P/N=1" } else { "" }
            ));
            return Step::Result {
                status: CommandStatus::Rejected,
                detail,
                done: true,
            };
        }
        match (self.stage, cause) {
            (Stage::Select, Cause::ActivationCon) => match build(&self.job, false, self.tz, utc) {
                Ok((asdu, _)) => {
                    self.stage = Stage::Execute;
                    self.deadline = now + self.timeout;
                    Step::Execute(asdu)
                }
                Err(e) => Step::Result {
                    status: CommandStatus::Invalid,
                    detail: ResultDetail::error(e),
                    done: true,
                },
            },
            (Stage::Execute, Cause::ActivationCon) => {
                self.stage = Stage::Term;
                self.deadline = now + self.timeout;
                Step::Result {
                    status: CommandStatus::Confirmed,
                    detail,
                    done: false,
                }
            }
            // An ActTerm counts only after this command's ActCon (an earlier command's ActTerm
            // to the same point is not ours).
            (Stage::Term, Cause::ActivationTerm) => Step::Result {
                status: CommandStatus::Terminated,
                detail,
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
            response_topic_refused: None,
            sender: None,
            received: std::time::Instant::now(),
            reply: None,
        }
    }

    /// C_DC_NA_1 (46), one object, COT octet `cot` (cause | 0x40 for P/N), OA 0, CA 1,
    /// IOA 100 (0x64 0x00 0x00), DCO `dco` (0x82 = select ON, 0x02 = execute ON).
    fn answer(cot: u8, dco: u8) -> Vec<u8> {
        vec![46, 1, cot, 0, 1, 0, 0x64, 0, 0, dco]
    }

    fn step(p: &mut Pending, bytes: &[u8]) -> Step {
        p.answer(
            &AsduView::parse(bytes, &AsduParams::IEC104).unwrap(),
            Instant::now(),
            Utc::now(),
        )
    }

    #[test]
    fn select_then_execute_then_term() {
        let (mut p, first) = Pending::start(
            job(true),
            Duration::from_secs(5),
            0,
            Instant::now(),
            Utc::now(),
        )
        .unwrap();
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
        assert_eq!((status, done), (CommandStatus::Confirmed, false));
        assert!(p.confirmed());
        // Confirmed: a missing ActTerm is no failure.
        assert!(p.timed_out().is_none());
        let Step::Result { status, done, .. } = step(&mut p, &answer(10, 0x02)) else {
            panic!()
        };
        assert_eq!((status, done), (CommandStatus::Terminated, true));
    }

    #[test]
    fn negative_answers_reject_with_cause() {
        let (mut p, _) = Pending::start(
            job(false),
            Duration::from_secs(5),
            0,
            Instant::now(),
            Utc::now(),
        )
        .unwrap();
        // Another point's answer is ignored: IOA 101.
        let other = [46, 1, 7, 0, 1, 0, 0x65, 0, 0, 0x02];
        assert!(matches!(step(&mut p, &other), Step::Ignore));
        // ActCon with P/N = 1 (0x47).
        let Step::Result {
            status,
            detail,
            done,
        } = step(&mut p, &answer(0x47, 0x02))
        else {
            panic!()
        };
        assert_eq!((status, done), (CommandStatus::Rejected, true));
        assert_eq!(detail.negative, Some(true));
        assert_eq!(detail.cause.as_deref(), Some("actcon"));
        // Unknown IOA (47) with P/N.
        let (mut p, _) = Pending::start(
            job(false),
            Duration::from_secs(5),
            0,
            Instant::now(),
            Utc::now(),
        )
        .unwrap();
        let Step::Result { status, detail, .. } = step(&mut p, &answer(0x40 | 47, 0x02)) else {
            panic!()
        };
        assert_eq!(status, CommandStatus::Rejected);
        assert_eq!(detail.cause_code, Some(47));
        // No answer: timeout naming the stage.
        let (p, _) = Pending::start(
            job(true),
            Duration::from_secs(5),
            0,
            Instant::now(),
            Utc::now(),
        )
        .unwrap();
        let (status, detail) = p.timed_out().unwrap();
        assert_eq!(
            (status, detail.stage),
            (CommandStatus::Timeout, Some("select"))
        );
    }
}

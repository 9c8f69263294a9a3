//! One command in progress: select (optional), execute, then the ActTerm, each awaited with
//! a timeout, matched by type id, common address and IOA.

use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use iec104::asdu::{Asdu, AsduView, InformationObject};
use iec104::{Cause, Cot, TypeId};
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use crate::commands::CommandJob;

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
            (Stage::Execute | Stage::Term, Cause::ActivationTerm) => Step::Result {
                status: "terminated",
                fields,
                done: true,
            },
            _ => Step::Ignore,
        }
    }
}

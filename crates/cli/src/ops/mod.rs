//! The subcommands, and what they share: matching the station's answers to our request.

mod command;
mod interrogate;
mod monitor;
mod simple;

use chrono::Utc;
use iec104::asdu::{broadcast_address, AsduParams, AsduView, Element};
use iec104::cot::Cause;
use iec104::json::JsonObject;
use iec104::type_id::TypeId;

use crate::args::Op;
use crate::error::{cause_text, CliError};
use crate::output::Printer;
use crate::session::Session;

/// Runs one subcommand to its outcome.
pub async fn run(op: Op) -> Result<(), CliError> {
    match op {
        Op::Interrogate { common, ca, group } => interrogate::interrogate(&common, ca, group).await,
        Op::CounterInterrogate {
            common,
            ca,
            group,
            freeze,
        } => interrogate::counter(&common, ca, group, freeze.frz()).await,
        Op::Monitor { common, duration } => monitor::monitor(&common, duration).await,
        Op::Command {
            common,
            ca,
            ioa,
            type_name,
            value,
            select,
            qu,
            ql,
            time,
            no_actterm,
        } => {
            let request = command::request(type_name, &value, select, qu, ql, time);
            command::command(&common, ca, ioa, request, !no_actterm).await
        }
        Op::ClockSync { common, ca, time } => simple::clock_sync(&common, ca, time).await,
        Op::Read { common, ca, ioa } => simple::read(&common, ca, ioa).await,
        Op::Test { common, ca, tsc } => simple::test(&common, ca, tsc).await,
    }
}

/// The answer an ASDU gives to our request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Positive activation confirmation.
    Con,
    /// Activation termination.
    Term,
}

/// What we sent, to recognise the station's answers.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    /// Type id of the request.
    pub type_id: TypeId,
    /// Common address it was sent to.
    pub ca: u16,
    /// Object address (process commands; 0 for system commands).
    pub ioa: u32,
    /// The S/E bit sent (process commands with one): an ActCon must mirror it.
    pub select: Option<bool>,
}

impl Request {
    /// `ActCon of C_SC_NA_1`-style text for messages.
    pub fn awaiting(&self, what: &str) -> String {
        format!("{what} of {}", self.type_id)
    }

    /// Whether `view` answers this request: its type and IOA, and its CA (any CA for a
    /// broadcast request). `Err` for a negative answer: the P/N bit, or causes 44..=47.
    pub fn answer(&self, view: &AsduView<'_>) -> Option<Result<Answer, CliError>> {
        let h = view.header();
        let broadcast = self.ca == broadcast_address(AsduParams::IEC104.ca_size);
        if view.type_id() != Some(self.type_id) || !(broadcast || h.common_address == self.ca) {
            return None;
        }
        if view.objects().next().is_some_and(|o| o.ioa != self.ioa) {
            return None;
        }
        let cause = h.cot.cause;
        let rejected = matches!(
            cause,
            Cause::UnknownTypeId
                | Cause::UnknownCause
                | Cause::UnknownCommonAddress
                | Cause::UnknownObjectAddress
        );
        if h.cot.negative || rejected {
            return Some(Err(CliError::Negative(format!(
                "{} refused by the station (CA {}, IOA {}): {} (cause {} {}{})",
                self.type_id,
                h.common_address,
                self.ioa,
                cause_text(cause),
                cause.as_u8(),
                cause.abbreviation(),
                if h.cot.negative { ", P/N=1" } else { "" },
            ))));
        }
        let mirrored = match (
            self.select,
            view.objects().next().and_then(|o| select_bit(&o.element)),
        ) {
            (Some(sent), Some(got)) => sent == got,
            _ => true,
        };
        match cause {
            // An ActCon of the select is not the ActCon of the execute (and vice versa).
            Cause::ActivationCon if mirrored => Some(Ok(Answer::Con)),
            Cause::ActivationTerm => Some(Ok(Answer::Term)),
            _ => None,
        }
    }
}

/// The S/E bit of a command element (C_SC, C_DC, C_RC, C_SE), `None` for other types.
pub fn select_bit(element: &Element<'_>) -> Option<bool> {
    use Element as E;
    Some(match *element {
        E::C_SC_NA_1(c) | E::C_SC_TA_1(c, _) => c.select(),
        E::C_DC_NA_1(c) | E::C_DC_TA_1(c, _) => c.select(),
        E::C_RC_NA_1(c) | E::C_RC_TA_1(c, _) => c.select(),
        E::C_SE_NA_1(_, q)
        | E::C_SE_TA_1(_, q, _)
        | E::C_SE_NB_1(_, q)
        | E::C_SE_TB_1(_, q, _)
        | E::C_SE_NC_1(_, q)
        | E::C_SE_TC_1(_, q, _) => q.select(),
        _ => return None,
    })
}

/// Waits for the next answer to `request`. Every other ASDU is printed when `print_others`;
/// the answers themselves are printed when `print_answers`.
pub async fn await_answer(
    session: &mut Session,
    printer: &mut Printer,
    request: &Request,
    what: &str,
    print_others: bool,
    print_answers: bool,
) -> Result<Answer, CliError> {
    let awaiting = request.awaiting(what);
    loop {
        let asdu = session.next_asdu(&awaiting).await?;
        let Some(view) = parse(printer, &asdu) else {
            continue;
        };
        match request.answer(&view) {
            Some(answer) => {
                if print_answers {
                    print_all(printer, &view)?;
                }
                return answer;
            }
            None if print_others => print_all(printer, &view)?,
            None => {}
        }
    }
}

/// Parses an ASDU from the station; a bad one is reported on stderr and skipped.
pub fn parse<'a>(printer: &Printer, asdu: &'a [u8]) -> Option<AsduView<'a>> {
    match AsduView::parse(asdu, &AsduParams::IEC104) {
        Ok(view) => Some(view),
        Err(e) => {
            printer.note(&format!("ignoring an undecodable ASDU: {e}"));
            None
        }
    }
}

/// Prints every object of an ASDU.
pub fn print_all(printer: &mut Printer, view: &AsduView<'_>) -> Result<(), CliError> {
    for object in JsonObject::from_view(view, Utc::now()) {
        printer.object(&object)?;
    }
    Ok(())
}

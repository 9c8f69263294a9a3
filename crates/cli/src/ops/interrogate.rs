//! `interrogate` (C_IC_NA_1) and `counter-interrogate` (C_CI_NA_1): print the station's
//! objects until ActTerm.

use iec104::asdu::{Asdu, Qcc, Qoi};
use iec104::cot::{Cause, Cot};
use iec104::type_id::TypeId;

use super::{await_answer, Answer, Request};
use crate::args::Common;
use crate::error::CliError;
use crate::output::Printer;
use crate::session::Session;

/// Station interrogation (QOI 20) or group 1..=16 (QOI 21..=36).
pub async fn interrogate(common: &Common, ca: u16, group: Option<u8>) -> Result<(), CliError> {
    let qoi = Qoi(20 + group.unwrap_or(0));
    let cot = Cot::new(Cause::Activation).with_originator(common.originator);
    let request = Request {
        type_id: TypeId::C_IC_NA_1,
        ca,
        ioa: 0,
        select: None,
    };
    until_term(common, request, Asdu::interrogation(ca, qoi, cot)).await
}

/// Counter interrogation: general (RQT 5) or group 1..=4, with FRZ `frz`.
pub async fn counter(common: &Common, ca: u16, group: Option<u8>, frz: u8) -> Result<(), CliError> {
    let qcc = Qcc::new(group.unwrap_or(5), frz);
    let cot = Cot::new(Cause::Activation).with_originator(common.originator);
    let request = Request {
        type_id: TypeId::C_CI_NA_1,
        ca,
        ioa: 0,
        select: None,
    };
    until_term(common, request, Asdu::counter_interrogation(ca, qcc, cot)).await
}

/// Sends `asdu`, prints every other object until the ActTerm of `request`.
async fn until_term(common: &Common, request: Request, asdu: Asdu) -> Result<(), CliError> {
    let mut printer = Printer::new(common.format);
    let mut session = Session::open(common).await?;
    let result = async {
        session.send(asdu).await?;
        loop {
            let what = "ActCon/ActTerm";
            match await_answer(&mut session, &mut printer, &request, what, true, false).await? {
                Answer::Con => printer.note(&format!("{} confirmed", request.type_id)),
                Answer::Term => {
                    printer.note(&format!("{} terminated", request.type_id));
                    return Ok(());
                }
            }
        }
    }
    .await;
    session.close().await;
    result
}

//! `clock-sync`, `test` and `read`: one request, one answer.

use chrono::{DateTime, Datelike, Utc};
use iec104::asdu::{Asdu, Element, InformationObject, Tsc};
use iec104::cot::{Cause, Cot};
use iec104::time::Cp56Time2a;
use iec104::type_id::TypeId;

use super::{await_answer, parse, print_all, Answer, Request};
use crate::args::Common;
use crate::error::CliError;
use crate::output::Printer;
use crate::session::Session;

/// Sends a system command at IOA 0 and waits for its positive ActCon (printed).
async fn confirmed(common: &Common, ca: u16, element: Element<'_>) -> Result<(), CliError> {
    let cot = Cot::new(Cause::Activation).with_originator(common.originator);
    let asdu = Asdu::single(cot, ca, InformationObject::new(0, element))
        .map_err(|e| CliError::Usage(format!("cannot build the request: {e}")))?;
    let request = Request {
        type_id: element.type_id(),
        ca,
        ioa: 0,
        select: None,
    };
    let mut printer = Printer::new(common.format);
    let mut session = Session::open(common).await?;
    let result = async {
        session.send(asdu).await?;
        loop {
            let answer =
                await_answer(&mut session, &mut printer, &request, "ActCon", false, true).await?;
            if answer == Answer::Con {
                return Ok(());
            }
        }
    }
    .await;
    session.close().await;
    result
}

/// C_CS_NA_1 with `time` (RFC 3339) or now.
pub async fn clock_sync(common: &Common, ca: u16, time: Option<String>) -> Result<(), CliError> {
    let at = match time {
        Some(s) => DateTime::parse_from_rfc3339(&s)
            .map_err(|e| CliError::Usage(format!("--time {s:?} is not RFC 3339: {e}")))?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    if !(2000..=2099).contains(&at.year()) {
        return Err(CliError::Usage(format!(
            "--time {at} cannot be sent as CP56Time2a (years 2000..=2099)"
        )));
    }
    confirmed(
        common,
        ca,
        Element::C_CS_NA_1(Cp56Time2a::from_datetime(&at)),
    )
    .await
}

/// C_TS_TA_1 with test sequence counter `tsc` and the current time.
pub async fn test(common: &Common, ca: u16, tsc: u16) -> Result<(), CliError> {
    let now = Cp56Time2a::from_datetime(&Utc::now());
    confirmed(common, ca, Element::C_TS_TA_1(Tsc(tsc), now)).await
}

/// C_RD_NA_1 (cause req): prints the object(s) returned with cause req for `ioa`.
pub async fn read(common: &Common, ca: u16, ioa: u32) -> Result<(), CliError> {
    let cot = Cot::new(Cause::Request).with_originator(common.originator);
    let asdu = Asdu::single(cot, ca, InformationObject::new(ioa, Element::C_RD_NA_1))
        .map_err(|e| CliError::Usage(format!("cannot build the request: {e}")))?;
    let request = Request {
        type_id: TypeId::C_RD_NA_1,
        ca,
        ioa,
        select: None,
    };
    let mut printer = Printer::new(common.format);
    let mut session = Session::open(common).await?;
    let result = async {
        session.send(asdu).await?;
        let what = format!("answer to C_RD_NA_1 for IOA {ioa}");
        loop {
            let bytes = session.next_asdu(&what).await?;
            let Some(view) = parse(&printer, &bytes) else {
                continue;
            };
            if let Some(answer) = request.answer(&view) {
                // A positive C_RD_NA_1 echo carries no data; keep waiting.
                answer?;
                continue;
            }
            let h = view.header();
            if h.cot.cause == Cause::Request
                && h.common_address == ca
                && view.objects().any(|o| o.ioa == ioa)
            {
                print_all(&mut printer, &view)?;
                return Ok(());
            }
        }
    }
    .await;
    session.close().await;
    result
}

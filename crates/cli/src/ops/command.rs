//! `command`: a process command, optionally select-before-operate.

use chrono::Utc;
use iec104::asdu::{Asdu, InformationObject};
use iec104::cot::{Cause, Cot};
use iec104::json::CommandRequest;
use serde_json::Value;

use super::{await_answer, select_bit, Answer, Request};
use crate::args::Common;
use crate::error::CliError;
use crate::output::Printer;
use crate::session::Session;

/// The request from the command line. The value is read as JSON when it is a JSON number or
/// boolean (`1`, `-0.5`, `true`), and as a string otherwise (`on`, `0x10`).
pub fn request(
    type_name: String,
    value: &str,
    select: bool,
    qu: Option<i64>,
    ql: Option<i64>,
    time: bool,
) -> CommandRequest {
    let value = match serde_json::from_str::<Value>(value) {
        Ok(v @ (Value::Number(_) | Value::Bool(_))) => v,
        _ => Value::String(value.to_owned()),
    };
    let mut request = CommandRequest::new(type_name, value);
    request.select = select;
    request.qu = qu;
    request.ql = ql;
    request.time = time.then_some(Value::Bool(true));
    request
}

/// Sends the command (select first when asked) and waits for its confirmations.
pub async fn command(
    common: &Common,
    ca: u16,
    ioa: u32,
    request: CommandRequest,
    wait_term: bool,
) -> Result<(), CliError> {
    // Check the value before connecting: a usage error needs no station.
    let execute = request.to_element(false, Utc::now())?;
    if request.select {
        request.to_element(true, Utc::now())?;
    }
    let cot = Cot::new(Cause::Activation).with_originator(common.originator);
    let asdu = |element| {
        Asdu::single(cot, ca, InformationObject::new(ioa, element))
            .map_err(|e| CliError::Usage(format!("cannot build the command: {e}")))
    };
    // Fail on a bad address before connecting too.
    asdu(execute)?;
    let target = Request {
        type_id: execute.type_id(),
        ca,
        ioa,
        select: None,
    };
    let mut printer = Printer::new(common.format);
    let mut session = Session::open(common).await?;
    let result = async {
        if request.select {
            // A fresh time tag at sending time for the _TA_1 forms.
            session
                .send(asdu(request.to_element(true, Utc::now())?)?)
                .await?;
            let select = Request {
                select: select_bit(&execute).map(|_| true),
                ..target
            };
            wait_con(&mut session, &mut printer, &select, "select").await?;
        }
        session
            .send(asdu(request.to_element(false, Utc::now())?)?)
            .await?;
        let target = Request {
            select: select_bit(&execute),
            ..target
        };
        wait_con(&mut session, &mut printer, &target, "execute").await?;
        if !wait_term {
            return Ok(());
        }
        loop {
            match await_answer(&mut session, &mut printer, &target, "ActTerm", false, true).await {
                Ok(Answer::Term) => return Ok(()),
                // A repeated ActCon: keep waiting for the termination.
                Ok(Answer::Con) => continue,
                Err(CliError::Timeout { .. }) => {
                    printer.note(&format!(
                        "note: no ActTerm of {} within the timeout; the command was confirmed",
                        target.type_id
                    ));
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
    }
    .await;
    session.close().await;
    result
}

/// Waits for the positive ActCon of the `step` (select or execute).
async fn wait_con(
    session: &mut Session,
    printer: &mut Printer,
    target: &Request,
    step: &str,
) -> Result<(), CliError> {
    loop {
        match await_answer(
            session,
            printer,
            target,
            &format!("ActCon ({step})"),
            false,
            true,
        )
        .await?
        {
            Answer::Con => return Ok(()),
            // An ActTerm before the ActCon of this step belongs to nothing we await.
            Answer::Term => continue,
        }
    }
}

//! A tiny controlled station on our server's event API, for the interop sessions.

use std::time::Duration;

use iec104::asdu::{
    Asdu, AsduParams, DoubleState, Element, InformationObject, Qds, Quality, Scaled, SinglePoint,
};
use iec104::cot::{Cause, Cot};
use iec104::server::{ServerEvent, ServerEvents, ServerHandle};
use serde_json::{json, Value};

use super::session::{describe_command, owned_element};
use super::type_cases;

/// The points of the tiny station of test B and how c104's client must print them
/// (`crates/testkit/peers/c104_client.py`: value, quality names, UTC time in ISO 8601).
pub fn station_points() -> Vec<(InformationObject<'static>, Value)> {
    use serde_json::json;
    let t = type_cases::T56;
    vec![
        (
            InformationObject::new(
                100,
                Element::M_SP_NA_1(SinglePoint::new(true, Quality::GOOD)),
            ),
            json!({"type": "M_SP_NA_1", "value": true, "quality": [], "time": null}),
        ),
        (
            InformationObject::new(200, Element::M_ME_NC_1(12.5, Qds::new(Quality::GOOD))),
            json!({"type": "M_ME_NC_1", "value": 12.5, "quality": [], "time": null}),
        ),
        (
            InformationObject::new(
                300,
                Element::M_DP_TB_1(
                    iec104::asdu::DoublePoint::new(DoubleState::On, Quality::BL),
                    t,
                ),
            ),
            json!({"type": "M_DP_TB_1", "value": 2, "quality": ["BL"], "time": "2026-11-24T10:15:30.123+00:00"}),
        ),
        (
            InformationObject::new(
                400,
                Element::M_ME_NB_1(Scaled(-32768), Qds::new(Quality::OV)),
            ),
            json!({"type": "M_ME_NB_1", "value": -32768.0, "quality": ["OV"], "time": null}),
        ),
    ]
}

/// A tiny controlled station on our server's event API: answers a general interrogation with
/// the station points (ActCon, data with COT 20, ActTerm) and a double command to IOA 4601 with
/// select before operate (select => ActCon; execute after a select => ActCon then ActTerm;
/// execute without select => negative ActCon); a direct command of any type to IOA 6000..7000
/// is logged as `decoded {json}` (see `session::describe_command`) and confirmed. Anything else
/// gets a negative ActCon.
/// Returns its log when the connection closes.
pub async fn tiny_station(handle: ServerHandle, mut events: ServerEvents) -> Vec<String> {
    let mut log = Vec::new();
    let mut selected = false;
    while let Some(event) = events.recv().await {
        let (conn, bytes) = match event {
            ServerEvent::Asdu { conn, asdu } => (conn, asdu),
            ServerEvent::Closed { conn, reason } => {
                log.push(format!("closed {conn:?} {reason:?}"));
                break;
            }
            other => {
                log.push(format!("{other:?}"));
                continue;
            }
        };
        let asdu = match Asdu::parse(bytes, AsduParams::IEC104) {
            Ok(a) => a,
            Err(e) => {
                log.push(format!("bad ASDU {e}"));
                continue;
            }
        };
        let Some(obj) = asdu.view().objects().next() else {
            log.push(format!("unknown type {}", asdu.header().type_id));
            continue;
        };
        let ioa = obj.ioa;
        let Some(el) = owned_element(&obj.element) else {
            log.push(format!("monitor-direction element {:?}", obj.element));
            continue;
        };
        let reply = |cot: Cot, el: Element<'static>| {
            Asdu::single(cot, 47, InformationObject::new(ioa, el))
                .expect("reply")
                .into_bytes()
        };
        let mut replies = Vec::new();
        match el {
            // Direct commands of every type to IOAs 6000..7000: logged as we decoded them
            // ("decoded {json}") and confirmed after the same 100 ms operation time as below.
            _ if (6000..7000).contains(&ioa) && describe_command(&el).is_some() => {
                if let Some((value, time)) = describe_command(&el) {
                    let rec = json!({"type": el.type_id().name(), "ioa": ioa, "value": value, "time": time,
                                     "select": is_select(&el)});
                    log.push(format!("decoded {rec}"));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                replies.push(reply(Cot::new(Cause::ActivationCon), el));
            }
            Element::C_IC_NA_1(_) => {
                log.push("interrogation".into());
                replies.push(reply(Cot::new(Cause::ActivationCon), el));
                for (point, _) in station_points() {
                    replies.push(
                        Asdu::single(Cot::new(Cause::InterrogatedByStation), 47, point)
                            .expect("point")
                            .into_bytes(),
                    );
                }
                replies.push(reply(Cot::new(Cause::ActivationTerm), el));
            }
            Element::C_DC_NA_1(d) if ioa == 4601 => {
                // Answer after an "operation time" of 100 ms. Not needed by the protocol: c104
                // 2.2.1 has a lost wake-up (Connection::command sends, THEN waits on a condition
                // variable without first checking for an answer that already arrived), so a
                // station answering within microseconds makes c104's select-and-execute give
                // up after its command timeout without sending the execute. Any real RTU takes
                // this long to operate; see docs/interop-findings.md.
                tokio::time::sleep(Duration::from_millis(100)).await;
                if d.select() {
                    log.push(format!("select {:?}", d.state()));
                    selected = true;
                    replies.push(reply(Cot::new(Cause::ActivationCon), el));
                } else if selected {
                    log.push(format!("execute {:?}", d.state()));
                    selected = false;
                    replies.push(reply(Cot::new(Cause::ActivationCon), el));
                    replies.push(reply(Cot::new(Cause::ActivationTerm), el));
                } else {
                    log.push("execute without select".into());
                    replies.push(reply(Cot::new(Cause::ActivationCon).negative(), el));
                }
            }
            other => {
                log.push(format!("refused {other:?}"));
                replies.push(reply(Cot::new(Cause::ActivationCon).negative(), other));
            }
        }
        for r in replies {
            if let Err(e) = handle.send_to(conn, r).await {
                log.push(format!("send_to failed: {e}"));
            }
        }
    }
    log
}

/// The S/E bit of a command element that has one (false for the others).
fn is_select(el: &Element<'_>) -> bool {
    use Element as E;
    match el {
        E::C_SC_NA_1(c) | E::C_SC_TA_1(c, _) => c.select(),
        E::C_DC_NA_1(c) | E::C_DC_TA_1(c, _) => c.select(),
        E::C_RC_NA_1(c) | E::C_RC_TA_1(c, _) => c.select(),
        E::C_SE_NA_1(_, q) | E::C_SE_TA_1(_, q, _) => q.select(),
        E::C_SE_NB_1(_, q) | E::C_SE_TB_1(_, q, _) => q.select(),
        E::C_SE_NC_1(_, q) | E::C_SE_TC_1(_, q, _) => q.select(),
        _ => false,
    }
}

//! Client-side steps of the interop sessions: waiting for ASDUs and confirmations, sending
//! commands and interrogations, checking received objects against a peer's description.

use std::time::Duration;

use iec104::asdu::{Asdu, AsduParams, Element, InformationObject};
use iec104::client::{Client, ClientEvent, ClientEvents};
use iec104::cot::{Cause, Cot};
use iec104::type_id::TypeId;
use serde_json::Value;

use super::bounded;

/// Bound of every single step of a session.
pub const STEP: Duration = Duration::from_secs(15);

/// Waits for the next ASDU event (skipping others); panics when the connection closes.
pub async fn next_asdu(events: &mut ClientEvents) -> Asdu {
    loop {
        match bounded("next ASDU from the c104 server", STEP, events.recv()).await {
            Some(ClientEvent::Asdu { asdu, .. }) => {
                return Asdu::parse(asdu, AsduParams::IEC104).expect("the peer's ASDU parses")
            }
            Some(ClientEvent::Closed { reason }) => panic!("connection closed: {reason:?}"),
            None => panic!("event stream ended"),
            Some(_) => {}
        }
    }
}

/// Waits for a confirmation of `type_id` for `ioa` (any other ASDU is handed to `other`).
pub async fn wait_confirmation(
    events: &mut ClientEvents,
    type_id: TypeId,
    ioa: u32,
    cause: Cause,
    other: &mut Vec<Asdu>,
) -> (Cot, Element<'static>) {
    loop {
        let asdu = next_asdu(events).await;
        let h = *asdu.header();
        if h.type_id == type_id as u8 && h.cot.cause == cause {
            let obj = asdu.view().objects().next().expect("one object");
            if obj.ioa == ioa {
                // Commands hold no borrowed data: re-decode into a 'static element.
                let el = owned_element(&obj.element).expect("a control-direction element");
                return (h.cot, el);
            }
        }
        other.push(asdu);
    }
}

/// A copy of a control-direction element that borrows nothing (they are all plain data);
/// `None` for monitor-direction and file-transfer elements, which the sessions never echo.
pub fn owned_element(el: &Element<'_>) -> Option<Element<'static>> {
    use Element as E;
    Some(match *el {
        E::C_SC_NA_1(c) => E::C_SC_NA_1(c),
        E::C_DC_NA_1(c) => E::C_DC_NA_1(c),
        E::C_RC_NA_1(c) => E::C_RC_NA_1(c),
        E::C_SE_NA_1(v, q) => E::C_SE_NA_1(v, q),
        E::C_SE_NB_1(v, q) => E::C_SE_NB_1(v, q),
        E::C_SE_NC_1(v, q) => E::C_SE_NC_1(v, q),
        E::C_BO_NA_1(b) => E::C_BO_NA_1(b),
        E::C_SC_TA_1(c, t) => E::C_SC_TA_1(c, t),
        E::C_DC_TA_1(c, t) => E::C_DC_TA_1(c, t),
        E::C_RC_TA_1(c, t) => E::C_RC_TA_1(c, t),
        E::C_SE_TA_1(v, q, t) => E::C_SE_TA_1(v, q, t),
        E::C_SE_TB_1(v, q, t) => E::C_SE_TB_1(v, q, t),
        E::C_SE_TC_1(v, q, t) => E::C_SE_TC_1(v, q, t),
        E::C_BO_TA_1(b, t) => E::C_BO_TA_1(b, t),
        E::C_IC_NA_1(q) => E::C_IC_NA_1(q),
        E::C_CI_NA_1(q) => E::C_CI_NA_1(q),
        E::C_RD_NA_1 => E::C_RD_NA_1,
        E::C_CS_NA_1(t) => E::C_CS_NA_1(t),
        E::C_TS_NA_1(f) => E::C_TS_NA_1(f),
        E::C_RP_NA_1(q) => E::C_RP_NA_1(q),
        E::C_CD_NA_1(t) => E::C_CD_NA_1(t),
        E::C_TS_TA_1(c, t) => E::C_TS_TA_1(c, t),
        _ => return None,
    })
}

/// Our reading of a command element in the shape `crates/testkit/peers/c104_client.py` describes what
/// c104 was told to send (`{"on", "qu"}`, `{"state", "qu"}`, `{"value", "ql"}`, `{"octets"}`),
/// and its time tag as ISO 8601 UTC text; `None` for other elements.
pub fn describe_command(el: &Element<'_>) -> Option<(Value, Option<String>)> {
    use serde_json::json;
    use Element as E;
    let iso = |t: &iec104::time::Cp56Time2a| {
        format!(
            "20{:02}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+00:00",
            t.year,
            t.month,
            t.day,
            t.hour,
            t.minute,
            t.millis / 1000,
            t.millis % 1000
        )
    };
    let octets = |b: iec104::asdu::Bitstring| {
        b.0.to_le_bytes()
            .iter()
            .map(|o| format!("{o:02x}"))
            .collect::<String>()
    };
    Some(match el {
        E::C_SC_NA_1(c) => (json!({"on": c.value(), "qu": c.qualifier()}), None),
        E::C_SC_TA_1(c, t) => (json!({"on": c.value(), "qu": c.qualifier()}), Some(iso(t))),
        E::C_DC_NA_1(c) => (json!({"state": c.state() as u8, "qu": c.qualifier()}), None),
        E::C_DC_TA_1(c, t) => (
            json!({"state": c.state() as u8, "qu": c.qualifier()}),
            Some(iso(t)),
        ),
        E::C_RC_NA_1(c) => (json!({"state": c.state() as u8, "qu": c.qualifier()}), None),
        E::C_RC_TA_1(c, t) => (
            json!({"state": c.state() as u8, "qu": c.qualifier()}),
            Some(iso(t)),
        ),
        E::C_SE_NA_1(v, q) => (json!({"value": v.to_f32(), "ql": q.ql()}), None),
        E::C_SE_TA_1(v, q, t) => (json!({"value": v.to_f32(), "ql": q.ql()}), Some(iso(t))),
        E::C_SE_NB_1(v, q) => (json!({"value": v.0, "ql": q.ql()}), None),
        E::C_SE_TB_1(v, q, t) => (json!({"value": v.0, "ql": q.ql()}), Some(iso(t))),
        E::C_SE_NC_1(v, q) => (json!({"value": v, "ql": q.ql()}), None),
        E::C_SE_TC_1(v, q, t) => (json!({"value": v, "ql": q.ql()}), Some(iso(t))),
        E::C_BO_NA_1(b) => (json!({"octets": octets(*b)}), None),
        E::C_BO_TA_1(b, t) => (json!({"octets": octets(*b)}), Some(iso(t))),
        _ => return None,
    })
}

/// Sends an interrogation-like command and collects every object until its ActTerm; checks
/// that a positive ActCon came first. Returns the ASDUs received in between.
pub async fn interrogate(
    client: &Client,
    events: &mut ClientEvents,
    asdu: Asdu,
    what: &str,
) -> Vec<Asdu> {
    let type_id = asdu.type_id().expect("known type");
    bounded("send", STEP, client.send(asdu.into_bytes()))
        .await
        .expect("send");
    let mut data = Vec::new();
    let (con, _) = wait_confirmation(events, type_id, 0, Cause::ActivationCon, &mut data).await;
    assert!(!con.negative, "{what}: negative ActCon");
    assert!(data.is_empty(), "{what}: data before the ActCon: {data:?}");
    let (term, _) = wait_confirmation(events, type_id, 0, Cause::ActivationTerm, &mut data).await;
    assert!(!term.negative, "{what}: negative ActTerm");
    data
}

/// Every object of `asdus` (with its COT) checked against the peer's description: each IOA
/// described with `flag` = true arrives exactly once with `cause`, nothing else arrives.
pub fn check_objects(
    asdus: &[Asdu],
    points: &[Value],
    flag: Option<&str>,
    cause: Cause,
    what: &str,
) -> usize {
    let mut seen = std::collections::BTreeMap::new();
    let mut errors = Vec::new();
    for asdu in asdus {
        let h = asdu.header();
        if h.cot.cause != cause || h.common_address != 47 {
            errors.push(format!(
                "{what}: ASDU with COT {:?} CA {}",
                h.cot, h.common_address
            ));
        }
        for obj in asdu.view().objects() {
            *seen.entry(obj.ioa).or_insert(0) += 1;
            match points
                .iter()
                .find(|p| p["ioa"].as_u64() == Some(u64::from(obj.ioa)))
            {
                Some(want) => {
                    if let Err(e) = super::expect::compare(want, &obj) {
                        errors.push(format!("{what}: {e}"));
                    }
                }
                None => errors.push(format!("{what}: IOA {} not described by the peer", obj.ioa)),
            }
        }
    }
    for p in points {
        let wanted = flag.map_or(true, |f| p[f] == Value::Bool(true));
        let ioa = p["ioa"].as_u64().expect("ioa") as u32;
        let n = seen.get(&ioa).copied().unwrap_or(0);
        if wanted && n != 1 {
            errors.push(format!(
                "{what}: IOA {ioa} ({}) received {n} times",
                p["type"]
            ));
        }
        if !wanted && n != 0 {
            errors.push(format!(
                "{what}: IOA {ioa} ({}) not expected here",
                p["type"]
            ));
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    seen.len()
}

/// Sends one command object and returns its ActCon (positive or not).
pub async fn command(
    client: &Client,
    events: &mut ClientEvents,
    ioa: u32,
    element: Element<'static>,
) -> (Cot, Element<'static>) {
    let asdu = Asdu::single(
        Cot::new(Cause::Activation),
        47,
        InformationObject::new(ioa, element),
    )
    .expect("command ASDU");
    bounded("send command", STEP, client.send(asdu.into_bytes()))
        .await
        .expect("send");
    let mut other = Vec::new();
    let r = wait_confirmation(
        events,
        element.type_id(),
        ioa,
        Cause::ActivationCon,
        &mut other,
    )
    .await;
    assert!(
        other.is_empty(),
        "unexpected ASDUs before the ActCon of {ioa}: {other:?}"
    );
    r
}

//! Client-side steps of the interop sessions: waiting for ASDUs and confirmations, sending
//! commands and interrogations, checking received objects against a peer's description.

use std::time::Duration;

use iec104::asdu::{Asdu, AsduParams, Element, InformationObject};
use iec104::client::{Client, ClientEvent, ClientEvents};
use iec104::{Cause, Cot, TypeId};
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
                let el = owned_element(&obj.element);
                return (h.cot, el);
            }
        }
        other.push(asdu);
    }
}

/// A copy of a command element that borrows nothing (every command element is `Copy` data).
pub fn owned_element(el: &Element<'_>) -> Element<'static> {
    match *el {
        Element::C_SC_NA_1(c) => Element::C_SC_NA_1(c),
        Element::C_DC_NA_1(c) => Element::C_DC_NA_1(c),
        Element::C_SE_NA_1(v, q) => Element::C_SE_NA_1(v, q),
        Element::C_SE_NB_1(v, q) => Element::C_SE_NB_1(v, q),
        Element::C_SE_NC_1(v, q) => Element::C_SE_NC_1(v, q),
        Element::C_IC_NA_1(q) => Element::C_IC_NA_1(q),
        Element::C_CI_NA_1(q) => Element::C_CI_NA_1(q),
        other => panic!("unexpected confirmation element {other:?}"),
    }
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

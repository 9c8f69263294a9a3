//! A controlled station and a controlling station talking over 127.0.0.1.
//!
//! The server holds a few points and answers a general interrogation; the client connects,
//! starts data transfer (STARTDT), interrogates, prints every information object it receives
//! and exits after the activation termination.
//!
//! Run with `cargo run -p iec104 --example loopback`.

use std::error::Error;
use std::time::Duration;

use bytes::Bytes;
use iec104::asdu::{
    Asdu, AsduParams, DoublePoint, DoubleState, Element, InformationObject, Qds, Qoi, Quality,
    SinglePoint,
};
use iec104::client::{self, ClientConfig, ClientEvent};
use iec104::cot::{Cause, Cot};
use iec104::server::{Server, ServerConfig, ServerEvent, ServerEvents, ServerHandle};
use iec104::time::Cp56Time2a;
use iec104::type_id::TypeId;

/// Common address of the example station.
const CA: u16 = 1;

/// The station's points, as information objects.
fn points() -> Vec<InformationObject<'static>> {
    let now = Cp56Time2a::from_datetime(&chrono::Utc::now());
    vec![
        InformationObject::new(
            1001,
            Element::M_SP_NA_1(SinglePoint::new(true, Quality::GOOD)),
        ),
        InformationObject::new(
            1002,
            Element::M_DP_TB_1(DoublePoint::new(DoubleState::Off, Quality::GOOD), now),
        ),
        InformationObject::new(2001, Element::M_ME_NC_1(230.5, Qds::new(Quality::GOOD))),
        InformationObject::new(2002, Element::M_ME_NC_1(49.98, Qds::new(Quality::NT))),
    ]
}

/// Answers every general interrogation with ActCon, the points (COT 20) and ActTerm.
async fn station(handle: ServerHandle, mut events: ServerEvents) {
    while let Some(event) = events.recv().await {
        let ServerEvent::Asdu { conn, asdu } = event else {
            continue;
        };
        let Ok(asdu) = Asdu::parse(asdu, AsduParams::IEC104) else {
            continue;
        };
        if asdu.type_id() != Some(TypeId::C_IC_NA_1) {
            continue;
        }
        let qoi = match asdu.view().objects().next() {
            Some(InformationObject {
                element: Element::C_IC_NA_1(q),
                ..
            }) => q,
            _ => continue,
        };
        let mut replies: Vec<Bytes> =
            vec![Asdu::interrogation(CA, qoi, Cot::new(Cause::ActivationCon)).into_bytes()];
        for point in points() {
            if let Ok(a) = Asdu::single(Cot::new(Cause::InterrogatedByStation), CA, point) {
                replies.push(a.into_bytes());
            }
        }
        replies.push(Asdu::interrogation(CA, qoi, Cot::new(Cause::ActivationTerm)).into_bytes());
        for r in replies {
            if handle.send_to(conn, r).await.is_err() {
                break;
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // The controlled station on an ephemeral port of 127.0.0.1.
    let (handle, events, run) =
        Server::bind("127.0.0.1:0".parse()?, ServerConfig::default()).await?;
    let addr = handle.local_addr();
    println!("server listening on {addr}");
    let server_task = tokio::spawn(run);
    let station_task = tokio::spawn(station(handle.clone(), events));

    // The controlling station.
    let (client, mut client_events, connection) =
        client::connect(addr, ClientConfig::default()).await?;
    let connection_task = tokio::spawn(connection);
    client.start_dt().await?;
    println!("STARTDT confirmed");
    client
        .send(Asdu::interrogation(CA, Qoi::STATION, Cot::new(Cause::Activation)).into_bytes())
        .await?;

    let outcome = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = client_events.recv().await {
            match event {
                ClientEvent::Asdu { asdu, .. } => {
                    let asdu = Asdu::parse(asdu, AsduParams::IEC104)?;
                    let h = *asdu.header();
                    for obj in asdu.view().objects() {
                        println!(
                            "CA {} {} {:?}: IOA {} {:?}",
                            h.common_address,
                            obj.element.type_id().name(),
                            h.cot.cause,
                            obj.ioa,
                            obj.element
                        );
                    }
                    if asdu.type_id() == Some(TypeId::C_IC_NA_1)
                        && h.cot.cause == Cause::ActivationTerm
                    {
                        println!("interrogation terminated");
                        return Ok::<(), Box<dyn Error>>(());
                    }
                }
                ClientEvent::Closed { reason } => return Err(format!("closed: {reason:?}").into()),
                _ => {}
            }
        }
        Err("event stream ended".into())
    })
    .await;

    client.close();
    let _ = connection_task.await;
    handle.shutdown();
    let _ = server_task.await;
    station_task.abort();
    match outcome {
        Ok(result) => result,
        Err(_) => Err("no activation termination within 10 s".into()),
    }
}

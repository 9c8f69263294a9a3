//! Simulated substations for the demo, on the iec104 server: a few measurements drifting
//! (M_ME_TF_1 with time tags), a breaker (M_DP_TB_1) that follows C_DC_NA_1 commands with
//! ActCon then ActTerm, and answers to interrogation, clock sync and counter interrogation.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use iec104::asdu::{
    Asdu, AsduParams, AsduView, DoublePoint, DoubleState, Element, InformationObject, Qds, Quality,
};
use iec104::server::{Server, ServerConfig, ServerEvent, ServerHandle};
use iec104::time::Cp56Time2a;
use iec104::{Cause, Cot};

/// Measurements of a station: (ioa, base value).
const MEASUREMENTS: [(u32, f32); 4] = [(1001, 110.0), (1002, 412.0), (1003, 38.5), (1004, 7.2)];
/// IOA of the breaker position (double point) and its command.
const BREAKER: u32 = 2001;

fn build(cause: Cause, ca: u16, ioa: u32, e: Element<'_>) -> Option<Bytes> {
    Asdu::single(Cot::new(cause), ca, InformationObject::new(ioa, e))
        .ok()
        .map(|a| a.into_bytes())
}

fn mirror(asdu: &[u8], cause: Cause) -> Bytes {
    let mut v = asdu.to_vec();
    let negative = matches!(cause, Cause::UnknownObjectAddress);
    if let Some(c) = v.get_mut(2) {
        *c = cause.as_u8() | if negative { 0x40 } else { 0 };
    }
    Bytes::from(v)
}

/// Binds a station with common address `ca` on 127.0.0.1 (port 0); returns its address and
/// the future that runs it.
pub async fn station(
    ca: u16,
) -> Result<(SocketAddr, impl std::future::Future<Output = ()>), String> {
    let (handle, mut events, run) =
        Server::bind(([127, 0, 0, 1], 0).into(), ServerConfig::default())
            .await
            .map_err(|e| format!("simulated station: {e}"))?;
    let addr = handle.local_addr();
    let fut = async move {
        tokio::pin!(run);
        let mut values: Vec<f32> = MEASUREMENTS.iter().map(|(_, v)| *v).collect();
        let mut breaker = DoubleState::On;
        let mut tick = tokio::time::interval(Duration::from_millis(700 + u64::from(ca) * 130));
        loop {
            tokio::select! {
                _ = &mut run => return,
                _ = tick.tick() => {
                    let i = fastrand::usize(..values.len());
                    if let (Some(v), Some((ioa, base))) = (values.get_mut(i), MEASUREMENTS.get(i)) {
                        *v = (*v + (fastrand::f32() - 0.5) * base * 0.01).clamp(base * 0.9, base * 1.1);
                        let t = Cp56Time2a::from_datetime(&Utc::now());
                        if let Some(a) = build(Cause::Spontaneous, ca, *ioa, Element::M_ME_TF_1(*v, Qds::new(Quality::GOOD), t)) {
                            let _ = handle.enqueue(a);
                        }
                    }
                }
                ev = events.recv() => {
                    let Some(ServerEvent::Asdu { conn, asdu }) = ev else {
                        if ev.is_none() { return; }
                        continue;
                    };
                    answer(&handle, conn, &asdu, ca, &values, &mut breaker).await;
                }
            }
        }
    };
    Ok((addr, fut))
}

async fn answer(
    handle: &ServerHandle,
    conn: iec104::server::ConnectionId,
    asdu: &Bytes,
    ca: u16,
    values: &[f32],
    breaker: &mut DoubleState,
) {
    let Ok(view) = AsduView::parse(asdu, &AsduParams::IEC104) else {
        return;
    };
    let mut replies = Vec::new();
    let dp = |s: DoubleState, cause| {
        build(
            cause,
            ca,
            BREAKER,
            Element::M_DP_TB_1(
                DoublePoint::new(s, Quality::GOOD),
                Cp56Time2a::from_datetime(&Utc::now()),
            ),
        )
    };
    match view.header().type_id {
        100 => {
            replies.push(Some(mirror(asdu, Cause::ActivationCon)));
            for ((ioa, _), v) in MEASUREMENTS.iter().zip(values) {
                replies.push(build(
                    Cause::InterrogatedByStation,
                    ca,
                    *ioa,
                    Element::M_ME_NC_1(*v, Qds::new(Quality::GOOD)),
                ));
            }
            replies.push(build(
                Cause::InterrogatedByStation,
                ca,
                BREAKER,
                Element::M_DP_NA_1(DoublePoint::new(*breaker, Quality::GOOD)),
            ));
            replies.push(Some(mirror(asdu, Cause::ActivationTerm)));
        }
        101 | 103 => replies.push(Some(mirror(asdu, Cause::ActivationCon))),
        46 => {
            let obj = view.objects().next();
            let dco = asdu.last().copied().unwrap_or(0);
            if obj.map(|o| o.ioa) != Some(BREAKER) {
                replies.push(Some(mirror(asdu, Cause::UnknownObjectAddress)));
            } else {
                replies.push(Some(mirror(asdu, Cause::ActivationCon)));
                if dco & 0x80 == 0 {
                    *breaker = DoubleState::from_bits(dco & 0x03);
                    replies.push(dp(*breaker, Cause::ReturnRemote));
                    replies.push(Some(mirror(asdu, Cause::ActivationTerm)));
                }
            }
        }
        45..=64 => replies.push(Some(mirror(asdu, Cause::UnknownObjectAddress))),
        _ => {}
    }
    for r in replies.into_iter().flatten() {
        let _ = handle.send_to(conn, r).await;
    }
}

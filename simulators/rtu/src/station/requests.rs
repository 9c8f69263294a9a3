//! What a station answers: interrogation, counter interrogation, read, clock
//! synchronization, test, reset, and process commands with select-before-operate, their
//! confirmations and refusals.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use iec104::asdu::{Asdu, AsduParams, DoubleState, Element, InformationObject, Qcc};
use iec104::cot::Cause;
use iec104::server::ConnectionId;
use iec104::time::Cp56Time2a;
use iec104::type_id::TypeId;
use tokio::time::Instant;

use super::packer::Packer;
use super::spontaneous::cp56_at;
use super::{Internal, Selection, Station};
use crate::points::{command_base, time_tag};

impl Station {
    pub(super) async fn on_asdu(&mut self, conn: ConnectionId, asdu: Bytes) {
        let asdu = match Asdu::parse(asdu, AsduParams::IEC104) {
            Ok(asdu) => asdu,
            Err(error) => {
                tracing::warn!(station = %self.name, %conn, %error, "undecodable ASDU ignored");
                return;
            }
        };
        let view = asdu.view();
        let header = *view.header();
        let Some(type_id) = view.type_id() else {
            return self
                .refuse(conn, &asdu, Cause::UnknownTypeId, "unknown_type")
                .await;
        };
        let broadcast_ok = matches!(type_id.as_u8(), 100 | 101 | 103 | 105);
        if header.common_address != self.ca && !(broadcast_ok && header.common_address == 0xFFFF) {
            return self
                .refuse(conn, &asdu, Cause::UnknownCommonAddress, "unknown_ca")
                .await;
        }
        let cause = header.cot.cause;
        let Some(object) = view.objects().next() else {
            return self
                .refuse(conn, &asdu, Cause::UnknownTypeId, "unknown_type")
                .await;
        };
        match object.element {
            Element::C_IC_NA_1(qoi) => {
                self.on_interrogation(conn, &asdu, cause, object.ioa, qoi.0)
                    .await
            }
            Element::C_CI_NA_1(qcc) => match cause {
                Cause::Activation if object.ioa == 0 => {
                    let outcome = if self.counter_interrogation(conn, &asdu, qcc) {
                        "confirmed"
                    } else {
                        "rejected_qualifier"
                    };
                    self.log_command(&asdu, outcome).await;
                }
                Cause::Activation => {
                    self.refuse(conn, &asdu, Cause::UnknownObjectAddress, "unknown_ioa")
                        .await
                }
                _ => {
                    self.refuse(conn, &asdu, Cause::UnknownCause, "unknown_cause")
                        .await
                }
            },
            Element::C_RD_NA_1 => self.on_read(conn, &asdu, cause, object.ioa).await,
            Element::C_CS_NA_1(time) => self.on_clock_sync(conn, &asdu, cause, &time).await,
            Element::C_TS_NA_1(_) | Element::C_TS_TA_1(..) | Element::C_RP_NA_1(_) => {
                if cause != Cause::Activation {
                    return self
                        .refuse(conn, &asdu, Cause::UnknownCause, "unknown_cause")
                        .await;
                }
                self.answer(conn, &asdu, Cause::ActivationCon, false);
                self.log_command(&asdu, "confirmed").await;
            }
            _ if command_base(type_id) >= 45 && command_base(type_id) <= 51 => {
                self.command(conn, asdu.clone(), type_id, object).await
            }
            _ => {
                self.refuse(conn, &asdu, Cause::UnknownTypeId, "unknown_type")
                    .await
            }
        }
    }

    /// C_IC_NA_1: station or group interrogation (activation or deactivation).
    async fn on_interrogation(
        &mut self,
        conn: ConnectionId,
        asdu: &Asdu,
        cause: Cause,
        ioa: u32,
        qoi: u8,
    ) {
        match cause {
            Cause::Activation => {
                if ioa != 0 {
                    return self
                        .refuse(conn, asdu, Cause::UnknownObjectAddress, "unknown_ioa")
                        .await;
                }
                let group = match qoi {
                    20 => None,
                    21..=36 => Some(qoi - 20),
                    _ => {
                        return self
                            .refuse(conn, asdu, Cause::ActivationCon, "rejected_qualifier")
                            .await
                    }
                };
                self.interrogation(conn, asdu, group);
                self.log_command(asdu, "confirmed").await;
            }
            Cause::Deactivation => {
                self.answer(conn, asdu, Cause::DeactivationCon, false);
                self.log_command(asdu, "confirmed").await;
            }
            _ => {
                self.refuse(conn, asdu, Cause::UnknownCause, "unknown_cause")
                    .await
            }
        }
    }

    /// C_RD_NA_1: the point's current value, or unknown_ioa.
    async fn on_read(&mut self, conn: ConnectionId, asdu: &Asdu, cause: Cause, ioa: u32) {
        if cause != Cause::Request {
            return self
                .refuse(conn, asdu, Cause::UnknownCause, "unknown_cause")
                .await;
        }
        let time = Cp56Time2a::from_datetime(&self.now_utc());
        match self.table.get(ioa).and_then(|p| p.element(&time)) {
            Some(e) => {
                let mut packer = Packer::new(Cause::Request, self.ca);
                packer.push(InformationObject::new(ioa, e));
                self.respond(conn, packer.finish());
                self.log_command(asdu, "confirmed").await;
            }
            None => {
                self.refuse(conn, asdu, Cause::UnknownObjectAddress, "unknown_ioa")
                    .await
            }
        }
    }

    /// C_CS_NA_1: the station's clock set (an invalid time is refused).
    async fn on_clock_sync(
        &mut self,
        conn: ConnectionId,
        asdu: &Asdu,
        cause: Cause,
        time: &Cp56Time2a,
    ) {
        if cause != Cause::Activation {
            return self
                .refuse(conn, asdu, Cause::UnknownCause, "unknown_cause")
                .await;
        }
        match time.to_utc() {
            Some(at) => {
                self.clock_offset = at - Utc::now();
                self.answer(conn, asdu, Cause::ActivationCon, false);
                self.log_command(asdu, "confirmed").await;
            }
            None => {
                self.refuse(conn, asdu, Cause::ActivationCon, "rejected_time")
                    .await
            }
        }
    }

    /// ActCon, the data of the group (station: every monitored point except integrated
    /// totals), ActTerm.
    fn interrogation(&self, conn: ConnectionId, asdu: &Asdu, group: Option<u8>) {
        let cause = match group {
            None => Cause::InterrogatedByStation,
            Some(g) => Cause::InterrogatedByGroup(g),
        };
        let time = Cp56Time2a::from_datetime(&self.now_utc());
        let mut packer = Packer::new(cause, self.ca);
        for p in &self.table.points {
            if p.is_command() || p.is_counter() || p.is_protection() {
                continue;
            }
            if group.is_some() && p.group != group {
                continue;
            }
            if let Some(e) = p.element(&time) {
                packer.push(InformationObject::new(p.ioa, e));
            }
        }
        let mut batch = vec![asdu.view().reply(Cause::ActivationCon, false).into_bytes()];
        batch.extend(packer.finish());
        batch.push(asdu.view().reply(Cause::ActivationTerm, false).into_bytes());
        self.respond(conn, batch);
    }

    /// ActCon, the counters (for a read, or after a freeze), ActTerm; false (and a negative
    /// ActCon) for a request qualifier other than 1..=5.
    fn counter_interrogation(&mut self, conn: ConnectionId, asdu: &Asdu, qcc: Qcc) -> bool {
        let rqt = qcc.request();
        let group = match rqt {
            5 => None,
            1..=4 => Some(rqt),
            _ => {
                self.answer(conn, asdu, Cause::ActivationCon, true);
                return false;
            }
        };
        let cause = match group {
            None => Cause::RequestedByGeneralCounter,
            Some(g) => Cause::RequestedByGroupCounter(g),
        };
        let time = Cp56Time2a::from_datetime(&self.now_utc());
        let mut packer = Packer::new(cause, self.ca);
        let freeze = qcc.freeze();
        for p in &mut self.table.points {
            if !p.is_counter() || (group.is_some() && p.group != group) {
                continue;
            }
            match freeze {
                // Read: the frozen value if there is one, else the current one.
                0 => {
                    let v = p.frozen.take().unwrap_or(p.value);
                    if let Some(e) = p.element_with(v, &time) {
                        packer.push(InformationObject::new(p.ioa, e));
                    }
                    p.sequence = (p.sequence + 1) % 32;
                }
                1 => p.frozen = Some(p.value),
                2 => {
                    p.frozen = Some(p.value);
                    p.value = 0.0;
                }
                _ => p.value = 0.0,
            }
        }
        let mut batch = vec![asdu.view().reply(Cause::ActivationCon, false).into_bytes()];
        batch.extend(packer.finish());
        batch.push(asdu.view().reply(Cause::ActivationTerm, false).into_bytes());
        self.respond(conn, batch);
        true
    }

    /// A process command (C_SC, C_DC, C_RC, C_SE, C_BO with or without time tag).
    async fn command(
        &mut self,
        conn: ConnectionId,
        asdu: Asdu,
        type_id: TypeId,
        object: InformationObject<'_>,
    ) {
        if !self.table.accepts_command_type(type_id) {
            return self
                .refuse(conn, &asdu, Cause::UnknownTypeId, "unknown_type")
                .await;
        }
        let cause = asdu.header().cot.cause;
        if !matches!(cause, Cause::Activation | Cause::Deactivation) {
            return self
                .refuse(conn, &asdu, Cause::UnknownCause, "unknown_cause")
                .await;
        }
        let base = command_base(type_id);
        let spec = match self.table.get(object.ioa) {
            Some(p) if p.is_command() => {
                if command_base(p.type_id) != base {
                    return self
                        .refuse(conn, &asdu, Cause::UnknownTypeId, "unknown_type")
                        .await;
                }
                p.command.clone()
            }
            _ => None,
        };
        let Some(spec) = spec else {
            return self
                .refuse(conn, &asdu, Cause::UnknownObjectAddress, "unknown_ioa")
                .await;
        };
        if cause == Cause::Deactivation {
            let had = self.selections.remove(&object.ioa).is_some();
            self.answer(conn, &asdu, Cause::DeactivationCon, !had);
            return self
                .log_command(
                    &asdu,
                    if had {
                        "cancelled"
                    } else {
                        "rejected_not_selected"
                    },
                )
                .await;
        }
        let Some((value, select)) = command_value(&object.element) else {
            return self
                .refuse(conn, &asdu, Cause::ActivationCon, "rejected_value")
                .await;
        };
        let now = Instant::now();
        if select {
            self.selections.insert(
                object.ioa,
                Selection {
                    conn,
                    base,
                    value,
                    deadline: now + self.select_timeout,
                },
            );
            self.answer(conn, &asdu, Cause::ActivationCon, false);
            return self.log_command(&asdu, "selected").await;
        }
        let selection = self.selections.remove(&object.ioa);
        if spec.sbo {
            let refusal = match selection {
                None => Some("rejected_not_selected"),
                Some(s) if s.deadline < now => Some("select_timeout"),
                Some(s) if s.conn != conn || s.base != base || s.value != value => {
                    Some("rejected_not_selected")
                }
                Some(_) => None,
            };
            if let Some(outcome) = refusal {
                return self
                    .refuse(conn, &asdu, Cause::ActivationCon, outcome)
                    .await;
            }
        }
        self.answer(conn, &asdu, Cause::ActivationCon, false);
        self.log_command(&asdu, "executed").await;
        let done = Internal::Complete {
            conn,
            asdu,
            ioa: object.ioa,
            value,
        };
        if spec.delay_ms == 0 {
            self.complete(done).await;
        } else {
            let tx = self.internal_tx.clone();
            let delay = Duration::from_millis(spec.delay_ms);
            self.tasks.spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = tx.send(done).await;
            });
        }
    }

    /// The command's effect on the point it drives (reported with COT retrem), then ActTerm.
    pub(super) async fn complete(&mut self, msg: Internal) {
        let Internal::Complete {
            conn,
            asdu,
            ioa,
            value,
        } = msg;
        let drives = self
            .table
            .get(ioa)
            .and_then(|p| p.command.as_ref().map(|c| (p.type_id, c.drives)));
        if let Some((type_id, Some(target))) = drives {
            let now = self.now_utc();
            let object = self.table.get_mut(target).and_then(|t| {
                t.value = if command_base(type_id) == 47 {
                    // Regulating step: one step up or down, within the VTI range.
                    (t.value + value).clamp(-64.0, 63.0)
                } else {
                    value
                };
                t.last_sent = t.value;
                // The change has a time tag of its own (one per point and millisecond).
                let tag = time_tag::next_tag(t.last_tag_ms, now.timestamp_millis(), i64::MAX)?;
                t.last_tag_ms = Some(tag);
                t.element(&cp56_at(tag, &now))
                    .map(|e| InformationObject::new(t.ioa, e))
            });
            if let Some(object) = object {
                let mut packer = Packer::new(Cause::ReturnRemote, self.ca);
                packer.push(object);
                for a in packer.finish() {
                    self.stats.objects.fetch_add(1, Ordering::Relaxed);
                    self.emit(a, now).await;
                }
            }
        }
        // After the change it caused (enqueued above as an event): the client sees the new
        // state before the command's termination.
        self.respond_after_events(
            conn,
            vec![asdu.view().reply(Cause::ActivationTerm, false).into_bytes()],
        );
    }
}

/// The commanded value and the S/E bit of a process command (C_RC: +1 higher, −1 lower);
/// `None` for a value the standard does not permit (DCS/RCS 0 or 3).
fn command_value(e: &Element<'_>) -> Option<(f64, bool)> {
    let double = |s: DoubleState| match s {
        DoubleState::Off => Some(1.0),
        DoubleState::On => Some(2.0),
        _ => None,
    };
    let step = |s: DoubleState| match s {
        DoubleState::Off => Some(-1.0),
        DoubleState::On => Some(1.0),
        _ => None,
    };
    match *e {
        Element::C_SC_NA_1(c) | Element::C_SC_TA_1(c, _) => {
            Some((f64::from(u8::from(c.value())), c.select()))
        }
        Element::C_DC_NA_1(c) | Element::C_DC_TA_1(c, _) => Some((double(c.state())?, c.select())),
        Element::C_RC_NA_1(c) | Element::C_RC_TA_1(c, _) => Some((step(c.state())?, c.select())),
        Element::C_SE_NA_1(n, q) | Element::C_SE_TA_1(n, q, _) => {
            Some((f64::from(n.to_f32()), q.select()))
        }
        Element::C_SE_NB_1(s, q) | Element::C_SE_TB_1(s, q, _) => {
            Some((f64::from(s.0), q.select()))
        }
        Element::C_SE_NC_1(f, q) | Element::C_SE_TC_1(f, q, _) => Some((f64::from(f), q.select())),
        Element::C_BO_NA_1(b) | Element::C_BO_TA_1(b, _) => Some((f64::from(b.0), false)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_values() {
        use iec104::asdu::{DoubleCommand, Qos, Scaled, StepCommand};
        assert_eq!(
            command_value(&Element::C_DC_NA_1(DoubleCommand::new(
                DoubleState::On,
                0,
                true
            ))),
            Some((2.0, true))
        );
        assert_eq!(
            command_value(&Element::C_DC_NA_1(DoubleCommand::new(
                DoubleState::Indeterminate,
                0,
                false
            ))),
            None
        );
        assert_eq!(
            command_value(&Element::C_RC_NA_1(StepCommand::new(
                DoubleState::Off,
                0,
                false
            ))),
            Some((-1.0, false))
        );
        assert_eq!(
            command_value(&Element::C_SE_NB_1(Scaled(-5), Qos::new(0, true))),
            Some((-5.0, true))
        );
    }
}

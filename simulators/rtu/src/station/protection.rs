//! The `protection_trip` fault: what a protection relay and its breaker report when the relay
//! trips — start events, the protection event, the trip command to the output circuit, the
//! breaker opening, the protection event going off — each once, with the time it happened.

use std::sync::atomic::Ordering;

use iec104::asdu::InformationObject;
use iec104::cot::Cause;

use super::packer::Packer;
use super::spontaneous::cp56_at;
use super::Station;
use crate::faults::FaultSpec;
use crate::points::behaviour::ValueKind;
use crate::points::time_tag;

/// SPE of the start: GS (general start), SL1, SL2, SL3 (IEC 60870-5-101 §7.2.6.11).
pub const START_ALL_PHASES: f64 = 0x0F as f64;
/// OCI of the trip: GC (general command), CL1, CL2, CL3 (§7.2.6.12).
pub const TRIP_ALL_PHASES: f64 = 0x0F as f64;
/// DPI/ES on and off (§7.2.6.2, §7.2.6.10).
const ES_ON: f64 = 2.0;
const ES_OFF: f64 = 1.0;

/// One report of the sequence: the point, milliseconds after the start, its value, and its
/// CP16Time2a (elapsed, relay duration or relay operating time).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// IOA.
    pub ioa: u32,
    /// Milliseconds after the start of the fault.
    pub at_ms: i64,
    /// The value the point takes.
    pub value: f64,
    /// The CP16Time2a of a protection event (0 for the breaker).
    pub cp16_ms: u16,
}

/// The reports of a trip, in time order: start events at 0 (relay duration time: until the
/// trip), the protection event on and the output circuit command at `operate_ms` (elapsed and
/// relay operating time: `operate_ms`), the breaker off and the protection event off
/// `breaker_ms` later. `breaker_off` is the breaker's off value (single 0, double 1).
pub fn trip_sequence(spec: &FaultSpec, breaker_off: f64) -> Vec<Step> {
    let operate = spec.operate_ms.unwrap_or(40);
    let breaker = spec.breaker_ms.unwrap_or(60);
    let open_ms = i64::from(operate) + i64::from(breaker);
    let cleared = operate.saturating_add(breaker);
    let steps = [
        (spec.start, 0, START_ALL_PHASES, operate),
        (spec.event, i64::from(operate), ES_ON, operate),
        (spec.trip, i64::from(operate), TRIP_ALL_PHASES, operate),
        (spec.breaker, open_ms, breaker_off, 0),
        (spec.event, open_ms, ES_OFF, cleared),
    ];
    steps
        .into_iter()
        .filter_map(|(ioa, at_ms, value, cp16_ms)| {
            ioa.map(|ioa| Step {
                ioa,
                at_ms,
                value,
                cp16_ms,
            })
        })
        .collect()
}

impl Station {
    /// Reports a protection trip that ended now: the sequence of [`trip_sequence`] with time
    /// tags counted back from the station clock, one ASDU per report, in time order.
    pub(super) async fn protection_trip(&mut self, spec: &FaultSpec) {
        let breaker_off = match spec
            .breaker
            .and_then(|b| self.table.get(b))
            .map(|p| p.kind())
        {
            Some(ValueKind::Single) => 0.0,
            _ => ES_OFF,
        };
        let steps = trip_sequence(spec, breaker_off);
        let now = self.now_utc();
        let start_ms = now.timestamp_millis() - steps.last().map_or(0, |s| s.at_ms);
        for step in steps {
            let Some(p) = self.table.get_mut(step.ioa) else {
                continue;
            };
            let Some(tag) = time_tag::next_tag(p.last_tag_ms, start_ms + step.at_ms, i64::MAX)
            else {
                continue;
            };
            p.value = step.value;
            p.last_sent = step.value;
            p.elapsed_ms = step.cp16_ms;
            p.last_tag_ms = Some(tag);
            let Some(e) = p.element(&cp56_at(tag, &now)) else {
                continue;
            };
            let mut packer = Packer::new(Cause::Spontaneous, self.ca);
            packer.push(InformationObject::new(step.ioa, e));
            for asdu in packer.finish() {
                self.stats.objects.fetch_add(1, Ordering::Relaxed);
                self.emit(asdu, now).await;
            }
        }
        tracing::info!(station = %self.name, "protection trip reported");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trip_starts_operates_then_opens_the_breaker() {
        let spec = FaultSpec::parse_arg(
            "kind=protection_trip,at=1,start=300,event=301,trip=302,breaker=10,operate_ms=30,breaker_ms=50",
        )
        .unwrap();
        let s = |ioa, at_ms, value, cp16_ms| Step {
            ioa,
            at_ms,
            value,
            cp16_ms,
        };
        assert_eq!(
            trip_sequence(&spec, 1.0),
            [
                s(300, 0, 15.0, 30),
                s(301, 30, 2.0, 30),
                s(302, 30, 15.0, 30),
                s(10, 80, 1.0, 0),
                s(301, 80, 1.0, 80),
            ]
        );
        let only_breaker = FaultSpec::parse_arg("kind=protection_trip,at=1,breaker=7").unwrap();
        assert_eq!(trip_sequence(&only_breaker, 0.0), [s(7, 100, 0.0, 0)]);
    }
}

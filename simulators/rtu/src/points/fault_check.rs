//! A fault's keys checked against the station's points (a scenario error names the key).

use crate::faults::*;
use crate::points::PointTable;

impl FaultSpec {
    /// Checks the keys of the fault against the station's points: a `quality` fault's flags
    /// and IOAs, a `protection_trip`'s points and their types. The message names the key.
    pub fn check(&self, table: &PointTable) -> Result<(), String> {
        match self.kind {
            FaultKind::Quality => {
                if self.flags.is_some() && self.quality_flags().is_none() {
                    return Err(format!(
                        "quality fault: flags {:?} must be among IV, NT, SB, BL, OV, EI",
                        self.flags.as_ref().map(Flags::names).unwrap_or_default()
                    ));
                }
                for &ioa in self.points.iter().flatten() {
                    if !table.get(ioa).is_some_and(|p| p.is_monitored()) {
                        return Err(format!(
                            "quality fault: points: IOA {ioa} is not a monitored point of this station"
                        ));
                    }
                }
                Ok(())
            }
            FaultKind::ProtectionTrip => {
                let roles: [(&str, Option<u32>, &[u8], &str); 4] = [
                    ("start", self.start, &[39], "M_EP_TE_1"),
                    ("event", self.event, &[38], "M_EP_TD_1"),
                    ("trip", self.trip, &[40], "M_EP_TF_1"),
                    (
                        "breaker",
                        self.breaker,
                        &[1, 2, 3, 4, 30, 31],
                        "a single or double point",
                    ),
                ];
                if roles.iter().all(|(_, ioa, _, _)| ioa.is_none()) {
                    return Err(
                        "protection_trip: give at least one of start, event, trip, breaker".into(),
                    );
                }
                for (key, ioa, types, what) in roles {
                    let Some(ioa) = ioa else { continue };
                    if !table
                        .get(ioa)
                        .is_some_and(|p| types.contains(&p.type_id.as_u8()))
                    {
                        return Err(format!(
                            "protection_trip: {key} = {ioa} must be the IOA of {what} of this station"
                        ));
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

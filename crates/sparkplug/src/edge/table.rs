//! The metric table of one edge node: node metrics, one metric per point, one result metric
//! per writable point; aliases fixed when a metric is added.

use std::collections::{HashMap, HashSet};

use iec104::asdu::Quality;
use iec104::type_id::TypeId;

use crate::datatype::DataType;
use crate::point::{CommandKind, PointAddress, PointKind};
use crate::quality::Extras;
use crate::value::Value;

/// How a writable point is commanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    /// The command type id (C_SC_NA_1 ... C_BO_TA_1).
    pub type_id: TypeId,
    /// Select before operate.
    pub select: bool,
}

impl CommandSpec {
    /// The spec for a command type mnemonic as written in a configuration (`"C_DC_NA_1"`).
    pub fn from_mnemonic(type_name: &str, select: bool) -> Result<CommandSpec, PointError> {
        let type_id = TypeId::from_name(type_name)
            .filter(|t| CommandKind::from_type_id(*t).is_some())
            .ok_or_else(|| PointError::UnknownCommandType(type_name.to_owned()))?;
        Ok(CommandSpec { type_id, select })
    }
}

/// One configured point of the RTU.
#[derive(Debug, Clone, PartialEq)]
pub struct PointConfig {
    /// Address on the RTU.
    pub address: PointAddress,
    /// Configured name; the metric name is `{ca}/{ioa}` without it.
    pub name: Option<String>,
    /// The monitoring kind when known from the configuration (else learnt from the values).
    pub kind: Option<PointKind>,
    /// The command this point accepts, making its metric writable.
    pub command: Option<CommandSpec>,
}

/// A point configuration the edge node cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PointError {
    /// Two points give the same metric name.
    #[error("metric name {0:?} is used by two points")]
    DuplicateName(String),
    /// Two points have the same address.
    #[error("point ca {ca} ioa {ioa} is configured twice")]
    DuplicateAddress {
        /// Common address.
        ca: u16,
        /// Information object address.
        ioa: u32,
    },
    /// A command type mnemonic that is not a process command.
    #[error("command type {0:?}: expected one of C_SC_NA_1, C_DC_NA_1, C_RC_NA_1, C_SE_NA_1, C_SE_NB_1, C_SE_NC_1, C_BO_NA_1 or their _TA_1 forms")]
    UnknownCommandType(String),
    /// The command type id is not a process command.
    #[error("point {name:?}: {type_id} is not a process command (C_SC, C_DC, C_RC, C_SE, C_BO)")]
    NotACommand {
        /// Metric name.
        name: String,
        /// Refused type id.
        type_id: TypeId,
    },
    /// A value came from a new point but the table already holds its most metrics.
    #[error("point ca {ca} ioa {ioa} refused: the edge node already has {max} metrics")]
    TableFull {
        /// Common address.
        ca: u16,
        /// Information object address.
        ioa: u32,
        /// The limit.
        max: usize,
    },
    /// A value kept durably by an earlier run names a metric that is gone or whose datatype
    /// changed since.
    #[error("stored history value of {0:?} no longer fits the configuration")]
    StoredMismatch(String),
    /// Monitoring and command datatypes differ, so one metric cannot carry both.
    #[error("point {name:?}: monitored as {monitored} but commanded as {commanded}")]
    DatatypeConflict {
        /// Metric name.
        name: String,
        /// Datatype of the monitored values.
        monitored: &'static str,
        /// Datatype of the command.
        commanded: &'static str,
    },
}

/// One metric.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Slot {
    pub name: String,
    pub alias: u64,
    pub datatype: DataType,
    pub address: Option<PointAddress>,
    pub command: Option<(CommandKind, CommandSpec)>,
    /// Index of the result metric of a writable point.
    pub result: Option<usize>,
    pub value: Option<Value>,
    pub quality: Option<(Quality, Extras)>,
    pub timestamp: Option<u64>,
}

/// First alias of device metrics; node metrics use the aliases below it.
pub(crate) const FIRST_DEVICE_ALIAS: u64 = 16;

/// The device metrics of one edge node.
#[derive(Debug, Default)]
pub(crate) struct Table {
    pub slots: Vec<Slot>,
    by_address: HashMap<PointAddress, usize>,
    by_alias: HashMap<u64, usize>,
    by_name: HashMap<String, usize>,
    /// Configured names of points whose kind is learnt from their first value.
    pending_names: HashMap<PointAddress, String>,
    /// The same names, for lookups by name.
    pending_set: HashSet<String>,
}

impl Table {
    /// The table of the configured points.
    pub fn new(points: &[PointConfig]) -> Result<Table, PointError> {
        let mut t = Table::default();
        for p in points {
            t.add_configured(p)?;
        }
        Ok(t)
    }

    fn add_configured(&mut self, p: &PointConfig) -> Result<(), PointError> {
        let name = metric_name(p.name.as_deref(), p.address);
        if self.by_address.contains_key(&p.address) {
            return Err(PointError::DuplicateAddress {
                ca: p.address.ca,
                ioa: p.address.ioa,
            });
        }
        let command = match p.command {
            Some(spec) => Some((
                CommandKind::from_type_id(spec.type_id).ok_or(PointError::NotACommand {
                    name: name.clone(),
                    type_id: spec.type_id,
                })?,
                spec,
            )),
            None => None,
        };
        let datatype = match (p.kind, command) {
            (Some(k), Some((c, _))) if k.datatype() != c.datatype() => {
                return Err(PointError::DatatypeConflict {
                    name,
                    monitored: k.datatype().name(),
                    commanded: c.datatype().name(),
                })
            }
            (Some(k), _) => Some(k.datatype()),
            (None, Some((c, _))) => Some(c.datatype()),
            (None, None) => None,
        };
        // A point whose kind is not yet known gets its datatype from its first value; until
        // then it is not in the table (a birth needs a datatype).
        let Some(datatype) = datatype else {
            if self.by_name.contains_key(&name) || !self.pending_set.insert(name.clone()) {
                return Err(PointError::DuplicateName(name));
            }
            self.pending_names.insert(p.address, name);
            return Ok(());
        };
        let index = self.push(name.clone(), datatype, Some(p.address))?;
        if let Some(c) = command {
            self.slots[index].command = Some(c);
            let result = self.push(format!("{name}/Command Result"), DataType::String, None)?;
            self.slots[index].result = Some(result);
        }
        Ok(())
    }

    fn push(
        &mut self,
        name: String,
        datatype: DataType,
        address: Option<PointAddress>,
    ) -> Result<usize, PointError> {
        // A discovered point's own configured name was taken out of `pending_names` first.
        if self.by_name.contains_key(&name) || self.pending_set.contains(&name) {
            return Err(PointError::DuplicateName(name));
        }
        let index = self.slots.len();
        let alias = FIRST_DEVICE_ALIAS + index as u64;
        self.by_name.insert(name.clone(), index);
        self.by_alias.insert(alias, index);
        if let Some(a) = address {
            self.by_address.insert(a, index);
        }
        self.slots.push(Slot {
            name,
            alias,
            datatype,
            address,
            command: None,
            result: None,
            value: None,
            quality: None,
            timestamp: None,
        });
        Ok(index)
    }

    /// The metric of a point, added when it is new: named as configured, else `{ca}/{ioa}`.
    /// Returns the index and whether the table changed (a new metric or a new datatype),
    /// which needs a rebirth when the device is born.
    pub fn slot_for_value(
        &mut self,
        address: PointAddress,
        datatype: DataType,
    ) -> Result<(usize, bool), PointError> {
        if let Some(&i) = self.by_address.get(&address) {
            let slot = &mut self.slots[i];
            if slot.datatype == datatype {
                return Ok((i, false));
            }
            slot.datatype = datatype;
            slot.value = None;
            return Ok((i, true));
        }
        if self.slots.len() >= super::MAX_METRICS {
            return Err(PointError::TableFull {
                ca: address.ca,
                ioa: address.ioa,
                max: super::MAX_METRICS,
            });
        }
        let name = self.pending_names.remove(&address);
        if let Some(n) = &name {
            self.pending_set.remove(n);
        }
        let i = self.push(
            metric_name(name.as_deref(), address),
            datatype,
            Some(address),
        )?;
        Ok((i, true))
    }

    /// A metric by alias.
    pub fn by_alias(&self, alias: u64) -> Option<usize> {
        self.by_alias.get(&alias).copied()
    }

    /// A metric by name.
    pub fn by_name(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }
}

/// The metric name of a point: its configured name, else `{ca}/{ioa}`.
pub fn metric_name(name: Option<&str>, address: PointAddress) -> String {
    match name {
        Some(n) => n.to_owned(),
        None => format!("{}/{}", address.ca, address.ioa),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_types_are_read_from_their_mnemonic() {
        let spec = CommandSpec::from_mnemonic("C_SE_TC_1", true);
        assert_eq!(
            spec,
            Ok(CommandSpec {
                type_id: TypeId::C_SE_TC_1,
                select: true
            })
        );
        for bad in ["M_SP_NA_1", "C_IC_NA_1", "c_sc_na_1", ""] {
            assert_eq!(
                CommandSpec::from_mnemonic(bad, false),
                Err(PointError::UnknownCommandType(bad.into()))
            );
        }
    }
}

//! What a cluster node answers for beyond the RTUs it carries (set by the cluster task, read
//! by the command router), so that every command gets exactly one answer.

use std::collections::BTreeSet;

/// The reason in an orphan's `unowned` status and in the refusal of its commands.
pub fn no_carrier(rtu: &str) -> String {
    format!("no node carries rtu {rtu}")
}

/// This node's answering duties.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Duty {
    /// Commands for RTU names that are not in the configuration are answered here (the live
    /// node with the smallest id).
    pub unknown: bool,
    /// RTUs no live node carries whose status and commands are ours to answer (`unowned`).
    pub orphans: BTreeSet<String>,
}

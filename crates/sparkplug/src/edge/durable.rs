//! The durable copy of the history, kept by the driver: the edge node says what to store
//! and what to remove ([`HeldChange`]) and is given back what was stored
//! ([`EdgeNode::restore_history`]); it does no I/O itself.

use std::collections::{HashMap, VecDeque};

use super::held::{HeldChange, HeldValue};
use super::sample::Sample;
use super::table::PointError;
use super::EdgeNode;
use crate::point::PointAddress;

#[derive(Debug, Default)]
pub(super) struct Held {
    next_id: u64,
    changes: VecDeque<HeldChange>,
}

impl EdgeNode {
    /// Keeps the history durably from now on: every value put into the history is also
    /// handed out as [`HeldChange::Hold`] and every value sent (after the births, with
    /// `is_historical`) as [`HeldChange::Release`] ([`EdgeNode::poll_held`]). `stored` are
    /// the values a previous run left (oldest first, at most the history's capacity are
    /// kept) and `dropped` how many its store dropped; they go into the history as if they
    /// had just arrived, new values take ids after theirs. Call once, before any value.
    /// Returns the values that no longer fit the configuration (a datatype changed, the
    /// table is full), which the driver should release and log.
    pub fn restore_history(
        &mut self,
        stored: Vec<HeldValue>,
        dropped: u64,
    ) -> Vec<(HeldValue, PointError)> {
        let mut next_id = 1;
        let mut refused = Vec::new();
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut addresses: HashMap<PointAddress, usize> = HashMap::new();
        for (i, s) in self.table.slots.iter().enumerate() {
            match s.address {
                Some(a) => addresses.insert(a, i),
                None => names.insert(s.name.clone(), i),
            };
        }
        for h in stored {
            next_id = next_id.max(h.id.saturating_add(1));
            let known = match (h.address, &h.name) {
                (Some(a), _) => addresses.get(&a),
                (None, Some(n)) => names.get(n),
                (None, None) => None,
            };
            let slot = match (known, h.address) {
                (Some(&i), _) if self.table.slots[i].datatype == h.datatype => i,
                // A point learnt from its values in the earlier run: learnt again.
                (None, Some(a)) => match self.table.slot_for_value(a, h.datatype) {
                    Ok((i, _)) => {
                        addresses.insert(a, i);
                        i
                    }
                    Err(e) => {
                        refused.push((h, e));
                        continue;
                    }
                },
                _ => {
                    let metric = h.name.clone().unwrap_or_else(|| format!("{:?}", h.address));
                    refused.push((h, PointError::StoredMismatch(metric)));
                    continue;
                }
            };
            let sample = Sample {
                slot,
                value: h.value,
                quality: h.quality,
                timestamp: h.timestamp,
            };
            self.history.push(h.id, sample);
        }
        self.history.dropped = self.history.dropped.saturating_add(dropped);
        self.held = Some(Held {
            next_id,
            changes: VecDeque::new(),
        });
        refused
    }

    /// The next change of the durable history to make, oldest first (only after
    /// [`EdgeNode::restore_history`]).
    pub fn poll_held(&mut self) -> Option<HeldChange> {
        self.held.as_mut()?.changes.pop_front()
    }

    /// Hands out a value put into the history; its held id (0 when not kept durably).
    pub(super) fn hold(&mut self, sample: &Sample) -> u64 {
        let Some(held) = self.held.as_mut() else {
            return 0;
        };
        let slot = &self.table.slots[sample.slot];
        let id = held.next_id;
        held.next_id += 1;
        held.changes.push_back(HeldChange::Hold(HeldValue {
            id,
            address: slot.address,
            name: slot.address.is_none().then(|| slot.name.clone()),
            datatype: slot.datatype,
            value: sample.value.clone(),
            quality: sample.quality,
            timestamp: sample.timestamp,
        }));
        id
    }

    /// Every held value up to `last` was sent.
    pub(super) fn release(&mut self, last: u64) {
        if let Some(held) = self.held.as_mut() {
            if last > 0 {
                held.changes.push_back(HeldChange::Release(last));
            }
        }
    }
}

//! The command log: the latest commands with their outcome, in a bounded ring.

use std::collections::VecDeque;

/// One command outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CommandRow {
    /// Sequence number in the log (increasing).
    pub seq: u64,
    /// When the outcome was known, UTC milliseconds since the epoch.
    pub at_ms: i64,
    /// RTU name (empty when the command named none we know).
    pub rtu: String,
    /// Point (name or CA/IOA).
    pub point: String,
    /// Command type name (e.g. C_DC_NA_1).
    pub command: String,
    /// The requester's id, if any.
    pub id: String,
    /// Outcome (e.g. `confirmed`, `negative`, `timeout`, `refused`).
    pub outcome: String,
    /// Why, for failures.
    pub detail: String,
}

/// Bounded ring of [`CommandRow`]s.
#[derive(Debug)]
pub struct CommandLog {
    rows: VecDeque<CommandRow>,
    cap: usize,
    next_seq: u64,
}

impl CommandLog {
    /// A log keeping the latest `cap` rows.
    pub fn new(cap: usize) -> CommandLog {
        CommandLog {
            rows: VecDeque::with_capacity(cap.min(1024)),
            cap: cap.max(1),
            next_seq: 1,
        }
    }

    /// Appends `row` (its `seq` is assigned here), dropping the oldest beyond the bound.
    pub fn push(&mut self, mut row: CommandRow) {
        row.seq = self.next_seq;
        self.next_seq += 1;
        if self.rows.len() >= self.cap {
            self.rows.pop_front();
        }
        self.rows.push_back(row);
    }

    /// Rows with a sequence number above `after`, oldest first.
    pub fn since(&self, after: u64) -> impl Iterator<Item = &CommandRow> {
        self.rows.iter().filter(move |r| r.seq > after)
    }

    /// The sequence number of the latest row (0 when empty).
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str) -> CommandRow {
        CommandRow {
            seq: 0,
            at_ms: 0,
            rtu: "r".into(),
            point: "p".into(),
            command: "C_SC_NA_1".into(),
            id: id.into(),
            outcome: "confirmed".into(),
            detail: String::new(),
        }
    }

    #[test]
    fn the_ring_keeps_the_latest_rows_only() {
        let mut log = CommandLog::new(3);
        for i in 0..5 {
            log.push(row(&i.to_string()));
        }
        let ids: Vec<_> = log.since(0).map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["2", "3", "4"]);
        assert_eq!(log.last_seq(), 5);
        assert_eq!(log.since(4).count(), 1);
    }
}

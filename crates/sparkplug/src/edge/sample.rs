//! Values waiting to be sent: the batch of the next DDATA and the bounded history kept while
//! no session is born.

use std::collections::VecDeque;

use iec104::asdu::Quality;

use crate::quality::Extras;
use crate::value::Value;

/// One value of one metric.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    /// Index of the metric in the table.
    pub slot: usize,
    /// The value; `None` sends `is_null`.
    pub value: Option<Value>,
    /// Quality and extras, for point metrics.
    pub quality: Option<(Quality, Extras)>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
}

/// Values kept while no session is born, oldest first, each with its held id (0 when the
/// history is not kept durably); beyond the capacity the oldest is dropped and counted.
#[derive(Debug)]
pub(crate) struct History {
    samples: VecDeque<(u64, Sample)>,
    capacity: usize,
    /// Values dropped since the edge node was made.
    pub dropped: u64,
}

impl History {
    pub fn new(capacity: usize) -> History {
        History {
            samples: VecDeque::new(),
            capacity: capacity.max(1),
            dropped: 0,
        }
    }

    /// Keeps a value; returns true when an older one was dropped for it.
    pub fn push(&mut self, id: u64, sample: Sample) -> bool {
        let dropped = self.samples.len() >= self.capacity;
        if dropped {
            self.samples.pop_front();
            self.dropped += 1;
        }
        self.samples.push_back((id, sample));
        dropped
    }

    /// Takes up to `n` of the oldest values, and the greatest held id among them.
    pub fn take(&mut self, n: usize) -> (Vec<Sample>, u64) {
        let n = n.min(self.samples.len());
        let mut last = 0;
        let samples = self
            .samples
            .drain(..n)
            .map(|(id, s)| {
                last = last.max(id);
                s
            })
            .collect();
        (samples, last)
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }
}

//! Bookkeeping of the memory-first data path (pure logic, time passed in).
//!
//! Every batch (the messages of one received ASDU and the release of its I-frame) takes one
//! of two ways:
//!
//! - **Memory** (broker connected, nothing waiting on disk): the batch is kept here while its
//!   messages are published straight from memory. Its release is handed back once every one
//!   of its messages is acknowledged (PUBACK for QoS 1, written to the client for QoS 0) AND
//!   every earlier batch was released: releases come out in arrival order.
//! - **Disk**: the batch goes to the store writer, which releases it after the durable
//!   commit. [`Pipeline::spill`] moves every batch still held here to disk, in order, with
//!   the messages not yet acknowledged; it is called when the oldest batch is not fully
//!   acknowledged within `spill_after` ([`Pipeline::overdue`]), when the connection breaks
//!   and on shutdown. From then on newer batches go to disk too (order is kept) until the
//!   publisher has drained the store ([`Pipeline::drained`]).
//!
//! Invariant (what makes a SIGKILL at any moment lose nothing): an I-frame is released only
//! when each of its messages was acknowledged by the broker, or is in a durably committed
//! store transaction. Everything else is unreleased, so the RTU sends it again after the
//! next STARTDT (to this node or another one).
//!
//! Bounded: at most `max_batches` batches are held, and a batch is admitted only while fewer
//! than `max_inflight` publications are in flight (so at most `max_inflight` plus one
//! ASDU's objects).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::model::Message;

/// Where new batches go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Published from memory.
    Memory,
    /// Appended to the store (something is waiting there, or no broker).
    Disk,
}

#[derive(Debug)]
struct Entry<R> {
    seq: u64,
    /// The messages; `None` once acknowledged.
    messages: Vec<Option<Message>>,
    /// Messages not yet acknowledged.
    waiting: usize,
    deadline: Instant,
    release: Option<R>,
}

/// A batch moved to disk: the messages not yet acknowledged and the release to do after the
/// commit.
#[derive(Debug)]
pub struct Spilled<R> {
    /// Messages to append (possibly none: the release still keeps its place in the order).
    pub messages: Vec<Message>,
    /// The release, after the commit.
    pub release: Option<R>,
}

/// The batches published from memory, in arrival order.
#[derive(Debug)]
pub struct Pipeline<R> {
    entries: VecDeque<Entry<R>>,
    next_seq: u64,
    waiting: usize,
    max_inflight: usize,
    max_batches: usize,
    spill_after: Duration,
    mode: Mode,
}

impl<R> Pipeline<R> {
    /// An empty pipeline in [`Mode::Disk`] (memory-first starts once the store is known to
    /// be drained on a connected broker).
    pub fn new(max_inflight: usize, max_batches: usize, spill_after: Duration) -> Pipeline<R> {
        Pipeline {
            entries: VecDeque::new(),
            next_seq: 0,
            waiting: 0,
            max_inflight: max_inflight.max(1),
            max_batches: max_batches.max(1),
            spill_after,
            mode: Mode::Disk,
        }
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Messages published from memory and not yet acknowledged.
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// Batches held.
    pub fn batches(&self) -> usize {
        self.entries.len()
    }

    /// Whether a batch may be admitted now, `in_flight` being every publication of the
    /// connection not yet acknowledged.
    pub fn has_room(&self, in_flight: usize) -> bool {
        self.mode == Mode::Memory
            && in_flight < self.max_inflight
            && self.entries.len() < self.max_batches
    }

    /// Keeps a batch that is about to be published from memory; returns its sequence number
    /// (publish message `i` of it tagged `(seq, i)`, see [`Pipeline::get`]). Only in
    /// [`Mode::Memory`], after [`Pipeline::has_room`]. Its deadline is `received` (when the
    /// ASDU came, not when room was found) plus `spill_after`.
    pub fn admit(&mut self, messages: Vec<Message>, release: Option<R>, received: Instant) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let waiting = messages.len();
        self.waiting += waiting;
        self.entries.push_back(Entry {
            seq,
            messages: messages.into_iter().map(Some).collect(),
            waiting,
            deadline: received + self.spill_after,
            release,
        });
        seq
    }

    fn entry(&mut self, seq: u64) -> Option<&mut Entry<R>> {
        let first = self.entries.front()?.seq;
        let i = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.entries.get_mut(i)
    }

    /// Message `idx` of batch `seq`, while it is held and not acknowledged.
    pub fn get(&self, seq: u64, idx: usize) -> Option<&Message> {
        let first = self.entries.front()?.seq;
        let i = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.entries.get(i)?.messages.get(idx)?.as_ref()
    }

    /// Message `idx` of batch `seq` was acknowledged (ignored when the batch was spilled or
    /// the message already acknowledged). True when it counted.
    pub fn acked(&mut self, seq: u64, idx: usize) -> bool {
        let Some(e) = self.entry(seq) else {
            return false;
        };
        let Some(slot) = e.messages.get_mut(idx) else {
            return false;
        };
        if slot.take().is_none() {
            return false;
        }
        e.waiting -= 1;
        self.waiting -= 1;
        true
    }

    /// Moves the releases of the oldest batches that are fully acknowledged to `out`, in
    /// order, stopping at the first that is not.
    pub fn released(&mut self, out: &mut Vec<R>) {
        while self.entries.front().is_some_and(|e| e.waiting == 0) {
            if let Some(Some(r)) = self.entries.pop_front().map(|e| e.release) {
                out.push(r);
            }
        }
    }

    /// When the oldest batch not fully acknowledged must be spilled.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries
            .iter()
            .find(|e| e.waiting > 0)
            .map(|e| e.deadline)
    }

    /// Whether a batch waits for acknowledgements past its deadline.
    pub fn overdue(&self, now: Instant) -> bool {
        self.next_deadline().is_some_and(|d| d <= now)
    }

    /// Takes every held batch, in order, with its messages not yet acknowledged, for the
    /// store; switches to [`Mode::Disk`]. Acknowledgements that still come for them are
    /// ignored (the store publishes them again: at-least-once).
    pub fn spill(&mut self) -> Vec<Spilled<R>> {
        self.mode = Mode::Disk;
        self.waiting = 0;
        self.entries
            .drain(..)
            .map(|e| Spilled {
                messages: e.messages.into_iter().flatten().collect(),
                release: e.release,
            })
            .collect()
    }

    /// The store is drained and every spilled batch committed: memory-first again.
    pub fn drained(&mut self) {
        if self.entries.is_empty() {
            self.mode = Mode::Memory;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(i: u32) -> Message {
        Message {
            topic: format!("t/{i}"),
            payload: i.to_string().into_bytes(),
            qos: 1,
            retain: false,
        }
    }

    fn memory(max_inflight: usize, max_batches: usize) -> Pipeline<u32> {
        let mut p = Pipeline::new(max_inflight, max_batches, Duration::from_secs(1));
        assert_eq!(p.mode(), Mode::Disk, "starts on disk until drained");
        p.drained();
        assert_eq!(p.mode(), Mode::Memory);
        p
    }

    #[test]
    fn a_batch_is_released_only_after_all_its_messages_are_acked() {
        let t = Instant::now();
        let mut p = memory(100, 100);
        let a = p.admit(vec![m(1), m(2), m(3)], Some(10), t);
        let mut out = Vec::new();
        p.released(&mut out);
        assert!(out.is_empty());
        assert!(p.acked(a, 0));
        assert!(p.acked(a, 2));
        p.released(&mut out);
        assert!(out.is_empty(), "message 1 is not acknowledged yet");
        // A second acknowledgement of the same message does not count.
        assert!(!p.acked(a, 0));
        assert_eq!(p.waiting(), 1);
        assert!(p.acked(a, 1));
        p.released(&mut out);
        assert_eq!(out, vec![10]);
        assert_eq!(p.batches(), 0);
        assert_eq!(p.waiting(), 0);
    }

    #[test]
    fn releases_come_in_arrival_order_including_empty_batches() {
        let t = Instant::now();
        let mut p = memory(100, 100);
        let a = p.admit(vec![m(1)], Some(1), t);
        let _empty = p.admit(vec![], Some(2), t);
        let c = p.admit(vec![m(3)], Some(3), t);
        let mut out = Vec::new();
        // The newest batch is acknowledged first: nothing may be released before `a`.
        assert!(p.acked(c, 0));
        p.released(&mut out);
        assert!(out.is_empty());
        assert!(p.acked(a, 0));
        p.released(&mut out);
        assert_eq!(out, vec![1, 2, 3]);
    }

    #[test]
    fn an_empty_batch_alone_is_released_at_once() {
        let mut p = memory(100, 100);
        p.admit(vec![], Some(7), Instant::now());
        let mut out = Vec::new();
        p.released(&mut out);
        assert_eq!(out, vec![7]);
    }

    #[test]
    fn spill_on_deadline_takes_unacked_messages_in_order() {
        let t = Instant::now();
        let mut p = memory(100, 100);
        let a = p.admit(vec![m(1), m(2)], Some(1), t);
        let b = p.admit(vec![m(3)], Some(2), t + Duration::from_millis(300));
        let _c = p.admit(vec![m(4), m(5)], Some(3), t + Duration::from_millis(600));
        assert!(p.acked(a, 0));
        assert!(p.acked(b, 0));
        assert_eq!(p.next_deadline(), Some(t + Duration::from_secs(1)));
        assert!(!p.overdue(t + Duration::from_millis(999)));
        assert!(p.overdue(t + Duration::from_secs(1)));
        let spilled = p.spill();
        assert_eq!(p.mode(), Mode::Disk);
        assert_eq!(p.waiting(), 0);
        assert_eq!(p.batches(), 0);
        // Every batch in order, each with what the broker did not acknowledge; the fully
        // acknowledged `b` still comes along (empty) so its release keeps its place.
        let got: Vec<(Vec<Message>, Option<u32>)> = spilled
            .into_iter()
            .map(|s| (s.messages, s.release))
            .collect();
        assert_eq!(
            got,
            vec![
                (vec![m(2)], Some(1)),
                (vec![], Some(2)),
                (vec![m(4), m(5)], Some(3))
            ]
        );
        // Late acknowledgements of spilled batches are ignored.
        assert!(!p.acked(a, 1));
        let mut out = Vec::new();
        p.released(&mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn deadline_follows_the_oldest_unacked_batch() {
        let t = Instant::now();
        let mut p = memory(100, 100);
        let a = p.admit(vec![m(1)], Some(1), t);
        let _b = p.admit(vec![m(2)], Some(2), t + Duration::from_millis(500));
        assert!(p.acked(a, 0));
        let mut out = Vec::new();
        p.released(&mut out);
        assert_eq!(
            p.next_deadline(),
            Some(t + Duration::from_millis(1500)),
            "a was released: b's deadline counts"
        );
        assert!(!p.overdue(t + Duration::from_millis(1200)));
    }

    #[test]
    fn disk_mode_admits_nothing_until_drained() {
        let mut p = memory(100, 100);
        p.admit(vec![m(1)], Some(1), Instant::now());
        p.spill();
        assert!(
            !p.has_room(0),
            "newer batches go to disk behind the spilled ones"
        );
        p.drained();
        assert!(p.has_room(0));
    }

    #[test]
    fn bounds_are_respected() {
        let t = Instant::now();
        let mut p = memory(3, 2);
        assert!(p.has_room(2));
        assert!(!p.has_room(3), "in-flight bound");
        p.admit(vec![m(1)], Some(1), t);
        assert!(p.has_room(1));
        p.admit(vec![], Some(2), t);
        // The empty batch is held behind the first one: two batches, the batch bound.
        assert_eq!(p.batches(), 2);
        assert!(!p.has_room(0), "batch bound");
    }

    #[test]
    fn order_is_kept_across_spill_drain_and_memory_again() {
        // Spilled batches go to disk first; memory-first only resumes after `drained`,
        // which the publisher calls once the store is empty: a newer batch can never be
        // released or published before an older spilled one.
        let t = Instant::now();
        let mut p = memory(10, 10);
        let a = p.admit(vec![m(1)], Some(1), t);
        let spilled = p.spill();
        assert_eq!(spilled.len(), 1);
        assert!(!p.has_room(0));
        p.drained();
        let b = p.admit(vec![m(2)], Some(2), t);
        assert!(!p.acked(a, 0), "the old sequence is gone");
        assert_eq!(p.get(b, 0), Some(&m(2)));
        assert!(p.acked(b, 0));
        let mut out = Vec::new();
        p.released(&mut out);
        assert_eq!(out, vec![2]);
    }
}

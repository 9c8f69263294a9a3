//! The sans-IO event queue of one redundancy group.
//!
//! A redundancy group is a set of connections of which at most one is *started* (STARTDT) at a
//! time; the application's events (spontaneous or periodic ASDUs, lib60870's `enqueueASDU`) go
//! to the group, not to a connection:
//!
//! - while no connection of the group is started, events wait in a bounded queue; when it is
//!   full the OLDEST waiting event is dropped and counted ([`Group::dropped`]);
//! - the started connection takes events in order ([`Group::next_event`]); they stay *in
//!   flight* until the peer acknowledges them ([`Group::acknowledge`]);
//! - when the started connection closes or stops ([`Group::deactivate`]), or another connection
//!   of the group starts ([`Group::activate`]), the events in flight go back, in order, ahead of
//!   the waiting ones, to be sent again on the next started connection (at-least-once delivery,
//!   as lib60870 does with its low-priority queue).
//!
//! Responses to one connection (confirmations, interrogation data) never pass through here.

use std::collections::VecDeque;

use bytes::Bytes;

use super::ConnectionId;

/// The event queue and active connection of one redundancy group. Pure state: no IO, no time.
#[derive(Debug)]
pub struct Group {
    capacity: usize,
    waiting: VecDeque<Bytes>,
    in_flight: VecDeque<Bytes>,
    active: Option<ConnectionId>,
    dropped: u64,
}

impl Group {
    /// A group whose waiting queue holds at most `capacity` events (at least 1).
    pub fn new(capacity: usize) -> Group {
        let capacity = capacity.max(1);
        Group {
            capacity,
            // Grows on demand: thousands of idle stations in one process must stay small.
            waiting: VecDeque::new(),
            in_flight: VecDeque::new(),
            active: None,
            dropped: 0,
        }
    }

    /// Maximum number of waiting events.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Appends an event; when the queue is full the oldest waiting event is dropped, counted
    /// and returned.
    pub fn enqueue(&mut self, asdu: Bytes) -> Option<Bytes> {
        let dropped = if self.waiting.len() >= self.capacity {
            self.drop_oldest()
        } else {
            None
        };
        self.waiting.push_back(asdu);
        dropped
    }

    /// Makes `conn` the started connection of the group. Returns the connection that was
    /// started before (which the caller closes); its events in flight are queued again ahead
    /// of the waiting ones. Activating the already active connection changes nothing.
    pub fn activate(&mut self, conn: ConnectionId) -> Option<ConnectionId> {
        match self.active {
            Some(current) if current == conn => None,
            previous => {
                self.requeue_in_flight();
                self.active = Some(conn);
                previous
            }
        }
    }

    /// `conn` stopped or closed: if it was the started connection, its events in flight are
    /// queued again ahead of the waiting ones and the group has no started connection. Returns
    /// whether `conn` was the started connection.
    pub fn deactivate(&mut self, conn: ConnectionId) -> bool {
        if self.active != Some(conn) {
            return false;
        }
        self.requeue_in_flight();
        self.active = None;
        true
    }

    /// The started connection, if any.
    pub fn active(&self) -> Option<ConnectionId> {
        self.active
    }

    /// The next event for `conn` to send, moved to the in-flight list; `None` when `conn` is
    /// not the started connection or nothing waits.
    pub fn next_event(&mut self, conn: ConnectionId) -> Option<Bytes> {
        if self.active != Some(conn) {
            return None;
        }
        let asdu = self.waiting.pop_front()?;
        self.in_flight.push_back(asdu.clone());
        Some(asdu)
    }

    /// The peer of `conn` acknowledged its `count` oldest events in flight. Ignored (returns 0)
    /// when `conn` is no longer the started connection: its events were already queued again.
    /// Returns the number of events removed.
    pub fn acknowledge(&mut self, conn: ConnectionId, count: usize) -> usize {
        if self.active != Some(conn) {
            return 0;
        }
        let n = count.min(self.in_flight.len());
        self.in_flight.drain(..n);
        n
    }

    /// `conn` could not send the event it took last ([`Group::next_event`]): it goes back to
    /// the front of the queue when `requeue` (oldest dropped if that overflows), or is
    /// forgotten. Returns whether there was such an event.
    pub fn unsend(&mut self, conn: ConnectionId, requeue: bool) -> bool {
        if self.active != Some(conn) {
            return false;
        }
        let Some(asdu) = self.in_flight.pop_back() else {
            return false;
        };
        if requeue {
            self.waiting.push_front(asdu);
            while self.waiting.len() > self.capacity {
                self.drop_oldest();
            }
        }
        true
    }

    /// Events dropped because the queue was full, since the group was created.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Events waiting to be sent.
    pub fn waiting_len(&self) -> usize {
        self.waiting.len()
    }

    /// Events sent (or handed to the link) on the started connection and not yet acknowledged.
    pub fn in_flight_len(&self) -> usize {
        self.in_flight.len()
    }

    fn drop_oldest(&mut self) -> Option<Bytes> {
        let oldest = self.waiting.pop_front()?;
        self.dropped += 1;
        Some(oldest)
    }

    /// In-flight events go back to the front of the waiting queue, oldest first; if that
    /// overflows the queue, the oldest are dropped and counted.
    fn requeue_in_flight(&mut self) {
        while let Some(asdu) = self.in_flight.pop_back() {
            self.waiting.push_front(asdu);
        }
        while self.waiting.len() > self.capacity {
            self.drop_oldest();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ConnectionId = ConnectionId(1);
    const B: ConnectionId = ConnectionId(2);

    fn ev(n: u8) -> Bytes {
        Bytes::from(vec![n])
    }

    fn take_all(g: &mut Group, conn: ConnectionId) -> Vec<u8> {
        std::iter::from_fn(|| g.next_event(conn))
            .map(|b| b[0])
            .collect()
    }

    #[test]
    fn events_wait_until_a_connection_starts() {
        let mut g = Group::new(8);
        g.enqueue(ev(1));
        g.enqueue(ev(2));
        assert_eq!(g.next_event(A), None, "A is not started");
        assert_eq!(g.activate(A), None);
        assert_eq!(take_all(&mut g, A), [1, 2]);
        assert_eq!(g.waiting_len(), 0);
        assert_eq!(g.in_flight_len(), 2);
        assert_eq!(g.acknowledge(A, 2), 2);
        assert_eq!(g.in_flight_len(), 0);
    }

    #[test]
    fn overflow_drops_the_oldest_and_counts() {
        let mut g = Group::new(3);
        for n in 1..=5 {
            let dropped = g.enqueue(ev(n));
            assert_eq!(
                dropped.map(|b| b[0]),
                if n > 3 { Some(n - 3) } else { None }
            );
        }
        assert_eq!(g.dropped(), 2);
        g.activate(A);
        assert_eq!(take_all(&mut g, A), [3, 4, 5]);
    }

    #[test]
    fn unacknowledged_events_are_replayed_in_order_before_waiting_ones() {
        let mut g = Group::new(16);
        g.activate(A);
        for n in 1..=4 {
            g.enqueue(ev(n));
        }
        assert_eq!(take_all(&mut g, A), [1, 2, 3, 4]);
        assert_eq!(g.acknowledge(A, 1), 1); // 1 confirmed; 2, 3, 4 in flight
        assert!(g.deactivate(A));
        g.enqueue(ev(5));
        g.enqueue(ev(6));
        assert_eq!(g.next_event(A), None, "A closed");
        g.activate(B);
        assert_eq!(take_all(&mut g, B), [2, 3, 4, 5, 6]);
    }

    #[test]
    fn starting_a_second_connection_takes_over_and_names_the_first() {
        let mut g = Group::new(16);
        g.activate(A);
        g.enqueue(ev(1));
        g.enqueue(ev(2));
        assert_eq!(take_all(&mut g, A), [1, 2]);
        g.enqueue(ev(3));
        assert_eq!(g.activate(B), Some(A), "the caller must close A");
        assert_eq!(g.active(), Some(B));
        // A's late acknowledgement and its close change nothing: its events are B's now.
        assert_eq!(g.acknowledge(A, 2), 0);
        assert!(!g.deactivate(A));
        assert_eq!(g.next_event(A), None);
        assert_eq!(take_all(&mut g, B), [1, 2, 3]);
    }

    #[test]
    fn activating_the_active_connection_is_a_no_op() {
        let mut g = Group::new(4);
        g.activate(A);
        g.enqueue(ev(1));
        assert_eq!(take_all(&mut g, A), [1]);
        assert_eq!(g.activate(A), None);
        assert_eq!(g.in_flight_len(), 1, "nothing requeued");
        assert_eq!(g.next_event(A), None);
    }

    #[test]
    fn requeue_overflow_drops_the_oldest() {
        let mut g = Group::new(3);
        g.activate(A);
        for n in 1..=3 {
            g.enqueue(ev(n));
        }
        assert_eq!(take_all(&mut g, A), [1, 2, 3]);
        g.enqueue(ev(4));
        g.enqueue(ev(5));
        g.deactivate(A); // 1 2 3 back ahead of 4 5: five events in a queue of three
        assert_eq!(g.dropped(), 2);
        g.activate(B);
        assert_eq!(take_all(&mut g, B), [3, 4, 5]);
    }

    #[test]
    fn acknowledging_more_than_in_flight_is_bounded() {
        let mut g = Group::new(4);
        g.activate(A);
        g.enqueue(ev(1));
        assert_eq!(take_all(&mut g, A), [1]);
        assert_eq!(g.acknowledge(A, 5), 1);
        g.deactivate(A);
        g.activate(B);
        assert_eq!(take_all(&mut g, B), Vec::<u8>::new());
    }

    #[test]
    fn unsend_puts_the_last_taken_event_back_in_front() {
        let mut g = Group::new(4);
        g.activate(A);
        for n in 1..=3 {
            g.enqueue(ev(n));
        }
        assert_eq!(take_all(&mut g, A), [1, 2, 3]);
        assert!(g.unsend(A, true));
        assert!(!g.unsend(B, true), "B is not started");
        assert_eq!(g.in_flight_len(), 2);
        assert_eq!(take_all(&mut g, A), [3]);
        assert!(g.unsend(A, false));
        assert_eq!(take_all(&mut g, A), Vec::<u8>::new(), "3 forgotten");
        assert_eq!(g.in_flight_len(), 2);
    }

    #[test]
    fn zero_capacity_is_raised_to_one() {
        let mut g = Group::new(0);
        assert_eq!(g.capacity(), 1);
        assert!(g.enqueue(ev(1)).is_none());
        assert_eq!(g.enqueue(ev(2)).map(|b| b[0]), Some(1));
        assert_eq!(g.dropped(), 1);
    }

    mod model {
        //! Random operation sequences against the at-least-once contract: without overflow,
        //! the events acknowledged by started connections, in acknowledgement order, are
        //! exactly the enqueued events in order — no loss, no reordering, no duplicate — and
        //! each connection receives strictly increasing events.
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Enqueue,
            Activate(u64),
            Deactivate(u64),
            Take(u64, usize),
            Ack(u64, usize),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                3 => Just(Op::Enqueue),
                1 => (0..3u64).prop_map(Op::Activate),
                1 => (0..3u64).prop_map(Op::Deactivate),
                2 => (0..3u64, 0..5usize).prop_map(|(c, n)| Op::Take(c, n)),
                2 => (0..3u64, 0..5usize).prop_map(|(c, n)| Op::Ack(c, n)),
            ]
        }

        proptest! {
            #[test]
            fn acknowledged_events_are_the_enqueued_ones_in_order(ops in prop::collection::vec(op(), 0..200)) {
                let mut g = Group::new(10_000);
                let mut enqueued = 0u32;
                let mut acked: Vec<u32> = Vec::new();
                // Per connection: sent and not acknowledged, as the connection sees it.
                let mut sent: [Vec<u32>; 3] = Default::default();
                let mut last_received: [Option<u32>; 3] = [None; 3];
                let label = |b: &Bytes| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                for op in ops {
                    match op {
                        Op::Enqueue => {
                            enqueued += 1;
                            prop_assert!(g.enqueue(Bytes::copy_from_slice(&enqueued.to_le_bytes())).is_none());
                        }
                        Op::Activate(c) => {
                            if let Some(prev) = g.activate(ConnectionId(c)) {
                                // The previous connection is closed.
                                sent[prev.0 as usize].clear();
                                last_received[prev.0 as usize] = None;
                            }
                        }
                        Op::Deactivate(c) => {
                            if g.deactivate(ConnectionId(c)) {
                                sent[c as usize].clear();
                                last_received[c as usize] = None;
                            }
                        }
                        Op::Take(c, n) => {
                            for _ in 0..n {
                                let Some(ev) = g.next_event(ConnectionId(c)) else { break };
                                let l = label(&ev);
                                if let Some(prev) = last_received[c as usize] {
                                    prop_assert!(l > prev, "connection {c} got {l} after {prev}");
                                }
                                last_received[c as usize] = Some(l);
                                sent[c as usize].push(l);
                            }
                        }
                        Op::Ack(c, n) => {
                            let n = n.min(sent[c as usize].len());
                            let removed = g.acknowledge(ConnectionId(c), n);
                            prop_assert_eq!(removed, n, "an active connection's sent events are in flight");
                            acked.extend(sent[c as usize].drain(..removed));
                        }
                    }
                    prop_assert_eq!(acked.len() + g.in_flight_len() + g.waiting_len(), enqueued as usize);
                }
                let expected: Vec<u32> = (1..=acked.len() as u32).collect();
                prop_assert_eq!(acked, expected);
                prop_assert_eq!(g.dropped(), 0);
            }
        }
    }
}

//! `iec104::server::Group`, the sans-IO event queue of a redundancy group, driven by
//! arbitrary operations on up to four connections.
//!
//! Input: byte 0 = capacity - 1; then operations (one octet, the connection in bits 4-5):
//! enqueue, activate, deactivate, next_event, acknowledge(n). Checks the documented
//! behaviour, independently of the implementation's data structures:
//! - the waiting queue never exceeds the capacity; a full queue drops the OLDEST event;
//! - nothing is lost or invented: enqueued = waiting + in flight + acknowledged + dropped;
//! - acknowledged events come out exactly once, in the order they were enqueued;
//! - only the started connection gets events or acknowledges; activating another connection
//!   returns the previous one and requeues its events in flight ahead of the waiting ones.
#![no_main]

use bytes::Bytes;
use iec104::server::Group;
use iec104::server::ConnectionId;
use libfuzzer_sys::fuzz_target;

fn id(b: &Bytes) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fuzz_target!(|data: &[u8]| {
    let Some((&cap, ops)) = data.split_first() else {
        return;
    };
    let capacity = usize::from(cap) + 1;
    let mut g = Group::new(capacity);
    assert_eq!(g.capacity(), capacity);
    let mut next_id = 0u32;
    let mut acked: Vec<u32> = Vec::new();
    let mut dropped: Vec<u32> = Vec::new();
    let mut in_flight: Vec<u32> = Vec::new(); // what the active connection holds, in order
    let mut ops = ops.iter();
    while let Some(&op) = ops.next() {
        let conn = ConnectionId(u64::from((op >> 4) & 3));
        match op % 5 {
            0 => {
                let full = g.waiting_len() >= capacity;
                let e = Bytes::from(next_id.to_le_bytes().to_vec());
                next_id += 1;
                match g.enqueue(e) {
                    Some(old) => {
                        assert!(full, "dropped an event with room left");
                        // The oldest waiting event: older than every other waiting one.
                        dropped.push(id(&old));
                    }
                    None => assert!(!full, "full queue took an event without dropping"),
                }
            }
            1 => {
                let before = g.active();
                let before_dropped = g.dropped();
                let prev = g.activate(conn);
                assert_eq!(g.active(), Some(conn));
                if before == Some(conn) {
                    assert_eq!(prev, None);
                } else {
                    assert_eq!(prev, before);
                    in_flight.clear();
                    assert_eq!(g.in_flight_len(), 0, "in-flight events not requeued");
                }
                // Requeued events that overflow are counted as dropped (ids unknown here).
                for _ in before_dropped..g.dropped() {
                    dropped.push(u32::MAX);
                }
            }
            2 => {
                let before = g.active();
                let before_dropped = g.dropped();
                let was = g.deactivate(conn);
                assert_eq!(was, before == Some(conn));
                if was {
                    assert_eq!(g.active(), None);
                    assert_eq!(g.in_flight_len(), 0);
                    in_flight.clear();
                } else {
                    assert_eq!(g.active(), before);
                }
                for _ in before_dropped..g.dropped() {
                    dropped.push(u32::MAX);
                }
            }
            3 => match g.next_event(conn) {
                Some(e) => {
                    assert_eq!(g.active(), Some(conn), "event for a connection not started");
                    in_flight.push(id(&e));
                }
                None => assert!(g.active() != Some(conn) || g.waiting_len() == 0),
            },
            _ => {
                let n = usize::from(ops.next().copied().unwrap_or(1) % 8);
                let removed = g.acknowledge(conn, n);
                if g.active() == Some(conn) {
                    assert_eq!(removed, n.min(in_flight.len()));
                    for e in in_flight.drain(..removed) {
                        if let Some(&last) = acked.last() {
                            assert!(
                                e > last,
                                "event {e} acknowledged after {last}: order or duplicate"
                            );
                        }
                        acked.push(e);
                    }
                } else {
                    assert_eq!(removed, 0, "acknowledge by a connection not started");
                }
            }
        }
        assert!(g.waiting_len() <= capacity, "waiting queue over capacity");
        assert_eq!(g.in_flight_len(), in_flight.len());
        assert_eq!(g.dropped(), dropped.len() as u64);
        assert_eq!(
            u64::from(next_id),
            (g.waiting_len() + g.in_flight_len() + acked.len()) as u64 + g.dropped(),
            "events lost or invented"
        );
    }
    // Draining: a started connection gets every waiting event exactly once, oldest first,
    // and none of them was acknowledged or dropped before.
    let conn = ConnectionId(9);
    g.activate(conn);
    let mut rest = Vec::new();
    while let Some(e) = g.next_event(conn) {
        rest.push(id(&e));
    }
    assert!(
        rest.windows(2).all(|w| w[0] < w[1]),
        "waiting events out of order: {rest:?}"
    );
    for e in &rest {
        assert!(
            !acked.contains(e) && !dropped.contains(e),
            "event {e} came back"
        );
    }
});

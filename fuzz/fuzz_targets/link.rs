//! The link state machine (`iec104::link::Link`) driven by a sequence of operations.
//!
//! Input: six configuration octets, then operations (one octet each, some followed by
//! arguments). Configuration: `[mode, role, k-1, w, send_queue-1, flags]`:
//! - mode bit 0: 0 = one link whose peer is the fuzzer (it may send anything, valid or not);
//!   1 = a controlling and a controlled link back to back over a lossless, in-order channel;
//! - role bit 0 (one-link mode): 0 = controlling, 1 = controlled;
//! - w is taken modulo k, plus 1; flags bit 0: auto release; bit 1: short timers
//!   (t1 3 s, t2 1 s, t3 5 s instead of 15/10/20 s); bit 7: use w and k raw (may be invalid).
//!
//! Mode octet 0xAA or 0xAB (one link / back to back) first runs a prelude of 32760 full
//! exchanges, so that the 15-bit sequence numbers wrap around during the operations that
//! follow (the link has no way to start elsewhere than 0).
//!
//! Invariants checked after every operation: never more than k unacknowledged I frames and
//! never more than `send_queue` queued ASDUs; N(S) of sent I frames counts up by one;
//! an N(R) the link sends never acknowledges a frame the application has not released and
//! never goes backwards; `Acknowledged` events add up to what left the k window; at most
//! three events per operation; `Started`/`Stopped` match `state()`; `poll_transmit` runs dry;
//! `take_pending` hands back exactly the unacknowledged and queued ASDUs.
//! Back to back, additionally: no protocol error ever (only a t1 timeout when the
//! application does not release frames), and every accepted ASDU arrives once, in order.
#![no_main]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use iec104::apci::{self, seq_distance, Apci, Apdu, UFunction, SEQ_MODULUS};
use iec104::link::{
    Awaited, Link, LinkConfig, LinkError, LinkEvent, LinkState, ReceiveToken, Role,
};
use libfuzzer_sys::fuzz_target;

/// Exchanges of the wrap-around prelude: the sequence numbers end a few frames below 2^15,
/// so that the operations that follow wrap them.
const PRELUDE: u32 = SEQ_MODULUS as u32 - 8;

/// Reads the operations' octets; an exhausted input reads as zeros and ends the loop.
struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

fn config(inp: &mut Input<'_>) -> LinkConfig {
    let k_raw = inp.byte();
    let w_raw = inp.byte();
    let queue = inp.byte();
    let flags = inp.byte();
    let k = u16::from(k_raw) + 1;
    let (k, w) = if flags & 0x80 != 0 {
        (u16::from(k_raw), u16::from(w_raw))
    } else {
        (k, u16::from(w_raw) % k + 1)
    };
    let mut c = LinkConfig {
        k,
        w,
        send_queue: usize::from(queue) + 1,
        auto_release: flags & 1 != 0,
        ..LinkConfig::default()
    };
    if flags & 2 != 0 {
        c.t1 = Duration::from_secs(3);
        c.t2 = Duration::from_secs(1);
        c.t3 = Duration::from_secs(5);
    }
    c
}

/// An ASDU of `len` octets (clamped to 1..=249) whose first octets number it.
fn asdu(id: u32, len: u8) -> Bytes {
    let len = usize::from(len).clamp(1, apci::MAX_ASDU_LEN);
    let mut v = vec![0xA5u8; len];
    for (o, b) in v.iter_mut().zip(id.to_le_bytes()) {
        *o = b;
    }
    Bytes::from(v)
}

/// What one side has observed of one link, to check its invariants.
struct Observer {
    k: usize,
    send_queue: usize,
    /// I frames this link sent (their N(S) must be this count modulo 2^15).
    sent_i: u32,
    /// I frames of ours the peer acknowledged (sum of `Acknowledged` events).
    acked: u32,
    /// I frames this link accepted (`Asdu` events).
    received: u32,
    /// Received frames the application released (a count, not a sequence number).
    released: u32,
    /// The last N(R) the link sent, as a count.
    our_ack: u32,
    auto_release: bool,
    /// Tokens of received frames with their count.
    tokens: Vec<(u32, ReceiveToken)>,
    /// ASDUs delivered by the link, in order (back-to-back mode).
    delivered: VecDeque<Bytes>,
    /// ASDUs accepted by `send_asdu`, in order, not yet seen sent.
    accepted: VecDeque<Bytes>,
    /// ASDUs accepted by `send_asdu`, in order, not yet seen delivered (back-to-back mode).
    outbox: VecDeque<Bytes>,
}

impl Observer {
    fn new(c: &LinkConfig) -> Observer {
        Observer {
            k: usize::from(c.k),
            send_queue: c.send_queue,
            sent_i: 0,
            acked: 0,
            received: 0,
            released: 0,
            our_ack: 0,
            auto_release: c.auto_release,
            tokens: Vec::new(),
            delivered: VecDeque::new(),
            accepted: VecDeque::new(),
            outbox: VecDeque::new(),
        }
    }

    /// Checks an N(R) sent by the link: at or after the last one, at most what is released.
    fn check_ack(&mut self, nr: u16) {
        assert!(nr < SEQ_MODULUS);
        let released = if self.auto_release {
            self.received
        } else {
            self.released
        };
        let ahead = u32::from(seq_distance(
            nr,
            (self.our_ack % u32::from(SEQ_MODULUS)) as u16,
        ));
        assert!(
            self.our_ack + ahead <= released,
            "N(R) {nr} acknowledges unreleased frames: last ack {} released {released} received {}",
            self.our_ack,
            self.received
        );
        self.our_ack += ahead;
    }

    /// A frame the link transmits.
    fn on_transmit(&mut self, link: &Link, state_before: LinkState, apdu: &Apdu) {
        match apdu.apci {
            Apci::I { send_seq, recv_seq } => {
                assert_eq!(
                    state_before,
                    LinkState::Started,
                    "I frame sent while not started"
                );
                assert_eq!(u32::from(send_seq), self.sent_i % u32::from(SEQ_MODULUS));
                self.sent_i += 1;
                self.check_ack(recv_seq);
                let expected = self.accepted.pop_front().expect("I frame nobody queued");
                assert_eq!(apdu.asdu, expected, "ASDUs sent out of order");
            }
            Apci::S { recv_seq } => self.check_ack(recv_seq),
            Apci::U(_) => {}
        }
        self.check(link);
    }

    /// The state invariants.
    fn check(&self, link: &Link) {
        assert!(
            link.unacknowledged_len() <= self.k,
            "more than k unacknowledged"
        );
        assert!(link.queued_len() <= self.send_queue, "queue over its bound");
        assert_eq!(
            link.unacknowledged_len() as u32,
            self.sent_i - self.acked,
            "unacknowledged count disagrees with sent - acknowledged"
        );
        assert_eq!(link.queued_len(), self.accepted.len());
        assert_eq!(
            link.send_seq(),
            (self.sent_i % u32::from(SEQ_MODULUS)) as u16
        );
        assert_eq!(
            link.recv_seq(),
            (self.received % u32::from(SEQ_MODULUS)) as u16
        );
        assert_eq!(link.unacknowledged().count(), link.unacknowledged_len());
        assert_eq!(link.queued().count(), link.queued_len());
    }

    /// Drains the events; returns how many there were.
    fn events(&mut self, link: &mut Link) -> usize {
        let mut n = 0;
        let mut last_state_event = None;
        while let Some(e) = link.poll_event() {
            n += 1;
            assert!(n <= 64, "event queue not drained");
            match e {
                LinkEvent::Asdu { asdu, token } => {
                    assert_eq!(
                        u32::from(token.seq()),
                        self.received % u32::from(SEQ_MODULUS)
                    );
                    self.tokens.push((self.received, token));
                    self.received += 1;
                    self.delivered.push_back(asdu);
                }
                LinkEvent::Acknowledged { count } => {
                    assert!(count > 0, "empty acknowledgement event");
                    self.acked += count as u32;
                    assert!(self.acked <= self.sent_i, "acknowledged more than sent");
                }
                LinkEvent::Started => last_state_event = Some(LinkState::Started),
                LinkEvent::Stopped => last_state_event = Some(LinkState::Stopped),
                LinkEvent::TestFrameConfirmed => {}
            }
        }
        if let Some(s) = last_state_event {
            assert_eq!(link.state(), s, "state event does not match state()");
        }
        n
    }

    /// Releases received frames up to the `pick`-th token.
    fn release(&mut self, link: &mut Link, pick: u8) {
        if self.tokens.is_empty() {
            return;
        }
        let (count, token) = self.tokens[usize::from(pick) % self.tokens.len()];
        link.release(token);
        // Releasing an already released frame is ignored; a newer one releases up to it.
        if count + 1 > self.released {
            self.released = count + 1;
        }
    }

    /// Releases every received frame.
    fn release_all(&mut self, link: &mut Link) {
        if let Some(&(count, token)) = self.tokens.last() {
            link.release(token);
            self.released = self.released.max(count + 1);
        }
    }

    /// Sends until `poll_transmit` runs dry; returns the frames.
    fn drain(&mut self, link: &mut Link, now: Instant) -> Vec<Apdu> {
        let mut out = Vec::new();
        loop {
            let before = link.state();
            let Some(apdu) = link.poll_transmit(now) else {
                break;
            };
            self.on_transmit(link, before, &apdu);
            // Every frame must encode.
            let mut wire = bytes::BytesMut::new();
            apci::encode(&mut wire, &apdu).expect("link produced an unencodable frame");
            out.push(apdu);
            assert!(
                out.len() <= self.k + self.send_queue + 16,
                "poll_transmit does not run dry"
            );
        }
        out
    }

    /// The connection closes: the pending ASDUs come back, unacknowledged first.
    fn close(&mut self, link: &mut Link) {
        let unacked: Vec<Bytes> = link.unacknowledged().cloned().collect();
        let queued: Vec<Bytes> = link.queued().cloned().collect();
        assert_eq!(queued, Vec::from(self.accepted.clone()));
        let pending = link.take_pending();
        assert_eq!(pending.len(), unacked.len() + queued.len());
        assert_eq!(pending, [unacked, queued].concat());
    }
}

/// Starts `link` and runs `n` exchanges (an I frame each way, released, acknowledged).
fn single_prelude(
    link: &mut Link,
    obs: &mut Observer,
    now: Instant,
    n: u32,
) -> Result<(), LinkError> {
    if link.role() == Role::Controlling {
        link.start(now)?;
        obs.drain(link, now);
        link.handle_apdu(now, Apdu::u(UFunction::StartDtCon))?;
    } else {
        link.handle_apdu(now, Apdu::u(UFunction::StartDtAct))?;
    }
    obs.drain(link, now);
    obs.events(link);
    let mut next_id = u32::MAX / 2;
    for _ in 0..n {
        let a = asdu(next_id, 3);
        next_id += 1;
        if link.send_asdu(now, a.clone()).is_ok() {
            obs.accepted.push_back(a);
        }
        let nr = (obs.sent_i % u32::from(SEQ_MODULUS)) as u16;
        let r = link.handle_apdu(now, Apdu::i(link.recv_seq(), nr, asdu(next_id, 3)));
        obs.events(link);
        r?;
        obs.release_all(link);
        obs.drain(link, now);
        let nr = (obs.sent_i % u32::from(SEQ_MODULUS)) as u16;
        let r = link.handle_apdu(now, Apdu::s(nr));
        obs.events(link);
        obs.check(link);
        obs.delivered.clear();
        r?;
    }
    Ok(())
}

fn single(role: Role, c: LinkConfig, wrap: bool, inp: &mut Input<'_>) {
    let start = Instant::now();
    let mut now = start;
    let Ok(mut link) = Link::new(role, c.clone(), now) else {
        assert!(c.validate().is_err());
        return;
    };
    let mut obs = Observer::new(&c);
    let mut next_id = 0u32;
    if wrap {
        if let Err(e) = single_prelude(&mut link, &mut obs, now, PRELUDE) {
            panic!("prelude failed: {e}");
        }
    }
    while !inp.is_empty() {
        let op = inp.byte();
        let result: Result<(), LinkError> = match op % 13 {
            0 => {
                // A raw frame from the peer, as the codec would decode it.
                let len = usize::from(inp.byte());
                let raw = Bytes::copy_from_slice(inp.take(len));
                match apci::decode_bytes(&raw) {
                    Ok(Some((apdu, _))) => link.handle_apdu(now, apdu),
                    _ => Ok(()),
                }
            }
            1 => {
                let _ = link.start(now);
                Ok(())
            }
            2 => {
                let _ = link.stop(now);
                Ok(())
            }
            3 => {
                let a = asdu(next_id, inp.byte());
                next_id += 1;
                let before = link.queued_len();
                match link.send_asdu(now, a.clone()) {
                    Ok(()) => {
                        assert_eq!(link.state(), LinkState::Started);
                        obs.accepted.push_back(a);
                    }
                    Err(e) => {
                        assert_eq!(e.into_asdu(), a, "refused ASDU not handed back");
                        assert_eq!(link.queued_len(), before);
                    }
                }
                Ok(())
            }
            4 => {
                // A well-formed I frame: the expected N(S), acknowledging all we received.
                let len = usize::from(inp.byte());
                let body = inp.take(len);
                let body = if body.is_empty() {
                    asdu(next_id, 10)
                } else {
                    Bytes::copy_from_slice(body)
                };
                next_id += 1;
                let nr = (obs.sent_i % u32::from(SEQ_MODULUS)) as u16;
                link.handle_apdu(now, Apdu::i(link.recv_seq(), nr, body))
            }
            5 => {
                let nr = (obs.sent_i % u32::from(SEQ_MODULUS)) as u16;
                link.handle_apdu(now, Apdu::s(nr))
            }
            6 => {
                let nr = inp.u16() % SEQ_MODULUS;
                link.handle_apdu(now, Apdu::s(nr))
            }
            7 => {
                obs.drain(&mut link, now);
                Ok(())
            }
            8 => {
                let f = UFunction::ALL[usize::from(inp.byte()) % 6];
                link.handle_apdu(now, Apdu::u(f))
            }
            9 => {
                now += Duration::from_millis(u64::from(inp.byte()) * 100);
                link.handle_timeout(now)
            }
            10 => {
                let pick = inp.byte();
                obs.release(&mut link, pick);
                Ok(())
            }
            11 => {
                let (ns, nr) = (inp.u16() % SEQ_MODULUS, inp.u16() % SEQ_MODULUS);
                link.handle_apdu(now, Apdu::i(ns, nr, asdu(next_id, 4)))
            }
            _ => {
                // Acknowledge part of what is outstanding.
                let outstanding = obs.sent_i - obs.acked;
                let n = u32::from(inp.byte()) % (outstanding + 1);
                let nr = ((obs.acked + n) % u32::from(SEQ_MODULUS)) as u16;
                link.handle_apdu(now, Apdu::s(nr))
            }
        };
        let events = obs.events(&mut link);
        obs.delivered.clear();
        assert!(events <= 3, "{events} events from one operation");
        obs.check(&link);
        if let Err(e) = result {
            let _ = iec104_fuzz::display_len(&e);
            debug(&[(&link, &obs)]);
            if std::env::var_os("IEC104_FUZZ_DEBUG").is_some() {
                eprintln!("closed: {e}");
            }
            obs.close(&mut link);
            return;
        }
    }
    obs.drain(&mut link, now);
    obs.events(&mut link);
    debug(&[(&link, &obs)]);
    obs.close(&mut link);
}

/// Moves every frame `from` sends to `to`; returns whether anything moved. A protocol error
/// between two correct links is a bug.
fn pump(
    from: &mut Link,
    fobs: &mut Observer,
    to: &mut Link,
    tobs: &mut Observer,
    now: Instant,
) -> bool {
    let frames = fobs.drain(from, now);
    let moved = !frames.is_empty();
    for apdu in frames {
        let apci = apdu.apci;
        if let Err(e) = to.handle_apdu(now, apdu) {
            panic!(
                "{:?} station refused {apci:?} from a correct peer: {e}",
                to.role()
            );
        }
        let n = tobs.events(to);
        assert!(n <= 3, "{n} events from one frame");
        tobs.check(to);
    }
    moved
}

fn pump_all(a: &mut Link, ao: &mut Observer, b: &mut Link, bo: &mut Observer, now: Instant) {
    for _ in 0..1000 {
        let x = pump(a, ao, b, bo, now);
        let y = pump(b, bo, a, ao, now);
        if !x && !y {
            return;
        }
    }
    panic!("links keep talking without time passing");
}

/// Between two correct links a t1 timeout is legitimate only while received frames sit
/// unreleased by the application (they may not be acknowledged, so the sender's t1, or the
/// controlling station's wait for STOPDT con, runs out).
fn timeout_allowed(e: &LinkError, c: &LinkConfig, a: &Observer, b: &Observer) -> bool {
    matches!(
        e,
        LinkError::T1Timeout {
            awaited: Awaited::Ack { .. } | Awaited::Con(UFunction::StopDtAct)
        }
    ) && !c.auto_release
        && (a.released < a.received || b.released < b.received)
}

/// Every ASDU `rx` delivered is the next one `tx` accepted for sending.
fn delivered_in_order(tx: &mut Observer, rx: &mut Observer) {
    while let Some(got) = rx.delivered.pop_front() {
        assert_eq!(
            Some(got),
            tx.outbox.pop_front(),
            "ASDU delivered out of order or never sent"
        );
    }
}

fn pair(c: LinkConfig, wrap: bool, inp: &mut Input<'_>) {
    let mut now = Instant::now();
    let (Ok(mut a), Ok(mut b)) = (
        Link::new(Role::Controlling, c.clone(), now),
        Link::new(Role::Controlled, c.clone(), now),
    ) else {
        assert!(c.validate().is_err());
        return;
    };
    let mut ao = Observer::new(&c);
    let mut bo = Observer::new(&c);
    let mut next_id = 0u32;
    if wrap {
        // Started, then PRELUDE ASDUs each way, everything released and delivered.
        let _ = a.start(now);
        pump_all(&mut a, &mut ao, &mut b, &mut bo, now);
        ao.events(&mut a);
        for _ in 0..PRELUDE {
            for (link, obs) in [(&mut a, &mut ao), (&mut b, &mut bo)] {
                let x = asdu(next_id, 3);
                next_id += 1;
                if link.send_asdu(now, x.clone()).is_ok() {
                    obs.accepted.push_back(x.clone());
                    obs.outbox.push_back(x);
                }
            }
            pump_all(&mut a, &mut ao, &mut b, &mut bo, now);
            ao.release_all(&mut a);
            bo.release_all(&mut b);
            pump_all(&mut a, &mut ao, &mut b, &mut bo, now);
            delivered_in_order(&mut ao, &mut bo);
            delivered_in_order(&mut bo, &mut ao);
        }
    }
    while !inp.is_empty() {
        let op = inp.byte();
        match op % 9 {
            0 => {
                let _ = a.start(now);
            }
            1 => {
                let _ = a.stop(now);
            }
            2 | 3 => {
                let (link, obs) = if op % 9 == 2 {
                    (&mut a, &mut ao)
                } else {
                    (&mut b, &mut bo)
                };
                let x = asdu(next_id, inp.byte());
                next_id += 1;
                if link.send_asdu(now, x.clone()).is_ok() {
                    obs.accepted.push_back(x.clone());
                    obs.outbox.push_back(x);
                }
            }
            4 => {
                // Let time pass, handling every timer when it is due, with the channel
                // emptied before each step (delivery takes no time).
                let target = now + Duration::from_millis(u64::from(inp.byte()) * 100);
                pump_all(&mut a, &mut ao, &mut b, &mut bo, now);
                loop {
                    let due = [a.poll_timeout(), b.poll_timeout()]
                        .into_iter()
                        .flatten()
                        .min();
                    let step = match due {
                        Some(t) if t <= target => t.max(now),
                        _ => break,
                    };
                    now = step;
                    let timers = match a.handle_timeout(now) {
                        Err(e) => Err((Role::Controlling, e)),
                        Ok(()) => b.handle_timeout(now).map_err(|e| (Role::Controlled, e)),
                    };
                    if let Err((role, e)) = timers {
                        assert!(
                            timeout_allowed(&e, &c, &ao, &bo),
                            "{role:?} station: {e} between two correct links"
                        );
                        debug(&[(&a, &ao), (&b, &bo)]);
                        return;
                    }
                    pump_all(&mut a, &mut ao, &mut b, &mut bo, now);
                    let again = [a.poll_timeout(), b.poll_timeout()]
                        .into_iter()
                        .flatten()
                        .min();
                    // A driver sleeps until poll_timeout: a timer still due right after it
                    // was handled (and the frames sent) would make it spin.
                    assert!(
                        again.is_none_or(|t| t > now),
                        "timer still due after handle_timeout and poll_transmit"
                    );
                }
                now = target.max(now);
            }
            5 => {
                let pick = inp.byte();
                ao.release(&mut a, pick);
            }
            6 => {
                let pick = inp.byte();
                bo.release(&mut b, pick);
            }
            7 => {
                pump(&mut a, &mut ao, &mut b, &mut bo, now);
            }
            _ => {
                pump(&mut b, &mut bo, &mut a, &mut ao, now);
            }
        }
        ao.events(&mut a);
        bo.events(&mut b);
        ao.check(&a);
        bo.check(&b);
        delivered_in_order(&mut ao, &mut bo);
        delivered_in_order(&mut bo, &mut ao);
    }
    pump_all(&mut a, &mut ao, &mut b, &mut bo, now);
    ao.events(&mut a);
    bo.events(&mut b);
    delivered_in_order(&mut ao, &mut bo);
    delivered_in_order(&mut bo, &mut ao);
    debug(&[(&a, &ao), (&b, &bo)]);
}

/// With IEC104_FUZZ_DEBUG set, prints what a run reached (to check that seeds go deep).
fn debug(links: &[(&Link, &Observer)]) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("IEC104_FUZZ_DEBUG").is_some()) {
        for (l, o) in links {
            eprintln!(
                "{:?} {:?}: sent {} acked {} received {} released {} queued {}",
                l.role(),
                l.state(),
                o.sent_i,
                o.acked,
                o.received,
                o.released,
                l.queued_len()
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input { data };
    let mode = inp.byte();
    let role = if inp.byte() & 1 == 0 {
        Role::Controlling
    } else {
        Role::Controlled
    };
    let c = config(&mut inp);
    // 0xAA / 0xAB: the wrap-around prelude first (32760 exchanges, about 0.1 s).
    let wrap = mode & 0xFE == 0xAA;
    if mode & 1 == 0 {
        single(role, c, wrap, &mut inp);
    } else {
        pair(c, wrap, &mut inp);
    }
});

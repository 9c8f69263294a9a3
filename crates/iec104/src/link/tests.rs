//! Tests of the link state machine in virtual time: every instant is made up, nothing sleeps.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::apci::{Apci, Apdu, UFunction};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

fn asdu(n: u8) -> Bytes {
    Bytes::from(vec![n, 0xA5])
}

fn i(send_seq: u16, recv_seq: u16) -> Apdu {
    Apdu::i(send_seq, recv_seq, asdu((send_seq & 0xFF) as u8))
}

fn u(f: UFunction) -> Apdu {
    Apdu::u(f)
}

fn tx(link: &mut Link, now: Instant) -> Vec<Apci> {
    std::iter::from_fn(|| link.poll_transmit(now))
        .map(|a| a.apci)
        .collect()
}

fn events(link: &mut Link) -> Vec<LinkEvent> {
    std::iter::from_fn(|| link.poll_event()).collect()
}

/// Just the ASDU/ack events' shape, for compact assertions.
fn acks(evs: &[LinkEvent]) -> Vec<usize> {
    evs.iter()
        .filter_map(|e| match e {
            LinkEvent::Acknowledged { count } => Some(*count),
            _ => None,
        })
        .collect()
}

/// A controlled station (server) after STARTDT.
fn controlled(config: LinkConfig, now: Instant) -> Link {
    let mut link = Link::new(Role::Controlled, config, now).unwrap();
    link.handle_apdu(now, u(UFunction::StartDtAct)).unwrap();
    assert_eq!(tx(&mut link, now), vec![Apci::U(UFunction::StartDtCon)]);
    assert_eq!(events(&mut link), vec![LinkEvent::Started]);
    assert_eq!(link.state(), LinkState::Started);
    link
}

/// A controlling station (client) after STARTDT.
fn controlling(config: LinkConfig, now: Instant) -> Link {
    let mut link = Link::new(Role::Controlling, config, now).unwrap();
    link.start(now).unwrap();
    assert_eq!(link.state(), LinkState::PendingStart);
    assert_eq!(tx(&mut link, now), vec![Apci::U(UFunction::StartDtAct)]);
    link.handle_apdu(now, u(UFunction::StartDtCon)).unwrap();
    assert_eq!(events(&mut link), vec![LinkEvent::Started]);
    assert_eq!(link.state(), LinkState::Started);
    link
}

#[test]
fn config_validation() {
    assert_eq!(LinkConfig::default().validate(), Ok(()));
    let bad = |f: fn(&mut LinkConfig)| {
        let mut c = LinkConfig::default();
        f(&mut c);
        c.validate()
    };
    assert_eq!(bad(|c| c.k = 0), Err(ConfigError::K(0)));
    assert_eq!(bad(|c| c.k = 32768), Err(ConfigError::K(32768)));
    assert_eq!(bad(|c| c.w = 0), Err(ConfigError::W { w: 0, k: 12 }));
    assert_eq!(bad(|c| c.w = 13), Err(ConfigError::W { w: 13, k: 12 }));
    assert_eq!(
        bad(|c| c.t2 = secs(15)),
        Err(ConfigError::T2NotBelowT1 {
            t1: secs(15),
            t2: secs(15)
        })
    );
    assert_eq!(
        bad(|c| c.t3 = Duration::ZERO),
        Err(ConfigError::ZeroTimer("t3"))
    );
    assert_eq!(bad(|c| c.send_queue = 0), Err(ConfigError::SendQueue));
    assert_eq!(bad(|c| c.t0 = LinkConfig::MAX_TIMER), Ok(()));
    assert_eq!(
        bad(|c| c.t3 = Duration::MAX),
        Err(ConfigError::TimerTooLong {
            name: "t3",
            value: Duration::MAX,
            max: secs(86_400)
        })
    );
    assert_eq!(
        bad(|c| c.t0 = secs(86_401)),
        Err(ConfigError::TimerTooLong {
            name: "t0",
            value: secs(86_401),
            max: secs(86_400)
        })
    );
    assert!(Link::new(
        Role::Controlled,
        LinkConfig {
            k: 0,
            ..LinkConfig::default()
        },
        Instant::now()
    )
    .is_err());
}

/// A deadline beyond what `Instant` can represent means "never", not a panic: even with a
/// timer that validation would refuse, every timer path is overflow-free.
#[test]
fn huge_timers_do_not_overflow() {
    let t = Instant::now();
    let mut link = controlled(LinkConfig::default(), t);
    link.config.t1 = Duration::MAX;
    link.config.t2 = Duration::MAX;
    link.config.t3 = Duration::MAX;
    link.handle_apdu(t, i(0, 0)).unwrap();
    link.send_asdu(t, asdu(0)).unwrap();
    assert_eq!(
        tx(&mut link, t),
        vec![Apci::I {
            send_seq: 0,
            recv_seq: 1
        }]
    );
    link.handle_apdu(t, i(1, 0)).unwrap();
    assert_eq!(link.poll_timeout(), None);
    link.handle_timeout(t + secs(1_000_000)).unwrap();
    assert_eq!(tx(&mut link, t + secs(1_000_000)), vec![]);
}

#[test]
fn startdt_controlled_answers_con_and_repeats_idempotently() {
    let t = Instant::now();
    let mut link = controlled(LinkConfig::default(), t);
    // A second STARTDT act while started: confirmed again, no new event.
    link.handle_apdu(t, u(UFunction::StartDtAct)).unwrap();
    assert_eq!(tx(&mut link, t), vec![Apci::U(UFunction::StartDtCon)]);
    assert_eq!(events(&mut link), vec![]);
}

#[test]
fn nothing_is_sent_before_startdt() {
    let t = Instant::now();
    let mut link = Link::new(Role::Controlled, LinkConfig::default(), t).unwrap();
    assert_eq!(
        link.send_asdu(t, asdu(1)),
        Err(SendError::NotStarted(asdu(1)))
    );
    let mut client = Link::new(Role::Controlling, LinkConfig::default(), t).unwrap();
    client.start(t).unwrap();
    assert_eq!(
        client.send_asdu(t, asdu(1)),
        Err(SendError::NotStarted(asdu(1)))
    );
    assert_eq!(
        client.start(t),
        Err(LinkError::WrongState {
            op: "start",
            state: LinkState::PendingStart
        })
    );
    assert_eq!(link.start(t), Err(LinkError::WrongRole { op: "start" }));
    assert_eq!(link.stop(t), Err(LinkError::WrongRole { op: "stop" }));
    assert_eq!(
        link.send_asdu(t, Bytes::new()),
        Err(SendError::BadLength(Bytes::new()))
    );
}

#[test]
fn t1_on_startdt_act() {
    let t = Instant::now();
    let cfg = LinkConfig::default();
    let mut link = Link::new(Role::Controlling, cfg.clone(), t).unwrap();
    link.start(t).unwrap();
    let sent = t + secs(1);
    assert_eq!(tx(&mut link, sent), vec![Apci::U(UFunction::StartDtAct)]);
    // t1 runs from the transmission.
    assert_eq!(link.poll_timeout(), Some(sent + cfg.t1));
    link.handle_timeout(sent + cfg.t1 - ms(1)).unwrap();
    assert_eq!(
        link.handle_timeout(sent + cfg.t1),
        Err(LinkError::T1Timeout {
            awaited: Awaited::Con(UFunction::StartDtAct)
        })
    );
}

#[test]
fn t1_on_stopdt_act() {
    let t = Instant::now();
    let cfg = LinkConfig::default();
    let mut link = controlling(cfg.clone(), t);
    link.stop(t).unwrap();
    assert_eq!(tx(&mut link, t), vec![Apci::U(UFunction::StopDtAct)]);
    assert_eq!(
        link.handle_timeout(t + cfg.t1),
        Err(LinkError::T1Timeout {
            awaited: Awaited::Con(UFunction::StopDtAct)
        })
    );
}

#[test]
fn t1_on_unacknowledged_i_frame() {
    let t = Instant::now();
    let cfg = LinkConfig::default();
    let mut link = controlled(cfg.clone(), t);
    link.send_asdu(t, asdu(1)).unwrap();
    let sent = t + secs(2);
    assert_eq!(
        tx(&mut link, sent),
        vec![Apci::I {
            send_seq: 0,
            recv_seq: 0
        }]
    );
    assert_eq!(link.poll_timeout(), Some(sent + cfg.t1));
    link.handle_timeout(sent + cfg.t1 - ms(1)).unwrap();
    assert_eq!(
        link.handle_timeout(sent + cfg.t1),
        Err(LinkError::T1Timeout {
            awaited: Awaited::Ack { send_seq: 0 }
        })
    );
}

#[test]
fn acknowledgement_stops_t1_and_restarts_it_for_the_next_frame() {
    let t = Instant::now();
    let cfg = LinkConfig::default();
    let mut link = controlled(cfg.clone(), t);
    link.send_asdu(t, asdu(1)).unwrap();
    link.send_asdu(t, asdu(2)).unwrap();
    assert_eq!(
        tx(&mut link, t),
        vec![
            Apci::I {
                send_seq: 0,
                recv_seq: 0
            },
            Apci::I {
                send_seq: 1,
                recv_seq: 0
            }
        ]
    );
    let mut link2 = controlled(cfg.clone(), t);
    link2.send_asdu(t, asdu(1)).unwrap();
    assert_eq!(
        tx(&mut link2, t),
        vec![Apci::I {
            send_seq: 0,
            recv_seq: 0
        }]
    );
    link2.send_asdu(t + secs(5), asdu(2)).unwrap();
    assert_eq!(
        tx(&mut link2, t + secs(5)),
        vec![Apci::I {
            send_seq: 1,
            recv_seq: 0
        }]
    );
    // The peer acknowledges the first at t+10: t1 now runs for the second, sent at t+5.
    link2.handle_apdu(t + secs(10), Apdu::s(1)).unwrap();
    assert_eq!(
        events(&mut link2),
        vec![LinkEvent::Acknowledged { count: 1 }]
    );
    assert_eq!(link2.poll_timeout(), Some(t + secs(5) + cfg.t1));
    link2.handle_timeout(t + secs(19)).unwrap();
    assert!(link2.handle_timeout(t + secs(20)).is_err());
    // The first link: nothing outstanding beyond the two I frames.
    assert_eq!(
        link.unacknowledged().cloned().collect::<Vec<_>>(),
        vec![asdu(1), asdu(2)]
    );
}

#[test]
fn t2_sends_s_frame_after_the_oldest_unacknowledged_receipt() {
    let t = Instant::now();
    let cfg = LinkConfig::default();
    let mut link = controlled(cfg.clone(), t);
    link.handle_apdu(t + secs(1), i(0, 0)).unwrap();
    link.handle_apdu(t + secs(3), i(1, 0)).unwrap();
    assert!(matches!(
        events(&mut link).as_slice(),
        [LinkEvent::Asdu { .. }, LinkEvent::Asdu { .. }]
    ));
    assert_eq!(tx(&mut link, t + secs(3)), vec![]);
    assert_eq!(link.poll_timeout(), Some(t + secs(1) + cfg.t2));
    let due = t + secs(1) + cfg.t2;
    assert_eq!(tx(&mut link, due - ms(1)), vec![]);
    link.handle_timeout(due).unwrap();
    assert_eq!(tx(&mut link, due), vec![Apci::S { recv_seq: 2 }]);
    // Nothing left to acknowledge: the next deadline is t3 from the last receipt.
    assert_eq!(link.poll_timeout(), Some(t + secs(3) + cfg.t3));
}

#[test]
fn w_received_frames_are_acknowledged_at_once() {
    let t = Instant::now();
    let cfg = LinkConfig {
        w: 8,
        ..LinkConfig::default()
    };
    let mut link = controlled(cfg, t);
    for n in 0..7 {
        link.handle_apdu(t, i(n, 0)).unwrap();
        assert_eq!(tx(&mut link, t), vec![], "after {} frames", n + 1);
    }
    link.handle_apdu(t, i(7, 0)).unwrap();
    assert_eq!(tx(&mut link, t), vec![Apci::S { recv_seq: 8 }]);
    assert_eq!(events(&mut link).len(), 8);
}

#[test]
fn outgoing_i_frame_carries_the_acknowledgement() {
    let t = Instant::now();
    let mut link = controlled(LinkConfig::default(), t);
    link.handle_apdu(t, i(0, 0)).unwrap();
    link.handle_apdu(t, i(1, 0)).unwrap();
    link.send_asdu(t, asdu(9)).unwrap();
    assert_eq!(
        tx(&mut link, t),
        vec![Apci::I {
            send_seq: 0,
            recv_seq: 2
        }]
    );
    // Acknowledged by the I frame: no t2 any more, only t1 (and t3).
    let cfg = LinkConfig::default();
    assert_eq!(link.poll_timeout(), Some(t + cfg.t1));
    link.handle_timeout(t + cfg.t2).unwrap();
    assert_eq!(tx(&mut link, t + cfg.t2), vec![]);
}

#[test]
fn withheld_release_is_never_acknowledged() {
    let t = Instant::now();
    let cfg = LinkConfig {
        auto_release: false,
        w: 4,
        ..LinkConfig::default()
    };
    let mut link = controlled(cfg.clone(), t);
    for n in 0..6 {
        link.handle_apdu(t + secs(u64::from(n)), i(n, 0)).unwrap();
    }
    let tokens: Vec<ReceiveToken> = events(&mut link)
        .into_iter()
        .filter_map(|e| match e {
            LinkEvent::Asdu { token, .. } => Some(token),
            _ => None,
        })
        .collect();
    assert_eq!(
        tokens.iter().map(|t| t.seq()).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4, 5]
    );
    // Six frames, more than w, t2 long past: still no acknowledgement, and no t2 deadline.
    let late = t + secs(60);
    assert_eq!(link.poll_timeout(), Some(t + secs(5) + cfg.t3));
    assert_eq!(tx(&mut link, late), vec![]);
    // An outgoing I frame acknowledges only released frames (none).
    link.send_asdu(late, asdu(1)).unwrap();
    assert_eq!(
        tx(&mut link, late),
        vec![Apci::I {
            send_seq: 0,
            recv_seq: 0
        }]
    );
    // Release up to N(S)=1: two frames, below w, but their t2 is past -> S(2) now.
    link.release(tokens[1]);
    assert_eq!(tx(&mut link, late), vec![Apci::S { recv_seq: 2 }]);
    // Release up to N(S)=5 at once: 4 = w frames -> S(6).
    link.release(tokens[5]);
    assert_eq!(tx(&mut link, late), vec![Apci::S { recv_seq: 6 }]);
    // Stale tokens are ignored.
    link.release(tokens[0]);
    assert_eq!(tx(&mut link, late), vec![]);
}

#[test]
fn release_starts_no_earlier_than_receipt_for_t2() {
    let t = Instant::now();
    let cfg = LinkConfig {
        auto_release: false,
        ..LinkConfig::default()
    };
    let mut link = controlled(cfg.clone(), t);
    link.handle_apdu(t, i(0, 0)).unwrap();
    let token = match events(&mut link).as_slice() {
        [LinkEvent::Asdu { token, .. }] => *token,
        other => panic!("{other:?}"),
    };
    link.release(token);
    // Released at once: t2 runs from the receipt.
    assert_eq!(link.poll_timeout(), Some(t + cfg.t2));
    assert_eq!(tx(&mut link, t + secs(1)), vec![]);
    assert_eq!(tx(&mut link, t + cfg.t2), vec![Apci::S { recv_seq: 1 }]);
}

#[test]
fn t3_sends_testfr_and_t1_guards_it() {
    let t = Instant::now();
    let cfg = LinkConfig::default();
    let mut link = controlled(cfg.clone(), t);
    assert_eq!(link.poll_timeout(), Some(t + cfg.t3));
    link.handle_timeout(t + cfg.t3 - ms(1)).unwrap();
    assert_eq!(tx(&mut link, t + cfg.t3 - ms(1)), vec![]);
    let t3 = t + cfg.t3;
    link.handle_timeout(t3).unwrap();
    assert_eq!(tx(&mut link, t3), vec![Apci::U(UFunction::TestFrAct)]);
    assert_eq!(link.poll_timeout(), Some(t3 + cfg.t1));
    // Answered: no error, t3 restarts from the con.
    link.handle_apdu(t3 + secs(2), u(UFunction::TestFrCon))
        .unwrap();
    assert_eq!(events(&mut link), vec![LinkEvent::TestFrameConfirmed]);
    assert_eq!(link.poll_timeout(), Some(t3 + secs(2) + cfg.t3));
    // Next time unanswered: t1 closes.
    let t3b = t3 + secs(2) + cfg.t3;
    link.handle_timeout(t3b).unwrap();
    assert_eq!(tx(&mut link, t3b), vec![Apci::U(UFunction::TestFrAct)]);
    assert_eq!(
        link.handle_timeout(t3b + cfg.t1),
        Err(LinkError::T1Timeout {
            awaited: Awaited::Con(UFunction::TestFrAct)
        })
    );
}

#[test]
fn any_received_frame_restarts_t3() {
    let t = Instant::now();
    let cfg = LinkConfig::default();
    let mut link = controlled(cfg.clone(), t);
    link.handle_apdu(t + secs(15), Apdu::s(0)).unwrap();
    assert_eq!(link.poll_timeout(), Some(t + secs(15) + cfg.t3));
    link.handle_timeout(t + cfg.t3).unwrap();
    assert_eq!(tx(&mut link, t + cfg.t3), vec![]);
}

#[test]
fn testfr_act_is_answered_in_every_state_and_stray_con_ignored() {
    let t = Instant::now();
    for role in [Role::Controlled, Role::Controlling] {
        let mut link = Link::new(role, LinkConfig::default(), t).unwrap();
        link.handle_apdu(t, u(UFunction::TestFrAct)).unwrap();
        assert_eq!(tx(&mut link, t), vec![Apci::U(UFunction::TestFrCon)]);
        link.handle_apdu(t, u(UFunction::TestFrCon)).unwrap();
        assert_eq!(events(&mut link), vec![]);
    }
}

#[test]
fn k_window_blocks_and_resumes() {
    let t = Instant::now();
    let cfg = LinkConfig {
        k: 3,
        w: 2,
        ..LinkConfig::default()
    };
    let mut link = controlled(cfg, t);
    for n in 0..5 {
        link.send_asdu(t, asdu(n)).unwrap();
    }
    assert_eq!(
        tx(&mut link, t),
        vec![
            Apci::I {
                send_seq: 0,
                recv_seq: 0
            },
            Apci::I {
                send_seq: 1,
                recv_seq: 0
            },
            Apci::I {
                send_seq: 2,
                recv_seq: 0
            },
        ]
    );
    assert_eq!(link.queued_len(), 2);
    assert_eq!(link.unacknowledged_len(), 3);
    // Peer acknowledges two: two more may go.
    link.handle_apdu(t, Apdu::s(2)).unwrap();
    assert_eq!(acks(&events(&mut link)), vec![2]);
    assert_eq!(
        tx(&mut link, t),
        vec![
            Apci::I {
                send_seq: 3,
                recv_seq: 0
            },
            Apci::I {
                send_seq: 4,
                recv_seq: 0
            }
        ]
    );
    assert_eq!(
        link.unacknowledged().cloned().collect::<Vec<_>>(),
        vec![asdu(2), asdu(3), asdu(4)]
    );
}

#[test]
fn full_queue_hands_the_asdu_back() {
    let t = Instant::now();
    let cfg = LinkConfig {
        k: 1,
        w: 1,
        send_queue: 2,
        ..LinkConfig::default()
    };
    let mut link = controlled(cfg, t);
    link.send_asdu(t, asdu(0)).unwrap();
    assert_eq!(tx(&mut link, t).len(), 1);
    link.send_asdu(t, asdu(1)).unwrap();
    link.send_asdu(t, asdu(2)).unwrap();
    assert!(!link.can_send());
    assert_eq!(
        link.send_asdu(t, asdu(3)),
        Err(SendError::QueueFull(asdu(3)))
    );
    assert_eq!(tx(&mut link, t), vec![]); // k = 1 reached
    link.handle_apdu(t, Apdu::s(1)).unwrap();
    assert_eq!(
        tx(&mut link, t),
        vec![Apci::I {
            send_seq: 1,
            recv_seq: 0
        }]
    );
    assert!(link.can_send());
    link.send_asdu(t, asdu(3)).unwrap();
    // On close everything not known delivered comes back in order.
    assert_eq!(link.take_pending(), vec![asdu(1), asdu(2), asdu(3)]);
}

#[test]
fn bad_receive_sequence_numbers_are_errors() {
    let t = Instant::now();
    let mut link = controlled(LinkConfig::default(), t);
    link.send_asdu(t, asdu(0)).unwrap();
    link.send_asdu(t, asdu(1)).unwrap();
    tx(&mut link, t);
    // Acknowledging a frame never sent (N(S) 2 was not sent; N(R) = 3 covers it).
    assert_eq!(
        link.handle_apdu(t, Apdu::s(3)),
        Err(LinkError::BadRecvSeq {
            received: 3,
            acknowledged: 0,
            next_send: 2
        })
    );
    link.handle_apdu(t, Apdu::s(1)).unwrap();
    // Going backwards.
    assert_eq!(
        link.handle_apdu(t, Apdu::s(0)),
        Err(LinkError::BadRecvSeq {
            received: 0,
            acknowledged: 1,
            next_send: 2
        })
    );
    // Repeating the same N(R) is fine; so is N(R) in an I frame.
    link.handle_apdu(t, Apdu::s(1)).unwrap();
    link.handle_apdu(t, i(0, 2)).unwrap();
    assert_eq!(link.unacknowledged_len(), 0);
    assert_eq!(
        link.handle_apdu(t, i(1, 3)),
        Err(LinkError::BadRecvSeq {
            received: 3,
            acknowledged: 2,
            next_send: 2
        })
    );
}

#[test]
fn bad_send_sequence_number_is_an_error() {
    let t = Instant::now();
    let mut link = controlled(LinkConfig::default(), t);
    link.handle_apdu(t, i(0, 0)).unwrap();
    assert_eq!(
        link.handle_apdu(t, i(2, 0)),
        Err(LinkError::BadSendSeq {
            received: 2,
            expected: 1
        })
    );
    assert_eq!(
        link.handle_apdu(t, i(0, 0)),
        Err(LinkError::BadSendSeq {
            received: 0,
            expected: 1
        })
    );
}

#[test]
fn controlled_stopdt_waits_until_everything_sent_is_acknowledged() {
    let t = Instant::now();
    let mut link = controlled(LinkConfig::default(), t);
    link.handle_apdu(t, i(0, 0)).unwrap(); // one received, unacknowledged
    link.send_asdu(t, asdu(0)).unwrap();
    link.send_asdu(t, asdu(1)).unwrap();
    link.send_asdu(t, asdu(2)).unwrap();
    link.send_asdu(t, asdu(3)).unwrap();
    // The received I(0) is acknowledged by the N(R) = 1 the outgoing I frames carry.
    assert_eq!(
        tx(&mut link, t),
        vec![
            Apci::I {
                send_seq: 0,
                recv_seq: 1
            },
            Apci::I {
                send_seq: 1,
                recv_seq: 1
            },
            Apci::I {
                send_seq: 2,
                recv_seq: 1
            },
            Apci::I {
                send_seq: 3,
                recv_seq: 1
            },
        ]
    );
    events(&mut link);
    link.handle_apdu(t, i(1, 0)).unwrap(); // one more received
    link.handle_apdu(t, u(UFunction::StopDtAct)).unwrap();
    assert_eq!(link.state(), LinkState::PendingStop);
    // Acknowledges what it received, no con yet, no more I frames.
    assert_eq!(tx(&mut link, t), vec![Apci::S { recv_seq: 2 }]);
    assert!(matches!(
        link.send_asdu(t, asdu(9)),
        Err(SendError::NotStarted(_))
    ));
    // An I frame from the controlling station while draining is a violation (checked below on
    // a fresh link); here acknowledgements arrive.
    link.handle_apdu(t, Apdu::s(3)).unwrap();
    assert_eq!(tx(&mut link, t), vec![]);
    assert_eq!(link.state(), LinkState::PendingStop);
    link.handle_apdu(t, Apdu::s(4)).unwrap();
    assert_eq!(link.state(), LinkState::Stopped);
    let evs = events(&mut link);
    assert!(
        matches!(&evs[0], LinkEvent::Asdu { asdu: a, token } if *a == asdu(1) && token.seq() == 1),
        "{evs:?}"
    );
    assert_eq!(
        evs[1..],
        vec![
            LinkEvent::Acknowledged { count: 3 },
            LinkEvent::Acknowledged { count: 1 },
            LinkEvent::Stopped
        ]
    );
    assert_eq!(tx(&mut link, t), vec![Apci::U(UFunction::StopDtCon)]);
    // STOPDT act again while stopped: confirmed again.
    link.handle_apdu(t, u(UFunction::StopDtAct)).unwrap();
    assert_eq!(tx(&mut link, t), vec![Apci::U(UFunction::StopDtCon)]);
    // STARTDT again: data flows with the numbers continuing.
    link.handle_apdu(t, u(UFunction::StartDtAct)).unwrap();
    link.send_asdu(t, asdu(4)).unwrap();
    assert_eq!(
        tx(&mut link, t),
        vec![
            Apci::U(UFunction::StartDtCon),
            Apci::I {
                send_seq: 4,
                recv_seq: 2
            }
        ]
    );
}

#[test]
fn controlled_stopdt_with_nothing_outstanding_confirms_at_once() {
    let t = Instant::now();
    let mut link = controlled(LinkConfig::default(), t);
    link.handle_apdu(t, u(UFunction::StopDtAct)).unwrap();
    assert_eq!(events(&mut link), vec![LinkEvent::Stopped]);
    assert_eq!(tx(&mut link, t), vec![Apci::U(UFunction::StopDtCon)]);
    // I frames are not allowed any more.
    assert_eq!(
        link.handle_apdu(t, i(0, 0)),
        Err(LinkError::UnexpectedIFrame {
            state: LinkState::Stopped,
            role: Role::Controlled
        })
    );
}

/// Ed.2 §5.3 figure 17: on STOPDT act the controlled station first acknowledges the I frames
/// it received, then confirms. With `auto_release` off the application may see the STOPDT act
/// before it released the I frame that preceded it: the con must wait for that release.
#[test]
fn controlled_stopdt_con_waits_for_the_release_of_received_frames() {
    let t = Instant::now();
    let cfg = LinkConfig {
        auto_release: false,
        ..LinkConfig::default()
    };
    let mut link = controlled(cfg, t);
    link.handle_apdu(t, i(0, 0)).unwrap();
    link.handle_apdu(t, i(1, 0)).unwrap();
    link.handle_apdu(t, u(UFunction::StopDtAct)).unwrap();
    let tokens: Vec<ReceiveToken> = events(&mut link)
        .into_iter()
        .filter_map(|e| match e {
            LinkEvent::Asdu { token, .. } => Some(token),
            _ => None,
        })
        .collect();
    assert_eq!(link.state(), LinkState::Stopped);
    // Nothing released: nothing may be acknowledged, so no con either.
    assert_eq!(tx(&mut link, t), vec![]);
    // One released: acknowledged at once (flush), con still held for the second.
    link.release(tokens[0]);
    assert_eq!(tx(&mut link, t), vec![Apci::S { recv_seq: 1 }]);
    // Both released: the acknowledgement, then the con.
    link.release(tokens[1]);
    assert_eq!(
        tx(&mut link, t),
        vec![Apci::S { recv_seq: 2 }, Apci::U(UFunction::StopDtCon)]
    );
    assert_eq!(tx(&mut link, t + secs(30)), vec![]);
}

#[test]
fn controlled_rejects_i_frame_while_draining() {
    let t = Instant::now();
    let mut link = controlled(LinkConfig::default(), t);
    link.send_asdu(t, asdu(0)).unwrap();
    tx(&mut link, t);
    link.handle_apdu(t, u(UFunction::StopDtAct)).unwrap();
    assert_eq!(
        link.handle_apdu(t, i(0, 0)),
        Err(LinkError::UnexpectedIFrame {
            state: LinkState::PendingStop,
            role: Role::Controlled
        })
    );
}

#[test]
fn controlling_stopdt_acknowledges_everything_until_con() {
    let t = Instant::now();
    let cfg = LinkConfig::default(); // w = 8
    let mut link = controlling(cfg, t);
    link.handle_apdu(t, i(0, 0)).unwrap();
    link.stop(t).unwrap();
    assert_eq!(link.state(), LinkState::PendingStop);
    // STOPDT act, and the received frame acknowledged at once (not waiting for w or t2).
    assert_eq!(
        tx(&mut link, t),
        vec![Apci::U(UFunction::StopDtAct), Apci::S { recv_seq: 1 }]
    );
    link.handle_apdu(t, i(1, 0)).unwrap();
    assert_eq!(tx(&mut link, t), vec![Apci::S { recv_seq: 2 }]);
    link.handle_apdu(t, u(UFunction::StopDtCon)).unwrap();
    assert_eq!(link.state(), LinkState::Stopped);
    assert_eq!(events(&mut link).last(), Some(&LinkEvent::Stopped));
    // Data after STOPDT con is a violation by the controlled station (§5.3).
    assert_eq!(
        link.handle_apdu(t, i(2, 0)),
        Err(LinkError::UnexpectedIFrame {
            state: LinkState::Stopped,
            role: Role::Controlling
        })
    );
}

#[test]
fn controlling_keeps_commands_queued_while_stopped() {
    let t = Instant::now();
    let mut link = controlling(LinkConfig::default(), t);
    link.send_asdu(t, asdu(1)).unwrap();
    link.stop(t).unwrap();
    // STOPDT act; the queued command is not sent while stopping.
    assert_eq!(tx(&mut link, t), vec![Apci::U(UFunction::StopDtAct)]);
    assert_eq!(link.queued().cloned().collect::<Vec<_>>(), vec![asdu(1)]);
}

#[test]
fn u_frames_that_make_no_sense_for_the_role_are_errors() {
    let t = Instant::now();
    let unexpected = |function, state, role| {
        Err(LinkError::UnexpectedU {
            function,
            state,
            role,
        })
    };
    let mut server = Link::new(Role::Controlled, LinkConfig::default(), t).unwrap();
    for f in [UFunction::StartDtCon, UFunction::StopDtCon] {
        assert_eq!(
            server.handle_apdu(t, u(f)),
            unexpected(f, LinkState::Stopped, Role::Controlled)
        );
    }
    let mut client = Link::new(Role::Controlling, LinkConfig::default(), t).unwrap();
    for f in [
        UFunction::StartDtAct,
        UFunction::StopDtAct,
        UFunction::StartDtCon,
        UFunction::StopDtCon,
    ] {
        assert_eq!(
            client.handle_apdu(t, u(f)),
            unexpected(f, LinkState::Stopped, Role::Controlling)
        );
    }
    // STOPDT con while waiting for STARTDT con.
    client.start(t).unwrap();
    tx(&mut client, t);
    assert_eq!(
        client.handle_apdu(t, u(UFunction::StopDtCon)),
        unexpected(
            UFunction::StopDtCon,
            LinkState::PendingStart,
            Role::Controlling
        )
    );
    // Data before STARTDT con.
    assert_eq!(
        client.handle_apdu(t, i(0, 0)),
        Err(LinkError::UnexpectedIFrame {
            state: LinkState::PendingStart,
            role: Role::Controlling
        })
    );
}

/// §5.3: a con answers an act; one arriving while our act is only queued (not yet on the
/// wire) answers nothing the peer has seen, so it is a peer error, not our confirmation.
#[test]
fn con_for_an_act_not_yet_sent_is_unexpected() {
    let t = Instant::now();
    let mut client = Link::new(Role::Controlling, LinkConfig::default(), t).unwrap();
    client.start(t).unwrap();
    assert_eq!(
        client.handle_apdu(t, u(UFunction::StartDtCon)),
        Err(LinkError::UnexpectedU {
            function: UFunction::StartDtCon,
            state: LinkState::PendingStart,
            role: Role::Controlling
        })
    );
    let mut client = controlling(LinkConfig::default(), t);
    client.stop(t).unwrap();
    assert_eq!(
        client.handle_apdu(t, u(UFunction::StopDtCon)),
        Err(LinkError::UnexpectedU {
            function: UFunction::StopDtCon,
            state: LinkState::PendingStop,
            role: Role::Controlling
        })
    );
}

#[test]
fn sequence_numbers_wrap_at_32768() {
    let t = Instant::now();
    let cfg = LinkConfig {
        k: 3,
        w: 1,
        send_queue: 8,
        ..LinkConfig::default()
    };
    let mut server = controlled(cfg.clone(), t);
    let mut client = controlling(cfg, t);
    // Pump 32770 ASDUs each way through a loopback of the two state machines.
    let total = 32770u32;
    let mut sent_s = 0u32;
    let mut sent_c = 0u32;
    let mut got_c = Vec::new();
    let mut got_s = 0u32;
    let mut saw_wrap = false;
    for _ in 0..(4 * total) {
        if sent_s < total && server.can_send() {
            server
                .send_asdu(t, Bytes::from((sent_s as u16).to_be_bytes().to_vec()))
                .unwrap();
            sent_s += 1;
        }
        if sent_c < total && client.can_send() {
            client.send_asdu(t, asdu(1)).unwrap();
            sent_c += 1;
        }
        while let Some(a) = server.poll_transmit(t) {
            if let Apci::I {
                send_seq: 32767, ..
            } = a.apci
            {
                saw_wrap = true;
            }
            client.handle_apdu(t, a).unwrap();
        }
        while let Some(a) = client.poll_transmit(t) {
            server.handle_apdu(t, a).unwrap();
        }
        while let Some(e) = client.poll_event() {
            if let LinkEvent::Asdu { asdu, .. } = e {
                got_c.push(u16::from_be_bytes([asdu[0], asdu[1]]));
            }
        }
        while let Some(e) = server.poll_event() {
            if matches!(e, LinkEvent::Asdu { .. }) {
                got_s += 1;
            }
        }
        if got_c.len() as u32 == total && got_s == total {
            break;
        }
    }
    assert!(saw_wrap);
    assert_eq!(got_s, total);
    assert_eq!(got_c.len() as u32, total);
    assert!(got_c.iter().enumerate().all(|(n, v)| *v == n as u16));
    // 32770 mod 32768 = 2.
    assert_eq!(server.send_seq(), 2);
    assert_eq!(server.recv_seq(), 2);
    assert_eq!(client.send_seq(), 2);
    assert_eq!(client.recv_seq(), 2);
}

#[test]
fn acknowledgement_across_the_wrap() {
    // Controlled station that has sent up to N(S)=32765: fast-forward by acknowledged traffic.
    let t = Instant::now();
    let cfg = LinkConfig {
        k: 12,
        ..LinkConfig::default()
    };
    let mut link = controlled(cfg, t);
    for n in 0..32766u16 {
        link.send_asdu(t, asdu(0)).unwrap();
        link.poll_transmit(t);
        link.handle_apdu(t, Apdu::s(seq_add(n, 1))).unwrap();
    }
    events(&mut link);
    assert_eq!(link.send_seq(), 32766);
    for n in 0..4 {
        link.send_asdu(t, asdu(n)).unwrap();
    }
    // N(S) 32766, 32767, 0, 1.
    assert_eq!(
        tx(&mut link, t),
        vec![
            Apci::I {
                send_seq: 32766,
                recv_seq: 0
            },
            Apci::I {
                send_seq: 32767,
                recv_seq: 0
            },
            Apci::I {
                send_seq: 0,
                recv_seq: 0
            },
            Apci::I {
                send_seq: 1,
                recv_seq: 0
            },
        ]
    );
    // N(R) = 1 acknowledges 32766, 32767 and 0.
    link.handle_apdu(t, Apdu::s(1)).unwrap();
    assert_eq!(acks(&events(&mut link)), vec![3]);
    // N(R) = 32767 now goes backwards.
    assert!(matches!(
        link.handle_apdu(t, Apdu::s(32767)),
        Err(LinkError::BadRecvSeq { .. })
    ));
}

#[test]
fn unreleased_frames_are_bounded_by_the_sequence_space() {
    // Without release nothing is acknowledged; N(R) could not express more than 32767
    // outstanding frames, so the 32768th is an error instead of unbounded growth.
    let t = Instant::now();
    let cfg = LinkConfig {
        auto_release: false,
        ..LinkConfig::default()
    };
    let mut link = controlled(cfg, t);
    for n in 0..32767u16 {
        link.handle_apdu(t, i(n, 0)).unwrap();
        link.poll_event();
    }
    assert_eq!(tx(&mut link, t), vec![]);
    assert_eq!(
        link.handle_apdu(t, i(32767, 0)),
        Err(LinkError::ReceiveWindowExhausted { count: 32767 })
    );
}

#[derive(Debug, Clone)]
enum Op {
    Send(u8),
    RecvI { ns_skew: u8, nr_back: u8 },
    RecvS { nr_back: u8 },
    RecvU(usize),
    Advance(u16),
    Release(u8),
    Start,
    Stop,
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        4 => (1u8..4).prop_map(Op::Send),
        4 => (prop_oneof![9 => Just(0u8), 1 => 1u8..3], 0u8..4).prop_map(|(ns_skew, nr_back)| Op::RecvI { ns_skew, nr_back }),
        3 => (0u8..4).prop_map(|nr_back| Op::RecvS { nr_back }),
        2 => (0usize..6).prop_map(Op::RecvU),
        3 => (0u16..20_000).prop_map(Op::Advance),
        1 => any::<u8>().prop_map(Op::Release),
        1 => Just(Op::Start),
        1 => Just(Op::Stop),
    ]
}

proptest::proptest! {
    /// Whatever the peer and the clock do, the link never panics, keeps its bounds, and only
    /// ever acknowledges frames it received.
    #[test]
    fn random_operations_keep_the_invariants(
        controlled_role in proptest::bool::ANY,
        auto_release in proptest::bool::ANY,
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        let t0 = Instant::now();
        let cfg = LinkConfig { k: 4, w: 3, send_queue: 5, auto_release, ..LinkConfig::default() };
        let role = if controlled_role { Role::Controlled } else { Role::Controlling };
        let mut link = Link::new(role, cfg, t0).unwrap();
        let mut now = t0;
        let mut tokens = Vec::new();
        // Fewer than 200 frames: no wraparound, so plain comparisons work.
        let mut released = 0u16;
        let mut last_ack = 0u16;
        for op in ops {
            let result = match op {
                Op::Send(n) => {
                    let _ = link.send_asdu(now, Bytes::from(vec![n; usize::from(n)]));
                    Ok(())
                }
                Op::RecvI { ns_skew, nr_back } => {
                    let ns = seq_add(link.recv_seq(), u16::from(ns_skew));
                    let nr = crate::apci::seq_distance(link.send_seq(), u16::from(nr_back));
                    link.handle_apdu(now, Apdu::i(ns, nr, asdu(1)))
                }
                Op::RecvS { nr_back } => {
                    let nr = crate::apci::seq_distance(link.send_seq(), u16::from(nr_back));
                    link.handle_apdu(now, Apdu::s(nr))
                }
                Op::RecvU(i) => link.handle_apdu(now, Apdu::u(UFunction::ALL[i])),
                Op::Advance(ms) => {
                    now += Duration::from_millis(u64::from(ms));
                    link.handle_timeout(now)
                }
                Op::Release(i) => {
                    if let Some(t) = tokens.get(usize::from(i) % tokens.len().max(1)) {
                        link.release(*t);
                        released = released.max(t.seq() + 1);
                    }
                    Ok(())
                }
                Op::Start => { let _ = link.start(now); Ok(()) }
                Op::Stop => { let _ = link.stop(now); Ok(()) }
            };
            if result.is_err() {
                break; // the connection would be closed
            }
            while let Some(apdu) = link.poll_transmit(now) {
                match apdu.apci {
                    Apci::I { recv_seq, .. } | Apci::S { recv_seq } => {
                        // Acknowledges only received and released frames, never goes back.
                        proptest::prop_assert!(recv_seq <= link.recv_seq());
                        if !auto_release {
                            proptest::prop_assert!(recv_seq <= released);
                        }
                        proptest::prop_assert!(recv_seq >= last_ack);
                        last_ack = recv_seq;
                    }
                    // Ed.2 §5.3 figure 17: STOPDT con only once every received I frame is
                    // acknowledged.
                    Apci::U(UFunction::StopDtCon) => {
                        proptest::prop_assert_eq!(last_ack, link.recv_seq());
                    }
                    Apci::U(_) => {}
                }
            }
            while let Some(e) = link.poll_event() {
                if let LinkEvent::Asdu { token, .. } = e {
                    tokens.push(token);
                }
            }
            proptest::prop_assert!(link.unacknowledged_len() <= 4);
            proptest::prop_assert!(link.queued_len() <= 5);
            // Every timer that was due has been served (t1 would have been an error, t3 sent
            // TESTFR act, t2 sent the S frame): nothing is left overdue.
            if let Some(deadline) = link.poll_timeout() {
                proptest::prop_assert!(deadline > now, "overdue {:?}", now - deadline);
            }
        }
    }
}

/// Fuzz finding F2: a token from 32768 frames ago has the same N(S) as a frame of the current
/// window; releasing it must not release (and so acknowledge) frames the application never
/// processed. Tokens of another link are ignored too.
#[test]
fn stale_and_foreign_tokens_release_nothing() {
    let t = Instant::now();
    let config = LinkConfig {
        auto_release: false,
        ..LinkConfig::default()
    };
    let mut link = Link::new(Role::Controlled, config.clone(), t).unwrap();
    let mut other = Link::new(Role::Controlled, config, t).unwrap();
    for l in [&mut link, &mut other] {
        l.handle_apdu(t, u(UFunction::StartDtAct)).unwrap();
        while l.poll_transmit(t).is_some() {}
        while l.poll_event().is_some() {}
    }
    let token_of = |l: &mut Link| loop {
        match l.poll_event() {
            Some(LinkEvent::Asdu { token, .. }) => break token,
            Some(_) => continue,
            None => panic!("no ASDU event"),
        }
    };
    // 32768 frames, N(S) 0..=32767, each released and acknowledged.
    let mut first = None;
    for n in 0..32768u32 {
        let seq = n as u16;
        link.handle_apdu(t, Apdu::i(seq, 0, asdu(1))).unwrap();
        let token = token_of(&mut link);
        first.get_or_insert(token);
        link.release(token);
        while link.poll_transmit(t).is_some() {}
    }
    let first = first.unwrap();
    // Frames 32768 and 32769 carry N(S) 0 and 1 again; the application does not release them.
    link.handle_apdu(t, Apdu::i(0, 0, asdu(1))).unwrap();
    link.handle_apdu(t, Apdu::i(1, 0, asdu(1))).unwrap();
    while link.poll_event().is_some() {}
    assert_eq!(first.seq(), 0);
    link.release(first);
    // A token of another link with N(S) 1.
    other.handle_apdu(t, Apdu::i(0, 0, asdu(1))).unwrap();
    other.handle_apdu(t, Apdu::i(1, 0, asdu(1))).unwrap();
    let _ = token_of(&mut other);
    link.release(token_of(&mut other));
    // Even after t2 nothing may be acknowledged: neither frame was released.
    let later = t + LinkConfig::default().t2 + Duration::from_secs(1);
    let _ = link.handle_timeout(later);
    assert_eq!(tx(&mut link, later), vec![]);
}

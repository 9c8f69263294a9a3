//! Link-layer inputs the `link` fuzz target (fuzz/) found, kept as regression tests. A test
//! marked `#[ignore]` documents a finding of fuzz/FINDINGS.md that is not fixed
//! yet: the owner removes the `ignore` together with the fix.

use std::time::{Duration, Instant};

use bytes::Bytes;
use iec104::apci::{Apci, Apdu, UFunction};
use iec104::link::{Link, LinkConfig, LinkEvent, ReceiveToken, Role};

/// Receives one I frame with N(S) `ns` (N(R) 0: the link sends no I frames here) and returns
/// its token.
fn receive(link: &mut Link, now: Instant, ns: u16) -> ReceiveToken {
    link.handle_apdu(now, Apdu::i(ns, 0, Bytes::from_static(&[0x01])))
        .expect("in-sequence I frame");
    let mut token = None;
    while let Some(e) = link.poll_event() {
        if let LinkEvent::Asdu { token: t, .. } = e {
            token = Some(t);
        }
    }
    token.expect("an Asdu event")
}

/// Finding F2: `release` must ignore a token of a frame released long ago. The token of the
/// first frame (N(S) 0) is kept while 32768 frames are received and released; N(S) then
/// wraps to 0 (IEC 60870-5-104 §5.1: sequence numbers count modulo 2^15) and two frames
/// arrive that the application does not release. Releasing the stale token must not release
/// them, so nothing may be acknowledged, even after t2.
#[test]
fn stale_token_does_not_release_a_wrapped_frame() {
    let now = Instant::now();
    let config = LinkConfig {
        auto_release: false,
        ..LinkConfig::default()
    };
    let t2 = config.t2;
    let mut link = Link::new(Role::Controlled, config, now).expect("default config");
    link.handle_apdu(now, Apdu::u(UFunction::StartDtAct))
        .expect("STARTDT act");
    while link.poll_transmit(now).is_some() {}
    while link.poll_event().is_some() {}

    let first = receive(&mut link, now, 0);
    link.release(first);
    for ns in 1..32768u16 {
        let t = receive(&mut link, now, ns);
        link.release(t);
        while link.poll_transmit(now).is_some() {}
    }
    // Everything so far is released; w = 8 frames force S frames, drain the rest at t2.
    link.handle_timeout(now + t2).expect("no t1 running");
    while link.poll_transmit(now + t2).is_some() {}

    // Frames 32768 and 32769 carry N(S) 0 and 1 again; the application keeps them.
    let later = now + t2;
    receive(&mut link, later, 0);
    receive(&mut link, later, 1);
    link.release(first); // stale: frame 0 was released 32768 frames ago
    let after = later + t2 + Duration::from_millis(1);
    link.handle_timeout(after).expect("no t1 running");
    let sent: Vec<Apdu> = std::iter::from_fn(|| link.poll_transmit(after)).collect();
    assert!(
        !sent
            .iter()
            .any(|a| matches!(a.apci, Apci::S { .. } | Apci::I { .. })),
        "unreleased frames acknowledged after a stale release: {sent:?}"
    );
}

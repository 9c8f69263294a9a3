//! Server tests over 127.0.0.x loopback with ephemeral ports. The peer is a scripted
//! controlling station: it writes hand-made octets and reads frames with [`ApduCodec`].
//!
//! Octets written by the peer, from IEC 60870-5-104 §5.1 (APCI = 0x68, length, four control
//! octets):
//! - STARTDT act: U format, control octet 1 = 0b0000_0111 (bits 0-1 = 11 U format, bit 2
//!   STARTDT act) => `68 04 07 00 00 00`; STOPDT act bit 4 => `13`; TESTFR act bit 6 => `43`.
//! - S format: control octet 1 = 0x01, octet 2 = 0, octets 3-4 = N(R) << 1 (little endian):
//!   `68 04 01 00 (N(R) << 1) & 0xFF, N(R) >> 7`.
//! - I format: octets 1-2 = N(S) << 1, octets 3-4 = N(R) << 1, then the ASDU.
//!
//! The ASDUs are M_SP_NA_1 (type 1), VSQ 1, COT 3 (spontaneous), originator 0, CA 1, one
//! object with IOA `n` (3 octets LE) and SIQ 0 (IEC 60870-5-101 §7.3.1.1); the server treats
//! them as opaque octets, so `n` just labels an event.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_util::codec::FramedRead;

use super::*;
use crate::apci::{Apci, Apdu, UFunction};
use crate::codec::ApduCodec;

fn event(n: u16) -> Bytes {
    let [lo, hi] = n.to_le_bytes();
    Bytes::from(vec![0x01, 0x01, 0x03, 0x00, 0x01, 0x00, lo, hi, 0x00, 0x00])
}

fn label(asdu: &[u8]) -> u16 {
    match asdu {
        [0x01, 0x01, 0x03, 0x00, 0x01, 0x00, lo, hi, 0x00, 0x00] => u16::from_le_bytes([*lo, *hi]),
        other => panic!("not a test event: {other:02x?}"),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const STARTDT_ACT: [u8; 6] = [0x68, 0x04, 0x07, 0x00, 0x00, 0x00];
const STOPDT_ACT: [u8; 6] = [0x68, 0x04, 0x13, 0x00, 0x00, 0x00];
const TESTFR_ACT: [u8; 6] = [0x68, 0x04, 0x43, 0x00, 0x00, 0x00];

fn s_frame(recv_seq: u16) -> [u8; 6] {
    let [o3, o4] = (recv_seq << 1).to_le_bytes();
    [0x68, 0x04, 0x01, 0x00, o3, o4]
}

/// A scripted controlling station.
struct Peer {
    reader: FramedRead<tokio::net::tcp::OwnedReadHalf, ApduCodec>,
    writer: tokio::net::tcp::OwnedWriteHalf,
    /// N(S) expected in the next I-frame from the server (our V(R)).
    vr: u16,
    /// Our V(S).
    vs: u16,
}

impl Peer {
    async fn connect(server: SocketAddr) -> Peer {
        Self::from_stream(TcpStream::connect(server).await.unwrap())
    }

    /// Connects from a chosen loopback address (127.0.0.2 works on Linux without setup).
    async fn connect_from(local: &str, server: SocketAddr) -> Peer {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(ip(local), 0)).unwrap();
        Self::from_stream(socket.connect(server).await.unwrap())
    }

    fn from_stream(stream: TcpStream) -> Peer {
        let (r, w) = stream.into_split();
        Peer {
            reader: FramedRead::new(r, ApduCodec::new()),
            writer: w,
            vr: 0,
            vs: 0,
        }
    }

    async fn write(&mut self, octets: &[u8]) {
        self.writer.write_all(octets).await.unwrap();
    }

    async fn recv(&mut self) -> Apdu {
        self.reader
            .next()
            .await
            .expect("connection closed")
            .expect("bad frame")
    }

    /// The next frame other than an S-frame (acknowledgements may come at any time).
    async fn expect_u(&mut self, f: UFunction) {
        let mut apdu = self.recv().await;
        while matches!(apdu.apci, Apci::S { .. }) {
            apdu = self.recv().await;
        }
        assert_eq!(apdu.apci, Apci::U(f), "expected {}", f.name());
    }

    async fn start(&mut self) {
        self.write(&STARTDT_ACT).await;
        self.expect_u(UFunction::StartDtCon).await;
    }

    /// Receives the next I-frame, checks its N(S), returns the event label.
    async fn recv_event(&mut self) -> u16 {
        let apdu = self.recv().await;
        match apdu.apci {
            Apci::I { send_seq, .. } => assert_eq!(send_seq, self.vr, "N(S) out of order"),
            other => panic!("expected an I-frame, got {other:?}"),
        }
        self.vr = (self.vr + 1) % 32768;
        label(&apdu.asdu)
    }

    async fn recv_events(&mut self, n: usize) -> Vec<u16> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(self.recv_event().await);
        }
        out
    }

    /// Acknowledges the I-frames received so far, then makes sure the server has processed
    /// it: frames are handled in order, so the TESTFR con proves the S-frame was read.
    async fn ack_upto(&mut self, recv_seq: u16) {
        self.write(&s_frame(recv_seq)).await;
        self.sync().await;
    }

    async fn sync(&mut self) {
        self.write(&TESTFR_ACT).await;
        self.expect_u(UFunction::TestFrCon).await;
    }

    /// Sends an ASDU in an I-frame acknowledging everything received.
    async fn send_asdu(&mut self, asdu: &[u8]) {
        self.send_asdu_acking(asdu, self.vr).await;
    }

    /// Sends an ASDU in an I-frame carrying N(R) = `recv_seq`.
    async fn send_asdu_acking(&mut self, asdu: &[u8], recv_seq: u16) {
        let [o1, o2] = (self.vs << 1).to_le_bytes();
        let [o3, o4] = (recv_seq << 1).to_le_bytes();
        let mut frame = vec![0x68, (4 + asdu.len()) as u8, o1, o2, o3, o4];
        frame.extend_from_slice(asdu);
        self.write(&frame).await;
        self.vs += 1;
    }

    /// The server closed the connection (EOF or reset).
    async fn expect_closed(&mut self) {
        match self.reader.next().await {
            None | Some(Err(_)) => {}
            Some(Ok(apdu)) => panic!("expected close, got {apdu:?}"),
        }
    }
}

async fn server(config: ServerConfig) -> (ServerHandle, ServerEvents, SocketAddr) {
    let (handle, events, run) = Server::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let addr = handle.local_addr();
    tokio::spawn(run);
    (handle, events, addr)
}

fn config(mode: RedundancyMode, queue_size: usize) -> ServerConfig {
    ServerConfig {
        mode,
        queue_size,
        ..ServerConfig::default()
    }
}

async fn connected(events: &mut ServerEvents) -> (ConnectionId, GroupId) {
    match events.recv().await {
        Some(ServerEvent::Connected { conn, group, .. }) => (conn, group),
        other => panic!("expected Connected, got {other:?}"),
    }
}

async fn started(events: &mut ServerEvents, expected: ConnectionId) {
    match events.recv().await {
        Some(ServerEvent::Started { conn }) => assert_eq!(conn, expected),
        other => panic!("expected Started {expected}, got {other:?}"),
    }
}

async fn closed(events: &mut ServerEvents, expected: ConnectionId) -> CloseReason {
    match events.recv().await {
        Some(ServerEvent::Closed { conn, reason }) => {
            assert_eq!(conn, expected);
            reason
        }
        other => panic!("expected Closed {expected}, got {other:?}"),
    }
}

fn enqueue(handle: &ServerHandle, labels: impl IntoIterator<Item = u16>) {
    for n in labels {
        handle.enqueue(event(n)).unwrap();
    }
}

#[tokio::test]
async fn redundancy_takeover_replays_unacknowledged_events_in_order() {
    let (handle, mut events, addr) = server(config(RedundancyMode::SingleGroup, 100)).await;

    // A starts and receives 1, 2, 3; acknowledges only 1.
    let mut a = Peer::connect(addr).await;
    let (a_id, group) = connected(&mut events).await;
    a.start().await;
    started(&mut events, a_id).await;
    enqueue(&handle, 1..=3);
    assert_eq!(a.recv_events(3).await, [1, 2, 3]);
    a.ack_upto(1).await;

    // B's STARTDT confirms B, closes A, and B gets 2 and 3 again, in order.
    let mut b = Peer::connect(addr).await;
    let (b_id, b_group) = connected(&mut events).await;
    assert_eq!(b_group, group);
    b.start().await;
    started(&mut events, b_id).await;
    assert!(matches!(
        closed(&mut events, a_id).await,
        CloseReason::Superseded
    ));
    a.expect_closed().await;
    assert_eq!(b.recv_events(2).await, [2, 3]);
    enqueue(&handle, [4]);
    assert_eq!(b.recv_event().await, 4);
    b.ack_upto(1).await; // 2 confirmed; 3 and 4 in flight

    // B goes away; 5 and 6 are enqueued while nobody is started.
    drop(b);
    assert!(matches!(
        closed(&mut events, b_id).await,
        CloseReason::PeerClosed
    ));
    enqueue(&handle, [5, 6]);
    let info = &handle.groups()[0];
    assert_eq!((info.active, info.waiting, info.in_flight), (None, 4, 0));

    // C receives B's unacknowledged events, then the waiting ones: nothing lost, no reordering.
    let mut c = Peer::connect(addr).await;
    let (c_id, _) = connected(&mut events).await;
    c.start().await;
    started(&mut events, c_id).await;
    assert_eq!(c.recv_events(4).await, [3, 4, 5, 6]);
    c.ack_upto(4).await;
    let info = &handle.groups()[0];
    assert_eq!(
        (info.active, info.waiting, info.in_flight, info.dropped),
        (Some(c_id), 0, 0, 0)
    );
    assert_eq!(handle.connections().len(), 1);
}

#[tokio::test]
async fn overflow_drops_the_oldest_and_counts() {
    let (handle, mut events, addr) = server(config(RedundancyMode::SingleGroup, 3)).await;
    let dropped: Vec<usize> = (1..=5).map(|n| handle.enqueue(event(n)).unwrap()).collect();
    assert_eq!(dropped, [0, 0, 0, 1, 1]);
    assert_eq!(handle.dropped_events(GroupId(0)), Some(2));
    assert_eq!(handle.dropped_events(GroupId(7)), None);

    let mut a = Peer::connect(addr).await;
    let (a_id, _) = connected(&mut events).await;
    a.start().await;
    started(&mut events, a_id).await;
    assert_eq!(a.recv_events(3).await, [3, 4, 5]);
    // Nothing else was queued: the next frame answers our TESTFR.
    a.sync().await;
}

/// Connects from 127.0.0.2 and 127.0.0.3: Linux routes all of 127.0.0.0/8 to loopback; other
/// systems configure only 127.0.0.1.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn groups_by_address() {
    let mode = RedundancyMode::Groups(vec![
        RedundancyGroupConfig::new("one", [ip("127.0.0.1")]),
        RedundancyGroupConfig::new("two", [ip("127.0.0.2")]),
    ]);
    let (handle, mut events, addr) = server(config(mode, 100)).await;

    let mut a = Peer::connect_from("127.0.0.1", addr).await;
    let (a_id, a_group) = connected(&mut events).await;
    let mut b = Peer::connect_from("127.0.0.2", addr).await;
    let (b_id, b_group) = connected(&mut events).await;
    assert_eq!((a_group, b_group), (GroupId(0), GroupId(1)));

    // An address in no group (and no catch-all group) is refused.
    let mut stranger = Peer::connect_from("127.0.0.3", addr).await;
    assert!(
        matches!(events.recv().await, Some(ServerEvent::Refused { peer }) if peer.ip() == ip("127.0.0.3"))
    );
    stranger.expect_closed().await;

    // Two groups: both started, neither closes the other, both get every event.
    a.start().await;
    started(&mut events, a_id).await;
    b.start().await;
    started(&mut events, b_id).await;
    enqueue(&handle, [1, 2]);
    assert_eq!(a.recv_events(2).await, [1, 2]);
    assert_eq!(b.recv_events(2).await, [1, 2]);
    let names: Vec<String> = handle.groups().into_iter().map(|g| g.name).collect();
    assert_eq!(names, ["one", "two"]);
    assert_eq!(handle.connections().iter().filter(|c| c.started).count(), 2);
}

/// Linux only, as [`groups_by_address`].
#[cfg(target_os = "linux")]
#[tokio::test]
async fn catch_all_group_takes_unlisted_addresses() {
    let mode = RedundancyMode::Groups(vec![
        RedundancyGroupConfig::new("two", [ip("127.0.0.2")]),
        RedundancyGroupConfig::new("rest", []),
    ]);
    let (_handle, mut events, addr) = server(config(mode, 100)).await;
    let _a = Peer::connect_from("127.0.0.3", addr).await;
    assert_eq!(connected(&mut events).await.1, GroupId(1));
    let _b = Peer::connect_from("127.0.0.2", addr).await;
    assert_eq!(connected(&mut events).await.1, GroupId(0));
}

#[tokio::test]
async fn connection_is_group_sends_every_event_to_every_started_connection() {
    let (handle, mut events, addr) = server(config(RedundancyMode::ConnectionIsGroup, 100)).await;
    let mut a = Peer::connect(addr).await;
    let (a_id, a_group) = connected(&mut events).await;
    let mut b = Peer::connect(addr).await;
    let (b_id, b_group) = connected(&mut events).await;
    assert_ne!(a_group, b_group);
    a.start().await;
    started(&mut events, a_id).await;
    // B is connected but not started: its own queue keeps the events for it.
    enqueue(&handle, [1, 2]);
    assert_eq!(a.recv_events(2).await, [1, 2]);
    b.start().await;
    started(&mut events, b_id).await;
    enqueue(&handle, [3]);
    assert_eq!(b.recv_events(3).await, [1, 2, 3]);
    assert_eq!(a.recv_event().await, 3);
    // A closing does not disturb B.
    drop(a);
    assert!(matches!(
        closed(&mut events, a_id).await,
        CloseReason::PeerClosed
    ));
    assert_eq!(
        handle.groups().len(),
        1,
        "a connection's group goes with it"
    );
    enqueue(&handle, [4]);
    assert_eq!(b.recv_event().await, 4);
}

#[tokio::test]
async fn responses_go_to_one_connection_and_are_not_replayed() {
    let (handle, mut events, addr) = server(config(RedundancyMode::SingleGroup, 100)).await;
    let mut a = Peer::connect(addr).await;
    let (a_id, _) = connected(&mut events).await;
    a.start().await;
    started(&mut events, a_id).await;

    // C_IC_NA_1 (100), VSQ 1, COT 6 act, OA 0, CA 1, IOA 0, QOI 20 (station interrogation).
    let interrogation = [0x64, 0x01, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x14];
    a.send_asdu(&interrogation).await;
    match events.recv().await {
        Some(ServerEvent::Asdu { conn, asdu }) => {
            assert_eq!(conn, a_id);
            assert_eq!(&asdu[..], &interrogation[..]);
        }
        other => panic!("expected Asdu, got {other:?}"),
    }
    // The ActCon (COT 7) goes to A only.
    let act_con = Bytes::from_static(&[0x64, 0x01, 0x07, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x14]);
    handle.send_to(a_id, act_con.clone()).await.unwrap();
    let apdu = a.recv().await;
    assert_eq!(
        apdu.apci,
        Apci::I {
            send_seq: 0,
            recv_seq: 1
        },
        "N(R) 1 acknowledges the command"
    );
    assert_eq!(apdu.asdu, act_con);

    // A is superseded without acknowledging the ActCon: B does not get it.
    let mut b = Peer::connect(addr).await;
    let (b_id, _) = connected(&mut events).await;
    b.start().await;
    started(&mut events, b_id).await;
    assert!(matches!(
        closed(&mut events, a_id).await,
        CloseReason::Superseded
    ));
    b.sync().await;
    assert_eq!(
        handle.send_to(a_id, act_con).await,
        Err(HandleError::UnknownConnection(a_id))
    );
    assert_eq!(
        handle.enqueue(Bytes::new()),
        Err(HandleError::BadLength { length: 0 })
    );
}

#[tokio::test]
async fn bad_input_closes_only_that_connection() {
    let (handle, mut events, addr) = server(config(RedundancyMode::ConnectionIsGroup, 100)).await;
    let mut a = Peer::connect(addr).await;
    let (a_id, _) = connected(&mut events).await;
    a.start().await;
    started(&mut events, a_id).await;

    let mut b = Peer::connect(addr).await;
    let (b_id, _) = connected(&mut events).await;
    // 0x69 is not the start byte 0x68.
    b.write(&[0x69, 0x04, 0x07, 0x00, 0x00, 0x00]).await;
    match closed(&mut events, b_id).await {
        CloseReason::Codec(e) => assert!(e.to_string().contains("69 04 07"), "{e}"),
        other => panic!("expected a codec error, got {other:?}"),
    }
    b.expect_closed().await;

    // An I-frame before STARTDT is a protocol violation (§5.3).
    let mut c = Peer::connect(addr).await;
    let (c_id, _) = connected(&mut events).await;
    c.send_asdu(&event(9)).await;
    match closed(&mut events, c_id).await {
        CloseReason::Link {
            error: LinkError::UnexpectedIFrame { .. },
            frame: Some(frame),
        } => {
            // I format, N(S) 0, N(R) 0, length 4 + 10: 68 0e 00 00 00 00, then the ASDU.
            assert_eq!(
                frame.bytes(),
                [&[0x68, 0x0e, 0, 0, 0, 0][..], &event(9)[..]].concat()
            );
        }
        other => panic!("expected an unexpected I-frame, got {other:?}"),
    }

    // An ASDU shorter than its data unit identifier (6 octets here).
    let mut d = Peer::connect(addr).await;
    let (d_id, _) = connected(&mut events).await;
    d.start().await;
    started(&mut events, d_id).await;
    d.send_asdu(&[0x64, 0x01, 0x06]).await;
    assert!(matches!(
        closed(&mut events, d_id).await,
        CloseReason::ShortAsdu { .. }
    ));

    // A is unaffected.
    enqueue(&handle, [1]);
    assert_eq!(a.recv_event().await, 1);
}

#[tokio::test]
async fn stopdt_keeps_events_in_the_group() {
    let (handle, mut events, addr) = server(config(RedundancyMode::SingleGroup, 100)).await;
    let mut a = Peer::connect(addr).await;
    let (a_id, _) = connected(&mut events).await;
    a.start().await;
    started(&mut events, a_id).await;
    enqueue(&handle, [1]);
    assert_eq!(a.recv_event().await, 1);
    a.write(&s_frame(1)).await;
    a.write(&STOPDT_ACT).await;
    a.expect_u(UFunction::StopDtCon).await;
    assert!(matches!(events.recv().await, Some(ServerEvent::Stopped { conn }) if conn == a_id));
    enqueue(&handle, [2, 3]);
    a.sync().await; // no I-frame while stopped
    a.start().await;
    started(&mut events, a_id).await;
    assert_eq!(a.recv_events(2).await, [2, 3]);
}

#[tokio::test(start_paused = true)]
async fn t1_closes_an_unresponsive_client_and_the_others_go_on() {
    // No t3 test frames: the only timer is t1 on A's event.
    let mut cfg = config(RedundancyMode::ConnectionIsGroup, 100);
    cfg.link.t3 = std::time::Duration::from_secs(3600);
    let (handle, mut events, addr) = server(cfg).await;
    let mut a = Peer::connect(addr).await;
    let (a_id, _) = connected(&mut events).await;
    let mut b = Peer::connect(addr).await;
    let (b_id, _) = connected(&mut events).await;
    a.start().await;
    started(&mut events, a_id).await;
    enqueue(&handle, [1]);
    assert_eq!(a.recv_event().await, 1);
    // A never acknowledges: t1 (15 s of virtual time) closes it.
    let t0 = tokio::time::Instant::now();
    match closed(&mut events, a_id).await {
        CloseReason::Link {
            error: LinkError::T1Timeout { .. },
            frame: None,
        } => {}
        other => panic!("expected t1, got {other:?}"),
    }
    assert!(t0.elapsed() >= ServerConfig::default().link.t1);
    a.expect_closed().await;
    // B still works.
    b.sync().await;
    assert_eq!(
        handle
            .connections()
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>(),
        [b_id]
    );
}

#[tokio::test]
async fn max_connections_refuses_and_shutdown_ends_the_run_future() {
    let cfg = ServerConfig {
        max_connections: 1,
        ..ServerConfig::default()
    };
    let (handle, mut events, run) = Server::bind("127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .unwrap();
    let addr = handle.local_addr();
    let run = tokio::spawn(run);
    let mut a = Peer::connect(addr).await;
    let (a_id, _) = connected(&mut events).await;
    let mut b = Peer::connect(addr).await;
    assert!(matches!(
        events.recv().await,
        Some(ServerEvent::Refused { .. })
    ));
    b.expect_closed().await;
    handle.shutdown();
    assert!(matches!(
        closed(&mut events, a_id).await,
        CloseReason::Shutdown
    ));
    a.expect_closed().await;
    run.await.unwrap().unwrap();
}

/// The client of this crate as the peer: w = 1, so it acknowledges every I-frame at once.
async fn client(addr: SocketAddr) -> (crate::client::Client, crate::client::ClientEvents) {
    let link = crate::link::LinkConfig {
        w: 1,
        ..Default::default()
    };
    let config = crate::client::ClientConfig {
        link,
        ..Default::default()
    };
    let (client, events, connection) = crate::client::connect(addr, config).await.unwrap();
    tokio::spawn(connection);
    (client, events)
}

async fn client_events(events: &mut crate::client::ClientEvents, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    while out.len() < n {
        match events.recv().await {
            Some(crate::client::ClientEvent::Asdu { asdu, .. }) => out.push(label(&asdu)),
            other => panic!("expected an ASDU, got {other:?}"),
        }
    }
    out
}

#[tokio::test]
async fn with_the_crate_client_stop_start_and_takeover() {
    use crate::client::ClientEvent;
    let (handle, mut events, addr) = server(config(RedundancyMode::SingleGroup, 100)).await;

    let (a, mut a_events) = client(addr).await;
    let (a_id, _) = connected(&mut events).await;
    a.start_dt().await.unwrap();
    assert!(matches!(a_events.recv().await, Some(ClientEvent::Started)));
    started(&mut events, a_id).await;
    enqueue(&handle, 1..=3);
    assert_eq!(client_events(&mut a_events, 3).await, [1, 2, 3]);

    // STOPDT con comes after every sent event is acknowledged: nothing is in flight after it.
    a.stop_dt().await.unwrap();
    assert!(matches!(a_events.recv().await, Some(ClientEvent::Stopped)));
    assert!(matches!(events.recv().await, Some(ServerEvent::Stopped { conn }) if conn == a_id));
    enqueue(&handle, [4, 5]);

    // B starts: A is stopped, so it stays open; B gets exactly what waited.
    let (b, mut b_events) = client(addr).await;
    let (b_id, _) = connected(&mut events).await;
    b.start_dt().await.unwrap();
    assert!(matches!(b_events.recv().await, Some(ClientEvent::Started)));
    started(&mut events, b_id).await;
    assert_eq!(client_events(&mut b_events, 2).await, [4, 5]);

    // A command from B and its response.
    let interrogation =
        Bytes::from_static(&[0x64, 0x01, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x14]);
    b.send(interrogation.clone()).await.unwrap();
    match events.recv().await {
        Some(ServerEvent::Asdu { conn, asdu }) => assert_eq!((conn, asdu), (b_id, interrogation)),
        other => panic!("expected Asdu, got {other:?}"),
    }
    let act_con = Bytes::from_static(&[0x64, 0x01, 0x07, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x14]);
    handle.send_to(b_id, act_con.clone()).await.unwrap();
    match b_events.recv().await {
        Some(ClientEvent::Asdu { asdu, .. }) => assert_eq!(asdu, act_con),
        other => panic!("expected the ActCon, got {other:?}"),
    }

    // A starts again: B, the started one, is closed; A receives the new events.
    a.start_dt().await.unwrap();
    assert!(matches!(a_events.recv().await, Some(ClientEvent::Started)));
    started(&mut events, a_id).await;
    assert!(matches!(
        closed(&mut events, b_id).await,
        CloseReason::Superseded
    ));
    assert!(matches!(
        b_events.recv().await,
        Some(ClientEvent::Closed { .. })
    ));
    enqueue(&handle, [6]);
    assert_eq!(client_events(&mut a_events, 1).await, [6]);
    assert_eq!(handle.groups()[0].dropped, 0);
}

#[tokio::test]
async fn shutdown_does_not_wait_for_an_application_that_stopped_reading() {
    let (handle, events, run) =
        Server::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
            .await
            .unwrap();
    let run = tokio::spawn(run);
    let mut a = Peer::connect(handle.local_addr()).await;
    a.start().await;
    // More ASDUs than the event queue holds; nobody reads `events`.
    for n in 0..(EVENT_QUEUE as u16 + 10) {
        a.send_asdu(&event(n)).await;
    }
    // The server acknowledges every w = 8 ASDUs it queued for the application: Connected and
    // Started took 2 of the EVENT_QUEUE places, so the last full 8 is below EVENT_QUEUE - 2.
    let last = ((EVENT_QUEUE - 2) / 8 * 8) as u16;
    loop {
        match a.recv().await.apci {
            Apci::S { recv_seq } if recv_seq >= last => break,
            Apci::S { .. } => {}
            other => panic!("expected S-frames, got {other:?}"),
        }
    }
    handle.shutdown();
    tokio::time::timeout(std::time::Duration::from_secs(10), run)
        .await
        .expect("run future hangs")
        .unwrap()
        .unwrap();
    a.expect_closed().await;
    drop(events);
}

#[tokio::test]
async fn invalid_configurations_are_refused() {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let bind = |config| async move { Server::bind(addr, config).await.map(|_| ()) };
    let zero_queue = ServerConfig {
        queue_size: 0,
        ..ServerConfig::default()
    };
    assert!(matches!(
        bind(zero_queue).await,
        Err(ServerError::ZeroCapacity("queue_size"))
    ));
    let zero_conns = ServerConfig {
        max_connections: 0,
        ..ServerConfig::default()
    };
    assert!(matches!(
        bind(zero_conns).await,
        Err(ServerError::ZeroCapacity("max_connections"))
    ));
    let bad_k = ServerConfig {
        link: crate::link::LinkConfig {
            k: 0,
            ..Default::default()
        },
        ..ServerConfig::default()
    };
    assert!(matches!(bind(bad_k).await, Err(ServerError::Config(_))));
    let bad_params = ServerConfig {
        params: AsduParams {
            cot_size: 3,
            ca_size: 2,
            ioa_size: 3,
        },
        ..ServerConfig::default()
    };
    assert!(matches!(
        bind(bad_params).await,
        Err(ServerError::Params(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn received_asdus_are_acknowledged_only_once_the_application_queue_holds_them() {
    // w = 1: every released frame is acknowledged at once, so the acknowledgements show
    // exactly what was released.
    let mut config = ServerConfig::default();
    config.link.w = 1;
    // No t3 test frames while virtual time jumps: only S-frames come.
    config.link.t3 = std::time::Duration::from_secs(3600);
    let (handle, mut events, addr) = server(config).await;
    let mut a = Peer::connect(addr).await;
    a.start().await;
    let total = EVENT_QUEUE as u16 + 10;
    for n in 0..total {
        a.send_asdu(&event(n)).await;
    }
    // Connected and Started hold 2 places: 254 ASDUs fit, the 255th waits for the application.
    let fit = EVENT_QUEUE as u16 - 2;
    let mut acked = 0;
    while acked < fit {
        match a.recv().await.apci {
            Apci::S { recv_seq } => acked = recv_seq,
            other => panic!("expected S-frames, got {other:?}"),
        }
    }
    // A minute of (virtual) time: nothing the application has not got is acknowledged.
    let more = tokio::time::timeout(std::time::Duration::from_secs(60), a.recv()).await;
    assert!(
        more.is_err(),
        "acknowledged beyond the application's queue: {more:?}"
    );
    // The application reads: the rest is acknowledged.
    let mut got = 0;
    while got < total {
        match events.recv().await {
            Some(ServerEvent::Asdu { .. }) => got += 1,
            Some(_) => {}
            None => panic!("event stream ended"),
        }
    }
    while acked < total {
        match a.recv().await.apci {
            Apci::S { recv_seq } => acked = recv_seq,
            other => panic!("expected S-frames, got {other:?}"),
        }
    }
    drop(handle);
}

#[tokio::test]
async fn muted_connection_writes_nothing_until_unmuted() {
    let (handle, mut events, addr) = server(ServerConfig::default()).await;
    let mut a = Peer::connect(addr).await;
    let (a_id, _) = connected(&mut events).await;
    a.start().await;
    started(&mut events, a_id).await;
    assert!(handle.set_mute(a_id, true));
    enqueue(&handle, [1]);
    a.write(&TESTFR_ACT).await;
    // It still reads: the command after the TESTFR act reaches the application...
    a.send_asdu(&event(7)).await;
    let ev = events.recv().await;
    assert!(
        matches!(ev, Some(ServerEvent::Asdu { conn, .. }) if conn == a_id),
        "{ev:?}"
    );
    // ...while the event was not handed to the link.
    let info = &handle.groups()[0];
    assert_eq!((info.waiting, info.in_flight), (1, 0));
    // Unmuted: the TESTFR con was discarded, so the first frame is the event, carrying
    // N(R) = 1 for the command.
    assert!(handle.set_mute(a_id, false));
    let apdu = a.recv().await;
    assert_eq!(
        apdu.apci,
        Apci::I {
            send_seq: 0,
            recv_seq: 1
        }
    );
    assert_eq!(label(&apdu.asdu), 1);
    a.sync().await;
    assert!(!handle.set_mute(ConnectionId(99), true));
}

#[tokio::test]
async fn send_raw_writes_octets_as_they_are() {
    let (handle, mut events, addr) = server(ServerConfig::default()).await;
    let mut a = Peer::connect(addr).await;
    let (a_id, _) = connected(&mut events).await;
    // TESTFR act with a non-zero fourth control octet: U frames need octets 2-4 = 0 (§5.1).
    let bad = Bytes::from_static(&[0x68, 0x04, 0x43, 0x00, 0x00, 0x01]);
    handle.send_raw(a_id, bad).await.unwrap();
    match a.reader.next().await {
        Some(Err(e)) => assert!(e.to_string().contains("68 04 43 00 00 01"), "{e}"),
        other => panic!("expected a bad frame, got {other:?}"),
    }
    assert_eq!(
        handle.send_raw(a_id, Bytes::from(vec![0x68; 256])).await,
        Err(HandleError::RawLength { length: 256 })
    );
    assert_eq!(
        handle
            .send_raw(ConnectionId(99), Bytes::from_static(&[0x68]))
            .await,
        Err(HandleError::UnknownConnection(ConnectionId(99)))
    );
}

/// Review finding F3: a link queue shorter than k must not strand events.
#[tokio::test]
async fn a_short_link_queue_sends_every_event() {
    let mut cfg = config(RedundancyMode::SingleGroup, 100);
    cfg.link.send_queue = 1;
    let (handle, mut events, addr) = server(cfg).await;
    let mut a = Peer::connect(addr).await;
    let (a_id, _) = connected(&mut events).await;
    a.start().await;
    started(&mut events, a_id).await;
    enqueue(&handle, 1..=5);
    assert_eq!(a.recv_events(5).await, [1, 2, 3, 4, 5]);
    a.ack_upto(5).await;
    let info = &handle.groups()[0];
    assert_eq!((info.waiting, info.in_flight), (0, 0));
}

/// k = 2: responses and events share the window; each acknowledgement frees exactly the
/// events it covers (responses are not the group's).
#[tokio::test]
async fn responses_and_events_share_the_window() {
    let mut cfg = config(RedundancyMode::SingleGroup, 100);
    cfg.link.k = 2;
    cfg.link.w = 1;
    let (handle, mut events, addr) = server(cfg).await;
    let mut a = Peer::connect(addr).await;
    let (a_id, _) = connected(&mut events).await;
    a.start().await;
    started(&mut events, a_id).await;

    // A response first (COT 7 reply to nothing in particular: the server does not look).
    let response =
        Bytes::from_static(&[0x64, 0x01, 0x07, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x14]);
    handle.send_to(a_id, response.clone()).await.unwrap();
    let first = a.recv().await;
    assert_eq!(
        first.apci,
        Apci::I {
            send_seq: 0,
            recv_seq: 0
        }
    );
    assert_eq!(first.asdu, response);
    a.vr = 1;
    enqueue(&handle, [1, 2, 3]);
    // One place left in the window: event 1.
    assert_eq!(a.recv_event().await, 1);
    let in_flight = |h: &ServerHandle| h.groups()[0].in_flight;
    assert_eq!(in_flight(&handle), 1);
    // Acknowledging the response frees a place (event 2 follows, so the server has read the
    // S-frame) but no event.
    a.write(&s_frame(1)).await;
    assert_eq!(a.recv_event().await, 2);
    assert_eq!(in_flight(&handle), 2);
    // Acknowledging event 1: event 3 follows.
    a.write(&s_frame(2)).await;
    assert_eq!(a.recv_event().await, 3);
    assert_eq!(in_flight(&handle), 2);
    a.ack_upto(4).await;
    assert_eq!(in_flight(&handle), 0);
}

/// Review finding F4: after the application held the connection up for longer than t1, the
/// acknowledgement waiting in the socket counts before t1 is judged.
#[tokio::test(start_paused = true)]
async fn a_slow_application_does_not_make_t1_blame_the_peer() {
    let mut cfg = config(RedundancyMode::SingleGroup, 100);
    cfg.link.t3 = std::time::Duration::from_secs(3600);
    let (handle, mut events, addr) = server(cfg).await;
    let mut a = Peer::connect(addr).await;
    a.start().await;
    enqueue(&handle, [1]);
    assert_eq!(a.recv_event().await, 1);
    // More commands than the event queue holds, none acknowledging event 1; then the
    // acknowledgement. The application reads nothing yet.
    let total = EVENT_QUEUE as u16 + 4;
    for n in 0..total {
        a.send_asdu_acking(&event(n), 0).await;
    }
    a.write(&s_frame(1)).await;
    // A minute of virtual time: t1 (15 s) of event 1 is long overdue.
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    let mut got = 0;
    while got < total {
        match events.recv().await {
            Some(ServerEvent::Asdu { .. }) => got += 1,
            Some(ServerEvent::Closed { reason, .. }) => panic!("closed: {reason:?}"),
            Some(_) => {}
            None => panic!("event stream ended"),
        }
    }
    a.sync().await;
    assert_eq!(handle.groups()[0].in_flight, 0);
    assert_eq!(handle.connections().len(), 1);
}

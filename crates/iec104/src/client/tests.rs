//! Client tests against scripted peers: a raw TCP socket on 127.0.0.1, writing hand-made
//! octets (derivations in the comments, IEC 60870-5-104 §5.1–§5.3). Timer tests run on tokio's
//! paused clock over an in-memory duplex stream instead of TCP: with real sockets the paused
//! clock auto-advances while socket readiness is still in flight, which makes timer tests racy.
//! Nothing sleeps in real time.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::*;
use crate::apci::{FrameError, UFunction};
use crate::link::{Awaited, LinkError};

/// STARTDT act: U format, octet 1 = 0x07 (§5.3).
const STARTDT_ACT: [u8; 6] = [0x68, 0x04, 0x07, 0, 0, 0];
/// STARTDT con: octet 1 = 0x0B.
const STARTDT_CON: [u8; 6] = [0x68, 0x04, 0x0B, 0, 0, 0];
/// TESTFR act 0x43, con 0x83.
const TESTFR_ACT: [u8; 6] = [0x68, 0x04, 0x43, 0, 0, 0];
const TESTFR_CON: [u8; 6] = [0x68, 0x04, 0x83, 0, 0, 0];

/// An I frame from the peer: N(S) = `ns` (< 128 so octet 2 = 0), N(R) = 0, ASDU [0xAB, ns].
/// Length = 4 control octets + 2 = 6; octet 1 = ns << 1.
fn i_frame(ns: u8) -> [u8; 8] {
    [0x68, 0x06, ns << 1, 0x00, 0x00, 0x00, 0xAB, ns]
}

/// An S frame N(R) = `nr` (< 128): octet 3 = nr << 1.
fn s_frame(nr: u8) -> [u8; 6] {
    [0x68, 0x04, 0x01, 0x00, nr << 1, 0x00]
}

struct Setup<P> {
    client: Client,
    events: ClientEvents,
    conn: JoinHandle<Result<(), ClientError>>,
    peer: P,
}

/// A client on an in-memory stream; the peer is the other end.
fn setup_mem(config: ClientConfig) -> Setup<DuplexStream> {
    let (ours, peer) = tokio::io::duplex(4096);
    let (client, events, connection) = Client::from_stream(ours, config).unwrap();
    let conn = tokio::spawn(connection);
    Setup {
        client,
        events,
        conn,
        peer,
    }
}

async fn setup(config: ClientConfig) -> Setup<TcpStream> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, events, connection) = connect(addr, config).await.unwrap();
    let (peer, _) = listener.accept().await.unwrap();
    let conn = tokio::spawn(connection);
    Setup {
        client,
        events,
        conn,
        peer,
    }
}

async fn expect(peer: &mut (impl AsyncRead + Unpin), want: &[u8]) {
    let mut got = vec![0u8; want.len()];
    peer.read_exact(&mut got).await.unwrap();
    assert_eq!(got, want);
}

/// STARTDT handshake driven by the scripted peer.
async fn started<P: AsyncRead + AsyncWrite + Unpin>(mut s: Setup<P>) -> Setup<P> {
    let c = s.client.clone();
    let start = tokio::spawn(async move { c.start_dt().await });
    expect(&mut s.peer, &STARTDT_ACT).await;
    s.peer.write_all(&STARTDT_CON).await.unwrap();
    start.await.unwrap().unwrap();
    assert!(matches!(s.events.recv().await, Some(ClientEvent::Started)));
    s
}

async fn next_asdu(events: &mut ClientEvents) -> (Bytes, ReceiveToken) {
    match events.recv().await {
        Some(ClientEvent::Asdu { asdu, token }) => (asdu, token),
        other => panic!("expected an ASDU, got {other:?}"),
    }
}

async fn closed(events: &mut ClientEvents) -> CloseReason {
    loop {
        match events.recv().await {
            Some(ClientEvent::Closed { reason }) => {
                assert!(
                    events.recv().await.is_none(),
                    "Closed must be the last event"
                );
                return reason;
            }
            Some(_) => continue,
            None => panic!("events ended without Closed"),
        }
    }
}

#[tokio::test]
async fn startdt_receive_and_acknowledge_after_w() {
    let mut s = started(setup(ClientConfig::default()).await).await; // w = 8
    for n in 0..8 {
        s.peer.write_all(&i_frame(n)).await.unwrap();
    }
    for n in 0..8u8 {
        let (asdu, token) = next_asdu(&mut s.events).await;
        assert_eq!(&asdu[..], &[0xAB, n]);
        assert_eq!(token.seq(), u16::from(n));
    }
    // w = 8 frames received: S frame with N(R) = 8 at once.
    expect(&mut s.peer, &s_frame(8)).await;
    s.client.close();
    assert!(s.conn.await.unwrap().is_ok());
    assert!(matches!(
        closed(&mut s.events).await,
        CloseReason::Requested
    ));
}

#[tokio::test(start_paused = true)]
async fn single_frame_is_acknowledged_after_t2() {
    let mut s = started(setup_mem(ClientConfig::default())).await; // t2 = 10 s
    let sent = tokio::time::Instant::now();
    s.peer.write_all(&i_frame(0)).await.unwrap();
    next_asdu(&mut s.events).await;
    expect(&mut s.peer, &s_frame(1)).await;
    assert_eq!(sent.elapsed(), Duration::from_secs(10));
    s.client.close();
    assert!(s.conn.await.unwrap().is_ok());
}

#[tokio::test]
async fn withheld_release_is_acknowledged_only_after_release() {
    let cfg = ClientConfig {
        link: LinkConfig {
            w: 2,
            auto_release: false,
            ..LinkConfig::default()
        },
        ..ClientConfig::default()
    };
    let mut s = started(setup(cfg).await).await;
    s.peer.write_all(&i_frame(0)).await.unwrap();
    s.peer.write_all(&i_frame(1)).await.unwrap();
    next_asdu(&mut s.events).await;
    let (_, second) = next_asdu(&mut s.events).await;
    // Round trip through the client so it has surely processed both frames: a TESTFR act must
    // be answered by con and nothing else (no S frame for unreleased data).
    s.peer.write_all(&TESTFR_ACT).await.unwrap();
    expect(&mut s.peer, &TESTFR_CON).await;
    s.client.release(second);
    expect(&mut s.peer, &s_frame(2)).await;
    s.client.close();
    s.conn.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn t3_sends_testfr_and_testfr_is_answered() {
    let mut s = started(setup_mem(ClientConfig::default())).await;
    let idle = tokio::time::Instant::now();
    expect(&mut s.peer, &TESTFR_ACT).await;
    assert_eq!(idle.elapsed(), Duration::from_secs(20));
    s.peer.write_all(&TESTFR_CON).await.unwrap();
    s.peer.write_all(&TESTFR_ACT).await.unwrap();
    expect(&mut s.peer, &TESTFR_CON).await;
    s.client.close();
    s.conn.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn unacknowledged_i_frame_closes_after_t1() {
    let mut s = started(setup_mem(ClientConfig::default())).await;
    let sent = tokio::time::Instant::now();
    // A C_IC_NA_1-like ASDU; the peer reads the I frame N(S)=0, N(R)=0, length 4 + 2 = 6.
    s.client
        .send(Bytes::from_static(&[0x64, 0x01]))
        .await
        .unwrap();
    expect(
        &mut s.peer,
        &[0x68, 0x06, 0x00, 0x00, 0x00, 0x00, 0x64, 0x01],
    )
    .await;
    let result = s.conn.await.unwrap();
    assert!(
        matches!(
            result,
            Err(ClientError::Link {
                error: LinkError::T1Timeout {
                    awaited: Awaited::Ack { send_seq: 0 }
                },
                ..
            })
        ),
        "{result:?}"
    );
    assert_eq!(sent.elapsed(), Duration::from_secs(15));
    assert!(matches!(
        closed(&mut s.events).await,
        CloseReason::Error(ClientError::Link { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn unanswered_startdt_fails_start_dt_with_t1() {
    let mut s = setup_mem(ClientConfig::default());
    let t = tokio::time::Instant::now();
    let c = s.client.clone();
    let start = tokio::spawn(async move { c.start_dt().await });
    expect(&mut s.peer, &STARTDT_ACT).await;
    let err = start.await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Link {
                error: LinkError::T1Timeout {
                    awaited: Awaited::Con(UFunction::StartDtAct)
                },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(t.elapsed(), Duration::from_secs(15));
    assert!(s.conn.await.unwrap().is_err());
}

#[tokio::test]
async fn send_waits_while_the_queue_is_full() {
    let cfg = ClientConfig {
        link: LinkConfig {
            k: 1,
            w: 1,
            send_queue: 1,
            ..LinkConfig::default()
        },
        send_capacity: 1,
        ..ClientConfig::default()
    };
    let mut s = started(setup(cfg).await).await;
    s.client.send(Bytes::from_static(&[0x01])).await.unwrap(); // sent, k = 1 reached
    s.client.send(Bytes::from_static(&[0x02])).await.unwrap(); // in the link queue
                                                               // I frame N(S)=0 N(R)=0 with ASDU [01]: length 5.
    expect(&mut s.peer, &[0x68, 0x05, 0x00, 0x00, 0x00, 0x00, 0x01]).await;
    let c = s.client.clone();
    let third = tokio::spawn(async move { c.send(Bytes::from_static(&[0x03])).await });
    // Round trip: the client has processed everything before answering this TESTFR act.
    s.peer.write_all(&TESTFR_ACT).await.unwrap();
    expect(&mut s.peer, &TESTFR_CON).await;
    tokio::task::yield_now().await;
    assert!(
        !third.is_finished(),
        "send must wait while the queue is full"
    );
    // Acknowledge N(S)=0: the second goes out (N(S)=1: octet 1 = 0x02), the third is accepted.
    s.peer.write_all(&s_frame(1)).await.unwrap();
    expect(&mut s.peer, &[0x68, 0x05, 0x02, 0x00, 0x00, 0x00, 0x02]).await;
    third.await.unwrap().unwrap();
    s.client.close();
    s.conn.await.unwrap().unwrap();
}

#[tokio::test]
async fn stop_dt_acknowledges_data_in_flight_and_waits_for_con() {
    let mut s = started(setup(ClientConfig::default()).await).await;
    let c = s.client.clone();
    let stop = tokio::spawn(async move { c.stop_dt().await });
    // STOPDT act: octet 1 = 0x13.
    expect(&mut s.peer, &[0x68, 0x04, 0x13, 0, 0, 0]).await;
    // Data the station sent before it saw the act is still accepted and acknowledged at once
    // (S frame N(R)=1), without waiting for w or t2.
    s.peer.write_all(&i_frame(0)).await.unwrap();
    expect(&mut s.peer, &s_frame(1)).await;
    // STOPDT con: octet 1 = 0x23.
    s.peer
        .write_all(&[0x68, 0x04, 0x23, 0, 0, 0])
        .await
        .unwrap();
    stop.await.unwrap().unwrap();
    next_asdu(&mut s.events).await;
    assert!(matches!(s.events.recv().await, Some(ClientEvent::Stopped)));
    assert!(matches!(
        s.client.send(Bytes::from_static(&[1])).await,
        Err(ClientError::NotStarted)
    ));
    s.client.close();
    s.conn.await.unwrap().unwrap();
}

#[tokio::test]
async fn send_before_startdt_is_refused() {
    let s = setup(ClientConfig::default()).await;
    assert!(matches!(
        s.client.send(Bytes::from_static(&[1])).await,
        Err(ClientError::NotStarted)
    ));
    s.client.close();
    s.conn.await.unwrap().unwrap();
}

#[tokio::test]
async fn peer_closing_ends_the_connection() {
    let mut s = started(setup(ClientConfig::default()).await).await;
    drop(s.peer);
    assert!(matches!(
        s.conn.await.unwrap(),
        Err(ClientError::PeerClosed)
    ));
    assert!(matches!(
        closed(&mut s.events).await,
        CloseReason::Error(ClientError::PeerClosed)
    ));
    assert!(matches!(
        s.client.start_dt().await,
        Err(ClientError::Closed)
    ));
}

#[tokio::test]
async fn bad_send_sequence_number_closes_with_the_frame_in_hex() {
    let mut s = started(setup(ClientConfig::default()).await).await;
    s.peer.write_all(&i_frame(5)).await.unwrap(); // N(S) = 5, expected 0
    let err = s.conn.await.unwrap().unwrap_err();
    match &err {
        ClientError::Link {
            error:
                LinkError::BadSendSeq {
                    received: 5,
                    expected: 0,
                },
            bytes: Some(b),
        } => {
            assert_eq!(b.bytes(), &i_frame(5));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("68 06 0a 00 00 00 ab 05"), "{err}");
}

#[tokio::test]
async fn connection_refused_is_an_io_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    assert!(matches!(
        connect(addr, ClientConfig::default()).await,
        Err(ClientError::Io(_))
    ));
}

/// A listener whose accept queue is full drops further SYNs (Linux, tcp_abort_on_overflow = 0),
/// so the connect hangs and t0 ends it; on the paused clock t0 passes without waiting.
// Linux only: elsewhere (e.g. macOS, Windows) a full accept queue refuses or resets the
// connection, so the connect fails with an Io error instead of hanging until t0.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn connect_gives_up_after_t0() {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    // Fill the accept queue (never accepted). On the paused clock the bound on the filler
    // that hangs passes at once; a loopback connect that can complete does so in the same poll.
    tokio::time::pause();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => fillers.push(s),
            _ => break,
        }
    }
    assert!(!fillers.is_empty());
    let t = tokio::time::Instant::now();
    let result = connect(addr, ClientConfig::default()).await;
    assert!(
        matches!(result, Err(ClientError::ConnectTimeout(d)) if d == Duration::from_secs(30)),
        "{result:?}"
    );
    let elapsed = t.elapsed(); // timers round up to the millisecond
    assert!(
        elapsed >= Duration::from_secs(30) && elapsed <= Duration::from_millis(30_002),
        "{elapsed:?}"
    );
    drop(listener);
}

#[tokio::test]
async fn invalid_config_is_refused() {
    let cfg = ClientConfig {
        event_capacity: 0,
        ..ClientConfig::default()
    };
    assert!(matches!(
        connect("127.0.0.1:1", cfg).await,
        Err(ClientError::Config(_))
    ));
}

#[tokio::test]
async fn garbage_closes_with_a_frame_error() {
    let mut s = setup(ClientConfig::default()).await;
    // Not an APDU: start octet 0x16 (an IEC 60870-5-101 FT1.2 frame start).
    s.peer.write_all(&[0x16, 0x03, 0xFF]).await.unwrap();
    match s.conn.await.unwrap() {
        Err(ClientError::Frame {
            error: FrameError::BadStartByte { found: 0x16 },
            bytes,
        }) => {
            assert_eq!(bytes.bytes().first(), Some(&0x16));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        closed(&mut s.events).await,
        CloseReason::Error(ClientError::Frame { .. })
    ));
}

/// The same t1 rule over real TCP on 127.0.0.1: the only timer that can fire first is t1, so
/// the paused clock's auto-advance cannot reorder anything here.
#[tokio::test]
async fn peer_that_stops_acknowledging_over_tcp_is_closed_after_t1() {
    let mut s = started(setup(ClientConfig::default()).await).await;
    tokio::time::pause();
    let sent = tokio::time::Instant::now();
    s.client
        .send(Bytes::from_static(&[0x64, 0x01]))
        .await
        .unwrap();
    // I frame N(S)=0, N(R)=0, length 6.
    expect(
        &mut s.peer,
        &[0x68, 0x06, 0x00, 0x00, 0x00, 0x00, 0x64, 0x01],
    )
    .await;
    let result = s.conn.await.unwrap();
    assert!(
        matches!(
            result,
            Err(ClientError::Link {
                error: LinkError::T1Timeout { .. },
                ..
            })
        ),
        "{result:?}"
    );
    // sleep_until rounds up to the timer wheel's millisecond.
    let elapsed = sent.elapsed();
    assert!(
        elapsed >= Duration::from_secs(15) && elapsed <= Duration::from_millis(15_002),
        "{elapsed:?}"
    );
}

//! The server logs exactly one warning, with the offending octets in hex, when a client sends
//! garbage, and only that connection closes. In its own test binary: the tracing subscriber
//! is global.

mod common;

use bytes::Bytes;
use common::Capture;
use iec104::server::{CloseReason, Server, ServerConfig, ServerEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn garbage_closes_one_connection_with_one_warning() {
    let capture = Capture::install_global();
    let (handle, mut events, run) =
        Server::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
            .await
            .unwrap();
    tokio::spawn(run);

    // A good client: STARTDT act (68 04 07 00 00 00, §5.3) answered by con (68 04 0B 00 00 00).
    let mut good = TcpStream::connect(handle.local_addr()).await.unwrap();
    good.write_all(&[0x68, 0x04, 0x07, 0x00, 0x00, 0x00])
        .await
        .unwrap();
    let mut con = [0u8; 6];
    good.read_exact(&mut con).await.unwrap();
    assert_eq!(con, [0x68, 0x04, 0x0B, 0x00, 0x00, 0x00]);

    // A bad one: start octet 0x16 is not 0x68.
    let mut bad = TcpStream::connect(handle.local_addr()).await.unwrap();
    bad.write_all(&[0x16, 0x03, 0xFF]).await.unwrap();
    let mut bad_id = None;
    loop {
        match events.recv().await.unwrap() {
            ServerEvent::Connected { conn, .. } => bad_id = Some(conn),
            ServerEvent::Closed { conn, reason } => {
                assert_eq!(Some(conn), bad_id);
                assert!(matches!(reason, CloseReason::Codec(_)), "{reason:?}");
                break;
            }
            _ => {}
        }
    }
    let mut rest = Vec::new();
    assert_eq!(
        bad.read_to_end(&mut rest).await.unwrap_or(0),
        0,
        "closed by the server"
    );

    // The good client still gets events: I-frame N(S) 0 N(R) 0 = 68 0E 00 00 00 00 + ASDU.
    let asdu = [0x01, 0x01, 0x03, 0x00, 0x01, 0x00, 0x07, 0x00, 0x00, 0x01];
    handle.enqueue(Bytes::copy_from_slice(&asdu)).unwrap();
    let mut frame = [0u8; 16];
    good.read_exact(&mut frame).await.unwrap();
    assert_eq!(frame[..6], [0x68, 0x0E, 0x00, 0x00, 0x00, 0x00]);
    assert_eq!(frame[6..], asdu);

    let lines = capture.lines();
    let warns: Vec<_> = lines
        .iter()
        .filter(|(l, _)| *l == tracing::Level::WARN)
        .collect();
    assert_eq!(warns.len(), 1, "{lines:?}");
    assert!(warns[0].1.contains("16 03 ff"), "{warns:?}");
}

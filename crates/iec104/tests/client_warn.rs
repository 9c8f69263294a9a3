//! The client logs exactly one warning, with the offending octets in hex, when a peer sends
//! garbage. In its own test binary: a thread-local tracing subscriber is only reliable when no
//! other test thread races to register the same callsites.

mod common;

use common::Capture;
use iec104::apci::FrameError;
use iec104::client::{connect, ClientConfig, ClientError, ClientEvent, CloseReason};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

#[tokio::test]
async fn garbage_closes_with_a_frame_error_and_one_warning() {
    let capture = Capture::install_global();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_client, mut events, connection) = connect(addr, ClientConfig::default()).await.unwrap();
    let (mut peer, _) = listener.accept().await.unwrap();
    // Start octet 0x16 is not 0x68: not an APDU.
    peer.write_all(&[0x16, 0x03, 0xFF]).await.unwrap();
    let result = connection.await;
    assert!(
        matches!(
            result,
            Err(ClientError::Frame {
                error: FrameError::BadStartByte { found: 0x16 },
                ..
            })
        ),
        "{result:?}"
    );
    let mut last = None;
    while let Some(e) = events.recv().await {
        last = Some(e);
    }
    assert!(matches!(
        last,
        Some(ClientEvent::Closed {
            reason: CloseReason::Error(ClientError::Frame { .. })
        })
    ));
    let lines = capture.lines();
    let warns: Vec<_> = lines
        .iter()
        .filter(|(l, _)| *l == tracing::Level::WARN)
        .collect();
    assert_eq!(warns.len(), 1, "{lines:?}");
    assert!(warns[0].1.contains("bad start octet 0x16"), "{warns:?}");
    assert!(warns[0].1.contains("octets: 16"), "{warns:?}");
}

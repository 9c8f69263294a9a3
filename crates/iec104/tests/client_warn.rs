//! The client logs exactly one warning, with the offending octets in hex, when a peer sends
//! garbage. In its own test binary: a thread-local tracing subscriber is only reliable when no
//! other test thread races to register the same callsites.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use iec104::client::{connect, ClientConfig, ClientError, ClientEvent, CloseReason};
use iec104::FrameError;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// Records every tracing event as (level, fields).
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(tracing::Level, String)>>>);

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut s = String::new();
        event.record(&mut Fields(&mut s));
        self.0.lock().unwrap().push((*event.metadata().level(), s));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn garbage_closes_with_a_frame_error_and_one_warning() {
    let capture = Capture::default();
    tracing::subscriber::set_global_default(capture.clone()).unwrap();
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
    let lines = capture.0.lock().unwrap().clone();
    let warns: Vec<_> = lines
        .iter()
        .filter(|(l, _)| *l == tracing::Level::WARN)
        .collect();
    assert_eq!(warns.len(), 1, "{lines:?}");
    assert!(warns[0].1.contains("bad start octet 0x16"), "{warns:?}");
    assert!(warns[0].1.contains("octets: 16"), "{warns:?}");
}

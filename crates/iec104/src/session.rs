//! Helpers shared by the client's and the server's connection loops (crate-private).

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::BytesMut;
use futures_util::SinkExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;

use crate::apci::{self, Apdu};
use crate::codec::{ApduCodec, CodecError};
use crate::hex::HexHead;
use crate::link::Link;

/// Frames already waiting in the socket that are read before an overdue timer is judged (the
/// acknowledgement that stops t1 may be among them); bounded so that a peer sending without
/// pause cannot hold the timers off.
pub(crate) const OVERDUE_READS: usize = 64;

/// The link's clock: tokio's, so that tests with a paused clock drive the timers.
pub(crate) fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// Locks `m`; a panic while it was held leaves plain data behind, so go on with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Hex of a received APDU for a log line (re-encoded: the codec keeps only the ASDU slice).
pub(crate) fn apdu_hex(apdu: &Apdu) -> HexHead {
    let mut buf = BytesMut::with_capacity(apdu.wire_len());
    match apci::encode(&mut buf, apdu) {
        Ok(()) => HexHead::new(&buf),
        Err(_) => HexHead::new(&apdu.asdu),
    }
}

/// Why [`flush_link`] failed.
#[derive(Debug)]
pub(crate) enum FlushError {
    /// The peer read nothing for t1.
    Timeout,
    /// Writing failed.
    Codec(CodecError),
}

/// Writes every frame the link has to send, bounded by t1: a peer that does not read is dead
/// (the link's timers cannot run while a write is blocked).
pub(crate) async fn flush_link<T>(
    framed: &mut Framed<T, ApduCodec>,
    link: &mut Link,
    t1: Duration,
) -> Result<(), FlushError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let write = async {
        let mut wrote = false;
        while let Some(apdu) = link.poll_transmit(now()) {
            framed.feed(apdu).await?;
            wrote = true;
        }
        if wrote {
            SinkExt::<Apdu>::flush(framed).await?;
        }
        Ok::<(), CodecError>(())
    };
    match tokio::time::timeout(t1, write).await {
        Err(_) => Err(FlushError::Timeout),
        Ok(result) => result.map_err(FlushError::Codec),
    }
}

//! A recording TCP proxy for one connection: what each side wrote, chunk by chunk as the proxy
//! read it, so that a real session can be written to a pcap file without live capture, and a
//! test can wait for a frame to cross (e.g. a TESTFR) instead of sleeping.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::pcap::Side;

/// What crossed the proxy so far, shared with the test.
#[derive(Default)]
pub struct Recording {
    chunks: Mutex<Vec<(Side, Vec<u8>)>>,
    notify: Notify,
}

impl Recording {
    /// A new, empty recording.
    pub fn new() -> Arc<Recording> {
        Arc::new(Recording::default())
    }

    fn push(&self, side: Side, bytes: &[u8]) {
        self.chunks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((side, bytes.to_vec()));
        self.notify.notify_one();
    }

    /// Every chunk so far, in the order read.
    pub fn chunks(&self) -> Vec<(Side, Vec<u8>)> {
        self.chunks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every complete APDU so far (split at the APCI length octet), tagged with its sender, in
    /// the order read.
    pub fn apdus(&self) -> Vec<(Side, Vec<u8>)> {
        let mut out = Vec::new();
        let mut pending: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
        for (side, chunk) in self.chunks() {
            let stream = &mut pending[usize::from(side == Side::Server)];
            stream.extend_from_slice(&chunk);
            while stream.len() >= 2 && stream.len() >= 2 + usize::from(stream[1]) {
                let len = 2 + usize::from(stream[1]);
                out.push((side, stream.drain(..len).collect()));
            }
        }
        out
    }

    /// Waits until `pred` holds for the APDUs so far; panics after `timeout` with what was seen.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&[(Side, Vec<u8>)]) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let apdus = self.apdus();
            if pred(&apdus) {
                return;
            }
            if tokio::time::timeout_at(deadline, self.notify.notified())
                .await
                .is_err()
            {
                panic!("{what}: not seen within {timeout:?}; APDUs: {apdus:02x?}");
            }
        }
    }
}

/// Accepts one connection on `listener`, connects to `upstream` and relays both ways until
/// both directions are closed, recording every chunk into `rec` (the accepted peer is the
/// client).
pub async fn relay_one(
    listener: TcpListener,
    upstream: SocketAddr,
    rec: Arc<Recording>,
) -> std::io::Result<()> {
    let (client, _) = listener.accept().await?;
    let server = TcpStream::connect(upstream).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let (mut cbuf, mut sbuf) = ([0u8; 4096], [0u8; 4096]);
    let (mut c_open, mut s_open) = (true, true);
    while c_open || s_open {
        tokio::select! {
            n = cr.read(&mut cbuf), if c_open => {
                let n = n?;
                if n == 0 {
                    c_open = false;
                    sw.shutdown().await?;
                } else {
                    rec.push(Side::Client, &cbuf[..n]);
                    sw.write_all(&cbuf[..n]).await?;
                }
            }
            n = sr.read(&mut sbuf), if s_open => {
                let n = n?;
                if n == 0 {
                    s_open = false;
                    // The client may already be gone; a failed shutdown ends nothing here.
                    let _ = cw.shutdown().await;
                } else {
                    rec.push(Side::Server, &sbuf[..n]);
                    // Same: the client may have closed first.
                    let _ = cw.write_all(&sbuf[..n]).await;
                }
            }
        }
    }
    Ok(())
}

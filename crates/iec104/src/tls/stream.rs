//! The TLS byte stream under the link layer, with session key renewal: a TLS 1.3 KeyUpdate
//! every `key_update_interval`, and for TLS 1.2 the end of the session after
//! `reconnect_interval` (rustls does not renegotiate). Renewal is checked on every write;
//! the link layer writes at least every t3 (TESTFR), so it is at most t3 late.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ProtocolVersion;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// When to renew session keys.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Renewal {
    pub(crate) key_update_interval: Option<Duration>,
    pub(crate) reconnect_interval: Option<Duration>,
}

/// Why a TLS 1.2 session was ended by its reconnect interval (inside an `io::Error`).
#[derive(Debug, thiserror::Error)]
#[error("TLS 1.2 session ended after the reconnect interval of {0:?} (key renewal: reconnect)")]
pub struct ReconnectDue(pub Duration);

/// An established TLS session (client or server side) over `S`.
pub struct TlsStream<S> {
    inner: tokio_rustls::TlsStream<S>,
    renewal: Renewal,
    started: Instant,
    next_key_update: Option<Instant>,
    key_updates: u64,
}

impl<S> std::fmt::Debug for TlsStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("version", &self.protocol_version())
            .field("key_updates", &self.key_updates)
            .finish_non_exhaustive()
    }
}

impl<S> TlsStream<S> {
    pub(crate) fn new(inner: tokio_rustls::TlsStream<S>, renewal: Renewal) -> Self {
        let started = Instant::now();
        let mut stream = TlsStream {
            inner,
            renewal,
            started,
            next_key_update: None,
            key_updates: 0,
        };
        if stream.is_tls13() {
            stream.next_key_update = renewal.key_update_interval.map(|i| started + i);
        }
        stream
    }

    /// The negotiated TLS version ("TLSv1_3", "TLSv1_2").
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.inner.get_ref().1.protocol_version()
    }

    /// The negotiated cipher suite, e.g. `TLS13_AES_128_GCM_SHA256`.
    pub fn cipher_suite(&self) -> Option<rustls::CipherSuite> {
        self.inner
            .get_ref()
            .1
            .negotiated_cipher_suite()
            .map(|s| s.suite())
    }

    /// The peer's end-entity certificate (DER).
    pub fn peer_certificate(&self) -> Option<&[u8]> {
        self.inner
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref())
    }

    /// Every certificate the peer presented (end entity first), to check again later with
    /// [`super::TlsConnector::recheck`].
    pub fn peer_chain(&self) -> super::PeerChain {
        let certs = self
            .inner
            .get_ref()
            .1
            .peer_certificates()
            .unwrap_or_default();
        super::PeerChain(certs.iter().map(|c| c.clone().into_owned()).collect())
    }

    /// KeyUpdate messages sent so far (TLS 1.3).
    pub fn key_updates(&self) -> u64 {
        self.key_updates
    }

    fn is_tls13(&self) -> bool {
        self.protocol_version() == Some(ProtocolVersion::TLSv1_3)
    }

    /// Queues a KeyUpdate when due (TLS 1.3), or fails when a TLS 1.2 session is too old.
    fn renew(&mut self) -> io::Result<()> {
        let now = Instant::now();
        if let Some(at) = self.next_key_update.filter(|&at| at <= now) {
            let refreshed = match &mut self.inner {
                tokio_rustls::TlsStream::Client(s) => s.get_mut().1.refresh_traffic_keys(),
                tokio_rustls::TlsStream::Server(s) => s.get_mut().1.refresh_traffic_keys(),
            };
            refreshed.map_err(io::Error::other)?;
            self.key_updates += 1;
            let interval = self.renewal.key_update_interval.unwrap_or_default();
            self.next_key_update = Some(at.max(now - interval) + interval);
            tracing::debug!(updates = self.key_updates, "TLS 1.3 KeyUpdate sent");
        }
        if let Some(interval) = self.renewal.reconnect_interval {
            if !self.is_tls13() && now.duration_since(self.started) >= interval {
                return Err(io::Error::other(ReconnectDue(interval)));
            }
        }
        Ok(())
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.renew()?;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

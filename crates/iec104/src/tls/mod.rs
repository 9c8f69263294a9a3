//! IEC 62351-3 TLS for IEC 104 links (cargo feature `tls`): mutual authentication with
//! certificates, CA validation with CRLs, an allow-list of peer certificates, a minimum RSA
//! key size, a maximum chain length, and session key renewal (TLS 1.3 KeyUpdate on an
//! interval; a reconnect interval for TLS 1.2, which rustls does not renegotiate).
//!
//! [`TlsConfig`] holds the settings (file names and limits); [`TlsConfig::connector`] and
//! [`TlsConfig::acceptor`] load the files once into a [`TlsConnector`] (for
//! [`crate::client::connect_tls`]) or a [`TlsAcceptor`] (for [`crate::server::Server::bind_tls`]).
//! The TLS session is transparent to the link layer: k, w, t0–t3 and redundancy groups behave
//! as over plain TCP. Failures are [`TlsError`]s with a stable [`TlsError::kind`].
//!
//! Crypto: rustls with the ring provider (no OpenSSL); TLS 1.2 and 1.3. See `docs/tls.md`.

mod build;
pub mod der;
mod error;
mod load;
mod stream;
#[cfg(feature = "tls-testing")]
pub mod testing;
mod verify;

use std::path::PathBuf;
use std::time::Duration;

pub use build::{PeerChain, TlsAcceptor, TlsConnector};
pub use error::{TlsConfigError, TlsError};
pub use stream::{ReconnectDue, TlsStream};
pub use verify::fingerprint;

/// The TCP port IEC 62351-3 assigns to IEC 60870-5-104 over TLS.
pub const IEC62351_PORT: u16 = 19998;

/// TLS settings of one side of a link (files are read by [`TlsConfig::connector`] /
/// [`TlsConfig::acceptor`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM files of the CA certificates that sign acceptable peers. Empty: allow-list-only
    /// mode (then `allowed_certs` must not be empty).
    pub ca_files: Vec<PathBuf>,
    /// PEM file of our certificate (and its intermediates). Required for a server; a client
    /// without one cannot pass a server that requires client certificates (IEC 62351-3 does).
    pub cert_file: Option<PathBuf>,
    /// PEM file of the private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// PEM files of the only end-entity certificates accepted from peers (compared by DER);
    /// empty: every certificate the CAs accept.
    pub allowed_certs: Vec<PathBuf>,
    /// PEM file of certificate revocation lists of the CAs.
    pub crl_file: Option<PathBuf>,
    /// TLS 1.3: send a KeyUpdate (new traffic keys) this often; `None`: only rustls' own
    /// renewal at the cipher's limits. Some peers (mbedtls) do not accept KeyUpdate.
    pub key_update_interval: Option<Duration>,
    /// TLS 1.2: end the session after this long so that the next one gets new keys (rustls
    /// does not renegotiate); `None`: never.
    pub reconnect_interval: Option<Duration>,
    /// Check that the server's certificate names the host connected to (client side). Off by
    /// default: IEC 62351-3 identifies peers by certificate.
    pub check_hostname: bool,
    /// Smallest RSA key accepted, of peers and of our own certificate (bits).
    pub min_rsa_bits: usize,
    /// Most certificates a peer may send (end entity and intermediates).
    pub max_chain_len: usize,
    /// Offer TLS 1.2.
    pub tls12: bool,
    /// Offer TLS 1.3.
    pub tls13: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            ca_files: Vec::new(),
            cert_file: None,
            key_file: None,
            allowed_certs: Vec::new(),
            crl_file: None,
            key_update_interval: None,
            reconnect_interval: None,
            check_hostname: false,
            min_rsa_bits: 2048,
            max_chain_len: 5,
            tls12: true,
            tls13: true,
        }
    }
}

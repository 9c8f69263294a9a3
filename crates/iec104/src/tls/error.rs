//! TLS errors: of a session ([`TlsError`], with a stable [`TlsError::kind`] for metrics) and
//! of loading the settings ([`TlsConfigError`], naming the file and what is wrong with it).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::{AlertDescription, CertificateError};

/// Why a TLS session could not be set up or was ended.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TlsError {
    /// The peer's certificate is not signed by a configured CA (or its chain is incomplete).
    #[error("peer certificate not signed by a trusted CA: {0}")]
    UnknownCa(String),
    /// The peer's certificate is listed in a configured CRL.
    #[error("peer certificate revoked (listed in the CRL)")]
    Revoked,
    /// The peer's certificate has expired or is not valid yet.
    #[error("peer certificate expired or not yet valid: {0}")]
    Expired(String),
    /// The peer's end-entity certificate is not in the allow-list.
    #[error("peer certificate (SHA-256 {fingerprint}) is not in the allow-list")]
    NotAllowed {
        /// SHA-256 of the certificate's DER, hex.
        fingerprint: String,
    },
    /// An RSA key of the peer's chain is shorter than the configured minimum.
    #[error("peer RSA key of {bits} bits is shorter than the minimum of {min} bits")]
    KeyTooShort {
        /// The key's modulus size.
        bits: usize,
        /// The configured minimum.
        min: usize,
    },
    /// The peer sent more certificates than the configured maximum chain length.
    #[error("peer certificate chain of {len} certificates is longer than the maximum of {max}")]
    ChainTooLong {
        /// Certificates sent.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The peer's certificate does not name the host we connected to (hostname check on).
    #[error("peer certificate is not valid for the name: {0}")]
    NameMismatch(String),
    /// The peer sent no certificate although one is required.
    #[error("peer sent no certificate (a client certificate is required)")]
    NoCertificate,
    /// The peer's certificate cannot be used (bad encoding, wrong purpose, bad signature...).
    #[error("peer certificate rejected: {0}")]
    BadCertificate(String),
    /// The peer refused the handshake with this alert (typically: it rejected our certificate).
    #[error("the peer refused the TLS handshake: alert {0}")]
    PeerAlert(String),
    /// The peer does not speak TLS (for example a plain IEC 104 station).
    #[error("peer does not speak TLS: {0}")]
    NotTls(String),
    /// The handshake did not complete within the time allowed (t0).
    #[error("TLS handshake not completed within {0:?}")]
    Timeout(Duration),
    /// A TLS 1.2 session reached its reconnect interval (key renewal by a new session).
    #[error("TLS 1.2 session ended after its reconnect interval of {0:?} (key renewal)")]
    RenewalReconnect(Duration),
    /// Any other handshake or record-layer failure.
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
}

impl TlsError {
    /// A short stable name for counting failures by kind (metrics labels): `unknown_ca`,
    /// `revoked`, `expired`, `not_allowed`, `key_too_short`, `chain_too_long`,
    /// `name_mismatch`, `no_certificate`, `bad_certificate`, `peer_alert`, `not_tls`,
    /// `timeout`, `renewal_reconnect`, `handshake`.
    pub fn kind(&self) -> &'static str {
        match self {
            TlsError::UnknownCa(_) => "unknown_ca",
            TlsError::Revoked => "revoked",
            TlsError::Expired(_) => "expired",
            TlsError::NotAllowed { .. } => "not_allowed",
            TlsError::KeyTooShort { .. } => "key_too_short",
            TlsError::ChainTooLong { .. } => "chain_too_long",
            TlsError::NameMismatch(_) => "name_mismatch",
            TlsError::NoCertificate => "no_certificate",
            TlsError::BadCertificate(_) => "bad_certificate",
            TlsError::PeerAlert(_) => "peer_alert",
            TlsError::NotTls(_) => "not_tls",
            TlsError::Timeout(_) => "timeout",
            TlsError::RenewalReconnect(_) => "renewal_reconnect",
            TlsError::Handshake(_) => "handshake",
        }
    }

    /// Classifies an I/O error of a tokio-rustls handshake or stream.
    pub fn from_io(e: &std::io::Error) -> TlsError {
        let inner = e.get_ref();
        if let Some(due) = inner.and_then(|i| i.downcast_ref::<super::stream::ReconnectDue>()) {
            return TlsError::RenewalReconnect(due.0);
        }
        match inner.and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(rustls_error) => TlsError::from_rustls(rustls_error),
            None if e.kind() == std::io::ErrorKind::UnexpectedEof => TlsError::Handshake(
                "connection closed during the handshake (the peer may have refused our \
                 certificate, or does not speak TLS)"
                    .to_owned(),
            ),
            None => TlsError::Handshake(e.to_string()),
        }
    }

    /// Whether `e` came from the TLS layer (a rustls error or a renewal), not from the socket.
    pub fn is_tls_io(e: &std::io::Error) -> bool {
        e.get_ref()
            .is_some_and(|i| i.is::<rustls::Error>() || i.is::<super::stream::ReconnectDue>())
    }

    /// Classifies a rustls error.
    pub fn from_rustls(e: &rustls::Error) -> TlsError {
        match e {
            rustls::Error::InvalidCertificate(c) => from_certificate_error(c),
            rustls::Error::NoCertificatesPresented => TlsError::NoCertificate,
            rustls::Error::AlertReceived(alert) => from_alert(*alert),
            rustls::Error::InvalidMessage(m) => TlsError::NotTls(format!("{m:?}")),
            rustls::Error::DecryptError => TlsError::Handshake(
                "cannot decrypt the peer's message (with TLS 1.3 typically the peer's alert \
                 refusing our certificate, sent under the handshake keys)"
                    .to_owned(),
            ),
            other => TlsError::Handshake(other.to_string()),
        }
    }
}

/// A rejection decided by our own verifier (carried through rustls as `CertificateError::Other`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub(crate) struct PolicyRejection(pub(crate) TlsError);

impl PolicyRejection {
    pub(crate) fn into_rustls(self) -> rustls::Error {
        rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
            self,
        ))))
    }
}

fn from_certificate_error(c: &CertificateError) -> TlsError {
    match c {
        CertificateError::UnknownIssuer => {
            TlsError::UnknownCa("issuer not among the configured CAs".to_owned())
        }
        CertificateError::UnknownRevocationStatus
        | CertificateError::ExpiredRevocationList
        | CertificateError::ExpiredRevocationListContext { .. } => {
            TlsError::UnknownCa(format!("revocation status: {c:?}"))
        }
        CertificateError::Revoked => TlsError::Revoked,
        CertificateError::Expired
        | CertificateError::ExpiredContext { .. }
        | CertificateError::NotValidYet
        | CertificateError::NotValidYetContext { .. } => TlsError::Expired(format!("{c:?}")),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            TlsError::NameMismatch(format!("{c:?}"))
        }
        CertificateError::Other(other) => match other.0.downcast_ref::<PolicyRejection>() {
            Some(PolicyRejection(e)) => e.clone(),
            None => TlsError::BadCertificate(other.to_string()),
        },
        other => TlsError::BadCertificate(format!("{other:?}")),
    }
}

fn from_alert(alert: AlertDescription) -> TlsError {
    let name = match alert {
        AlertDescription::UnknownCA => "unknown_ca (the peer does not trust our certificate's CA)",
        AlertDescription::CertificateRevoked => "certificate_revoked (our certificate is revoked)",
        AlertDescription::CertificateExpired => "certificate_expired (our certificate expired)",
        AlertDescription::CertificateRequired => {
            "certificate_required (the peer requires a client certificate)"
        }
        AlertDescription::BadCertificate => "bad_certificate (the peer rejected our certificate)",
        AlertDescription::CertificateUnknown => {
            "certificate_unknown (the peer rejected our certificate)"
        }
        AlertDescription::AccessDenied => "access_denied (the peer rejected our certificate)",
        AlertDescription::HandshakeFailure => "handshake_failure (no common parameters)",
        AlertDescription::ProtocolVersion => "protocol_version (no common TLS version)",
        other => return TlsError::PeerAlert(format!("{other:?}")),
    };
    TlsError::PeerAlert(name.to_owned())
}

/// Why the TLS settings could not be loaded; every variant names the file or setting.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// A file could not be read or holds no usable PEM item.
    #[error("{file}: {problem}")]
    File {
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// Our own certificate's RSA key is shorter than the minimum.
    #[error("{file}: RSA key of {bits} bits is shorter than the minimum of {min} bits")]
    KeyTooShort {
        /// The certificate file.
        file: PathBuf,
        /// The key's modulus size.
        bits: usize,
        /// The configured minimum.
        min: usize,
    },
    /// A setting is missing or inconsistent.
    #[error("{setting}: {problem}")]
    Setting {
        /// The setting's name (as in `TlsConfig`).
        setting: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// rustls refused the loaded material (for example a key that does not match the certificate).
    #[error("TLS setup: {0}")]
    Rustls(String),
}

//! TLS (IEC 62351-3) of a simulated station: the `[station.tls]` table of a scenario and the
//! `--tls-*` flags, both turned into the protocol crate's `TlsConfig`.

use std::path::PathBuf;

use iec104::tls::{TlsAcceptor, TlsConfig};
use serde::Deserialize;

/// `[station.tls]`: serve TLS and require client certificates signed by `ca_file` (and, when
/// given, listed in `allowed_certs` and not revoked by `crl_file`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationTls {
    /// The station's certificate (PEM).
    pub cert_file: PathBuf,
    /// Its private key (PEM).
    pub key_file: PathBuf,
    /// CA certificate(s) of acceptable clients (PEM); may be left out when `allowed_certs`
    /// lists every client.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The only client certificates accepted (PEM files).
    #[serde(default)]
    pub allowed_certs: Vec<PathBuf>,
    /// CRLs of the CA (PEM).
    #[serde(default)]
    pub crl_file: Option<PathBuf>,
}

impl StationTls {
    /// The protocol crate's settings (defaults for the rest: RSA >= 2048 bits, no hostname
    /// check on the server side anyway).
    pub fn config(&self) -> TlsConfig {
        TlsConfig {
            ca_files: self.ca_file.iter().cloned().collect(),
            cert_file: Some(self.cert_file.clone()),
            key_file: Some(self.key_file.clone()),
            allowed_certs: self.allowed_certs.clone(),
            crl_file: self.crl_file.clone(),
            ..TlsConfig::default()
        }
    }

    /// Loads the files; the message names the key (`tls.cert_file`...) or file at fault.
    pub fn acceptor(&self) -> Result<TlsAcceptor, String> {
        self.config().acceptor().map_err(|e| format!("tls: {e}"))
    }
}

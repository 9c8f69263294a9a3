//! Turning [`TlsConfig`] into rustls client and server configurations (files read once).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::{RootCertStore, SupportedProtocolVersion};
use tokio::io::{AsyncRead, AsyncWrite};

use super::error::{TlsConfigError, TlsError};
use super::stream::{Renewal, TlsStream};
use super::verify::{ClientVerifier, PeerPolicy, ServerVerifier};
use super::{load, TlsConfig};

/// Client side of TLS links: verifies servers, presents our certificate. Cheap to clone.
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<rustls::ClientConfig>,
    renewal: Renewal,
    /// The verifier inside `config`, kept to check a peer chain again (after a CRL reload).
    verifier: Option<Arc<ServerVerifier>>,
}

/// Server side of TLS links: requires and verifies client certificates. Cheap to clone.
#[derive(Clone)]
pub struct TlsAcceptor {
    config: Arc<rustls::ServerConfig>,
    renewal: Renewal,
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnector").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor").finish_non_exhaustive()
    }
}

/// Everything read from the files, checked.
struct Material {
    provider: Arc<CryptoProvider>,
    roots: Option<Arc<RootCertStore>>,
    crls: Vec<CertificateRevocationListDer<'static>>,
    policy: PeerPolicy,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

fn setting(setting: &'static str, problem: impl Into<String>) -> TlsConfigError {
    TlsConfigError::Setting {
        setting,
        problem: problem.into(),
    }
}

fn rustls_error(e: impl std::fmt::Display) -> TlsConfigError {
    TlsConfigError::Rustls(e.to_string())
}

impl TlsConfig {
    fn versions(&self) -> Result<Vec<&'static SupportedProtocolVersion>, TlsConfigError> {
        let mut versions = Vec::new();
        if self.tls13 {
            versions.push(&rustls::version::TLS13);
        }
        if self.tls12 {
            versions.push(&rustls::version::TLS12);
        }
        if versions.is_empty() {
            return Err(setting(
                "tls12/tls13",
                "at least one TLS version must be on",
            ));
        }
        Ok(versions)
    }

    fn renewal(&self) -> Renewal {
        Renewal {
            key_update_interval: self.key_update_interval,
            reconnect_interval: self.reconnect_interval,
        }
    }

    fn roots(&self) -> Result<Option<Arc<RootCertStore>>, TlsConfigError> {
        if self.ca_files.is_empty() {
            return Ok(None);
        }
        let mut roots = RootCertStore::empty();
        for file in &self.ca_files {
            for cert in load::certificates(file)? {
                roots.add(cert).map_err(|e| TlsConfigError::File {
                    file: file.clone(),
                    problem: format!("not a usable CA certificate: {e}"),
                })?;
            }
        }
        Ok(Some(Arc::new(roots)))
    }

    fn identity(
        &self,
    ) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, TlsConfigError>
    {
        match (&self.cert_file, &self.key_file) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(setting("key_file", "required with cert_file")),
            (None, Some(_)) => Err(setting("cert_file", "required with key_file")),
            (Some(cert_file), Some(key_file)) => {
                let chain = load::certificates(cert_file)?;
                load::check_key_sizes(cert_file, &chain, self.min_rsa_bits)?;
                Ok(Some((chain, load::private_key(key_file)?)))
            }
        }
    }

    fn material(&self) -> Result<Material, TlsConfigError> {
        if self.max_chain_len == 0 {
            return Err(setting("max_chain_len", "must be at least 1"));
        }
        let roots = self.roots()?;
        let mut allowed = Vec::new();
        for file in &self.allowed_certs {
            allowed.extend(load::certificates(file)?);
        }
        if roots.is_none() && allowed.is_empty() {
            return Err(setting(
                "ca_files",
                "no CA file and no allowed certificate: no peer could be verified",
            ));
        }
        let crls = match &self.crl_file {
            Some(file) if roots.is_none() => {
                return Err(setting(
                    "crl_file",
                    format!("{} given without a CA file to check it", file.display()),
                ))
            }
            Some(file) => load::crls(file)?,
            None => Vec::new(),
        };
        Ok(Material {
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            roots,
            crls,
            policy: PeerPolicy {
                allowed,
                min_rsa_bits: self.min_rsa_bits,
                max_chain_len: self.max_chain_len,
            },
            identity: self.identity()?,
        })
    }

    /// Loads the files for the client side (controlling station).
    pub fn connector(&self) -> Result<TlsConnector, TlsConfigError> {
        let m = self.material()?;
        let webpki = match &m.roots {
            None => None,
            Some(roots) => Some(
                rustls::client::WebPkiServerVerifier::builder_with_provider(
                    roots.clone(),
                    m.provider.clone(),
                )
                .with_crls(m.crls.clone())
                .allow_unknown_revocation_status()
                .build()
                .map_err(|e| setting("crl_file", e.to_string()))?,
            ),
        };
        let verifier = Arc::new(ServerVerifier {
            webpki,
            policy: m.policy,
            check_hostname: self.check_hostname,
            provider: m.provider.clone(),
        });
        let builder = rustls::ClientConfig::builder_with_provider(m.provider)
            .with_protocol_versions(&self.versions()?)
            .map_err(rustls_error)?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone());
        let config = match m.identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| mismatch(self.key_file.as_deref(), e))?,
            None => builder.with_no_client_auth(),
        };
        Ok(TlsConnector {
            config: Arc::new(config),
            renewal: self.renewal(),
            verifier: Some(verifier),
        })
    }

    /// Loads the files for the server side (controlled station); `cert_file` and `key_file`
    /// are required, and every client must present a certificate.
    pub fn acceptor(&self) -> Result<TlsAcceptor, TlsConfigError> {
        let m = self.material()?;
        let Some((chain, key)) = m.identity else {
            return Err(setting(
                "cert_file",
                "a TLS server needs cert_file and key_file",
            ));
        };
        let webpki = match &m.roots {
            None => None,
            Some(roots) => Some(
                rustls::server::WebPkiClientVerifier::builder_with_provider(
                    roots.clone(),
                    m.provider.clone(),
                )
                .with_crls(m.crls.clone())
                .allow_unknown_revocation_status()
                .build()
                .map_err(|e| setting("crl_file", e.to_string()))?,
            ),
        };
        let verifier = ClientVerifier {
            webpki,
            policy: m.policy,
            provider: m.provider.clone(),
        };
        let config = rustls::ServerConfig::builder_with_provider(m.provider)
            .with_protocol_versions(&self.versions()?)
            .map_err(rustls_error)?
            .with_client_cert_verifier(Arc::new(verifier))
            .with_single_cert(chain, key)
            .map_err(|e| mismatch(self.key_file.as_deref(), e))?;
        Ok(TlsAcceptor {
            config: Arc::new(config),
            renewal: self.renewal(),
        })
    }
}

fn mismatch(key_file: Option<&Path>, e: rustls::Error) -> TlsConfigError {
    TlsConfigError::File {
        file: key_file.unwrap_or(Path::new("key_file")).to_owned(),
        problem: format!("unusable private key (does it belong to cert_file?): {e}"),
    }
}

/// The name to present in SNI and to check (when asked) for `host`: a DNS name or an IP.
fn server_name(host: &str) -> Result<rustls::pki_types::ServerName<'static>, TlsError> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| TlsError::Handshake(format!("{host:?} is not a host name or address: {e}")))
}

impl TlsConnector {
    /// A connector over a rustls configuration made elsewhere (test helpers).
    #[cfg(feature = "tls-testing")]
    pub(crate) fn from_rustls(config: rustls::ClientConfig) -> TlsConnector {
        TlsConnector {
            config: Arc::new(config),
            renewal: Renewal::default(),
            verifier: None,
        }
    }

    /// Runs the client handshake over `io` within `timeout`; `host` is the name or address
    /// connected to (SNI, and the hostname check when configured).
    pub async fn connect<S>(
        &self,
        host: &str,
        io: S,
        timeout: Duration,
    ) -> Result<TlsStream<S>, TlsError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let name = server_name(host)?;
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        let stream = tokio::time::timeout(timeout, connector.connect(name, io))
            .await
            .map_err(|_| TlsError::Timeout(timeout))?
            .map_err(|e| TlsError::from_io(&e))?;
        Ok(TlsStream::new(stream.into(), self.renewal))
    }

    /// Checks a server's chain (from [`TlsStream::peer_chain`]) again, as a new handshake to
    /// `host` would now: after a CRL or CA reload, a session whose peer is revoked since can
    /// be ended. `Ok` for connectors made by test helpers (they keep no verifier).
    pub fn recheck(&self, host: &str, chain: &PeerChain) -> Result<(), TlsError> {
        let Some(verifier) = &self.verifier else {
            return Ok(());
        };
        let Some((end_entity, intermediates)) = chain.0.split_first() else {
            return Err(TlsError::NoCertificate);
        };
        let name = server_name(host)?;
        use rustls::client::danger::ServerCertVerifier;
        verifier
            .verify_server_cert(
                end_entity,
                intermediates,
                &name,
                &[],
                rustls::pki_types::UnixTime::now(),
            )
            .map(|_| ())
            .map_err(|e| TlsError::from_rustls(&e))
    }
}

/// The certificates a peer presented (end entity first), kept to check them again later.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerChain(pub(crate) Vec<CertificateDer<'static>>);

impl std::fmt::Debug for PeerChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PeerChain").field(&self.0.len()).finish()
    }
}

impl PeerChain {
    /// The end-entity certificate (DER), if any.
    pub fn end_entity(&self) -> Option<&[u8]> {
        self.0.first().map(|c| c.as_ref())
    }
}

impl TlsAcceptor {
    /// Runs the server handshake over `io` within `timeout`.
    pub async fn accept<S>(&self, io: S, timeout: Duration) -> Result<TlsStream<S>, TlsError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.config.clone());
        let stream = tokio::time::timeout(timeout, acceptor.accept(io))
            .await
            .map_err(|_| TlsError::Timeout(timeout))?
            .map_err(|e| TlsError::from_io(&e))?;
        Ok(TlsStream::new(stream.into(), self.renewal))
    }
}

#[cfg(all(test, feature = "tls-testing"))]
mod tests {
    use super::*;
    use crate::tls::testing::TestPki;

    fn chain(file: &Path) -> PeerChain {
        PeerChain(super::load::certificates(file).unwrap())
    }

    #[test]
    fn recheck_applies_the_current_crl() {
        let dir = std::env::temp_dir().join(format!("iec104-recheck-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pki = TestPki::generate(&dir).unwrap();
        let mut config = pki.client_config();
        config.crl_file = Some(pki.crl_empty.clone());
        let before = config.connector().unwrap();
        config.crl_file = Some(pki.crl.clone());
        let after = config.connector().unwrap();
        let revoked = chain(&pki.revoked.cert);
        assert!(before.recheck("127.0.0.1", &revoked).is_ok());
        assert!(matches!(
            after.recheck("127.0.0.1", &revoked),
            Err(TlsError::Revoked)
        ));
        assert!(after.recheck("127.0.0.1", &chain(&pki.server.cert)).is_ok());
        let stranger = after.recheck("127.0.0.1", &chain(&pki.other_client.cert));
        assert_eq!(stranger.map_err(|e| e.kind()), Err("unknown_ca"));
        assert!(matches!(
            after.recheck("127.0.0.1", &PeerChain(Vec::new())),
            Err(TlsError::NoCertificate)
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! Certificate verifiers for both sides: rustls' WebPKI verifiers (CA chain, validity, CRLs)
//! wrapped with the IEC 62351-3 policy of this crate (maximum chain length, minimum RSA key
//! size, allow-list of end-entity certificates, optional hostname check).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};

use super::der;
use super::error::{PolicyRejection, TlsError};

/// What every peer certificate chain must satisfy besides the CA checks.
#[derive(Debug, Clone)]
pub(crate) struct PeerPolicy {
    /// Accepted end-entity certificates (DER); empty = every certificate the CAs accept.
    pub(crate) allowed: Vec<CertificateDer<'static>>,
    pub(crate) min_rsa_bits: usize,
    pub(crate) max_chain_len: usize,
}

/// SHA-256 of `der`, lower-case hex.
pub fn fingerprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn reject(e: TlsError) -> Error {
    PolicyRejection(e).into_rustls()
}

impl PeerPolicy {
    /// Chain length and key sizes: checked before the CA chain is verified.
    fn check_shape(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), Error> {
        let len = 1 + intermediates.len();
        if len > self.max_chain_len {
            return Err(reject(TlsError::ChainTooLong {
                len,
                max: self.max_chain_len,
            }));
        }
        for cert in std::iter::once(end_entity).chain(intermediates) {
            let bits = der::rsa_modulus_bits(cert)
                .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
            if let Some(bits) = bits.filter(|&b| b < self.min_rsa_bits) {
                return Err(reject(TlsError::KeyTooShort {
                    bits,
                    min: self.min_rsa_bits,
                }));
            }
        }
        Ok(())
    }

    /// The allow-list: checked after the CA chain (an unknown CA is reported as such).
    fn check_allowed(&self, end_entity: &CertificateDer<'_>) -> Result<(), Error> {
        if self.allowed.is_empty()
            || self
                .allowed
                .iter()
                .any(|a| a.as_ref() == end_entity.as_ref())
        {
            return Ok(());
        }
        Err(reject(TlsError::NotAllowed {
            fingerprint: fingerprint(end_entity),
        }))
    }
}

/// The client's verifier of the server (controlled station) certificate.
#[derive(Debug)]
pub(crate) struct ServerVerifier {
    /// CA verification; `None` in allow-list-only mode.
    pub(crate) webpki: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    pub(crate) policy: PeerPolicy,
    pub(crate) check_hostname: bool,
    pub(crate) provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.policy.check_shape(end_entity, intermediates)?;
        if let Some(webpki) = &self.webpki {
            // WebPKI checks the name last, after chain, validity and revocation: a name
            // mismatch alone is accepted when hostname checks are off (IEC 62351-3 identifies
            // peers by certificate, not by DNS name).
            match webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ) {
                Ok(_) => {}
                Err(Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                )) if !self.check_hostname => {}
                Err(e) => return Err(e),
            }
        }
        self.policy.check_allowed(end_entity)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The server's verifier of client (controlling station) certificates; a certificate is
/// always required.
#[derive(Debug)]
pub(crate) struct ClientVerifier {
    /// CA verification; `None` in allow-list-only mode.
    pub(crate) webpki: Option<Arc<dyn ClientCertVerifier>>,
    pub(crate) policy: PeerPolicy,
    pub(crate) provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for ClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.webpki.as_ref().map_or(&[], |w| w.root_hint_subjects())
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.policy.check_shape(end_entity, intermediates)?;
        if let Some(webpki) = &self.webpki {
            webpki.verify_client_cert(end_entity, intermediates, now)?;
        }
        self.policy.check_allowed(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

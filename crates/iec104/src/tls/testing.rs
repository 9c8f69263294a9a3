//! Test certificates made at run time with rcgen (cargo feature `tls-testing`; for tests,
//! benchmarks and demos, never for production): a CA with a server, a client, an expired
//! client, a revoked client (and the CRL that lists it), a second CA with its own client, and
//! a client whose certificate holds a 1024-bit RSA key.
//!
//! Keys are ECDSA P-256 (what rcgen makes with ring). The short RSA key is a public key only:
//! a 1024-bit modulus written into a certificate signed by the CA, presented by a client whose
//! signer cannot sign (see [`TestPki::short_rsa_connector`]); a correct peer refuses the
//! certificate before it would check any signature, so no RSA private key is needed (ring
//! cannot make or use one under 2048 bits anyway).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertificateRevocationListParams,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair,
    KeyUsagePurpose, PublicKeyData, RevocationReason, RevokedCertParams, SerialNumber,
    SignatureAlgorithm,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::{CertifiedKey, Signer, SigningKey};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::{TlsConfig, TlsConnector};

/// Serial number of the revoked client's certificate (listed in `crl.pem`).
const REVOKED_SERIAL: u64 = 0x7e70_4ed0;

/// One certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, PKCS#8).
    pub key: PathBuf,
}

/// The files of a test PKI, all in one directory.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CA certificate every good peer is signed by.
    pub ca: PathBuf,
    /// The CA's key (to sign more certificates in a test).
    pub ca_key: PathBuf,
    /// The server (controlled station), names `localhost` and `127.0.0.1`.
    pub server: Identity,
    /// A good client (controlling station).
    pub client: Identity,
    /// Another good client of the same CA (to test allow-lists).
    pub client2: Identity,
    /// A client whose certificate expired in 2001.
    pub expired: Identity,
    /// A client whose certificate is listed in [`TestPki::crl`].
    pub revoked: Identity,
    /// The CA's CRL, listing [`TestPki::revoked`].
    pub crl: PathBuf,
    /// An earlier CRL of the CA listing nobody (replace it with [`TestPki::crl`] to revoke
    /// [`TestPki::revoked`] while it is connected).
    pub crl_empty: PathBuf,
    /// Another CA.
    pub other_ca: PathBuf,
    /// A client signed by the other CA.
    pub other_client: Identity,
    /// A certificate of the CA holding a 1024-bit RSA public key (no private key exists).
    pub short_rsa_cert: PathBuf,
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn dn(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn.push(DnType::OrganizationName, "iec104 test PKI");
    dn
}

fn leaf_params(name: &str, serial: u64) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    params.distinguished_name = dn(name);
    params.serial_number = Some(SerialNumber::from(serial));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// A 1024-bit RSA public key (RSAPublicKey DER) that nobody holds the private key of.
struct ShortRsaKey(Vec<u8>);

impl ShortRsaKey {
    fn new() -> Self {
        // SEQUENCE { INTEGER n (1024 bits, odd), INTEGER 65537 }
        let mut n = vec![0x00];
        n.extend((0..128u32).map(|i| (i.wrapping_mul(151) as u8) | 0x80 | (i == 127) as u8));
        let mut body = vec![0x02, 0x81, n.len() as u8];
        body.extend(n);
        body.extend([0x02, 0x03, 0x01, 0x00, 0x01]);
        let mut der = vec![0x30, 0x81, body.len() as u8];
        der.extend(body);
        ShortRsaKey(der)
    }
}

impl PublicKeyData for ShortRsaKey {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}

fn write(path: &Path, contents: &str) -> Result<(), rcgen::Error> {
    std::fs::write(path, contents).map_err(|_| rcgen::Error::CouldNotParseCertificate)
}

/// Signs a leaf with `issuer` and writes `<name>.pem` and `<name>.key` into `dir`.
fn leaf(
    dir: &Path,
    name: &str,
    params: CertificateParams,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<Identity, rcgen::Error> {
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    let id = Identity {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
    };
    write(&id.cert, &cert.pem())?;
    write(&id.key, &key.serialize_pem())?;
    Ok(id)
}

impl TestPki {
    /// Makes every certificate and writes it into `dir` (which must exist).
    pub fn generate(dir: &Path) -> Result<TestPki, rcgen::Error> {
        let ca_key = KeyPair::generate()?;
        let params = ca_params("iec104 test CA");
        let ca_cert = params.self_signed(&ca_key)?;
        let (ca, ca_key_file) = (dir.join("ca.pem"), dir.join("ca.key"));
        write(&ca, &ca_cert.pem())?;
        write(&ca_key_file, &ca_key.serialize_pem())?;
        let issuer = Issuer::new(params, ca_key);

        let server = leaf(dir, "server", leaf_params("station 1", 1)?, &issuer)?;
        let client = leaf(dir, "client", leaf_params("control centre A", 2)?, &issuer)?;
        let client2 = leaf(dir, "client2", leaf_params("control centre B", 3)?, &issuer)?;
        let mut expired_params = leaf_params("expired client", 4)?;
        expired_params.not_before = date_time_ymd(2000, 1, 1);
        expired_params.not_after = date_time_ymd(2001, 1, 1);
        let expired = leaf(dir, "expired", expired_params, &issuer)?;
        let revoked = leaf(
            dir,
            "revoked",
            leaf_params("revoked client", REVOKED_SERIAL)?,
            &issuer,
        )?;

        let crl = CertificateRevocationListParams {
            this_update: date_time_ymd(2024, 1, 1),
            next_update: date_time_ymd(2999, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: vec![RevokedCertParams {
                serial_number: SerialNumber::from(REVOKED_SERIAL),
                revocation_time: date_time_ymd(2024, 1, 1),
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            }],
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&issuer)?;
        let crl_file = dir.join("crl.pem");
        write(&crl_file, &crl.pem()?)?;
        let empty = CertificateRevocationListParams {
            this_update: date_time_ymd(2023, 1, 1),
            next_update: date_time_ymd(2999, 1, 1),
            crl_number: SerialNumber::from(0u64),
            issuing_distribution_point: None,
            revoked_certs: Vec::new(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&issuer)?;
        let crl_empty = dir.join("crl-empty.pem");
        write(&crl_empty, &empty.pem()?)?;

        let short_rsa_cert = dir.join("short-rsa.pem");
        let short = leaf_params("short RSA client", 5)?.signed_by(&ShortRsaKey::new(), &issuer)?;
        write(&short_rsa_cert, &short.pem())?;

        let other_key = KeyPair::generate()?;
        let other_params = ca_params("another CA");
        let other_cert = other_params.self_signed(&other_key)?;
        let other_ca = dir.join("other-ca.pem");
        write(&other_ca, &other_cert.pem())?;
        let other_issuer = Issuer::new(other_params, other_key);
        let other_client = leaf(
            dir,
            "other-client",
            leaf_params("stranger", 6)?,
            &other_issuer,
        )?;

        Ok(TestPki {
            ca,
            ca_key: ca_key_file,
            server,
            client,
            client2,
            expired,
            revoked,
            crl: crl_file,
            crl_empty,
            other_ca,
            other_client,
            short_rsa_cert,
        })
    }

    /// Settings of a side presenting `identity` and trusting the CA (with its CRL).
    pub fn config(&self, identity: &Identity) -> TlsConfig {
        TlsConfig {
            ca_files: vec![self.ca.clone()],
            cert_file: Some(identity.cert.clone()),
            key_file: Some(identity.key.clone()),
            crl_file: Some(self.crl.clone()),
            ..TlsConfig::default()
        }
    }

    /// The server's settings.
    pub fn server_config(&self) -> TlsConfig {
        self.config(&self.server)
    }

    /// The good client's settings.
    pub fn client_config(&self) -> TlsConfig {
        self.config(&self.client)
    }

    /// A client presenting [`TestPki::short_rsa_cert`]; it trusts any server (it only exists
    /// to be refused) and its signatures are zeros.
    pub fn short_rsa_connector(&self) -> Result<TlsConnector, super::TlsConfigError> {
        let chain = super::load::certificates(&self.short_rsa_cert)?;
        let key = CertifiedKey::new(chain, Arc::new(NoRsaKey));
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| super::TlsConfigError::Rustls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer))
        .with_client_cert_resolver(Arc::new(FixedCert(Arc::new(key))));
        Ok(TlsConnector::from_rustls(config))
    }
}

/// An RSA "key" that signs with zeros.
#[derive(Debug)]
struct NoRsaKey;

impl SigningKey for NoRsaKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        [
            SignatureScheme::RSA_PSS_SHA256,
            SignatureScheme::RSA_PKCS1_SHA256,
        ]
        .into_iter()
        .find(|s| offered.contains(s))
        .map(|scheme| Box::new(ZeroSigner(scheme)) as Box<dyn Signer>)
    }

    fn algorithm(&self) -> rustls::SignatureAlgorithm {
        rustls::SignatureAlgorithm::RSA
    }
}

#[derive(Debug)]
struct ZeroSigner(SignatureScheme);

impl Signer for ZeroSigner {
    fn sign(&self, _message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        Ok(vec![0; 128])
    }

    fn scheme(&self) -> SignatureScheme {
        self.0
    }
}

#[derive(Debug)]
struct FixedCert(Arc<CertifiedKey>);

impl rustls::client::ResolvesClientCert for FixedCert {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Accepts every server (test helper only).
#[derive(Debug)]
struct AnyServer;

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

//! Reading PEM files into DER items, with errors that name the file and what is wrong.

use std::path::Path;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use super::der;
use super::error::TlsConfigError;

fn file_error(file: &Path, problem: impl Into<String>) -> TlsConfigError {
    TlsConfigError::File {
        file: file.to_owned(),
        problem: problem.into(),
    }
}

fn pem_problem(e: pem::Error) -> String {
    match e {
        pem::Error::Io(io) => format!("cannot read: {io}"),
        other => format!("not valid PEM: {other:?}"),
    }
}

/// Every certificate of a PEM file (at least one).
pub fn certificates(file: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certs = CertificateDer::pem_file_iter(file)
        .map_err(|e| file_error(file, pem_problem(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(file, pem_problem(e)))?;
    if certs.is_empty() {
        return Err(file_error(
            file,
            "no certificate in it (expected '-----BEGIN CERTIFICATE-----')",
        ));
    }
    for (i, cert) in certs.iter().enumerate() {
        der::rsa_modulus_bits(cert)
            .map_err(|e| file_error(file, format!("certificate #{} unreadable: {e}", i + 1)))?;
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(file: &Path) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    PrivateKeyDer::from_pem_file(file).map_err(|e| match e {
        pem::Error::NoItemsFound => file_error(
            file,
            "no private key in it (expected '-----BEGIN PRIVATE KEY-----', RSA or EC)",
        ),
        other => file_error(file, pem_problem(other)),
    })
}

/// Every CRL of a PEM file (at least one).
pub fn crls(file: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsConfigError> {
    let crls = CertificateRevocationListDer::pem_file_iter(file)
        .map_err(|e| file_error(file, pem_problem(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(file, pem_problem(e)))?;
    if crls.is_empty() {
        return Err(file_error(
            file,
            "no CRL in it (expected '-----BEGIN X509 CRL-----')",
        ));
    }
    Ok(crls)
}

/// Checks every RSA key of `certs` against `min_bits`.
pub fn check_key_sizes(
    file: &Path,
    certs: &[CertificateDer<'_>],
    min_bits: usize,
) -> Result<(), TlsConfigError> {
    for cert in certs {
        let bits = der::rsa_modulus_bits(cert).map_err(|e| file_error(file, e.to_string()))?;
        if let Some(bits) = bits.filter(|&b| b < min_bits) {
            return Err(TlsConfigError::KeyTooShort {
                file: file.to_owned(),
                bits,
                min: min_bits,
            });
        }
    }
    Ok(())
}

//! `iec104::tls::der::rsa_modulus_bits` on raw bytes: the one certificate parser of our own
//! (the RSA key size check of IEC 62351-3; every other certificate and CRL parsing is
//! rustls-pki-types' PEM reader and webpki's X.509/CRL DER parsers).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match iec104::tls::der::rsa_modulus_bits(data) {
        // A modulus cannot hold more bits than the input has.
        Ok(Some(bits)) => assert!(bits <= data.len() * 8, "{bits} bits from {} octets", data.len()),
        Ok(None) => {}
        // Error messages format without panicking.
        Err(e) => {
            let _ = e.to_string();
        }
    }
});

//! A minimal DER reader for the one thing the TLS policy needs from a certificate: the size
//! of an RSA public key (X.509, RFC 5280 §4.1; RSAPublicKey, RFC 8017 §A.1.1).
//!
//! Bounded by construction: every length is checked against the remaining input, nesting is
//! fixed (no recursion), and nothing is allocated.

/// DER object identifier of rsaEncryption, 1.2.840.113549.1.1.1 (RFC 8017 §A.1).
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;
/// `[0] EXPLICIT Version` in TBSCertificate.
const VERSION_TAG: u8 = 0xa0;

/// Why a certificate could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DerError {
    /// The input ended inside an element.
    #[error("truncated DER at offset {0}")]
    Truncated(usize),
    /// An element has another tag than the structure requires.
    #[error("unexpected DER tag 0x{found:02x} at offset {at} (expected 0x{expected:02x})")]
    Tag {
        /// Offset of the element.
        at: usize,
        /// The tag found.
        found: u8,
        /// The tag required.
        expected: u8,
    },
    /// A length form DER does not allow (indefinite, or more than 4 length octets).
    #[error("unsupported DER length at offset {0}")]
    Length(usize),
}

/// A cursor over DER octets; `base` is the offset of `rest` in the whole input (for errors).
#[derive(Clone, Copy)]
struct Reader<'a> {
    rest: &'a [u8],
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(input: &'a [u8]) -> Self {
        Reader {
            rest: input,
            base: 0,
        }
    }

    /// Reads one element: (tag, contents as a reader positioned at them).
    fn element(&mut self) -> Result<(u8, Reader<'a>), DerError> {
        let at = self.base;
        let (&tag, after_tag) = self.rest.split_first().ok_or(DerError::Truncated(at))?;
        let (&first, mut after_len) = after_tag.split_first().ok_or(DerError::Truncated(at))?;
        let mut header = 2;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return Err(DerError::Length(at));
            }
            if after_len.len() < n {
                return Err(DerError::Truncated(at));
            }
            let (octets, rest) = after_len.split_at(n);
            after_len = rest;
            header += n;
            octets
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        if after_len.len() < len {
            return Err(DerError::Truncated(at));
        }
        let (contents, rest) = after_len.split_at(len);
        self.rest = rest;
        self.base = at + header + len;
        Ok((
            tag,
            Reader {
                rest: contents,
                base: at + header,
            },
        ))
    }

    /// Reads one element and checks its tag.
    fn expect(&mut self, expected: u8) -> Result<Reader<'a>, DerError> {
        let at = self.base;
        let (found, contents) = self.element()?;
        if found != expected {
            return Err(DerError::Tag {
                at,
                found,
                expected,
            });
        }
        Ok(contents)
    }

    fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }
}

/// The SubjectPublicKeyInfo of a DER certificate (the whole SEQUENCE contents).
fn subject_public_key_info(cert: &[u8]) -> Result<Reader<'_>, DerError> {
    let mut certificate = Reader::new(cert).expect(SEQUENCE)?;
    let mut tbs = certificate.expect(SEQUENCE)?;
    if tbs.peek_tag() == Some(VERSION_TAG) {
        tbs.element()?;
    }
    // serialNumber, signature, issuer, validity, subject
    tbs.expect(INTEGER)?;
    for _ in 0..4 {
        tbs.expect(SEQUENCE)?;
    }
    tbs.expect(SEQUENCE)
}

/// Bits of an unsigned big-endian INTEGER's contents (leading zero octets ignored).
fn integer_bits(octets: &[u8]) -> usize {
    let significant = octets
        .iter()
        .position(|&b| b != 0)
        .map_or(&[][..], |i| &octets[i..]);
    match significant.first() {
        None => 0,
        Some(&top) => (significant.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    }
}

/// The modulus size in bits when the certificate's public key is RSA, `None` for another
/// algorithm (EC, EdDSA: no minimum applies to them here).
pub fn rsa_modulus_bits(cert: &[u8]) -> Result<Option<usize>, DerError> {
    let mut spki = subject_public_key_info(cert)?;
    let mut algorithm = spki.expect(SEQUENCE)?;
    let oid = algorithm.expect(OID)?;
    if oid.rest != RSA_ENCRYPTION {
        return Ok(None);
    }
    let key = spki.expect(BIT_STRING)?;
    // The first octet of a BIT STRING counts unused bits; RSAPublicKey follows.
    let (_unused, der) = key
        .rest
        .split_first()
        .ok_or(DerError::Truncated(key.base))?;
    let mut rsa_key = Reader {
        rest: der,
        base: key.base + 1,
    }
    .expect(SEQUENCE)?;
    let modulus = rsa_key.expect(INTEGER)?;
    Ok(Some(integer_bits(modulus.rest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER of a length (short or long form).
    fn len(n: usize) -> Vec<u8> {
        match n {
            0..=0x7f => vec![n as u8],
            0x80..=0xff => vec![0x81, n as u8],
            _ => vec![0x82, (n >> 8) as u8, n as u8],
        }
    }

    fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        v.extend(len(contents.len()));
        v.extend_from_slice(contents);
        v
    }

    /// A certificate skeleton per RFC 5280 §4.1 with the given SubjectPublicKeyInfo.
    fn cert_with_spki(spki: &[u8]) -> Vec<u8> {
        let mut tbs = tlv(VERSION_TAG, &tlv(INTEGER, &[2]));
        tbs.extend(tlv(INTEGER, &[1]));
        for _ in 0..4 {
            tbs.extend(tlv(SEQUENCE, &[]));
        }
        tbs.extend_from_slice(spki);
        let mut cert = tlv(SEQUENCE, &tbs);
        cert.extend(tlv(SEQUENCE, &[]));
        cert.extend(tlv(BIT_STRING, &[0]));
        tlv(SEQUENCE, &cert)
    }

    /// SPKI of an RSA key whose modulus has `bits` bits (top bit set), exponent 65537.
    fn rsa_spki(bits: usize) -> Vec<u8> {
        let mut modulus = vec![0u8]; // positive INTEGER: leading zero before a set top bit
        modulus.extend(std::iter::repeat_n(0xffu8, bits / 8));
        let mut key = tlv(INTEGER, &modulus);
        key.extend(tlv(INTEGER, &[1, 0, 1]));
        let mut bit_string = vec![0u8];
        bit_string.extend(tlv(SEQUENCE, &key));
        let mut alg = tlv(OID, RSA_ENCRYPTION);
        alg.extend([0x05, 0x00]); // NULL parameters
        let mut spki = tlv(SEQUENCE, &alg);
        spki.extend(tlv(BIT_STRING, &bit_string));
        tlv(SEQUENCE, &spki)
    }

    #[test]
    fn rsa_sizes_are_read_from_the_modulus() {
        for bits in [1024, 2048, 3072, 4096] {
            let cert = cert_with_spki(&rsa_spki(bits));
            assert_eq!(rsa_modulus_bits(&cert), Ok(Some(bits)), "{bits}");
        }
    }

    #[test]
    fn ec_keys_have_no_rsa_size() {
        // id-ecPublicKey 1.2.840.10045.2.1 with prime256v1.
        let mut alg = tlv(OID, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]);
        alg.extend(tlv(OID, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]));
        let mut spki = tlv(SEQUENCE, &alg);
        spki.extend(tlv(BIT_STRING, &[0, 4, 1, 2]));
        let cert = cert_with_spki(&tlv(SEQUENCE, &spki));
        assert_eq!(rsa_modulus_bits(&cert), Ok(None));
    }

    #[test]
    fn truncated_and_wrong_input_are_errors() {
        let cert = cert_with_spki(&rsa_spki(2048));
        for cut in [0, 1, 5, cert.len() / 2, cert.len() - 1] {
            assert!(rsa_modulus_bits(&cert[..cut]).is_err(), "cut at {cut}");
        }
        assert!(matches!(
            rsa_modulus_bits(&[0x02, 0x01, 0x00]),
            Err(DerError::Tag {
                at: 0,
                found: 0x02,
                expected: 0x30
            })
        ));
        assert_eq!(rsa_modulus_bits(&[0x30, 0x80]), Err(DerError::Length(0)));
        assert_eq!(
            rsa_modulus_bits(&[0x30, 0x85, 1, 1, 1, 1, 1]),
            Err(DerError::Length(0))
        );
    }

    #[test]
    fn integer_bits_ignore_leading_zeros() {
        assert_eq!(integer_bits(&[]), 0);
        assert_eq!(integer_bits(&[0, 0]), 0);
        assert_eq!(integer_bits(&[0, 1]), 1);
        assert_eq!(integer_bits(&[0, 0x80, 0]), 16);
    }

    proptest::proptest! {
        /// Any octets: an answer or an error, never a panic.
        #[test]
        fn arbitrary_input_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = rsa_modulus_bits(&bytes);
        }

        /// Mutating one octet of a valid certificate never panics.
        #[test]
        fn mutated_certificates_never_panic(at in 0usize..300, value in proptest::num::u8::ANY) {
            let mut cert = cert_with_spki(&rsa_spki(2048));
            let at = at % cert.len();
            cert[at] = value;
            let _ = rsa_modulus_bits(&cert);
        }
    }
}

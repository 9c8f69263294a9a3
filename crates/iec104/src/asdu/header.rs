//! The data unit identifier: type id, variable structure qualifier, cause of transmission and
//! common address (IEC 60870-5-101 §7.2), with the field sizes as parameters.

use crate::cot::Cot;

/// Field sizes of the data unit identifier and the information object address.
///
/// IEC 60870-5-104 fixes them at COT 2, CA 2 and IOA 3 octets ([`AsduParams::IEC104`], the
/// default); IEC 60870-5-101 links may use COT 1, CA 1 and IOA 1 or 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AsduParams {
    /// Octets of the cause of transmission: 1 (no originator address) or 2.
    pub cot_size: u8,
    /// Octets of the common address: 1 or 2.
    pub ca_size: u8,
    /// Octets of the information object address: 1, 2 or 3.
    pub ioa_size: u8,
}

impl AsduParams {
    /// The IEC 60870-5-104 sizes: COT 2, CA 2, IOA 3.
    pub const IEC104: AsduParams = AsduParams {
        cot_size: 2,
        ca_size: 2,
        ioa_size: 3,
    };

    /// Octets of the data unit identifier (type id, VSQ, COT, CA).
    #[inline]
    pub const fn header_len(&self) -> usize {
        2 + self.cot_size as usize + self.ca_size as usize
    }

    /// True when every size is one the standard allows.
    pub const fn is_valid(&self) -> bool {
        matches!(self.cot_size, 1 | 2)
            && matches!(self.ca_size, 1 | 2)
            && matches!(self.ioa_size, 1..=3)
    }
}

impl Default for AsduParams {
    fn default() -> Self {
        AsduParams::IEC104
    }
}

/// The common address meaning "all stations" for the given CA size (65535 or 255).
pub const fn broadcast_address(ca_size: u8) -> u16 {
    if ca_size == 1 {
        0xFF
    } else {
        0xFFFF
    }
}

/// The data unit identifier of an ASDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AsduHeader {
    /// The raw type identification octet (see [`crate::type_id::TypeId::from_u8`]).
    pub type_id: u8,
    /// SQ bit: the objects are a sequence of elements following one IOA.
    pub sequence: bool,
    /// Number of information objects or elements (0..=127).
    pub count: u8,
    /// Cause of transmission.
    pub cot: Cot,
    /// Common address of ASDU.
    pub common_address: u16,
}

impl AsduHeader {
    /// Decodes the data unit identifier from the start of `bytes`, or `None` when it is too
    /// short for `params` or `params` is not valid ([`AsduParams::is_valid`]).
    #[inline]
    pub fn decode(bytes: &[u8], params: &AsduParams) -> Option<AsduHeader> {
        if !params.is_valid() {
            return None;
        }
        let (&[type_id, vsq, cot0], rest) = bytes.split_first_chunk::<3>()?;
        let (cot, rest) = if params.cot_size == 2 {
            let (&originator, rest) = rest.split_first()?;
            (Cot::from_octets(cot0, originator), rest)
        } else {
            (Cot::from_octets(cot0, 0), rest)
        };
        let common_address = if params.ca_size == 2 {
            u16::from_le_bytes(*rest.first_chunk::<2>()?)
        } else {
            u16::from(*rest.first()?)
        };
        Some(AsduHeader {
            type_id,
            sequence: vsq & 0x80 != 0,
            count: vsq & 0x7F,
            cot,
            common_address,
        })
    }

    /// Appends the encoded data unit identifier to `out`. The count is masked to 7 bits, the
    /// originator is omitted for a 1-octet COT and the CA truncated for a 1-octet CA.
    pub fn encode(&self, params: &AsduParams, out: &mut impl bytes::BufMut) {
        out.put_u8(self.type_id);
        out.put_u8((self.count & 0x7F) | if self.sequence { 0x80 } else { 0 });
        out.put_u8(self.cot.first_octet());
        if params.cot_size == 2 {
            out.put_u8(self.cot.originator);
        }
        if params.ca_size == 2 {
            out.put_u16_le(self.common_address);
        } else {
            out.put_u8(self.common_address as u8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cot::Cause;

    #[test]
    fn decodes_the_iec104_layout() {
        // C_IC_NA_1, SQ=0 count 1, COT act (6) originator 0, CA 65535 (little endian).
        let h =
            AsduHeader::decode(&[0x64, 0x01, 0x06, 0x00, 0xFF, 0xFF], &AsduParams::IEC104).unwrap();
        assert_eq!(h.type_id, 100);
        assert!(!h.sequence);
        assert_eq!(h.count, 1);
        assert_eq!(h.cot.cause, Cause::Activation);
        assert_eq!(h.common_address, 65535);
        // SQ=1, count 5; CA 0x012F = 303.
        let h =
            AsduHeader::decode(&[0x0B, 0x85, 0x14, 0x02, 0x2F, 0x01], &AsduParams::IEC104).unwrap();
        assert!(h.sequence);
        assert_eq!(h.count, 5);
        assert_eq!(h.cot.originator, 2);
        assert_eq!(h.common_address, 303);
        assert!(AsduHeader::decode(&[0x0B, 0x85, 0x14, 0x02, 0x2F], &AsduParams::IEC104).is_none());
        // Invalid sizes never index past the end.
        for cot_size in 0..4 {
            for ca_size in 0..4 {
                let p = AsduParams {
                    cot_size,
                    ca_size,
                    ioa_size: 3,
                };
                for n in 0..8 {
                    let h = AsduHeader::decode(&[0u8; 8][..n], &p);
                    assert_eq!(h.is_some(), p.is_valid() && n >= p.header_len());
                }
            }
        }
    }

    #[test]
    fn cs101_sizes() {
        let p = AsduParams {
            cot_size: 1,
            ca_size: 1,
            ioa_size: 2,
        };
        let h = AsduHeader::decode(&[0x01, 0x02, 0x03, 0x07], &p).unwrap();
        assert_eq!(h.common_address, 7);
        assert_eq!(h.cot.originator, 0);
        let mut out = Vec::new();
        h.encode(&p, &mut out);
        assert_eq!(out, [0x01, 0x02, 0x03, 0x07]);
    }
}

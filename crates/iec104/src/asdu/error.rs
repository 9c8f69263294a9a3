//! Errors of ASDU decoding and building.
use super::header::AsduParams;

/// Up to the first 16 octets of a refused ASDU, shown in hex in error messages.
pub type HexPrefix = crate::hex::HexHead<16>;

/// Why an ASDU could not be decoded or built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AsduError {
    /// The field sizes are not ones the standard allows.
    #[error("invalid ASDU parameters: COT {} octets, CA {}, IOA {}", .0.cot_size, .0.ca_size, .0.ioa_size)]
    InvalidParams(AsduParams),
    /// Shorter than the data unit identifier.
    #[error("ASDU of {actual} octets is shorter than its {expected}-octet header: {bytes}")]
    TruncatedHeader {
        /// Header length for the parameters.
        expected: usize,
        /// Octets received.
        actual: usize,
        /// The start of the ASDU.
        bytes: HexPrefix,
    },
    /// The variable structure qualifier says zero objects; an ASDU carries at least one.
    #[error("type {type_id}: ASDU without information objects (VSQ number 0): {bytes}")]
    NoObjects {
        /// Raw type id.
        type_id: u8,
        /// The start of the ASDU.
        bytes: HexPrefix,
    },
    /// The ASDU length does not match the type id, SQ bit and number of objects.
    #[error("type {type_id}: ASDU length {actual} octets, expected {expected}: {bytes}")]
    LengthMismatch {
        /// Raw type id.
        type_id: u8,
        /// Length implied by the header (for segments: up to the end of the last whole one).
        expected: usize,
        /// Octets received.
        actual: usize,
        /// The start of the ASDU.
        bytes: HexPrefix,
    },
    /// A file segment's LOS runs past the end of the ASDU.
    #[error("type {type_id}: segment at offset {offset} needs {needed} octets, {available} left")]
    SegmentOverrun {
        /// Raw type id.
        type_id: u8,
        /// Offset of the segment's NOF within the ASDU.
        offset: usize,
        /// Octets the segment needs (header and LOS).
        needed: usize,
        /// Octets left in the ASDU.
        available: usize,
    },
    /// The builder got an element of another type than the ASDU's.
    #[error("element of type {actual} pushed to an ASDU of type {expected}")]
    TypeMismatch {
        /// The ASDU's type id.
        expected: u8,
        /// The element's type id.
        actual: u8,
    },
    /// The ASDU would exceed the 249 octets an APDU can carry, or 127 objects.
    #[error("type {type_id}: ASDU would be {len} octets / {count} objects (max 249 / 127)")]
    TooLong {
        /// Raw type id.
        type_id: u8,
        /// Length it would have.
        len: usize,
        /// Objects it would have.
        count: usize,
    },
    /// An IOA does not fit the IOA size, or a sequence (SQ=1) is not consecutive.
    #[error(
        "type {type_id}: information object address {ioa} not allowed here (expected {expected:?})"
    )]
    BadAddress {
        /// Raw type id.
        type_id: u8,
        /// The address pushed.
        ioa: u32,
        /// The address a sequence needed next, if that was the problem.
        expected: Option<u32>,
    },
    /// A second object pushed to a type that carries exactly one (commands, system commands,
    /// M_EI_NA_1, file transfer except F_DR_TA_1).
    #[error("type {type_id} carries exactly one information object per ASDU")]
    SingleObjectType {
        /// Raw type id.
        type_id: u8,
    },
    /// A segment longer than 255 octets (LOS is one octet).
    #[error("segment of {len} octets is longer than 255")]
    SegmentTooLong {
        /// The data length.
        len: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_prefix_is_bounded() {
        assert_eq!(HexPrefix::new(&[0x01, 0xAB]).to_string(), "01 ab");
        assert_eq!(HexPrefix::new(&[]).to_string(), "");
        let long: Vec<u8> = (0..40).collect();
        let h = HexPrefix::new(&long);
        assert_eq!(h.bytes().len(), 16);
        assert_eq!(
            h.to_string(),
            "00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f … (40 octets)"
        );
        let e = AsduError::LengthMismatch {
            type_id: 13,
            expected: 14,
            actual: 40,
            bytes: h,
        };
        assert_eq!(
            e.to_string(),
            format!("type 13: ASDU length 40 octets, expected 14: {h}")
        );
    }
}

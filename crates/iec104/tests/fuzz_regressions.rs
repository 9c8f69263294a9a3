//! Inputs the fuzz targets (fuzz/) found, kept as regression tests. A test marked `#[ignore]`
//! documents a finding reported in fuzz/FINDINGS.md that is not fixed yet: the
//! owner removes the `ignore` together with the fix.

use iec104::asdu::{AsduError, AsduParams, AsduView};

/// Finding F1 (target `apdu_stream`): with SQ=1 the addresses of the elements after the first
/// are the first + k (IEC 60870-5-101 §7.2.2.1); when that runs past what the IOA field can
/// express the ASDU is malformed, and the decoder must not yield an address the builder and
/// the wire format cannot carry.
#[test]
fn sq1_sequence_does_not_overflow_the_ioa_width() {
    // Derived by hand (IEC 60870-5-104 sizes: COT 2, CA 2, IOA 3):
    // 0x66 type 102 C_RD_NA_1 (no information element, so an object is only its address);
    // 0x82 VSQ: SQ=1 (bit 8), number 2; 0x05 0x00 COT 5 (req), originator 0;
    // 0x01 0x00 CA 1; 0xFF 0xFF 0xFF first IOA 16777215 (the largest 3-octet value).
    // The second element would be IOA 16777216, which needs 4 octets.
    let asdu = [0x66, 0x82, 0x05, 0x00, 0x01, 0x00, 0xFF, 0xFF, 0xFF];
    // The fix reports the first address whose successor does not fit: exactly this error,
    // so a regression to another error (or to Ok) fails.
    let result = AsduView::parse(&asdu, &AsduParams::IEC104);
    assert!(
        matches!(
            result,
            Err(AsduError::BadAddress {
                type_id: 0x66,
                ioa: 0xFF_FFFF,
                expected: None,
            })
        ),
        "{result:?}"
    );
}

/// The same finding with IEC 60870-5-101 sizes (COT 1, CA 1, IOA 1).
#[test]
fn sq1_sequence_does_not_overflow_a_one_octet_ioa() {
    // 0x66 C_RD_NA_1; 0x82 SQ=1 number 2; 0x05 COT req; 0x01 CA 1; 0xFF first IOA 255.
    let asdu = [0x66, 0x82, 0x05, 0x01, 0xFF];
    let p = AsduParams {
        cot_size: 1,
        ca_size: 1,
        ioa_size: 1,
    };
    let result = AsduView::parse(&asdu, &p);
    assert!(
        matches!(
            result,
            Err(AsduError::BadAddress {
                type_id: 0x66,
                ioa: 0xFF,
                expected: None,
            })
        ),
        "{result:?}"
    );
}

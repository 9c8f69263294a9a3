//! The ASDU decoders with every combination of field sizes, valid or not.
//!
//! Input: byte 0 chooses [`AsduParams`] (bits 0-1 COT size, bits 2-3 CA size, bits 4-6 IOA
//! size, each from a table that includes sizes the standard does not allow; 0x00 is the
//! IEC 60870-5-104 set); the rest is one ASDU. Checks:
//! - `AsduView::parse`, `decode_all` and the owned `Asdu::parse` agree (same result);
//! - every object is read field by field (`iec104_fuzz::touch_view`);
//! - a parsed view re-encodes (`encode_to`) to the same length, and the re-encoding differs
//!   from the input only in reserved bits of time tags; it parses again to the same objects
//!   and re-encodes to itself (fixpoint);
//! - the builder, given the parsed header and objects, produces exactly that re-encoding
//!   (for ASDUs an APDU can carry, ≤ 249 octets).
#![no_main]

use bytes::{Bytes, BytesMut};
use iec104::asdu::{decode_all, Asdu, AsduBuilder, AsduError, AsduParams, AsduView, MAX_ASDU_LEN};
use libfuzzer_sys::fuzz_target;

const COT: [u8; 4] = [2, 1, 0, 3];
const CA: [u8; 4] = [2, 1, 0, 3];
const IOA: [u8; 8] = [3, 1, 2, 0, 4, 5, 255, 3];

fn params(b: u8) -> AsduParams {
    AsduParams {
        cot_size: COT[usize::from(b & 3)],
        ca_size: CA[usize::from((b >> 2) & 3)],
        ioa_size: IOA[usize::from((b >> 4) & 7)],
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, asdu)) = data.split_first() else {
        return;
    };
    let p = params(sel);
    let view = AsduView::parse(asdu, &p);
    let all = decode_all(asdu, &p);
    let owned = Asdu::parse(Bytes::copy_from_slice(asdu), p);
    if !p.is_valid() {
        assert!(matches!(view, Err(AsduError::InvalidParams(_))), "{view:?}");
    }
    let view = match view {
        Ok(v) => v,
        Err(e) => {
            let _ = iec104_fuzz::display_len(&e);
            assert_eq!(all.as_ref().err(), Some(&e));
            assert_eq!(owned.as_ref().err(), Some(&e));
            return;
        }
    };
    let n = iec104_fuzz::touch_view(&view);
    assert_eq!(all.as_ref().ok(), Some(&n));

    // The owned path: same header, same objects.
    let owned = owned.expect("Asdu::parse refused what AsduView::parse accepted");
    assert_eq!(owned.header(), view.header());
    assert_eq!(owned.as_bytes(), asdu);
    let ov = owned.view();
    assert_eq!(iec104_fuzz::touch_view(&ov), n);
    for (a, b) in ov.objects().zip(view.objects()) {
        assert_eq!(iec104_fuzz::debug_len(&a), iec104_fuzz::debug_len(&b));
        assert_eq!(a.ioa, b.ioa);
    }

    // Re-encoding.
    let mut out = BytesMut::new();
    view.encode_to(&mut out);
    assert_eq!(out.len(), asdu.len(), "re-encoding changes the length");
    let again = AsduView::parse(&out, &p).expect("re-encoding does not parse");
    assert_eq!(again.header(), view.header());
    assert_eq!(again.len(), view.len());
    for (a, b) in again.objects().zip(view.objects()) {
        assert_eq!(a.ioa, b.ioa);
        let (mut ea, mut eb) = (Vec::new(), Vec::new());
        a.element.encode(&mut ea);
        b.element.encode(&mut eb);
        assert_eq!(ea, eb, "object changes on re-parse: {a:?} vs {b:?}");
    }
    let mut out2 = BytesMut::new();
    again.encode_to(&mut out2);
    assert_eq!(out, out2, "re-encoding is not a fixpoint");
    // Outside time tags nothing may change: only bits the encoder clears may differ, so
    // the re-encoding never sets a bit the input did not have.
    for (i, (x, y)) in asdu.iter().zip(out.iter()).enumerate() {
        assert_eq!(
            x & y,
            *y,
            "re-encoding sets bits at offset {i}: {x:02x} -> {y:02x}"
        );
    }
    if view.type_id().is_none() {
        assert_eq!(&out[..], asdu, "unknown type id must be forwarded verbatim");
    }

    // The builder agrees with the parser: same objects in, same octets out.
    if let Some(t) = view.type_id() {
        let h = view.header();
        let mut b = AsduBuilder::new(t, h.cot, h.common_address)
            .params(p)
            .sequence(h.sequence);
        let mut refused = None;
        for o in view.objects() {
            if let Err(e) = b.push(o) {
                refused = Some(e);
                break;
            }
        }
        match refused {
            None => {
                let built = b.build().expect("builder refused a parsed ASDU");
                assert_eq!(built.as_bytes(), &out[..], "builder and encode_to disagree");
                assert_eq!(built.header(), view.header());
            }
            // Longer than an APDU can carry: the parser accepts it (CS 101 framing), the
            // builder does not.
            Some(AsduError::TooLong { .. }) => assert!(asdu.len() > MAX_ASDU_LEN),
            // Commands, system commands and file transfer carry one object per ASDU
            // (101 §7.3): the builder refuses a second, decoding accepts what it can walk.
            Some(AsduError::SingleObjectType { .. }) => assert!(h.count > 1),
            Some(e) => panic!("builder refused a parsed ASDU: {e}"),
        }
    }
});

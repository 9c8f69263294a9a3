//! Property tests: arbitrary objects of every type survive build → parse, and parsing or
//! iterating arbitrary octets with arbitrary field sizes never panics.

use bytes::BytesMut;
use iec104::asdu::*;
use iec104::cot::{Cause, Cot};
use iec104::time::Cp56Time2a;
use iec104::type_id::TypeId;
use proptest::prelude::*;

fn type_id() -> impl Strategy<Value = TypeId> {
    prop::sample::select(TypeId::ALL)
}

/// An arbitrary element of `t`: every representable value, made from arbitrary octets of the
/// element's size (a segment gets 0..=64 arbitrary data octets). The data is leaked so that
/// the element can borrow it for the whole test.
fn element_of(t: TypeId) -> impl Strategy<Value = Element<'static>> {
    let len = Element::fixed_size(t).unwrap_or(0);
    let seg = if t == TypeId::F_SG_NA_1 {
        0..=64usize
    } else {
        0..=0usize
    };
    (
        prop::collection::vec(any::<u8>(), len),
        prop::collection::vec(any::<u8>(), seg),
    )
        .prop_map(move |(fixed, data)| {
            let bytes: Vec<u8> = if t == TypeId::F_SG_NA_1 {
                let mut b = vec![0x12, 0x34, 0x05, data.len() as u8];
                b.extend_from_slice(&data);
                b
            } else {
                fixed
            };
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            Element::decode(t, bytes).expect("sized for the type").0
        })
}

fn params() -> impl Strategy<Value = AsduParams> {
    (1u8..=2, 1u8..=2, 1u8..=3).prop_map(|(cot_size, ca_size, ioa_size)| AsduParams {
        cot_size,
        ca_size,
        ioa_size,
    })
}

fn encoded(e: &Element<'_>) -> Vec<u8> {
    let mut out = BytesMut::new();
    e.encode(&mut out);
    out.to_vec()
}

/// Everything needed for one ASDU of arbitrary objects of one type.
fn asdu_case() -> impl Strategy<Value = (TypeId, AsduParams, bool, u32, Vec<Element<'static>>)> {
    (type_id(), params(), any::<bool>(), any::<u32>()).prop_flat_map(|(t, p, sq, ioa)| {
        (
            Just(t),
            Just(p),
            Just(sq),
            Just(ioa),
            prop::collection::vec(element_of(t), 1..=20),
        )
    })
}

/// Everything a view yields re-encodes to the parsed octets, except reserved bits of time
/// tags (sent as 0); the re-encoding parses and encodes to itself.
fn check_reencoding(v: &AsduView<'_>, bytes: &[u8]) -> Result<(), TestCaseError> {
    let mut out = BytesMut::new();
    v.encode_to(&mut out);
    prop_assert_eq!(out.len(), bytes.len());
    // Time tags' reserved bits are the only octets not reproduced.
    let t = v.type_id();
    let has_time = t.is_some_and(|t| {
        t.name()
            .split('_')
            .nth(2)
            .is_some_and(|p| p.starts_with('T'))
            || matches!(t, TypeId::C_CS_NA_1 | TypeId::F_SC_NB_1)
    });
    if !has_time {
        prop_assert_eq!(&out[..], bytes);
    }
    let again = AsduView::parse(&out, v.params()).unwrap();
    let mut twice = BytesMut::new();
    again.encode_to(&mut twice);
    prop_assert_eq!(&twice[..], &out[..]);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn built_asdus_parse_back((t, p, sq, first, elements) in asdu_case(), cause in 0u8..64, ca in any::<u16>()) {
        let ioa_mask = (1u32 << (8 * u32::from(p.ioa_size))) - 1;
        let first = first & ioa_mask;
        let cot = Cot::from_octets(cause, if p.cot_size == 2 { 9 } else { 0 });
        let ca = if p.ca_size == 1 { ca & 0xFF } else { ca };
        let mut b = AsduBuilder::new(t, cot, ca).params(p).sequence(sq);
        let mut pushed = Vec::new();
        for (k, e) in elements.iter().enumerate() {
            let ioa = if sq { first.wrapping_add(k as u32) } else { first ^ (k as u32 & ioa_mask) };
            let obj = InformationObject::new(ioa, *e);
            match b.push(obj) {
                Ok(()) => pushed.push(obj),
                // Too long for 249 octets, an SQ=1 sequence running past the IOA size, or a
                // second object of a one-object type.
                Err(AsduError::TooLong { .. } | AsduError::BadAddress { .. } | AsduError::SingleObjectType { .. }) => {
                    break
                }
                Err(other) => panic!("{other}"),
            }
        }
        prop_assume!(!pushed.is_empty());
        let asdu = b.build().unwrap();
        prop_assert!(asdu.as_bytes().len() <= MAX_ASDU_LEN);
        let view = AsduView::parse(asdu.as_bytes(), &p).unwrap();
        prop_assert_eq!(view.type_id(), Some(t));
        prop_assert_eq!(view.header().sequence, sq);
        prop_assert_eq!(view.header().cot, cot);
        prop_assert_eq!(view.header().common_address, ca);
        let back: Vec<_> = view.objects().collect();
        prop_assert_eq!(back.len(), pushed.len());
        for (x, y) in back.iter().zip(&pushed) {
            prop_assert_eq!(x.ioa, y.ioa);
            // Compared in encoded form so that NaN floats compare by their bits.
            prop_assert_eq!(encoded(&x.element), encoded(&y.element));
            prop_assert_eq!(x.element.type_id(), t);
        }
    }

    #[test]
    fn elements_round_trip(e in type_id().prop_flat_map(element_of)) {
        let bytes = encoded(&e);
        prop_assert_eq!(bytes.len(), e.encoded_len());
        let (back, used) = Element::decode(e.type_id(), &bytes).unwrap();
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(encoded(&back), bytes);
    }

    #[test]
    fn cp56_fields_round_trip(
        millis in any::<u16>(), minute in 0u8..64, hour in 0u8..32, day in 0u8..32,
        weekday in 0u8..8, month in 0u8..16, year in 0u8..128,
        invalid in any::<bool>(), summer_time in any::<bool>(), substituted in any::<bool>(),
    ) {
        let t = Cp56Time2a { millis, minute, substituted, invalid, hour, summer_time, day, weekday, month, year };
        prop_assert_eq!(Cp56Time2a::decode(&t.encode()), t);
        // Conversions never panic and a valid date converts back.
        if let Some(dt) = t.to_utc() {
            let again = Cp56Time2a::from_datetime(&dt);
            prop_assert_eq!((again.millis, again.minute, again.hour, again.day, again.month, again.year),
                (t.millis, t.minute, t.hour, t.day, t.month, t.year));
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300),
                          cot_size in 0u8..4, ca_size in 0u8..4, ioa_size in 0u8..5) {
        let p = AsduParams { cot_size, ca_size, ioa_size };
        let walked = decode_all(&bytes, &p);
        prop_assert_eq!(walked.is_ok(), AsduView::parse(&bytes, &p).is_ok());
        if let Ok(v) = AsduView::parse(&bytes, &p) {
            check_reencoding(&v, &bytes)?;
            let mut n = 0;
            for o in v.objects() {
                // Touch every element so that reading them is exercised too.
                std::hint::black_box(o.element.encoded_len());
                n += 1;
            }
            prop_assert_eq!(n, v.len());
        }
    }

    #[test]
    fn plausible_asdus_never_panic(
        t in type_id(), sq in any::<bool>(), count in 1u8..=10, delta in prop::sample::select(&[-1i32, 0, 0, 0, 1][..]),
        p in params(), seed in prop::collection::vec(any::<u8>(), 260),
    ) {
        // A defined type id, a real header and (mostly) the right length get past the checks,
        // so that the element decoders see arbitrary octets.
        let ioa = usize::from(p.ioa_size);
        let body_len = match Element::fixed_size(t) {
            Some(n) if sq => ioa + usize::from(count) * n,
            Some(n) => usize::from(count) * (ioa + n),
            None => usize::from(seed[0]),
        };
        let body_len = (body_len as i32 + delta).max(0) as usize;
        let mut bytes = vec![t.as_u8(), count | if sq { 0x80 } else { 0 }, 0x03, 0x00, 0x2F, 0x00];
        bytes.truncate(p.header_len());
        bytes.extend(seed.iter().cycle().take(body_len));
        match AsduView::parse(&bytes, &p) {
            Ok(v) => {
                prop_assert!(delta == 0 || t == TypeId::F_SG_NA_1);
                let objs: Vec<_> = v.objects().collect();
                prop_assert_eq!(objs.len(), usize::from(count));
                check_reencoding(&v, &bytes)?;
            }
            Err(AsduError::BadAddress { .. }) => {
                // SQ=1 whose consecutive addresses run past the IOA width (finding F1).
                prop_assert!(sq);
            }
            Err(e) => {
                prop_assert!(delta != 0 || t == TypeId::F_SG_NA_1, "{}", e);
                let _ = e.to_string();
            }
        }
    }
}

#[test]
fn cause_is_kept() {
    // Sanity check of the helper used above: a COT built from octets keeps its cause.
    assert_eq!(Cot::from_octets(3, 0).cause, Cause::Spontaneous);
}

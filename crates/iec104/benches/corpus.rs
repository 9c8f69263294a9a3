//! The mixed benchmark corpus, shared by `benches/decode.rs` and `tests/no_alloc.rs`:
//! (1) M_ME_NC_1, 10 objects, COT spont; (2) M_SP_TB_1, 5 objects with CP56Time2a;
//! (3) M_ME_NB_1, SQ=1, 50 elements; (4) M_DP_TB_1, 3 objects; (5) M_IT_NA_1, 8 objects;
//! (6) M_ME_TF_1, 4 objects: 80 information objects in 6 APDUs.

#![allow(dead_code)]

use iec104::asdu::*;
use iec104::cot::{Cause, Cot};
use iec104::time::Cp56Time2a;
use iec104::type_id::TypeId;

/// Information objects per corpus cycle.
pub const OBJECTS: u64 = 80;

/// The objects of each ASDU of the corpus: (type id, cause, SQ, objects).
pub fn objects() -> Vec<(TypeId, Cause, bool, Vec<InformationObject<'static>>)> {
    let t = Cp56Time2a::decode(&[0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A]);
    let q = |i: u32| Qds(if i % 7 == 0 { 0x80 } else { 0 });
    vec![
        (
            TypeId::M_ME_NC_1,
            Cause::Spontaneous,
            false,
            (0..10)
                .map(|i| {
                    InformationObject::new(
                        1000 + i * 3,
                        Element::M_ME_NC_1(i as f32 * 1.5 - 3.0, q(i)),
                    )
                })
                .collect(),
        ),
        (
            TypeId::M_SP_TB_1,
            Cause::Spontaneous,
            false,
            (0..5)
                .map(|i| {
                    let tt = Cp56Time2a {
                        millis: 1000 * i as u16,
                        ..t
                    };
                    InformationObject::new(
                        2000 + i,
                        Element::M_SP_TB_1(SinglePoint((i % 2) as u8), tt),
                    )
                })
                .collect(),
        ),
        (
            TypeId::M_ME_NB_1,
            Cause::Periodic,
            true,
            (0..50)
                .map(|i| {
                    InformationObject::new(
                        3000 + i,
                        Element::M_ME_NB_1(Scaled(i as i16 * 100 - 2500), q(i)),
                    )
                })
                .collect(),
        ),
        (
            TypeId::M_DP_TB_1,
            Cause::Spontaneous,
            false,
            (0..3)
                .map(|i| {
                    InformationObject::new(
                        4000 + i,
                        Element::M_DP_TB_1(DoublePoint(1 + (i % 2) as u8), t),
                    )
                })
                .collect(),
        ),
        (
            TypeId::M_IT_NA_1,
            Cause::RequestedByGeneralCounter,
            false,
            (0..8)
                .map(|i| {
                    InformationObject::new(
                        5000 + i,
                        Element::M_IT_NA_1(BinaryCounter::new(
                            i as i32 * 1000,
                            i as u8,
                            false,
                            false,
                            false,
                        )),
                    )
                })
                .collect(),
        ),
        (
            TypeId::M_ME_TF_1,
            Cause::Spontaneous,
            false,
            (0..4)
                .map(|i| {
                    InformationObject::new(6000 + i, Element::M_ME_TF_1(230.0 + i as f32, q(i), t))
                })
                .collect(),
        ),
    ]
}

/// Builds one ASDU of the corpus.
pub fn build_asdu(t: TypeId, cause: Cause, sq: bool, objs: &[InformationObject<'_>]) -> Asdu {
    let mut b = AsduBuilder::new(t, Cot::new(cause), 47).sequence(sq);
    for o in objs {
        b.push(*o).expect("corpus objects fit");
    }
    b.build().expect("corpus ASDUs are not empty")
}

/// Wraps an ASDU in an I-frame APCI: 0x68, length, N(S) and N(R) shifted left by one, LE.
pub fn apdu(asdu: &[u8], ns: u16, nr: u16, out: &mut Vec<u8>) {
    out.push(0x68);
    out.push((asdu.len() + 4) as u8);
    out.extend_from_slice(&(ns << 1).to_le_bytes());
    out.extend_from_slice(&(nr << 1).to_le_bytes());
    out.extend_from_slice(asdu);
}

/// The corpus as complete APDUs.
pub fn apdus() -> Vec<Vec<u8>> {
    objects()
        .iter()
        .enumerate()
        .map(|(i, (t, c, sq, o))| {
            let mut v = Vec::new();
            apdu(build_asdu(*t, *c, *sq, o).as_bytes(), i as u16, 0, &mut v);
            v
        })
        .collect()
}

/// Folds every field of the object into the accumulator (so nothing can be optimized away).
#[inline(always)]
pub fn consume(acc: u64, o: &InformationObject<'_>) -> u64 {
    let time = |t: &Cp56Time2a| {
        u64::from(t.millis)
            ^ u64::from(t.minute) << 16
            ^ u64::from(t.hour) << 24
            ^ u64::from(t.day) << 32
            ^ u64::from(t.month) << 40
            ^ u64::from(t.year) << 48
            ^ u64::from(t.weekday) << 56
            ^ u64::from(t.invalid) << 60
            ^ u64::from(t.summer_time) << 61
            ^ u64::from(t.substituted) << 62
    };
    let v = match o.element {
        Element::M_ME_NC_1(f, q) => u64::from(f.to_bits()) ^ u64::from(q.quality().bits()),
        Element::M_SP_TB_1(s, t) => u64::from(s.value()) ^ u64::from(s.quality().bits()) ^ time(&t),
        Element::M_ME_NB_1(s, q) => s.0 as u64 ^ u64::from(q.quality().bits()),
        Element::M_DP_TB_1(d, t) => d.state() as u64 ^ u64::from(d.quality().bits()) ^ time(&t),
        Element::M_IT_NA_1(c) => {
            c.value as u64 ^ u64::from(c.sequence()) ^ u64::from(c.quality().bits())
        }
        Element::M_ME_TF_1(f, q, t) => {
            u64::from(f.to_bits()) ^ u64::from(q.quality().bits()) ^ time(&t)
        }
        _ => 0,
    };
    acc.wrapping_mul(31).wrapping_add(v ^ u64::from(o.ioa))
}

/// Parses every APDU (APCI checks, then the ASDU) and consumes every object.
#[inline(never)]
pub fn decode_all(apdus: &[Vec<u8>]) -> (u64, u64) {
    let mut acc = 0u64;
    let mut n = 0u64;
    for a in apdus {
        // APCI: start octet, length, I-format (bit 0 of control octet 1 clear).
        let [0x68, len, c1, _, _, _, ..] = a[..] else {
            continue;
        };
        if usize::from(len) + 2 != a.len() || c1 & 1 != 0 {
            continue;
        }
        let Some(asdu) = a.get(6..) else { continue };
        let Ok(view) = AsduView::parse(asdu, &AsduParams::IEC104) else {
            continue;
        };
        acc ^= u64::from(view.header().common_address) ^ u64::from(view.header().cot.cause.as_u8());
        for o in view.objects() {
            acc = consume(acc, &o);
            n += 1;
        }
    }
    (acc, n)
}

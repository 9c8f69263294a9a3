//! ASDU structure: SQ=0 and SQ=1, IEC 60870-5-101 field sizes, refused lengths, unknown
//! type ids, the builder's checks and the convenience constructors. Octets are derived by
//! hand from IEC 60870-5-101 §7.2 (data unit identifier) and §7.3 (objects).

use bytes::Bytes;
use iec104::asdu::*;
use iec104::cot::{Cause, Cot};
use iec104::time::Cp56Time2a;
use iec104::type_id::TypeId;

#[test]
fn sq0_each_object_has_its_address() {
    // M_SP_NA_1 (1), VSQ 0x02 (SQ=0, 2 objects), COT 0x14 0x00 (inrogen), CA 0x2F 0x00;
    // object 1: IOA 01 00 00, SIQ 0x01 (ON); object 2: IOA 56 34 12 = 0x123456, SIQ 0x00.
    let b = [
        0x01, 0x02, 0x14, 0x00, 0x2F, 0x00, 0x01, 0x00, 0x00, 0x01, 0x56, 0x34, 0x12, 0x00,
    ];
    let v = AsduView::parse(&b, &AsduParams::IEC104).unwrap();
    assert_eq!(v.header().cot.cause, Cause::InterrogatedByStation);
    assert_eq!(v.len(), 2);
    let mut it = v.objects();
    assert_eq!(it.len(), 2);
    it.next();
    assert_eq!(it.len(), 1);
    assert_eq!((&v).into_iter().count(), 2);
    assert_eq!(decode_all(&b, &AsduParams::IEC104), Ok(2));
    let o: Vec<_> = v.objects().collect();
    assert_eq!(
        o[0],
        InformationObject::new(1, Element::M_SP_NA_1(SinglePoint(0x01)))
    );
    assert_eq!(
        o[1],
        InformationObject::new(0x12_3456, Element::M_SP_NA_1(SinglePoint(0x00)))
    );
}

#[test]
fn sq1_addresses_increment_from_the_first() {
    // M_ME_NB_1 (11), VSQ 0x83 (SQ=1, 3 elements), COT 0x01 0x00 (per/cyc), CA 0x2F 0x00;
    // one IOA 0A 00 00 = 10; then SVA+QDS ×3: 01 00|00, 02 00|00, 03 00|01 (OV).
    let b = [
        0x0B, 0x83, 0x01, 0x00, 0x2F, 0x00, 0x0A, 0x00, 0x00, 0x01, 0x00, 0x00, 0x02, 0x00, 0x00,
        0x03, 0x00, 0x01,
    ];
    let v = AsduView::parse(&b, &AsduParams::IEC104).unwrap();
    assert!(v.header().sequence);
    let o: Vec<_> = v.objects().collect();
    assert_eq!(o.len(), 3);
    for (k, obj) in o.iter().enumerate() {
        assert_eq!(obj.ioa, 10 + k as u32);
        let Element::M_ME_NB_1(s, q) = obj.element else {
            panic!()
        };
        assert_eq!(s.0, k as i16 + 1);
        assert_eq!(q.quality().contains(Quality::OV), k == 2);
    }
    // The builder with SQ=1 writes one IOA only, giving back the same octets.
    let mut builder =
        AsduBuilder::new(TypeId::M_ME_NB_1, Cot::new(Cause::Periodic), 47).sequence(true);
    for obj in &o {
        builder.push(*obj).unwrap();
    }
    assert_eq!(builder.build().unwrap().as_bytes(), &b[..]);
    // An SQ=1 sequence must be consecutive.
    let mut builder =
        AsduBuilder::new(TypeId::M_ME_NB_1, Cot::new(Cause::Periodic), 47).sequence(true);
    builder.push(o[0]).unwrap();
    let err = builder.push(o[2]).unwrap_err();
    assert!(
        matches!(
            err,
            AsduError::BadAddress {
                ioa: 12,
                expected: Some(11),
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn cs101_field_sizes() {
    // COT 1 octet, CA 1 octet, IOA 1 octet: M_SP_NA_1, VSQ 0x02, COT 0x03, CA 0x07;
    // IOA 05, SIQ 01; IOA 06, SIQ 00.
    let p1 = AsduParams {
        cot_size: 1,
        ca_size: 1,
        ioa_size: 1,
    };
    let b = [0x01, 0x02, 0x03, 0x07, 0x05, 0x01, 0x06, 0x00];
    let v = AsduView::parse(&b, &p1).unwrap();
    assert_eq!(v.header().common_address, 7);
    assert_eq!(v.header().cot.originator, 0);
    let o: Vec<_> = v.objects().collect();
    assert_eq!((o[0].ioa, o[1].ioa), (5, 6));
    let mut builder =
        AsduBuilder::new(TypeId::M_SP_NA_1, Cot::new(Cause::Spontaneous), 7).params(p1);
    builder.push(o[0]).unwrap();
    builder.push(o[1]).unwrap();
    assert_eq!(builder.build().unwrap().as_bytes(), &b[..]);
    // The same octets read with IEC 104 sizes are too short for the header + objects.
    assert!(AsduView::parse(&b, &AsduParams::IEC104).is_err());

    // IOA 2 octets: M_ME_NC_1, VSQ 0x01, COT 0x03, CA 0x07, IOA 34 12 = 0x1234,
    // R32 00 00 80 3F = 1.0, QDS 00.
    let p2 = AsduParams {
        cot_size: 1,
        ca_size: 1,
        ioa_size: 2,
    };
    let b = [
        0x0D, 0x01, 0x03, 0x07, 0x34, 0x12, 0x00, 0x00, 0x80, 0x3F, 0x00,
    ];
    let v = AsduView::parse(&b, &p2).unwrap();
    let o: Vec<_> = v.objects().collect();
    assert_eq!(
        o,
        [InformationObject::new(
            0x1234,
            Element::M_ME_NC_1(1.0, Qds(0))
        )]
    );
    // An IOA wider than 2 octets is refused by the builder.
    let mut builder =
        AsduBuilder::new(TypeId::M_ME_NC_1, Cot::new(Cause::Spontaneous), 7).params(p2);
    assert!(matches!(
        builder.push(InformationObject::new(
            0x1_0000,
            Element::M_ME_NC_1(1.0, Qds(0))
        )),
        Err(AsduError::BadAddress {
            ioa: 0x1_0000,
            expected: None,
            ..
        })
    ));
    // Invalid sizes are refused, not guessed.
    let bad = AsduParams {
        cot_size: 3,
        ca_size: 2,
        ioa_size: 3,
    };
    assert!(matches!(
        AsduView::parse(&b, &bad),
        Err(AsduError::InvalidParams(_))
    ));
    for ioa_size in [0, 4, 255] {
        let bad = AsduParams {
            cot_size: 2,
            ca_size: 2,
            ioa_size,
        };
        let mut builder =
            AsduBuilder::new(TypeId::M_ME_NC_1, Cot::new(Cause::Spontaneous), 7).params(bad);
        let obj = InformationObject::new(1, Element::M_ME_NC_1(1.0, Qds(0)));
        assert_eq!(builder.push(obj), Err(AsduError::InvalidParams(bad)));
    }
    // A CA of 300 and an originator do not fit CS101 one-octet fields: the header of the
    // result says what was sent (CA 300 & 0xFF = 44, originator 0).
    let mut builder = AsduBuilder::new(
        TypeId::M_ME_NC_1,
        Cot::new(Cause::Spontaneous).with_originator(5),
        300,
    )
    .params(p2);
    builder.push(o[0]).unwrap();
    let a = builder.build().unwrap();
    assert_eq!(&a.as_bytes()[..4], &[0x0D, 0x01, 0x03, 0x2C]);
    assert_eq!(
        (a.header().common_address, a.header().cot.originator),
        (44, 0)
    );
    assert_eq!(a.view().header(), a.header());
}

#[test]
fn zero_objects_is_an_error() {
    // IEC 60870-5-101 §7.2.2: the number of information objects/elements is 1..=127
    // ("0 = no information object" is not a valid ASDU for a defined type).
    let b = [0x01, 0x00, 0x03, 0x00, 0x2F, 0x00];
    let err = AsduView::parse(&b, &AsduParams::IEC104).unwrap_err();
    assert!(
        matches!(err, AsduError::NoObjects { type_id: 1, .. }),
        "{err}"
    );
    // The message carries the octets for the log.
    assert!(err.to_string().contains("01 00 03 00 2f 00"), "{err}");
    // A builder with nothing pushed is refused the same way.
    let b = AsduBuilder::new(TypeId::M_SP_NA_1, Cot::new(Cause::Spontaneous), 1);
    assert!(matches!(b.build(), Err(AsduError::NoObjects { .. })));
}

#[test]
fn short_and_long_lengths_are_refused() {
    // M_ME_NC_1 with one object: 6 header + 3 IOA + 5 = 14 octets.
    let ok = [
        0x0D, 0x01, 0x03, 0x00, 0x2F, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3F, 0x00,
    ];
    assert!(AsduView::parse(&ok, &AsduParams::IEC104).is_ok());
    let err = AsduView::parse(&ok[..13], &AsduParams::IEC104).unwrap_err();
    assert!(
        matches!(
            err,
            AsduError::LengthMismatch {
                type_id: 13,
                expected: 14,
                actual: 13,
                ..
            }
        ),
        "{err}"
    );
    let mut long = ok.to_vec();
    long.push(0xEE);
    let err = AsduView::parse(&long, &AsduParams::IEC104).unwrap_err();
    assert!(
        matches!(
            err,
            AsduError::LengthMismatch {
                type_id: 13,
                expected: 14,
                actual: 15,
                ..
            }
        ),
        "{err}"
    );
    // VSQ says 2 objects but only one is there.
    let mut two = ok;
    two[1] = 0x02;
    assert!(matches!(
        AsduView::parse(&two, &AsduParams::IEC104),
        Err(AsduError::LengthMismatch {
            expected: 22,
            actual: 14,
            ..
        })
    ));
    // Shorter than the header.
    for n in 0..6 {
        assert!(matches!(
            AsduView::parse(&ok[..n], &AsduParams::IEC104),
            Err(AsduError::TruncatedHeader { expected: 6, .. })
        ));
    }
    // Asdu::parse refuses the same.
    assert!(Asdu::parse(Bytes::copy_from_slice(&long), AsduParams::IEC104).is_err());
}

#[test]
fn segment_lengths_are_walked() {
    // F_SG_NA_1 (125), VSQ 0x01, COT 0x0D 0x00 (file), CA 0x2F 0x00, IOA 01 00 00,
    // NOF 01 00, NOS 01, LOS 02, data AA BB.
    let b = [
        0x7D, 0x01, 0x0D, 0x00, 0x2F, 0x00, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x02, 0xAA, 0xBB,
    ];
    let v = AsduView::parse(&b, &AsduParams::IEC104).unwrap();
    let o: Vec<_> = v.objects().collect();
    assert_eq!(
        o[0].element,
        Element::F_SG_NA_1(Segment {
            file: 1,
            section: 1,
            data: &[0xAA, 0xBB]
        })
    );
    // LOS 03 runs past the end.
    let mut over = b;
    over[12] = 0x03;
    let err = AsduView::parse(&over, &AsduParams::IEC104).unwrap_err();
    assert!(
        matches!(
            err,
            AsduError::SegmentOverrun {
                type_id: 125,
                offset: 9,
                needed: 7,
                available: 6
            }
        ),
        "{err}"
    );
    // LOS 01 leaves a trailing octet.
    let mut under = b;
    under[12] = 0x01;
    assert!(matches!(
        AsduView::parse(&under, &AsduParams::IEC104),
        Err(AsduError::LengthMismatch {
            expected: 14,
            actual: 15,
            ..
        })
    ));
    // Header of the segment cut short.
    assert!(matches!(
        AsduView::parse(&b[..11], &AsduParams::IEC104),
        Err(AsduError::SegmentOverrun { .. })
    ));
    // A segment longer than LOS can say is refused by the builder.
    let data = [0u8; 256];
    let mut builder = AsduBuilder::new(TypeId::F_SG_NA_1, Cot::new(Cause::FileTransfer), 47);
    let seg = Segment {
        file: 1,
        section: 1,
        data: &data,
    };
    assert!(matches!(
        builder.push(InformationObject::new(1, Element::F_SG_NA_1(seg))),
        Err(AsduError::SegmentTooLong { len: 256 })
    ));
}

#[test]
fn unknown_type_ids_are_raw_views() {
    // 0 and 22 are unassigned, 41 is S_IT_TC_1 of the IEC 60870-5-7 security extension (not a
    // 101/104 type), 128..=255 are reserved for private use; none may be an error nor a panic.
    for t in [0u8, 22, 41, 128, 255] {
        for body in [&[][..], &[0x01, 0x02, 0x03][..], &[0xFF; 300][..]] {
            let mut b = vec![t, 0x85, 0x03, 0x00, 0x2F, 0x00];
            b.extend_from_slice(body);
            let v = AsduView::parse(&b, &AsduParams::IEC104).unwrap();
            assert_eq!(v.type_id(), None);
            assert_eq!(v.header().type_id, t);
            assert_eq!(v.header().count, 5);
            assert_eq!(v.objects().count(), 0);
            assert!(v.is_empty());
            assert_eq!(v.raw_body(), body);
            let a = Asdu::parse(Bytes::from(b.clone()), AsduParams::IEC104).unwrap();
            assert_eq!(a.view().raw_body(), body);
            assert_eq!(a.type_id(), None);
        }
    }
}

#[test]
fn builder_limits() {
    let cot = Cot::new(Cause::Spontaneous);
    // Wrong element type.
    let mut b = AsduBuilder::new(TypeId::M_ME_NC_1, cot, 1);
    let err = b
        .push(InformationObject::new(
            1,
            Element::M_SP_NA_1(SinglePoint(1)),
        ))
        .unwrap_err();
    assert_eq!(
        err,
        AsduError::TypeMismatch {
            expected: 13,
            actual: 1
        }
    );
    // M_ME_TF_1 is 3 + 12 = 15 octets per object: 6 + 16 × 15 = 246 fits, a 17th (261) not.
    let obj =
        |ioa| InformationObject::new(ioa, Element::M_ME_TF_1(1.0, Qds(0), Cp56Time2a::default()));
    for i in 0..16 {
        b = AsduBuilder::new(TypeId::M_ME_TF_1, cot, 1);
        for k in 0..=i {
            b.push(obj(k)).unwrap();
        }
    }
    assert_eq!(b.len(), 16);
    let err = b.push(obj(99)).unwrap_err();
    assert_eq!(
        err,
        AsduError::TooLong {
            type_id: 36,
            len: 261,
            count: 17
        }
    );
    let asdu = b.build().unwrap();
    assert_eq!(asdu.as_bytes().len(), 246);
    assert_eq!(asdu.header().count, 16);
    // At most 127 objects even when they are small: SQ=1 single points, 6 + 3 + 127 = 136.
    let mut b = AsduBuilder::new(TypeId::M_SP_NA_1, cot, 1).sequence(true);
    for k in 0..127 {
        b.push(InformationObject::new(
            100 + k,
            Element::M_SP_NA_1(SinglePoint(0)),
        ))
        .unwrap();
    }
    let err = b
        .push(InformationObject::new(
            227,
            Element::M_SP_NA_1(SinglePoint(0)),
        ))
        .unwrap_err();
    assert!(
        matches!(err, AsduError::TooLong { count: 128, .. }),
        "{err}"
    );
    let asdu = b.build().unwrap();
    assert_eq!(asdu.as_bytes().len(), 136);
    assert_eq!(asdu.as_bytes()[1], 0x80 | 127);
    let v = asdu.view();
    assert_eq!(v.objects().last().unwrap().ioa, 226);
}

#[test]
fn one_object_types_take_one_object() {
    // §7.3.2/7.3.4/7.3.6: commands, system commands and file transfer (except the directory)
    // have VSQ = 0x01.
    let cot = Cot::new(Cause::Activation);
    for (t, e) in [
        (TypeId::C_SC_NA_1, Element::C_SC_NA_1(SingleCommand(1))),
        (TypeId::C_IC_NA_1, Element::C_IC_NA_1(Qoi::STATION)),
        (TypeId::M_EI_NA_1, Element::M_EI_NA_1(Coi(0))),
        (
            TypeId::F_AF_NA_1,
            Element::F_AF_NA_1(FileCommand::default()),
        ),
    ] {
        let mut b = AsduBuilder::new(t, cot, 1);
        b.push(InformationObject::new(1, e)).unwrap();
        assert_eq!(
            b.push(InformationObject::new(2, e)),
            Err(AsduError::SingleObjectType { type_id: t.as_u8() })
        );
    }
    // A directory may list several files; monitor types many objects.
    let mut b =
        AsduBuilder::new(TypeId::F_DR_TA_1, Cot::new(Cause::FileTransfer), 1).sequence(true);
    for ioa in 0..3 {
        b.push(InformationObject::new(
            ioa,
            Element::F_DR_TA_1(DirectoryEntry::default()),
        ))
        .unwrap();
    }
    // Decoding stays lenient: two single commands in one ASDU are read as they are.
    // C_SC_NA_1, VSQ 0x02, COT 06 00, CA 01 00; IOA 01 00 00 SCO 01; IOA 02 00 00 SCO 00.
    let two = [
        0x2D, 0x02, 0x06, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00,
    ];
    assert_eq!(
        AsduView::parse(&two, &AsduParams::IEC104)
            .unwrap()
            .objects()
            .count(),
        2
    );
}

#[test]
fn convenience_constructors() {
    // C_IC_NA_1 (0x64), VSQ 01, COT 06 00 (act), CA FF FF (broadcast), IOA 00 00 00, QOI 0x14.
    let a = Asdu::interrogation(0xFFFF, Qoi::STATION, Cot::new(Cause::Activation));
    assert_eq!(
        a.as_bytes(),
        &[0x64, 0x01, 0x06, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x14]
    );
    // C_CI_NA_1 (0x65), COT 06 00, CA 2F 00, QCC 0x05 (general request, read).
    let a = Asdu::counter_interrogation(47, Qcc::new(5, 0), Cot::new(Cause::Activation));
    assert_eq!(
        a.as_bytes(),
        &[0x65, 0x01, 0x06, 0x00, 0x2F, 0x00, 0x00, 0x00, 0x00, 0x05]
    );
    // C_CS_NA_1 (0x67) with T56 = AB 75 0F 0A 58 0B 1A (see tests/every_type.rs).
    let t = Cp56Time2a::decode(&[0xAB, 0x75, 0x0F, 0x0A, 0x58, 0x0B, 0x1A]);
    let a = Asdu::clock_sync(47, t, Cot::new(Cause::Activation));
    assert_eq!(
        a.as_bytes(),
        &[
            0x67, 0x01, 0x06, 0x00, 0x2F, 0x00, 0x00, 0x00, 0x00, 0xAB, 0x75, 0x0F, 0x0A, 0x58,
            0x0B, 0x1A
        ]
    );
    // Asdu::single takes the type from the element; P/N and originator go into octets 3-4:
    // COT 0x47 = P/N | actcon (7), originator 3.
    let a = Asdu::single(
        Cot::new(Cause::ActivationCon).negative().with_originator(3),
        47,
        InformationObject::new(999, Element::C_SC_NA_1(SingleCommand(0x01))),
    )
    .unwrap();
    assert_eq!(
        a.as_bytes(),
        &[0x2D, 0x01, 0x47, 0x03, 0x2F, 0x00, 0xE7, 0x03, 0x00, 0x01]
    );
    assert_eq!(
        Asdu::parse(a.clone().into_bytes(), AsduParams::IEC104).unwrap(),
        a
    );
}

/// `AsduView::reply`: the answer of a station mirrors the request (IEC 60870-5-101 §7.2.3:
/// COT octet bit 8 T, bit 7 P/N, bits 1-6 cause) with only cause and P/N replaced.
#[test]
fn reply_replaces_cause_and_pn_and_keeps_the_rest() {
    // C_DC_NA_1, SQ=0 n=1, COT 0x86 = T | act (6), originator 5, CA 0x012F, IOA 0x0A0B0C,
    // DCO 0x82 = S/E | ON.
    let request = [46, 0x01, 0x86, 0x05, 0x2F, 0x01, 0x0C, 0x0B, 0x0A, 0x82];
    let view = AsduView::parse(&request, &AsduParams::IEC104).unwrap();
    // Negative ActCon: 0x80 | 0x40 | 7 = 0xC7; originator, CA, IOA and DCO untouched.
    let con = view.reply(Cause::ActivationCon, true);
    assert_eq!(
        con.as_bytes(),
        &[46, 0x01, 0xC7, 0x05, 0x2F, 0x01, 0x0C, 0x0B, 0x0A, 0x82]
    );
    assert_eq!(con.header().cot.cause, Cause::ActivationCon);
    assert!(con.header().cot.negative && con.header().cot.test);
    assert_eq!(con.header().cot.originator, 5);
    // Positive ActTerm of a request that was negative: P/N cleared, 0x80 | 10 = 0x8A.
    let term = con.view().reply(Cause::ActivationTerm, false);
    assert_eq!(term.as_bytes()[2], 0x8A);
    // Unknown IOA (47 = 0x2F), negative: 0x80 | 0x40 | 0x2F = 0xEF.
    assert_eq!(
        view.reply(Cause::UnknownObjectAddress, true).as_bytes()[2],
        0xEF
    );
    // IEC 60870-5-101 sizes (COT 1, CA 1, IOA 2): C_IC_NA_1 act, CA 7, IOA 0, QOI 20.
    let p = AsduParams {
        cot_size: 1,
        ca_size: 1,
        ioa_size: 2,
    };
    let request = [100, 0x01, 0x06, 0x07, 0x00, 0x00, 20];
    let view = AsduView::parse(&request, &p).unwrap();
    let con = view.reply(Cause::ActivationCon, false);
    assert_eq!(con.as_bytes(), &[100, 0x01, 0x07, 0x07, 0x00, 0x00, 20]);
    assert_eq!(con.params(), &p);
}

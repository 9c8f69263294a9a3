//! From decoded IEC 104 information elements to point values, so that a driver maps an
//! object with one call.

use iec104::asdu::{AsduView, Element, Quality, TimeTag};
use iec104::cot::Cause;
use iec104::type_id::TypeId;

use crate::edge::PointUpdate;
use crate::point::{PointAddress, PointValue};

/// The value and quality of a monitoring element; `None` for an element that is not mapped
/// to a metric (commands, system types, protection events, packed single points, files).
/// M_ME_ND_1 has no quality descriptor: it is reported good.
pub fn point_value(element: &Element<'_>) -> Option<(PointValue, Quality)> {
    use Element as E;
    let value = match *element {
        E::M_SP_NA_1(s) | E::M_SP_TA_1(s, _) | E::M_SP_TB_1(s, _) => PointValue::Single(s.value()),
        E::M_DP_NA_1(d) | E::M_DP_TA_1(d, _) | E::M_DP_TB_1(d, _) => PointValue::Double(d.dpi()),
        E::M_ST_NA_1(v, _) | E::M_ST_TA_1(v, _, _) | E::M_ST_TB_1(v, _, _) => PointValue::Step {
            value: v.value(),
            transient: v.transient(),
        },
        E::M_BO_NA_1(b, _) | E::M_BO_TA_1(b, _, _) | E::M_BO_TB_1(b, _, _) => {
            PointValue::Bitstring(b.0)
        }
        E::M_ME_NA_1(n, _) | E::M_ME_TA_1(n, _, _) | E::M_ME_TD_1(n, _, _) | E::M_ME_ND_1(n) => {
            PointValue::Normalized(n.to_f32())
        }
        E::M_ME_NB_1(s, _) | E::M_ME_TB_1(s, _, _) | E::M_ME_TE_1(s, _, _) => {
            PointValue::Scaled(s.0)
        }
        E::M_ME_NC_1(f, _) | E::M_ME_TC_1(f, _, _) | E::M_ME_TF_1(f, _, _) => PointValue::Float(f),
        E::M_IT_NA_1(c) | E::M_IT_TA_1(c, _) | E::M_IT_TB_1(c, _) => PointValue::Counter {
            value: c.value,
            sequence: c.flags & 0x1F,
        },
        _ => return None,
    };
    Some((value, element.quality().unwrap_or(Quality::GOOD)))
}

/// The CP56Time2a time tag of an element in milliseconds since the Unix epoch (read as UTC;
/// a driver with RTUs on local time shifts it first). `None` without a CP56Time2a tag, or
/// with one marked invalid (IV bit) or that is not a valid date. CP24Time2a tags need the receiver's clock and are left
/// to the driver.
pub fn cp56_millis(element: &Element<'_>) -> Option<u64> {
    match element.time_tag()? {
        TimeTag::Cp56(t) if !t.invalid => u64::try_from(t.to_utc()?.timestamp_millis()).ok(),
        TimeTag::Cp56(_) => None,
        TimeTag::Cp24(_) => None,
    }
}

/// The point updates of an ASDU: one per monitored object of a mapped type, with its
/// CP56Time2a tag (written in the RTU's time zone, `tz_offset_secs` east of UTC) as UTC
/// milliseconds. Other objects give nothing.
pub fn updates<'a>(
    view: &AsduView<'a>,
    tz_offset_secs: i32,
) -> impl Iterator<Item = PointUpdate> + 'a {
    let ca = view.header().common_address;
    let interrogated = (20..=41).contains(&view.header().cot.cause.as_u8());
    let shift = i64::from(tz_offset_secs) * 1000;
    view.objects().filter_map(move |object| {
        let (value, quality) = point_value(&object.element)?;
        let time_tag_ms = cp56_millis(&object.element)
            .and_then(|t| u64::try_from(i64::try_from(t).ok()?.checked_sub(shift)?).ok());
        Some(PointUpdate {
            address: PointAddress {
                ca,
                ioa: object.ioa,
            },
            value,
            quality,
            time_tag_ms,
            interrogated,
        })
    })
}

/// True for the positive ACTTERM of a station interrogation (C_IC_NA_1, QOI 20): the RTU
/// has sent every value, so its device can be born.
pub fn ends_interrogation(view: &AsduView<'_>) -> bool {
    let h = view.header();
    view.type_id() == Some(TypeId::C_IC_NA_1)
        && h.cot.cause == Cause::ActivationTerm
        && !h.cot.negative
        && view
            .objects()
            .any(|o| matches!(o.element, Element::C_IC_NA_1(q) if q == iec104::asdu::Qoi::STATION))
}

#[cfg(test)]
mod tests {
    use super::*;
    use iec104::asdu::{BinaryCounter, DoublePoint, DoubleState, Qds, Scaled, StepPosition};
    use iec104::time::Cp56Time2a;

    #[test]
    fn monitoring_elements_become_point_values_with_their_quality() {
        let d = Element::M_DP_NA_1(DoublePoint::new(DoubleState::On, Quality::BL));
        assert_eq!(point_value(&d), Some((PointValue::Double(2), Quality::BL)));
        let s = Element::M_ST_NA_1(StepPosition::new(-64, true), Qds::new(Quality::OV));
        assert_eq!(
            point_value(&s),
            Some((
                PointValue::Step {
                    value: -64,
                    transient: true
                },
                Quality::OV
            ))
        );
        let m = Element::M_ME_NB_1(Scaled(-7), Qds::new(Quality::GOOD));
        assert_eq!(
            point_value(&m),
            Some((PointValue::Scaled(-7), Quality::GOOD))
        );
        let c = Element::M_IT_NA_1(BinaryCounter::new(9, 31, true, false, true));
        assert_eq!(
            point_value(&c),
            Some((
                PointValue::Counter {
                    value: 9,
                    sequence: 31
                },
                Quality::CY.union(Quality::IV)
            ))
        );
        assert_eq!(point_value(&Element::C_RD_NA_1), None);
    }

    #[test]
    fn an_asdu_gives_one_update_per_mapped_object_with_utc_time() {
        use iec104::asdu::{AsduBuilder, InformationObject};
        use iec104::cot::Cot;
        let t = Cp56Time2a {
            millis: 0,
            minute: 0,
            substituted: false,
            invalid: false,
            hour: 13,
            summer_time: false,
            day: 1,
            weekday: 5,
            month: 3,
            year: 24,
        };
        let mut b = AsduBuilder::new(TypeId::M_ME_TF_1, Cot::new(Cause::Spontaneous), 7);
        for (ioa, v) in [(10, 1.5f32), (11, -2.0)] {
            let pushed = b.push(InformationObject::new(
                ioa,
                Element::M_ME_TF_1(v, Qds::new(Quality::NT), t),
            ));
            assert!(pushed.is_ok());
        }
        let asdu = b.build().unwrap_or_else(|e| panic!("{e}"));
        // 13:00 at UTC+1 is 12:00 UTC: 2024-03-01T12:00:00Z = 1709294400000 ms.
        let got: Vec<_> = updates(&asdu.view(), 3600).collect();
        assert_eq!(
            got,
            [
                PointUpdate {
                    address: PointAddress { ca: 7, ioa: 10 },
                    value: PointValue::Float(1.5),
                    quality: Quality::NT,
                    time_tag_ms: Some(1_709_294_400_000),
                    interrogated: false,
                },
                PointUpdate {
                    address: PointAddress { ca: 7, ioa: 11 },
                    value: PointValue::Float(-2.0),
                    quality: Quality::NT,
                    time_tag_ms: Some(1_709_294_400_000),
                    interrogated: false,
                },
            ]
        );
    }

    #[test]
    fn only_the_positive_actterm_of_a_station_interrogation_ends_it() {
        use iec104::asdu::{Asdu, Qoi};
        use iec104::cot::Cot;
        let term = Cot::new(Cause::ActivationTerm);
        assert!(ends_interrogation(
            &Asdu::interrogation(1, Qoi::STATION, term).view()
        ));
        assert!(
            !ends_interrogation(&Asdu::interrogation(1, Qoi(21), term).view()),
            "a group"
        );
        let con = Cot::new(Cause::ActivationCon);
        assert!(!ends_interrogation(
            &Asdu::interrogation(1, Qoi::STATION, con).view()
        ));
        let negative = Cot {
            negative: true,
            ..term
        };
        assert!(!ends_interrogation(
            &Asdu::interrogation(1, Qoi::STATION, negative).view()
        ));
    }

    #[test]
    fn a_cp56_tag_is_milliseconds_since_the_epoch() {
        // 2024-03-01 12:34:56.789 UTC = 1709296496789 ms.
        let mut t = Cp56Time2a {
            millis: 56_789,
            minute: 34,
            substituted: false,
            invalid: false,
            hour: 12,
            summer_time: false,
            day: 1,
            weekday: 5,
            month: 3,
            year: 24,
        };
        let e = Element::M_ME_TF_1(1.0, Qds::new(Quality::GOOD), t);
        assert_eq!(cp56_millis(&e), Some(1_709_296_496_789));
        t.invalid = true;
        let e = Element::M_ME_TF_1(1.0, Qds::new(Quality::GOOD), t);
        assert_eq!(cp56_millis(&e), None, "an invalid tag is not a time");
        assert_eq!(
            cp56_millis(&Element::M_ME_NC_1(1.0, Qds::new(Quality::GOOD))),
            None
        );
    }
}

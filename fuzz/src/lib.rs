//! Shared helpers of the fuzz targets: read every field of decoded objects, so that the
//! fuzzer exercises every accessor and formatter and not only the length checks.
#![forbid(unsafe_code)]

use std::fmt::{self, Write};
use std::hint::black_box;

use iec104::asdu::{AsduHeader, AsduView, DoubleState, TimeTag};
use iec104::asdu::{
    BinaryCounter, Bitstring, Coi, DirectoryEntry, DoubleCommand, DoublePoint, Element, Fbp,
    FileCommand, FileReady, InformationObject, LastSection, Normalized, OutputCircuit,
    ProtectionEvent, Qcc, Qdp, Qds, Qoi, Qos, Qpa, Qpm, Qrp, Quality, QueryLog, Scaled,
    SectionReady, SingleCommand, SinglePoint, StartEvents, StatusChange, StepCommand, StepPosition,
    Tsc,
};
use iec104::json::JsonObject;
use iec104::time::{Cp16Time2a, Cp24Time2a, Cp56Time2a};

/// A `fmt::Write` that only counts: formatting reads every field without allocating.
#[derive(Default)]
pub struct Sink(pub usize);

impl Write for Sink {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

/// Formats `v` with `{:?}` into a [`Sink`] and returns the length.
pub fn debug_len<T: fmt::Debug + ?Sized>(v: &T) -> usize {
    let mut s = Sink::default();
    let _ = write!(s, "{v:?}");
    s.0
}

/// Formats `v` with `{}` into a [`Sink`] and returns the length.
pub fn display_len<T: fmt::Display + ?Sized>(v: &T) -> usize {
    let mut s = Sink::default();
    let _ = write!(s, "{v}");
    s.0
}

/// Reads every accessor of a decoded element.
pub trait Touch {
    /// Calls every accessor and feeds the results to `black_box`.
    fn touch(&self);
}

fn quality(q: Quality) {
    black_box(q.bits());
    black_box(q.is_good());
    for n in q.iter_names() {
        // Every name a quality reports must parse back to a flag it contains.
        let flag = Quality::from_name(n).expect("iter_names yields a known name");
        assert!(q.contains(flag), "{q:?} does not contain its own flag {n}");
    }
    black_box(display_len(&q));
    black_box(debug_len(&q));
}

macro_rules! touch {
    ($t:ty, |$v:ident| $body:block) => {
        impl Touch for $t {
            fn touch(&self) {
                let $v = *self;
                black_box(debug_len(&$v));
                $body
            }
        }
    };
}

touch!(SinglePoint, |v| {
    black_box((v.raw(), v.value()));
    quality(v.quality());
});
touch!(DoublePoint, |v| {
    black_box((v.raw(), v.state(), v.dpi()));
    touch_state(v.state());
    quality(v.quality());
});
touch!(Qds, |v| {
    black_box(v.raw());
    quality(v.quality());
});
touch!(StepPosition, |v| {
    black_box((v.raw(), v.value(), v.transient()));
    // VTI value is 7-bit two's complement: -64..=63.
    assert!((-64..=63).contains(&v.value()), "{v:?}");
});
touch!(Bitstring, |v| {
    black_box(v.0);
});
touch!(Normalized, |v| {
    let f = v.to_f32();
    assert!((-1.0..1.0).contains(&f), "{v:?} -> {f}");
    assert_eq!(Normalized::from_f32(f), v, "{v:?} -> {f} does not map back");
    black_box(f);
});
touch!(Scaled, |v| {
    black_box(v.0);
});
touch!(f32, |v| {
    black_box(v.to_bits());
});
touch!(BinaryCounter, |v| {
    black_box((v.value, v.sequence(), v.carry(), v.adjusted(), v.invalid()));
    quality(v.quality());
});
touch!(ProtectionEvent, |v| {
    black_box((v.raw(), v.state()));
    touch_state(v.state());
    quality(v.quality());
});
touch!(StartEvents, |v| {
    black_box((v.raw(), v.general(), v.phases(), v.earth(), v.reverse()));
    assert!(v.iter_names().count() <= 6);
});
touch!(OutputCircuit, |v| {
    black_box((v.raw(), v.general(), v.phases()));
    assert!(v.iter_names().count() <= 4);
});
touch!(Qdp, |v| {
    black_box(v.raw());
    quality(v.quality());
});
touch!(StatusChange, |v| {
    black_box((v.status, v.change));
});
touch!(SingleCommand, |v| {
    black_box((v.raw(), v.value(), v.qualifier(), v.select()));
});
touch!(DoubleCommand, |v| {
    black_box((v.raw(), v.state(), v.qualifier(), v.select()));
    touch_state(v.state());
});
touch!(StepCommand, |v| {
    black_box((v.raw(), v.state(), v.qualifier(), v.select()));
    touch_state(v.state());
});
touch!(Qos, |v| {
    black_box((v.raw(), v.ql(), v.select()));
});
touch!(Qoi, |v| {
    black_box((v.raw(), v.group()));
});
touch!(Qcc, |v| {
    black_box((v.raw(), v.request(), v.freeze()));
});
touch!(Qrp, |v| {
    black_box(v.raw());
});
touch!(Qpm, |v| {
    black_box((v.raw(), v.kind(), v.local_change(), v.not_in_operation()));
});
touch!(Qpa, |v| {
    black_box(v.raw());
});
touch!(Coi, |v| {
    black_box((v.raw(), v.cause(), v.after_change()));
});
touch!(Fbp, |v| {
    black_box(v.0);
});
touch!(Tsc, |v| {
    black_box(v.0);
});
touch!(Cp16Time2a, |v| {
    black_box(v.millis);
});
touch!(Cp24Time2a, |v| {
    black_box((v.millis, v.minute, v.substituted, v.invalid));
    // Completing the tag from a receiver clock: the result is within half an hour of it
    // and carries the tag's minute and milliseconds.
    let now = reference_now();
    if let Some(t) = v.to_utc_near(&now) {
        use chrono::Timelike;
        assert!((t - now).num_minutes().abs() <= 31, "{v:?} -> {t}");
        assert_eq!(
            (t.minute(), t.second() * 1000 + t.nanosecond() / 1_000_000),
            (u32::from(v.minute), u32::from(v.millis)),
            "{v:?} -> {t}"
        );
    }
});
touch!(Cp56Time2a, |v| {
    // Range checks live in to_naive: it must refuse, never panic; what it accepts must
    // survive from_naive (same calendar fields).
    if let Some(t) = v.to_naive() {
        let back = Cp56Time2a::from_naive(&t);
        assert_eq!(
            (
                back.millis,
                back.minute,
                back.hour,
                back.day,
                back.month,
                back.year
            ),
            (v.millis, v.minute, v.hour, v.day, v.month, v.year),
            "{v:?} -> {t}"
        );
        black_box(v.to_utc());
    }
});
touch!(FileReady, |v| {
    black_box(v);
});
touch!(SectionReady, |v| {
    black_box(v);
});
touch!(FileCommand, |v| {
    black_box(v);
});
touch!(LastSection, |v| {
    black_box(v);
});
touch!(DirectoryEntry, |v| {
    black_box((
        v.file,
        v.length,
        v.sof.status(),
        v.sof.last_file(),
        v.sof.directory(),
        v.sof.active(),
    ));
    v.time.touch();
});
touch!(QueryLog, |v| {
    black_box(v.file);
    v.start.touch();
    v.stop.touch();
});

/// A fixed receiver clock for time completion and JSON (2026-11-24 10:00:05 UTC).
pub fn reference_now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_795_514_405, 0).unwrap_or_default()
}

fn touch_state(s: DoubleState) {
    assert_eq!(DoubleState::from_bits(s as u8), s);
    black_box(s.as_str());
}

/// Reads every field of one element (every variant, every accessor).
pub fn touch_element(e: &Element<'_>) {
    black_box(debug_len(e));
    black_box(e.type_id());
    if let Some(q) = e.quality() {
        quality(q);
    }
    match e.time_tag() {
        Some(TimeTag::Cp56(t)) => t.touch(),
        Some(TimeTag::Cp24(t)) => t.touch(),
        None => {}
    }
    match *e {
        Element::M_SP_NA_1(a) => {
            a.touch();
        }
        Element::M_SP_TA_1(a, b) => {
            a.touch();
            b.touch();
        }
        Element::M_DP_NA_1(a) => {
            a.touch();
        }
        Element::M_DP_TA_1(a, b) => {
            a.touch();
            b.touch();
        }
        Element::M_ST_NA_1(a, b) => {
            a.touch();
            b.touch();
        }
        Element::M_ST_TA_1(a, b, c) => {
            a.touch();
            b.touch();
            c.touch();
        }
        Element::M_BO_NA_1(a, b) => {
            a.touch();
            b.touch();
        }
        Element::M_BO_TA_1(a, b, c) => {
            a.touch();
            b.touch();
            c.touch();
        }
        Element::M_ME_NA_1(a, b) => {
            a.touch();
            b.touch();
        }
        Element::M_ME_TA_1(a, b, c) => {
            a.touch();
            b.touch();
            c.touch();
        }
        Element::M_ME_NB_1(a, b) => {
            a.touch();
            b.touch();
        }
        Element::M_ME_TB_1(a, b, c) => {
            a.touch();
            b.touch();
            c.touch();
        }
        Element::M_ME_NC_1(a, b) => {
            a.touch();
            b.touch();
        }
        Element::M_ME_TC_1(a, b, c) => {
            a.touch();
            b.touch();
            c.touch();
        }
        Element::M_IT_NA_1(a) => {
            a.touch();
        }
        Element::M_IT_TA_1(a, b) => {
            a.touch();
            b.touch();
        }
        Element::M_EP_TA_1(a, b, c) => {
            a.touch();
            b.touch();
            c.touch();
        }
        Element::M_EP_TB_1(a, b, c, d) => {
            a.touch();
            b.touch();
            c.touch();
            d.touch();
        }
        Element::M_EP_TC_1(a, b, c, d) => {
            a.touch();
            b.touch();
            c.touch();
            d.touch();
        }
        Element::M_PS_NA_1(a, b) => {
            a.touch();
            b.touch();
        }
        Element::M_ME_ND_1(a) => {
            a.touch();
        }
        Element::M_SP_TB_1(a, b) => {
            a.touch();
            b.touch();
        }
        Element::M_DP_TB_1(a, b) => {
            a.touch();
            b.touch();
        }
        Element::M_ST_TB_1(a, b, c) => {
            a.touch();
            b.touch();
            c.touch();
        }
        Element::M_BO_TB_1(a, b, c) => {
            a.touch();
            b.touch();
            c.touch();
        }
        Element::M_ME_TD_1(a, b, c) => {
            a.touch();
            b.touch();
            c.touch();
        }
        Element::M_ME_TE_1(a, b, c) => {
            a.touch();
            b.touch();
            c.touch();
        }
        Element::M_ME_TF_1(a, b, c) => {
            a.touch();
            b.touch();
            c.touch();
        }
        Element::M_IT_TB_1(a, b) => {
            a.touch();
            b.touch();
        }
        Element::M_EP_TD_1(a, b, c) => {
            a.touch();
            b.touch();
            c.touch();
        }
        Element::M_EP_TE_1(a, b, c, d) => {
            a.touch();
            b.touch();
            c.touch();
            d.touch();
        }
        Element::M_EP_TF_1(a, b, c, d) => {
            a.touch();
            b.touch();
            c.touch();
            d.touch();
        }
        Element::C_SC_NA_1(a) => {
            a.touch();
        }
        Element::C_DC_NA_1(a) => {
            a.touch();
        }
        Element::C_RC_NA_1(a) => {
            a.touch();
        }
        Element::C_SE_NA_1(a, b) => {
            a.touch();
            b.touch();
        }
        Element::C_SE_NB_1(a, b) => {
            a.touch();
            b.touch();
        }
        Element::C_SE_NC_1(a, b) => {
            a.touch();
            b.touch();
        }
        Element::C_BO_NA_1(a) => {
            a.touch();
        }
        Element::C_SC_TA_1(a, b) => {
            a.touch();
            b.touch();
        }
        Element::C_DC_TA_1(a, b) => {
            a.touch();
            b.touch();
        }
        Element::C_RC_TA_1(a, b) => {
            a.touch();
            b.touch();
        }
        Element::C_SE_TA_1(a, b, c) => {
            a.touch();
            b.touch();
            c.touch();
        }
        Element::C_SE_TB_1(a, b, c) => {
            a.touch();
            b.touch();
            c.touch();
        }
        Element::C_SE_TC_1(a, b, c) => {
            a.touch();
            b.touch();
            c.touch();
        }
        Element::C_BO_TA_1(a, b) => {
            a.touch();
            b.touch();
        }
        Element::M_EI_NA_1(a) => {
            a.touch();
        }
        Element::C_IC_NA_1(a) => {
            a.touch();
        }
        Element::C_CI_NA_1(a) => {
            a.touch();
        }
        Element::C_CS_NA_1(a) => {
            a.touch();
        }
        Element::C_TS_NA_1(a) => {
            a.touch();
        }
        Element::C_RP_NA_1(a) => {
            a.touch();
        }
        Element::C_CD_NA_1(a) => {
            a.touch();
        }
        Element::C_TS_TA_1(a, b) => {
            a.touch();
            b.touch();
        }
        Element::P_ME_NA_1(a, b) => {
            a.touch();
            b.touch();
        }
        Element::P_ME_NB_1(a, b) => {
            a.touch();
            b.touch();
        }
        Element::P_ME_NC_1(a, b) => {
            a.touch();
            b.touch();
        }
        Element::P_AC_NA_1(a) => {
            a.touch();
        }
        Element::F_FR_NA_1(a) => {
            a.touch();
        }
        Element::F_SR_NA_1(a) => {
            a.touch();
        }
        Element::F_SC_NA_1(a) => {
            a.touch();
        }
        Element::F_LS_NA_1(a) => {
            a.touch();
        }
        Element::F_AF_NA_1(a) => {
            a.touch();
        }
        Element::F_DR_TA_1(a) => {
            a.touch();
        }
        Element::F_SC_NB_1(a) => {
            a.touch();
        }
        Element::C_RD_NA_1 => {}
        Element::F_SG_NA_1(s) => {
            black_box((s.file, s.section, s.data.len()));
            assert!(s.data.len() <= 255);
            assert_eq!(s.encoded_len(), 4 + s.data.len());
        }
    }
}

/// Reads every field of an object and checks that the element encodes to exactly
/// `encoded_len` octets. `ioa_fits` asks to check that the IOA fits `ioa_size` octets.
pub fn touch_object(o: &InformationObject<'_>, ioa_size: u8, ioa_fits: bool) {
    if ioa_fits {
        assert!(
            u64::from(o.ioa) < 1u64 << (8 * u32::from(ioa_size.min(3))),
            "IOA {} does not fit {} octets",
            o.ioa,
            ioa_size
        );
    }
    touch_element(&o.element);
    let mut buf = Vec::new();
    o.element.encode(&mut buf);
    assert_eq!(buf.len(), o.element.encoded_len(), "{o:?}");
}

/// Reads every header field.
pub fn touch_header(h: &AsduHeader) {
    black_box(debug_len(h));
    black_box(display_len(&h.cot.cause));
    let abbr = h.cot.cause.abbreviation();
    assert_eq!(
        iec104::cot::Cause::from_abbreviation(&abbr),
        Some(h.cot.cause),
        "abbreviation {abbr:?} does not parse back"
    );
    assert_eq!(
        iec104::cot::Cot::from_octets(h.cot.first_octet(), h.cot.originator),
        h.cot
    );
    black_box((
        h.cot.first_octet(),
        h.cot.negative,
        h.cot.test,
        h.cot.originator,
    ));
    assert!(h.count <= 127);
}

/// Reads the whole view: header, every object, every field. Returns the number of objects.
///
/// Every address fits the IOA width (finding F1, fixed: an SQ=1 sequence running past it is
/// refused by `parse`) and SQ=1 addresses are consecutive. (JSON: [`touch_json`], called by
/// `apdu_stream` only, as it is ten times slower than decoding.)
pub fn touch_view(v: &AsduView<'_>) -> usize {
    touch_header(v.header());
    black_box((v.type_id(), v.raw_body().len(), v.as_bytes().len()));
    let objects = v.objects();
    let expected = objects.len();
    assert_eq!(expected, v.len());
    let sequence = v.header().sequence;
    let mut first = None;
    let mut n = 0u32;
    for o in objects {
        if sequence {
            let start = *first.get_or_insert(o.ioa);
            assert_eq!(
                o.ioa,
                start.wrapping_add(n),
                "SQ=1 addresses not consecutive"
            );
        }
        touch_object(&o, v.params().ioa_size, true);
        n += 1;
    }
    assert_eq!(
        n as usize, expected,
        "iterator yielded fewer objects than the header says"
    );
    expected
}

/// Serializes every object of `v` as the JSON layer does; each must serialize and be one
/// JSON object with the header's common address.
pub fn touch_json(v: &AsduView<'_>) -> usize {
    let mut n = 0;
    for o in JsonObject::from_view(v, reference_now()) {
        let line = match serde_json::to_string(&o) {
            Ok(l) => l,
            Err(e) => panic!("JSON serialization failed: {e} for {:?}", o.object()),
        };
        let value: serde_json::Value = serde_json::from_str(&line).expect("invalid JSON");
        let map = value.as_object().expect("not a JSON object");
        assert_eq!(
            map.get("ca").and_then(|c| c.as_u64()),
            Some(u64::from(v.header().common_address)),
            "{line}"
        );
        black_box(display_len(&o));
        n += 1;
    }
    if v.type_id().is_some() {
        assert_eq!(n, v.len());
    } else {
        assert_eq!(n, 1, "unknown type id: one raw JSON object");
    }
    n
}

//! [`JsonObject`]: one information object serialized in the shape of `docs/json.md`.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::asdu::{
    AsduHeader, AsduView, DoubleState, Element, InformationObject, Objects, Qos, Qpm, TimeTag,
};
use crate::time::Cp56Time2a;

/// One information object as JSON: borrows the object (zero-copy) and writes, in this order,
/// `ca`, `ioa`, `type`, `cot`, the flags `negative`/`test`/`originator` when they apply, the
/// value and its companion fields, `quality`, and the time fields.
///
/// `now` completes CP24Time2a time tags (which carry only minutes and milliseconds) with the
/// receiver's hour and date. Serializes as a map, so a program adds its own fields by
/// embedding it with `#[serde(flatten)]` (see the [module docs](super)).
#[derive(Debug, Clone, Copy)]
pub struct JsonObject<'a> {
    header: AsduHeader,
    body: Body<'a>,
    now: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy)]
enum Body<'a> {
    Known(InformationObject<'a>),
    /// An ASDU with a type id the standard does not define: its first IOA and raw body.
    Unknown {
        ioa: u32,
        raw: &'a [u8],
    },
}

impl<'a> JsonObject<'a> {
    /// The JSON form of `object`, received in an ASDU with data unit identifier `header`.
    pub fn new(
        header: &AsduHeader,
        object: InformationObject<'a>,
        now: DateTime<Utc>,
    ) -> JsonObject<'a> {
        JsonObject {
            header: *header,
            body: Body::Known(object),
            now,
        }
    }

    /// Every object of an ASDU as JSON; for a type id the standard does not define, one
    /// object `{"type":"unknown","type_id":…,"raw":…}` whose `ioa` is read from the first
    /// octets of the body (0 when too short).
    pub fn from_view(view: &AsduView<'a>, now: DateTime<Utc>) -> JsonObjects<'a> {
        let unknown = if view.type_id().is_none() {
            let raw = view.raw_body();
            let ioa = crate::asdu::read_ioa(raw, view.params().ioa_size).unwrap_or(0);
            Some(Body::Unknown { ioa, raw })
        } else {
            None
        };
        JsonObjects {
            header: *view.header(),
            objects: view.objects(),
            unknown,
            now,
        }
    }

    /// The data unit identifier of the ASDU the object came in.
    pub fn header(&self) -> &AsduHeader {
        &self.header
    }

    /// The information object (`None` for an unknown type id).
    pub fn object(&self) -> Option<&InformationObject<'a>> {
        match &self.body {
            Body::Known(o) => Some(o),
            Body::Unknown { .. } => None,
        }
    }

    /// The JSON value (an object). Its map does not keep the field order; serialize the
    /// `JsonObject` itself (`serde_json::to_string`) for the documented order.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

impl fmt::Display for JsonObject<'_> {
    /// The JSON line (without newline), fields in the documented order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&line)
    }
}

/// Iterator over the [`JsonObject`]s of one ASDU, from [`JsonObject::from_view`].
#[derive(Debug, Clone)]
pub struct JsonObjects<'a> {
    header: AsduHeader,
    objects: Objects<'a>,
    unknown: Option<Body<'a>>,
    now: DateTime<Utc>,
}

impl<'a> Iterator for JsonObjects<'a> {
    type Item = JsonObject<'a>;

    fn next(&mut self) -> Option<JsonObject<'a>> {
        let body = match self.unknown.take() {
            Some(body) => body,
            None => Body::Known(self.objects.next()?),
        };
        Some(JsonObject {
            header: self.header,
            body,
            now: self.now,
        })
    }
}

impl Serialize for JsonObject<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut m = serializer.serialize_map(None)?;
        let h = &self.header;
        m.serialize_entry("ca", &h.common_address)?;
        let (ioa, object) = match &self.body {
            Body::Known(o) => (o.ioa, Some(o)),
            Body::Unknown { ioa, .. } => (*ioa, None),
        };
        m.serialize_entry("ioa", &ioa)?;
        match object {
            Some(o) => m.serialize_entry("type", o.element.type_id().name())?,
            None => {
                m.serialize_entry("type", "unknown")?;
                m.serialize_entry("type_id", &h.type_id)?;
            }
        }
        m.serialize_entry("cot", &Str(&h.cot.cause))?;
        if h.cot.negative {
            m.serialize_entry("negative", &true)?;
        }
        if h.cot.test {
            m.serialize_entry("test", &true)?;
        }
        if h.cot.originator != 0 {
            m.serialize_entry("originator", &h.cot.originator)?;
        }
        match &self.body {
            Body::Known(o) => {
                write_element(&mut m, &o.element)?;
                if let Some(q) = o.element.quality() {
                    m.serialize_entry("quality", &Names(|| q.iter_names()))?;
                }
                write_time(&mut m, o.element.time_tag(), &self.now)?;
            }
            Body::Unknown { raw, .. } => m.serialize_entry("raw", &Str(Hex(raw)))?,
        }
        m.end()
    }
}

/// Serializes anything `Display` as a JSON string without an intermediate `String`.
struct Str<T>(T);

impl<T: fmt::Display> Serialize for Str<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// Serializes the names a function iterates over as a JSON array.
struct Names<F>(F);

impl<F: Fn() -> I, I: Iterator<Item = &'static str>> Serialize for Names<F> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((self.0)())
    }
}

/// Lowercase hex, no separators.
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// RFC 3339 in UTC with milliseconds: `2026-11-24T10:15:30.123Z`.
struct Rfc3339(DateTime<Utc>);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%dT%H:%M:%S%.3fZ"))
    }
}

/// A CP56Time2a as RFC 3339, or `null` when a field is out of range.
struct Instant(Cp56Time2a);

impl Serialize for Instant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.to_utc() {
            Some(t) => s.collect_str(&Rfc3339(t)),
            None => s.serialize_none(),
        }
    }
}

/// The JSON names of the event state ES of SEP (docs/json.md).
const SEP_NAMES: [&str; 4] = ["indeterminate", "off", "on", "indeterminate"];
/// The JSON names of the regulating step state RCS of RCO.
const RCS_NAMES: [&str; 4] = ["invalid", "lower", "higher", "invalid3"];

fn state_name(names: &[&'static str; 4], state: DoubleState) -> &'static str {
    match state {
        DoubleState::Intermediate => names[0],
        DoubleState::Off => names[1],
        DoubleState::On => names[2],
        DoubleState::Indeterminate => names[3],
    }
}

fn normalized<M: SerializeMap>(m: &mut M, raw: i16) -> Result<(), M::Error> {
    m.serialize_entry("value", &(f64::from(raw) / 32768.0))?;
    m.serialize_entry("raw", &raw)
}

fn float<M: SerializeMap>(m: &mut M, v: f32) -> Result<(), M::Error> {
    if v.is_finite() {
        return m.serialize_entry("value", &v);
    }
    m.serialize_entry("value", &())?;
    let name = if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "inf"
    } else {
        "-inf"
    };
    m.serialize_entry("raw_float", name)
}

fn command<M: SerializeMap>(m: &mut M, select: bool, qu: u8) -> Result<(), M::Error> {
    if select {
        m.serialize_entry("select", &true)?;
    }
    if qu != 0 {
        m.serialize_entry("qu", &qu)?;
    }
    Ok(())
}

fn setpoint<M: SerializeMap>(m: &mut M, qos: Qos) -> Result<(), M::Error> {
    if qos.select() {
        m.serialize_entry("select", &true)?;
    }
    if qos.ql() != 0 {
        m.serialize_entry("ql", &qos.ql())?;
    }
    Ok(())
}

fn parameter<M: SerializeMap>(m: &mut M, qpm: Qpm) -> Result<(), M::Error> {
    m.serialize_entry("kpa", &qpm.kind())?;
    if qpm.local_change() {
        m.serialize_entry("lpc", &true)?;
    }
    if qpm.not_in_operation() {
        m.serialize_entry("pop", &true)?;
    }
    Ok(())
}

fn file_section<M: SerializeMap>(m: &mut M, file: u16, section: u8) -> Result<(), M::Error> {
    m.serialize_entry("file", &file)?;
    m.serialize_entry("section", &section)
}

/// `value` and the fields that go with it, per type id.
fn write_element<M: SerializeMap>(m: &mut M, e: &Element<'_>) -> Result<(), M::Error> {
    use Element as E;
    match *e {
        E::M_SP_NA_1(s) | E::M_SP_TA_1(s, _) | E::M_SP_TB_1(s, _) => {
            m.serialize_entry("value", &s.value())
        }
        E::M_DP_NA_1(d) | E::M_DP_TA_1(d, _) | E::M_DP_TB_1(d, _) => {
            m.serialize_entry("value", d.state().as_str())
        }
        E::M_ST_NA_1(v, _) | E::M_ST_TA_1(v, _, _) | E::M_ST_TB_1(v, _, _) => {
            m.serialize_entry("value", &v.value())?;
            if v.transient() {
                m.serialize_entry("transient", &true)?;
            }
            Ok(())
        }
        E::M_BO_NA_1(b, _)
        | E::M_BO_TA_1(b, _, _)
        | E::M_BO_TB_1(b, _, _)
        | E::C_BO_NA_1(b)
        | E::C_BO_TA_1(b, _) => m.serialize_entry("value", &b.0),
        E::M_ME_NA_1(n, _) | E::M_ME_TA_1(n, _, _) | E::M_ME_TD_1(n, _, _) | E::M_ME_ND_1(n) => {
            normalized(m, n.0)
        }
        E::M_ME_NB_1(s, _) | E::M_ME_TB_1(s, _, _) | E::M_ME_TE_1(s, _, _) => {
            m.serialize_entry("value", &s.0)
        }
        E::M_ME_NC_1(f, _) | E::M_ME_TC_1(f, _, _) | E::M_ME_TF_1(f, _, _) => float(m, f),
        E::M_IT_NA_1(c) | E::M_IT_TA_1(c, _) | E::M_IT_TB_1(c, _) => {
            m.serialize_entry("value", &c.value)?;
            m.serialize_entry("sequence", &c.sequence())
        }
        E::M_EP_TA_1(sep, elapsed, _) | E::M_EP_TD_1(sep, elapsed, _) => {
            m.serialize_entry("value", state_name(&SEP_NAMES, sep.state()))?;
            m.serialize_entry("elapsed_ms", &elapsed.millis)
        }
        E::M_EP_TB_1(spe, _, d, _) | E::M_EP_TE_1(spe, _, d, _) => {
            m.serialize_entry("value", &Names(|| spe.iter_names()))?;
            m.serialize_entry("relay_duration_ms", &d.millis)
        }
        E::M_EP_TC_1(oci, _, d, _) | E::M_EP_TF_1(oci, _, d, _) => {
            m.serialize_entry("value", &Names(|| oci.iter_names()))?;
            m.serialize_entry("relay_operating_ms", &d.millis)
        }
        E::M_PS_NA_1(scd, _) => {
            m.serialize_entry("value", &scd.status)?;
            m.serialize_entry("changed", &scd.change)
        }
        E::M_EI_NA_1(coi) => {
            m.serialize_entry("value", &coi.cause())?;
            if coi.after_change() {
                m.serialize_entry("after_parameter_change", &true)?;
            }
            Ok(())
        }
        E::C_SC_NA_1(c) | E::C_SC_TA_1(c, _) => {
            m.serialize_entry("value", &c.value())?;
            command(m, c.select(), c.qualifier())
        }
        E::C_DC_NA_1(c) | E::C_DC_TA_1(c, _) => {
            m.serialize_entry("value", c.state().as_str())?;
            command(m, c.select(), c.qualifier())
        }
        E::C_RC_NA_1(c) | E::C_RC_TA_1(c, _) => {
            m.serialize_entry("value", state_name(&RCS_NAMES, c.state()))?;
            command(m, c.select(), c.qualifier())
        }
        E::C_SE_NA_1(n, q) | E::C_SE_TA_1(n, q, _) => {
            normalized(m, n.0)?;
            setpoint(m, q)
        }
        E::C_SE_NB_1(s, q) | E::C_SE_TB_1(s, q, _) => {
            m.serialize_entry("value", &s.0)?;
            setpoint(m, q)
        }
        E::C_SE_NC_1(f, q) | E::C_SE_TC_1(f, q, _) => {
            float(m, f)?;
            setpoint(m, q)
        }
        E::C_IC_NA_1(q) => m.serialize_entry("qoi", &q.0),
        E::C_CI_NA_1(q) => {
            m.serialize_entry("rqt", &q.request())?;
            m.serialize_entry("frz", &q.freeze())
        }
        E::C_RD_NA_1 | E::C_CS_NA_1(_) => Ok(()),
        E::C_TS_NA_1(f) => m.serialize_entry("fbp", &f.0),
        E::C_TS_TA_1(t, _) => m.serialize_entry("tsc", &t.0),
        E::C_RP_NA_1(q) => m.serialize_entry("qrp", &q.0),
        E::C_CD_NA_1(t) => m.serialize_entry("delay_ms", &t.millis),
        E::P_ME_NA_1(n, q) => {
            normalized(m, n.0)?;
            parameter(m, q)
        }
        E::P_ME_NB_1(s, q) => {
            m.serialize_entry("value", &s.0)?;
            parameter(m, q)
        }
        E::P_ME_NC_1(f, q) => {
            float(m, f)?;
            parameter(m, q)
        }
        E::P_AC_NA_1(q) => m.serialize_entry("qpa", &q.0),
        // The file transfer types (120..=127).
        _ => write_file_element(m, e),
    }
}

/// The file transfer elements (F_*); [`write_element`] writes every other type.
fn write_file_element<M: SerializeMap>(m: &mut M, e: &Element<'_>) -> Result<(), M::Error> {
    use Element as E;
    match *e {
        E::F_FR_NA_1(f) => {
            m.serialize_entry("file", &f.file)?;
            m.serialize_entry("length", &f.length)?;
            m.serialize_entry("frq", &f.frq)
        }
        E::F_SR_NA_1(f) => {
            file_section(m, f.file, f.section)?;
            m.serialize_entry("length", &f.length)?;
            m.serialize_entry("srq", &f.srq)
        }
        E::F_SC_NA_1(f) => {
            file_section(m, f.file, f.section)?;
            m.serialize_entry("scq", &f.qualifier)
        }
        E::F_AF_NA_1(f) => {
            file_section(m, f.file, f.section)?;
            m.serialize_entry("afq", &f.qualifier)
        }
        E::F_LS_NA_1(f) => {
            file_section(m, f.file, f.section)?;
            m.serialize_entry("lsq", &f.lsq)?;
            m.serialize_entry("checksum", &f.checksum)
        }
        E::F_SG_NA_1(s) => {
            file_section(m, s.file, s.section)?;
            m.serialize_entry("length", &s.data.len())?;
            m.serialize_entry("data", &Str(Hex(s.data)))
        }
        E::F_DR_TA_1(d) => {
            m.serialize_entry("file", &d.file)?;
            m.serialize_entry("length", &d.length)?;
            m.serialize_entry("sof", &d.sof.0)
        }
        E::F_SC_NB_1(q) => {
            m.serialize_entry("file", &q.file)?;
            m.serialize_entry("start", &Instant(q.start))?;
            m.serialize_entry("stop", &Instant(q.stop))
        }
        _ => Ok(()),
    }
}

/// `time` and its flags. A tag whose fields are out of range gives `"time": null` and
/// `"time_raw"` (hex of its octets).
fn write_time<M: SerializeMap>(
    m: &mut M,
    tag: Option<TimeTag>,
    now: &DateTime<Utc>,
) -> Result<(), M::Error> {
    let (time, raw, invalid, substituted, summer, partial) = match tag {
        None => return Ok(()),
        Some(TimeTag::Cp56(t)) => (
            t.to_utc(),
            Raw::Seven(t.encode()),
            t.invalid,
            t.substituted,
            t.summer_time,
            false,
        ),
        Some(TimeTag::Cp24(t)) => (
            t.to_utc_near(now),
            Raw::Three(t.encode()),
            t.invalid,
            t.substituted,
            false,
            true,
        ),
    };
    match time {
        Some(t) => m.serialize_entry("time", &Str(Rfc3339(t)))?,
        None => {
            m.serialize_entry("time", &())?;
            m.serialize_entry("time_raw", &Str(Hex(raw.as_slice())))?;
        }
    }
    if partial {
        m.serialize_entry("time_partial", &true)?;
    }
    if invalid {
        m.serialize_entry("time_invalid", &true)?;
    }
    if summer {
        m.serialize_entry("summer_time", &true)?;
    }
    if substituted {
        m.serialize_entry("time_substituted", &true)?;
    }
    Ok(())
}

/// The octets of a time tag, kept on the stack.
enum Raw {
    Seven([u8; 7]),
    Three([u8; 3]),
}

impl Raw {
    fn as_slice(&self) -> &[u8] {
        match self {
            Raw::Seven(b) => b,
            Raw::Three(b) => b,
        }
    }
}

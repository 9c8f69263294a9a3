//! The last value of every point of one RTU: one entry per (CA, IOA), updated in place.

use std::collections::HashMap;
use std::sync::Arc;

use iec104::asdu::{Element, TimeTag};

/// The value of a point, without allocation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PointValue {
    /// No value decoded (a type the table does not show).
    None,
    /// Single point, step transient flag, etc.
    Bool(bool),
    /// A named state (double point, protection event).
    State(&'static str),
    /// Integer (step position, scaled value, counter reading).
    Int(i64),
    /// Floating point (normalized, short float, scaled by the configuration).
    Float(f64),
    /// Bitstring of 32 bits.
    Bits(u32),
}

impl PointValue {
    /// The value of `e`.
    pub fn of(e: &Element<'_>) -> PointValue {
        use Element as E;
        use PointValue as V;
        match e {
            E::M_SP_NA_1(s) | E::M_SP_TA_1(s, _) | E::M_SP_TB_1(s, _) => V::Bool(s.value()),
            E::M_DP_NA_1(d) | E::M_DP_TA_1(d, _) | E::M_DP_TB_1(d, _) => {
                V::State(d.state().as_str())
            }
            E::M_ST_NA_1(v, _) | E::M_ST_TA_1(v, _, _) | E::M_ST_TB_1(v, _, _) => {
                V::Int(i64::from(v.value()))
            }
            E::M_BO_NA_1(b, _) | E::M_BO_TA_1(b, _, _) | E::M_BO_TB_1(b, _, _) => V::Bits(b.0),
            E::M_ME_NA_1(n, _)
            | E::M_ME_TA_1(n, _, _)
            | E::M_ME_TD_1(n, _, _)
            | E::M_ME_ND_1(n) => V::Float(f64::from(n.to_f32())),
            E::M_ME_NB_1(s, _) | E::M_ME_TB_1(s, _, _) | E::M_ME_TE_1(s, _, _) => {
                V::Int(i64::from(s.0))
            }
            E::M_ME_NC_1(f, _) | E::M_ME_TC_1(f, _, _) | E::M_ME_TF_1(f, _, _) => {
                V::Float(f64::from(*f))
            }
            E::M_IT_NA_1(c) | E::M_IT_TA_1(c, _) | E::M_IT_TB_1(c, _) => V::Int(i64::from(c.value)),
            E::M_EP_TA_1(p, _, _) | E::M_EP_TD_1(p, _, _) => V::State(p.state().as_str()),
            _ => V::None,
        }
    }

    /// The value with the configured `scale` and `offset` applied (numbers only).
    pub fn scaled(self, scale: Option<f64>, offset: Option<f64>) -> PointValue {
        if scale.is_none() && offset.is_none() {
            return self;
        }
        let raw = match self {
            PointValue::Int(i) => i as f64,
            PointValue::Float(f) => f,
            other => return other,
        };
        PointValue::Float(raw * scale.unwrap_or(1.0) + offset.unwrap_or(0.0))
    }

    /// The value as JSON.
    pub fn to_json(self) -> serde_json::Value {
        match self {
            PointValue::None => serde_json::Value::Null,
            PointValue::Bool(b) => b.into(),
            PointValue::State(s) => s.into(),
            PointValue::Int(i) => i.into(),
            PointValue::Float(f) => serde_json::Number::from_f64(f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            PointValue::Bits(b) => format!("0x{b:08X}").into(),
        }
    }
}

/// One point's last update.
#[derive(Debug, Clone)]
pub struct PointEntry {
    /// Common address.
    pub ca: u16,
    /// Information object address.
    pub ioa: u32,
    /// Configured name, if any.
    pub name: Option<Arc<str>>,
    /// Type id of the last update.
    pub type_id: u8,
    /// Last value.
    pub value: PointValue,
    /// Quality bits (IV 0x80, NT 0x40, SB 0x20, BL 0x10, OV 0x01, ...).
    pub quality: u8,
    /// Cause of transmission (raw).
    pub cause: u8,
    /// Time tag in UTC milliseconds since the epoch, if the object carried one.
    pub time_tag_ms: Option<i64>,
    /// When the gateway received it, UTC milliseconds since the epoch.
    pub received_ms: i64,
    /// View version of the update (for deltas).
    pub version: u64,
}

/// One object of an ASDU, as the data path hands it over.
#[derive(Debug, Clone, Copy)]
pub struct Update<'a> {
    /// Common address.
    pub ca: u16,
    /// The object.
    pub ioa: u32,
    /// Its element (borrowing the ASDU).
    pub element: Element<'a>,
    /// Configured name of the point.
    pub name: Option<&'a str>,
    /// Configured scale and offset.
    pub scale: (Option<f64>, Option<f64>),
}

/// Time context of one ASDU.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    /// Cause of transmission.
    pub cause: u8,
    /// Reception time, UTC.
    pub at: chrono::DateTime<chrono::Utc>,
    /// The RTU's offset from UTC in seconds (time tags are local time).
    pub tz_offset_secs: i32,
    /// View version of this ASDU.
    pub version: u64,
}

/// The UTC milliseconds of a time tag in the RTU's local time.
pub fn time_tag_ms(tag: TimeTag, r: &Received) -> Option<i64> {
    let shift = chrono::Duration::seconds(i64::from(r.tz_offset_secs));
    let local = match tag {
        TimeTag::Cp56(t) => t.to_utc()?,
        TimeTag::Cp24(t) => t.to_utc_near(&(r.at + shift))?,
    };
    Some((local - shift).timestamp_millis())
}

/// Every point of one RTU; bounded by the caller (see [`PointTable::update`]).
#[derive(Debug, Default)]
pub struct PointTable {
    index: HashMap<(u16, u32), usize>,
    entries: Vec<PointEntry>,
}

impl PointTable {
    /// Records `u`; a new point is added only when `may_grow` (the global bound is not
    /// reached). Returns whether a new entry was added, or `None` when it was refused.
    pub fn update(&mut self, u: &Update<'_>, r: &Received, may_grow: bool) -> Option<bool> {
        let value = PointValue::of(&u.element).scaled(u.scale.0, u.scale.1);
        let quality = u.element.quality().map(|q| q.bits()).unwrap_or(0);
        let time_tag_ms = u.element.time_tag().and_then(|t| time_tag_ms(t, r));
        let type_id = u.element.type_id() as u8;
        if let Some(&i) = self.index.get(&(u.ca, u.ioa)) {
            if let Some(e) = self.entries.get_mut(i) {
                e.type_id = type_id;
                e.value = value;
                e.quality = quality;
                e.cause = r.cause;
                e.time_tag_ms = time_tag_ms;
                e.received_ms = r.at.timestamp_millis();
                e.version = r.version;
                return Some(false);
            }
        }
        if !may_grow {
            return None;
        }
        self.index.insert((u.ca, u.ioa), self.entries.len());
        self.entries.push(PointEntry {
            ca: u.ca,
            ioa: u.ioa,
            name: u.name.map(Arc::from),
            type_id,
            value,
            quality,
            cause: r.cause,
            time_tag_ms,
            received_ms: r.at.timestamp_millis(),
            version: r.version,
        });
        Some(true)
    }

    /// Every entry, in arrival order of their first update.
    pub fn entries(&self) -> &[PointEntry] {
        &self.entries
    }

    /// The entry of (`ca`, `ioa`).
    pub fn get(&self, ca: u16, ioa: u32) -> Option<&PointEntry> {
        self.index
            .get(&(ca, ioa))
            .and_then(|&i| self.entries.get(i))
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

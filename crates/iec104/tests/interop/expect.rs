//! Comparing what our decoder reads with what the c104 server was TOLD to serve (the JSON
//! description `crates/testkit/peers/c104_station.py` writes; its value shapes are documented there).

use iec104::asdu::{Element, InformationObject, Quality};
use iec104::time::Cp56Time2a;
use serde_json::{json, Value};

/// Our reading of one object in the shapes of the peer's JSON: `(value, quality, time)`.
/// `None` for a type the c104 server does not serve.
pub fn describe(
    obj: &InformationObject<'_>,
) -> Option<(Value, Vec<&'static str>, Option<Cp56Time2a>)> {
    use Element as E;
    let names = |q: Quality| q.iter_names().collect::<Vec<_>>();
    let step =
        |v: iec104::asdu::StepPosition| json!({"position": v.value(), "transient": v.transient()});
    let octets = |b: iec104::asdu::Bitstring| {
        // The four octets in transmission order (little endian), as the peer describes them.
        json!({"octets": b.0.to_le_bytes().iter().map(|o| format!("{o:02x}")).collect::<String>()})
    };
    let counter =
        |c: iec104::asdu::BinaryCounter| json!({"counter": c.value, "sequence": c.sequence()});
    Some(match obj.element {
        E::M_SP_NA_1(s) => (json!(s.value()), names(s.quality()), None),
        E::M_SP_TB_1(s, t) => (json!(s.value()), names(s.quality()), Some(t)),
        E::M_DP_NA_1(d) => (json!(d.dpi()), names(d.quality()), None),
        E::M_DP_TB_1(d, t) => (json!(d.dpi()), names(d.quality()), Some(t)),
        E::M_ST_NA_1(v, q) => (step(v), names(q.quality()), None),
        E::M_ST_TB_1(v, q, t) => (step(v), names(q.quality()), Some(t)),
        E::M_BO_NA_1(b, q) => (octets(b), names(q.quality()), None),
        E::M_BO_TB_1(b, q, t) => (octets(b), names(q.quality()), Some(t)),
        E::M_ME_NA_1(n, q) => (json!(n.0), names(q.quality()), None),
        E::M_ME_TD_1(n, q, t) => (json!(n.0), names(q.quality()), Some(t)),
        E::M_ME_ND_1(n) => (json!(n.0), vec![], None),
        E::M_ME_NB_1(s, q) => (json!(s.0), names(q.quality()), None),
        E::M_ME_TE_1(s, q, t) => (json!(s.0), names(q.quality()), Some(t)),
        E::M_ME_NC_1(f, q) => (json!(f), names(q.quality()), None),
        E::M_ME_TF_1(f, q, t) => (json!(f), names(q.quality()), Some(t)),
        E::M_IT_NA_1(c) => (counter(c), names(c.quality()), None),
        E::M_IT_TB_1(c, t) => (counter(c), names(c.quality()), Some(t)),
        E::M_PS_NA_1(s, q) => (
            json!({"status": s.status, "changed": s.change}),
            names(q.quality()),
            None,
        ),
        E::M_EP_TD_1(e, ms, t) => (
            json!({"state": e.state() as u8, "elapsed_ms": ms.millis}),
            names(e.quality()),
            Some(t),
        ),
        E::M_EP_TE_1(s, q, ms, t) => (
            json!({"events": s.0, "duration_ms": ms.millis}),
            names(q.quality()),
            Some(t),
        ),
        E::M_EP_TF_1(o, q, ms, t) => (
            json!({"circuits": o.0, "operating_ms": ms.millis}),
            names(q.quality()),
            Some(t),
        ),
        _ => return None,
    })
}

/// Checks our reading of `obj` against the peer's description `want` of that IOA.
/// Normalized values: the peer was told a fraction; c104 sends the nearest raw value, so the
/// raw value we read must be within one step (2⁻¹⁵) of it. Floats: equal after rounding the
/// told value to f32.
pub fn compare(want: &Value, obj: &InformationObject<'_>) -> Result<(), String> {
    let ty = obj.element.type_id().name();
    if want["type"].as_str() != Some(ty) {
        return Err(format!(
            "IOA {}: type {ty}, peer serves {}",
            obj.ioa, want["type"]
        ));
    }
    let Some((value, quality, time)) = describe(obj) else {
        return Err(format!(
            "IOA {}: type {ty} is not one the peer serves",
            obj.ioa
        ));
    };
    let told = &want["value"];
    let value_ok = match ty {
        "M_ME_NA_1" | "M_ME_TD_1" | "M_ME_ND_1" => match (told.as_f64(), value.as_i64()) {
            (Some(t), Some(raw)) => (raw as f64 / 32768.0 - t).abs() <= 1.0 / 32768.0,
            _ => false,
        },
        "M_ME_NC_1" | "M_ME_TF_1" => match (told.as_f64(), value.as_f64()) {
            (Some(t), Some(got)) => (t as f32) == (got as f32),
            _ => false,
        },
        _ => *told == value,
    };
    if !value_ok {
        return Err(format!(
            "IOA {} {ty}: value {value}, peer was told {told}",
            obj.ioa
        ));
    }
    let want_q: Vec<&str> = want["quality"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if want_q != quality {
        return Err(format!(
            "IOA {} {ty}: quality {quality:?}, peer was told {want_q:?}",
            obj.ioa
        ));
    }
    match (&want["time"], time) {
        (Value::Null, None) => {}
        (Value::Null, Some(t)) => {
            return Err(format!("IOA {} {ty}: unexpected time {t:?}", obj.ioa))
        }
        (w, None) => return Err(format!("IOA {} {ty}: no time, want {w}", obj.ioa)),
        (w, Some(t)) => {
            let got = json!({
                "millis": t.millis, "minute": t.minute, "hour": t.hour, "day": t.day,
                "month": t.month, "year": t.year, "invalid": t.invalid, "summer_time": t.summer_time,
            });
            for key in [
                "millis",
                "minute",
                "hour",
                "day",
                "month",
                "year",
                "invalid",
                "summer_time",
            ] {
                if w[key] != got[key] {
                    return Err(format!(
                        "IOA {} {ty}: time {key} = {}, want {}",
                        obj.ioa, got[key], w[key]
                    ));
                }
            }
        }
    }
    Ok(())
}

//! `iec104::json::CommandRequest` from arbitrary JSON text (what the gateway receives over
//! MQTT), turned into a command element and an ASDU.
//!
//! Checks: no panic; a request that deserializes serializes and deserializes again to
//! itself; a command element, when produced, is of the type `type_id()` announced, is a
//! process command, and goes into a one-object ASDU that parses back to the same element;
//! `to_asdu` builds the same octets and refuses exactly the IOAs wider than 3 octets.
#![no_main]

use bytes::BytesMut;
use iec104::asdu::{Asdu, AsduParams, AsduView, InformationObject};
use iec104::json::CommandRequest;
use iec104::cot::{Cause, Cot};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Equal JSON values, numbers within a relative 1e-12.
fn approx(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| approx(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| approx(v, w)))
        }
        _ => a == b,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(req) = serde_json::from_slice::<CommandRequest>(data) else {
        return;
    };
    let text = serde_json::to_string(&req).expect("a parsed request serializes");
    let back: CommandRequest = serde_json::from_str(&text).expect("and parses back");
    // serde_json parses floats to the nearest-but-one double without its `float_roundtrip`
    // feature, so the JSON values are compared with a relative tolerance.
    let (mut a, mut b) = (back.clone(), req.clone());
    assert!(approx(&a.value, &b.value), "{text}");
    assert!(
        approx(
            a.time.get_or_insert(Value::Null),
            b.time.get_or_insert(Value::Null)
        ),
        "{text}"
    );
    (a.value, b.value, a.time, b.time) = (Value::Null, Value::Null, None, None);
    assert_eq!(a, b, "{text}");
    let now = iec104_fuzz::reference_now();
    let announced = req.type_id();
    for select in [true, false] {
        match req.to_element(select, now) {
            Ok(element) => {
                let t = announced.clone().expect("element built for a refused type");
                assert_eq!(
                    element.type_id(),
                    t,
                    "element of another type than announced"
                );
                assert!(t.is_command(), "{t:?} is not a command");
                iec104_fuzz::touch_element(&element);
                let ioa = req.ioa.unwrap_or(1) & 0x00FF_FFFF;
                let asdu = Asdu::single(
                    Cot::new(Cause::Activation),
                    req.ca.unwrap_or(1),
                    InformationObject::new(ioa, element),
                )
                .expect("a command element always fits one ASDU");
                let view = AsduView::parse(asdu.as_bytes(), &AsduParams::IEC104)
                    .expect("a built command ASDU parses");
                // The library's own path to the ASDU agrees, and refuses an IOA that does not
                // fit three octets.
                let raw_ioa = req.ioa.unwrap_or(1);
                match req.to_asdu(req.ca.unwrap_or(1), raw_ioa, select, now) {
                    Ok(a) => {
                        assert!(raw_ioa < 1 << 24, "IOA {raw_ioa} accepted");
                        assert_eq!(a.as_bytes(), asdu.as_bytes());
                    }
                    Err(e) => {
                        assert!(raw_ioa >= 1 << 24, "to_asdu refused: {e}");
                    }
                }
                let o = view.objects().next().expect("one object");
                assert_eq!(o.ioa, ioa);
                let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
                o.element.encode(&mut a);
                element.encode(&mut b);
                assert_eq!(a, b, "command element changes through an ASDU");
            }
            Err(e) => {
                let _ = iec104_fuzz::display_len(&e);
            }
        }
    }
});

//! What the edge node encodes, decoded by an independent codec: Eclipse Tahu's JavaScript
//! `sparkplug-payload` (installed by `npm ci` in `tests/tahu`, see `.ci/run`).
//!
//! IEC104_INTEROP=require: a missing node or npm package fails the test; otherwise it is
//! skipped with the reason printed (the test kit's rule, through `iec104_e2e::sparkplug_peers`).

use iec104::asdu::Quality;
use iec104::type_id::TypeId;
use iec104_e2e::sparkplug_peers::{tahu_available, tahu_decode};
use iec104_sparkplug::edge::{CommandSpec, PointConfig};
use iec104_sparkplug::proto::{Metric, MetricValue, Payload};
use iec104_sparkplug::{
    Action, EdgeNode, EdgeSettings, PointAddress, PointKind, PointUpdate, PointValue, Publication,
};
use prost::Message;
use serde_json::{json, Value as Json};

const T0: u64 = 1_764_000_000_000;

fn points() -> Vec<PointConfig> {
    let p = |ioa, name: Option<&str>, kind| PointConfig {
        address: PointAddress { ca: 7, ioa },
        name: name.map(str::to_owned),
        kind,
        command: None,
    };
    vec![
        p(1, Some("Breaker"), Some(PointKind::Double)),
        p(2, None, Some(PointKind::Float)),
        p(3, Some("Tap"), Some(PointKind::Step)),
        p(4, Some("Flags"), Some(PointKind::Bitstring)),
        p(5, Some("Power"), Some(PointKind::Scaled)),
        PointConfig {
            address: PointAddress { ca: 7, ioa: 900 },
            name: Some("Switch".into()),
            kind: None,
            command: Some(CommandSpec {
                type_id: TypeId::C_SC_NA_1,
                select: true,
            }),
        },
    ]
}

/// A value as the general interrogation answers it (the first ones are its answers; the
/// later ones behave alike once the device is up).
fn update(ioa: u32, value: PointValue, quality: Quality, time_tag_ms: Option<u64>) -> PointUpdate {
    PointUpdate {
        address: PointAddress { ca: 7, ioa },
        value,
        quality,
        time_tag_ms,
        interrogated: true,
    }
}

fn publications(n: &mut EdgeNode) -> Vec<Publication> {
    std::iter::from_fn(|| n.poll_action())
        .filter_map(|a| match a {
            Action::Publish(p) => Some(p),
            _ => None,
        })
        .collect()
}

/// A session: will, NBIRTH, DBIRTH, DDATA, a history DDATA after a reconnect, a DCMD result.
fn scenario() -> Vec<Publication> {
    let settings = EdgeSettings {
        group_id: "Plant".into(),
        edge_node_id: "rtu7".into(),
        device_id: "rtu7".into(),
        primary_host_id: None,
        qos: 0,
        buffer_capacity: 100,
        command_timeout_ms: 1000,
        gateway_node: Some("gw-a".into()),
    };
    let mut n = EdgeNode::new(settings, &points()).unwrap_or_else(|e| panic!("{e}"));
    let will = n.connect(T0);
    n.connected(T0);
    n.rtu_link_up(T0);
    let good = Quality::GOOD;
    let _ = n.value(
        T0 + 1,
        update(1, PointValue::Double(2), good, Some(T0 - 3_600_000)),
    );
    let _ = n.value(
        T0 + 1,
        update(
            3,
            PointValue::Step {
                value: -5,
                transient: true,
            },
            good,
            None,
        ),
    );
    let _ = n.value(
        T0 + 1,
        update(4, PointValue::Bitstring(0xFFFF_0001), good, None),
    );
    n.interrogation_complete(T0 + 2);
    let _ = n.value(
        T0 + 3,
        update(
            2,
            PointValue::Float(-12.25),
            Quality::NT.union(Quality::OV),
            None,
        ),
    );
    let _ = n.value(
        T0 + 3,
        update(5, PointValue::Scaled(-300), Quality::IV, None),
    );
    n.flush(T0 + 4);
    n.disconnected(T0 + 5);
    let _ = n.value(
        T0 + 6,
        update(2, PointValue::Float(2.5), good, Some(T0 + 6)),
    );
    n.connect(T0 + 7);
    n.connected(T0 + 7);
    let write = Payload {
        metrics: vec![Metric {
            name: Some("Switch".into()),
            value: Some(MetricValue::BooleanValue(true)),
            ..Default::default()
        }],
        ..Default::default()
    };
    let _ = n.message(
        T0 + 8,
        "spBv1.0/Plant/DCMD/rtu7/rtu7",
        &write.encode_to_vec(),
    );
    n.flush(T0 + 8);
    let mut all = vec![will];
    all.extend(publications(&mut n));
    all
}

fn metric<'a>(payload: &'a Json, name: &str) -> &'a Json {
    payload["tahu"]["metrics"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["name"] == name))
        .unwrap_or_else(|| panic!("no metric {name} in {payload}"))
}

#[test]
fn tahu_decodes_what_the_edge_node_encodes() {
    let pubs = scenario();
    let topics: Vec<&str> = pubs.iter().map(|p| p.topic.as_str()).collect();
    assert_eq!(
        topics,
        [
            "spBv1.0/Plant/NDEATH/rtu7",
            "spBv1.0/Plant/NBIRTH/rtu7",
            "spBv1.0/Plant/DBIRTH/rtu7/rtu7",
            "spBv1.0/Plant/DDATA/rtu7/rtu7",
            "spBv1.0/Plant/NBIRTH/rtu7",
            "spBv1.0/Plant/DBIRTH/rtu7/rtu7",
            "spBv1.0/Plant/DDATA/rtu7/rtu7",
            "spBv1.0/Plant/DDATA/rtu7/rtu7",
        ]
    );
    if !tahu_available() {
        return;
    }
    let payloads: Vec<&[u8]> = pubs.iter().map(|p| p.payload.as_ref()).collect();
    let d = tahu_decode(&payloads);

    // NDEATH: bdSeq 0 (Int64), no seq.
    assert_eq!(metric(&d[0], "bdSeq")["type"], "Int64");
    assert_eq!(metric(&d[0], "bdSeq")["value"], "0");
    assert!(d[0]["tahu"].get("seq").is_none());

    // NBIRTH: seq 0, same bdSeq, node metrics with name, alias, type, value.
    assert_eq!(d[1]["tahu"]["seq"], "0");
    assert_eq!(d[1]["tahu"]["timestamp"], T0.to_string());
    assert_eq!(metric(&d[1], "bdSeq")["value"], "0");
    let rebirth = metric(&d[1], "Node Control/Rebirth");
    assert_eq!(
        (&rebirth["type"], &rebirth["value"], &rebirth["alias"]),
        (&json!("Boolean"), &json!(false), &json!("0"))
    );
    assert_eq!(metric(&d[1], "Node Info/Gateway")["value"], "gw-a");
    assert_eq!(metric(&d[1], "History/Dropped")["type"], "UInt64");

    // DBIRTH: every metric with name, alias, type and value; time tag as timestamp; quality.
    assert_eq!(d[2]["tahu"]["seq"], "1");
    let b = metric(&d[2], "Breaker");
    assert_eq!(
        (&b["type"], &b["value"], &b["alias"]),
        (&json!("UInt8"), &json!(2), &json!("16"))
    );
    assert_eq!(b["timestamp"], (T0 - 3_600_000).to_string());
    assert_eq!(
        b["properties"]["Quality"],
        json!({"type": "UInt8", "value": 0})
    );
    let tap = metric(&d[2], "Tap");
    assert_eq!((&tap["type"], &tap["value"]), (&json!("Int8"), &json!(-5)));
    assert_eq!(
        tap["properties"]["Transient"],
        json!({"type": "Boolean", "value": true})
    );
    assert_eq!(metric(&d[2], "Flags")["type"], "UInt32");
    // Tahu JS 1.0.3 reads UInt32 from long_value; Sparkplug 3.0 puts it in int_value, as we do.
    let flags = d[2]["raw"]["metrics"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == "Flags"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(flags["intValue"], json!(0xFFFF_0001u32));
    let unset = metric(&d[2], "7/2");
    assert_eq!(
        (&unset["type"], &unset["value"]),
        (&json!("Float"), &Json::Null)
    );
    let switch = metric(&d[2], "Switch");
    assert_eq!(
        (&switch["type"], &switch["value"]),
        (&json!("Boolean"), &Json::Null),
        "writable, no value yet"
    );
    assert_eq!(metric(&d[2], "Switch/Command Result")["type"], "String");

    // DDATA: aliases only, values, quality bits, is_null for IV.
    let raw = &d[3]["raw"];
    assert_eq!(raw["seq"], "2");
    let m = raw["metrics"].as_array().cloned().unwrap_or_default();
    assert_eq!(m.len(), 2);
    assert_eq!(
        (
            &m[0]["alias"],
            &m[0]["floatValue"],
            &m[0].get("name"),
            &m[0].get("datatype")
        ),
        (&json!("17"), &json!(-12.25), &None, &None)
    );
    assert_eq!(m[0]["timestamp"], (T0 + 3).to_string());
    let props = &d[3]["tahu"]["metrics"][0]["properties"];
    assert_eq!(
        (
            &props["Quality"]["value"],
            &props["NT"]["value"],
            &props["OV"]["value"]
        ),
        (&json!(0x41), &json!(true), &json!(true))
    );
    assert_eq!(
        (&m[1]["alias"], &m[1]["isNull"], &m[1].get("intValue")),
        (&json!("20"), &json!(true), &None)
    );
    assert_eq!(
        d[3]["tahu"]["metrics"][1]["properties"]["IV"]["value"],
        true
    );

    // Second session: bdSeq 1, births, then the value kept while offline as history.
    assert_eq!(metric(&d[4], "bdSeq")["value"], "1");
    assert_eq!(d[4]["tahu"]["seq"], "0");
    let h = &d[6]["raw"]["metrics"][0];
    assert_eq!(
        (
            &h["alias"],
            &h["floatValue"],
            &h["isHistorical"],
            &h["timestamp"]
        ),
        (
            &json!("17"),
            &json!(2.5),
            &json!(true),
            &json!((T0 + 6).to_string())
        )
    );
    assert_eq!(d[6]["tahu"]["seq"], "2");

    // The DCMD's result metric.
    let r = &d[7]["raw"]["metrics"][0];
    assert_eq!(
        (&r["alias"], &r["stringValue"]),
        (&json!("22"), &json!("pending"))
    );
    assert_eq!(d[7]["tahu"]["seq"], "3");
}

//! One received ASDU → the MQTT messages of its information objects.
//!
//! Payload: the JSON object of docs/json.md (iec104::json) plus `rtu`, `received` and `node`.
//! Control-direction mirrors (confirmations of commands, interrogation, file transfer) are
//! not data: they are reported as command results and connection status, not published here.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use iec104::asdu::AsduView;
use iec104::cot::Cause;
use iec104::json::JsonObject;
use serde_json::Value;

use crate::config::Rtu;
use crate::contract::{self, Address, DataEncoder, Topics};
use crate::model::Message;

/// Publication settings shared by every RTU.
#[derive(Debug, Clone)]
pub struct Publish {
    /// The topics (under the configured prefix).
    pub topics: Topics,
    /// This gateway node.
    pub node: String,
    /// QoS of data messages.
    pub qos: u8,
    /// Retain data messages.
    pub retain: bool,
}

/// Converts the ASDUs of one RTU, remembering last values for deadbands.
#[derive(Debug)]
pub struct Converter {
    rtu: Arc<Rtu>,
    publish: Publish,
    /// Last published numeric value of points with a deadband (bounded by the configuration).
    last: HashMap<(u16, u32), f64>,
    /// Topics and payloads of this RTU's data.
    encoder: DataEncoder,
}

/// Whether a type id carries monitor-direction data (1..=44, 70) or is unknown to us.
fn is_data(type_id: u8, known: bool) -> bool {
    !known || matches!(type_id, 1..=44 | 70)
}

impl Converter {
    /// A converter for `rtu`.
    pub fn new(rtu: Arc<Rtu>, publish: Publish) -> Converter {
        let encoder = DataEncoder::new(&publish.topics, &rtu.name, &publish.node);
        Converter {
            rtu,
            publish,
            last: HashMap::new(),
            encoder,
        }
    }

    /// The data topic of a point.
    pub fn topic(&self, ca: u16, ioa: u32) -> String {
        let name = self
            .rtu
            .points
            .get(&(ca, ioa))
            .and_then(|p| p.name.as_deref());
        self.encoder.topic(Address { ca, ioa }, name)
    }

    /// The messages of `view`, received at `received`.
    pub fn convert(&mut self, view: &AsduView<'_>, received: DateTime<Utc>) -> Vec<Message> {
        let h = view.header();
        if !is_data(h.type_id, view.type_id().is_some()) {
            return Vec::new();
        }
        let periodic = matches!(
            h.cot.cause,
            Cause::Spontaneous | Cause::Periodic | Cause::Background
        );
        // Our fields, the same for every object of the ASDU.
        let envelope = self.encoder.envelope(&contract::rfc3339(received));
        let mut out = Vec::with_capacity(usize::from(h.count));
        // CP24Time2a tags are completed from the receiver's clock in the RTU's time zone.
        let local_now = received + chrono::Duration::seconds(i64::from(self.rtu.tz_offset_secs));
        for object in JsonObject::from_view(view, local_now) {
            let ioa = object.object().map(|o| o.ioa).unwrap_or(0);
            let ca = h.common_address;
            let point = self.rtu.points.get(&(ca, ioa));
            let adjust = self.rtu.tz_offset_secs != 0
                || point.is_some_and(|p| {
                    p.scale.is_some() || p.offset.is_some() || p.deadband.is_some()
                });
            let payload = if adjust {
                let mut v = object.to_value();
                if let Some(map) = v.as_object_mut() {
                    self.shift_time(map);
                    if let Some(p) = point {
                        if let Some(raw) = map.get("value").and_then(Value::as_f64) {
                            let scaled = raw * p.scale.unwrap_or(1.0) + p.offset.unwrap_or(0.0);
                            if p.scale.is_some() || p.offset.is_some() {
                                map.insert(
                                    "raw_value".into(),
                                    map.get("value").cloned().unwrap_or(Value::Null),
                                );
                                map.insert("value".into(), serde_json::json!(scaled));
                            }
                            if let Some(db) = p.deadband {
                                let last = self.last.get(&(ca, ioa)).copied();
                                if periodic && last.is_some_and(|l| (scaled - l).abs() < db) {
                                    continue;
                                }
                                self.last.insert((ca, ioa), scaled);
                            }
                        }
                    }
                }
                self.encoder.payload(&v, &envelope)
            } else {
                self.encoder.payload(&object, &envelope)
            };
            // A type unknown to us has no decoded address: its own honest topic
            // `{rtu}/{ca}/_type/{type_id}`, not `{ca}/0` (the payload keeps the raw octets).
            let topic = match object.object() {
                Some(_) => self.topic(ca, ioa),
                None => self.encoder.unknown_type_topic(ca, h.type_id),
            };
            out.push(Message {
                topic,
                payload,
                qos: self.publish.qos,
                retain: self.publish.retain,
            });
        }
        out
    }

    /// Time tags in the RTU's local time → UTC.
    fn shift_time(&self, map: &mut serde_json::Map<String, Value>) {
        if self.rtu.tz_offset_secs == 0 {
            return;
        }
        let Some(t) = map.get("time").and_then(Value::as_str) else {
            return;
        };
        if let Ok(t) = DateTime::parse_from_rfc3339(t) {
            let utc = t.with_timezone(&Utc)
                - chrono::Duration::seconds(i64::from(self.rtu.tz_offset_secs));
            map.insert("time".into(), Value::String(contract::rfc3339(utc)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use chrono::TimeZone;
    use iec104::asdu::AsduParams;

    fn rtu(extra: &str) -> Arc<Rtu> {
        let text = format!(
            "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n[[rtu]]\nname = \"north\"\naddress = \"127.0.0.1:2404\"\ncommon_address = 1\n{extra}"
        );
        Arc::new(config::parse(&text, "t").unwrap().rtus.remove(0))
    }

    fn publish() -> Publish {
        Publish {
            topics: Topics::new("iec104"),
            node: "gw1".into(),
            qos: 1,
            retain: false,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap()
    }

    // M_SP_NA_1 (type 1), SQ=0 count 1, COT 3 spont, OA 0, CA 1 (LE), IOA 10 (3 octets LE),
    // SIQ 0x01 (SPI on, no quality flags) — IEC 60870-5-101 7.3.1.1 / 104 with 2-octet COT.
    const SP_ON: [u8; 10] = [0x01, 0x01, 0x03, 0x00, 0x01, 0x00, 0x0A, 0x00, 0x00, 0x01];

    #[test]
    fn payload_is_the_json_object_plus_our_fields_in_order() {
        let mut c = Converter::new(rtu(""), publish());
        let view = AsduView::parse(&SP_ON, &AsduParams::IEC104).unwrap();
        let m = c.convert(&view, now());
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].topic, "iec104/north/1/10");
        assert_eq!(
            String::from_utf8(m[0].payload.clone()).unwrap(),
            r#"{"ca":1,"ioa":10,"type":"M_SP_NA_1","cot":"spont","value":true,"quality":[],"rtu":"north","received":"2026-11-24T10:00:00.000Z","node":"gw1"}"#
        );
    }

    #[test]
    fn unknown_type_gets_an_honest_topic() {
        // Type id 200 (private range, unknown to us), SQ=0 count 1, COT 3, OA 0, CA 1, then
        // octets we cannot interpret (an IOA cannot be told apart from the rest).
        let b = [200u8, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x08, 0x0E, 0x01];
        let mut c = Converter::new(rtu(""), publish());
        let view = AsduView::parse(&b, &AsduParams::IEC104).unwrap();
        let m = c.convert(&view, now());
        assert!(!m.is_empty());
        assert!(
            m.iter().all(|m| m.topic == "iec104/north/1/_type/200"),
            "{:?}",
            m[0].topic
        );
    }

    #[test]
    fn named_point_topic() {
        let mut c = Converter::new(rtu("[[rtu.point]]\nioa = 10\nname = \"q1\"\n"), publish());
        let view = AsduView::parse(&SP_ON, &AsduParams::IEC104).unwrap();
        assert_eq!(c.convert(&view, now())[0].topic, "iec104/north/q1");
    }

    // M_ME_NB_1 (11) scaled value, COT 3, CA 1, IOA 20, SVA = 100 (0x0064 LE), QDS 0.
    fn scaled(v: i16) -> Vec<u8> {
        let [lo, hi] = v.to_le_bytes();
        vec![
            0x0B, 0x01, 0x03, 0x00, 0x01, 0x00, 0x14, 0x00, 0x00, lo, hi, 0x00,
        ]
    }

    #[test]
    fn scaling_and_deadband() {
        let mut c = Converter::new(
            rtu("[[rtu.point]]\nioa = 20\nscale = 0.5\noffset = 1\ndeadband = 2\n"),
            publish(),
        );
        let b = scaled(100);
        let m = c.convert(&AsduView::parse(&b, &AsduParams::IEC104).unwrap(), now());
        let v: Value = serde_json::from_slice(&m[0].payload).unwrap();
        assert_eq!(v["value"], serde_json::json!(51.0));
        assert_eq!(v["raw_value"], serde_json::json!(100));
        assert_eq!(v["rtu"], "north");
        // 102 * 0.5 + 1 = 52: within the deadband of 2 from 51.
        let b = scaled(102);
        assert!(c
            .convert(&AsduView::parse(&b, &AsduParams::IEC104).unwrap(), now())
            .is_empty());
        // 104 -> 53: 2 away from 51, published.
        let b = scaled(104);
        assert_eq!(
            c.convert(&AsduView::parse(&b, &AsduParams::IEC104).unwrap(), now())
                .len(),
            1
        );
    }

    #[test]
    fn time_zone_shifts_time_tags_to_utc() {
        let mut c = Converter::new(rtu("time_zone = \"+01:00\"\n"), publish());
        // M_SP_TB_1 (30), COT 3, CA 1, IOA 10, SIQ 1, CP56Time2a 2026-11-24 11:15:30.123
        // local: ms 30123 = 0x75AB (LE AB 75), min 15, hour 11, day 24 (DOW 0), month 11, year 26.
        let b = [
            0x1E, 0x01, 0x03, 0x00, 0x01, 0x00, 0x0A, 0x00, 0x00, 0x01, 0xAB, 0x75, 15, 11, 24, 11,
            26,
        ];
        let m = c.convert(&AsduView::parse(&b, &AsduParams::IEC104).unwrap(), now());
        let v: Value = serde_json::from_slice(&m[0].payload).unwrap();
        assert_eq!(v["time"], "2026-11-24T10:15:30.123Z");
    }

    #[test]
    fn cp24_tags_are_completed_in_the_rtu_time_zone() {
        let mut c = Converter::new(rtu("time_zone = \"+01:00\"\n"), publish());
        // M_SP_TA_1 (2), COT 3, CA 1, IOA 10, SIQ 1, CP24Time2a: ms 30123 = 0x75AB (LE AB 75),
        // minute 15. Received 10:00:00Z = 11:00 in the RTU's zone: the tag is 11:15:30.123
        // local, i.e. 10:15:30.123Z.
        let b = [
            0x02, 0x01, 0x03, 0x00, 0x01, 0x00, 0x0A, 0x00, 0x00, 0x01, 0xAB, 0x75, 15,
        ];
        let m = c.convert(&AsduView::parse(&b, &AsduParams::IEC104).unwrap(), now());
        let v: Value = serde_json::from_slice(&m[0].payload).unwrap();
        assert_eq!(v["time"], "2026-11-24T10:15:30.123Z", "{v}");
        assert_eq!(v["time_partial"], true);
    }

    #[test]
    fn command_mirrors_are_not_data() {
        // C_IC_NA_1 (100) ActCon (7), CA 1, IOA 0, QOI 20.
        let b = [0x64, 0x01, 0x07, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x14];
        let mut c = Converter::new(rtu(""), publish());
        assert!(c
            .convert(&AsduView::parse(&b, &AsduParams::IEC104).unwrap(), now())
            .is_empty());
    }
}

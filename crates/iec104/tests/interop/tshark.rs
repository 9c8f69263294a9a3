//! Runs Wireshark's IEC 104 dissector over a capture and returns its JSON reading.

use std::path::Path;
use std::process::Command;

use serde_json::{Map, Value};

/// Expert severity "error" in Wireshark (`PI_ERROR`, epan/proto.h), as its JSON export prints it.
pub const SEVERITY_ERROR: u64 = 0x0080_0000;
/// Expert severity "warning" (`PI_WARN`).
pub const SEVERITY_WARN: u64 = 0x0060_0000;

/// One dissected frame.
#[derive(Debug, Clone)]
pub struct Packet {
    /// pcap frame number, 1-based.
    pub number: u32,
    /// `_source.layers` of tshark's JSON export.
    pub layers: Value,
}

impl Packet {
    /// The `iec60870_asdu` layer, when Wireshark decoded an ASDU in this frame.
    pub fn asdu(&self) -> Option<&Map<String, Value>> {
        self.layers.get("iec60870_asdu").and_then(Value::as_object)
    }

    /// The `iec60870_104` (APCI) layer.
    pub fn apci(&self) -> Option<&Map<String, Value>> {
        self.layers.get("iec60870_104").and_then(Value::as_object)
    }

    /// Every malformed-packet mark and expert item of severity ≥ `min_severity`, as text.
    pub fn expert_items(&self, min_severity: u64) -> Vec<String> {
        let mut found = Vec::new();
        walk(&self.layers, "", &mut |path, key, value| {
            if key == "_ws.malformed" && value.is_string() {
                found.push(format!("{path}: malformed packet"));
            }
            if key == "_ws.expert" {
                let severity = value
                    .get("_ws.expert.severity")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(0);
                if severity >= min_severity {
                    found.push(format!("{path}: expert {value}"));
                }
            }
        });
        found
    }
}

fn walk(value: &Value, path: &str, f: &mut dyn FnMut(&str, &str, &Value)) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                f(path, k, v);
                walk(v, &format!("{path}/{k}"), f);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, &format!("{path}[{i}]"), f);
            }
        }
        _ => {}
    }
}

/// `tshark -r file -d tcp.port==port,iec60870_104 -T json --no-duplicate-keys`, parsed.
/// Bounded: tshark is killed and the test fails after 60 s. Panics with tshark's stderr when
/// it fails.
pub async fn dissect(file: &Path, port: u16) -> Vec<Packet> {
    let mut cmd = tokio::process::Command::new("tshark");
    cmd.arg("-r")
        .arg(file)
        .arg("-d")
        .arg(format!("tcp.port=={port},iec60870_104"))
        .args(["-T", "json", "--no-duplicate-keys"])
        .kill_on_drop(true);
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), cmd.output())
        .await
        .expect("tshark did not finish within 60 s")
        .expect("run tshark");
    assert!(
        output.status.success(),
        "tshark failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout).expect("tshark JSON");
    let frames = json.as_array().expect("tshark JSON is an array of frames");
    frames
        .iter()
        .map(|f| {
            let layers = f
                .pointer("/_source/layers")
                .cloned()
                .expect("frame without _source.layers");
            let number = layers
                .pointer("/frame/frame.number")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .expect("frame.number");
            Packet { number, layers }
        })
        .collect()
}

/// tshark's version line, for the test log.
pub fn version() -> String {
    Command::new("tshark")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_default()
}

/// A field of a JSON object as text (tshark prints every value as a string).
pub fn field<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    map.get(name).and_then(Value::as_str)
}

/// The information objects of an ASDU layer: every `"IOA: n"` entry (arrays when duplicated).
/// The order is the JSON map's (sorted keys), not the wire order: match objects by their
/// `iec60870_asdu.ioa` field.
pub fn objects(asdu: &Map<String, Value>) -> Vec<&Map<String, Value>> {
    let mut out = Vec::new();
    for (k, v) in asdu {
        if !k.starts_with("IOA") {
            continue;
        }
        match v {
            Value::Object(m) => out.push(m),
            Value::Array(items) => out.extend(items.iter().filter_map(Value::as_object)),
            _ => {}
        }
    }
    out
}

/// A field anywhere inside `map` (Wireshark nests bit fields in `*_tree` objects).
pub fn find_field<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    if let Some(v) = field(map, name) {
        return Some(v);
    }
    map.values()
        .filter_map(Value::as_object)
        .find_map(|inner| find_field(inner, name))
}

//! Command results: `{"id":..,"status":..,..,"time":..}` on the result topic.

use chrono::Utc;
use serde_json::{Map, Value};

use crate::model::Message;

/// The result message: `{"id":..,"status":..}` plus `fields`.
pub fn result_message(
    topic: &str,
    id: Option<&str>,
    status: &str,
    fields: Map<String, Value>,
) -> Message {
    let mut m = Map::new();
    m.insert(
        "id".into(),
        id.map(|s| Value::String(s.to_owned()))
            .unwrap_or(Value::Null),
    );
    m.insert("status".into(), Value::String(status.to_owned()));
    m.extend(fields);
    m.insert(
        "time".into(),
        Value::String(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
    );
    Message {
        topic: topic.to_owned(),
        payload: Value::Object(m).to_string().into_bytes(),
        qos: 1,
        retain: false,
    }
}

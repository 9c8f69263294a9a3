//! Ground truth and delivery: the simulator's events log against the recorded messages.
//!
//! An event is identified by (station = RTU, CA, IOA, time tag, value): the scenario's
//! points count up and every event has a CP56Time2a tag, so two distinct events never share a
//! key. "Lost" = a logged spontaneous event with a time tag up to a cut-off and no spontaneous
//! message with its key; "duplicated" = a logged event that arrived more than once as a
//! spontaneous message (interrogation answers are state, not events, and are not counted).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::recorder::Recorder;
use super::view::is_data;
use crate::subscriber::Received;

/// The key of an object: `rtu|ca|ioa|time|value`.
fn key(rtu: &Value, v: &Value) -> Option<String> {
    Some(format!(
        "{}|{}|{}|{}|{}",
        rtu.as_str()?,
        v.get("ca")?,
        v.get("ioa")?,
        v.get("time")?.as_str()?,
        v.get("value")?
    ))
}

/// Milliseconds since the epoch of an RFC 3339 time.
pub fn time_ms(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// One logged spontaneous event.
#[derive(Debug, Clone)]
pub struct Logged {
    /// Its key.
    pub key: String,
    /// Its time tag, ms since the epoch.
    pub time_ms: i64,
}

/// The spontaneous, time-tagged events of the events log, in log order.
pub fn logged(path: &Path) -> Vec<Logged> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("outcome").is_none() && v["cot"] == "spont")
        .filter_map(|v| {
            Some(Logged {
                key: key(&v["station"], &v)?,
                time_ms: time_ms(v["time"].as_str()?)?,
            })
        })
        .collect()
}

/// The publishing node of every arrival of each key, as spontaneous data messages (an
/// interrogation answer can carry the same time tag and value as the last event of its point:
/// it is state, not the event).
pub fn received(msgs: &[Received]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in msgs
        .iter()
        .filter(|m| is_data(m) && m.json["cot"] == "spont")
    {
        if let Some(k) = key(&m.json["rtu"], &m.json) {
            let node = m.json["node"].as_str().unwrap_or("?").to_owned();
            out.entry(k).or_default().push(node);
        }
    }
    out
}

/// The outcome of a comparison.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    /// Logged events up to the cut-off.
    pub logged: usize,
    /// Keys of the logged events that never arrived.
    pub lost: Vec<String>,
    /// Keys of the logged events that arrived more than once, with the node of each arrival.
    pub duplicated: Vec<(String, Vec<String>)>,
}

impl Delivery {
    /// A one-line summary with a few examples.
    pub fn summary(&self) -> String {
        format!(
            "{} logged events: {} lost (e.g. {:?}), {} duplicated (e.g. {:?})",
            self.logged,
            self.lost.len(),
            self.lost.iter().take(3).collect::<Vec<_>>(),
            self.duplicated.len(),
            self.duplicated.iter().take(3).collect::<Vec<_>>()
        )
    }
}

/// Compares the logged events tagged at or before `cutoff_ms` with the messages.
pub fn compare(logged: &[Logged], msgs: &[Received], cutoff_ms: i64) -> Delivery {
    let got = received(msgs);
    let mut d = Delivery::default();
    let mut seen = BTreeSet::new();
    for e in logged.iter().filter(|e| e.time_ms <= cutoff_ms) {
        if !seen.insert(e.key.as_str()) {
            continue;
        }
        d.logged += 1;
        match got.get(&e.key) {
            None => d.lost.push(e.key.clone()),
            Some(nodes) if nodes.len() == 1 => {}
            Some(nodes) => d.duplicated.push((e.key.clone(), nodes.clone())),
        }
    }
    d
}

/// Waits (at most `within`) until every event the log holds with a time tag up to now − 500 ms
/// has arrived; the comparison at that point (or at the deadline, with what is lost). Panics
/// when the events log does not reach the cut-off by the deadline: a stalled log would make the
/// comparison vacuous for everything after the stall.
pub async fn delivered(rec: &Recorder, events_log: &Path, within: Duration) -> Delivery {
    let cutoff = chrono::Utc::now().timestamp_millis() - 500;
    let end = Instant::now() + within;
    let mut log = logged(events_log);
    // The simulator flushes its log every 100 ms: read until it covers the cut-off.
    while !log.last().is_some_and(|e| e.time_ms >= cutoff) {
        assert!(
            Instant::now() < end,
            "the events log stalled: its last event is at {:?} ms, the loss check needs {cutoff} ms",
            log.last().map(|e| e.time_ms)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        log = logged(events_log);
    }
    let mut last = Delivery::default();
    let left = end.saturating_duration_since(Instant::now());
    let r = rec
        .wait(left, |msgs| {
            last = compare(&log, msgs, cutoff);
            last.lost.is_empty().then(|| last.clone())
        })
        .await;
    r.unwrap_or(last)
}

/// The gap per RTU around a fault at `at` as the subscriber saw it: the last data message
/// before `at` → the first data message after it published by another node than `victim`
/// (messages the victim published just before it died may still arrive after `at`). None when
/// no other node published data of the RTU after `at`.
pub fn gaps(
    msgs: &[Received],
    rtus: &[String],
    at: Instant,
    victim: &str,
) -> BTreeMap<String, Option<Duration>> {
    rtus.iter()
        .map(|r| {
            let data = || {
                msgs.iter()
                    .filter(|m| is_data(m) && m.json["rtu"] == r.as_str())
            };
            let before = data().filter(|m| m.at <= at).map(|m| m.at).max();
            let after = data()
                .filter(|m| m.at > at && m.json["node"] != victim)
                .map(|m| m.at)
                .min();
            let gap = match (before, after) {
                (Some(b), Some(a)) => Some(a - b),
                (None, Some(a)) => Some(a - at),
                _ => None,
            };
            (r.clone(), gap)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(v: Value) -> Received {
        Received {
            topic: "cl/s1/1/1001".into(),
            json: v,
            retain: false,
            qos: 1,
            at: Instant::now(),
        }
    }

    #[test]
    fn a_missing_event_is_lost_and_a_repeated_one_duplicated() {
        let ev = |t: &str, v: f64| json!({"ca":1,"ioa":1001,"type":"M_ME_TF_1","cot":"spont","value":v,"time":t,"station":"s1"});
        let log: Vec<Logged> = [
            ev("2026-11-24T10:00:00.000Z", 1.0),
            ev("2026-11-24T10:00:00.100Z", 2.0),
            ev("2026-11-24T10:00:00.200Z", 3.0),
            ev("2026-11-24T10:00:09.000Z", 4.0),
        ]
        .iter()
        .map(|v| Logged {
            key: key(&v["station"], v).unwrap(),
            time_ms: time_ms(v["time"].as_str().unwrap()).unwrap(),
        })
        .collect();
        let data = |t: &str, v: f64| {
            let mut m = ev(t, v);
            m["rtu"] = json!("s1");
            m["node"] = json!("gw-a");
            m.as_object_mut().unwrap().remove("station");
            msg(m)
        };
        let msgs = vec![
            data("2026-11-24T10:00:00.000Z", 1.0),
            data("2026-11-24T10:00:00.200Z", 3.0),
            data("2026-11-24T10:00:00.200Z", 3.0),
            // Same time, other value: not the logged event.
            data("2026-11-24T10:00:00.100Z", 2.5),
        ];
        let mut gi = data("2026-11-24T10:00:00.000Z", 1.0);
        gi.json["cot"] = json!("inrogen");
        // An interrogation answer equal to an event is neither its delivery nor a duplicate.
        let mut msgs = msgs;
        msgs.push(gi);
        let cutoff = time_ms("2026-11-24T10:00:01.000Z").unwrap();
        let d = compare(&log, &msgs, cutoff);
        assert_eq!(d.logged, 3);
        assert_eq!(
            d.lost,
            vec!["s1|1|1001|2026-11-24T10:00:00.100Z|2.0".to_string()]
        );
        assert_eq!(d.duplicated.len(), 1);
    }
}

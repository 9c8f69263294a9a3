//! Random event sequences: the session rules hold whatever the order of events.

use iec104::asdu::Quality;
use proptest::prelude::*;
use prost::Message;

use super::*;
use crate::proto::{MetricValue, Payload};

#[derive(Debug, Clone)]
enum Event {
    Connect,
    Connected,
    Disconnected,
    Host(bool),
    LinkUp,
    Interrogated,
    LinkDown,
    Value(u32, bool),
    Tick,
    Rebirth,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        Just(Event::Connect),
        Just(Event::Connected),
        Just(Event::Disconnected),
        any::<bool>().prop_map(Event::Host),
        Just(Event::LinkUp),
        Just(Event::Interrogated),
        Just(Event::LinkDown),
        (1u32..4, any::<bool>()).prop_map(|(i, iv)| Event::Value(i, iv)),
        Just(Event::Tick),
        Just(Event::Rebirth),
    ]
}

/// What the checker knows of the session from the outputs alone.
#[derive(Default)]
struct Observer {
    will_bd_seq: Option<u64>,
    connected: bool,
    host_online: bool,
    last_seq: Option<u64>,
    device_born: bool,
}

fn bd_seq(p: &Payload) -> Option<u64> {
    p.metrics
        .iter()
        .find(|m| m.name.as_deref() == Some("bdSeq"))
        .and_then(|m| match m.value {
            Some(MetricValue::LongValue(v)) => Some(v),
            _ => None,
        })
}

impl Observer {
    fn check(&mut self, action: Action) -> Result<(), TestCaseError> {
        let p = match action {
            Action::Publish(p) => p,
            Action::Disconnect => {
                self.connected = false;
                return Ok(());
            }
            Action::Command(_) => return Ok(()),
        };
        let payload = Payload::decode(p.payload.as_slice())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let kind = p.topic.split('/').nth(2).unwrap_or_default().to_owned();
        prop_assert!(self.connected, "{kind} published without a session");
        prop_assert!(!p.retain);
        match kind.as_str() {
            "NDEATH" => {
                prop_assert_eq!(bd_seq(&payload), self.will_bd_seq);
                prop_assert_eq!(payload.seq, None);
                return Ok(());
            }
            "NBIRTH" => {
                prop_assert!(self.host_online, "NBIRTH before the host is online");
                prop_assert_eq!(payload.seq, Some(0));
                prop_assert_eq!(bd_seq(&payload), self.will_bd_seq);
                self.device_born = false;
            }
            other => {
                let last = self
                    .last_seq
                    .ok_or_else(|| TestCaseError::fail(format!("{other} before NBIRTH")))?;
                prop_assert_eq!(payload.seq, Some((last + 1) % 256));
            }
        }
        match kind.as_str() {
            "DBIRTH" => self.device_born = true,
            "DDEATH" => {
                prop_assert!(self.device_born);
                self.device_born = false;
            }
            "DDATA" => {
                prop_assert!(self.device_born, "DDATA for a device not born");
                for m in &payload.metrics {
                    prop_assert!(m.name.is_none() && m.alias.is_some() && m.datatype.is_none());
                }
            }
            _ => {}
        }
        self.last_seq = payload.seq;
        Ok(())
    }
}

fn settings() -> EdgeSettings {
    EdgeSettings {
        group_id: "G".into(),
        edge_node_id: "E".into(),
        device_id: "D".into(),
        primary_host_id: Some("H".into()),
        qos: 0,
        buffer_capacity: 8,
        command_timeout_ms: 1000,
        gateway_node: None,
    }
}

fn run(events: Vec<Event>) -> Result<(), TestCaseError> {
    let mut n = EdgeNode::new(settings(), &[]).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut o = Observer::default();
    let mut connecting = false;
    for (i, e) in events.into_iter().enumerate() {
        let now = 1_000 + i as u64;
        match e {
            Event::Connect => {
                let will = n.connect(now);
                let p = Payload::decode(will.payload.as_slice())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                o = Observer {
                    will_bd_seq: bd_seq(&p),
                    ..Observer::default()
                };
                connecting = true;
            }
            Event::Connected => {
                if connecting {
                    o.connected = true;
                    o.host_online = false;
                    connecting = false;
                }
                n.connected(now);
            }
            Event::Disconnected => {
                o.connected = false;
                connecting = false;
                n.disconnected(now);
            }
            Event::Host(online) => {
                if o.connected {
                    o.host_online = online;
                }
                let state = format!("{{\"online\":{online},\"timestamp\":{now}}}");
                prop_assert!(n.message(now, "spBv1.0/STATE/H", state.as_bytes()).is_ok());
            }
            Event::LinkUp => n.rtu_link_up(now),
            Event::Interrogated => n.interrogation_complete(now),
            Event::LinkDown => n.rtu_link_down(now),
            Event::Value(ioa, invalid) => {
                let quality = if invalid { Quality::IV } else { Quality::GOOD };
                let update = PointUpdate {
                    address: PointAddress { ca: 1, ioa },
                    value: PointValue::Scaled(ioa as i16),
                    quality,
                    time_tag_ms: None,
                    interrogated: false,
                };
                prop_assert!(n.value(now, update).is_ok());
            }
            Event::Tick => n.tick(now),
            Event::Rebirth => {
                let m = crate::proto::Metric {
                    name: Some(REBIRTH_METRIC.into()),
                    value: Some(MetricValue::BooleanValue(true)),
                    ..Default::default()
                };
                let p = Payload {
                    metrics: vec![m],
                    ..Default::default()
                };
                prop_assert!(n
                    .message(now, "spBv1.0/G/NCMD/E", &p.encode_to_vec())
                    .is_ok());
            }
        }
        while let Some(a) = n.poll_action() {
            o.check(a)?;
        }
        prop_assert!(n.buffered() <= 8, "history bounded");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn session_rules_hold_for_any_order_of_events(events in proptest::collection::vec(event(), 0..120)) {
        run(events)?;
    }
}

proptest! {
    /// Whatever a broker delivers on the subscribed topics, the machine answers with a
    /// result, never a panic, and publishes only on its own topics.
    #[test]
    fn arbitrary_payloads_on_the_subscribed_topics_never_panic(
        topic in 0usize..3,
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut s = settings();
        s.primary_host_id = Some("H".into());
        let mut n = EdgeNode::new(s, &[]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        n.connect(1);
        n.connected(1);
        let topic = ["spBv1.0/G/NCMD/E", "spBv1.0/G/DCMD/E/D", "spBv1.0/STATE/H"][topic];
        let _ = n.message(2, topic, &bytes);
        let _ = n.observe("spBv1.0/G/NBIRTH/E", &bytes);
        while let Some(a) = n.poll_action() {
            if let Action::Publish(p) = a {
                prop_assert!(p.topic.starts_with("spBv1.0/G/"));
            }
        }
    }
}

//! The edge node in virtual time: every rule of the module docs.

use iec104::asdu::Quality;
use iec104::type_id::TypeId;
use prost::Message;

use super::*;
use crate::proto::{Metric, MetricValue, Payload, PropertyValueKind};

const T0: u64 = 1_700_000_000_000;

fn settings(primary: Option<&str>) -> EdgeSettings {
    EdgeSettings {
        group_id: "G".into(),
        edge_node_id: "rtu1".into(),
        device_id: "rtu1".into(),
        primary_host_id: primary.map(str::to_owned),
        qos: 0,
        buffer_capacity: 4,
        command_timeout_ms: 5_000,
        gateway_node: Some("gw-a".into()),
    }
}

fn points() -> Vec<PointConfig> {
    vec![
        PointConfig {
            address: PointAddress { ca: 1, ioa: 100 },
            name: Some("Breaker".into()),
            kind: Some(PointKind::Double),
            command: None,
        },
        PointConfig {
            address: PointAddress { ca: 1, ioa: 200 },
            name: None,
            kind: Some(PointKind::Float),
            command: None,
        },
        PointConfig {
            address: PointAddress { ca: 1, ioa: 5000 },
            name: Some("Setpoint".into()),
            kind: None,
            command: Some(CommandSpec {
                type_id: TypeId::C_SE_NC_1,
                select: false,
            }),
        },
    ]
}

use crate::point::PointKind;

fn node(primary: Option<&str>) -> EdgeNode {
    match EdgeNode::new(settings(primary), &points()) {
        Ok(n) => n,
        Err(e) => panic!("edge node: {e}"),
    }
}

/// Every queued publication, decoded.
fn drain(n: &mut EdgeNode) -> Vec<(String, Payload)> {
    let mut out = Vec::new();
    while let Some(a) = n.poll_action() {
        match a {
            Action::Publish(p) => {
                let payload =
                    Payload::decode(p.payload.as_slice()).unwrap_or_else(|e| panic!("{e}"));
                assert!(!p.retain, "{} retained", p.topic);
                out.push((p.topic, payload));
            }
            other => panic!("unexpected action {other:?}"),
        }
    }
    out
}

fn topics(msgs: &[(String, Payload)]) -> Vec<&str> {
    msgs.iter().map(|(t, _)| t.as_str()).collect()
}

fn metric<'a>(p: &'a Payload, name: &str) -> &'a Metric {
    p.metrics
        .iter()
        .find(|m| m.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no metric {name} in {p:?}"))
}

/// An interrogation answer (before the device is born it only updates the DBIRTH).
fn value(address: (u16, u32), value: PointValue) -> PointUpdate {
    PointUpdate {
        address: PointAddress {
            ca: address.0,
            ioa: address.1,
        },
        value,
        quality: Quality::GOOD,
        time_tag_ms: None,
        interrogated: true,
    }
}

#[test]
fn events_during_the_interrogation_follow_the_dbirth_as_history() {
    let mut n = born(None);
    n.rtu_link_down(T0);
    n.rtu_link_up(T0 + 1);
    let event = |v, t| PointUpdate {
        interrogated: false,
        time_tag_ms: Some(t),
        ..value((1, 200), PointValue::Float(v))
    };
    // A spontaneous event, the interrogation's answer, another event: only the answer is
    // state; both events are kept with their time tags.
    n.value(T0 + 2, event(1.0, T0 + 2)).unwrap_or_default();
    n.value(T0 + 3, value((1, 200), PointValue::Float(2.0)))
        .unwrap_or_default();
    n.value(T0 + 4, event(3.0, T0 + 4)).unwrap_or_default();
    let _ = drain(&mut n);
    n.interrogation_complete(T0 + 5);
    let msgs = drain(&mut n);
    assert_eq!(
        topics(&msgs),
        ["spBv1.0/G/DBIRTH/rtu1/rtu1", "spBv1.0/G/DDATA/rtu1/rtu1"]
    );
    let history: Vec<_> = msgs[1]
        .1
        .metrics
        .iter()
        .map(|m| (m.value.clone(), m.timestamp, m.is_historical))
        .collect();
    assert_eq!(
        history,
        [
            (Some(MetricValue::FloatValue(1.0)), Some(T0 + 2), Some(true)),
            (Some(MetricValue::FloatValue(3.0)), Some(T0 + 4), Some(true)),
        ]
    );
}

#[test]
fn an_event_that_overtakes_the_link_up_report_is_kept_as_history() {
    // The RTU sends what it buffered right after STARTDT; the value reaches the edge node
    // before the session's link-up report does (they travel on different paths).
    let mut n = born(None);
    n.rtu_link_down(T0);
    let _ = drain(&mut n);
    let early = PointUpdate {
        interrogated: false,
        time_tag_ms: Some(T0 + 1),
        ..value((1, 200), PointValue::Float(7.0))
    };
    n.value(T0 + 1, early).unwrap_or_default();
    assert_eq!(n.buffered(), 1, "the early event is held");
    n.rtu_link_up(T0 + 2);
    n.interrogation_complete(T0 + 3);
    let msgs = drain(&mut n);
    let historical: Vec<_> = msgs
        .iter()
        .filter(|(t, _)| t.contains("/DDATA/"))
        .flat_map(|(_, p)| p.metrics.iter())
        .map(|m| (m.value.clone(), m.timestamp, m.is_historical))
        .collect();
    assert_eq!(
        historical,
        [(Some(MetricValue::FloatValue(7.0)), Some(T0 + 1), Some(true))]
    );
}

/// Connected, born, RTU interrogated; the births drained.
fn born(primary: Option<&str>) -> EdgeNode {
    let mut n = node(primary);
    n.connect(T0);
    n.connected(T0);
    if let Some(h) = primary {
        let state = format!("{{\"online\":true,\"timestamp\":{T0}}}");
        assert!(n
            .message(T0, &format!("spBv1.0/STATE/{h}"), state.as_bytes())
            .is_ok());
    }
    n.rtu_link_up(T0);
    n.interrogation_complete(T0);
    let births = drain(&mut n);
    assert_eq!(
        topics(&births),
        ["spBv1.0/G/NBIRTH/rtu1", "spBv1.0/G/DBIRTH/rtu1/rtu1"]
    );
    n
}

#[test]
fn the_will_is_an_ndeath_with_the_sessions_bdseq_and_the_nbirth_carries_the_same() {
    let mut n = node(None);
    let will = n.connect(T0);
    assert_eq!(
        (will.topic.as_str(), will.qos, will.retain),
        ("spBv1.0/G/NDEATH/rtu1", 1, false)
    );
    let death = Payload::decode(will.payload.as_slice()).unwrap_or_default();
    assert_eq!(death.seq, None, "NDEATH has no seq");
    let bd = metric(&death, "bdSeq");
    assert_eq!(
        (bd.datatype, &bd.value),
        (Some(4), &Some(MetricValue::LongValue(0)))
    );
    n.connected(T0 + 1);
    let msgs = drain(&mut n);
    assert_eq!(
        topics(&msgs),
        ["spBv1.0/G/NBIRTH/rtu1"],
        "no DBIRTH before the interrogation"
    );
    let birth = &msgs[0].1;
    assert_eq!(birth.seq, Some(0));
    assert_eq!(
        metric(birth, "bdSeq").value,
        Some(MetricValue::LongValue(0))
    );
    let rebirth = metric(birth, REBIRTH_METRIC);
    assert_eq!(
        (rebirth.alias, rebirth.datatype, &rebirth.value),
        (Some(0), Some(11), &Some(MetricValue::BooleanValue(false)))
    );
    assert_eq!(
        metric(birth, GATEWAY_METRIC).value,
        Some(MetricValue::StringValue("gw-a".into()))
    );
}

#[test]
fn bdseq_counts_sessions_and_wraps_after_255() {
    let mut n = node(None);
    for expected in (0..=255u16).chain(0..=1) {
        let will = n.connect(T0);
        let p = Payload::decode(will.payload.as_slice()).unwrap_or_default();
        assert_eq!(
            metric(&p, "bdSeq").value,
            Some(MetricValue::LongValue(u64::from(expected)))
        );
        n.connected(T0);
        let msgs = drain(&mut n);
        assert_eq!(
            metric(&msgs[0].1, "bdSeq").value,
            Some(MetricValue::LongValue(u64::from(expected)))
        );
        n.disconnected(T0);
    }
}

#[test]
fn births_carry_names_aliases_datatypes_values_and_data_carries_aliases_only() {
    let mut n = node(None);
    n.connect(T0);
    n.connected(T0);
    n.rtu_link_up(T0);
    n.value(T0 + 5, value((1, 100), PointValue::Double(2)))
        .unwrap_or_default();
    assert!(
        drain(&mut n).len() == 1,
        "values during the interrogation are not sent as data"
    );
    n.interrogation_complete(T0 + 10);
    let msgs = drain(&mut n);
    assert_eq!(topics(&msgs), ["spBv1.0/G/DBIRTH/rtu1/rtu1"]);
    let dbirth = &msgs[0].1;
    assert_eq!(dbirth.seq, Some(1));
    let b = metric(dbirth, "Breaker");
    assert_eq!(
        (b.alias, b.datatype, &b.value, b.timestamp),
        (
            Some(16),
            Some(5),
            &Some(MetricValue::IntValue(2)),
            Some(T0 + 5)
        )
    );
    let f = metric(dbirth, "1/200");
    assert_eq!(
        (f.alias, f.datatype, f.is_null),
        (Some(17), Some(9), Some(true)),
        "no value yet"
    );
    let s = metric(dbirth, "Setpoint");
    assert_eq!(
        (s.alias, s.datatype, s.is_null),
        (Some(18), Some(9), Some(true)),
        "writable metric without value"
    );
    assert_eq!(metric(dbirth, "Setpoint/Command Result").datatype, Some(12));

    n.value(T0 + 20, value((1, 200), PointValue::Float(1.5)))
        .unwrap_or_default();
    n.value(T0 + 21, value((1, 100), PointValue::Double(1)))
        .unwrap_or_default();
    assert!(n.poll_action().is_none(), "values wait for the flush");
    n.tick(T0 + 30);
    let msgs = drain(&mut n);
    assert_eq!(topics(&msgs), ["spBv1.0/G/DDATA/rtu1/rtu1"]);
    let d = &msgs[0].1;
    assert_eq!((d.seq, d.timestamp), (Some(2), Some(T0 + 30)));
    let m = &d.metrics[0];
    assert_eq!(
        (&m.name, m.alias, m.datatype, &m.value),
        (&None, Some(17), None, &Some(MetricValue::FloatValue(1.5)))
    );
    assert_eq!(
        (d.metrics[1].alias, &d.metrics[1].value),
        (Some(16), &Some(MetricValue::IntValue(1)))
    );
}

#[test]
fn seq_increments_on_every_message_after_nbirth_and_wraps_at_255() {
    let mut n = born(None);
    for i in 0..300u64 {
        n.value(T0 + i, value((1, 200), PointValue::Float(i as f32)))
            .unwrap_or_default();
        n.flush(T0 + i);
        let msgs = drain(&mut n);
        assert_eq!(msgs[0].1.seq, Some((2 + i) % 256));
    }
}

#[test]
fn rebirth_request_gives_new_births_in_the_same_session() {
    let mut n = born(None);
    n.value(T0, value((1, 200), PointValue::Float(3.0)))
        .unwrap_or_default();
    let cmd = Payload {
        metrics: vec![Metric {
            name: Some(REBIRTH_METRIC.into()),
            datatype: Some(11),
            value: Some(MetricValue::BooleanValue(true)),
            ..Default::default()
        }],
        ..Default::default()
    };
    assert!(n
        .message(T0 + 1, "spBv1.0/G/NCMD/rtu1", &cmd.encode_to_vec())
        .is_ok());
    let msgs = drain(&mut n);
    assert_eq!(
        topics(&msgs),
        [
            "spBv1.0/G/DDATA/rtu1/rtu1",
            "spBv1.0/G/NBIRTH/rtu1",
            "spBv1.0/G/DBIRTH/rtu1/rtu1"
        ]
    );
    assert_eq!((msgs[1].1.seq, msgs[2].1.seq), (Some(0), Some(1)));
    assert_eq!(
        metric(&msgs[1].1, "bdSeq").value,
        Some(MetricValue::LongValue(0))
    );
    assert_eq!(
        metric(&msgs[2].1, "1/200").value,
        Some(MetricValue::FloatValue(3.0))
    );
    let bad = Payload {
        metrics: vec![Metric {
            name: Some(REBIRTH_METRIC.into()),
            value: Some(MetricValue::BooleanValue(false)),
            ..Default::default()
        }],
        ..Default::default()
    };
    assert!(matches!(
        n.message(T0, "spBv1.0/G/NCMD/rtu1", &bad.encode_to_vec()),
        Err(MessageError::Refused(_))
    ));
    assert!(drain(&mut n).is_empty());
}

#[test]
fn the_time_tag_is_the_metric_timestamp_and_quality_becomes_properties() {
    let mut n = born(None);
    let tagged = PointUpdate {
        time_tag_ms: Some(T0 - 60_000),
        interrogated: false,
        quality: Quality::NT.union(Quality::SB),
        ..value((1, 200), PointValue::Float(2.0))
    };
    n.value(T0, tagged).unwrap_or_default();
    let invalid = PointUpdate {
        quality: Quality::IV,
        ..value((1, 100), PointValue::Double(0))
    };
    n.value(T0 + 3, invalid).unwrap_or_default();
    n.flush(T0 + 4);
    let d = &drain(&mut n)[0].1;
    assert_eq!(d.metrics[0].timestamp, Some(T0 - 60_000));
    let props = d.metrics[0].properties.clone().unwrap_or_default();
    assert_eq!(props.keys, ["Quality", "NT", "SB"]);
    assert_eq!(
        props.values[0].value,
        Some(PropertyValueKind::IntValue(0x60))
    );
    let m = &d.metrics[1];
    assert_eq!(
        (m.timestamp, m.is_null, &m.value),
        (Some(T0 + 3), Some(true), &None),
        "IV: no value"
    );
    assert_eq!(
        m.properties.clone().unwrap_or_default().keys,
        ["Quality", "IV"]
    );
}

#[test]
fn step_transient_and_counter_sequence_are_properties() {
    let mut n = born(None);
    n.value(
        T0,
        value(
            (2, 1),
            PointValue::Step {
                value: -3,
                transient: true,
            },
        ),
    )
    .unwrap_or_default();
    let msgs = drain(&mut n);
    // A point that was not configured is a new metric: the node is born again with it.
    assert_eq!(
        topics(&msgs),
        ["spBv1.0/G/NBIRTH/rtu1", "spBv1.0/G/DBIRTH/rtu1/rtu1"]
    );
    let m = metric(&msgs[1].1, "2/1");
    assert_eq!(
        (m.datatype, &m.value),
        (Some(1), &Some(MetricValue::IntValue(0xFFFF_FFFD)))
    );
    assert_eq!(
        m.properties.clone().unwrap_or_default().keys,
        ["Quality", "Transient"]
    );
    n.value(
        T0,
        value(
            (2, 2),
            PointValue::Counter {
                value: 7,
                sequence: 3,
            },
        ),
    )
    .unwrap_or_default();
    let msgs = drain(&mut n);
    let m = metric(&msgs[1].1, "2/2");
    assert_eq!(
        m.properties.clone().unwrap_or_default().keys,
        ["Quality", "Sequence"]
    );
}

#[test]
fn rtu_link_lost_is_a_ddeath_and_the_dbirth_waits_for_the_next_interrogation() {
    let mut n = born(None);
    n.value(T0, value((1, 200), PointValue::Float(1.0)))
        .unwrap_or_default();
    n.rtu_link_down(T0 + 1);
    let msgs = drain(&mut n);
    assert_eq!(
        topics(&msgs),
        ["spBv1.0/G/DDATA/rtu1/rtu1", "spBv1.0/G/DDEATH/rtu1/rtu1"]
    );
    assert_eq!((msgs[1].1.seq, msgs[1].1.metrics.len()), (Some(3), 0));
    n.rtu_link_up(T0 + 2);
    n.value(T0 + 3, value((1, 200), PointValue::Float(2.0)))
        .unwrap_or_default();
    n.tick(T0 + 4);
    assert!(
        drain(&mut n).is_empty(),
        "nothing before the interrogation completes"
    );
    n.interrogation_complete(T0 + 5);
    let msgs = drain(&mut n);
    assert_eq!(topics(&msgs), ["spBv1.0/G/DBIRTH/rtu1/rtu1"]);
    assert_eq!(
        (msgs[0].1.seq, &metric(&msgs[0].1, "1/200").value),
        (Some(4), &Some(MetricValue::FloatValue(2.0)))
    );
}

fn state(n: &mut EdgeNode, now: u64, online: bool, ts: u64) {
    let p = format!("{{\"online\":{online},\"timestamp\":{ts}}}");
    assert!(n.message(now, "spBv1.0/STATE/scada", p.as_bytes()).is_ok());
}

#[test]
fn with_a_primary_host_nothing_is_published_before_it_is_online_and_values_follow_as_history() {
    let mut n = node(Some("scada"));
    assert!(n
        .subscriptions()
        .contains(&"spBv1.0/STATE/scada".to_owned()));
    n.rtu_link_up(T0);
    n.interrogation_complete(T0);
    n.connect(T0);
    n.connected(T0);
    n.value(T0 + 1, value((1, 200), PointValue::Float(1.0)))
        .unwrap_or_default();
    n.value(T0 + 2, value((1, 200), PointValue::Float(2.0)))
        .unwrap_or_default();
    n.tick(T0 + 3);
    assert!(drain(&mut n).is_empty());
    state(&mut n, T0 + 5, true, T0 + 5);
    let msgs = drain(&mut n);
    assert_eq!(
        topics(&msgs),
        [
            "spBv1.0/G/NBIRTH/rtu1",
            "spBv1.0/G/DBIRTH/rtu1/rtu1",
            "spBv1.0/G/DDATA/rtu1/rtu1"
        ]
    );
    assert_eq!(
        metric(&msgs[1].1, "1/200").value,
        Some(MetricValue::FloatValue(2.0)),
        "DBIRTH has the latest"
    );
    let h = &msgs[2].1;
    assert_eq!(h.seq, Some(2));
    let got: Vec<_> = h
        .metrics
        .iter()
        .map(|m| (m.timestamp, m.is_historical, m.value.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (Some(T0 + 1), Some(true), Some(MetricValue::FloatValue(1.0))),
            (Some(T0 + 2), Some(true), Some(MetricValue::FloatValue(2.0))),
        ]
    );
}

#[test]
fn a_stale_state_is_ignored_and_host_offline_ends_the_session_with_an_ndeath() {
    let mut n = born(Some("scada"));
    state(&mut n, T0 + 1, false, T0 - 1);
    assert!(drain(&mut n).is_empty(), "older than the online STATE");
    state(&mut n, T0 + 2, false, T0 + 2);
    let death = match (n.poll_action(), n.poll_action(), n.poll_action()) {
        (Some(Action::Publish(p)), Some(Action::Disconnect), None) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (death.topic.as_str(), death.qos),
        ("spBv1.0/G/NDEATH/rtu1", 1)
    );
    n.value(T0 + 3, value((1, 200), PointValue::Float(9.0)))
        .unwrap_or_default();
    assert_eq!(n.buffered(), 1);
    let will = n.connect(T0 + 4);
    let p = Payload::decode(will.payload.as_slice()).unwrap_or_default();
    assert_eq!(metric(&p, "bdSeq").value, Some(MetricValue::LongValue(1)));
    n.connected(T0 + 4);
    assert!(
        drain(&mut n).is_empty(),
        "a new session waits for a new online STATE"
    );
    state(&mut n, T0 + 5, true, T0 + 5);
    assert_eq!(topics(&drain(&mut n)).len(), 3);
}

#[test]
fn an_offline_state_ends_even_a_session_that_waits_for_the_host() {
    let mut n = node(Some("scada"));
    n.connect(T0);
    n.connected(T0);
    state(&mut n, T0 + 1, false, T0);
    assert!(matches!(
        (n.poll_action(), n.poll_action(), n.poll_action()),
        (Some(Action::Publish(p)), Some(Action::Disconnect), None) if p.topic == "spBv1.0/G/NDEATH/rtu1"
    ));
    n.connect(T0 + 2);
    n.connected(T0 + 2);
    state(&mut n, T0 + 3, true, T0 + 3);
    assert_eq!(topics(&drain(&mut n)), ["spBv1.0/G/NBIRTH/rtu1"]);
    state(&mut n, T0 + 4, true, T0 + 1);
    state(&mut n, T0 + 4, false, T0 + 2);
    assert!(
        drain(&mut n).is_empty(),
        "STATEs older than the online one are ignored"
    );
}

#[test]
fn the_history_is_bounded_and_counts_what_it_dropped() {
    let mut n = born(None);
    n.disconnected(T0);
    for i in 0..10u64 {
        n.value(T0 + i, value((1, 200), PointValue::Float(i as f32)))
            .unwrap_or_default();
    }
    assert_eq!((n.buffered(), n.dropped()), (4, 6));
    n.connect(T0 + 20);
    n.connected(T0 + 20);
    let msgs = drain(&mut n);
    assert_eq!(
        metric(&msgs[0].1, DROPPED_METRIC).value,
        Some(MetricValue::LongValue(6))
    );
    let got: Vec<_> = msgs[2].1.metrics.iter().map(|m| m.timestamp).collect();
    assert_eq!(
        got,
        [Some(T0 + 6), Some(T0 + 7), Some(T0 + 8), Some(T0 + 9)],
        "the newest are kept"
    );
}

#[test]
fn values_gathered_when_the_session_drops_are_sent_as_history_after_the_next_births() {
    let mut n = born(None);
    n.value(T0, value((1, 200), PointValue::Float(5.0)))
        .unwrap_or_default();
    n.disconnected(T0 + 1);
    assert!(n.poll_action().is_none());
    n.connect(T0 + 2);
    n.connected(T0 + 2);
    let msgs = drain(&mut n);
    assert_eq!(msgs[2].1.metrics[0].is_historical, Some(true));
}

fn dcmd(n: &mut EdgeNode, metric: Metric) -> Result<(), MessageError> {
    let p = Payload {
        timestamp: Some(T0),
        metrics: vec![metric],
        ..Default::default()
    };
    n.message(T0, "spBv1.0/G/DCMD/rtu1/rtu1", &p.encode_to_vec())
}

fn setpoint(v: f32) -> Metric {
    Metric {
        alias: Some(18),
        value: Some(MetricValue::FloatValue(v)),
        ..Default::default()
    }
}

fn results(msgs: &[(String, Payload)]) -> Vec<Option<MetricValue>> {
    msgs.iter()
        .flat_map(|(_, p)| p.metrics.iter())
        .filter(|m| m.alias == Some(19))
        .map(|m| m.value.clone())
        .collect()
}

#[test]
fn a_dcmd_write_becomes_a_command_and_its_outcome_a_metric() {
    let mut n = born(None);
    assert!(dcmd(&mut n, setpoint(42.5)).is_ok());
    let request = match n.poll_action() {
        Some(Action::Command(c)) => c,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (
            request.address,
            request.type_id,
            request.value,
            request.select
        ),
        (
            PointAddress { ca: 1, ioa: 5000 },
            TypeId::C_SE_NC_1,
            CommandValue::Float(42.5),
            false
        )
    );
    n.command_outcome(T0 + 1, request.id, CommandOutcome::Confirmed);
    n.flush(T0 + 1);
    let msgs = drain(&mut n);
    assert_eq!(
        results(&msgs),
        [
            Some(MetricValue::StringValue("pending".into())),
            Some(MetricValue::StringValue("confirmed".into()))
        ]
    );
    let written: Vec<_> = msgs[0]
        .1
        .metrics
        .iter()
        .filter(|m| m.alias == Some(18))
        .map(|m| m.value.clone())
        .collect();
    assert_eq!(
        written,
        [Some(MetricValue::FloatValue(42.5))],
        "a confirmed write is the value of a write-only point"
    );
}

fn command_id(n: &mut EdgeNode) -> u64 {
    match n.poll_action() {
        Some(Action::Command(c)) => c.id,
        other => panic!("{other:?}"),
    }
}

fn text(s: &str) -> Option<MetricValue> {
    Some(MetricValue::StringValue(s.into()))
}

#[test]
fn a_confirmed_command_reports_its_actterm_and_no_timeout() {
    let mut n = born(None);
    assert!(dcmd(&mut n, setpoint(0.5)).is_ok());
    let id = command_id(&mut n);
    n.command_outcome(T0 + 1, id, CommandOutcome::Confirmed);
    // A second confirmation (or any non-final outcome) of the same command is ignored.
    n.command_outcome(T0 + 2, id, CommandOutcome::Rejected);
    n.command_outcome(T0 + 3, id, CommandOutcome::Terminated);
    // Once terminated, the command is gone: a late outcome changes nothing.
    n.command_outcome(T0 + 4, id, CommandOutcome::Terminated);
    n.tick(T0 + 60_000);
    let msgs = drain(&mut n);
    assert_eq!(
        results(&msgs),
        [text("pending"), text("confirmed"), text("terminated")]
    );
}

#[test]
fn a_confirmed_command_without_actterm_is_forgotten_silently() {
    let mut n = born(None);
    assert!(dcmd(&mut n, setpoint(0.5)).is_ok());
    let id = command_id(&mut n);
    n.command_outcome(T0 + 1, id, CommandOutcome::Confirmed);
    n.tick(T0 + 1 + 5_000);
    n.command_outcome(T0 + 6_000, id, CommandOutcome::Terminated);
    n.tick(T0 + 6_000);
    let msgs = drain(&mut n);
    assert_eq!(results(&msgs), [text("pending"), text("confirmed")]);
}

#[test]
fn a_refusal_by_the_gateway_policy_is_reported_with_its_reason() {
    let mut n = born(None);
    assert!(dcmd(&mut n, setpoint(0.9)).is_ok());
    let id = command_id(&mut n);
    let why = "value 0.9 is above the point's max 0.5".to_owned();
    n.command_outcome(T0 + 1, id, CommandOutcome::Refused(why));
    assert!(dcmd(&mut n, setpoint(0.1)).is_ok());
    let id = command_id(&mut n);
    n.command_outcome(T0 + 2, id, CommandOutcome::TimedOut("no ActCon".into()));
    n.tick(T0 + 3);
    let msgs = drain(&mut n);
    assert_eq!(
        results(&msgs),
        [
            text("pending"),
            text("refused: value 0.9 is above the point's max 0.5"),
            text("pending"),
            text("timeout: no ActCon"),
        ]
    );
    let written = msgs
        .iter()
        .flat_map(|(_, p)| p.metrics.iter())
        .filter(|m| m.alias == Some(18))
        .count();
    assert_eq!(written, 0, "a refused write is no value of the point");
}

#[test]
fn a_command_without_outcome_times_out_in_virtual_time() {
    let mut n = born(None);
    assert!(dcmd(
        &mut n,
        Metric {
            name: Some("Setpoint".into()),
            datatype: Some(9),
            value: Some(MetricValue::FloatValue(1.0)),
            ..Default::default()
        }
    )
    .is_ok());
    let id = match n.poll_action() {
        Some(Action::Command(c)) => c.id,
        other => panic!("{other:?}"),
    };
    n.tick(T0 + 4_999);
    n.tick(T0 + 5_000);
    n.command_outcome(T0 + 6_000, id, CommandOutcome::Confirmed);
    n.tick(T0 + 6_000);
    let msgs = drain(&mut n);
    assert_eq!(
        results(&msgs),
        [
            Some(MetricValue::StringValue("pending".into())),
            Some(MetricValue::StringValue("timeout".into()))
        ]
    );
}

#[test]
fn bad_writes_are_refused_with_a_reason() {
    let mut n = born(None);
    let cases = [
        (
            Metric {
                alias: Some(99),
                value: Some(MetricValue::FloatValue(1.0)),
                ..Default::default()
            },
            "unknown metric alias 99",
        ),
        (
            Metric {
                name: Some("Breaker".into()),
                value: Some(MetricValue::IntValue(1)),
                ..Default::default()
            },
            "Breaker: not writable",
        ),
        (
            Metric {
                alias: Some(18),
                value: Some(MetricValue::IntValue(1)),
                ..Default::default()
            },
            "Setpoint: value must be a Float",
        ),
        (
            Metric {
                alias: Some(18),
                datatype: Some(10),
                value: Some(MetricValue::DoubleValue(1.0)),
                ..Default::default()
            },
            "Setpoint: datatype must be Float",
        ),
        (
            Metric {
                alias: Some(18),
                is_null: Some(true),
                ..Default::default()
            },
            "Setpoint: value must be a Float",
        ),
    ];
    for (m, want) in cases {
        match dcmd(&mut n, m) {
            Err(MessageError::Refused(r)) => assert!(r[0].starts_with(want), "{r:?} vs {want}"),
            other => panic!("{other:?}"),
        }
    }
    n.flush(T0);
    let r = results(&drain(&mut n));
    assert_eq!(
        r.len(),
        3,
        "refusals of the writable point are reported in its result metric"
    );
    n.rtu_link_down(T0);
    drain(&mut n);
    match dcmd(&mut n, setpoint(1.0)) {
        Err(MessageError::Refused(r)) => assert_eq!(r, ["Setpoint: the RTU is offline"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_messages_are_errors_not_panics() {
    let mut n = born(Some("scada"));
    assert!(matches!(
        n.message(T0, "spBv1.0/G/DCMD/rtu1/rtu1", &[0xFF, 0xFF]),
        Err(MessageError::Payload(_))
    ));
    assert!(matches!(
        n.message(T0, "spBv1.0/STATE/scada", b"{"),
        Err(MessageError::HostState(_))
    ));
    assert!(matches!(
        n.message(T0, "spBv1.0/G/DCMD/other/rtu1", &[]),
        Err(MessageError::NotForThisNode(_))
    ));
    assert!(matches!(
        n.message(T0, "a/b", &[]),
        Err(MessageError::Topic(_))
    ));
    assert!(matches!(
        n.observe("spBv1.0/G/NBIRTH/rtu1", &[]),
        Err(MessageError::NoBdSeq("NBIRTH"))
    ));
}

#[test]
fn a_standby_node_learns_the_bdseq_from_the_births_it_observes() {
    let mut active = node(None);
    for _ in 0..7 {
        active.connect(T0);
    }
    active.connected(T0);
    let nbirth = drain(&mut active).remove(0);
    let mut standby = node(None);
    assert!(standby
        .observe(&nbirth.0, &nbirth.1.encode_to_vec())
        .is_ok());
    let will = standby.connect(T0 + 1);
    let p = Payload::decode(will.payload.as_slice()).unwrap_or_default();
    assert_eq!(
        metric(&p, "bdSeq").value,
        Some(MetricValue::LongValue(7)),
        "the session after bdSeq 6"
    );
}

#[test]
fn a_named_point_of_unknown_kind_keeps_its_name_when_its_first_value_comes() {
    let p = [PointConfig {
        address: PointAddress { ca: 3, ioa: 7 },
        name: Some("Feeder".into()),
        kind: None,
        command: None,
    }];
    let mut n = EdgeNode::new(settings(None), &p).unwrap_or_else(|e| panic!("{e}"));
    n.connect(T0);
    n.connected(T0);
    n.rtu_link_up(T0);
    n.value(T0, value((3, 7), PointValue::Scaled(5)))
        .unwrap_or_default();
    n.interrogation_complete(T0);
    let msgs = drain(&mut n);
    let m = metric(&msgs[1].1, "Feeder");
    assert_eq!(
        (m.datatype, &m.value),
        (Some(2), &Some(MetricValue::IntValue(5)))
    );
}

#[test]
fn configuration_errors_are_typed() {
    let mut p = points();
    p.push(PointConfig {
        address: PointAddress { ca: 9, ioa: 9 },
        name: Some("Breaker".into()),
        kind: Some(PointKind::Single),
        command: None,
    });
    assert_eq!(
        EdgeNode::new(settings(None), &p).err(),
        Some(EdgeError::Point(PointError::DuplicateName(
            "Breaker".into()
        )))
    );
    let p = [PointConfig {
        address: PointAddress { ca: 1, ioa: 1 },
        name: None,
        kind: Some(PointKind::Single),
        command: Some(CommandSpec {
            type_id: TypeId::C_SE_NB_1,
            select: true,
        }),
    }];
    assert!(matches!(
        EdgeNode::new(settings(None), &p),
        Err(EdgeError::Point(PointError::DatatypeConflict { .. }))
    ));
    let p = [PointConfig {
        address: PointAddress { ca: 1, ioa: 1 },
        name: None,
        kind: None,
        command: Some(CommandSpec {
            type_id: TypeId::M_SP_NA_1,
            select: true,
        }),
    }];
    assert!(matches!(
        EdgeNode::new(settings(None), &p),
        Err(EdgeError::Point(PointError::NotACommand { .. }))
    ));
    let mut s = settings(None);
    s.edge_node_id = "a/b".into();
    assert!(matches!(
        EdgeNode::new(s, &points()),
        Err(EdgeError::Topic(_))
    ));
}

/// Every queued change of the durable history.
fn held_changes(n: &mut EdgeNode) -> Vec<HeldChange> {
    std::iter::from_fn(|| n.poll_held()).collect()
}

fn event(address: (u16, u32), v: PointValue, t: u64) -> PointUpdate {
    PointUpdate {
        interrogated: false,
        time_tag_ms: Some(t),
        ..value(address, v)
    }
}

#[test]
fn a_durable_history_survives_a_restart_and_follows_the_births_as_historical() {
    // First run: the host never comes online; the events are held, nothing is published.
    let mut n = node(Some("scada"));
    assert!(n.restore_history(Vec::new(), 0).is_empty());
    n.rtu_link_up(T0);
    n.interrogation_complete(T0);
    n.connect(T0);
    n.connected(T0);
    n.value(T0 + 1, event((1, 200), PointValue::Float(1.5), T0 + 1))
        .unwrap_or_default();
    // A point learnt from its value, and an invalid value (sent as is_null).
    n.value(T0 + 2, event((1, 300), PointValue::Scaled(-7), T0 + 2))
        .unwrap_or_default();
    let invalid = PointUpdate {
        quality: Quality::IV,
        ..event((1, 200), PointValue::Float(9.0), T0 + 3)
    };
    n.value(T0 + 3, invalid).unwrap_or_default();
    n.tick(T0 + 4);
    assert!(
        drain(&mut n).is_empty(),
        "nothing before the host is online"
    );
    let stored: Vec<HeldValue> = held_changes(&mut n)
        .into_iter()
        .map(|c| match c {
            HeldChange::Hold(h) => h,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(stored.iter().map(|h| h.id).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(stored[1].address, Some(PointAddress { ca: 1, ioa: 300 }));

    // Second run (a new edge node, as after a restart) is given what the store kept, through
    // its bytes.
    let stored = stored
        .iter()
        .map(|h| HeldValue::decode(&h.encode()).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let mut n = node(Some("scada"));
    assert!(n.restore_history(stored, 2).is_empty());
    assert_eq!((n.buffered(), n.dropped()), (3, 2));
    n.rtu_link_up(T0 + 10);
    n.value(T0 + 11, value((1, 200), PointValue::Float(4.0)))
        .unwrap_or_default();
    n.interrogation_complete(T0 + 12);
    n.connect(T0 + 12);
    n.connected(T0 + 12);
    assert!(drain(&mut n).is_empty());
    state(&mut n, T0 + 13, true, T0 + 13);
    let msgs = drain(&mut n);
    assert_eq!(
        topics(&msgs),
        [
            "spBv1.0/G/NBIRTH/rtu1",
            "spBv1.0/G/DBIRTH/rtu1/rtu1",
            "spBv1.0/G/DDATA/rtu1/rtu1"
        ]
    );
    assert_eq!(
        metric(&msgs[0].1, DROPPED_METRIC).value,
        Some(MetricValue::LongValue(2)),
        "the store's drops are counted"
    );
    let learnt = metric(&msgs[1].1, "1/300").alias;
    let got: Vec<_> = msgs[2]
        .1
        .metrics
        .iter()
        .map(|m| {
            (
                m.alias,
                m.timestamp,
                m.is_historical,
                m.is_null,
                m.value.clone(),
            )
        })
        .collect();
    let f = metric(&msgs[1].1, "1/200").alias;
    assert_eq!(
        got,
        [
            (
                f,
                Some(T0 + 1),
                Some(true),
                None,
                Some(MetricValue::FloatValue(1.5))
            ),
            (
                learnt,
                Some(T0 + 2),
                Some(true),
                None,
                Some(MetricValue::IntValue(-7i32 as u32))
            ),
            (f, Some(T0 + 3), Some(true), Some(true), None),
        ]
    );
    // Sent: the store may remove them. New values continue the ids.
    assert_eq!(held_changes(&mut n), [HeldChange::Release(3)]);
    n.disconnected(T0 + 14);
    n.value(T0 + 15, event((1, 200), PointValue::Float(2.0), T0 + 15))
        .unwrap_or_default();
    assert!(matches!(&held_changes(&mut n)[..], [HeldChange::Hold(h)] if h.id == 4));
}

#[test]
fn stored_values_that_no_longer_fit_the_configuration_are_refused_and_the_rest_bounded() {
    let held = |id, ioa, datatype, value| HeldValue {
        id,
        address: Some(PointAddress { ca: 1, ioa }),
        name: None,
        datatype,
        value: Some(value),
        quality: Some((Quality::GOOD, crate::quality::Extras::default())),
        timestamp: T0 + id,
    };
    let mut stored = vec![held(1, 100, crate::DataType::Float, Value::Float(1.0))];
    for id in 2..8 {
        stored.push(held(
            id,
            200,
            crate::DataType::Float,
            Value::Float(id as f32),
        ));
    }
    let mut n = node(None);
    let refused = n.restore_history(stored, 0);
    assert!(matches!(
        &refused[..],
        [(h, PointError::StoredMismatch(_))] if h.id == 1
    ));
    // Capacity 4: of the six that fit, the two oldest are dropped and counted.
    assert_eq!((n.buffered(), n.dropped()), (4, 2));
    // Without restore_history nothing is handed out.
    let mut plain = born(None);
    plain.disconnected(T0);
    plain
        .value(T0, event((1, 200), PointValue::Float(1.0), T0))
        .unwrap_or_default();
    assert_eq!((plain.buffered(), plain.poll_held()), (1, None));
}

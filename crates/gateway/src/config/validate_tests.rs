use super::super::parse;
use super::*;
use crate::config::{MqttVersion, VersionFallback};

const GOOD: &str = r#"
[mqtt]
url = "mqtt://127.0.0.1:1883"
topic_prefix = "iec104"

[[rtu]]
name = "sub1"
address = "127.0.0.1:2404"
common_address = 1

[[rtu]]
name = "sub2"
addresses = ["127.0.0.1:2405", "127.0.0.2:2405"]
common_address = [2, 3]
t1 = 20
interrogation_period = 600
time_zone = "+01:00"
[[rtu.point]]
ioa = 100
name = "breaker_q1"
commands = true
"#;

#[test]
fn good_config_resolves() {
    let loaded = parse(GOOD, "good.toml").unwrap();
    assert_eq!(loaded.rtus.len(), 2);
    let sub2 = &loaded.rtus[1];
    assert_eq!(sub2.addresses.len(), 2);
    assert_eq!(sub2.common_addresses, vec![2, 3]);
    assert_eq!(sub2.link.t1, Duration::from_secs(20));
    assert!(!sub2.link.auto_release);
    assert_eq!(sub2.tz_offset_secs, 3600);
    assert_eq!(sub2.names.get("breaker_q1"), Some(&(2, 100)));
    assert!(sub2.points[&(2, 100)].commands);
    assert_eq!(loaded.broker.port, 1883);
}

fn problems(text: &str) -> Vec<Problem> {
    match parse(text, "t.toml") {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        other => panic!("expected errors, got {other:?}"),
    }
}

#[test]
fn duplicate_names_have_line_and_column() {
    let text = GOOD.replace("name = \"sub2\"", "name = \"sub1\"");
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:?}");
    // The second `name = "sub1"` is on line 12 of GOOD (line 1 is empty); the value starts
    // at column 8.
    assert_eq!((p[0].line, p[0].column), (12, 8));
    assert!(p[0].message.contains("duplicate rtu name \"sub1\""));
}

#[test]
fn unknown_key_is_an_error_with_position() {
    let text = GOOD.replace("t1 = 20", "t9 = 10");
    let p = problems(&text);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].line, 15);
    assert!(
        p[0].message.contains("unknown field `t9`"),
        "{}",
        p[0].message
    );
}

#[test]
fn every_impossible_value_is_reported() {
    let text = GOOD
        .replace("common_address = 1\n", "common_address = 0\n")
        .replace("t1 = 20", "t1 = -1")
        .replace("\"+01:00\"", "\"Mars/Olympus\"");
    let p = problems(&text);
    let all: Vec<String> = p.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        all,
        [
            "9:18: rtu \"sub1\": common_address = 0: must be a station address 1..=65534",
            "15:6: t1 = -1: must be a number of seconds from 0.001 to 10000000",
            "17:13: time_zone = \"Mars/Olympus\": expected \"UTC\" or an offset like \"+01:00\"",
        ]
    );
}

pub(crate) const CLUSTER: &str = r#"
[mqtt]
url = "mqtt://127.0.0.1:1883"

[cluster]
node_id = "gw-a"
standby = 2
heartbeat = 1
handover_timeout = 2.5

[[rtu]]
name = "sub1"
address = "127.0.0.1:2404"
common_address = 1
preferred_node = "gw-b"
"#;

#[test]
fn cluster_section_resolves() {
    let l = parse(CLUSTER, "c.toml").unwrap();
    assert_eq!(l.node, "gw-a");
    let c = l.cluster.unwrap();
    assert_eq!(c.standby, 2);
    assert_eq!(c.heartbeat, Duration::from_secs(1));
    assert_eq!(c.handover_timeout, Duration::from_millis(2500));
    assert_eq!(c.preferred.get("sub1").map(String::as_str), Some("gw-b"));
    // Defaults.
    let minimal = CLUSTER
        .replace("standby = 2\n", "")
        .replace("heartbeat = 1\n", "")
        .replace("handover_timeout = 2.5\n", "");
    let c = parse(&minimal, "c.toml").unwrap().cluster.unwrap();
    assert_eq!(
        (c.standby, c.heartbeat, c.handover_timeout),
        (1, Duration::from_secs(2), Duration::from_secs(5))
    );
    assert_eq!(c.path_failover, Duration::from_secs(3));
    // Without [cluster]: alone, as before.
    assert!(parse(GOOD, "g.toml").unwrap().cluster.is_none());
}

#[test]
fn path_failover_resolves_and_bad_values_name_key_value_and_range() {
    let text = CLUSTER.replace(
        "handover_timeout = 2.5",
        "handover_timeout = 2.5\npath_failover = 0.5",
    );
    let c = parse(&text, "c.toml").unwrap().cluster.unwrap();
    assert_eq!(c.path_failover, Duration::from_millis(500));
    for bad in ["0.0", "-3.0", "3601.0", "nan"] {
        let text = CLUSTER.replace(
            "handover_timeout = 2.5",
            &format!("handover_timeout = 2.5\npath_failover = {bad}"),
        );
        let all: Vec<String> = problems(&text).iter().map(|p| p.to_string()).collect();
        assert_eq!(all.len(), 1, "{all:?}");
        // Line 10 (after handover_timeout), the value at column 17.
        assert!(
            all[0].starts_with("10:17: path_failover = ")
                && all[0].ends_with(": must be 0.1..=3600 seconds"),
            "{all:?}"
        );
    }
}

#[test]
fn node_id_precedence() {
    // [cluster] node_id before [gateway] node.
    let text = format!("[gateway]\nnode = \"other\"\n{CLUSTER}");
    let mut l = parse(&text, "c.toml").unwrap();
    assert_eq!(l.node, "gw-a");
    // --node-id before both.
    l.apply(&crate::config::Overrides {
        node_id: Some("gw-z".into()),
        http_listen: Some("127.0.0.1:0".into()),
        store_path: Some("/tmp/q.redb".into()),
    })
    .unwrap();
    assert_eq!(l.node, "gw-z");
    assert_eq!(
        l.gateway.store_path,
        std::path::PathBuf::from("/tmp/q.redb")
    );
    assert!(l
        .apply(&crate::config::Overrides {
            node_id: Some("a/b".into()),
            ..Default::default()
        })
        .unwrap_err()
        .contains("--node-id"));
    assert!(l
        .apply(&crate::config::Overrides {
            http_listen: Some("nowhere".into()),
            ..Default::default()
        })
        .unwrap_err()
        .contains("--http-listen"));
}

#[test]
fn bad_cluster_values_have_line_and_column() {
    let text = CLUSTER
        .replace("node_id = \"gw-a\"", "node_id = \"gw/a\"")
        .replace("standby = 2", "standby = 65")
        .replace("heartbeat = 1", "heartbeat = 0")
        .replace("handover_timeout = 2.5", "handover_timeout = -1.0")
        .replace("preferred_node = \"gw-b\"", "preferred_node = \"#\"");
    let p = problems(&text);
    let all: Vec<String> = p.iter().map(|p| p.to_string()).collect();
    // Line 6 is `node_id = "gw/a"` (line 1 is empty), the value at column 11; the
    // others follow on lines 7-9 (values at columns 11, 13, 20) and line 15 (column 18).
    assert_eq!(
        all,
        [
            "6:11: node_id = \"gw/a\": must be one topic level without '/', '+' or '#' and not start with '_'",
            "7:11: standby = 65: must be 0..=64",
            "8:13: heartbeat = 0: must be 1..=65535 whole seconds",
            "9:20: handover_timeout = -1: must be 0.1..=3600 seconds",
            "15:18: preferred_node = \"#\": must be one topic level without '/', '+' or '#' and not start with '_'",
        ]
    );
    // Unknown keys in [cluster] are errors too.
    let p = problems(&CLUSTER.replace("standby = 2", "standbys = 2"));
    assert_eq!(p[0].line, 7, "{p:?}");
    assert!(p[0].message.contains("unknown field `standbys`"));
    // preferred_node without [cluster].
    let p = problems(&GOOD.replace(
        "common_address = 1\n",
        "common_address = 1\npreferred_node = \"gw-a\"\n",
    ));
    assert!(p[0].message.contains("needs a [cluster]"), "{p:?}");
}

#[test]
fn spill_after_must_stay_below_half_of_every_t1() {
    // sub1 has the default t1 of 15 s, sub2 t1 = 20 s: 8 s is too long for sub1 only.
    let with = |v: &str| {
        GOOD.replace(
            "topic_prefix = \"iec104\"\n",
            &format!("topic_prefix = \"iec104\"\n[gateway]\nspill_after = {v}\n"),
        )
    };
    assert!(parse(&with("7.4"), "t.toml").is_ok());
    let p = problems(&with("8"));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].message.contains("rtu \"sub1\": spill_after (8 s)"),
        "{}",
        p[0].message
    );
    assert_eq!(problems(&with("0")).len(), 1);
}

#[test]
fn line_col_counts_from_one() {
    assert_eq!(problem::line_col("ab\ncd", 0), (1, 1));
    assert_eq!(problem::line_col("ab\ncd", 4), (2, 2));
}

/// The one problem of `GOOD` with `from` replaced by `to`, as `line:col: message`.
fn only_problem(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    let p = problems(&GOOD.replacen(from, to, 1));
    assert_eq!(p.len(), 1, "{p:?}");
    p[0].to_string()
}

#[test]
fn every_rejection_names_key_value_allowed_and_position() {
    // Lines of GOOD: 3 url, 4 topic_prefix, 9 common_address of sub1, 15 t1 of sub2,
    // 19 ioa, 20 name of the point.
    for (from, to, expected) in [
        (
            "common_address = 1\n",
            "common_address = 70000\n",
            "9:18: rtu \"sub1\": common_address = 70000: must be a station address 1..=65534",
        ),
        (
            "common_address = 1\n",
            "common_address = \"one\"\n",
            "9:18: common_address = \"one\": invalid type: string \"one\", expected a common address 1..=65534 or a list of them",
        ),
        (
            "common_address = [2, 3]",
            "common_address = [2, 2]",
            "14:18: rtu \"sub2\": duplicate common_address 2",
        ),
        (
            "common_address = [2, 3]",
            "common_address = [2, -3]",
            "14:18: rtu \"sub2\": common_address = -3: must be a station address 1..=65534",
        ),
        (
            "t1 = 20",
            "t1 = \"20\"",
            "15:6: t1 = \"20\": invalid type: string \"20\", expected a number",
        ),
        (
            "t1 = 20",
            "k = 70000",
            "15:5: rtu \"sub2\": link parameters: k = 70000 out of range 1..=32767",
        ),
        (
            "t1 = 20",
            "k = 0",
            "15:5: rtu \"sub2\": link parameters: k = 0 out of range 1..=32767",
        ),
        (
            "t1 = 20",
            "w = -1",
            "15:5: rtu \"sub2\": link parameters: w = -1 out of range 1..=k (k = 12)",
        ),
        (
            "t1 = 20",
            "k = 2",
            "15:5: rtu \"sub2\": link parameters: w = 8 out of range 1..=k (k = 2)",
        ),
        (
            "ioa = 100",
            "ioa = 16777216",
            "19:7: ioa = 16777216: must be 0..=16777215 (3 octets)",
        ),
        (
            "ioa = 100",
            "ioa = 100\nca = 7",
            "20:6: ca = 7: must be a common_address of rtu \"sub2\" ([2, 3])",
        ),
        (
            "name = \"breaker_q1\"",
            "name = \"a/b\"",
            "20:8: point name \"a/b\" must be one topic level without '/', '+', '#', not a number and not \"status\"",
        ),
        (
            "topic_prefix = \"iec104\"",
            "topic_prefix = \"a+b\"",
            "4:16: topic_prefix = \"a+b\": must be one non-empty topic level without '/', '+' or '#'",
        ),
        (
            "url = \"mqtt://127.0.0.1:1883\"",
            "url = \"http://x\"",
            "3:7: url = \"http://x\": scheme \"http\": expected mqtt or mqtts",
        ),
        (
            "topic_prefix = \"iec104\"\n",
            "topic_prefix = \"iec104\"\nqos = 2\n",
            "5:7: qos = 2: must be 0..=1",
        ),
        (
            "topic_prefix = \"iec104\"\n",
            "topic_prefix = \"iec104\"\nversion = 3\n",
            "5:11: version = 3: must be 5 (MQTT 5) or 4 (MQTT 3.1.1)",
        ),
        (
            "topic_prefix = \"iec104\"\n",
            "topic_prefix = \"iec104\"\nkeep_alive = 1\n",
            "5:14: keep_alive = 1: must be 5..=65535 seconds",
        ),
        (
            "topic_prefix = \"iec104\"\n",
            "topic_prefix = \"iec104\"\nmax_inflight = 0\n",
            "5:16: max_inflight = 0: must be 1..=65535",
        ),
        (
            "topic_prefix = \"iec104\"\n",
            "topic_prefix = \"iec104\"\nqos = true\n",
            "5:7: qos = true: invalid type: boolean `true`, expected an integer",
        ),
        (
            "topic_prefix = \"iec104\"\n",
            "topic_prefix = \"iec104\"\n[gateway]\nhttp_listen = \"nowhere\"\n",
            "6:15: http_listen = \"nowhere\": must be ip:port",
        ),
        (
            "topic_prefix = \"iec104\"\n",
            "topic_prefix = \"iec104\"\n[gateway]\ncommand_timeout = 0\n",
            "6:19: command_timeout = 0: must be 0.1..=3600 seconds",
        ),
        (
            "topic_prefix = \"iec104\"\n",
            "topic_prefix = \"iec104\"\n[gateway]\nqueue_max_messages = 0\n",
            "6:22: queue_max_messages = 0: must be 1..=9223372036854775807",
        ),
    ] {
        assert_eq!(only_problem(from, to), expected, "{to}");
    }
}

#[test]
fn mqtt_version_is_decided_once() {
    let s = parse(GOOD, "t.toml").unwrap();
    assert_eq!((s.mqtt.version, s.mqtt.fallback), (MqttVersion::V5, None));
    assert_eq!(s.mqtt.keep_alive, Duration::from_secs(30));
    // A cluster heartbeat under 5 s: the node speaks 3.1.1 (its coordination connection's
    // keep-alive is the heartbeat); `keep_alive` stays as configured (the data connection's).
    let c = parse(CLUSTER, "c.toml").unwrap();
    assert_eq!(
        (c.mqtt.version, c.mqtt.fallback, c.mqtt.keep_alive),
        (
            MqttVersion::V311,
            Some(VersionFallback::HeartbeatUnder5s),
            Duration::from_secs(30)
        )
    );
    let c = parse(&CLUSTER.replace("heartbeat = 1", "heartbeat = 5"), "c.toml").unwrap();
    assert_eq!((c.mqtt.version, c.mqtt.fallback), (MqttVersion::V5, None));
    let c = parse(
        &CLUSTER.replace("[cluster]", "version = 4\n[cluster]"),
        "c.toml",
    )
    .unwrap();
    assert_eq!((c.mqtt.version, c.mqtt.fallback), (MqttVersion::V311, None));
}

#[test]
fn sparkplug_section_resolves_with_or_without_a_cluster() {
    let with = |extra: &str| format!("{GOOD}\n[sparkplug]\ngroup_id = \"plant\"\n{extra}");
    let l = parse(&with(""), "s.toml").unwrap_or_else(|e| panic!("{e}"));
    let s = l.sparkplug.unwrap_or_else(|| panic!("no sparkplug"));
    assert_eq!(
        (s.group_id.as_str(), s.edge_node.as_str()),
        ("plant", "{rtu}")
    );
    assert!(parse(GOOD, "g.toml").is_ok_and(|l| l.sparkplug.is_none()));
    let p = problems(&with("qos = 2"));
    assert!(
        p.iter().any(|p| p.message == "sparkplug.qos = 2: 0 or 1"),
        "{p:?}"
    );
    let p = problems(&with("edge_node = \"{node}\""));
    assert!(
        p.iter()
            .any(|p| p.message.starts_with("sparkplug.edge_node = \"{node}\"")),
        "{p:?}"
    );
    let e = parse(&with("unknown = 1"), "s.toml")
        .map(|_| ())
        .map_err(|e| e.to_string());
    assert!(
        e.as_ref()
            .err()
            .is_some_and(|e| e.contains("unknown field `unknown`")),
        "{e:?}"
    );
    // With a cluster: each edge node's session follows the RTU's carrier.
    let l = parse(
        &format!("{}\n[cluster]\nnode_id = \"a\"\n", with("")),
        "c.toml",
    );
    assert!(l.is_ok_and(|l| l.sparkplug.is_some() && l.cluster.is_some()));
}

#[test]
fn command_type_needs_a_process_command_and_commands_true() {
    let with =
        |extra: &str| GOOD.replace("commands = true\n", &format!("commands = true\n{extra}"));
    let l =
        parse(&with("command_type = \"c_dc_na_1\"\n"), "c.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        l.rtus[1].points[&(2, 100)].command_type,
        Some(iec104::type_id::TypeId::C_DC_NA_1)
    );
    assert_eq!(
        only_problem("commands = true\n", "commands = true\ncommand_type = \"M_SP_NA_1\"\n"),
        "22:16: command_type = \"M_SP_NA_1\": expected one of C_SC_NA_1, C_DC_NA_1, C_RC_NA_1, C_SE_NA_1, C_SE_NB_1, C_SE_NC_1, C_BO_NA_1 or their _TA_1 forms"
    );
    assert_eq!(
        only_problem("commands = true\n", "command_type = \"C_SC_NA_1\"\n"),
        "21:16: command_type = \"C_SC_NA_1\": needs commands = true on the same point (commands are denied by default)"
    );
}

#[test]
fn json_data_is_on_by_default_and_off_only_with_sparkplug() {
    assert!(parse(GOOD, "g.toml").is_ok_and(|l| l.mqtt.json_data));
    let off = GOOD.replace(
        "topic_prefix = \"iec104\"",
        "topic_prefix = \"iec104\"\njson_data = false",
    );
    let with_spb = format!("{off}\n[sparkplug]\ngroup_id = \"plant\"\n");
    let l = parse(&with_spb, "s.toml").unwrap_or_else(|e| panic!("{e}"));
    assert!(!l.mqtt.json_data && l.sparkplug.is_some());
    let on = GOOD.replace(
        "topic_prefix = \"iec104\"",
        "topic_prefix = \"iec104\"\njson_data = true",
    );
    assert!(parse(&on, "t.toml").is_ok_and(|l| l.mqtt.json_data));
    // Without [sparkplug] nothing would carry the values: refused, naming key and value.
    let p = problems(&off);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].message
            .starts_with("json_data = false: needs a [sparkplug] section"),
        "{p:?}"
    );
    assert_eq!((p[0].line, p[0].column), (5, 13), "{p:?}");
    let e = parse(
        &off.replace("json_data = false", "json_data = \"no\""),
        "t.toml",
    )
    .map(|_| ())
    .map_err(|e| e.to_string());
    assert!(
        e.is_err_and(|e| e.contains("json_data")),
        "a string is not a bool"
    );
}

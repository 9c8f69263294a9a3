//! The `[sparkplug]` configuration table and its resolution into checked settings.

use serde::Deserialize;

use crate::topic::validate_id;

/// `[sparkplug]` as written in the gateway's TOML file; unknown keys are errors.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SparkplugConfig {
    /// Sparkplug group id.
    pub group_id: String,
    /// Edge node id template; `{rtu}` is replaced by the RTU's name. Default `"{rtu}"`.
    #[serde(default = "default_template")]
    pub edge_node: String,
    /// Device id template; `{rtu}` is replaced by the RTU's name. Default `"{rtu}"`.
    #[serde(default = "default_template")]
    pub device: String,
    /// Primary host application id: births wait for its STATE `online = true`.
    #[serde(default)]
    pub primary_host_id: Option<String>,
    /// MQTT QoS of births and data (0, as the specification requires, or 1).
    #[serde(default)]
    pub qos: u8,
    /// Values kept while no session is born (oldest dropped beyond it, and counted).
    #[serde(default = "default_buffer_capacity")]
    pub buffer_capacity: usize,
}

fn default_template() -> String {
    "{rtu}".to_owned()
}

fn default_buffer_capacity() -> usize {
    10_000
}

/// A rejected `[sparkplug]` value: names the key, the value and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sparkplug.{key} = {value}: {allowed}")]
pub struct ConfigError {
    /// The key.
    pub key: &'static str,
    /// The refused value as written.
    pub value: String,
    /// What is allowed.
    pub allowed: String,
}

/// Checked `[sparkplug]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparkplugSettings {
    /// Group id.
    pub group_id: String,
    /// Edge node id template (holds `{rtu}` at most as placeholder).
    pub edge_node: String,
    /// Device id template.
    pub device: String,
    /// Primary host id.
    pub primary_host_id: Option<String>,
    /// QoS of births and data.
    pub qos: u8,
    /// History buffer capacity in values.
    pub buffer_capacity: usize,
}

impl SparkplugConfig {
    /// Checks every value.
    pub fn resolve(&self) -> Result<SparkplugSettings, ConfigError> {
        let err = |key, value: &dyn std::fmt::Debug, allowed: &str| ConfigError {
            key,
            value: format!("{value:?}"),
            allowed: allowed.to_owned(),
        };
        const ID: &str = "a non-empty id without '/', '+', '#' or NUL";
        validate_id("group_id", &self.group_id).map_err(|_| err("group_id", &self.group_id, ID))?;
        check_template(&self.edge_node).map_err(|a| err("edge_node", &self.edge_node, &a))?;
        check_template(&self.device).map_err(|a| err("device", &self.device, &a))?;
        if let Some(h) = &self.primary_host_id {
            validate_id("host_id", h).map_err(|_| err("primary_host_id", h, ID))?;
        }
        if self.qos > 1 {
            return Err(err("qos", &self.qos, "0 or 1"));
        }
        if !(1..=1_000_000).contains(&self.buffer_capacity) {
            return Err(err("buffer_capacity", &self.buffer_capacity, "1..=1000000"));
        }
        Ok(SparkplugSettings {
            group_id: self.group_id.clone(),
            edge_node: self.edge_node.clone(),
            device: self.device.clone(),
            primary_host_id: self.primary_host_id.clone(),
            qos: self.qos,
            buffer_capacity: self.buffer_capacity,
        })
    }
}

fn check_template(t: &str) -> Result<(), String> {
    let sample = expand(t, "rtu1");
    if sample.contains(['{', '}']) {
        return Err("a template whose only placeholder is {rtu}".to_owned());
    }
    validate_id("id", &sample)
        .map_err(|_| "a template giving an id without '/', '+', '#' or NUL".to_owned())
}

fn expand(template: &str, rtu: &str) -> String {
    template.replace("{rtu}", rtu)
}

impl SparkplugSettings {
    /// The edge node id of an RTU.
    pub fn edge_node_id(&self, rtu: &str) -> Result<String, crate::topic::TopicError> {
        let id = expand(&self.edge_node, rtu);
        validate_id("edge_node_id", &id)?;
        Ok(id)
    }

    /// The device id of an RTU.
    pub fn device_id(&self, rtu: &str) -> Result<String, crate::topic::TopicError> {
        let id = expand(&self.device, rtu);
        validate_id("device_id", &id)?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<SparkplugConfig, toml::de::Error> {
        toml::from_str(s)
    }

    #[test]
    fn defaults_fill_everything_but_the_group() {
        let c = parse("group_id = \"plant\"").map_err(|e| e.to_string());
        let s = c.and_then(|c| c.resolve().map_err(|e| e.to_string()));
        let s = s.as_ref();
        assert_eq!(s.map(|s| s.edge_node.as_str()), Ok("{rtu}"));
        assert_eq!(s.map(|s| s.qos), Ok(0));
        assert_eq!(s.map(|s| s.primary_host_id.clone()), Ok(None));
        assert_eq!(
            s.ok().and_then(|s| s.edge_node_id("north").ok()).as_deref(),
            Some("north")
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = parse("group_id = \"g\"\nqso = 1")
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(
            e.as_ref()
                .err()
                .is_some_and(|e| e.contains("unknown field `qso`")),
            "{e:?}"
        );
    }

    #[test]
    fn every_bad_value_names_key_value_and_what_is_allowed() {
        let cases = [
            (
                "group_id = \"a/b\"",
                "sparkplug.group_id = \"a/b\": a non-empty id",
            ),
            (
                "group_id = \"g\"\nedge_node = \"{node}\"",
                "sparkplug.edge_node = \"{node}\": a template whose only placeholder is {rtu}",
            ),
            (
                "group_id = \"g\"\ndevice = \"a+\"",
                "sparkplug.device = \"a+\"",
            ),
            (
                "group_id = \"g\"\nprimary_host_id = \"\"",
                "sparkplug.primary_host_id = \"\"",
            ),
            ("group_id = \"g\"\nqos = 2", "sparkplug.qos = 2: 0 or 1"),
            (
                "group_id = \"g\"\nbuffer_capacity = 0",
                "sparkplug.buffer_capacity = 0: 1..=1000000",
            ),
        ];
        for (text, want) in cases {
            let got = parse(text)
                .map_err(|e| e.to_string())
                .and_then(|c| c.resolve().map_err(|e| e.to_string()));
            assert!(
                got.as_ref().err().is_some_and(|e| e.starts_with(want)),
                "{text}: {got:?}"
            );
        }
    }
}

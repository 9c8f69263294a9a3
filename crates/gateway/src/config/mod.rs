//! The gateway's TOML configuration: the file's shape (`file`, serde with spans, unknown keys
//! denied) is validated and resolved once into typed [`Settings`] (no spans) that the rest of
//! the gateway reads. Every rejected value is reported with its key, the value, what is
//! allowed, and its line and column.

mod brokers;
mod file;
mod hash;
mod problem;
mod secret;
pub mod security;
mod settings;
mod validate;
mod validate_rtu;
mod validate_tls;

use std::path::Path;

pub use file::Config;
pub use hash::config_hash;
pub use problem::{ConfigError, Problem};
pub use settings::{
    Broker, BrokerList, BrokerOrder, Cluster, Gateway, Mqtt, MqttVersion, Overrides, Point,
    PointMap, Rtu, Settings, VersionFallback,
};

/// The former name of [`Settings`].
pub type Loaded = Settings;

/// Reads and validates a configuration file.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.display().to_string(),
        error: e.to_string(),
    })?;
    parse(&text, &path.display().to_string())
}

/// Parses and validates configuration text; `origin` names it in messages.
pub fn parse(text: &str, origin: &str) -> Result<Settings, ConfigError> {
    let config: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
        origin: origin.to_owned(),
        problems: vec![problem::from_toml(text, &e)],
    })?;
    validate::validate(config, text, origin)
}

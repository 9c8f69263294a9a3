//! Security settings of the configuration: secrets that never reach a log or an error
//! message, where command results may go (MQTT 5 response topics), per-point command limits.

use std::path::{Path, PathBuf};

use super::file::PointConfig;

pub use super::secret::Secret;

/// Resolves a credential file name: a relative name is looked up in systemd's
/// `$CREDENTIALS_DIRECTORY` (`LoadCredential=`) when that is set, else taken as it is.
pub fn credential_path(name: &str) -> PathBuf {
    let p = Path::new(name);
    match std::env::var_os("CREDENTIALS_DIRECTORY") {
        Some(dir) if p.is_relative() => Path::new(&dir).join(p),
        _ => p.to_path_buf(),
    }
}

/// Reads a password file: its first line, without the line end.
pub fn read_password(name: &str) -> Result<Secret, std::io::Error> {
    let path = credential_path(name);
    let text = std::fs::read_to_string(&path)?;
    Ok(Secret::new(text.lines().next().unwrap_or_default()))
}

/// The broker user and password of `[mqtt]` (the password from `password_file` when given,
/// read now), when a user is configured; the error names the file.
pub fn mqtt_credentials(
    m: &super::Mqtt,
) -> Result<Option<(String, Secret)>, (PathBuf, std::io::Error)> {
    let Some((user, inline)) = m.credentials.clone() else {
        return Ok(None);
    };
    let password = match &m.password_file {
        Some(path) => read_password(&path.to_string_lossy()).map_err(|e| (path.clone(), e))?,
        None => inline,
    };
    Ok(Some((user, password)))
}

/// Whether the URL carries `user[:password]@` (refused: the URL is printed and logged).
pub fn url_has_userinfo(url: &str) -> bool {
    url.split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or_default().contains('@'))
        .unwrap_or(false)
}

/// The default place of MQTT 5 response topics: `{prefix}/_response/`.
pub fn default_response_prefix(topic_prefix: &str) -> String {
    format!("{topic_prefix}/_response/")
}

/// What is wrong with a configured response topic prefix, if anything.
pub fn response_prefix_problem(p: &str, topic_prefix: &str) -> Option<String> {
    if p.is_empty() || !p.ends_with('/') || p.contains(['+', '#']) || p.starts_with('$') {
        return Some(format!(
            "response_topic_prefix {p:?}: must end with '/' and contain no '+', '#' or leading '$'"
        ));
    }
    if p == format!("{topic_prefix}/") {
        return Some(format!(
            "response_topic_prefix {p:?}: must not be the whole topic prefix (the gateway's own data and command topics)"
        ));
    }
    None
}

/// Per-point command limits (`[[rtu.point]]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommandLimits {
    /// A direct execute (without select) is refused.
    pub select_required: bool,
    /// Commands per minute, at most; more are refused.
    pub max_rate: Option<u32>,
    /// Smallest set-point value accepted.
    pub min: Option<f64>,
    /// Largest set-point value accepted.
    pub max: Option<f64>,
}

/// Resolves a point's command limits; problems as (span, message).
pub fn point_limits(p: &PointConfig) -> (CommandLimits, Vec<(std::ops::Range<usize>, String)>) {
    let mut problems = Vec::new();
    if let Some(r) = &p.max_rate {
        if *r.get_ref() == 0 || *r.get_ref() > 60_000 {
            problems.push((
                r.span(),
                format!(
                    "max_rate = {}: must be 1..=60000 commands per minute",
                    r.get_ref()
                ),
            ));
        }
    }
    for (v, key) in [(&p.min, "min"), (&p.max, "max")] {
        if let Some(v) = v {
            if !v.get_ref().is_finite() {
                problems.push((
                    v.span(),
                    format!("{key} = {}: must be a finite number", v.get_ref()),
                ));
            }
        }
    }
    if let (Some(lo), Some(hi)) = (&p.min, &p.max) {
        if lo.get_ref() > hi.get_ref() {
            problems.push((
                lo.span(),
                format!("min = {} is above max = {}", lo.get_ref(), hi.get_ref()),
            ));
        }
    }
    let any_limit = p.select_required || p.max_rate.is_some() || p.min.is_some() || p.max.is_some();
    if any_limit && !p.commands {
        problems.push((
            p.ioa.span(),
            "select_required, max_rate, min and max need commands = true".to_owned(),
        ));
    }
    let limits = CommandLimits {
        select_required: p.select_required,
        max_rate: p.max_rate.as_ref().map(|r| *r.get_ref()),
        min: p.min.as_ref().map(|v| *v.get_ref()),
        max: p.max.as_ref().map(|v| *v.get_ref()),
    };
    (limits, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[test]
    fn secret_is_never_shown() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        #[derive(Deserialize, Debug)]
        struct T {
            #[allow(dead_code)]
            password: Secret,
        }
        // The gateway reports `message()` (with line and column), not the source snippet.
        let e = toml::from_str::<T>("password = 987654321")
            .unwrap_err()
            .message()
            .to_owned();
        assert!(!e.contains("987654321"), "{e}");
        assert!(e.contains("password_file"), "{e}");
        let t: T = toml::from_str("password = \"hunter2\"").unwrap();
        assert!(!format!("{t:?}").contains("hunter2"));
    }

    #[test]
    fn userinfo_in_url_is_seen() {
        assert!(url_has_userinfo("mqtt://u:p@host:1883"));
        assert!(url_has_userinfo("mqtts://u@host"));
        assert!(!url_has_userinfo("mqtt://host:1883"));
    }

    #[test]
    fn response_prefix_rules() {
        assert_eq!(response_prefix_problem("iec104/_response/", "iec104"), None);
        assert!(response_prefix_problem("iec104/", "iec104").is_some());
        assert!(response_prefix_problem("replies", "iec104").is_some());
        assert!(response_prefix_problem("r/+/", "iec104").is_some());
    }
}

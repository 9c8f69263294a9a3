//! Validation of `[tls]` (defaults) and `[rtu.tls]` (IEC 62351-3 towards one RTU): the two
//! tables merged key by key, values checked, and the files loaded once so that an unreadable
//! or unusable certificate, key or CRL is reported by `check` and at startup with the key,
//! the file and what is wrong.

use std::ops::Range;
use std::path::PathBuf;

use iec104::tls::{TlsConfig, TlsConfigError, IEC62351_PORT};
use toml::Spanned;

use super::file::{RtuConfig, TlsTable};
use super::validate::Checker;

/// Configurations already loaded (RTUs usually share one): loaded once, reported once.
#[derive(Debug, Default)]
pub(super) struct Loaded(Vec<TlsConfig>);

/// One key's value and where it came from (`[rtu.tls]` or `[tls]`).
struct Pick<'a, T> {
    value: &'a Spanned<T>,
    table: &'static str,
}

fn pick<'a, T>(
    own: Option<&'a Spanned<T>>,
    defaults: Option<&'a Spanned<T>>,
) -> Option<Pick<'a, T>> {
    match (own, defaults) {
        (Some(value), _) => Some(Pick {
            value,
            table: "rtu.tls",
        }),
        (None, Some(value)) => Some(Pick {
            value,
            table: "tls",
        }),
        (None, None) => None,
    }
}

/// The address with the IEC 62351-3 port 19998 when it names none.
pub(super) fn with_tls_port(address: &str) -> String {
    if let Ok(ip) = address.parse::<std::net::IpAddr>() {
        return std::net::SocketAddr::new(ip, IEC62351_PORT).to_string();
    }
    match address.rsplit_once(':') {
        Some((_, port)) if port.parse::<u16>().is_ok() => address.to_owned(),
        _ => format!("{address}:{IEC62351_PORT}"),
    }
}

impl Checker<'_> {
    /// `[rtu.tls]` merged with `[tls]`; `None` when the RTU has no `[rtu.tls]`.
    pub(super) fn rtu_tls(
        &mut self,
        r: &RtuConfig,
        name: &str,
        defaults: Option<&TlsTable>,
        loaded: &mut Loaded,
    ) -> Option<TlsConfig> {
        let own = r.tls.as_ref()?;
        let empty = TlsTable::default();
        let d = defaults.unwrap_or(&empty);
        let file = |p: Option<Pick<'_, String>>| p.map(|p| PathBuf::from(p.value.get_ref()));
        let mut config = TlsConfig {
            ca_files: file(pick(own.ca_file.as_ref(), d.ca_file.as_ref()))
                .into_iter()
                .collect(),
            cert_file: file(pick(own.cert_file.as_ref(), d.cert_file.as_ref())),
            key_file: pick(own.key_file.as_ref(), d.key_file.as_ref())
                .map(|p| super::security::credential_path(p.value.get_ref())),
            allowed_certs: pick(own.allowed_certs.as_ref(), d.allowed_certs.as_ref())
                .map(|p| p.value.get_ref().iter().map(PathBuf::from).collect())
                .unwrap_or_default(),
            crl_file: file(pick(own.crl_file.as_ref(), d.crl_file.as_ref())),
            check_hostname: own.check_hostname.or(d.check_hostname).unwrap_or(false),
            ..TlsConfig::default()
        };
        let interval = |c: &mut Self, p: Option<Pick<'_, f64>>, key: &str| {
            let p = p?;
            let key = format!("rtu {name:?}: {}.{key}", p.table);
            c.seconds(&Some(p.value.clone()), &key, 1.0)
        };
        config.key_update_interval = interval(
            self,
            pick(
                own.key_update_interval.as_ref(),
                d.key_update_interval.as_ref(),
            ),
            "key_update_interval",
        );
        config.reconnect_interval = interval(
            self,
            pick(
                own.reconnect_interval.as_ref(),
                d.reconnect_interval.as_ref(),
            ),
            "reconnect_interval",
        );
        self.tls_limits(own, d, name, &mut config);
        if !loaded.0.contains(&config) {
            loaded.0.push(config.clone());
            if let Err(e) = config.connector() {
                self.tls_load_error(own, d, r, name, e);
            }
        }
        Some(config)
    }

    /// `versions`, `min_rsa_bits`, `max_chain_len`.
    fn tls_limits(&mut self, own: &TlsTable, d: &TlsTable, name: &str, config: &mut TlsConfig) {
        if let Some(p) = pick(own.versions.as_ref(), d.versions.as_ref()) {
            let list = p.value.get_ref();
            config.tls12 = list.iter().any(|v| v == "1.2");
            config.tls13 = list.iter().any(|v| v == "1.3");
            if list.is_empty() || list.iter().any(|v| v != "1.2" && v != "1.3") {
                self.at(
                    p.value.span(),
                    format!(
                        "rtu {name:?}: {}.versions = {list:?}: must list \"1.2\" and/or \"1.3\"",
                        p.table
                    ),
                );
            }
        }
        if let Some(p) = pick(own.min_rsa_bits.as_ref(), d.min_rsa_bits.as_ref()) {
            let key = format!("rtu {name:?}: {}.min_rsa_bits", p.table);
            if let Some(bits) = self.int(p.value, &key, 2048..=16384, " bits") {
                config.min_rsa_bits = bits as usize;
            }
        }
        if let Some(p) = pick(own.max_chain_len.as_ref(), d.max_chain_len.as_ref()) {
            let key = format!("rtu {name:?}: {}.max_chain_len", p.table);
            if let Some(len) = self.int(p.value, &key, 1..=16, " certificates") {
                config.max_chain_len = len as usize;
            }
        }
    }

    /// Reports a file or setting the TLS layer refused, at the key that named it.
    fn tls_load_error(
        &mut self,
        own: &TlsTable,
        d: &TlsTable,
        r: &RtuConfig,
        name: &str,
        e: TlsConfigError,
    ) {
        let keys: [(&str, Option<Pick<'_, String>>); 4] = [
            ("ca_file", pick(own.ca_file.as_ref(), d.ca_file.as_ref())),
            (
                "cert_file",
                pick(own.cert_file.as_ref(), d.cert_file.as_ref()),
            ),
            ("key_file", pick(own.key_file.as_ref(), d.key_file.as_ref())),
            ("crl_file", pick(own.crl_file.as_ref(), d.crl_file.as_ref())),
        ];
        let allowed = pick(own.allowed_certs.as_ref(), d.allowed_certs.as_ref());
        let fallback: Range<usize> = r.name.span();
        let file_problem = match &e {
            TlsConfigError::File { file, problem } => Some((file, problem.clone())),
            TlsConfigError::KeyTooShort { file, bits, min } => Some((
                file,
                format!("RSA key of {bits} bits is shorter than the minimum of {min} bits"),
            )),
            _ => None,
        };
        let (key, span, problem) = match (&e, file_problem) {
            (_, Some((file, problem))) => {
                let named = keys.iter().find_map(|(key, p)| {
                    let p = p.as_ref()?;
                    let path = if *key == "key_file" {
                        super::security::credential_path(p.value.get_ref())
                    } else {
                        PathBuf::from(p.value.get_ref())
                    };
                    (&path == file).then(|| (format!("{}.{key}", p.table), p.value.span()))
                });
                let named = named.or_else(|| {
                    allowed
                        .as_ref()
                        .map(|p| (format!("{}.allowed_certs", p.table), p.value.span()))
                });
                let (key, span) = named.unwrap_or(("tls".to_owned(), fallback));
                (
                    format!("{key} = {:?}", file.display().to_string()),
                    span,
                    problem,
                )
            }
            (TlsConfigError::Setting { setting, problem }, None) => {
                let key = match *setting {
                    "ca_files" => "ca_file",
                    "tls12/tls13" => "versions",
                    other => other,
                };
                (format!("rtu.tls.{key}"), fallback, problem.clone())
            }
            (other, None) => ("rtu.tls".to_owned(), fallback, other.to_string()),
        };
        self.at(span, format!("rtu {name:?}: {key}: {problem}"));
    }
}

#[cfg(test)]
#[path = "validate_tls_tests.rs"]
mod tests;

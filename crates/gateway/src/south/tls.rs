//! IEC 62351-3 TLS of the RTU links: the connectors (one per distinct `[rtu.tls]`
//! configuration, replaced when the files are reloaded), the TLS connect of a session, and
//! how a TLS failure is shown (status reason `tls: …`, `iec104gw_tls_events_total{rtu,kind}`,
//! a log line).

use std::time::Duration;

use iec104::client::{Client, ClientConfig, ClientError, ClientEvents, Connection};
use iec104::tls::{PeerChain, TlsConfig, TlsConfigError, TlsConnector, TlsError};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::model::Metrics;

/// The kind counted when reloaded TLS files cannot be used (the old ones stay in force).
pub const RELOAD_FAILED: &str = "reload_failed";
/// The kind counted when the TLS files were read again and are in force.
pub const RELOADED: &str = "reloaded";

/// The connectors of every TLS configuration in use, each behind a watch channel so that a
/// reload reaches every session using it.
#[derive(Debug, Default)]
pub struct Connectors {
    configs: Vec<(TlsConfig, watch::Sender<TlsConnector>, Vec<String>)>,
}

impl Connectors {
    /// Loads the files of every distinct configuration of `rtus` (name, TLS settings).
    pub fn load<'a>(
        rtus: impl IntoIterator<Item = (&'a str, &'a TlsConfig)>,
    ) -> Result<Connectors, TlsConfigError> {
        let mut all = Connectors::default();
        for (rtu, config) in rtus {
            if let Some((_, _, names)) = all.configs.iter_mut().find(|(c, _, _)| c == config) {
                names.push(rtu.to_owned());
                continue;
            }
            let (tx, _) = watch::channel(config.connector()?);
            all.configs.push((config.clone(), tx, vec![rtu.to_owned()]));
        }
        Ok(all)
    }

    /// The connector of `config` and its replacements.
    pub fn receiver(&self, config: &TlsConfig) -> Option<watch::Receiver<TlsConnector>> {
        self.configs
            .iter()
            .find(|(c, _, _)| c == config)
            .map(|(_, tx, _)| tx.subscribe())
    }

    /// Every file named by a configuration (to watch for changes).
    pub fn files(&self) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        for (c, _, _) in &self.configs {
            files.extend(c.ca_files.iter().cloned());
            files.extend(c.cert_file.iter().cloned());
            files.extend(c.key_file.iter().cloned());
            files.extend(c.allowed_certs.iter().cloned());
            files.extend(c.crl_file.iter().cloned());
        }
        files.sort();
        files.dedup();
        files
    }

    /// Reads every file again; a configuration whose files load replaces its connector (the
    /// sessions check their peers against it) and counts `reloaded` for its RTUs; one that
    /// fails keeps the old one and counts `reload_failed`. Returns how many failed.
    pub fn reload(&self, metrics: &Metrics) -> usize {
        let mut failed = 0;
        for (config, tx, rtus) in &self.configs {
            match config.connector() {
                Ok(connector) => {
                    tx.send_replace(connector);
                    for rtu in rtus {
                        metrics.tls_event(rtu, RELOADED);
                    }
                }
                Err(e) => {
                    failed += 1;
                    tracing::error!(rtus = %rtus.join(","), error = %e, "tls: reloaded files unusable; the previous certificates and CRLs stay in force");
                    for rtu in rtus {
                        metrics.tls_event(rtu, RELOAD_FAILED);
                    }
                }
            }
        }
        failed
    }
}

/// A connection made, with the certificates the RTU presented over TLS.
pub type Linked = (Client, ClientEvents, Connection, Option<PeerChain>);

/// The host part of `host:port` (brackets of an IPv6 address removed).
pub fn host_of(address: &str) -> &str {
    address
        .rsplit_once(':')
        .map_or(address, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']')
}

/// TCP then the TLS handshake, both within t0; keeps the RTU's chain for later rechecks.
pub async fn connect(
    address: String,
    config: ClientConfig,
    tls: TlsConnector,
) -> Result<Linked, ClientError> {
    config.validate()?;
    let t0 = config.link.t0;
    let deadline = tokio::time::Instant::now() + t0;
    let tcp = tokio::time::timeout_at(deadline, TcpStream::connect(&address))
        .await
        .map_err(|_| ClientError::ConnectTimeout(t0))??;
    tcp.set_nodelay(true)?;
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let stream = tls
        .connect(host_of(&address), tcp, left.max(Duration::from_millis(1)))
        .await
        .map_err(ClientError::Tls)?;
    let peer = stream.peer_chain();
    tracing::debug!(%address, version = ?stream.protocol_version(), suite = ?stream.cipher_suite(), "TLS session established");
    let (client, events, connection) =
        Client::from_stream(iec104::transport::Transport::from(stream), config)?;
    Ok((client, events, connection, Some(peer)))
}

/// Plain TCP.
pub async fn connect_plain(address: String, config: ClientConfig) -> Result<Linked, ClientError> {
    let (client, events, connection) = iec104::client::connect(address, config).await?;
    Ok((client, events, connection, None))
}

/// What the status says for a TLS failure: `tls: ` and what failed (e.g.
/// `tls: certificate revoked`), then the details when there are any.
pub fn reason(e: &TlsError) -> String {
    let what = match e.kind() {
        "unknown_ca" => "unknown CA",
        "revoked" => return "tls: certificate revoked".to_owned(),
        "expired" => "certificate expired",
        "not_allowed" => "certificate not in the allow-list",
        "key_too_short" => "key too short",
        "chain_too_long" => "certificate chain too long",
        "name_mismatch" => "certificate name mismatch",
        "no_certificate" => "no certificate",
        "bad_certificate" => "bad certificate",
        "peer_alert" => "refused by the RTU",
        "not_tls" => "the RTU does not speak TLS",
        "timeout" => "handshake timeout",
        "renewal_reconnect" => "session renewal",
        _ => "handshake failed",
    };
    format!("tls: {what}: {e}")
}

/// Counts and logs a TLS failure on the link to `rtu`; returns the status reason.
pub fn failure(metrics: &Metrics, rtu: &str, address: &str, e: &TlsError) -> String {
    metrics.tls_event(rtu, e.kind());
    let reason = reason(e);
    if matches!(e, TlsError::RenewalReconnect(_)) {
        tracing::info!(%rtu, %address, kind = e.kind(), "{reason}");
    } else {
        tracing::warn!(%rtu, %address, kind = e.kind(), "{reason}");
    }
    reason
}

/// The TLS error inside a client error, if it is one.
pub fn tls_error(e: &ClientError) -> Option<&TlsError> {
    match e {
        ClientError::Tls(t) => Some(t),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_what_failed() {
        assert_eq!(reason(&TlsError::Revoked), "tls: certificate revoked");
        let r = reason(&TlsError::Expired("ExpiredContext".into()));
        assert!(r.starts_with("tls: certificate expired: "), "{r}");
        let r = reason(&TlsError::UnknownCa("issuer".into()));
        assert!(r.starts_with("tls: unknown CA: "), "{r}");
        let r = reason(&TlsError::NameMismatch("x".into()));
        assert!(r.starts_with("tls: certificate name mismatch: "), "{r}");
    }

    #[test]
    fn host_of_addresses() {
        assert_eq!(host_of("10.0.0.1:19998"), "10.0.0.1");
        assert_eq!(host_of("[::1]:19998"), "::1");
        assert_eq!(host_of("rtu.example:2404"), "rtu.example");
    }

    #[test]
    fn failures_are_counted_by_rtu_and_kind() {
        let m = Metrics::default();
        failure(&m, "north", "127.0.0.1:1", &TlsError::Revoked);
        failure(&m, "north", "127.0.0.1:1", &TlsError::Revoked);
        let map = crate::model::metrics::lock(&m.tls_events);
        assert_eq!(map.get(&("north".to_owned(), "revoked")), Some(&2));
    }
}

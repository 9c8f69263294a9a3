//! A client session for one run: connect, STARTDT, send ASDUs, receive ASDUs until a deadline.

use std::io::ErrorKind;
use std::time::Duration;

use bytes::Bytes;
use iec104::asdu::Asdu;
use iec104::client::{
    self, Client, ClientConfig, ClientError, ClientEvent, ClientEvents, CloseReason,
};
use iec104::link::LinkConfig;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::args::{Common, TlsArgs};
use crate::error::CliError;
use iec104::tls::{TlsConfig, TlsConnector};

/// A started connection to one station.
pub struct Session {
    client: Client,
    events: ClientEvents,
    connection: JoinHandle<Result<(), ClientError>>,
    /// End of the overall timeout.
    pub deadline: Instant,
    /// The overall timeout, for messages.
    pub timeout: Duration,
}

/// The link configuration from the common options.
fn config(common: &Common) -> Result<ClientConfig, CliError> {
    let config = ClientConfig {
        link: LinkConfig {
            k: common.k,
            w: common.w,
            t0: common.t0,
            t1: common.t1,
            t2: common.t2,
            t3: common.t3,
            ..LinkConfig::default()
        },
        ..ClientConfig::default()
    };
    config
        .validate()
        .map_err(|e| CliError::Usage(format!("invalid link parameters: {e}")))?;
    Ok(config)
}

impl Session {
    /// Connects (within t0 and the overall timeout) and starts data transfer.
    pub async fn open(common: &Common) -> Result<Session, CliError> {
        let config = config(common)?;
        let timeout = common.timeout;
        let deadline = Instant::now() + timeout;
        let tls = tls_connector(&common.tls)?;
        let addr = match tls {
            Some(_) => common.addr.clone(),
            None => with_default_port(&common.addr),
        };
        let addr = addr.as_str();
        let connect_error = |reason: String| CliError::Connect {
            addr: addr.to_owned(),
            reason,
        };
        let connect = async {
            match &tls {
                Some(tls) => client::connect_tls(addr, config, tls).await,
                None => client::connect(addr, config).await,
            }
        };
        let connected = tokio::time::timeout_at(deadline, connect)
            .await
            .map_err(|_| connect_error(format!("no answer within {timeout:?}")))?;
        let (client, events, connection) = connected.map_err(|e| match e {
            ClientError::Io(io) => connect_error(match io.kind() {
                ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                _ => io.to_string(),
            }),
            ClientError::ConnectTimeout(t0) => {
                connect_error(format!("no answer within t0 = {t0:?}"))
            }
            ClientError::Tls(e) => connect_error(format!("TLS refused ({}): {e}", e.kind())),
            other => connect_error(other.to_string()),
        })?;
        let session = Session {
            client,
            events,
            connection: tokio::spawn(connection),
            deadline,
            timeout,
        };
        match tokio::time::timeout_at(deadline, session.client.start_dt()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(CliError::from_client(&e, "waiting for STARTDT con")),
            Err(_) => {
                return Err(CliError::Timeout {
                    what: format!(
                        "STARTDT con from {addr} (the peer accepted TCP but did not answer \
                         STARTDT act: is it an IEC 60870-5-104 controlled station?)"
                    ),
                    after: timeout,
                })
            }
        }
        Ok(session)
    }

    /// Queues an ASDU for transmission. When the connection is gone, the error says why it
    /// closed (from the events).
    pub async fn send(&mut self, asdu: Asdu) -> Result<(), CliError> {
        let Err(e) = self.client.send(asdu.into_bytes()).await else {
            return Ok(());
        };
        let reason = async {
            while let Some(event) = self.events.recv().await {
                if let ClientEvent::Closed { reason } = event {
                    return Some(reason);
                }
            }
            None
        };
        match tokio::time::timeout(Duration::from_secs(1), reason).await {
            Ok(Some(reason)) => Err(closed(reason, "sending")),
            _ => Err(CliError::from_client(&e, "sending")),
        }
    }

    /// The next ASDU before the overall deadline; `what` names what is awaited (for errors).
    pub async fn next_asdu(&mut self, what: &str) -> Result<Bytes, CliError> {
        loop {
            if let Some(asdu) = self.next_until(Some(self.deadline), what).await? {
                return Ok(asdu);
            }
        }
    }

    /// The next event before `deadline` (if any): `Some(asdu)`, or `None` for a link event.
    pub async fn next_until(
        &mut self,
        deadline: Option<Instant>,
        what: &str,
    ) -> Result<Option<Bytes>, CliError> {
        let event = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .map_err(|_| CliError::Timeout {
                    what: what.to_owned(),
                    after: self.timeout,
                })?,
            None => self.events.recv().await,
        };
        match event {
            Some(ClientEvent::Asdu { asdu, .. }) => Ok(Some(asdu)),
            Some(ClientEvent::Started) | Some(ClientEvent::Stopped) => Ok(None),
            Some(ClientEvent::Closed { reason }) => {
                Err(closed(reason, &format!("waiting for {what}")))
            }
            None => Err(CliError::Connection(format!(
                "connection closed (waiting for {what})"
            ))),
        }
    }

    /// Closes the connection and waits (briefly) for it to end.
    pub async fn close(self) {
        self.client.close();
        let _ = tokio::time::timeout(Duration::from_secs(1), self.connection).await;
    }
}

/// The TLS connector of the `--tls-*` options, `None` without TLS; unusable files are a usage
/// error naming the file.
fn tls_connector(args: &TlsArgs) -> Result<Option<TlsConnector>, CliError> {
    if !args.enabled() {
        if args.tls_cert.is_some() || args.tls_crl.is_some() {
            return Err(CliError::Usage(
                "--tls-cert/--tls-crl need --tls-ca or --tls-allow (which turn TLS on)".into(),
            ));
        }
        return Ok(None);
    }
    let config = TlsConfig {
        ca_files: args.tls_ca.clone(),
        cert_file: args.tls_cert.clone(),
        key_file: args.tls_key.clone(),
        allowed_certs: args.tls_allow.clone(),
        crl_file: args.tls_crl.clone(),
        ..TlsConfig::default()
    };
    config
        .connector()
        .map(Some)
        .map_err(|e| CliError::Usage(format!("TLS: {e}")))
}

/// `HOST:PORT` as given, or `HOST:2404` when no port is given (an IPv6 address needs brackets
/// with a port: `[::1]:2404`; a bare `::1` gets the default port).
pub fn with_default_port(addr: &str) -> String {
    if addr.parse::<std::net::SocketAddr>().is_ok() {
        return addr.to_owned();
    }
    if let Ok(ip) = addr.parse::<std::net::IpAddr>() {
        return std::net::SocketAddr::new(ip, 2404).to_string();
    }
    match addr.rsplit_once(':') {
        Some((_, port)) if port.parse::<u16>().is_ok() => addr.to_owned(),
        _ => format!("{addr}:2404"),
    }
}

/// The error of a closed connection; `doing` says what we were doing ("sending").
fn closed(reason: CloseReason, doing: &str) -> CliError {
    match reason {
        CloseReason::Error(e) => CliError::from_client(&e, doing),
        CloseReason::Requested | CloseReason::Aborted => {
            CliError::Connection(format!("connection closed ({doing})"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_default_port;

    #[test]
    fn default_port_is_2404() {
        assert_eq!(with_default_port("10.0.0.1"), "10.0.0.1:2404");
        assert_eq!(with_default_port("10.0.0.1:2405"), "10.0.0.1:2405");
        assert_eq!(with_default_port("rtu.example"), "rtu.example:2404");
        assert_eq!(with_default_port("rtu.example:1"), "rtu.example:1");
        assert_eq!(with_default_port("::1"), "[::1]:2404");
        assert_eq!(with_default_port("[::1]:2405"), "[::1]:2405");
    }
}

//! A client session for one run: connect, STARTDT, send ASDUs, receive ASDUs until a deadline.

use std::io::ErrorKind;
use std::time::Duration;

use bytes::Bytes;
use iec104::asdu::Asdu;
use iec104::client::{
    self, Client, ClientConfig, ClientError, ClientEvent, ClientEvents, CloseReason,
};
use iec104::LinkConfig;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::args::Common;
use crate::error::CliError;

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
        let addr = common.addr.as_str();
        let connect_error = |reason: String| CliError::Connect {
            addr: addr.to_owned(),
            reason,
        };
        let connected = tokio::time::timeout_at(deadline, client::connect(addr, config))
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
                    what: "STARTDT con".to_owned(),
                    after: timeout,
                })
            }
        }
        Ok(session)
    }

    /// Queues an ASDU for transmission.
    pub async fn send(&self, asdu: Asdu) -> Result<(), CliError> {
        self.client
            .send(asdu.into_bytes())
            .await
            .map_err(|e| CliError::from_client(&e, "sending"))
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
            Some(ClientEvent::Closed { reason }) => Err(closed(reason, what)),
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

fn closed(reason: CloseReason, what: &str) -> CliError {
    let doing = format!("waiting for {what}");
    match reason {
        CloseReason::Error(e) => CliError::from_client(&e, &doing),
        CloseReason::Requested | CloseReason::Aborted => {
            CliError::Connection(format!("connection closed ({doing})"))
        }
    }
}

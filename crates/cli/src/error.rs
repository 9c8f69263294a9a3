//! Why a run failed, with its exit code and a message for stderr.

use std::io;
use std::time::Duration;

use iec104::apci::FrameError;
use iec104::client::ClientError;
use iec104::cot::Cause;
use iec104::json::CommandError;

/// A failed run.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The station answered negatively (exit 1).
    #[error("{0}")]
    Negative(String),
    /// A bad argument value (exit 2).
    #[error("{0}")]
    Usage(String),
    /// A bad command value (exit 2).
    #[error("{0}")]
    Command(#[from] CommandError),
    /// The TCP connection could not be set up (exit 3).
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// HOST:PORT as given.
        addr: String,
        /// Why.
        reason: String,
    },
    /// Nothing (or not the awaited answer) arrived in time (exit 3).
    #[error("timeout: no {what} within {} s", secs(*.after))]
    Timeout {
        /// What was awaited.
        what: String,
        /// The timeout.
        after: Duration,
    },
    /// The connection failed or was closed (exit 3).
    #[error("{0}")]
    Connection(String),
    /// Writing the output failed (exit 3).
    #[error("cannot write output: {0}")]
    Output(#[from] io::Error),
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Negative(_) => 1,
            CliError::Usage(_) | CliError::Command(_) => 2,
            CliError::Connect { .. }
            | CliError::Timeout { .. }
            | CliError::Connection(_)
            | CliError::Output(_) => 3,
        }
    }

    /// A connection-level error while `doing` something (e.g. "waiting for STARTDT con").
    pub fn from_client(e: &ClientError, doing: &str) -> CliError {
        CliError::Connection(match e {
            ClientError::Frame { error, bytes } => {
                let tls_record = matches!(bytes.to_string().get(..5), Some("15 03" | "16 03"));
                let hint = match error {
                    FrameError::BadStartByte { .. } if tls_record => {
                        "the station answered with TLS (IEC 62351-3; use --tls-ca, --tls-cert, --tls-key): "
                    }
                    FrameError::BadStartByte { .. } | FrameError::BadLength { .. } => {
                        "peer does not speak IEC 60870-5-104: "
                    }
                    _ => "protocol error: bad frame from peer: ",
                };
                format!("{hint}{error}; received octets: {bytes} ({doing})")
            }
            ClientError::Link { .. } => format!("protocol error: {e} ({doing})"),
            ClientError::PeerClosed => format!("connection closed by the station ({doing})"),
            ClientError::Io(io) => format!("connection failed: {io} ({doing})"),
            other => format!("{other} ({doing})"),
        })
    }
}

/// A readable name of a negative cause of transmission.
pub fn cause_text(cause: Cause) -> &'static str {
    match cause {
        Cause::UnknownTypeId => "unknown type identification",
        Cause::UnknownCause => "unknown cause of transmission",
        Cause::UnknownCommonAddress => "unknown common address",
        Cause::UnknownObjectAddress => "unknown information object address",
        _ => "negative confirmation",
    }
}

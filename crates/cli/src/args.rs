//! Command-line arguments (clap derive).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0  success: the station confirmed positively (and terminated, where it does)
  1  negative outcome: negative confirmation (P/N bit set), unknown type / cause / common address / object address (causes 44-47)
  2  usage error: bad arguments or values
  3  connection, timeout or protocol error: refused or unreachable, no answer within --timeout, connection closed, peer not speaking IEC 60870-5-104

Output: one line per information object. --format json writes the shape of docs/json.md (one JSON object per line); text writes aligned columns. Messages and notes go to stderr.";

/// IEC 60870-5-104 command-line client: interrogate, monitor and command a controlled station.
#[derive(Debug, Parser)]
#[command(name = "iec104", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Op,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Op {
    /// Station (or group) interrogation: prints every object received until ActTerm.
    #[command(after_help = EXIT_CODES)]
    Interrogate {
        /// Connection options.
        #[command(flatten)]
        common: Common,
        /// Common address of the station (65535 = broadcast: ends at the first ActTerm).
        #[arg(long, default_value_t = 1)]
        ca: u16,
        /// Interrogate group 1..=16 instead of the whole station (QOI 21..=36).
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=16))]
        group: Option<u8>,
    },
    /// Stays connected and prints everything as it arrives, until the duration ends or Ctrl-C.
    #[command(after_help = EXIT_CODES)]
    Monitor {
        /// Connection options.
        #[command(flatten)]
        common: Common,
        /// Exit 0 after this many seconds (default: run until Ctrl-C).
        #[arg(long, value_parser = parse_secs)]
        duration: Option<Duration>,
    },
    /// Sends a process command and prints its confirmations.
    ///
    /// Success (exit 0) is a positive ActCon of the execute command; then ActTerm is awaited
    /// until --timeout. A station that sends no ActTerm (it is optional for some commands)
    /// still gives exit 0, with a note on stderr; --no-actterm does not wait for it.
    /// With --select, the command is first sent with S/E = select and executed only after a
    /// positive ActCon of the select. Only the confirmations are printed (use monitor to see
    /// the data the command changes).
    #[command(after_help = EXIT_CODES)]
    Command {
        /// Connection options.
        #[command(flatten)]
        common: Common,
        /// Common address.
        #[arg(long)]
        ca: u16,
        /// Information object address.
        #[arg(long)]
        ioa: u32,
        /// Command type: C_SC_NA_1, C_DC_NA_1, C_RC_NA_1, C_SE_NA_1, C_SE_NB_1, C_SE_NC_1,
        /// C_BO_NA_1 or their _TA_1 forms (case-insensitive).
        #[arg(long = "type")]
        type_name: String,
        /// Value: on/off or true/false (C_SC), on/off (C_DC), lower/higher (C_RC), -1.0..1.0
        /// (C_SE_NA), -32768..32767 (C_SE_NB), a number (C_SE_NC), an integer or 0x... (C_BO).
        #[arg(long, allow_hyphen_values = true)]
        value: String,
        /// Select before operate.
        #[arg(long)]
        select: bool,
        /// Qualifier of command QU 0..=31 (C_SC, C_DC, C_RC): 1 short pulse, 2 long pulse,
        /// 3 persistent.
        #[arg(long)]
        qu: Option<i64>,
        /// Qualifier of set-point QL 0..=127 (C_SE).
        #[arg(long)]
        ql: Option<i64>,
        /// Send the _TA_1 form with the current time as CP56Time2a.
        #[arg(long)]
        time: bool,
        /// Do not wait for ActTerm after a positive ActCon.
        #[arg(long)]
        no_actterm: bool,
    },
    /// Clock synchronization (C_CS_NA_1); prints the ActCon.
    #[command(after_help = EXIT_CODES)]
    ClockSync {
        /// Connection options.
        #[command(flatten)]
        common: Common,
        /// Common address.
        #[arg(long)]
        ca: u16,
        /// The time to set, RFC 3339 (default: now, UTC).
        #[arg(long)]
        time: Option<String>,
    },
    /// Read command (C_RD_NA_1): prints the object the station returns.
    #[command(after_help = EXIT_CODES)]
    Read {
        /// Connection options.
        #[command(flatten)]
        common: Common,
        /// Common address.
        #[arg(long)]
        ca: u16,
        /// Information object address.
        #[arg(long)]
        ioa: u32,
    },
    /// Counter interrogation (C_CI_NA_1): prints every object received until ActTerm.
    #[command(after_help = EXIT_CODES)]
    CounterInterrogate {
        /// Connection options.
        #[command(flatten)]
        common: Common,
        /// Common address.
        #[arg(long)]
        ca: u16,
        /// Counter group 1..=4 instead of the general request (RQT 1..=4 instead of 5).
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=4))]
        group: Option<u8>,
        /// FRZ: read (0), freeze (1, without reset), freeze-reset (2), reset (3).
        #[arg(long, value_enum, default_value_t = Freeze::Read)]
        freeze: Freeze,
    },
    /// Test command with time tag (C_TS_TA_1); prints the ActCon.
    #[command(after_help = EXIT_CODES)]
    Test {
        /// Connection options.
        #[command(flatten)]
        common: Common,
        /// Common address.
        #[arg(long)]
        ca: u16,
        /// Test sequence counter.
        #[arg(long, default_value_t = 1)]
        tsc: u16,
    },
}

/// Options of every subcommand.
#[derive(Debug, Args)]
pub struct Common {
    /// The controlled station, HOST:PORT (HOST alone: port 2404, with TLS 19998).
    #[arg(value_name = "HOST:PORT")]
    pub addr: String,
    /// k: unacknowledged I frames sent, at most.
    #[arg(long, default_value_t = 12)]
    pub k: u16,
    /// w: acknowledge after this many received I frames at the latest.
    #[arg(long, default_value_t = 8)]
    pub w: u16,
    /// t0 in seconds: connection establishment timeout.
    #[arg(long, value_parser = parse_secs, default_value = "30")]
    pub t0: Duration,
    /// t1 in seconds: timeout for acknowledgements and STARTDT/TESTFR con.
    #[arg(long, value_parser = parse_secs, default_value = "15")]
    pub t1: Duration,
    /// t2 in seconds: acknowledge received I frames after this long at the latest (< t1).
    #[arg(long, value_parser = parse_secs, default_value = "10")]
    pub t2: Duration,
    /// t3 in seconds: send TESTFR after this long without traffic.
    #[arg(long, value_parser = parse_secs, default_value = "20")]
    pub t3: Duration,
    /// Overall timeout in seconds for connecting, STARTDT and the whole exchange (monitor:
    /// connecting and STARTDT only).
    #[arg(long, value_parser = parse_secs, default_value = "10")]
    pub timeout: Duration,
    /// Output format (default: text on a terminal, json otherwise).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Originator address sent in the cause of transmission.
    #[arg(long, default_value_t = 0)]
    pub originator: u8,
    /// TLS (IEC 62351-3) options.
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// TLS (IEC 62351-3): on with --tls-ca or --tls-allow; HOST alone then means port 19998.
#[derive(Debug, Clone, Default, Args)]
pub struct TlsArgs {
    /// Connect with TLS and accept a station certificate signed by this CA (PEM; repeatable).
    #[arg(long = "tls-ca", value_name = "FILE")]
    pub tls_ca: Vec<PathBuf>,
    /// Our certificate (PEM), presented to the station (which requires one).
    #[arg(long = "tls-cert", value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long = "tls-key", value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Accept only this station certificate (PEM; repeatable); alone it turns TLS on without a CA.
    #[arg(long = "tls-allow", value_name = "FILE")]
    pub tls_allow: Vec<PathBuf>,
    /// Refuse station certificates revoked in this CRL (PEM).
    #[arg(long = "tls-crl", value_name = "FILE")]
    pub tls_crl: Option<PathBuf>,
}

impl TlsArgs {
    /// Whether TLS is on.
    pub fn enabled(&self) -> bool {
        !self.tls_ca.is_empty() || !self.tls_allow.is_empty()
    }
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns: ca, ioa, type, cot, value, quality, time, then other fields.
    Text,
    /// One JSON object per line (docs/json.md).
    Json,
}

/// FRZ of the counter interrogation qualifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[allow(clippy::enum_variant_names)] // the names are the CLI values
pub enum Freeze {
    /// 0: read only.
    Read,
    /// 1: counter freeze without reset.
    Freeze,
    /// 2: counter freeze with reset.
    FreezeReset,
    /// 3: counter reset.
    Reset,
}

impl Freeze {
    /// The FRZ bits 0..=3.
    pub fn frz(self) -> u8 {
        match self {
            Freeze::Read => 0,
            Freeze::Freeze => 1,
            Freeze::FreezeReset => 2,
            Freeze::Reset => 3,
        }
    }
}

/// Seconds, fractional allowed, greater than zero.
fn parse_secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(v > 0.0 && v <= 1e9) {
        return Err(format!("{s} s out of range (0 < seconds <= 1e9)"));
    }
    Duration::try_from_secs_f64(v).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_arguments_are_consistent() {
        super::Cli::command().debug_assert();
    }
}

//! The command line of `iec104-gateway` (arguments only; `main.rs` acts on them).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// IEC 60870-5-104 to MQTT telemetry gateway.
#[derive(Debug, Parser)]
#[command(name = "iec104-gateway", version, about)]
pub struct Cli {
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway daemon.
    Run {
        /// Configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// This node's id (cluster; overrides `[cluster] node_id` and `[gateway] node`).
        #[arg(long)]
        node_id: Option<String>,
        /// HTTP endpoint address (overrides `[gateway] http_listen`).
        #[arg(long)]
        http_listen: Option<String>,
        /// Queue path (overrides `[gateway] store_path`).
        #[arg(long)]
        store_path: Option<String>,
    },
    /// Validate a configuration and print what it would do.
    Check {
        /// Configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// This node's id (cluster).
        #[arg(long)]
        node_id: Option<String>,
    },
    /// Everything in one process: embedded broker, simulated substations, the gateway.
    #[cfg(feature = "demo")]
    Demo {
        /// Stop after this many seconds.
        #[arg(long)]
        duration: Option<f64>,
        /// MQTT port of the embedded broker (a free one is taken if busy).
        #[arg(long, default_value_t = 1883)]
        mqtt_port: u16,
    },
}

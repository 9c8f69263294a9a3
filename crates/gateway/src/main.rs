//! `iec104-gateway`: IEC 60870-5-104 RTUs to MQTT.
//!
//! - `run --config FILE`: the daemon.
//! - `check --config FILE`: validates a configuration and prints what it would do.
//! - `demo`: an embedded broker, simulated substations and the gateway in one process
//!   (cargo feature `demo`, on by default).

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use iec104_gateway::{app, config};

/// IEC 60870-5-104 to MQTT telemetry gateway.
#[derive(Debug, Parser)]
#[command(name = "iec104-gateway", version, about)]
struct Cli {
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
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

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,rumqttd=off,rumqttc=warn,iec104_sim=warn")
    });
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => b.init(),
        LogFormat::Json => b.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config, node_id } => app::check::run(&config, node_id),
        Command::Run {
            config,
            node_id,
            http_listen,
            store_path,
        } => {
            init_logs(cli.log_format);
            let overrides = config::Overrides {
                node_id,
                http_listen,
                store_path,
            };
            let mut loaded = match config::load(&config) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            if let Err(e) = loaded.apply(&overrides) {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
            runtime(app::run(loaded, None))
        }
        #[cfg(feature = "demo")]
        Command::Demo {
            duration,
            mqtt_port,
        } => {
            init_logs(cli.log_format);
            runtime(iec104_gateway::demo::run(duration, mqtt_port))
        }
    }
}

fn runtime(fut: impl std::future::Future<Output = Result<(), String>>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

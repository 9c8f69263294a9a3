//! `iec104-gateway`: IEC 60870-5-104 RTUs to MQTT.
//!
//! - `run --config FILE`: the daemon.
//! - `check --config FILE`: validates a configuration and prints what it would do.
//! - `demo`: an embedded broker, simulated substations and the gateway in one process
//!   (cargo feature `demo`, on by default).

#![forbid(unsafe_code)]

use std::process::ExitCode;

mod cli;

use clap::Parser;
use cli::{Cli, Command, LogFormat};
use iec104_gateway::{app, config};

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
            match app::load(&config, &overrides) {
                Ok(loaded) => runtime(app::run(loaded, None)),
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(2)
                }
            }
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    let result = match rt {
        Ok(rt) => rt.block_on(fut).map_err(|e| format!("error: {e}")),
        Err(e) => Err(format!("cannot start the runtime: {e}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

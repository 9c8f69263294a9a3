//! `iec104`: an IEC 60870-5-104 command-line client. See `iec104 --help`.
#![forbid(unsafe_code)]

mod args;
mod error;
mod ops;
mod output;
mod session;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Usage errors exit 2 (clap's convention), --help and --version 0.
    let cli = args::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("iec104: cannot start the runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(ops::run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("iec104: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

//! Writes the test PKI of `iec104::tls::testing` into a directory, for trying TLS by hand:
//! `cargo run -p iec104 --features tls-testing --example make_test_pki -- DIR`.
//! Test certificates only (keys are written unprotected); see docs/tls.md for real ones.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: make_test_pki DIR");
        return ExitCode::from(2);
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("{}: {e}", dir.display());
        return ExitCode::from(1);
    }
    match iec104::tls::testing::TestPki::generate(&dir) {
        Ok(pki) => {
            println!("{pki:#?}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot make the certificates: {e}");
            ExitCode::from(1)
        }
    }
}

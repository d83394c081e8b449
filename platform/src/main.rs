//! The `grantor` binary: parse the command line, start logging, hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = grantor::cli::Cli::parse();
    let _log_flush = grantor::cli::init_tracing();
    match grantor::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

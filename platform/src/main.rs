//! The `grantor` binary: parse the command line, hand over to the library (which starts logging
//! once the configuration has said how).

use std::process::ExitCode;

use clap::Parser;

// A request allocates many small strings and maps (form, JSON across the plugin boundary, tokens);
// mimalloc serves them from per-thread pools where glibc's malloc shows up in the profile. Buffers
// crossing the plugin ABI are always freed by the side that allocated them, so the plugin keeps
// its own allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = grantor::cli::Cli::parse();
    match grantor::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

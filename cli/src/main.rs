//! The `enclave` command line: a thin layer over the `enclave-runtime`, `enclave-platform`, `attest`
//! and `sealer` libraries. Each subcommand parses its flags, calls the libraries, and prints.

use std::process::ExitCode;

use clap::Parser;

mod commands;

fn main() -> ExitCode {
    let args = commands::Cli::parse();
    match commands::dispatch(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => ExitCode::from(commands::exit::report(&error)),
    }
}

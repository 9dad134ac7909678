//! The `enclave` command line: a thin layer over the `enclave`, `attest` and `sealer` libraries.
//! Each subcommand parses its flags, calls the libraries, and prints.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::dispatch(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(cli::exit::code_for(&error))
        }
    }
}

//! The `enclave` command line: a thin layer over the `enclave-runtime`, `enclave-platform`, `attest`
//! and `sealer` libraries. Each subcommand parses its flags, calls the libraries, and prints.

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _};

mod commands;

fn main() -> ExitCode {
    let matches = match commands::Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(error) => usage_error(&error),
    };
    let json = commands::wants_json(&matches);
    let args = match commands::Cli::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(error) => usage_error(&error),
    };
    match commands::dispatch(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => ExitCode::from(commands::exit::report(&error, json)),
    }
}

/// Exits as clap does (help and version on standard output, code 0; usage errors on standard
/// error, code 2), first printing the JSON error object when `--json` was among the arguments.
fn usage_error(error: &clap::Error) -> ! {
    use clap::error::ErrorKind;
    let informational = matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if !informational && std::env::args_os().any(|arg| arg == "--json") {
        let message = error.kind().as_str().unwrap_or("usage error");
        let detail = error.to_string();
        let first = detail.lines().next().unwrap_or(message);
        let first = first.strip_prefix("error: ").unwrap_or(first);
        println!(
            "{:#}",
            commands::exit::error_object(commands::exit::USAGE, first, None)
        );
    }
    error.exit()
}

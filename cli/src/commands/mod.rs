//! Flags and dispatch. `docs/cli.md` documents every command and exit code.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

mod attestation;
mod author;
mod confidential;
pub mod exit;
mod io;
mod platform;
mod run;
mod serve;
mod storage;

/// A software enclave on WebAssembly: sign, measure, attest and run wasm guests in an isolated
/// store, with encrypted inputs and outputs.
#[derive(Debug, Parser)]
#[command(name = "enclave", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate an Ed25519 author key (PKCS#8 PEM, mode 0600) and its public key (SPKI PEM).
    Keygen(author::KeygenArgs),
    /// Sign a wasm module with a manifest into an enclave bundle.
    Sign(author::SignArgs),
    /// Print the measurement of a module and manifest, without any key.
    Measure(author::MeasureArgs),
    /// Verify a bundle and show what it contains.
    Inspect(author::InspectArgs),
    /// Load a bundle with every check and run it.
    Run(run::RunArgs),
    /// Manage the simulated platform (the "hardware": vendor root, attestation key, secret).
    #[command(subcommand)]
    Platform(platform::PlatformCommand),
    /// Produce attestation evidence for a bundle on this platform.
    Attest(attestation::AttestArgs),
    /// Verify attestation evidence against a pinned root and a policy.
    Verify(attestation::VerifyArgs),
    /// Verify an enclave's evidence, then encrypt an input that only it can read.
    Seal(confidential::SealArgs),
    /// Check a run's receipt against the client context, then decrypt its sealed output.
    Open(confidential::OpenArgs),
    /// Serve a bundle over HTTP: evidence, sealed runs, health and metrics.
    Serve(serve::ServeArgs),
    /// One confidential request to a server: attest, verify, seal, run, check the receipt, open.
    Call(serve::CallArgs),
    /// Open a debug enclave's sealed blob or store state, to inspect it (refused for production
    /// enclaves).
    Unseal(storage::UnsealArgs),
}

/// Runs one subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Keygen(args) => author::keygen(&args),
        Command::Sign(args) => author::sign(&args),
        Command::Measure(args) => author::measure(&args),
        Command::Inspect(args) => author::inspect(&args),
        Command::Run(args) => run::run(&args),
        Command::Platform(command) => platform::platform(&command),
        Command::Attest(args) => attestation::attest(&args),
        Command::Verify(args) => attestation::verify(&args),
        Command::Seal(args) => confidential::seal(&args),
        Command::Open(args) => confidential::open(&args),
        Command::Unseal(args) => storage::unseal(&args),
        Command::Serve(args) => serve::serve(&args),
        Command::Call(args) => serve::call(&args),
    }
}

/// `--force`: replace an existing output file.
#[derive(Debug, Clone, Copy, clap::Args)]
struct ForceArg {
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
}

impl ForceArg {
    fn overwrite(self) -> enclave_platform::files::Overwrite {
        if self.force {
            enclave_platform::files::Overwrite::Allow
        } else {
            enclave_platform::files::Overwrite::Refuse
        }
    }
}

/// The path of the public key written beside a private key: `author.key` → `author.pub`.
fn public_key_path(private: &std::path::Path) -> PathBuf {
    private.with_extension("pub")
}

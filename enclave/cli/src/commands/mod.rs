//! Flags and dispatch. `docs/cli.md` documents every command and exit code.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

mod attestation;
mod author;
mod compile_sandbox;
mod confidential;
pub mod exit;
mod home;
mod io;
mod manual;
mod platform;
mod proxy;
mod run;
mod scaffold;
mod serve;
mod storage;

/// Run confidential workloads as signed, measured WebAssembly enclaves, on any machine.
#[derive(Debug, Parser)]
#[command(
    name = "enclave",
    version,
    max_term_width = 100,
    long_about = "Run confidential workloads as signed, measured WebAssembly enclaves, on any \
machine.\n\n\
An author signs a wasm module with a manifest of its limits and capabilities; `enclave run` \
loads it with every check and runs it in an isolated sandbox with nothing granted but its \
input and output. A simulated platform attests exactly what it loaded, so a data owner can \
verify the enclave, seal an input only it can read, and open the sealed output it returns, \
checked against a signed receipt. A simulator of TEEs such as Intel SGX, not one: see \
docs/threat-model.md.",
    after_help = "Start with `enclave new NAME` (a guest project that builds, signs and runs as is), \
or see README.md. Exit codes: docs/cli.md."
)]
pub struct Cli {
    /// The platform home directory, for the commands that use the platform (also accepted after
    /// the subcommand) [default: $ENCLAVE_HOME, else $XDG_DATA_HOME/enclave, else
    /// ~/.local/share/enclave].
    #[arg(long = "home", value_name = "DIR")]
    home: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a guest project (native SDK or WASI) that builds, signs and runs as is.
    New(scaffold::NewArgs),
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
    /// Verify an execution receipt on its own against a pinned root, and show what it says.
    VerifyReceipt(attestation::VerifyReceiptArgs),
    /// Verify an enclave's evidence, then encrypt an input that only it can read.
    Seal(confidential::SealArgs),
    /// Check a run's receipt against the client context, then decrypt its sealed output.
    Open(confidential::OpenArgs),
    /// Serve a bundle over HTTP: evidence, sealed runs, health and metrics.
    Serve(serve::ServeArgs),
    /// One confidential request to a server: attest, verify, seal, run, check the receipt, open.
    Call(serve::CallArgs),
    /// Verify a live `serve --tls` server's attested TLS certificate and print its claims.
    VerifyTls(serve::VerifyTlsArgs),
    /// Serve plain HTTP on loopback in front of an attested TLS server, for curl and any HTTP
    /// client: every upstream connection's evidence is verified first.
    Proxy(proxy::ProxyArgs),
    /// Open a debug enclave's sealed blob or store state, to inspect it (refused for production
    /// enclaves).
    Unseal(storage::UnsealArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(manual::CompletionsArgs),
    /// Print the manual page (roff), or write one per command into a directory.
    Man(manual::ManArgs),
    /// Compile one module under a budget (run by the commands above as a child process).
    #[command(name = "compile-sandbox", hide = true)]
    CompileSandbox(compile_sandbox::SandboxArgs),
}

/// Whether the subcommand given (at any depth) has `--json` set.
pub fn wants_json(matches: &clap::ArgMatches) -> bool {
    let mut current = matches;
    loop {
        if let Ok(Some(true)) = current.try_get_one::<bool>("json") {
            return true;
        }
        match current.subcommand() {
            Some((_, sub)) => current = sub,
            None => return false,
        }
    }
}

/// Runs one subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    if let Some(home) = cli.home {
        platform::HomeArg::set_before_subcommand(home)?;
    }
    match cli.command {
        Command::New(args) => scaffold::new(&args),
        Command::Completions(args) => manual::completions(&args),
        Command::Man(args) => manual::man(&args),
        Command::Keygen(args) => author::keygen(&args),
        Command::Sign(args) => author::sign(&args),
        Command::Measure(args) => author::measure(&args),
        Command::Inspect(args) => author::inspect(&args),
        Command::Run(args) => run::run(&args),
        Command::Platform(command) => platform::platform(&command),
        Command::Attest(args) => attestation::attest(&args),
        Command::Verify(args) => attestation::verify(&args),
        Command::VerifyReceipt(args) => attestation::verify_receipt(&args),
        Command::Seal(args) => confidential::seal(&args),
        Command::Open(args) => confidential::open(&args),
        Command::Unseal(args) => storage::unseal(&args),
        Command::Serve(args) => serve::serve(&args),
        Command::Call(args) => serve::call(&args),
        Command::VerifyTls(args) => serve::verify_tls(&args),
        Command::Proxy(args) => proxy::proxy(&args),
        Command::CompileSandbox(args) => compile_sandbox::sandbox(&args),
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

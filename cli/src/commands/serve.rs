//! `enclave serve`: one bundle as an attested, confidential HTTP service (`enclave-server`), and
//! `enclave call`: the relying party's one-command request to it (`enclave-client`).

use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use attest::bundle::MAX_BUNDLE_BYTES;
use enclave_client::{Client, SealTo};
use enclave_platform::files::{write_atomic, Visibility};
use enclave_runtime::{Compilation, Enclave};
use enclave_server::{Config, Server};

use super::attestation::{parse_duration, print_evidence, TrustArgs};
use super::compile_sandbox::CompileBudgetArgs;
use super::io::read_capped;
use super::platform::HomeArg;
use super::run::parse_signer;
use super::ForceArg;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The signed bundle to serve (loaded once, with every check `run` makes).
    bundle: PathBuf,
    /// The address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port; the address is
    /// printed on standard output).
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,
    /// Only serve bundles signed by this signer (id or public key file). Repeatable.
    #[arg(long = "trusted-signer", value_name = "ID|FILE")]
    trusted_signers: Vec<String>,
    /// Guest threads: runs executing at once [default: the number of cores].
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Runs that may wait for a worker; when full, requests are refused with 503.
    #[arg(long, value_name = "N", default_value_t = 64)]
    queue: usize,
    /// Open connections at most.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    max_connections: usize,
    /// Also run plaintext inputs (application/octet-stream): no confidentiality, for plugins and
    /// serverless functions.
    #[arg(long)]
    allow_plaintext: bool,
    /// Time a client has to send a request's headers.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    header_timeout: Duration,
    /// Time a client has to send a whole request body; between two of its pieces it may pause
    /// a sixth of this, or 10s if that is more (but never longer than the whole).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    body_timeout: Duration,
    /// On SIGTERM or SIGINT, how long requests in flight may take to finish.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    drain_timeout: Duration,
    /// Serve attested TLS 1.3 instead of cleartext HTTP: a fresh key made at start and held
    /// only in memory, and a certificate carrying evidence for it (docs/formats.md, "Attested
    /// TLS"). Clients verify it with `enclave call https://…` or `enclave verify-tls`.
    #[arg(long)]
    tls: bool,
    /// With --tls: how often a new key, evidence and certificate replace the current ones; keep
    /// it below the clients' maximum evidence age (5m by default).
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration, requires = "tls")]
    tls_refresh: Duration,
    /// Log format (logs go to standard error).
    #[arg(long, value_enum, default_value = "human")]
    log_format: LogFormat,
    #[command(flatten)]
    home: HomeArg,
    #[command(flatten)]
    compile: CompileBudgetArgs,
}

pub fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let trusted = args
        .trusted_signers
        .iter()
        .map(|s| parse_signer(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let platform = Arc::new(args.home.open()?);
    let bytes = read_capped(&args.bundle, MAX_BUNDLE_BYTES as u64, "bundle")?;
    let cache = platform.code_cache();
    let compiler = args.compile.compiler(Some(platform.home()))?;
    let compilation = Compilation::Isolated(&compiler);
    let enclave = Enclave::load_with(
        &bytes,
        super::run::signers(trusted),
        Some(&cache),
        compilation,
    )
    .with_context(|| format!("refusing to load {}", args.bundle.display()))?;
    install_logger(args.log_format);
    let defaults = Config::default();
    let config = Config {
        workers: args.workers.unwrap_or(defaults.workers).max(1),
        queue: args.queue,
        max_connections: args.max_connections.max(1),
        allow_plaintext: args.allow_plaintext,
        header_timeout: args.header_timeout,
        // A sixth of the whole, but not under 10 s unless the whole is shorter.
        body_idle_timeout: (args.body_timeout / 6)
            .max(args.body_timeout.min(Duration::from_secs(10))),
        body_timeout: args.body_timeout,
        drain_timeout: args.drain_timeout,
        tls: args.tls,
        tls_refresh: args.tls_refresh.max(Duration::from_secs(1)),
        ..defaults
    };
    // The executor only moves bytes and signs evidence; guest runs have their own threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.workers.min(4))
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let server = Server::bind(args.listen, Arc::new(enclave), platform, config).await?;
        let addr = server.local_addr()?;
        // The one line on standard output: scripts and tests read the port from it.
        let scheme = if args.tls { "https" } else { "http" };
        println!("listening on {scheme}://{addr}");
        use std::io::Write as _;
        std::io::stdout().flush()?;
        server.run(shutdown_signal()).await?;
        Ok(())
    })
}

/// Resolves on the first SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        // Without signal handlers the process still dies of the signal's default action.
        _ => std::future::pending().await,
    }
}

fn install_logger(format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_max_level(tracing::Level::INFO);
    // A second installation (never in this process) would only be refused.
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

#[derive(Debug, clap::Args)]
pub struct CallArgs {
    /// The server, e.g. http://127.0.0.1:8080, or https://… for a `serve --tls` server (the
    /// connection is then attested under the same trust flags).
    url: String,
    #[command(flatten)]
    trust: TrustArgs,
    /// Seal to the measurement-bound key (only this exact enclave) or the signer-bound key
    /// [default: measurement].
    #[arg(long, value_enum, default_value = "measurement")]
    key_policy: KeyPolicyArg,
    /// The plaintext input.
    #[arg(long, short)]
    input: PathBuf,
    /// Where to write the plaintext output (mode 0600; atomically, only once the receipt checked
    /// out).
    #[arg(long, short, visible_alias = "out", value_name = "FILE")]
    output: PathBuf,
    /// Also keep the signed receipt here.
    #[arg(long, value_name = "FILE")]
    receipt: Option<PathBuf>,
    /// Print what was verified as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    force: ForceArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum KeyPolicyArg {
    Measurement,
    Signer,
}

pub fn call(args: &CallArgs) -> anyhow::Result<()> {
    let overwrite = args.force.overwrite();
    enclave_platform::files::refuse_existing(&args.output, overwrite)?;
    if let Some(receipt) = &args.receipt {
        enclave_platform::files::refuse_existing(receipt, overwrite)?;
    }
    let client = Client::new(&args.url, args.trust.policy()?)?.seal_to(match args.key_policy {
        KeyPolicyArg::Measurement => SealTo::Measurement,
        KeyPolicyArg::Signer => SealTo::Signer,
    });
    // Opened once: a FIFO or `<(…)` cannot be opened twice.
    let mut input = File::open(&args.input)
        .with_context(|| format!("cannot read input {}", args.input.display()))?;
    let metadata = input.metadata()?;
    let len = metadata.len();
    let mut answer = client.call_reader(std::io::BufReader::new(&input), len);
    // Behind a balancer the evidence and the run may reach two platforms: re-attest and retry
    // once, if the input can be read again (a regular file, not a pipe).
    if matches!(&answer, Err(e) if e.problem() == Some("wrong-platform")) && metadata.is_file() {
        use std::io::Seek as _;
        if input.seek(std::io::SeekFrom::Start(0)).is_ok() {
            answer = client.call_reader(std::io::BufReader::new(&input), len);
        }
    }
    let answer = answer.with_context(|| format!("confidential request to {} failed", args.url))?;
    write_atomic(&args.output, &answer.output, Visibility::Secret, overwrite)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    if let Some(path) = &args.receipt {
        write_atomic(path, &answer.receipt_bytes, Visibility::Public, overwrite)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let claims = answer.receipt.claims();
    if args.json {
        println!(
            "{:#}",
            serde_json::json!({
                "output": args.output.display().to_string(),
                "output_bytes": answer.output.len(),
                "measurement": claims.measurement.to_string(),
                "signer_id": claims.signer.to_string(),
                "platform_id": claims.platform_id.to_string(),
                "platform_tcb": answer.evidence.platform_tcb(),
                "fuel_used": claims.fuel_used,
                "exit_code": claims.exit_code,
                "receipt": args.receipt.as_ref().map(|p| p.display().to_string()),
            })
        );
    } else {
        println!(
            "opened:      {} ({} bytes)",
            args.output.display(),
            answer.output.len()
        );
        println!("measurement: {}", claims.measurement);
        println!("platform id: {}", claims.platform_id);
        println!("fuel used:   {}", claims.fuel_used);
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct VerifyTlsArgs {
    /// The server's address, HOST:PORT (of `enclave serve --tls`, or a TCP balancer in front).
    #[arg(value_name = "HOST:PORT")]
    addr: String,
    #[command(flatten)]
    trust: TrustArgs,
    /// How long the connection and handshake may take.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
    /// Print the verified claims as JSON.
    #[arg(long)]
    json: bool,
}

pub fn verify_tls(args: &VerifyTlsArgs) -> anyhow::Result<()> {
    let verified = enclave_client::verify_tls(&args.addr, args.trust.policy()?, args.timeout)
        .with_context(|| format!("attested TLS to {} failed", args.addr))?;
    print_evidence(
        &verified,
        &format!("{} (attested TLS)", args.addr),
        args.json,
    );
    Ok(())
}

//! `enclave serve`: one bundle as an attested, confidential HTTP service (`enclave-server`), and
//! `enclave call`: the relying party's one-command request to it (`enclave-client`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use attest::bundle::MAX_BUNDLE_BYTES;
use attest::verify::DEFAULT_MAX_AGE;
use enclave_client::{Client, SealTo};
use enclave_platform::files::Visibility;
use enclave_runtime::{Compilation, Enclave};
use enclave_server::{Config, Server};

use super::attestation::{parse_duration, print_evidence, TrustArgs};
use super::compile_sandbox::CompileBudgetArgs;
use super::exit::{self, usage, Logged};
use super::io::{
    read_capped, refuse_existing, write_output, FileArg, InputFile, OutputFile, Unauthenticated,
};
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
    /// The address to listen on, HOST:PORT, e.g. 127.0.0.1:8080 or localhost:8080 (a name is
    /// resolved, and the first of its addresses that binds is used; port 0 picks a free port; the
    /// address is printed on standard output).
    #[arg(long, value_name = "HOST:PORT")]
    listen: String,
    /// Only serve bundles signed by this signer (id or public key file). Repeatable.
    #[arg(long = "trusted-signer", value_name = "ID|FILE")]
    trusted_signers: Vec<String>,
    /// Guest threads: runs executing at once [default: the number of cores].
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Runs that may wait for a worker; when full, requests are refused with 503.
    #[arg(long, value_name = "N", default_value_t = 64)]
    queue: usize,
    /// Open connections at most; near the cap, the connection idle the longest is closed to make
    /// room.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    max_connections: usize,
    /// Also run plaintext inputs (application/octet-stream): no confidentiality, for plugins and
    /// serverless functions.
    #[arg(long)]
    allow_plaintext: bool,
    /// Time a client has to send a request's headers; for a new connection, from the accept (or
    /// the end of the TLS handshake) to its first request's headers, whatever it sends before.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    header_timeout: Duration,
    /// Time a connection may stay open with no request in flight after its first (HTTP/1.1
    /// keep-alive, or HTTP/2 with no open stream, PINGs or not).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    idle_timeout: Duration,
    /// With --tls: time a client has to complete the TLS handshake.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    tls_handshake_timeout: Duration,
    /// Bytes of request bodies held in memory at once (received whole before a run takes a
    /// worker); beyond, requests are refused with 503. Never less than one largest sealed input.
    /// A number of bytes, or with a K, M or G suffix (KiB, MiB, GiB).
    #[arg(long, value_name = "BYTES", default_value = "512M", value_parser = parse_bytes)]
    max_body_memory: u64,
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
    /// With --tls: how often a new key, evidence and certificate replace the current ones; at most
    /// the clients' default maximum evidence age (5m): a longer one is refused.
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
    let config = config(args)?;
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
    let addrs = resolve(&args.listen)?;
    install_logger(args.log_format);
    // The executor only moves bytes and signs evidence; guest runs have their own threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.workers.min(4))
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let tls = args.tls;
    if enclave.is_http() && !config.tls && !config.allow_plaintext {
        return Err(exit::usage(
            enclave_server::ServeError::CleartextHttp.to_string(),
        ));
    }
    let served = runtime.block_on(async move {
        let server = bind(&addrs, Arc::new(enclave), platform, config).await?;
        let addr = server.local_addr()?;
        // The one line on standard output: scripts and tests read the port from it.
        let scheme = if tls { "https" } else { "http" };
        println!("listening on {scheme}://{addr}");
        use std::io::Write as _;
        std::io::stdout().flush()?;
        server.run(shutdown_signal()).await?;
        anyhow::Ok(())
    });
    // From here on the logger speaks for the server (JSON with --log-format json).
    served.map_err(|error| {
        tracing::error!("{error:#}");
        Logged(exit::FAILURE).into()
    })
}

/// The server's configuration from the flags.
fn config(args: &ServeArgs) -> anyhow::Result<Config> {
    if args.tls && args.tls_refresh > DEFAULT_MAX_AGE {
        return Err(exit::usage(format!(
            "--tls-refresh {} is longer than the clients' default maximum evidence age of {}: they would refuse the certificate before it is renewed",
            humanize(args.tls_refresh),
            humanize(DEFAULT_MAX_AGE)
        )));
    }
    let defaults = Config::default();
    Ok(Config {
        workers: args.workers.unwrap_or(defaults.workers).max(1),
        queue: args.queue,
        max_connections: args.max_connections.max(1),
        allow_plaintext: args.allow_plaintext,
        header_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
        tls_handshake_timeout: args.tls_handshake_timeout,
        max_body_memory: args.max_body_memory,
        // A sixth of the whole, but not under 10 s unless the whole is shorter.
        body_idle_timeout: (args.body_timeout / 6)
            .max(args.body_timeout.min(Duration::from_secs(10))),
        body_timeout: args.body_timeout,
        drain_timeout: args.drain_timeout,
        tls: args.tls,
        tls_refresh: args.tls_refresh.max(Duration::from_secs(1)),
        ..defaults
    })
}

/// A duration as the flags spell it (`90s`, `5m`).
fn humanize(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs.is_multiple_of(60) && secs > 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// `--listen`: an address, or a name and a port, resolved.
fn resolve(listen: &str) -> anyhow::Result<Vec<SocketAddr>> {
    use std::net::ToSocketAddrs as _;
    let addrs: Vec<SocketAddr> = listen
        .to_socket_addrs()
        .map_err(|e| {
            exit::usage(format!(
                "--listen {listen}: not a HOST:PORT that resolves ({e})"
            ))
        })?
        .collect();
    if addrs.is_empty() {
        return Err(exit::usage(format!(
            "--listen {listen}: the name has no address"
        )));
    }
    Ok(addrs)
}

/// Binds the first of `addrs` that binds.
async fn bind(
    addrs: &[SocketAddr],
    enclave: Arc<Enclave>,
    platform: Arc<enclave_platform::Platform>,
    config: Config,
) -> anyhow::Result<Server> {
    let mut last = None;
    for addr in addrs {
        match Server::bind(*addr, enclave.clone(), platform.clone(), config.clone()).await {
            Ok(server) => return Ok(server),
            Err(error @ enclave_server::ServeError::Listen { .. }) => last = Some(error),
            Err(error) => return Err(error.into()),
        }
    }
    Err(last.map_or_else(|| anyhow::anyhow!("no address to listen on"), Into::into))
}

/// `--max-body-memory`: bytes, or KiB, MiB, GiB with a K, M or G suffix.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let (digits, shift) = match text.strip_suffix(['K', 'k']) {
        Some(d) => (d, 10),
        None => match text.strip_suffix(['M', 'm']) {
            Some(d) => (d, 20),
            None => match text.strip_suffix(['G', 'g']) {
                Some(d) => (d, 30),
                None => (text, 0),
            },
        },
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("not a number of bytes (e.g. 512M): {text:?}"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("too large: {text:?}"))
}

/// Resolves on the first SIGTERM or SIGINT; after it, a second one stops the process at once.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the process still dies of the signal's default action.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("signal received: draining (a second signal stops at once)");
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::warn!("second signal: stopping at once, requests in flight are dropped");
        std::process::exit(i32::from(exit::FAILURE));
    });
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
    /// The plaintext input (`-`: standard input; a FIFO or `<(…)` works).
    #[arg(long, short, value_name = "FILE")]
    input: FileArg,
    /// Where to write the plaintext output (mode 0600; atomically, only once the receipt checked
    /// out; `-`: standard output, printed only then).
    #[arg(long, short, visible_alias = "out", value_name = "FILE")]
    output: FileArg,
    /// Also keep the signed receipt here, of a failed run too.
    #[arg(long, value_name = "FILE")]
    receipt: Option<FileArg>,
    /// When the run fails: keep the guest's failure report, opened, here (mode 0600).
    #[arg(long, value_name = "FILE")]
    report: Option<FileArg>,
    /// Print what was verified as JSON (an error object when the call fails).
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
    let destinations = [
        Some(&args.output),
        args.receipt.as_ref(),
        args.report.as_ref(),
    ];
    if destinations
        .iter()
        .flatten()
        .filter(|d| ***d == FileArg::Stdio)
        .count()
        > 1
    {
        return Err(usage(
            "only one of -o, --receipt and --report can be standard output (-)",
        ));
    }
    if args.json && args.output == FileArg::Stdio {
        return Err(usage(
            "--json needs --output FILE: standard output carries the answer",
        ));
    }
    for destination in destinations.into_iter().flatten() {
        refuse_existing(destination, overwrite)?;
    }
    let client = Client::new(&args.url, args.trust.policy()?)?.seal_to(match args.key_policy {
        KeyPolicyArg::Measurement => SealTo::Measurement,
        KeyPolicyArg::Signer => SealTo::Signer,
    });
    // Opened once (a FIFO or `<(…)` cannot be opened twice); anything but a regular file is
    // copied to an unnamed temporary file, as the sealed upload declares its length.
    let (mut input, len) = InputFile::open(&args.input, "input")?.into_seekable("input")?;
    // Standard output gets the answer only once it is authenticated: held in memory until then.
    let mut out = match &args.output {
        FileArg::Stdio => Unauthenticated::Held(zeroize::Zeroizing::new(Vec::new())),
        file => Unauthenticated::File(OutputFile::create(file, Visibility::Secret, overwrite)?),
    };
    let mut answer = client.call_into(std::io::BufReader::new(&input), len, &mut out);
    // Behind a balancer the evidence and the run may reach two platforms: re-attest and retry
    // once (nothing was written: the refusal comes before the answer).
    if matches!(&answer, Err(e) if e.problem() == Some("wrong-platform")) {
        use std::io::Seek as _;
        if input.rewind().is_ok() {
            answer = client.call_into(std::io::BufReader::new(&input), len, &mut out);
        }
    }
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => return Err(call_failed(args, error, overwrite)),
    };
    out.finish()
        .with_context(|| format!("cannot write {}", args.output.output_name()))?;
    if let Some(path) = &args.receipt {
        write_output(path, &answer.receipt_bytes, Visibility::Public, overwrite)?;
    }
    let claims = answer.receipt.claims();
    if args.json {
        println!(
            "{:#}",
            serde_json::json!({
                "output": args.output.output_name(),
                "output_bytes": answer.output_len,
                "measurement": claims.measurement.to_string(),
                "signer_id": claims.signer.to_string(),
                "platform_id": claims.platform_id.to_string(),
                "platform_tcb": answer.evidence.platform_tcb(),
                "fuel_used": claims.fuel_used,
                "exit_code": claims.exit_code,
                "receipt": args.receipt.as_ref().map(FileArg::output_name),
            })
        );
    } else if args.output != FileArg::Stdio {
        println!(
            "opened:      {} ({} bytes)",
            args.output.output_name(),
            answer.output_len
        );
        println!("measurement: {}", claims.measurement);
        println!("platform id: {}", claims.platform_id);
        println!("fuel used:   {}", claims.fuel_used);
    }
    Ok(())
}

/// A failed call: a failed run's receipt and opened report are kept where asked, and noted for
/// the JSON error object.
fn call_failed(
    args: &CallArgs,
    error: enclave_client::ClientError,
    overwrite: enclave_platform::files::Overwrite,
) -> anyhow::Error {
    if let enclave_client::ClientError::GuestFailed {
        category,
        report,
        receipt_bytes,
        ..
    } = &error
    {
        let kept = [
            (
                args.receipt.as_ref(),
                receipt_bytes.as_slice(),
                Visibility::Public,
            ),
            (args.report.as_ref(), report.as_bytes(), Visibility::Secret),
        ];
        for (path, bytes, visibility) in kept {
            if let Some(path) = path {
                if let Err(write_error) = write_output(path, bytes, visibility, overwrite) {
                    return write_error;
                }
            }
        }
        exit::note_outcome(serde_json::json!({
            "outcome": "failed",
            "failure": category,
            "receipt": args.receipt.as_ref().map(FileArg::output_name),
            "report": args.report.as_ref().map(FileArg::output_name),
        }));
    }
    let context = format!("confidential request to {} failed", args.url);
    match explain_mismatch(args, &error) {
        Some(explained) => explained.context(context),
        None => anyhow::Error::new(error).context(context),
    }
}

/// An evidence refusal for another measurement or signer, worded with what was expected too.
fn explain_mismatch(args: &CallArgs, error: &enclave_client::ClientError) -> Option<anyhow::Error> {
    use attest::tls::TlsError;
    use attest::verify::VerifyError;
    use enclave_client::ClientError;
    let (prefix, refusal) = match error {
        ClientError::Evidence(refusal) => ("the server's evidence was refused", refusal),
        ClientError::AttestedTls(TlsError::Evidence(refusal)) => (
            "attested TLS refused: attestation evidence refused",
            refusal,
        ),
        _ => return None,
    };
    if !matches!(
        refusal,
        VerifyError::MeasurementMismatch { .. } | VerifyError::SignerMismatch { .. }
    ) {
        return None;
    }
    let policy = args.trust.policy().ok()?;
    let explained = args.trust.explain(refusal.clone(), &policy);
    Some(
        exit::Explained {
            message: format!("{prefix}: {explained}"),
            code: exit::EVIDENCE_REFUSED,
        }
        .into(),
    )
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

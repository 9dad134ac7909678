//! `enclave run`: load a bundle with every check and run it once, on a plaintext or a sealed
//! input.

use std::io::{Read as _, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context as _;
use attest::bundle::MAX_BUNDLE_BYTES;
use attest::{AuthorPublicKey, Capability, SignerId};
use enclave::confidential::ConfidentialError;
use enclave::files::{write_atomic, AtomicFile, Overwrite, Visibility};
use enclave::platform::{Platform, PlatformReporter};
use enclave::{Enclave, Input, ReportIssuer, RunReport};
use sha2::{Digest, Sha256};

use super::io::{read_capped, read_text, with_progress};
use super::platform::HomeArg;
use super::ForceArg;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The signed bundle.
    bundle: PathBuf,
    /// Read input from this file instead of standard input.
    #[arg(long, short)]
    input: Option<PathBuf>,
    /// Write output to this file (atomically, only on success) instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Only run bundles signed by this signer: a 64-hex-digit signer id or a public key file.
    /// Repeatable.
    #[arg(long = "trusted-signer", value_name = "ID|FILE")]
    trusted_signers: Vec<String>,
    /// For a sealed input: where to write the signed execution receipt. Written for failed runs
    /// too (outcome "failed"), so the requester can see which code refused its input.
    #[arg(long, value_name = "FILE")]
    receipt: Option<PathBuf>,
    /// Print a JSON run summary on standard output (needs --output).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    home: HomeArg,
    #[command(flatten)]
    force: ForceArg,
}

pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.json || args.output.is_some(),
        "--json needs --output: standard output carries the guest's output"
    );
    let trusted = args
        .trusted_signers
        .iter()
        .map(|s| parse_signer(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let bytes = read_capped(&args.bundle, MAX_BUNDLE_BYTES as u64, "bundle")?;
    let cache = enclave::cache::CodeCache::find(args.home.resolve().ok()); // compiled-code cache
    let enclave = Enclave::load_cached(&bytes, &trusted, cache.as_ref())
        .with_context(|| format!("refusing to load {}", args.bundle.display()))?;
    // The platform is needed only by a guest that may ask for a report, or for a sealed input.
    let sealed = match &args.input {
        Some(path) => is_sealed(path)?,
        None => false,
    };
    // The platform serves the `report`, `seal` and `store` capabilities.
    let manifest = enclave.bundle().manifest();
    let wants_report = [Capability::Report, Capability::Seal, Capability::Store]
        .into_iter()
        .any(|c| manifest.grants(c));
    let platform = if sealed || wants_report {
        Some(Arc::new(args.home.open()?))
    } else {
        None
    };
    let reporter = match &platform {
        Some(platform) if wants_report => Some(Arc::new(PlatformReporter::new(
            platform.clone(),
            &enclave,
            SystemTime::now,
        )) as Arc<dyn ReportIssuer>),
        _ => None,
    };
    if let (true, Some(platform), Some(input)) = (sealed, &platform, &args.input) {
        return run_sealed(args, &enclave, platform, input, reporter);
    }
    anyhow::ensure!(
        args.receipt.is_none(),
        "--receipt needs a sealed input (made by `enclave seal`)"
    );
    let limit = enclave.bundle().manifest().limits.max_input_bytes;
    let input = open_input(args.input.as_deref(), limit)?;

    let summary = match &args.output {
        Some(path) => {
            let file = AtomicFile::create(path, Visibility::Public, args.force.overwrite())
                .with_context(|| format!("cannot write {}", path.display()))?;
            let report = enclave.run(input, DigestWriter::new(file), reporter)?;
            print_log(&report);
            let summary = Summary::of(&report);
            report
                .output
                .inner
                .commit()
                .with_context(|| format!("cannot write {}", path.display()))?;
            summary
        }
        None => {
            // Buffered (at most max_output_bytes) so that a failed run prints nothing.
            let report = enclave.run(input, DigestWriter::new(Vec::new()), reporter)?;
            print_log(&report);
            std::io::stdout().write_all(&report.output.inner)?;
            Summary::of(&report)
        }
    };
    if args.json {
        println!("{:#}", summary.json);
    }
    Ok(())
}

/// Whether a file starts with the sealed-input magic (`docs/formats.md`).
fn is_sealed(path: &Path) -> anyhow::Result<bool> {
    let mut magic = [0u8; 8];
    let mut file = std::fs::File::open(path)
        .with_context(|| format!("cannot read input {}", path.display()))?;
    let n = file.read(&mut magic)?;
    Ok(n == magic.len() && magic == sealer::input::INPUT_MAGIC)
}

/// A sealed input: opened inside the runtime, output sealed back to the requester, receipt
/// signed by the platform.
fn run_sealed(
    args: &RunArgs,
    enclave: &Enclave,
    platform: &Platform,
    input: &Path,
    reporter: Option<Arc<dyn ReportIssuer>>,
) -> anyhow::Result<()> {
    let output = args
        .output
        .as_deref()
        .context("a sealed input needs --output for the sealed output")?;
    let overwrite = args.force.overwrite();
    if let (Some(receipt), Overwrite::Refuse) = (&args.receipt, overwrite) {
        anyhow::ensure!(
            !receipt.exists(),
            "{} already exists (use --force to replace it)",
            receipt.display()
        );
    }
    let file = std::fs::File::open(input)
        .with_context(|| format!("cannot read input {}", input.display()))?;
    let len = file.metadata()?.len();
    let reader = with_progress(std::io::BufReader::new(file), len, "running");
    let file = AtomicFile::create(output, Visibility::Public, overwrite)
        .with_context(|| format!("cannot write {}", output.display()))?;
    let write_receipt = |receipt: &[u8]| -> anyhow::Result<()> {
        if let Some(path) = &args.receipt {
            write_atomic(path, receipt, Visibility::Public, Overwrite::Allow)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    };
    let run = match enclave.run_sealed(platform, reader, file, reporter, SystemTime::now) {
        Ok(run) => run,
        Err(ConfidentialError::Guest { error, receipt }) => {
            write_receipt(&receipt)?;
            return Err(error.into());
        }
        Err(other) => return Err(other.into()),
    };
    if !run.log.is_empty() {
        eprint!("{}", String::from_utf8_lossy(&run.log));
    }
    run.output
        .commit()
        .with_context(|| format!("cannot write {}", output.display()))?;
    write_receipt(&run.receipt)?;
    if args.json {
        let summary = serde_json::json!({
            "measurement": run.claims.measurement.to_string(),
            "fuel_used": run.claims.fuel_used,
            "duration_ms": run.duration.as_secs_f64() * 1000.0,
            "input_bytes": run.input_bytes,
            "output_bytes": run.output_bytes,
            "sealed_input_sha256": hex::encode(run.claims.input_digest),
            "sealed_output_sha256": hex::encode(run.claims.output_digest),
            "receipt": args.receipt.as_ref().map(|p| p.display().to_string()),
        });
        println!("{summary:#}");
    }
    Ok(())
}

/// A signer given as a hex id or as a public key file.
pub fn parse_signer(text: &str) -> anyhow::Result<SignerId> {
    if let Ok(id) = SignerId::from_hex(text) {
        return Ok(id);
    }
    let path = Path::new(text);
    anyhow::ensure!(
        path.exists(),
        "--trusted-signer {text:?} is neither a signer id nor a file"
    );
    let key = AuthorPublicKey::from_spki_pem(&read_text(path, "public key")?)
        .with_context(|| format!("cannot use public key {}", path.display()))?;
    Ok(key.signer_id())
}

fn open_input(path: Option<&Path>, limit: u64) -> anyhow::Result<Input> {
    match path {
        Some(path) => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot read input {}", path.display()))?;
            let len = file.metadata()?.len();
            Ok(Input::new(
                with_progress(std::io::BufReader::new(file), len, "running"),
                len,
            ))
        }
        None => {
            // Read one byte past the limit so that an oversized input is refused by the runtime
            // with its usual error, without reading an unbounded stream.
            let mut bytes = Vec::new();
            std::io::stdin()
                .lock()
                .take(limit.saturating_add(1))
                .read_to_end(&mut bytes)?;
            Ok(Input::from_bytes(bytes))
        }
    }
}

fn print_log<W>(report: &RunReport<W>) {
    if !report.log.is_empty() {
        eprint!("{}", String::from_utf8_lossy(&report.log));
    }
}

/// Hashes what passes through it.
pub struct DigestWriter<W> {
    pub inner: W,
    hasher: Sha256,
}

impl<W> DigestWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }
}

impl<W: Write> Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct Summary {
    json: serde_json::Value,
}

impl Summary {
    fn of<W>(report: &RunReport<DigestWriter<W>>) -> Self {
        let digest = hex::encode(report.output.hasher.clone().finalize());
        Self {
            json: serde_json::json!({
                "measurement": report.measurement.to_string(),
                "fuel_used": report.fuel_used,
                "duration_ms": report.duration.as_secs_f64() * 1000.0,
                "input_bytes": report.input_bytes,
                "output_bytes": report.output_bytes,
                "output_sha256": digest,
            }),
        }
    }
}

//! `enclave run`: load a bundle with every check and run it once.

use std::io::{Read as _, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use attest::bundle::MAX_BUNDLE_BYTES;
use attest::{AuthorPublicKey, SignerId};
use enclave::files::{AtomicFile, Visibility};
use enclave::{Enclave, Input, RunReport};
use sha2::{Digest, Sha256};

use super::io::{read_capped, read_text};
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
    /// Print a JSON run summary on standard output (needs --output).
    #[arg(long)]
    json: bool,
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
    let enclave = Enclave::load(&bytes, &trusted)
        .with_context(|| format!("refusing to load {}", args.bundle.display()))?;
    let limit = enclave.bundle().manifest().limits.max_input_bytes;
    let input = open_input(args.input.as_deref(), limit)?;

    let summary = match &args.output {
        Some(path) => {
            let file = AtomicFile::create(path, Visibility::Public, args.force.overwrite())
                .with_context(|| format!("cannot write {}", path.display()))?;
            let report = enclave.run(input, DigestWriter::new(file), None)?;
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
            let report = enclave.run(input, DigestWriter::new(Vec::new()), None)?;
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
            Ok(Input::new(std::io::BufReader::new(file), len))
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

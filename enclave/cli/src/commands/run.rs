//! `enclave run`: load a bundle with every check and run it once, on a plaintext or a sealed
//! input.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use anyhow::Context as _;
use attest::{AuthorPublicKey, Capability, SignerId, Signers};
use enclave_platform::files::{Overwrite, Visibility};
use enclave_platform::{Platform, PlatformReporter};
use enclave_runtime::confidential::ConfidentialError;
use enclave_runtime::{Compilation, Enclave, Input, ReportIssuer, RunReport};
use sealer::input::INPUT_MAGIC;
use sha2::{Digest, Sha256};

use super::compile_sandbox::CompileBudgetArgs;
use super::exit::{usage, GuestExited};
use super::io::{
    read_bundle_bytes, read_text, refuse_existing, with_progress, write_output, FileArg, InputFile,
    OutputFile,
};
use super::platform::HomeArg;
use super::ForceArg;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The signed bundle.
    bundle: std::path::PathBuf,
    /// Read input from this file (`-`: standard input, the default; a FIFO or `<(…)` works).
    /// Repeatable: the module is loaded once and each input runs, in order, in a fresh instance
    /// with its own --output.
    #[arg(long, short, value_name = "FILE")]
    input: Vec<FileArg>,
    /// Write output to this file (atomically, only on success; a device or FIFO in place)
    /// instead of standard output (`-`). One per --input when there are several.
    #[arg(long, short, visible_alias = "out", value_name = "FILE")]
    output: Vec<FileArg>,
    /// Only run bundles signed by this signer: a 64-hex-digit signer id or a public key file.
    /// Repeatable.
    #[arg(long = "trusted-signer", value_name = "ID|FILE")]
    trusted_signers: Vec<String>,
    /// For a sealed input: where to write the signed execution receipt. Written for failed runs
    /// too (outcome "failed"), so the requester can see which code refused its input. With
    /// several inputs, one per --input or none.
    #[arg(long, value_name = "FILE")]
    receipt: Vec<FileArg>,
    /// Print a JSON run summary on standard output (needs --output); with several inputs, an
    /// array with one summary per input, in order.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    home: HomeArg,
    #[command(flatten)]
    force: ForceArg,
    #[command(flatten)]
    compile: CompileBudgetArgs,
}

/// One input to run and where its results go.
struct Job<'a> {
    input: &'a FileArg,
    /// `None`: standard output, buffered, printed only on success.
    output: Option<&'a FileArg>,
    receipt: Option<&'a FileArg>,
}

/// What every run of one `enclave run` shares: the loaded module and its platform services.
struct Loaded<'a> {
    enclave: Enclave,
    home: &'a HomeArg,
    /// Opened when a guest capability or a sealed input first needs it.
    platform: OnceLock<Arc<Platform>>,
    reporter: Option<Arc<dyn ReportIssuer>>,
}

impl Loaded<'_> {
    fn platform(&self) -> anyhow::Result<Arc<Platform>> {
        if let Some(platform) = self.platform.get() {
            return Ok(platform.clone());
        }
        let platform = Arc::new(self.home.open()?);
        Ok(self.platform.get_or_init(|| platform).clone())
    }
}

/// An input opened exactly once (a FIFO or a `<(…)` process substitution cannot be opened
/// twice), with its first bytes already read to tell a sealed input from a plaintext one and
/// put back in front of the rest.
struct OpenedInput {
    reader: Box<dyn Read + Send>,
    /// The size of a regular file; `None` for a pipe, a FIFO or standard input.
    len: Option<u64>,
    /// Whether it starts with the sealed-input magic (`docs/formats.md`).
    sealed: bool,
    name: String,
}

impl OpenedInput {
    fn open(arg: &FileArg) -> anyhow::Result<Self> {
        let opened = InputFile::open(arg, "input")?;
        let (len, name) = (opened.len, opened.name.clone());
        let mut reader = opened.into_reader();
        let mut head = Vec::with_capacity(INPUT_MAGIC.len());
        (&mut reader)
            .take(INPUT_MAGIC.len() as u64)
            .read_to_end(&mut head)
            .with_context(|| format!("cannot read input {name}"))?;
        let sealed = head == INPUT_MAGIC;
        Ok(Self {
            reader: Box::new(std::io::Cursor::new(head).chain(reader)),
            len,
            sealed,
            name,
        })
    }
}

pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let jobs = jobs(args)?;
    if args.json
        && jobs
            .iter()
            .any(|job| job.output.is_none_or(|o| *o == FileArg::Stdio))
    {
        return Err(usage(
            "--json needs --output: standard output carries the guest's output",
        ));
    }
    let trusted = args
        .trusted_signers
        .iter()
        .map(|s| parse_signer(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let bytes = read_bundle_bytes(&args.bundle)?;
    let home = args.home.resolve().ok();
    let cache = enclave_platform::Platform::find_code_cache(home.clone());
    let compiler = args.compile.compiler(cache.as_ref().and(home.as_deref()))?;
    let compilation = Compilation::Isolated(&compiler);
    let enclave = Enclave::load_with(&bytes, signers(trusted), cache.as_ref(), compilation)
        .with_context(|| format!("refusing to load {}", args.bundle.display()))?;
    // The platform serves the `report`, `seal` and `store` capabilities, and opens sealed inputs.
    let manifest = enclave.bundle().manifest();
    let wants_report = [Capability::Report, Capability::Seal, Capability::Store]
        .into_iter()
        .any(|c| manifest.grants(c));
    let platform = OnceLock::new();
    let reporter = if wants_report {
        let opened = Arc::new(args.home.open()?);
        let reporter = PlatformReporter::new(opened.clone(), &enclave, SystemTime::now);
        let _ = platform.set(opened);
        Some(Arc::new(reporter) as Arc<dyn ReportIssuer>)
    } else {
        None
    };
    let loaded = Loaded {
        enclave,
        home: &args.home,
        platform,
        reporter,
    };
    // Every input is opened, and a sealed one without a receipt refused, before anything runs.
    let inputs = open_inputs(&jobs)?;

    if let [job] = jobs.as_slice() {
        let input = inputs
            .into_iter()
            .next()
            .context("the input was not opened (a bug)")?;
        let summary = run_one(args, &loaded, job, input)?;
        if args.json {
            println!("{summary:#}");
            super::exit::note_summary_printed();
        }
        return exit_status(&[summary], job.output);
    }
    // Several inputs: every run on one guest thread, each in a fresh instance of the module
    // compiled once (docs/performance.md, "Warm instances").
    let results = loaded.enclave.on_guest_thread(|| {
        jobs.iter()
            .zip(inputs)
            .map(|(job, input)| run_one(args, &loaded, job, input))
            .collect::<Vec<_>>()
    })?;
    let mut summaries = Vec::new();
    let mut failed = 0;
    let mut first_failure = None;
    for (job, result) in jobs.iter().zip(results) {
        let name = job
            .input
            .path()
            .map_or("-".into(), |p| p.display().to_string());
        match result {
            Ok(mut summary) => {
                if let Some(fields) = summary.as_object_mut() {
                    fields.insert("input".into(), name.into());
                }
                summaries.push(summary);
            }
            Err(error) => {
                eprintln!("error: {name}: {error:#}");
                summaries.push(serde_json::json!({ "input": name, "error": format!("{error:#}") }));
                failed += 1;
                first_failure.get_or_insert((name, error));
            }
        }
    }
    if args.json {
        println!("{:#}", serde_json::Value::Array(summaries.clone()));
        super::exit::note_summary_printed();
    }
    match first_failure {
        // The exit code is the first failure's.
        Some((name, first)) => Err(first.context(format!(
            "{failed} of {} runs failed, the first on {name}",
            jobs.len()
        ))),
        None => exit_status(&summaries, None),
    }
}

/// Opens every job's input, refusing a sealed input without a receipt: its output would be
/// sealed to a requester who could never open it.
fn open_inputs(jobs: &[Job<'_>]) -> anyhow::Result<Vec<OpenedInput>> {
    let mut inputs = Vec::with_capacity(jobs.len());
    for job in jobs {
        let input = OpenedInput::open(job.input)?;
        if input.sealed && job.receipt.is_none() {
            return Err(usage(format!(
                "{} is a sealed input: give --receipt FILE for the signed receipt, without \
                 which the requester cannot open the output",
                input.name
            )));
        }
        inputs.push(input);
    }
    Ok(inputs)
}

/// Success, or exit code 8 when a WASI guest exited with a nonzero code (its output was
/// written: the code is part of its answer).
fn exit_status(summaries: &[serde_json::Value], written: Option<&FileArg>) -> anyhow::Result<()> {
    let nonzero = summaries
        .iter()
        .filter_map(|s| s.get("exit_code").and_then(serde_json::Value::as_i64))
        .find(|&code| code != 0);
    match nonzero {
        Some(code) => Err(GuestExited {
            code: i32::try_from(code).unwrap_or(i32::MAX),
            written: written.map(FileArg::output_name),
        }
        .into()),
        None => Ok(()),
    }
}

/// Pairs the inputs with their outputs and receipts.
fn jobs(args: &RunArgs) -> anyhow::Result<Vec<Job<'_>>> {
    let (inputs, outputs, receipts) = (&args.input, &args.output, &args.receipt);
    if inputs.len() <= 1 {
        if outputs.len() > 1 || receipts.len() > 1 {
            return Err(usage(
                "one --input takes at most one --output and one --receipt",
            ));
        }
        if receipts.first() == Some(&FileArg::Stdio)
            && outputs.first().is_none_or(|o| *o == FileArg::Stdio)
        {
            return Err(usage(
                "the output and the receipt cannot both go to standard output (-)",
            ));
        }
        return Ok(vec![Job {
            input: inputs.first().unwrap_or(&FileArg::Stdio),
            output: outputs.first(),
            receipt: receipts.first(),
        }]);
    }
    if outputs.len() != inputs.len() {
        return Err(usage(format!(
            "{} inputs need {} --output files, one per --input in the same order (got {})",
            inputs.len(),
            inputs.len(),
            outputs.len()
        )));
    }
    if !receipts.is_empty() && receipts.len() != inputs.len() {
        return Err(usage(format!(
            "{} inputs need no --receipt or {} of them, one per --input (got {})",
            inputs.len(),
            inputs.len(),
            receipts.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for path in outputs.iter().chain(receipts) {
        if !seen.insert(path) {
            return Err(usage(format!(
                "{} is given twice as a destination",
                path.output_name()
            )));
        }
    }
    Ok(inputs
        .iter()
        .enumerate()
        .map(|(i, input)| Job {
            input,
            output: outputs.get(i),
            receipt: receipts.get(i),
        })
        .collect())
}

/// Runs one input; returns its JSON summary.
fn run_one(
    args: &RunArgs,
    loaded: &Loaded<'_>,
    job: &Job<'_>,
    opened: OpenedInput,
) -> anyhow::Result<serde_json::Value> {
    let enclave = &loaded.enclave;
    let reporter = loaded.reporter.clone();
    // With --receipt the input is meant to be sealed: one that is not is refused as sealed data
    // (its magic), not run as plaintext.
    if opened.sealed || job.receipt.is_some() {
        let platform = loaded.platform()?;
        return run_sealed(args, job, enclave, &platform, opened, reporter);
    }
    let limit = enclave.bundle().manifest().limits.max_input_bytes;
    let input = plaintext_input(opened, limit)?;

    match job.output.filter(|o| **o != FileArg::Stdio) {
        Some(arg) => {
            let file = OutputFile::create(arg, Visibility::Public, args.force.overwrite())?;
            let report = enclave.run(input, DigestWriter::new(file), reporter)?;
            print_log(&report);
            let summary = summary(&report);
            report
                .output
                .inner
                .commit()
                .with_context(|| format!("cannot write {}", arg.output_name()))?;
            Ok(summary)
        }
        None => {
            // Buffered (at most max_output_bytes) so that a failed run prints nothing.
            let report = enclave.run(input, DigestWriter::new(Vec::new()), reporter)?;
            print_log(&report);
            std::io::stdout().write_all(&report.output.inner)?;
            Ok(summary(&report))
        }
    }
}

/// A sealed input: opened inside the runtime, output sealed back to the requester, receipt
/// signed by the platform.
fn run_sealed(
    args: &RunArgs,
    job: &Job<'_>,
    enclave: &Enclave,
    platform: &Platform,
    input: OpenedInput,
    reporter: Option<Arc<dyn ReportIssuer>>,
) -> anyhow::Result<serde_json::Value> {
    let output = job
        .output
        .ok_or_else(|| usage("a sealed input needs --output for the sealed output"))?;
    let overwrite = args.force.overwrite();
    if let Some(receipt) = job.receipt {
        refuse_existing(receipt, overwrite)?;
    }
    let reader = with_progress(
        std::io::BufReader::new(input.reader),
        input.len.unwrap_or(0),
        "running",
    );
    // A FIFO, a device or standard output cannot take back what was written, and is opened
    // once: the sealed output is staged in an unnamed temporary file and copied there only when
    // the run succeeded, so that the reader of a failed run gets the failure report alone.
    let mut target = Some(OutputFile::create(output, Visibility::Public, overwrite)?);
    let sink = match target.take_if(|t| !t.is_in_place()) {
        Some(file) => SealedSink::Direct(file),
        None => SealedSink::Staged(
            tempfile::tempfile().context("cannot stage the sealed output in a temporary file")?,
        ),
    };
    let write_receipt = |receipt: &[u8]| -> anyhow::Result<()> {
        if let Some(arg) = job.receipt {
            write_output(arg, receipt, Visibility::Public, Overwrite::Allow)?;
        }
        Ok(())
    };
    let run = match enclave.run_sealed(platform, reader, sink, reporter, SystemTime::now) {
        Ok(run) => run,
        Err(ConfidentialError::Guest {
            error,
            receipt,
            report,
        }) => {
            // In place of the output: the failure, the guest's own words included, sealed to
            // the requester (`enclave open` shows it). The operator sees only `error`, which
            // withholds a production guest's words.
            match target {
                Some(mut target) => target
                    .write_all(&report)
                    .and_then(|()| target.commit())
                    .with_context(|| format!("cannot write {}", output.output_name()))?,
                None => write_output(output, &report, Visibility::Public, overwrite)?,
            }
            write_receipt(&receipt)?;
            super::exit::note_outcome(serde_json::json!({
                "outcome": "failed",
                "failure": error.to_string(),
                "receipt": job.receipt.map(FileArg::output_name),
            }));
            return Err(error.into());
        }
        Err(other) => return Err(other.into()),
    };
    if !run.log.is_empty() {
        eprint!("{}", String::from_utf8_lossy(&run.log));
    }
    run.output
        .finish(target)
        .with_context(|| format!("cannot write {}", output.output_name()))?;
    write_receipt(&run.receipt)?;
    Ok(serde_json::json!({
        "measurement": run.claims.measurement.to_string(),
        "fuel_used": run.claims.fuel_used,
        "duration_ms": run.duration.as_secs_f64() * 1000.0,
        "input_bytes": run.input_bytes,
        "output_bytes": run.output_bytes,
        "exit_code": run.claims.exit_code,
        "sealed_input_sha256": hex::encode(run.claims.input_digest),
        "sealed_output_sha256": hex::encode(run.claims.output_digest),
        "receipt": job.receipt.map(FileArg::output_name),
    }))
}

/// Where a sealed run's output goes while the guest runs.
enum SealedSink {
    /// A regular file, through its temporary file (discarded if the run fails).
    Direct(OutputFile),
    /// An unnamed temporary file, copied to an in-place output once the run succeeded.
    Staged(std::fs::File),
}

impl SealedSink {
    /// Makes the output appear: commits the regular file, or copies the staged bytes into
    /// `target` (the in-place output, `Some` exactly for [`SealedSink::Staged`]).
    fn finish(self, target: Option<OutputFile>) -> std::io::Result<()> {
        match (self, target) {
            (Self::Direct(file), _) => file.commit(),
            (Self::Staged(mut staged), Some(mut target)) => {
                use std::io::Seek as _;
                staged.rewind()?;
                std::io::copy(&mut staged, &mut target)?;
                target.commit()
            }
            (Self::Staged(_), None) => Err(std::io::Error::other("no output to copy to")),
        }
    }
}

impl Write for SealedSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Direct(file) => file.write(buf),
            Self::Staged(file) => file.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Direct(file) => file.flush(),
            Self::Staged(file) => file.flush(),
        }
    }
}

/// The `--trusted-signer` flags as an allow-list: none given means any signer, as documented
/// for `enclave run` (an empty allow-list in the library trusts no one).
pub fn signers(trusted: Vec<SignerId>) -> Signers {
    if trusted.is_empty() {
        Signers::Any
    } else {
        Signers::only(trusted)
    }
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

/// A plaintext input: a regular file streams with its size known; a pipe, a FIFO or standard
/// input is read into memory first, one byte past the limit so that an oversized input is
/// refused by the runtime with its usual error without reading an unbounded stream.
fn plaintext_input(input: OpenedInput, limit: u64) -> anyhow::Result<Input> {
    match input.len {
        Some(len) => Ok(Input::new(
            with_progress(std::io::BufReader::new(input.reader), len, "running"),
            len,
        )),
        None => {
            let mut bytes = Vec::new();
            input
                .reader
                .take(limit.saturating_add(1))
                .read_to_end(&mut bytes)
                .with_context(|| format!("cannot read input {}", input.name))?;
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

/// The JSON summary of a plaintext run.
fn summary<W>(report: &RunReport<DigestWriter<W>>) -> serde_json::Value {
    serde_json::json!({
        "measurement": report.measurement.to_string(),
        "fuel_used": report.fuel_used,
        "duration_ms": report.duration.as_secs_f64() * 1000.0,
        "input_bytes": report.input_bytes,
        "output_bytes": report.output_bytes,
        "exit_code": report.exit_code,
        "output_sha256": hex::encode(report.output.hasher.clone().finalize()),
    })
}

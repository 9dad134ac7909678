//! `enclave seal` and `enclave open`: the data owner's side of confidential I/O. Both run on the
//! owner's machine; neither needs a platform.

use std::fs::File;
use std::io::{BufReader, IsTerminal as _, Read as _};
use std::os::fd::AsFd as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context as _;
use enclave_platform::files::{refuse_existing, write_atomic, Visibility};
use sealer::{
    AeadSuite, ClientContext, EvidenceDigest, KeyPolicy, OpenError, SealOptions, SealTarget,
    SealedOutputDigest,
};
use sha2::{Digest as _, Sha256};

use super::attestation::{PolicyArgs, TrustArgs};
use super::exit::{usage, GuestExited, GuestFailed};
use super::io::{
    read_capped, with_progress, DurableFile, FileArg, InputFile, OutputFile, Unauthenticated,
};
use super::ForceArg;

/// Which of the enclave's attested keys to seal to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum KeyPolicyArg {
    /// Only this exact enclave (its measurement) can open the input.
    Measurement,
    /// Any enclave by this signer with this product id at this svn or newer can open it.
    Signer,
}

/// The AEAD of the sealed input and of the enclave's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum AeadArg {
    /// AES-256-GCM (HPKE aead_id 0x0002): fastest where the CPU has AES instructions.
    #[value(name = "aes-256-gcm")]
    Aes256Gcm,
    /// ChaCha20-Poly1305 (HPKE aead_id 0x0003): fastest without them.
    #[value(name = "chacha20-poly1305")]
    ChaCha20Poly1305,
}

#[derive(Debug, clap::Args)]
pub struct SealArgs {
    /// The enclave's attestation evidence (from `enclave attest`), verified before anything is
    /// sealed.
    #[arg(long, visible_alias = "report", value_name = "FILE")]
    evidence: PathBuf,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Seal to the measurement-bound key or the signer-bound key [default: measurement if any
    /// --measurement is given, else signer].
    #[arg(long, value_enum)]
    key_policy: Option<KeyPolicyArg>,
    /// The AEAD [default: aes-256-gcm where this CPU has AES instructions, else
    /// chacha20-poly1305].
    #[arg(long, value_enum)]
    aead: Option<AeadArg>,
    /// The plaintext to seal (`-`: standard input; a FIFO or `<(…)` works).
    #[arg(long, short, value_name = "FILE")]
    input: FileArg,
    /// Where to write the sealed input (atomically; a device or FIFO in place), or `-` for
    /// standard output (streamed, as `age` does; then --context is required).
    #[arg(long, short, visible_alias = "out", value_name = "FILE")]
    output: FileArg,
    /// Pad the sealed input to a multiple of BYTES (format version 3), so that its length tells
    /// the operator only the bucket, not the plaintext's length (docs/formats.md, "Padding").
    #[arg(long, value_name = "BYTES", value_parser = parse_pad)]
    pad: Option<std::num::NonZeroU64>,
    /// Where to keep the client context needed to open the output (mode 0600)
    /// [default: the --output path with `.context` appended].
    #[arg(long, value_name = "FILE")]
    context: Option<PathBuf>,
    /// Print JSON (on standard error when the sealed input goes to standard output).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    force: ForceArg,
}

/// Seals as `seal --pad` asks: padded to a multiple of `pad`, or not.
fn seal_to<R: std::io::Read, W: std::io::Write>(
    target: &sealer::SealTarget,
    options: SealOptions,
    pad: Option<std::num::NonZeroU64>,
    reader: R,
    len: u64,
    out: W,
) -> Result<sealer::ClientContext, sealer::SealError> {
    match pad {
        Some(bucket) => sealer::input::seal_padded(target, options, bucket, reader, len, out),
        None => sealer::seal_with_options(target, options, reader, len, out),
    }
}

/// `--pad`: 16 bytes to 64 MiB, as a manifest's `pad_output`.
fn parse_pad(text: &str) -> Result<std::num::NonZeroU64, String> {
    let range = attest::manifest::bounds::MIN_PAD_OUTPUT..=attest::manifest::bounds::MAX_PAD_OUTPUT;
    text.parse::<u64>()
        .ok()
        .filter(|n| range.contains(n))
        .and_then(std::num::NonZeroU64::new)
        .ok_or_else(|| {
            format!(
                "expected a number of bytes within {}..={}",
                range.start(),
                range.end()
            )
        })
}

pub fn seal(args: &SealArgs) -> anyhow::Result<()> {
    let verified = args.policy.verify(&args.evidence)?;
    let claims = verified.claims();
    let keys = claims.enclave_keys.as_ref().with_context(|| {
        format!(
            "{} carries no enclave encryption keys: nothing to seal to",
            args.evidence.display()
        )
    })?;
    let kind = args
        .key_policy
        .unwrap_or(if args.policy.expects_measurement() {
            KeyPolicyArg::Measurement
        } else {
            KeyPolicyArg::Signer
        });
    let (public_key, policy) = match kind {
        KeyPolicyArg::Measurement => (keys.measurement, KeyPolicy::Measurement(claims.measurement)),
        KeyPolicyArg::Signer => (
            keys.signer,
            KeyPolicy::Signer {
                signer: claims.signer,
                product_id: claims.product_id,
                svn: claims.svn,
            },
        ),
    };
    let target = SealTarget {
        public_key,
        policy,
        debug: claims.debug,
        evidence_digest: EvidenceDigest::from_bytes(verified.digest()),
        platform_id: claims.platform_id,
    };
    let to_stdout = args.output == FileArg::Stdio;
    let context_path = match (&args.context, args.output.path()) {
        (Some(path), _) => path.clone(),
        (None, Some(output)) => append_extension(output, "context"),
        (None, None) => {
            return Err(usage(
                "sealing to standard output (-o -) needs --context FILE",
            ))
        }
    };
    if to_stdout && std::io::stdout().is_terminal() {
        anyhow::bail!("refusing to write a sealed input to a terminal: redirect standard output");
    }
    let overwrite = args.force.overwrite();
    // Checked before sealing so a stream already sent to stdout is never left unanswerable.
    refuse_existing(&context_path, overwrite)?;

    // Opened once; anything but a regular file is copied to an unnamed temporary file first, as
    // the sealed header declares the length.
    let (plaintext, len) = InputFile::open(&args.input, "input")?.into_seekable("input")?;
    let reader = with_progress(BufReader::new(plaintext), len, "sealing");
    let options = SealOptions {
        suite: choose_aead(args, &verified)?,
        ..SealOptions::for_len(len)
    };
    let sealed_name = args.output.output_name();
    let input_name = args
        .input
        .path()
        .map_or_else(|| "standard input".to_owned(), |p| p.display().to_string());
    let (context, file) = if to_stdout {
        // Straight to the file descriptor: `Stdout` is line-buffered, which scans every sealed
        // chunk for newlines and splits its writes at them.
        let stdout = std::io::stdout().as_fd().try_clone_to_owned()?;
        let context = seal_to(&target, options, args.pad, reader, len, File::from(stdout))
            .with_context(|| format!("cannot seal {input_name}"))?;
        (context, None)
    } else {
        // Durable like AtomicFile, with the disk writing while the chunks are sealed.
        let path = args.output.path().unwrap_or(Path::new("-"));
        let mut out = DurableFile::create(path, overwrite)
            .with_context(|| format!("cannot write {sealed_name}"))?;
        let context = seal_to(&target, options, args.pad, reader, len, &mut out)
            .with_context(|| format!("cannot seal {input_name}"))?;
        (context, Some(out))
    };
    // The context first: a sealed input without it could never be answered readably.
    write_atomic(
        &context_path,
        &context.to_bytes(),
        Visibility::Secret,
        overwrite,
    )
    .with_context(|| format!("cannot write {}", context_path.display()))?;
    if let Some(out) = file {
        out.commit()
            .with_context(|| format!("cannot write {sealed_name}"))?;
    }
    // On stderr when the sealed input itself went to stdout.
    let key = match kind {
        KeyPolicyArg::Measurement => "measurement",
        KeyPolicyArg::Signer => "signer",
    };
    let summary = if args.json {
        let json = serde_json::json!({
            "sealed_input": if to_stdout { None } else { Some(&sealed_name) },
            "context": context_path.display().to_string(),
            "plaintext_bytes": len,
            "key_policy": key,
            "measurement": claims.measurement.to_string(),
            "signer_id": claims.signer.to_string(),
        });
        format!("{json:#}")
    } else {
        format!(
            "sealed input: {sealed_name} ({len} plaintext bytes)\n\
             context:      {} (mode 0600; needed to open the output)\n\
             sealed to:    {key} key of {} ({})",
            context_path.display(),
            claims.measurement,
            options.suite
        )
    };
    if to_stdout {
        eprintln!("{summary}");
    } else {
        println!("{summary}");
    }
    Ok(())
}

/// The AEAD to seal with: --aead if the enclave advertises it, else the preferred one among those
/// its evidence advertises (claim -70017).
fn choose_aead(
    args: &SealArgs,
    verified: &attest::verify::VerifiedEvidence,
) -> anyhow::Result<AeadSuite> {
    let evidence = read_capped(
        &args.evidence,
        attest::cose::MAX_TOKEN_BYTES as u64,
        "evidence",
    )?;
    let accepted = verified
        .enclave_aeads(&evidence)
        .with_context(|| format!("{} changed while it was read", args.evidence.display()))?;
    let Some(wanted) = args.aead else {
        return AeadSuite::preferred(&accepted).with_context(|| {
            format!(
                "{} advertises no AEAD this build knows ({accepted:04x?})",
                args.evidence.display()
            )
        });
    };
    let suite = match wanted {
        AeadArg::Aes256Gcm => AeadSuite::Aes256Gcm,
        AeadArg::ChaCha20Poly1305 => AeadSuite::ChaCha20Poly1305,
    };
    anyhow::ensure!(
        accepted.contains(&suite.id()),
        "the enclave does not read {suite}: {} advertises {accepted:04x?}",
        args.evidence.display()
    );
    Ok(suite)
}

#[derive(Debug, clap::Args)]
pub struct OpenArgs {
    /// The sealed output (from `enclave run`; `-`: standard input).
    sealed: FileArg,
    /// The execution receipt of the run.
    #[arg(long, value_name = "FILE")]
    receipt: PathBuf,
    /// The client context written by `enclave seal`.
    #[arg(long, value_name = "FILE")]
    context: PathBuf,
    /// The vendor root certificate(s) the receipt must chain to (PEM). Repeatable.
    #[arg(long = "root", required = true, value_name = "FILE")]
    roots: Vec<PathBuf>,
    /// Where to write the plaintext output (mode 0600; atomically, only once fully
    /// authenticated; `-`: standard output, printed only then).
    #[arg(long, short, visible_alias = "out", value_name = "FILE")]
    output: FileArg,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    force: ForceArg,
}

pub fn open(args: &OpenArgs) -> anyhow::Result<()> {
    let context_bytes =
        zeroize::Zeroizing::new(read_capped(&args.context, 4096, "client context")?);
    let context = ClientContext::from_bytes(&context_bytes).map_err(|error| {
        // Version 1 held an evidence digest nothing could check (docs/formats.md, "Client
        // context"); say what to do rather than only that the version is unknown.
        let hint = match error {
            OpenError::UnsupportedVersion(1) => {
                " (a version 1 context, from an older enclave: seal the input again)"
            }
            _ => "",
        };
        anyhow::Error::new(error).context(format!(
            "cannot use client context {}{hint}",
            args.context.display()
        ))
    })?;
    let roots = TrustArgs::roots_from(&args.roots)?;
    let receipt_bytes = read_capped(
        &args.receipt,
        attest::cose::MAX_TOKEN_BYTES as u64,
        "receipt",
    )?;
    let receipt = attest::verify_receipt(&receipt_bytes, &roots, SystemTime::now())
        .with_context(|| format!("{} refused", args.receipt.display()))?;
    // The receipt is checked against the request before the sealed file is read, which is then
    // opened in one pass (a FIFO or standard input works) and checked against it.
    let failed = match enclave_client::check_binding(&context, &receipt) {
        Ok(failed) => failed,
        Err(enclave_client::ClientError::Mismatch(mismatch)) => {
            return Err(mismatch).with_context(|| format!("{} refused", args.receipt.display()))
        }
        Err(other) => return Err(other.into()),
    };
    let sealed = InputFile::open(&args.sealed, "sealed output")?;
    let sealed_name = sealed.name.clone();
    if let Some(category) = failed {
        return Err(failure_report(&context, &receipt, sealed, &category));
    }
    let overwrite = args.force.overwrite();
    let mut out = match &args.output {
        FileArg::Stdio => Unauthenticated::Held(zeroize::Zeroizing::new(Vec::new())),
        file => Unauthenticated::File(OutputFile::create(file, Visibility::Secret, overwrite)?),
    };
    let len = sealed.len.unwrap_or(0);
    let mut reader = Hashing {
        inner: with_progress(BufReader::new(sealed.into_reader()), len, "opening"),
        hasher: Sha256::new(),
    };
    let plaintext_len =
        match enclave_client::open_checked(&context, &receipt, &mut reader, &mut out) {
            Ok(len) => len,
            Err(error) => return Err(not_opened(error, reader, &receipt, args, &sealed_name)),
        };
    out.finish()
        .with_context(|| format!("cannot write {}", args.output.output_name()))?;
    let claims = receipt.claims();
    if args.json {
        let json = serde_json::json!({
            "output": args.output.output_name(),
            "plaintext_bytes": plaintext_len,
            "measurement": claims.measurement.to_string(),
            "signer_id": claims.signer.to_string(),
            "platform_id": claims.platform_id.to_string(),
            "fuel_used": claims.fuel_used,
            "exit_code": claims.exit_code,
            "issued_at": claims.issued_at,
            "issued_at_rfc3339": super::attestation::rfc3339(claims.issued_at),
        });
        println!("{json:#}");
        super::exit::note_summary_printed();
    } else if args.output != FileArg::Stdio {
        println!(
            "opened:      {} ({plaintext_len} bytes)",
            args.output.output_name(),
        );
        println!("measurement: {}", claims.measurement);
        println!("platform id: {}", claims.platform_id);
        println!("fuel used:   {}", claims.fuel_used);
        if let Some(code) = claims.exit_code {
            println!("exit code:   {code}");
        }
    }
    // A WASI guest's nonzero exit: its output is the answer, and exit code 8 says so.
    match claims.exit_code {
        Some(code) if code != 0 => Err(GuestExited {
            code,
            written: Some(args.output.output_name()),
        }
        .into()),
        _ => Ok(()),
    }
}

/// A failed run's receipt names a sealed failure report in place of the output: open it (it is
/// for the requester, who runs this command) and fail with what it says, as `enclave run` fails
/// for a guest failure (exit 5). `category` is the receipt's (the operator's) view, shown only
/// when the report does not open.
fn failure_report(
    context: &ClientContext,
    receipt: &attest::receipt::VerifiedReceipt,
    sealed: InputFile,
    category: &str,
) -> anyhow::Error {
    let name = sealed.name.clone();
    let mut report = Vec::new();
    let capped = BufReader::new(sealed.into_reader()).take(MAX_FAILURE_REPORT_SEALED);
    match enclave_client::open_checked(context, receipt, capped, &mut report) {
        Ok(_) => anyhow::Error::new(GuestFailed(format!(
            "the enclave's run failed: {}",
            String::from_utf8_lossy(&report)
        ))),
        Err(error) => {
            anyhow::Error::new(GuestFailed(format!("the enclave's run failed: {category}")))
                .context(format!("its failure report {name} does not open: {error}"))
        }
    }
}

/// Why the sealed output did not open: when the whole file is not the sealed output the receipt
/// names (read to its end to tell), that, as a receipt refusal (exit 6), as before the file is
/// opened; otherwise the opening error.
fn not_opened(
    error: enclave_client::ClientError,
    mut reader: Hashing<Box<dyn std::io::Read + Send>>,
    receipt: &attest::receipt::VerifiedReceipt,
    args: &OpenArgs,
    sealed_name: &str,
) -> anyhow::Error {
    if let enclave_client::ClientError::Open(_) = error {
        if std::io::copy(&mut reader, &mut std::io::sink()).is_ok() {
            let file = SealedOutputDigest::from_bytes(reader.hasher.finalize().into());
            let named = SealedOutputDigest::from_bytes(receipt.claims().output_digest);
            if file != named {
                return anyhow::Error::new(sealer::ReceiptMismatch::Output {
                    receipt: named,
                    file,
                })
                .context(format!("{} refused", args.receipt.display()));
            }
        }
    }
    anyhow::Error::new(error).context(format!("cannot open {sealed_name}"))
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: std::io::Read> std::io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// Largest sealed failure report read: the report's cap plus the sealed output's framing.
const MAX_FAILURE_REPORT_SEALED: u64 =
    enclave_runtime::confidential::MAX_FAILURE_REPORT as u64 + 4096;

fn append_extension(path: &Path, extension: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(extension);
    PathBuf::from(name)
}

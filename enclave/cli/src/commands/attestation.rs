//! `enclave attest` and `enclave verify`: evidence from the platform, checked by the verifier
//! library exactly as a relying party would.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use attest::policy::PolicyFile;
use attest::verify::{VerifiedEvidence, VerifierPolicy, VerifyError};
use attest::{Capability, Measurement, ProductId, Svn};
use enclave_runtime::{Compilation, Enclave};

use super::compile_sandbox::CompileBudgetArgs;
use super::exit::{usage, Explained};
use super::io::{read_bundle_bytes, read_capped, read_text};
use super::platform::{write_public, HomeArg};
use super::run::parse_signer;
use super::ForceArg;

#[derive(Debug, clap::Args)]
pub struct AttestArgs {
    /// The signed bundle to attest (loaded with every check `run` makes).
    bundle: PathBuf,
    /// The verifier's nonce, 8 to 64 bytes in hex (e.g. `openssl rand -hex 16`).
    #[arg(long, value_name = "HEX", value_parser = parse_nonce)]
    nonce: HexBytes,
    /// Up to 64 bytes in hex to bind into the evidence (e.g. a hash of a key or a session).
    #[arg(long, value_name = "HEX", value_parser = parse_report_data, default_value = "")]
    report_data: HexBytes,
    /// Where to write the evidence (COSE_Sign1, CBOR).
    #[arg(long, short, visible_alias = "out", value_name = "FILE")]
    output: PathBuf,
    /// Only attest bundles signed by this signer (id or public key file). Repeatable.
    #[arg(long = "trusted-signer", value_name = "ID|FILE")]
    trusted_signers: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    home: HomeArg,
    #[command(flatten)]
    force: ForceArg,
    #[command(flatten)]
    compile: CompileBudgetArgs,
}

pub fn attest(args: &AttestArgs) -> anyhow::Result<()> {
    let (nonce, report_data) = (&args.nonce.0, &args.report_data.0);
    let trusted = args
        .trusted_signers
        .iter()
        .map(|s| parse_signer(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let platform = args.home.open()?;
    let bytes = read_bundle_bytes(&args.bundle)?;
    // The platform's compiled-code cache: a later `enclave run` of the bundle starts warm.
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
    let evidence = platform.attest(&enclave, nonce, report_data, SystemTime::now())?;
    write_public(&args.output, &evidence, args.force)?;
    if args.json {
        let json = serde_json::json!({
            "evidence": args.output.display().to_string(),
            "evidence_bytes": evidence.len(),
            "measurement": enclave.measurement().to_string(),
            "platform_id": platform.platform_id().to_string(),
            "nonce": hex::encode(nonce),
        });
        println!("{json:#}");
        return Ok(());
    }
    println!(
        "evidence:    {} ({} bytes)",
        args.output.display(),
        evidence.len()
    );
    println!("measurement: {}", enclave.measurement());
    println!("platform id: {}", platform.platform_id());
    Ok(())
}

/// What a relying party requires of evidence for one nonce: shared by `verify` and `seal`.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    #[command(flatten)]
    pub trust: TrustArgs,
    /// The nonce this verifier gave the attester, in hex.
    #[arg(long, value_name = "HEX", value_parser = parse_nonce)]
    pub nonce: HexBytes,
}

impl PolicyArgs {
    /// The verifier policy, with the nonce.
    pub fn policy(&self) -> anyhow::Result<VerifierPolicy> {
        Ok(self.trust.policy()?.nonce(self.nonce.0.clone()))
    }

    /// Whether a measurement is expected (given, or taken from a bundle).
    pub fn expects_measurement(&self) -> bool {
        self.trust.expects_measurement()
    }

    /// Reads and verifies evidence from `path`.
    pub fn verify(&self, path: &std::path::Path) -> anyhow::Result<VerifiedEvidence> {
        let bytes = read_capped(path, attest::cose::MAX_TOKEN_BYTES as u64, "evidence")?;
        let policy = self.policy()?;
        attest::verify::verify(&bytes, &policy, SystemTime::now())
            .map_err(|error| self.trust.explain(error, &policy))
            .with_context(|| format!("{} refused", path.display()))
    }
}

/// What a relying party trusts, whatever the nonce: the pinned roots and the enclaves it accepts.
/// `call` takes it alone (it makes its own nonces). A policy file (`--policy`) says the same as
/// these flags; a flag given beside it replaces the file's value for that key.
#[derive(Debug, clap::Args)]
pub struct TrustArgs {
    /// A verifier policy file (TOML; docs/formats.md, "Verifier policy file"): roots, accepted
    /// measurements or signer, minimum svn and TCB, debug, maximum age, required and forbidden
    /// capabilities. Flags given beside it override its keys.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The vendor root certificate(s) to trust (PEM). Repeatable; required unless the policy
    /// file names them.
    #[arg(long = "root", required_unless_present = "policy", value_name = "FILE")]
    pub roots: Vec<PathBuf>,
    /// Accept this measurement. Repeatable; at least one --measurement, --measurement-from,
    /// --signer or --policy is required.
    #[arg(
        long = "measurement",
        value_name = "HEX",
        required_unless_present_any = ["signers", "measurement_from", "policy"]
    )]
    pub measurements: Vec<Measurement>,
    /// Accept the measurement of this signed bundle (the one you reviewed, or built and signed
    /// yourself). Repeatable.
    #[arg(long = "measurement-from", value_name = "BUNDLE")]
    pub measurement_from: Vec<PathBuf>,
    /// Accept enclaves by this signer (id or public key file). Repeatable.
    #[arg(long = "signer", value_name = "ID|FILE")]
    pub signers: Vec<String>,
    /// Require this product id.
    #[arg(long)]
    pub product_id: Option<u16>,
    /// Require at least this security version.
    #[arg(long)]
    pub min_svn: Option<u16>,
    /// Require at least this platform TCB version.
    #[arg(long)]
    pub min_tcb: Option<u32>,
    /// Accept a debug enclave (refused by default: its memory and logs are not confidential).
    #[arg(long)]
    pub allow_debug: bool,
    /// Refuse evidence older than this (e.g. 30s, 5m, 1h) [default: 5m].
    #[arg(long, value_parser = parse_duration)]
    pub max_age: Option<Duration>,
    /// Refuse an enclave not granted this capability (e.g. seal). Repeatable.
    #[arg(long = "require-capability", value_name = "NAME", value_parser = parse_capability)]
    pub require_capabilities: Vec<Capability>,
    /// Refuse an enclave granted this capability (e.g. log). Repeatable.
    #[arg(long = "forbid-capability", value_name = "NAME", value_parser = parse_capability)]
    pub forbid_capabilities: Vec<Capability>,
}

impl TrustArgs {
    /// Root certificates (DER) from PEM files.
    pub fn roots_from(paths: &[PathBuf]) -> anyhow::Result<Vec<Vec<u8>>> {
        let mut roots = Vec::new();
        for path in paths {
            let text = read_text(path, "root certificate")?;
            let certs = pem::parse_many(text.as_bytes())
                .with_context(|| format!("{} is not PEM", path.display()))?;
            anyhow::ensure!(!certs.is_empty(), "{} holds no certificate", path.display());
            roots.extend(certs.into_iter().map(pem::Pem::into_contents));
        }
        Ok(roots)
    }

    /// Whether a measurement is expected (given, taken from a bundle, or in the policy file).
    pub fn expects_measurement(&self) -> bool {
        !self.measurements.is_empty()
            || !self.measurement_from.is_empty()
            || self
                .policy_file()
                .is_ok_and(|(file, _)| !file.measurements.is_empty())
    }

    /// The policy file, if any, and the paths of its roots resolved against its directory.
    fn policy_file(&self) -> anyhow::Result<(PolicyFile, Vec<PathBuf>)> {
        let Some(path) = &self.policy else {
            return Ok((PolicyFile::default(), Vec::new()));
        };
        let file = PolicyFile::from_toml(&read_text(path, "verifier policy")?)
            .with_context(|| format!("in verifier policy {}", path.display()))?;
        let dir = path.parent().unwrap_or(std::path::Path::new(""));
        let roots = file.roots().iter().map(|r| dir.join(r)).collect();
        Ok((file, roots))
    }

    /// The policy file with every flag given replacing the file's value, and the root files to
    /// read.
    fn merged(&self) -> anyhow::Result<(PolicyFile, Vec<PathBuf>)> {
        let (mut file, mut roots) = self.policy_file()?;
        if !self.roots.is_empty() {
            roots.clone_from(&self.roots);
        }
        let mut measurements = self.measurements.clone();
        for path in &self.measurement_from {
            measurements.push(super::author::read_bundle(path)?.measurement());
        }
        if !measurements.is_empty() {
            file.measurements = measurements;
        }
        if !self.signers.is_empty() {
            file.signers = self
                .signers
                .iter()
                .map(|s| parse_signer(s))
                .collect::<anyhow::Result<_>>()?;
        }
        file.product_id = self.product_id.map(ProductId).or(file.product_id);
        file.min_svn = self.min_svn.map(Svn).or(file.min_svn);
        file.min_tcb = self.min_tcb.or(file.min_tcb);
        if self.allow_debug {
            file.allow_debug = Some(true);
        }
        file.max_age = self.max_age.or(file.max_age);
        if !self.require_capabilities.is_empty() {
            file.require_capabilities
                .clone_from(&self.require_capabilities);
        }
        if !self.forbid_capabilities.is_empty() {
            file.forbid_capabilities
                .clone_from(&self.forbid_capabilities);
        }
        Ok((file, roots))
    }

    /// The verifier policy, without a nonce.
    pub fn policy(&self) -> anyhow::Result<VerifierPolicy> {
        let (file, roots) = self.merged()?;
        if roots.is_empty() {
            anyhow::bail!(
                "no trusted root certificate: pass --root FILE or list `roots` in the policy file"
            );
        }
        let roots = Self::roots_from(&roots)?;
        Ok(file.into_policy(roots)?)
    }

    /// A refusal worded with what the library does not know: what was expected, and the flag
    /// that accepts a debug enclave.
    pub fn explain(&self, error: VerifyError, policy: &VerifierPolicy) -> anyhow::Error {
        let list = |items: Vec<String>| items.join(" or ");
        let message = match &error {
            VerifyError::DebugNotAllowed => format!(
                "{error}: pass --allow-debug (or set allow_debug = true in the policy file) to \
                 accept one (a debug enclave's memory and logs are not confidential)"
            ),
            VerifyError::MeasurementMismatch { got } => format!(
                "measurement mismatch: expected {}, got {got}",
                list(
                    policy
                        .measurements()
                        .iter()
                        .map(ToString::to_string)
                        .collect()
                )
            ),
            VerifyError::SignerMismatch { got } => format!(
                "signer mismatch: expected {}, got {got}",
                list(policy.signers().iter().map(ToString::to_string).collect())
            ),
            _ => return error.into(),
        };
        Explained {
            message,
            code: super::exit::EVIDENCE_REFUSED,
        }
        .into()
    }
}

/// A capability by its manifest name.
fn parse_capability(text: &str) -> Result<Capability, String> {
    Capability::ALL
        .into_iter()
        .find(|c| c.name() == text)
        .ok_or_else(|| {
            let names: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
            format!("unknown capability {text:?} (one of {})", names.join(", "))
        })
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The evidence to verify (from `enclave attest`).
    #[arg(value_name = "EVIDENCE")]
    evidence: PathBuf,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Print the verified claims as JSON.
    #[arg(long)]
    json: bool,
}

pub fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let verified = args.policy.verify(&args.evidence)?;
    print_evidence(&verified, &args.evidence.display().to_string(), args.json);
    Ok(())
}

/// What `verify` and `verify-tls` print of verified evidence: the claims as JSON, or one line
/// each, after `verified:    WHAT`.
pub fn print_evidence(verified: &VerifiedEvidence, what: &str, json: bool) {
    if json {
        println!("{:#}", evidence_json(verified));
        return;
    }
    let claims = verified.claims();
    println!("verified:    {what}");
    println!("measurement: {}", claims.measurement);
    println!("signer id:   {}", claims.signer);
    println!("product id:  {}", claims.product_id);
    println!("svn:         {}", claims.svn);
    println!("debug:       {}", claims.debug);
    println!("platform id: {}", claims.platform_id);
    println!("tcb:         {}", claims.platform_tcb);
    println!("issued at:   {}", rfc3339(claims.issued_at));
    if let Some(key) = &claims.tls_key {
        println!(
            "tls key:     {} (SHA-256 of its SubjectPublicKeyInfo)",
            hex::encode(key)
        );
    }
}

pub fn evidence_json(verified: &VerifiedEvidence) -> serde_json::Value {
    let c = verified.claims();
    serde_json::json!({
        "evidence_sha256": hex::encode(verified.digest()),
        "measurement": c.measurement.to_string(),
        "signer_id": c.signer.to_string(),
        "module_sha256": c.module.to_string(),
        "product_id": c.product_id.0,
        "svn": c.svn.0,
        "debug": c.debug,
        "capabilities": c.capabilities,
        "platform_id": c.platform_id.to_string(),
        "platform_tcb": c.platform_tcb,
        "issued_at": c.issued_at,
        "issued_at_rfc3339": rfc3339(c.issued_at),
        "nonce": hex::encode(&c.nonce),
        "report_data": hex::encode(&c.report_data),
        "enclave_keys": c.enclave_keys.as_ref().map(|k| serde_json::json!({
            "measurement": k.measurement.to_string(),
            "signer": k.signer.to_string(),
        })),
        "tls_key": c.tls_key.map(hex::encode),
    })
}

/// Bytes given in hex on the command line.
#[derive(Debug, Clone)]
pub struct HexBytes(pub Vec<u8>);

/// A nonce: 8 to 64 bytes in hex (RFC 9711 §4.1).
fn parse_nonce(text: &str) -> Result<HexBytes, String> {
    let bytes = parse_hex(text)?;
    let range = attest::evidence::NONCE_LEN;
    if !range.contains(&bytes.len()) {
        return Err(format!(
            "a nonce is {} to {} bytes ({} to {} hex digits), this one is {}",
            range.start(),
            range.end(),
            range.start() * 2,
            range.end() * 2,
            bytes.len()
        ));
    }
    Ok(HexBytes(bytes))
}

/// Report data: at most 64 bytes in hex.
fn parse_report_data(text: &str) -> Result<HexBytes, String> {
    let bytes = parse_hex(text)?;
    let max = attest::evidence::MAX_REPORT_DATA;
    if bytes.len() > max {
        return Err(format!(
            "report data is at most {max} bytes ({} hex digits), this is {}",
            max * 2,
            bytes.len()
        ));
    }
    Ok(HexBytes(bytes))
}

fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    hex::decode(text).map_err(|e| format!("not hex: {e}"))
}

/// Seconds since the Unix epoch as an RFC 3339 UTC time, `2026-12-02T09:30:00Z`.
pub fn rfc3339(unix_seconds: u64) -> String {
    let days = unix_seconds / 86_400;
    let secs = unix_seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// `30s`, `5m`, `2h`, `1d`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    attest::policy::parse_duration(text)
}

#[cfg(test)]
mod tests {
    use super::{parse_duration, parse_nonce, rfc3339};
    use std::time::Duration;

    #[test]
    fn rfc3339_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
        assert_eq!(rfc3339(4_107_542_400), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn nonces() {
        assert_eq!(parse_nonce(&"ab".repeat(8)).unwrap().0.len(), 8);
        assert_eq!(
            parse_nonce("abcd").unwrap_err(),
            "a nonce is 8 to 64 bytes (16 to 128 hex digits), this one is 2"
        );
        assert!(parse_nonce("xyz").unwrap_err().starts_with("not hex"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}

#[derive(Debug, clap::Args)]
pub struct VerifyReceiptArgs {
    /// The signed execution receipt (from `run --receipt` or `call --receipt`; `-`: standard
    /// input).
    #[arg(value_name = "RECEIPT")]
    receipt: PathBuf,
    /// The vendor root certificate(s) the receipt must chain to (PEM). Repeatable.
    #[arg(long = "root", required = true, value_name = "FILE")]
    roots: Vec<PathBuf>,
    /// Also require this measurement (64 hex digits). Repeatable: any of them.
    #[arg(long = "measurement", value_name = "HEX")]
    measurements: Vec<String>,
    /// Print the verified claims as JSON.
    #[arg(long)]
    json: bool,
}

/// `enclave verify-receipt`: an auditor holding a receipt and a root checks it on its own.
pub fn verify_receipt(args: &VerifyReceiptArgs) -> anyhow::Result<()> {
    let roots = TrustArgs::roots_from(&args.roots)?;
    let bytes = read_capped(
        &args.receipt,
        attest::cose::MAX_TOKEN_BYTES as u64,
        "receipt",
    )?;
    let refused = || format!("{} refused", args.receipt.display());
    let receipt =
        attest::verify_receipt(&bytes, &roots, SystemTime::now()).with_context(refused)?;
    let claims = receipt.claims();
    if !args.measurements.is_empty() {
        let expected = args
            .measurements
            .iter()
            .map(|m| Measurement::from_hex(m).map_err(|e| usage(format!("--measurement {m}: {e}"))))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if !expected.contains(&claims.measurement) {
            let list: Vec<String> = expected.iter().map(ToString::to_string).collect();
            return Err(Explained {
                message: format!(
                    "{}: measurement mismatch: expected {}, got {}",
                    refused(),
                    list.join(" or "),
                    claims.measurement
                ),
                code: super::exit::EVIDENCE_REFUSED,
            }
            .into());
        }
    }
    let (outcome, failure) = match &claims.outcome {
        attest::receipt::Outcome::Success => ("success", None),
        attest::receipt::Outcome::Failed { message } => ("failed", Some(message.as_str())),
    };
    if args.json {
        println!(
            "{:#}",
            serde_json::json!({
                "receipt_sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
                "measurement": claims.measurement.to_string(),
                "signer_id": claims.signer.to_string(),
                "product_id": claims.product_id.0,
                "svn": claims.svn.0,
                "debug": claims.debug,
                "platform_id": claims.platform_id.to_string(),
                "platform_tcb": receipt.platform_tcb(),
                "issued_at": claims.issued_at,
                "issued_at_rfc3339": rfc3339(claims.issued_at),
                "sealed_input_sha256": hex::encode(claims.input_digest),
                "sealed_output_sha256": hex::encode(claims.output_digest),
                "request_nonce": hex::encode(&claims.request_nonce),
                "fuel_used": claims.fuel_used,
                "outcome": outcome,
                "failure": failure,
                "exit_code": claims.exit_code,
            })
        );
        return Ok(());
    }
    println!("verified:      {} (receipt)", args.receipt.display());
    println!("measurement:   {}", claims.measurement);
    println!("signer id:     {}", claims.signer);
    println!("platform id:   {}", claims.platform_id);
    println!("tcb:           {}", receipt.platform_tcb());
    println!("issued at:     {}", rfc3339(claims.issued_at));
    println!("sealed input:  {}", hex::encode(claims.input_digest));
    println!("sealed output: {}", hex::encode(claims.output_digest));
    println!("fuel used:     {}", claims.fuel_used);
    match failure {
        Some(failure) => println!("outcome:       failed: {failure}"),
        None => println!("outcome:       {outcome}"),
    }
    if let Some(code) = claims.exit_code {
        println!("exit code:     {code}");
    }
    Ok(())
}

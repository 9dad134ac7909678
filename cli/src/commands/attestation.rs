//! `enclave attest` and `enclave verify`: evidence from the platform, checked by the verifier
//! library exactly as a relying party would.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use attest::bundle::MAX_BUNDLE_BYTES;
use attest::verify::{VerifiedEvidence, VerifierPolicy};
use attest::{Measurement, ProductId, Svn};
use enclave_runtime::Enclave;

use super::io::{read_capped, read_text};
use super::platform::{write_public, HomeArg};
use super::run::parse_signer;
use super::ForceArg;

#[derive(Debug, clap::Args)]
pub struct AttestArgs {
    /// The signed bundle to attest (loaded with every check `run` makes).
    bundle: PathBuf,
    /// The verifier's nonce, 8 to 64 bytes in hex.
    #[arg(long, value_name = "HEX")]
    nonce: String,
    /// Up to 64 bytes in hex to bind into the evidence (e.g. a hash of a key or a session).
    #[arg(long, value_name = "HEX", default_value = "")]
    report_data: String,
    /// Where to write the evidence (COSE_Sign1, CBOR).
    #[arg(long, short, visible_alias = "out", value_name = "FILE")]
    output: PathBuf,
    /// Only attest bundles signed by this signer (id or public key file). Repeatable.
    #[arg(long = "trusted-signer", value_name = "ID|FILE")]
    trusted_signers: Vec<String>,
    #[command(flatten)]
    home: HomeArg,
    #[command(flatten)]
    force: ForceArg,
}

pub fn attest(args: &AttestArgs) -> anyhow::Result<()> {
    let nonce = parse_hex("--nonce", &args.nonce)?;
    let report_data = parse_hex("--report-data", &args.report_data)?;
    let trusted = args
        .trusted_signers
        .iter()
        .map(|s| parse_signer(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let platform = args.home.open()?;
    let bytes = read_capped(&args.bundle, MAX_BUNDLE_BYTES as u64, "bundle")?;
    // The platform's compiled-code cache: a later `enclave run` of the bundle starts warm.
    let cache = platform.code_cache();
    let enclave = Enclave::load_cached(&bytes, &trusted, Some(&cache))
        .with_context(|| format!("refusing to load {}", args.bundle.display()))?;
    let evidence = platform.attest(&enclave, &nonce, &report_data, SystemTime::now())?;
    write_public(&args.output, &evidence, args.force)?;
    println!(
        "evidence:    {} ({} bytes)",
        args.output.display(),
        evidence.len()
    );
    println!("measurement: {}", enclave.measurement());
    println!("platform id: {}", platform.platform_id());
    Ok(())
}

/// What a relying party requires of evidence: shared by `verify` and `seal`.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    /// The vendor root certificate(s) to trust (PEM). Repeatable.
    #[arg(long = "root", required = true, value_name = "FILE")]
    pub roots: Vec<PathBuf>,
    /// Accept this measurement. Repeatable; at least one --measurement or --signer is required.
    #[arg(
        long = "measurement",
        value_name = "HEX",
        required_unless_present = "signers"
    )]
    pub measurements: Vec<Measurement>,
    /// Accept enclaves by this signer (id or public key file). Repeatable.
    #[arg(long = "signer", value_name = "ID|FILE")]
    pub signers: Vec<String>,
    /// The nonce this verifier gave the attester, in hex.
    #[arg(long, value_name = "HEX")]
    pub nonce: String,
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
    /// Refuse evidence older than this (e.g. 30s, 5m, 1h).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub max_age: Duration,
}

impl PolicyArgs {
    /// The pinned roots (DER).
    pub fn roots(&self) -> anyhow::Result<Vec<Vec<u8>>> {
        Self::roots_from(&self.roots)
    }

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

    pub fn policy(&self) -> anyhow::Result<VerifierPolicy> {
        let mut policy = VerifierPolicy::new(self.roots()?)
            .nonce(parse_hex("--nonce", &self.nonce)?)
            .allow_debug(self.allow_debug)
            .max_age(self.max_age);
        for m in &self.measurements {
            policy = policy.measurement(*m);
        }
        for s in &self.signers {
            policy = policy.signer(parse_signer(s)?);
        }
        if let Some(p) = self.product_id {
            policy = policy.product_id(ProductId(p));
        }
        if let Some(s) = self.min_svn {
            policy = policy.min_svn(Svn(s));
        }
        if let Some(t) = self.min_tcb {
            policy = policy.min_platform_tcb(t);
        }
        Ok(policy)
    }

    /// Reads and verifies evidence from `path`.
    pub fn verify(&self, path: &std::path::Path) -> anyhow::Result<VerifiedEvidence> {
        let bytes = read_capped(path, attest::cose::MAX_TOKEN_BYTES as u64, "evidence")?;
        let policy = self.policy()?;
        attest::verify::verify(&bytes, &policy, SystemTime::now())
            .with_context(|| format!("{} refused", path.display()))
    }
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The evidence to verify.
    evidence: PathBuf,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Print the verified claims as JSON.
    #[arg(long)]
    json: bool,
}

pub fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let verified = args.policy.verify(&args.evidence)?;
    if args.json {
        println!("{:#}", evidence_json(&verified));
    } else {
        let claims = verified.claims();
        println!("verified:    {}", args.evidence.display());
        println!("measurement: {}", claims.measurement);
        println!("signer id:   {}", claims.signer);
        println!("product id:  {}", claims.product_id);
        println!("svn:         {}", claims.svn);
        println!("debug:       {}", claims.debug);
        println!("platform id: {}", claims.platform_id);
        println!("tcb:         {}", claims.platform_tcb);
        println!("issued at:   {} (unix)", claims.issued_at);
    }
    Ok(())
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
        "nonce": hex::encode(&c.nonce),
        "report_data": hex::encode(&c.report_data),
        "enclave_keys": c.enclave_keys.as_ref().map(|k| serde_json::json!({
            "measurement": k.measurement.to_string(),
            "signer": k.signer.to_string(),
        })),
    })
}

pub fn parse_hex(flag: &str, text: &str) -> anyhow::Result<Vec<u8>> {
    hex::decode(text).with_context(|| format!("{flag} is not hex"))
}

/// `30s`, `5m`, `2h`, `1d`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 5m or 1h"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use s, m, h or d)"
            ))
        }
    };
    n.checked_mul(scale)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

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

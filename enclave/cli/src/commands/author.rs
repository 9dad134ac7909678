//! The author's commands: `keygen`, `sign` (in one step, or in two around a key kept elsewhere:
//! `--digest-only`, then `--attach`), `measure`, `inspect`.

use std::path::PathBuf;

use anyhow::Context as _;
use attest::bundle::{self, UnsignedBundle, VerifiedBundle, MAX_BUNDLE_BYTES};
use attest::policy::PolicyFile;
use attest::{AuthorKey, AuthorPublicKey, Capability, Manifest, ModuleDigest};
use enclave_platform::files::{write_atomic, Visibility};
use enclave_runtime::{describe_module_with, Compilation, Enclave};

use super::compile_sandbox::CompileBudgetArgs;
use super::io::{read_bundle_bytes, read_capped, read_private_key, read_text};
use super::{public_key_path, ForceArg};

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Where to write the private key (mode 0600); the public key goes beside it with the
    /// extension `.pub`.
    #[arg(long, short, visible_alias = "out", value_name = "FILE")]
    output: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    force: ForceArg,
}

pub fn keygen(args: &KeygenArgs) -> anyhow::Result<()> {
    let key = AuthorKey::generate()?;
    let public_path = public_key_path(&args.output);
    anyhow::ensure!(public_path != args.output, "--output must not end in .pub");
    let overwrite = args.force.overwrite();
    write_atomic(
        &args.output,
        key.to_pkcs8_pem().as_bytes(),
        Visibility::Secret,
        overwrite,
    )
    .with_context(|| format!("cannot write {}", args.output.display()))?;
    let public = key.public_key();
    write_atomic(
        &public_path,
        public.to_spki_pem().as_bytes(),
        Visibility::Public,
        overwrite,
    )
    .with_context(|| format!("cannot write {}", public_path.display()))?;
    if args.json {
        let json = serde_json::json!({
            "private_key": args.output.display().to_string(),
            "public_key": public_path.display().to_string(),
            "signer_id": public.signer_id().to_string(),
        });
        println!("{json:#}");
        return Ok(());
    }
    println!("private key: {} (mode 0600)", args.output.display());
    println!("public key:  {}", public_path.display());
    println!("signer id:   {}", public.signer_id());
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The wasm module to sign.
    module: PathBuf,
    /// The author's private key (PKCS#8 PEM); refused if group or others can access it.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present_any = ["digest_only", "attach"],
        conflicts_with_all = ["digest_only", "attach", "pubkey"]
    )]
    key: Option<PathBuf>,
    /// The author's public key (SPKI PEM, from `keygen`), for signing elsewhere with
    /// --digest-only and --attach.
    #[arg(long, value_name = "FILE")]
    pubkey: Option<PathBuf>,
    /// Write only the bytes to sign (the COSE Sig_structure, a few hundred bytes) to --output,
    /// for a key kept in an HSM or on an offline machine; then sign them there with Ed25519
    /// (e.g. `openssl pkeyutl -sign -rawin`) and assemble the bundle with --attach.
    #[arg(long, requires = "pubkey", conflicts_with = "attach")]
    digest_only: bool,
    /// Assemble the bundle from this signature (64 raw bytes, Ed25519 over the bytes
    /// --digest-only wrote for the same module, manifest and public key); refused unless it
    /// verifies.
    #[arg(long, value_name = "SIG", requires = "pubkey")]
    attach: Option<PathBuf>,
    /// The enclave manifest (TOML).
    #[arg(long)]
    manifest: PathBuf,
    /// Where to write the bundle (or, with --digest-only, the bytes to sign).
    #[arg(long, short, visible_alias = "out", value_name = "FILE")]
    output: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    force: ForceArg,
    #[command(flatten)]
    compile: CompileBudgetArgs,
}

/// Largest signature file read by `--attach` (an Ed25519 signature is 64 bytes).
const MAX_SIGNATURE_FILE: u64 = 1024;

pub fn sign(args: &SignArgs) -> anyhow::Result<()> {
    let manifest = read_manifest(&args.manifest)?;
    let module = read_module(&args.module)?;
    let bytes = match (&args.key, &args.pubkey) {
        (Some(key_path), _) => {
            let key = AuthorKey::from_pkcs8_pem(&read_private_key(key_path, "author key")?)
                .with_context(|| format!("cannot use key {}", key_path.display()))?;
            bundle::sign(&key, &manifest, &module)?
        }
        (None, Some(pubkey)) => {
            let public = AuthorPublicKey::from_spki_pem(&read_text(pubkey, "public key")?)
                .with_context(|| format!("cannot use public key {}", pubkey.display()))?;
            let unsigned = UnsignedBundle::new(&public, &manifest, &module)?;
            let Some(sig_path) = &args.attach else {
                return write_to_be_signed(args, &unsigned.to_be_signed(), &module);
            };
            let signature = read_capped(sig_path, MAX_SIGNATURE_FILE, "signature")?;
            unsigned.attach(&signature).with_context(|| {
                format!(
                    "refusing the signature in {} (it must be the Ed25519 signature by the key of \
                     {} over what --digest-only writes for this module and manifest)",
                    sig_path.display(),
                    pubkey.display()
                )
            })?
        }
        (None, None) => anyhow::bail!("--key or --pubkey is required"),
    };
    // Refuse to sign what the runtime would refuse to load: invalid wasm, imports outside the
    // granted ABI, missing exports.
    let signer = bundle::verify(&bytes)?.signer_id();
    let compiler = args.compile.compiler_for_default_home()?;
    let enclave = Enclave::load_with(&bytes, &[signer], None, Compilation::Isolated(&compiler))
        .context("the runtime would refuse this module")?;
    write_atomic(
        &args.output,
        &bytes,
        Visibility::Public,
        args.force.overwrite(),
    )
    .with_context(|| format!("cannot write {}", args.output.display()))?;
    let bundle = enclave.bundle();
    if args.json {
        let json = serde_json::json!({
            "bundle": args.output.display().to_string(),
            "bundle_bytes": bytes.len(),
            "measurement": bundle.measurement().to_string(),
            "signer_id": bundle.signer_id().to_string(),
            "module_digest": bundle.module_digest().to_string(),
        });
        println!("{json:#}");
        return Ok(());
    }
    println!("bundle:      {}", args.output.display());
    println!("measurement: {}", bundle.measurement());
    println!("signer id:   {}", bundle.signer_id());
    Ok(())
}

/// `sign --digest-only`: writes the bytes to sign.
fn write_to_be_signed(args: &SignArgs, tbs: &[u8], module: &[u8]) -> anyhow::Result<()> {
    write_atomic(
        &args.output,
        tbs,
        Visibility::Public,
        args.force.overwrite(),
    )
    .with_context(|| format!("cannot write {}", args.output.display()))?;
    let digest = ModuleDigest::of(module);
    if args.json {
        let json = serde_json::json!({
            "to_be_signed": args.output.display().to_string(),
            "to_be_signed_bytes": tbs.len(),
            "module_digest": digest.to_string(),
        });
        println!("{json:#}");
        return Ok(());
    }
    println!(
        "to be signed: {} ({} bytes)",
        args.output.display(),
        tbs.len()
    );
    println!("module:       {digest}");
    println!(
        "sign it with Ed25519 (e.g. openssl pkeyutl -sign -rawin -inkey KEY -in {} -out SIG), \
         then: enclave sign --attach SIG --pubkey ... --manifest ... MODULE -o BUNDLE",
        args.output.display()
    );
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct MeasureArgs {
    /// The wasm module.
    module: PathBuf,
    /// The enclave manifest (TOML).
    #[arg(long)]
    manifest: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn measure(args: &MeasureArgs) -> anyhow::Result<()> {
    let manifest = read_manifest(&args.manifest)?;
    let digest = ModuleDigest::of(&read_module(&args.module)?);
    let measurement = manifest.measure(&digest);
    if args.json {
        let json = serde_json::json!({
            "measurement": measurement.to_string(),
            "module_digest": digest.to_string(),
        });
        println!("{json:#}");
    } else {
        println!("{measurement}");
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The bundle.
    bundle: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Print a verifier policy file (TOML) that accepts exactly this bundle: its measurement,
    /// signer, product, svn, debug setting and capabilities. Add the vendor roots (`roots`, or
    /// `--root` beside `--policy`) before using it.
    #[arg(long, conflicts_with = "json")]
    policy: bool,
    #[command(flatten)]
    compile: CompileBudgetArgs,
}

pub fn inspect(args: &InspectArgs) -> anyhow::Result<()> {
    let bundle = read_bundle(&args.bundle)?;
    if args.policy {
        print!("{}", exact_policy(&bundle, &args.bundle));
        return Ok(());
    }
    let compiler = args.compile.compiler_for_default_home()?;
    let interface = describe_module_with(bundle.module(), Compilation::Isolated(&compiler))?;
    let m = bundle.manifest();
    let l = &m.limits;
    let capabilities: Vec<&str> = m.capabilities.iter().map(|c| c.name()).collect();
    if args.json {
        let json = serde_json::json!({
            "measurement": bundle.measurement().to_string(),
            "signer_id": bundle.signer_id().to_string(),
            "module_digest": bundle.module_digest().to_string(),
            "module_bytes": bundle.module().len(),
            "product_id": m.product_id.0,
            "svn": m.svn.0,
            "debug": m.debug,
            "kind": m.kind.to_string(),
            "args": m.args,
            "limits": l,
            "capabilities": capabilities,
            "imports": interface.imports,
            "exports": interface.exports,
        });
        println!("{json:#}");
        return Ok(());
    }
    println!("measurement:   {}", bundle.measurement());
    println!("signer id:     {}", bundle.signer_id());
    println!(
        "module:        {} ({} bytes)",
        bundle.module_digest(),
        bundle.module().len()
    );
    println!("product id:    {}", m.product_id);
    println!("svn:           {}", m.svn);
    println!("debug:         {}", m.debug);
    println!("kind:          {}", m.kind);
    if !m.args.is_empty() {
        println!("args:          {:?}", m.args);
    }
    println!(
        "capabilities:  {}",
        if capabilities.is_empty() {
            "(none)".into()
        } else {
            capabilities.join(", ")
        }
    );
    println!("limits:");
    println!("  memory_bytes      {}", l.memory_bytes);
    if l.is_metered() {
        println!("  fuel              {}", l.fuel);
    } else {
        println!("  fuel              unmetered (timeout only)");
    }
    println!("  timeout_ms        {}", l.timeout_ms);
    println!("  max_input_bytes   {}", l.max_input_bytes);
    println!("  max_output_bytes  {}", l.max_output_bytes);
    println!("  stack_bytes       {}", l.stack_bytes);
    println!("imports:");
    interface.imports.iter().for_each(|i| println!("  {i}"));
    println!("exports:");
    interface.exports.iter().for_each(|e| println!("  {e}"));
    Ok(())
}

/// A verifier policy file accepting exactly `bundle`, with a comment naming where it came from.
fn exact_policy(bundle: &VerifiedBundle, path: &std::path::Path) -> String {
    let m = bundle.manifest();
    let granted: Vec<Capability> = m.capabilities.iter().copied().collect();
    let file = PolicyFile {
        measurements: vec![bundle.measurement()],
        signers: vec![bundle.signer_id()],
        product_id: Some(m.product_id),
        min_svn: Some(m.svn),
        allow_debug: Some(m.debug),
        require_capabilities: granted.clone(),
        forbid_capabilities: Capability::ALL
            .into_iter()
            .filter(|c| c.applies_to(m.kind) && !granted.contains(c))
            .collect(),
        ..PolicyFile::default()
    };
    let name = path
        .file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy();
    format!(
        "# Verifier policy accepting exactly the bundle {name:?} (enclave inspect --policy).\n\
         # Add the vendor root certificate(s), paths relative to this file:\n\
         # roots = [\"vendor-root.pem\"]\n{}",
        file.to_toml()
    )
}

pub fn read_manifest(path: &std::path::Path) -> anyhow::Result<Manifest> {
    Manifest::from_toml(&read_text(path, "manifest")?)
        .with_context(|| format!("in manifest {}", path.display()))
}

fn read_module(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    read_capped(path, MAX_BUNDLE_BYTES as u64, "module")
}

/// Reads and verifies a bundle (signature and format; no signer policy).
pub fn read_bundle(path: &std::path::Path) -> anyhow::Result<VerifiedBundle> {
    let bytes = read_bundle_bytes(path)?;
    bundle::verify(&bytes).with_context(|| format!("refusing bundle {}", path.display()))
}

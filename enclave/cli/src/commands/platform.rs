//! `enclave platform …`: create and show the simulated platform.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context as _;
use attest::platform::VendorCa;
use enclave_platform::files::{write_atomic, Visibility};
use enclave_platform::{InitOptions, Platform};

pub use super::home::HomeArg;
use super::io::{read_private_key, read_text};
use super::ForceArg;

#[derive(Debug, clap::Subcommand)]
pub enum PlatformCommand {
    /// Create a platform: a vendor root (or the fleet's), an attestation key and certificate,
    /// and the platform secret.
    Init(InitArgs),
    /// Show the platform's identity and certificates.
    Show(ShowArgs),
    /// Move the platform to a higher TCB level (TCB recovery): new secrets from the vendor
    /// key, a new attestation certificate; data sealed before stays readable.
    Upgrade(UpgradeArgs),
    /// Print (or write) the vendor root certificate that verifiers pin.
    ExportRoot(ExportRootArgs),
    /// Show the monotonic counters that protect enclave stores against rollback.
    Counters(super::storage::CountersArgs),
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    #[command(flatten)]
    home: HomeArg,
    /// A name for this platform (in its certificate's subject).
    #[arg(long, default_value = "enclave-platform")]
    name: String,
    /// The platform's TCB (firmware security) level, 0–1023, certified in its certificate.
    #[arg(long, default_value_t = 1)]
    tcb: u32,
    /// The fleet's vendor root key (PKCS#8 PEM), to join a fleet that shares one root; refused if
    /// group or others can access it.
    #[arg(long, requires = "vendor_cert", value_name = "FILE")]
    vendor_key: Option<PathBuf>,
    /// The fleet's vendor root certificate (PEM).
    #[arg(long, requires = "vendor_key", value_name = "FILE")]
    vendor_cert: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct UpgradeArgs {
    #[command(flatten)]
    home: HomeArg,
    /// The new TCB level, above the current one.
    #[arg(long)]
    tcb: u32,
    /// The vendor root key (PKCS#8 PEM) that certified this platform [default: the home's own
    /// vendor-root.key, for a platform that made its own root]; refused if group or others can
    /// access it.
    #[arg(long, value_name = "FILE")]
    vendor_key: Option<PathBuf>,
    /// The vendor root certificate (PEM) [default: the home's vendor-root.pem].
    #[arg(long, requires = "vendor_key", value_name = "FILE")]
    vendor_cert: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    home: HomeArg,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ExportRootArgs {
    #[command(flatten)]
    home: HomeArg,
    /// Write to this file instead of standard output.
    #[arg(long, short, visible_alias = "out", value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    force: ForceArg,
}

pub fn platform(command: &PlatformCommand) -> anyhow::Result<()> {
    match command {
        PlatformCommand::Init(args) => init(args),
        PlatformCommand::Show(args) => show(args),
        PlatformCommand::Upgrade(args) => upgrade(args),
        PlatformCommand::ExportRoot(args) => export_root(args),
        PlatformCommand::Counters(args) => super::storage::counters(args),
    }
}

fn init(args: &InitArgs) -> anyhow::Result<()> {
    let home = args.home.resolve()?;
    let vendor = match (&args.vendor_key, &args.vendor_cert) {
        (Some(key), Some(cert)) => {
            let key_pem = read_private_key(key, "vendor root key")?;
            let cert_pem = read_text(cert, "vendor certificate")?;
            Some(
                VendorCa::from_pem(&key_pem, &cert_pem)
                    .with_context(|| format!("cannot use vendor key {}", key.display()))?,
            )
        }
        _ => None,
    };
    let fleet = vendor.is_some();
    let options = InitOptions {
        name: args.name.clone(),
        tcb: args.tcb,
        vendor,
    };
    let platform = Platform::init(&home, options, SystemTime::now())?;
    let root_key = (!fleet).then(|| home.join(enclave_platform::file::ROOT_KEY));
    if args.json {
        let mut json = platform_json(&platform);
        if let Some(fields) = json.as_object_mut() {
            let key = root_key.as_ref().map(|k| k.display().to_string());
            fields.insert("vendor_root_key".into(), key.into());
        }
        println!("{json:#}");
        return Ok(());
    }
    println!("platform created in {}", home.display());
    print_platform(&platform);
    if let Some(key) = root_key {
        println!(
            "vendor root key: {} (mode 0600; use it with --vendor-key to add platforms to this fleet)",
            key.display()
        );
    }
    Ok(())
}

fn upgrade(args: &UpgradeArgs) -> anyhow::Result<()> {
    let home = args.home.resolve()?;
    if !home.join(enclave_platform::file::CONFIG).exists() {
        return Err(enclave_platform::PlatformError::NotFound(home).into());
    }
    let key = args
        .vendor_key
        .clone()
        .unwrap_or_else(|| home.join(enclave_platform::file::ROOT_KEY));
    let cert = args
        .vendor_cert
        .clone()
        .unwrap_or_else(|| home.join(enclave_platform::file::ROOT_CERT));
    if args.vendor_key.is_none() && !key.exists() {
        return Err(super::exit::usage(format!(
            "this platform belongs to a fleet ({} holds no vendor root key): give the fleet's key \
             with --vendor-key",
            home.display()
        )));
    }
    let key_pem = read_private_key(&key, "vendor root key")?;
    let cert_pem = read_text(&cert, "vendor certificate")?;
    let vendor = VendorCa::from_pem(&key_pem, &cert_pem)
        .with_context(|| format!("cannot use vendor key {}", key.display()))?;
    let before = Platform::open(&home).ok().map(|p| p.tcb());
    let platform = Platform::upgrade(&home, &vendor, args.tcb, SystemTime::now())
        .with_context(|| format!("cannot upgrade the platform in {}", home.display()))?;
    if args.json {
        let mut json = platform_json(&platform);
        if let Some(fields) = json.as_object_mut() {
            fields.insert("previous_tcb".into(), before.into());
        }
        println!("{json:#}");
        return Ok(());
    }
    match before {
        Some(tcb) => println!("platform upgraded from TCB {tcb} to TCB {}", platform.tcb()),
        None => println!("platform upgrade to TCB {} completed", platform.tcb()),
    }
    print_platform(&platform);
    println!(
        "data sealed at earlier levels still opens; new data is sealed at TCB {}, which a copy of \
         this home from before the upgrade cannot open",
        platform.tcb()
    );
    Ok(())
}

/// The JSON of `platform show` and `platform init`.
fn platform_json(platform: &Platform) -> serde_json::Value {
    serde_json::json!({
        "home": platform.home().display().to_string(),
        "name": platform.name(),
        "platform_id": platform.platform_id().to_string(),
        "tcb": platform.tcb(),
        "root_sha256": root_fingerprint(platform),
    })
}

fn print_platform(platform: &Platform) {
    println!("name:        {}", platform.name());
    println!("platform id: {}", platform.platform_id());
    println!("tcb:         {}", platform.tcb());
    println!("root sha256: {}", root_fingerprint(platform));
}

fn root_fingerprint(platform: &Platform) -> String {
    let root = platform
        .attestation()
        .chain()
        .last()
        .cloned()
        .unwrap_or_default();
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&root))
}

fn show(args: &ShowArgs) -> anyhow::Result<()> {
    let platform = args.home.open()?;
    if args.json {
        println!("{:#}", platform_json(&platform));
    } else {
        println!("home:        {}", platform.home().display());
        print_platform(&platform);
    }
    Ok(())
}

fn export_root(args: &ExportRootArgs) -> anyhow::Result<()> {
    let platform = args.home.open()?;
    match &args.output {
        Some(path) => write_public(path, platform.root_pem().as_bytes(), args.force),
        None => {
            print!("{}", platform.root_pem());
            Ok(())
        }
    }
}

pub fn write_public(path: &Path, bytes: &[u8], force: ForceArg) -> anyhow::Result<()> {
    write_atomic(path, bytes, Visibility::Public, force.overwrite())
        .with_context(|| format!("cannot write {}", path.display()))
}

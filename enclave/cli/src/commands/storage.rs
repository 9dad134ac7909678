//! `enclave unseal` (debug enclaves only) and `enclave platform counters`: look inside sealed
//! data and the rollback counters, for developers.

use std::path::PathBuf;

use anyhow::Context as _;
use attest::bundle::MAX_BUNDLE_BYTES;
use enclave_platform::files::{write_atomic, Visibility};
use enclave_platform::store::{self, Inspection, StoreId, StorePaths};
use sealer::KeyPolicy;

use super::home::HomeArg;
use super::io::read_capped;
use super::ForceArg;

#[derive(Debug, clap::Args)]
pub struct UnsealArgs {
    /// A sealed blob or a sealed store file [default: the enclave's own store].
    blob: Option<PathBuf>,
    /// The bundle of the debug enclave the data belongs to.
    #[arg(long, value_name = "FILE")]
    bundle: PathBuf,
    /// Write a blob's plaintext to this file (mode 0600) instead of standard output.
    #[arg(long, short, visible_alias = "out", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print JSON (bytes in hex).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    home: HomeArg,
    #[command(flatten)]
    force: ForceArg,
}

#[derive(Debug, clap::Args)]
pub struct CountersArgs {
    #[command(flatten)]
    home: HomeArg,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn unseal(args: &UnsealArgs) -> anyhow::Result<()> {
    let bundle = read_capped(&args.bundle, MAX_BUNDLE_BYTES as u64, "bundle")?;
    let bundle = attest::bundle::verify(&bundle)
        .with_context(|| format!("refusing to load {}", args.bundle.display()))?;
    let platform = args.home.open()?;
    let path = match &args.blob {
        Some(path) => path.clone(),
        None => {
            let id = StoreId::of(&platform.bundle_identity(&bundle));
            StorePaths::new(platform.home(), &id).state
        }
    };
    let inspection = store::inspect(&platform, &bundle, &path)
        .with_context(|| format!("cannot unseal {}", path.display()))?;
    match inspection {
        Inspection::Blob(opened) => print_blob(args, &opened),
        Inspection::State { state, counter } => {
            print_state(args.json, &state, counter);
            Ok(())
        }
        _ => anyhow::bail!("unknown kind of sealed data"),
    }
}

fn print_blob(args: &UnsealArgs, opened: &sealer::blob::Unsealed) -> anyhow::Result<()> {
    if args.json {
        let json = serde_json::json!({
            "kind": "sealed blob",
            "policy": describe(&opened.policy),
            "aad": hex::encode(&opened.aad),
            "plaintext": hex::encode(opened.plaintext.as_slice()),
        });
        println!("{json:#}");
        return Ok(());
    }
    eprintln!("policy:    {}", describe(&opened.policy));
    eprintln!(
        "aad:       {}",
        String::from_utf8_lossy(&opened.aad).escape_debug()
    );
    eprintln!("plaintext: {} bytes", opened.plaintext.len());
    match &args.output {
        Some(path) => write_atomic(
            path,
            &opened.plaintext,
            Visibility::Secret,
            args.force.overwrite(),
        )
        .with_context(|| format!("cannot write {}", path.display())),
        None => {
            use std::io::Write as _;
            std::io::stdout().write_all(&opened.plaintext)?;
            Ok(())
        }
    }
}

fn print_state(json: bool, state: &store::StoreState, counter: u64) {
    if json {
        let entries: serde_json::Map<String, serde_json::Value> = state
            .entries
            .iter()
            .map(|(k, v)| (hex::encode(k), hex::encode(v.as_slice()).into()))
            .collect();
        let json = serde_json::json!({
            "kind": "sealed store state",
            "version": state.version,
            "counter": counter,
            "entries": entries,
        });
        println!("{json:#}");
        return;
    }
    println!("version: {} (platform counter {counter})", state.version);
    println!("entries: {}", state.entries.len());
    for (key, value) in &state.entries {
        println!(
            "  {} = {}",
            String::from_utf8_lossy(key).escape_debug(),
            String::from_utf8_lossy(value).escape_debug()
        );
    }
}

fn describe(policy: &KeyPolicy) -> String {
    match policy {
        KeyPolicy::Measurement(m) => format!("measurement {m}"),
        KeyPolicy::Signer {
            signer,
            product_id,
            svn,
        } => format!("signer {signer}, product {product_id}, svn {svn}"),
    }
}

pub fn counters(args: &CountersArgs) -> anyhow::Result<()> {
    let platform = args.home.open()?;
    let counters = store::counters(platform.home())?;
    if args.json {
        let list: Vec<_> = counters
            .iter()
            .map(|c| {
                serde_json::json!({
                    "store": c.id.to_string(),
                    "counter": c.counter.as_ref().ok(),
                    "state_version": c.state_version.as_ref().ok().copied().flatten(),
                    "status": c.verdict(),
                })
            })
            .collect();
        println!("{:#}", serde_json::Value::Array(list));
        return Ok(());
    }
    if counters.is_empty() {
        println!("no counters in {}", platform.home().display());
    }
    for c in &counters {
        let counter = c.counter.as_ref().map_or_else(Clone::clone, u64::to_string);
        let state = match &c.state_version {
            Ok(Some(v)) => v.to_string(),
            Ok(None) => "none".into(),
            Err(e) => e.clone(),
        };
        println!(
            "{}  counter {counter}  state {state}  {}",
            c.id,
            c.verdict()
        );
    }
    Ok(())
}

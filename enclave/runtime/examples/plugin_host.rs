//! A plugin host in a few dozen lines (`docs/embedding.md`): one shared engine, an allow-list of
//! signers, host caps on the author's limits, one host function, a call by export name, a
//! runaway call cancelled from another thread, and attestation evidence of which plugin ran,
//! verified as a relying party would. Run with `cargo run -p enclave-runtime --example
//! plugin_host`.
#![allow(
    clippy::print_stdout,
    reason = "an example program reports what it did"
)]

use std::error::Error;
use std::time::SystemTime;

use attest::{bundle, AuthorKey, Manifest, VerifierPolicy};
use enclave_platform::MemoryPlatform;
use enclave_runtime::{
    CancelHandle, EngineConfig, HostFunctions, HostPolicy, Loader, RunError, RunOptions,
    SharedEngine,
};

/// The plugin: `greet` asks the host's `lookup` about its input and writes the answer;
/// `spin` never returns.
const PLUGIN: &str = r#"(module
  (import "enclave_v1" "read_input" (func $read (param i32 i32) (result i32)))
  (import "enclave_v1" "write_output" (func $write (param i32 i32) (result i32)))
  (import "enclave_host" "lookup" (func $lookup (param i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 1)
  (func (export "enclave_main"))
  (func (export "greet") (local $n i32)
    (local.set $n (call $read (i32.const 0) (i32.const 256)))
    (local.set $n (i32.wrap_i64 (call $lookup (i32.const 0) (local.get $n) (i32.const 512) (i32.const 256))))
    (drop (call $write (i32.const 512) (local.get $n))))
  (func (export "spin") (loop (br 0))))"#;

fn main() -> Result<(), Box<dyn Error>> {
    // The plugin's author signs a bundle (normally elsewhere, with `enclave sign`).
    let author = AuthorKey::generate()?;
    let manifest = Manifest::from_toml("product_id = 1\nsvn = 1\ndebug = false\n")?;
    let bundle = bundle::sign(&author, &manifest, &wat::parse_str(PLUGIN)?)?;

    // The host: one engine for every plugin, whose signers it trusts, how far it lets them go,
    // and what they may call.
    let engine = SharedEngine::new(EngineConfig {
        pool_slots: 4,
        ..EngineConfig::default()
    })?;
    let lookup = HostFunctions::new().define("lookup", |key| match key {
        b"world" => Ok(b"hello, Earth".to_vec()),
        _ => Ok(b"hello, stranger".to_vec()),
    });
    let loader = Loader::new(&[author.public_key().signer_id()])
        .engine(&engine)
        .policy(
            HostPolicy::new()
                .timeout_ms(5_000)
                .max_output_bytes(1 << 20),
        )
        .host_functions(lookup);
    let plugin = loader.load(&bundle)?;

    // A call by name: bytes in, bytes out.
    let answer = plugin.call("greet", b"world", None, &RunOptions::new())?;
    println!("greet(world) = {}", String::from_utf8_lossy(&answer));

    // A runaway call, cancelled from another thread.
    let cancel = CancelHandle::new();
    let options = RunOptions::new().cancel(&cancel);
    let spun = std::thread::scope(|scope| {
        let run = scope.spawn(|| plugin.call("spin", b"", None, &options));
        cancel.cancel();
        run.join()
    });
    match spun {
        Ok(Err(RunError::Cancelled)) => println!("spin: cancelled"),
        other => return Err(format!("spin was not cancelled: {other:?}").into()),
    }

    // Evidence of which plugin this host runs, checked by a relying party against the
    // platform's root (here a platform in memory; `enclave_platform::Platform` on disk).
    let platform = MemoryPlatform::generate("plugin-host", 1, SystemTime::now())?;
    let nonce = b"the relying party's nonce".to_vec();
    let evidence = platform.attest(&plugin, &nonce, b"", SystemTime::now())?;
    let policy = VerifierPolicy::from_pem_roots(platform.root_pem())?
        .measurement(plugin.measurement())
        .signer(author.public_key().signer_id())
        .nonce(nonce);
    let verified = attest::verify(&evidence, &policy, SystemTime::now())?;
    println!("verified: plugin {} ran", verified.measurement());
    Ok(())
}

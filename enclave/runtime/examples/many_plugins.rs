//! Loads N distinct small plugins (default 10,000) on one [`SharedEngine`] and reports the
//! process's address space and resident memory before and after, and the load time: the
//! figure in `docs/performance.md`, "Many plugins". Each plugin is a different module (its own
//! data segment), so each is compiled. Run with
//! `cargo run --release -p enclave-runtime --example many_plugins -- 10000`.
#![allow(
    clippy::print_stdout,
    reason = "an example program reports what it measured"
)]

use std::error::Error;
use std::time::Instant;

use attest::{bundle, AuthorKey, Manifest};
use enclave_runtime::{EngineConfig, Input, Loader, SharedEngine};

/// A plugin that writes its own number.
fn plugin(n: usize) -> String {
    format!(
        r#"(module
          (import "enclave_v1" "write_output" (func $write (param i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 16) "plugin {n:08}")
          (func (export "enclave_main") (drop (call $write (i32.const 16) (i32.const 15)))))"#
    )
}

/// A line of `/proc/self/status` (`VmSize`, `VmRSS`), in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn Error>> {
    let count: usize = std::env::args().nth(1).map_or(Ok(10_000), |n| n.parse())?;
    let author = AuthorKey::generate()?;
    let manifest = Manifest::from_toml("product_id = 1\nsvn = 1\ndebug = false\n")?;
    let config = EngineConfig {
        pool_slots: 8,
        ..EngineConfig::default()
    };
    let before = (status_kib("VmSize"), status_kib("VmRSS"));
    let engine = SharedEngine::new(config)?;
    let engine_only = status_kib("VmSize");
    let loader = Loader::new(&[author.public_key().signer_id()]).engine(&engine);
    let started = Instant::now();
    let mut plugins = Vec::with_capacity(count);
    for n in 0..count {
        let bundle = bundle::sign(&author, &manifest, &wat::parse_str(plugin(n))?)?;
        plugins.push(loader.load(&bundle)?);
    }
    let loading = started.elapsed();
    let last = plugins.last().ok_or("no plugins")?;
    let output = last
        .run(Input::from_bytes(Vec::new()), Vec::new(), None)?
        .output;
    let gib = |kib: u64| kib as f64 / (1u64 << 20) as f64;
    println!(
        "plugins loaded: {count} on one engine of {} slots",
        config.pool_slots
    );
    println!("last plugin says: {}", String::from_utf8_lossy(&output));
    println!(
        "load time: {loading:.1?} ({:.0?} per plugin)",
        loading / count.max(1) as u32
    );
    println!(
        "address space: {:.2} GiB before, {:.2} GiB with the engine, {:.2} GiB with the plugins",
        gib(before.0),
        gib(engine_only),
        gib(status_kib("VmSize"))
    );
    println!(
        "resident: {:.0} MiB before, {:.0} MiB with the plugins",
        before.1 as f64 / 1024.0,
        status_kib("VmRSS") as f64 / 1024.0
    );
    Ok(())
}

//! What compiling in the budgeted child process costs over compiling in process, on a cold load
//! (no code cache): `Enclave::load_with` of the same bundle both ways, alternating, `ROUNDS`
//! times each, medians printed (docs/performance.md, "Compile budget"). The child is the
//! `enclave` binary's hidden `compile-sandbox` subcommand.
//!
//! ```text
//! cargo build -p enclave-cli --example compile_isolation -p enclave-platform
//! target/debug/examples/compile_isolation target/debug/enclave app.wasm [more.wasm ...]
//! ```
//!
//! Each module is signed as a WASI guest (`kind = "wasi"`) under a fresh key.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a measuring tool: a failure is a panic"
)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use attest::{AuthorKey, Manifest};
use enclave_platform::compiler::{ChildCompiler, CompileBudget};
use enclave_runtime::{Compilation, Enclave};

const ROUNDS: usize = 7;
const MANIFEST: &str = "product_id = 1\nsvn = 1\ndebug = false\nkind = \"wasi\"\n\
    [limits]\nfuel = 0\nmemory_bytes = 268435456\n";

fn main() {
    let mut args = std::env::args().skip(1);
    let program = PathBuf::from(args.next().expect("the enclave binary"));
    let compiler = ChildCompiler::new(
        program,
        vec!["compile-sandbox".into()],
        CompileBudget::default(),
        None,
    );
    let manifest = Manifest::from_toml(MANIFEST).unwrap();
    let key = AuthorKey::generate().unwrap();
    println!("module\tbytes\tin-process ms\tisolated ms\toverhead ms\toverhead %");
    for path in args {
        let module = std::fs::read(&path).unwrap();
        let bundle = attest::bundle::sign(&key, &manifest, &module).unwrap();
        let (mut local, mut isolated) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            local.push(time(|| load(&bundle, Compilation::InProcess)));
            isolated.push(time(|| load(&bundle, Compilation::Isolated(&compiler))));
        }
        let (local, isolated) = (median(local), median(isolated));
        let overhead = isolated.as_secs_f64() - local.as_secs_f64();
        println!(
            "{path}\t{}\t{:.1}\t{:.1}\t{:.1}\t{:.1}",
            module.len(),
            local.as_secs_f64() * 1e3,
            isolated.as_secs_f64() * 1e3,
            overhead * 1e3,
            overhead / local.as_secs_f64() * 100.0
        );
    }
}

fn load(bundle: &[u8], compilation: Compilation<'_>) {
    Enclave::load_with(bundle, enclave_runtime::Signers::Any, None, compilation).unwrap();
}

fn time(f: impl FnOnce()) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

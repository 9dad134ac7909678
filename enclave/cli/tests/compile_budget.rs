//! The compile budget through the `enclave` binary: modules whose compilation costs more than the
//! budget are stopped at it (exit 4, the budget named, CPU and memory read from the child's
//! rusage), and real programs sign and run with the output `wasmtime run` gives
//! (docs/testing.md, "Compile cost" and "Real programs"). Budgets here are small (2 CPU-s, 256
//! MiB), so each stopped case costs about 2 CPU-seconds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is a failing test"
)]

mod common;

use std::fmt::Write as _;
use std::path::PathBuf;

use common::Dir;

const WASI_MANIFEST: &str = "product_id = 1\nsvn = 1\ndebug = false\nkind = \"wasi\"\n\
    [limits]\nfuel = 0\ntimeout_ms = 60000\nmemory_bytes = 268435456\n";

/// A WASI command whose functions each hold `per_function` `call_indirect`s (5 bytes each:
/// 26,214 fill a 128 KiB body) and `locals` locals. Each becomes a lazy table-initialisation
/// check in cranelift: the cost grows with the square of their number in one function.
fn call_indirects(functions: usize, per_function: usize, locals: usize) -> String {
    let mut wat =
        String::from("(module (type $t (func)) (table 1 funcref) (memory (export \"memory\") 1)\n");
    let locals = if locals == 0 {
        String::new()
    } else {
        format!("(local {})", " i32".repeat(locals))
    };
    for f in 0..functions {
        write!(wat, "(func $f{f} {locals}").unwrap();
        wat.push_str(&"(call_indirect (type $t) (i32.const 0))".repeat(per_function));
        wat.push_str(")\n");
    }
    wat.push_str("(func (export \"_start\") (call $f0)))");
    wat
}

/// A platform and `module` as `app.wasm`, with the WASI manifest.
fn with_module(wat: &str) -> Dir {
    let d = Dir::new();
    d.write("wasi.toml", WASI_MANIFEST.as_bytes());
    d.ok(&["keygen", "--out", "author.key"]);
    d.wat("app.wasm", wat);
    d
}

fn sign_args<'a>(budget: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "sign",
        "--key",
        "author.key",
        "--manifest",
        "wasi.toml",
        "app.wasm",
        "-o",
        "app.enclave",
    ];
    args.extend_from_slice(budget);
    args
}

/// Checks `stderr` names the budget, and that the CPU time the child's rusage reports is within
/// the budget's reach (the kernel stopped it there, not anything later).
#[track_caller]
fn assert_stopped(stderr: &str, budget: &str, most_ms: u64) {
    assert!(
        stderr.contains(&format!("compilation stopped at its {budget}")),
        "{stderr}"
    );
    let used: u64 = stderr
        .split("used ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no CPU time in {stderr}"));
    // The soft CPU limit stops it at the budget, the hard one a second later at the latest.
    assert!(used <= most_ms, "used {used} CPU-ms: {stderr}");
}

#[test]
fn call_indirects_in_128_kib_bodies_are_stopped_at_the_cpu_budget() {
    // 65,536 call_indirects in 128 KiB bodies took 40 CPU-s (54 with 1,000 locals each).
    for locals in [0, 1_000] {
        let d = with_module(&call_indirects(3, 21_845, locals));
        let stderr = d.fails(4, &sign_args(&["--compile-cpu-seconds", "2"]));
        assert_stopped(&stderr, "cpu budget of 2 CPU-seconds", 3_100);
        assert!(!d.path("app.enclave").exists());
    }
}

/// LEB128 of `n`.
fn leb(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn section(id: u8, body: &[u8]) -> Vec<u8> {
    [&[id][..], &leb(body.len() as u64), body].concat()
}

/// A WASI-shaped module of `count` copies of the function `body` (its locals and code), type
/// `() -> ()`, exporting `memory` and `_start` (the first function).
fn module_of(body: &[u8], count: u64) -> Vec<u8> {
    let sized = [leb(body.len() as u64), body.to_vec()].concat();
    let exports = [&[2, 6][..], b"memory", &[2, 0, 6], b"_start", &[0, 0]].concat();
    [
        &b"\0asm\x01\0\0\0"[..],
        &section(1, &[1, 0x60, 0, 0]),
        &section(3, &[leb(count), vec![0; count as usize]].concat()),
        &section(5, &[1, 0, 1]),
        &section(7, &exports),
        &section(10, &[leb(count), sized.repeat(count as usize)].concat()),
    ]
    .concat()
}

#[test]
fn deep_nesting_is_stopped_at_the_cpu_budget() {
    // 2.4 M nested blocks (150 functions 16,000 deep, under the nesting bound): 2.5 M took 47 s
    // and 4.5 GB before the static limits.
    let depth = 16_000;
    let nested = [
        &[0][..],
        &[0x02, 0x40].repeat(depth),
        &[0x0b].repeat(depth),
        &[0x0b],
    ]
    .concat();
    let d = with_module("(module)");
    d.write("app.wasm", &module_of(&nested, 150));
    let stderr = d.fails(4, &sign_args(&["--compile-cpu-seconds", "2"]));
    assert_stopped(&stderr, "cpu budget of 2 CPU-seconds", 3_100);
}

#[test]
fn a_compilation_past_the_memory_budget_is_stopped_there() {
    let d = with_module(&call_indirects(1, 26_214, 0));
    let stderr = d.fails(
        4,
        &sign_args(&["--compile-cpu-seconds", "60", "--compile-memory", "256M"]),
    );
    assert!(
        stderr.contains("compilation stopped at its memory budget of 256 MiB of address space"),
        "{stderr}"
    );
}

#[test]
fn the_budget_applies_to_run_and_inspect_too() {
    // Signed under the default budget (13,107 call_indirects: seconds), then loaded under one
    // CPU-second: refused at load, before anything runs.
    let d = with_module(&call_indirects(1, 13_107, 0));
    d.ok(&sign_args(&[]));
    d.ok(&["platform", "init"]);
    let small = ["--compile-cpu-seconds", "1"];
    let run = [&["run", "app.enclave", "-i", "/dev/null"][..], &small].concat();
    let stderr = d.fails(4, &run);
    assert!(stderr.contains("refusing to load app.enclave"), "{stderr}");
    assert_stopped(&stderr, "cpu budget of 1 CPU-seconds", 2_100);
    let inspect = [&["inspect", "app.enclave"][..], &small].concat();
    let stderr = d.fails(4, &inspect);
    assert_stopped(&stderr, "cpu budget of 1 CPU-seconds", 2_100);
}

#[test]
fn budgets_that_cannot_hold_a_compiler_are_usage_errors() {
    let d = with_module(&call_indirects(1, 1, 0));
    let stderr = d.fails(2, &sign_args(&["--compile-cpu-seconds", "0"]));
    assert!(stderr.contains("at least 1 second"), "{stderr}");
    let stderr = d.fails(2, &sign_args(&["--compile-memory", "1M"]));
    assert!(stderr.contains("below the minimum"), "{stderr}");
}

#[test]
fn an_invalid_module_is_refused_with_the_compilers_reason() {
    let d = with_module(&call_indirects(1, 1, 0));
    d.write(
        "app.wasm",
        b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0\x03\x02\x01\0\x0a\x04\x01\x02\0\x6a",
    );
    let stderr = d.fails(4, &sign_args(&[]));
    assert!(stderr.contains("invalid wasm module"), "{stderr}");
}

fn program(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/programs")
        .join(path)
}

#[test]
fn sqlite_at_o2_and_os_signs_and_runs_as_under_wasmtime_run() {
    let query = std::fs::read(program("sqlite/query.sql")).unwrap();
    let expected = std::fs::read_to_string(program("sqlite/query.expected")).unwrap();
    let d = Dir::new();
    d.write("wasi.toml", WASI_MANIFEST.as_bytes());
    d.write("query.sql", &query);
    d.ok(&["keygen", "--out", "author.key"]);
    d.ok(&["platform", "init"]);
    for level in ["O2", "Os"] {
        let module = program(&format!("sqlite/sqlite-{level}.wasm"));
        d.ok(&[
            "sign",
            "--key",
            "author.key",
            "--manifest",
            "wasi.toml",
            module.to_str().unwrap(),
            "-o",
            "sqlite.enclave",
            "--force",
        ]);
        // Cold (compiled in the sandbox), then warm (from the cache).
        for _ in 0..2 {
            let output = d.ok(&["run", "sqlite.enclave", "-i", "query.sql"]);
            assert_eq!(output, expected, "sqlite -{level}");
        }
    }
}

#[test]
fn quickjs_signs_and_runs_as_under_wasmtime_run() {
    let program_js = std::fs::read(program("quickjs/program.js")).unwrap();
    let expected = std::fs::read_to_string(program("quickjs/program.expected")).unwrap();
    let d = Dir::new();
    d.write("wasi.toml", WASI_MANIFEST.as_bytes());
    d.write("program.js", &program_js);
    d.ok(&["keygen", "--out", "author.key"]);
    let module = program("quickjs/quickjs-O2.wasm");
    d.ok(&[
        "sign",
        "--key",
        "author.key",
        "--manifest",
        "wasi.toml",
        module.to_str().unwrap(),
        "-o",
        "quickjs.enclave",
    ]);
    let output = d.ok(&["run", "quickjs.enclave", "-i", "program.js"]);
    assert_eq!(output, expected);
}

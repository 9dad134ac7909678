//! Real programs that earlier static limits refused (issue 28): ordinary release builds load and
//! run with the output `wasmtime run` gives (recorded with tests/programs/reference.py). The
//! isolated, budgeted compilation of the same programs is tested through the `enclave` binary
//! (enclave/cli/tests/compile_budget.rs); here they compile in process.

use enclave_tests::guests::WASI_JSON_REGEX;

use crate::{load, run};

const WASI: &str =
    "kind = \"wasi\"\n[limits]\nfuel = 0\ntimeout_ms = 60000\nmemory_bytes = 268435456\n";

fn program(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("programs")
        .join(path)
}

#[test]
fn a_rust_program_at_opt_level_3_with_regex_and_serde_json() {
    let input = std::fs::read(program("json-regex/input.json")).unwrap();
    let expected = std::fs::read_to_string(program("json-regex/expected.json")).unwrap();
    // Rust std's HashMap (regex uses one) seeds itself from `random_get`.
    let manifest = WASI.replace("[limits]", "capabilities = [\"random\"]\n[limits]");
    let output = run(&load(WASI_JSON_REGEX, &manifest), &input).unwrap();
    assert_eq!(String::from_utf8(output).unwrap(), expected);
}

#[test]
fn sqlite_at_o2_and_os() {
    let query = std::fs::read(program("sqlite/query.sql")).unwrap();
    let expected = std::fs::read_to_string(program("sqlite/query.expected")).unwrap();
    for level in ["O2", "Os"] {
        let module = std::fs::read(program(&format!("sqlite/sqlite-{level}.wasm"))).unwrap();
        let output = run(&load(&module, WASI), &query).unwrap();
        assert_eq!(String::from_utf8(output).unwrap(), expected, "-{level}");
    }
}

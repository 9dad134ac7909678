//! What a guest says when it fails — its abort or panic message, which guests fill with input
//! data — reaches the requester, sealed, and never the operator of a production enclave: not
//! its terminal, not `--json`, not a file it keeps, not the receipt (`docs/threat-model.md`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use common::{sealed_to, Dir};

/// The confidential input; the guest quotes it in its abort message.
const SECRET: &str = "salary=SECRET-launch-code-0000";
/// What the operator must never see: any long enough piece of the input.
const NEEDLE: &str = "launch-code";

/// A guest that fails the way the SDK's `Result<(), String>` invites: it aborts with
/// `bad salary: <its input>`.
const QUOTING: &str = r#"(module
    (import "enclave_v1" "read_input" (func $read (param i32 i32) (result i32)))
    (import "enclave_v1" "abort" (func $abort (param i32 i32)))
    (memory (export "memory") 1)
    (data (i32.const 1012) "bad salary: ")
    (func (export "enclave_main")
        (local $n i32)
        (local.set $n (call $read (i32.const 1024) (i32.const 4096)))
        (call $abort (i32.const 1012) (i32.add (i32.const 12) (local.get $n)))))"#;

fn setup(debug: bool) -> Dir {
    let d = Dir::new();
    d.write(
        "enclave.toml",
        format!("product_id = 1\nsvn = 1\ndebug = {debug}\n[limits]\nfuel = 1000000\n").as_bytes(),
    );
    d
}

fn assert_withheld(what: &str, bytes: &[u8]) {
    assert!(
        !bytes.windows(NEEDLE.len()).any(|w| w == NEEDLE.as_bytes()),
        "the guest's words reached the operator in {what}: {}",
        String::from_utf8_lossy(bytes)
    );
}

#[test]
fn a_production_guests_words_reach_only_the_requester() {
    let d = setup(false);
    sealed_to(&d, QUOTING, "secret.txt", SECRET.as_bytes());
    let out = d.enclave(&[
        "run",
        "app.enclave",
        "--input",
        "input.sealed",
        "--output",
        "output.sealed",
        "--receipt",
        "receipt.cbor",
    ]);
    assert_eq!(out.status.code(), Some(5));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("guest aborted: <message withheld"),
        "{stderr}"
    );
    assert_withheld("stdout", &out.stdout);
    assert_withheld("stderr", stderr.as_bytes());
    // Everything the operator keeps: the sealed failure report, the receipt, the platform.
    for file in ["output.sealed", "receipt.cbor", "input.sealed"] {
        assert_withheld(file, &std::fs::read(d.path(file)).unwrap());
    }
    for entry in walk(&d.path("platform")) {
        assert_withheld(
            &entry.display().to_string(),
            &std::fs::read(&entry).unwrap(),
        );
    }

    // The requester opens the report: exit 5, and the guest's words on its own terminal.
    let stderr = d.fails(
        5,
        &[
            "open",
            "output.sealed",
            "--receipt",
            "receipt.cbor",
            "--context",
            "input.sealed.context",
            "--root",
            "root.pem",
            "-o",
            "result.txt",
        ],
    );
    // One message: the requester's own report, not the operator's redacted view beside it.
    assert_eq!(
        stderr,
        format!("error: the enclave's run failed: guest aborted: bad salary: {SECRET}\n")
    );
    assert!(!d.path("result.txt").exists());
}

#[test]
fn a_plaintext_run_of_a_production_guest_withholds_its_words_too() {
    let d = setup(false);
    d.signed(QUOTING);
    d.write("secret.txt", SECRET.as_bytes());
    let out = d.enclave(&["run", "app.enclave", "--input", "secret.txt"]);
    assert_eq!(out.status.code(), Some(5));
    assert_withheld("stdout", &out.stdout);
    assert_withheld("stderr", &out.stderr);
    assert!(String::from_utf8_lossy(&out.stderr).contains("<message withheld"));

    // Several inputs, with the JSON summary that lists each failure.
    d.write("other.txt", b"salary=another-launch-code");
    let out = d.enclave(&[
        "run",
        "app.enclave",
        "-i",
        "secret.txt",
        "-i",
        "other.txt",
        "-o",
        "a.out",
        "-o",
        "b.out",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(5));
    assert_withheld("stdout", &out.stdout);
    assert_withheld("stderr", &out.stderr);
    let summaries: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summaries.as_array().unwrap().len(), 2);
}

#[test]
fn a_debug_enclave_shows_its_guests_words_to_the_operator() {
    let d = setup(true);
    d.signed(QUOTING);
    d.write("secret.txt", SECRET.as_bytes());
    let stderr = d.fails(5, &["run", "app.enclave", "--input", "secret.txt"]);
    assert!(
        stderr.contains(&format!("guest aborted: bad salary: {SECRET}")),
        "{stderr}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

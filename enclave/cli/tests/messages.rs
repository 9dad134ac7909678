//! Messages a trial found wrong (issue 26, item 5), each asserted exactly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use std::process::{Command, Stdio};

use common::{attested, Dir, Listening, ECHO};

/// Puts "blue" under "colour" in its store.
const STORER: &str = r#"(module
    (import "enclave_v1" "store_put" (func $put (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) "colour")
    (data (i32.const 16) "blue")
    (func (export "enclave_main")
        (drop (call $put (i32.const 0) (i32.const 6) (i32.const 16) (i32.const 4)))))"#;

/// The smallest WASI command.
const WASI_NOTHING: &str = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;

#[test]
fn the_manifest_of_enclave_new_spells_out_every_limit() {
    let d = Dir::new();
    for kind in [&[][..], &["--wasi"][..]] {
        let _ = std::fs::remove_dir_all(d.path("p"));
        let mut args = vec!["new", "p"];
        args.extend_from_slice(kind);
        d.ok(&args);
        let text = std::fs::read_to_string(d.path("p/enclave.toml")).unwrap();
        let manifest: toml::Table = text.parse().unwrap();
        let mut limits: Vec<_> = manifest["limits"]
            .as_table()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        limits.sort();
        // Every field of attest::manifest::Limits.
        assert_eq!(
            limits,
            [
                "fuel",
                "max_input_bytes",
                "max_output_bytes",
                "memory_bytes",
                "stack_bytes",
                "timeout_ms"
            ]
        );
    }
}

/// The manifest's own limits agree with the signed envelope's cap: arguments that would not fit
/// in it are refused as a manifest error that names the limit and what to shrink.
#[test]
fn sign_names_the_envelope_limit_and_what_to_shrink() {
    let d = Dir::new();
    let args: Vec<String> = (0..10)
        .map(|_| format!("\"{}\"", "a".repeat(4000)))
        .collect();
    d.write(
        "enclave.toml",
        format!(
            "product_id = 1\nsvn = 1\ndebug = false\nkind = \"wasi\"\nargs = [{}]\n",
            args.join(", ")
        )
        .as_bytes(),
    );
    d.ok(&["keygen", "--out", "author.key"]);
    d.wat("app.wasm", WASI_NOTHING);
    let err = d.fails(
        4,
        &[
            "sign",
            "app.wasm",
            "--key",
            "author.key",
            "--manifest",
            "enclave.toml",
            "-o",
            "app.enclave",
        ],
    );
    assert_eq!(
        err,
        "error: in manifest enclave.toml: args: more than 32768 bytes in all: the signed \
         bundle envelope holds 64 KiB (65536 bytes) for the whole manifest, the signer's key \
         and the signature; shrink args\n"
    );
    assert!(!d.path("app.enclave").exists());
}

/// A store file whose redb magic is damaged is sealed data refused (exit 7), as a tampered
/// sealed file is, not an unclassified failure.
#[test]
fn a_store_with_damaged_magic_exits_7() {
    let d = Dir::new();
    d.write(
        "enclave.toml",
        b"product_id = 1\nsvn = 1\ndebug = true\ncapabilities = [\"store\"]\n",
    );
    d.ok(&["platform", "init"]);
    d.signed(STORER);
    d.write("empty", b"");
    d.ok(&["run", "app.enclave", "--input", "empty"]);
    let state = find_file(&d.path("platform").join("store"), "/state");
    let mut bytes = std::fs::read(&state).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&state, &bytes).unwrap();
    let err = d.fails(7, &["run", "app.enclave", "--input", "empty"]);
    assert!(
        err.ends_with("/state is malformed: Not a redb database: magic number mismatch\n"),
        "{err}"
    );
}

fn find_file(dir: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.push(find_file(&path, suffix));
        } else if path.display().to_string().ends_with(suffix) {
            found.push(path);
        }
    }
    found
        .into_iter()
        .find(|p| !p.as_os_str().is_empty())
        .unwrap_or_default()
}

#[test]
fn tls_messages_name_the_scheme_and_mismatches_show_expected_and_got() {
    let d = Dir::new();
    let m = attested(&d, ECHO);
    let served = Listening::start(
        &d,
        &["serve", "app.enclave", "--listen", "127.0.0.1:0", "--tls"],
    );
    let addr = served.url.trim_start_matches("https://").to_owned();
    let https = format!("https://{addr}");
    let http = format!("http://{addr}");
    let trust = ["--root", "root.pem", "--measurement", m.as_str()];

    // verify-tls takes a URL as well as HOST:PORT.
    for target in [addr.as_str(), https.as_str()] {
        let mut args = vec!["verify-tls", target];
        args.extend(trust);
        d.ok(&args);
    }
    let mut args = vec!["verify-tls", http.as_str()];
    args.extend(trust);
    let err = d.fails(2, &args);
    assert_eq!(
        err,
        format!(
            "error: attested TLS to {http} failed: {http} is not TLS: verify-tls checks a `serve --tls` server, given as \
             HOST:PORT or https://HOST:PORT\n"
        )
    );

    // call with http:// to a TLS port.
    d.write("in.txt", b"x");
    let mut args = vec!["call", http.as_str(), "-i", "in.txt", "-o", "out.txt"];
    args.extend(trust);
    let err = d.fails(1, &args);
    assert_eq!(
        err,
        format!(
            "error: confidential request to {http} failed: cannot reach the server: it speaks \
             TLS (`serve --tls`): use {https}\n"
        )
    );

    // Another measurement: what was expected and what the evidence says.
    let other = "ab".repeat(32);
    let err = d.fails(
        6,
        &[
            "call",
            https.as_str(),
            "--root",
            "root.pem",
            "--measurement",
            &other,
            "-i",
            "in.txt",
            "-o",
            "out.txt",
        ],
    );
    assert_eq!(
        err,
        format!(
            "error: confidential request to {https} failed: attested TLS refused: attestation \
             evidence refused: measurement mismatch: expected {other}, got {m}\n"
        )
    );
}

/// An auditor holding a receipt and a root checks it on its own: a successful run's, a failed
/// run's, one for another measurement, one altered.
#[test]
fn verify_receipt_shows_and_checks_a_receipt_on_its_own() {
    let d = Dir::new();
    let m = common::sealed_to(&d, ECHO, "plain.txt", b"audited");
    d.ok(&[
        "run",
        "app.enclave",
        "-i",
        "input.sealed",
        "-o",
        "output.sealed",
        "--receipt",
        "receipt.cbor",
    ]);
    let out = d.ok(&[
        "verify-receipt",
        "receipt.cbor",
        "--root",
        "root.pem",
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["measurement"], m);
    assert_eq!(json["outcome"], "success");
    assert_eq!(json["failure"], serde_json::Value::Null);
    let sealed = std::fs::read(d.path("output.sealed")).unwrap();
    assert_eq!(
        json["sealed_output_sha256"],
        hex_sha256(&sealed),
        "the receipt names the sealed output"
    );
    let out = d.ok(&[
        "verify-receipt",
        "receipt.cbor",
        "--root",
        "root.pem",
        "--measurement",
        &m,
    ]);
    assert!(out.contains("outcome:       success\n"), "{out}");

    let other = "cd".repeat(32);
    let err = d.fails(
        6,
        &[
            "verify-receipt",
            "receipt.cbor",
            "--root",
            "root.pem",
            "--measurement",
            &other,
        ],
    );
    assert_eq!(
        err,
        format!("error: receipt.cbor refused: measurement mismatch: expected {other}, got {m}\n")
    );
    // `inspect`, which takes bundles, says which command checks a receipt.
    let err = d.fails(3, &["inspect", "receipt.cbor"]);
    assert_eq!(
        err,
        "error: receipt.cbor is attestation evidence or an execution receipt, not a bundle: \
         check evidence with enclave verify, a receipt with enclave verify-receipt receipt.cbor \
         --root root.pem\n"
    );
    let mut bytes = std::fs::read(d.path("receipt.cbor")).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    d.write("evil.cbor", &bytes);
    let err = d.fails(
        6,
        &[
            "verify-receipt",
            "evil.cbor",
            "--root",
            "root.pem",
            "--json",
        ],
    );
    assert!(err.starts_with("error: evil.cbor refused: "), "{err}");
}

fn hex_sha256(bytes: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = out;
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

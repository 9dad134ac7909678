//! What a new user meets: errors that say what to do, one spelling for every flag, JSON from
//! every command that reports something, WASI exit codes, completions and manual pages, and
//! docs/cli.md in step with `--help`. Each refusal is asserted with its exact message and exit
//! code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use common::{attested, seal_args, Dir, ECHO, NONCE, OPEN};

fn sign_args(module: &str, output: &str) -> Vec<String> {
    [
        "sign",
        "--key",
        "author.key",
        "--manifest",
        "enclave.toml",
        module,
        "-o",
        output,
    ]
    .map(String::from)
    .to_vec()
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The keys of a JSON object, sorted.
fn keys(value: &serde_json::Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[test]
fn a_raw_wasm_module_is_refused_with_sign_it_first() {
    let d = Dir::new();
    d.wat("app.wasm", ECHO);
    let expect = "error: app.wasm is a wasm module, not a signed bundle: sign it first (enclave \
                  sign app.wasm --key author.key --manifest enclave.toml -o app.enclave)\n";
    assert_eq!(d.fails(3, &["run", "app.wasm"]), expect);
    assert_eq!(d.fails(3, &["inspect", "app.wasm"]), expect);
}

#[test]
fn manifest_syntax_errors_name_line_and_column() {
    let d = Dir::new();
    d.wat("app.wasm", ECHO);
    d.write("enclave.toml", b"product_id = 1\nsvn = 1\ndebug = flase\n");
    let err = d.fails(4, &["measure", "app.wasm", "--manifest", "enclave.toml"]);
    assert!(
        err.starts_with(
            "error: in manifest enclave.toml: invalid manifest: line 3, column 9: invalid string"
        ),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    d.write(
        "enclave.toml",
        b"product_id = 1\nsvn = 1\ndebug = false\n[limits]\nfule = 3\n",
    );
    let err = d.fails(4, &["measure", "app.wasm", "--manifest", "enclave.toml"]);
    assert!(
        err.starts_with(
            "error: in manifest enclave.toml: invalid manifest: line 5, column 1: unknown field \
             `fule`"
        ),
        "{err}"
    );
}

/// docs/cli.md: a bundle the runtime would refuse is never written — one whose memory starts
/// above `memory_bytes` included.
#[test]
fn sign_refuses_a_module_whose_memory_starts_above_memory_bytes() {
    let d = Dir::new();
    d.ok(&["keygen", "-o", "author.key"]);
    d.wat(
        "app.wasm",
        &ECHO.replace(
            "(memory (export \"memory\") 1)",
            "(memory (export \"memory\") 32)",
        ),
    );
    d.write(
        "enclave.toml",
        b"product_id = 1\nsvn = 1\ndebug = false\n[limits]\nmemory_bytes = 1048576\n",
    );
    let err = d.fails(4, &strs(&sign_args("app.wasm", "app.enclave")));
    assert_eq!(
        err,
        "error: the runtime would refuse this module: the module's memory starts at 2097152 \
         bytes, more than the manifest's limits.memory_bytes = 1048576: raise memory_bytes to at \
         least 2097152\n"
    );
    assert!(!d.path("app.enclave").exists());
}

#[test]
fn nonces_of_the_wrong_length_are_usage_errors() {
    let d = Dir::new();
    d.signed(ECHO);
    let err = d.fails(
        2,
        &["attest", "app.enclave", "--nonce", "abcd", "-o", "e.cbor"],
    );
    assert!(
        err.starts_with(
            "error: invalid value 'abcd' for '--nonce <HEX>': a nonce is 8 to 64 bytes (16 to \
             128 hex digits), this one is 2\n"
        ),
        "{err}"
    );
    let long = "ab".repeat(65);
    let err = d.fails(
        2,
        &["attest", "app.enclave", "--nonce", &long, "-o", "e.cbor"],
    );
    assert!(err.contains("this one is 65"), "{err}");
    let err = d.fails(
        2,
        &["attest", "app.enclave", "--nonce", "xyz", "-o", "e.cbor"],
    );
    assert!(err.contains("for '--nonce <HEX>': not hex"), "{err}");
    assert!(!d.path("e.cbor").exists());
}

/// Without a receipt the requester could never open the output: refused before anything runs.
#[test]
fn a_sealed_input_without_receipt_is_refused_up_front() {
    let d = Dir::new();
    common::sealed_to(&d, ECHO, "secret.txt", b"secret");
    let err = d.fails(
        2,
        &[
            "run",
            "app.enclave",
            "-i",
            "input.sealed",
            "-o",
            "output.sealed",
        ],
    );
    assert_eq!(
        err,
        "error: input.sealed is a sealed input: give --receipt FILE for the signed receipt, \
         without which the requester cannot open the output\n"
    );
    assert!(!d.path("output.sealed").exists());
    // With several inputs, nothing runs either: not even the plaintext one before it.
    d.write("plain.txt", b"plain");
    let err = d.fails(
        2,
        &[
            "run",
            "app.enclave",
            "-i",
            "plain.txt",
            "-i",
            "input.sealed",
            "-o",
            "a",
            "-o",
            "b",
        ],
    );
    assert!(
        err.starts_with("error: input.sealed is a sealed input"),
        "{err}"
    );
    assert!(!d.path("a").exists() && !d.path("b").exists());
}

#[test]
fn verify_shows_expected_and_got_and_names_allow_debug() {
    let d = Dir::new();
    let m = attested(&d, ECHO);
    // Another signer: expected and got, both.
    d.ok(&["keygen", "-o", "other.key"]);
    let other = json(&d.ok(&["keygen", "-o", "third.key", "--json"]));
    let mine = json(&d.ok(&["inspect", "app.enclave", "--json"]));
    let err = d.fails(
        6,
        &[
            "verify",
            "report.cbor",
            "--root",
            "root.pem",
            "--signer",
            "third.pub",
            "--nonce",
            NONCE,
        ],
    );
    assert_eq!(
        err,
        format!(
            "error: report.cbor refused: signer mismatch: expected {}, got {}\n",
            other["signer_id"].as_str().unwrap(),
            mine["signer_id"].as_str().unwrap()
        )
    );
    // Two accepted measurements, neither the evidence's.
    let (a, b) = ("ab".repeat(32), "cd".repeat(32));
    let err = d.fails(
        6,
        &[
            "verify",
            "report.cbor",
            "--root",
            "root.pem",
            "--measurement",
            &a,
            "--measurement",
            &b,
            "--nonce",
            NONCE,
        ],
    );
    assert_eq!(
        err,
        format!("error: report.cbor refused: measurement mismatch: expected {a} or {b}, got {m}\n")
    );
    // --measurement-from takes the measurement from the bundle itself; times are RFC 3339.
    let out = d.ok(&[
        "verify",
        "report.cbor",
        "--root",
        "root.pem",
        "--measurement-from",
        "app.enclave",
        "--nonce",
        NONCE,
    ]);
    let issued = out
        .lines()
        .find_map(|l| l.strip_prefix("issued at:   "))
        .unwrap();
    assert_eq!(issued.len(), "2026-12-02T09:30:00Z".len(), "{out}");
    assert!(
        issued.ends_with('Z') && issued.as_bytes()[10] == b'T',
        "{out}"
    );
    let claims = json(&d.ok(&[
        "verify",
        "report.cbor",
        "--root",
        "root.pem",
        "--measurement-from",
        "app.enclave",
        "--nonce",
        NONCE,
        "--json",
    ]));
    assert_eq!(claims["issued_at_rfc3339"], issued);
    // Evidence is named the same in seal and verify: --evidence (--report still accepted).
    d.write("secret.txt", b"secret");
    for flag in ["--evidence", "--report"] {
        let out = format!("sealed{flag}");
        d.ok(&[
            "seal",
            flag,
            "report.cbor",
            "--root",
            "root.pem",
            "--measurement-from",
            "app.enclave",
            "--nonce",
            NONCE,
            "-i",
            "secret.txt",
            "-o",
            &out,
        ]);
    }
}

/// A WASI program that calls `random_get` without the capability, then traps as Rust std
/// does when it panics.
const WASI_RANDOM_THEN_TRAP: &str = r#"(module
    (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "_start") (drop (call $random (i32.const 0) (i32.const 16))) unreachable))"#;

/// Writes "no match\n" to stdout and exits with code 3, as grep does when nothing matches.
const WASI_EXIT_3: &str = r#"(module
    (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (data (i32.const 100) "no match\n")
    (func (export "_start")
        (i32.store (i32.const 0) (i32.const 100))
        (i32.store (i32.const 4) (i32.const 9))
        (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 20)))
        (call $exit (i32.const 3))))"#;

const WASI_MANIFEST: &[u8] = b"product_id = 1\nsvn = 1\ndebug = false\nkind = \"wasi\"\n";

#[test]
fn a_wasi_trap_after_a_refused_call_names_the_capability() {
    let d = Dir::new();
    d.write("enclave.toml", WASI_MANIFEST);
    d.signed(WASI_RANDOM_THEN_TRAP);
    let err = d.fails(5, &["run", "app.enclave", "-o", "out.txt"]);
    assert_eq!(
        err,
        "error: guest trapped: wasm `unreachable` instruction executed (after the enclave \
         refused wasi_snapshot_preview1.random_get: grant it with capabilities = [\"random\"] in \
         the manifest (Rust std's HashMap needs it))\n"
    );
}

/// docs/wasi.md, "Exit status": a clean nonzero exit is part of the answer. The output is
/// written, the code is in --json and in the receipt, and `enclave` exits with 8.
#[test]
fn a_wasi_nonzero_exit_releases_its_output_with_exit_code_8() {
    let d = Dir::new();
    d.write("enclave.toml", WASI_MANIFEST);
    d.signed(WASI_EXIT_3);
    let out = d.enclave(&["run", "app.enclave", "-o", "out.txt", "--json"]);
    assert_eq!(out.status.code(), Some(8));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "enclave: guest exited with code 3; its output was written to out.txt\n"
    );
    assert_eq!(
        json(std::str::from_utf8(&out.stdout).unwrap())["exit_code"],
        3
    );
    assert_eq!(std::fs::read(d.path("out.txt")).unwrap(), b"no match\n");
    // To standard output.
    let out = d.enclave(&["run", "app.enclave"]);
    assert_eq!(out.status.code(), Some(8));
    assert_eq!(out.stdout, b"no match\n");
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "enclave: guest exited with code 3\n"
    );

    // Sealed: the receipt carries the code, and `open` releases the output with it.
    let d = Dir::new();
    d.write("enclave.toml", WASI_MANIFEST);
    let m = common::sealed_to(&d, WASI_EXIT_3, "in.txt", b"");
    assert_eq!(m.len(), 64);
    let out = d.enclave(&[
        "run",
        "app.enclave",
        "-i",
        "input.sealed",
        "-o",
        "output.sealed",
        "--receipt",
        "receipt.cbor",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(8));
    assert_eq!(
        json(std::str::from_utf8(&out.stdout).unwrap())["exit_code"],
        3
    );
    let out = d.enclave(&[OPEN, &["--json"]].concat());
    assert_eq!(out.status.code(), Some(8));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "enclave: guest exited with code 3; its output was written to result.txt\n"
    );
    assert_eq!(
        json(std::str::from_utf8(&out.stdout).unwrap())["exit_code"],
        3
    );
    assert_eq!(std::fs::read(d.path("result.txt")).unwrap(), b"no match\n");
}

/// The JSON shapes docs/cli.md lists, for every command that reports something.
#[test]
fn every_reporting_command_prints_json() {
    let d = Dir::new();
    let init = json(&d.ok(&["platform", "init", "--json"]));
    assert_eq!(
        keys(&init),
        [
            "home",
            "name",
            "platform_id",
            "root_sha256",
            "tcb",
            "vendor_root_key"
        ]
    );
    d.ok(&["platform", "export-root", "-o", "root.pem"]);
    let key = json(&d.ok(&["keygen", "-o", "author.key", "--json"]));
    assert_eq!(keys(&key), ["private_key", "public_key", "signer_id"]);
    d.wat("app.wasm", ECHO);
    let mut sign = sign_args("app.wasm", "app.enclave");
    sign.push("--json".into());
    let signed = json(&d.ok(&strs(&sign)));
    assert_eq!(
        keys(&signed),
        [
            "bundle",
            "bundle_bytes",
            "measurement",
            "module_digest",
            "signer_id"
        ]
    );
    assert_eq!(signed["signer_id"], key["signer_id"]);
    let attested = json(&d.ok(&[
        "attest",
        "app.enclave",
        "--nonce",
        NONCE,
        "-o",
        "report.cbor",
        "--json",
    ]));
    assert_eq!(
        keys(&attested),
        [
            "evidence",
            "evidence_bytes",
            "measurement",
            "nonce",
            "platform_id"
        ]
    );
    assert_eq!(attested["platform_id"], init["platform_id"]);
    d.write("secret.txt", b"secret");
    let m = signed["measurement"].as_str().unwrap();
    let mut seal = seal_args(m, NONCE, "secret.txt", "input.sealed");
    seal.push("--json");
    let sealed = json(&d.ok(&seal));
    assert_eq!(
        keys(&sealed),
        [
            "context",
            "key_policy",
            "measurement",
            "plaintext_bytes",
            "sealed_input",
            "signer_id"
        ]
    );
    let run = json(&d.ok(&[
        "run",
        "app.enclave",
        "-i",
        "input.sealed",
        "-o",
        "output.sealed",
        "--receipt",
        "receipt.cbor",
        "--json",
    ]));
    assert_eq!(run["receipt"], "receipt.cbor");
    let opened = json(&d.ok(&[OPEN, &["--json"]].concat()));
    assert_eq!(
        keys(&opened),
        [
            "exit_code",
            "fuel_used",
            "issued_at",
            "issued_at_rfc3339",
            "measurement",
            "output",
            "plaintext_bytes",
            "platform_id",
            "signer_id"
        ]
    );
    assert_eq!(opened["exit_code"], serde_json::Value::Null);
}

#[test]
fn home_is_accepted_before_the_subcommand() {
    let d = Dir::new();
    d.ok(&["--home", "before", "platform", "init"]);
    assert!(d.path("before/platform.toml").exists());
    let show = json(&d.ok(&["platform", "show", "--home", "before", "--json"]));
    let again = json(&d.ok(&["--home", "before", "platform", "show", "--json"]));
    assert_eq!(show, again);
    let err = d.fails(
        2,
        &["--home", "before", "platform", "show", "--home", "after"],
    );
    assert_eq!(
        err,
        "error: --home is given twice, as before and after: give it once\n"
    );
}

#[test]
fn usage_errors_exit_2() {
    let d = Dir::new();
    d.signed(ECHO);
    let err = d.fails(2, &["run", "app.enclave", "--no-such-flag"]);
    assert!(
        err.starts_with("error: unexpected argument '--no-such-flag'"),
        "{err}"
    );
    let err = d.fails(2, &["run", "app.enclave", "--json"]);
    assert_eq!(
        err,
        "error: --json needs --output: standard output carries the guest's output\n"
    );
    let err = d.fails(
        2,
        &[
            "verify",
            "report.cbor",
            "--root",
            "root.pem",
            "--nonce",
            NONCE,
        ],
    );
    assert!(err.contains("--measurement <HEX>"), "{err}");
}

#[test]
fn completions_and_manual_pages_come_from_the_flags() {
    let d = Dir::new();
    let bash = d.ok(&["completions", "bash"]);
    assert!(bash.contains("--measurement-from"), "{bash}");
    assert!(d.ok(&["completions", "zsh"]).contains("#compdef enclave"));
    let page = d.ok(&["man"]);
    assert!(page.starts_with(".ie"), "{page}");
    assert!(page.contains(".TH enclave 1"), "{page}");
    let listed = d.ok(&["man", "-o", "man"]);
    for name in [
        "enclave",
        "enclave-run",
        "enclave-platform-init",
        "enclave-new",
    ] {
        let path = d.path("man").join(format!("{name}.1"));
        assert!(path.exists(), "{name}: {listed}");
        let text = std::fs::read_to_string(path).unwrap();
        assert!(
            text.contains(&format!(".TH {} 1", name.to_uppercase())),
            "{text}"
        );
        // Every page, not only the main one, says what the exit codes mean.
        assert!(text.contains(".SH \"EXIT STATUS\""), "{name}: {text}");
        assert!(
            text.contains("\\fB7\\fR\nsealed data was refused"),
            "{name}: {text}"
        );
    }
    d.fails(1, &["man", "-o", "man"]);
}

/// docs/cli.md documents every command and every flag `--help` shows.
#[test]
fn docs_cli_md_matches_help() {
    let docs = include_str!("../../../docs/cli.md");
    let d = Dir::new();
    let commands: &[&[&str]] = &[
        &["new"],
        &["keygen"],
        &["sign"],
        &["measure"],
        &["inspect"],
        &["run"],
        &["platform", "init"],
        &["platform", "show"],
        &["platform", "upgrade"],
        &["platform", "export-root"],
        &["platform", "counters"],
        &["attest"],
        &["verify"],
        &["verify-receipt"],
        &["call"],
        &["seal"],
        &["open"],
        &["unseal"],
        &["proxy"],
        &["completions"],
        &["man"],
    ];
    for command in commands {
        let heading = format!("### `enclave {}", command.join(" "));
        let section = docs
            .split("\n### ")
            .find(|s| format!("### {s}").starts_with(&heading))
            .unwrap_or_else(|| panic!("docs/cli.md has no {heading}"));
        let help = d.ok(&[*command, &["--help"]].concat());
        for flag in help
            .lines()
            .filter_map(|l| l.trim_start().split_once("--"))
            .filter(|(before, _)| before.is_empty() || before.ends_with(", "))
            .map(|(_, rest)| rest.split([' ', '=', '>', ',']).next().unwrap_or_default())
        {
            if ["help", "version", "out", "report"].contains(&flag) {
                continue;
            }
            assert!(
                section.contains(&format!("--{flag}")),
                "docs/cli.md, {heading}: --{flag} is missing"
            );
        }
    }
}

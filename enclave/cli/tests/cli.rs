//! Golden tests of the `enclave` binary: outputs, files, modes and exit codes, hostile inputs
//! included. Guests here are WAT, so these tests depend on nothing but the binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use std::process::Command;

use common::{attested, mode, sealed_to, Dir, ECHO, NONCE};

const LOOP: &str = r#"(module
    (import "enclave_v1" "write_output" (func $write (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "enclave_main")
        (drop (call $write (i32.const 0) (i32.const 10)))
        (loop (br 0))))"#;

const FORBIDDEN: &str = r#"(module
    (import "env" "system" (func (param i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "enclave_main")))"#;

#[test]
fn keygen_writes_openssl_readable_keys_with_safe_modes() {
    let d = Dir::new();
    let out = d.ok(&["keygen", "--out", "author.key"]);
    assert!(out.contains("signer id:"), "{out}");
    assert_eq!(mode(&d.path("author.key")), 0o600);
    assert_eq!(mode(&d.path("author.pub")), 0o644);
    let check = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(d.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    check(&["pkey", "-in", "author.key", "-noout"]);
    // openssl derives the same public key from the private key.
    let derived = check(&["pkey", "-in", "author.key", "-pubout"]);
    assert_eq!(
        derived,
        std::fs::read_to_string(d.path("author.pub")).unwrap()
    );
}

#[test]
fn keygen_never_overwrites_without_force() {
    let d = Dir::new();
    d.ok(&["keygen", "--out", "author.key"]);
    let before = std::fs::read(d.path("author.key")).unwrap();
    let err = d.fails(1, &["keygen", "--out", "author.key"]);
    assert!(
        err.contains("already exists (use --force to replace it)"),
        "{err}"
    );
    assert_eq!(std::fs::read(d.path("author.key")).unwrap(), before);
    d.ok(&["keygen", "--out", "author.key", "--force"]);
    assert_ne!(std::fs::read(d.path("author.key")).unwrap(), before);
}

#[test]
fn measure_sign_and_inspect_agree() {
    let d = Dir::new();
    d.signed(ECHO);
    let measured = d.ok(&["measure", "app.wasm", "--manifest", "enclave.toml"]);
    let inspect: serde_json::Value =
        serde_json::from_str(&d.ok(&["inspect", "app.enclave", "--json"])).unwrap();
    assert_eq!(inspect["measurement"], measured.trim());
    assert_eq!(inspect["limits"]["fuel"], 1_000_000);
    assert_eq!(inspect["debug"], false);
    assert_eq!(
        inspect["imports"],
        serde_json::json!([
            "enclave_v1.read_input: func (i32, i32) -> (i32)",
            "enclave_v1.write_output: func (i32, i32) -> (i32)"
        ])
    );
    let text = d.ok(&["inspect", "app.enclave"]);
    assert!(
        text.contains(&format!("measurement:   {}", measured.trim())),
        "{text}"
    );
}

#[test]
fn run_with_files_and_stdio() {
    let d = Dir::new();
    d.signed(ECHO);
    d.write("in.txt", b"confidential words");
    let summary = d.ok(&[
        "run",
        "app.enclave",
        "--trusted-signer",
        "author.pub",
        "--input",
        "in.txt",
        "--output",
        "out.txt",
        "--json",
    ]);
    assert_eq!(
        std::fs::read(d.path("out.txt")).unwrap(),
        b"confidential words"
    );
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary["output_bytes"], 18);
    assert_eq!(summary["output_sha256"], hex_sha256(b"confidential words"));
    // Standard input to standard output.
    let mut child = Command::new(env!("CARGO_BIN_EXE_enclave"))
        .args(["run", "app.enclave"])
        .current_dir(d.dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(b"piped").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, b"piped");
}

/// Echoes its input after one byte that counts the runs this instance has seen (its memory
/// and a global), and traps on an input starting with `!`.
const COUNTING_ECHO: &str = r#"(module
    (import "enclave_v1" "read_input" (func $read (param i32 i32) (result i32)))
    (import "enclave_v1" "write_output" (func $write (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (global $runs (mut i32) (i32.const 0))
    (func (export "enclave_main")
        (local $n i32)
        (global.set $runs (i32.add (global.get $runs) (i32.const 1)))
        (i32.store8 (i32.const 0)
            (i32.add (i32.load8_u (i32.const 0)) (global.get $runs)))
        (local.set $n (call $read (i32.const 1) (i32.const 4096)))
        (if (i32.eq (i32.load8_u (i32.const 1)) (i32.const 33)) (then unreachable))
        (drop (call $write (i32.const 0) (i32.add (local.get $n) (i32.const 1))))))"#;

#[test]
fn run_many_inputs_each_in_a_fresh_instance() {
    let d = Dir::new();
    d.signed(COUNTING_ECHO);
    for (name, text) in [("a.txt", "alpha"), ("b.txt", "!boom"), ("c.txt", "gamma")] {
        d.write(name, text.as_bytes());
    }
    let args = |inputs: &[&'static str], outputs: &[&'static str]| {
        let mut args = vec!["run", "app.enclave", "--json"];
        args.extend(inputs.iter().flat_map(|i| ["--input", *i]));
        args.extend(outputs.iter().flat_map(|o| ["--output", *o]));
        args
    };
    let summary = d.ok(&args(&["a.txt", "c.txt"], &["a.out", "c.out"]));
    // One byte 1 each time: no run sees the memory or globals of the one before.
    assert_eq!(std::fs::read(d.path("a.out")).unwrap(), b"\x01alpha");
    assert_eq!(std::fs::read(d.path("c.out")).unwrap(), b"\x01gamma");
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary[0]["input"], "a.txt");
    assert_eq!(summary[1]["input"], "c.txt");
    assert_eq!(summary[1]["output_sha256"], hex_sha256(b"\x01gamma"));

    // A failing input fails alone: the others' outputs are written, the exit code is the
    // failure's, and the summary says which failed.
    let out = d.enclave(&args(
        &["a.txt", "b.txt", "c.txt"],
        &["a2.out", "b2.out", "c2.out"],
    ));
    assert_eq!(out.status.code(), Some(5));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("error: b.txt: guest trapped"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: 1 of 3 runs failed, the first on b.txt: guest trapped"),
        "{stderr}"
    );
    assert!(d.path("a2.out").exists() && d.path("c2.out").exists());
    assert!(!d.path("b2.out").exists());
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(summary[1]["error"]
        .as_str()
        .unwrap()
        .starts_with("guest trapped"));
    assert_eq!(summary[2]["output_bytes"], 6);

    // Inputs and outputs must pair up; nothing runs otherwise.
    let err = d.fails(2, &args(&["a.txt", "c.txt"], &["x.out"]));
    assert_eq!(
        err,
        "error: 2 inputs need 2 --output files, one per --input in the same order (got 1)\n"
    );
    let err = d.fails(2, &args(&["a.txt", "c.txt"], &["x.out", "x.out"]));
    assert_eq!(err, "error: x.out is given twice as a destination\n");
    assert!(!d.path("x.out").exists());
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn tampered_bundles_are_refused_with_exit_code_3() {
    let d = Dir::new();
    d.signed(ECHO);
    let bytes = std::fs::read(d.path("app.enclave")).unwrap();
    for i in (0..bytes.len()).step_by(bytes.len() / 16 + 1) {
        let mut evil = bytes.clone();
        evil[i] ^= 0x20;
        d.write("evil.enclave", &evil);
        let err = d.fails(3, &["run", "evil.enclave", "--input", "enclave.toml"]);
        assert!(
            err.starts_with("error: refusing to load evil.enclave: "),
            "{err}"
        );
    }
    d.write("evil.enclave", &bytes[..bytes.len() - 1]);
    let err = d.fails(3, &["inspect", "evil.enclave"]);
    assert!(
        err.contains("not an enclave bundle (expected [envelope, module])"),
        "{err}"
    );
}

/// Signing with a key kept elsewhere: `sign --digest-only` writes the bytes to sign, openssl
/// signs them (Ed25519, PureEdDSA), `sign --attach` assembles the bundle; it is the bundle the
/// one-step `sign` makes.
#[test]
fn offline_signing_with_openssl() {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        println!("skipped: openssl is not installed");
        return;
    }
    let d = Dir::new();
    d.signed(ECHO);
    let sign = |extra: &[&'static str]| {
        let mut args = vec!["sign", "app.wasm", "--manifest", "enclave.toml"];
        args.extend_from_slice(extra);
        args
    };
    let out = d.ok(&sign(&[
        "--digest-only",
        "--pubkey",
        "author.pub",
        "-o",
        "tbs.bin",
        "--json",
    ]));
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let tbs = std::fs::read(d.path("tbs.bin")).unwrap();
    assert_eq!(json["to_be_signed_bytes"], tbs.len());
    assert!(tbs.len() < 1024, "{} bytes to sign", tbs.len());
    let openssl = std::process::Command::new("openssl")
        .args([
            "pkeyutl",
            "-sign",
            "-rawin",
            "-inkey",
            "author.key",
            "-in",
            "tbs.bin",
            "-out",
            "sig.bin",
        ])
        .current_dir(d.dir.path())
        .output()
        .unwrap();
    assert!(
        openssl.status.success(),
        "{}",
        String::from_utf8_lossy(&openssl.stderr)
    );
    d.ok(&sign(&[
        "--attach",
        "sig.bin",
        "--pubkey",
        "author.pub",
        "-o",
        "offline.enclave",
    ]));
    // Ed25519 is deterministic: the same bundle as the one-step `sign`.
    assert_eq!(
        std::fs::read(d.path("offline.enclave")).unwrap(),
        std::fs::read(d.path("app.enclave")).unwrap()
    );
    let out = d.ok(&["run", "offline.enclave", "-i", "enclave.toml"]);
    assert!(out.contains("product_id = 1"), "{out}");

    // A signature over other bytes, or by another key, is refused and nothing is written.
    let mut sig = std::fs::read(d.path("sig.bin")).unwrap();
    sig[10] ^= 1;
    d.write("bad.sig", &sig);
    let err = d.fails(
        3,
        &sign(&[
            "--attach",
            "bad.sig",
            "--pubkey",
            "author.pub",
            "-o",
            "bad.enclave",
        ]),
    );
    assert_eq!(
        err,
        "error: refusing the signature in bad.sig (it must be the Ed25519 signature by the key of \
         author.pub over what --digest-only writes for this module and manifest): bad signature\n"
    );
    assert!(!d.path("bad.enclave").exists());
    d.ok(&["keygen", "--out", "other.key"]);
    d.fails(
        3,
        &sign(&[
            "--attach",
            "sig.bin",
            "--pubkey",
            "other.pub",
            "-o",
            "bad.enclave",
        ]),
    );
    d.write("enclave.toml", b"product_id = 2\nsvn = 1\ndebug = false\n");
    d.fails(
        3,
        &sign(&[
            "--attach",
            "sig.bin",
            "--pubkey",
            "author.pub",
            "-o",
            "bad.enclave",
        ]),
    );
    assert!(!d.path("bad.enclave").exists());
    // --key with --pubkey, --digest-only without --pubkey: usage errors.
    d.fails(
        2,
        &sign(&["--key", "author.key", "--pubkey", "author.pub", "-o", "x"]),
    );
    d.fails(2, &sign(&["--digest-only", "-o", "x"]));
}

#[test]
fn format_1_bundles_are_refused_with_how_to_re_sign() {
    let d = Dir::new();
    // A format-1 bundle's shape: tag 18, [protected {1: -8, 3: content type}, {}, payload,
    // signature], encoded by hand.
    let content_type = b"application/vnd.enclave.bundle.v1+cbor";
    let mut protected = vec![0xa2, 0x01, 0x27, 0x03, 0x78, content_type.len() as u8];
    protected.extend_from_slice(content_type);
    let mut old = vec![0xd2, 0x84, 0x58, protected.len() as u8];
    old.extend_from_slice(&protected);
    old.extend_from_slice(&[0xa0, 0x48]);
    old.extend_from_slice(&[0; 8]);
    old.extend_from_slice(&[0x58, 0x40]);
    old.extend_from_slice(&[0; 64]);
    d.write("old.enclave", &old);
    let err = d.fails(3, &["inspect", "old.enclave"]);
    assert_eq!(
        err,
        "error: refusing bundle old.enclave: this bundle is format 1, which this version of \
         enclave no longer reads: sign the module again (`enclave sign --key KEY --manifest \
         enclave.toml MODULE -o BUNDLE`) to make a format 2 bundle\n"
    );
}

#[test]
fn untrusted_signers_are_refused() {
    let d = Dir::new();
    d.signed(ECHO);
    d.ok(&["keygen", "--out", "mallory.key"]);
    let err = d.fails(
        3,
        &["run", "app.enclave", "--trusted-signer", "mallory.pub"],
    );
    assert!(err.contains("is not trusted"), "{err}");
    let err = d.fails(1, &["run", "app.enclave", "--trusted-signer", "nonsense"]);
    assert!(err.contains("is neither a signer id nor a file"), "{err}");
}

#[test]
fn modules_outside_the_abi_are_refused() {
    let d = Dir::new();
    d.ok(&["keygen", "--out", "author.key"]);
    d.wat("bad.wasm", FORBIDDEN);
    let err = d.fails(
        4,
        &[
            "sign",
            "--key",
            "author.key",
            "--manifest",
            "enclave.toml",
            "bad.wasm",
            "-o",
            "bad.enclave",
        ],
    );
    assert!(
        err.contains("env.system: not part of the enclave ABI"),
        "{err}"
    );
    assert!(!d.path("bad.enclave").exists());
    d.write(
        "enclave.toml",
        b"product_id = 1\nsvn = 1\ndebug = false\nnetwork = true\n",
    );
    let err = d.fails(4, &["measure", "bad.wasm", "--manifest", "enclave.toml"]);
    assert!(err.contains("unknown field `network`"), "{err}");
}

#[test]
fn failed_runs_write_nothing() {
    let d = Dir::new();
    // Fuel, not the wall clock, must end this loop, however loaded the machine.
    d.write(
        "enclave.toml",
        b"product_id = 1\nsvn = 1\ndebug = false\n[limits]\nfuel = 1000000\ntimeout_ms = 600000\n",
    );
    d.signed(LOOP);
    let err = d.fails(5, &["run", "app.enclave", "--output", "out.txt"]);
    assert_eq!(err, "error: fuel budget of 1000000 exhausted\n");
    assert!(!d.path("out.txt").exists());
    assert_eq!(
        std::fs::read_dir(d.dir.path()).unwrap().count(),
        5,
        "a temporary file was left"
    );
}

/// A plain WASI preview 1 command (what `wasm32-wasip1` compilers emit): echoes stdin to stdout.
const WASI_ECHO: &str = r#"(module
    (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "_start")
        (i32.store (i32.const 0) (i32.const 1024))
        (i32.store (i32.const 4) (i32.const 4096))
        (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)))
        (i32.store (i32.const 4) (i32.load (i32.const 16)))
        (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 20)))))"#;

#[test]
fn sign_and_run_a_plain_wasi_command() {
    let d = Dir::new();
    d.write(
        "enclave.toml",
        b"product_id = 1\nsvn = 1\ndebug = false\nkind = \"wasi\"\n",
    );
    d.signed(WASI_ECHO);
    let out = d.ok(&["inspect", "app.enclave"]);
    assert!(out.contains("wasi"), "{out}");
    d.write("in.txt", b"hello from stdin");
    d.ok(&[
        "run",
        "app.enclave",
        "--input",
        "in.txt",
        "--output",
        "out.txt",
    ]);
    assert_eq!(
        std::fs::read(d.path("out.txt")).unwrap(),
        b"hello from stdin"
    );
    // The same module signed as a native enclave is refused at load.
    d.write("enclave.toml", b"product_id = 1\nsvn = 1\ndebug = false\n");
    let err = d.fails(
        4,
        &[
            "sign",
            "--key",
            "author.key",
            "--manifest",
            "enclave.toml",
            "app.wasm",
            "-o",
            "native.enclave",
        ],
    );
    assert_eq!(
        err,
        "error: the runtime would refuse this module: module imports \
         wasi_snapshot_preview1.fd_read, wasi_snapshot_preview1.fd_write but the manifest says \
         kind = \"enclave\": a WASI program (wasm32-wasip1) needs kind = \"wasi\" in the \
         manifest (docs/wasi.md)\n"
    );
}

/// Seals its input (up to 1 KiB) under the measurement policy with the AAD "aad", and writes
/// the sealed blob to its output: one guest that exercises every command writing a file.
const SEALER: &str = r#"(module
    (import "enclave_v1" "read_input" (func $read (param i32 i32) (result i32)))
    (import "enclave_v1" "write_output" (func $write (param i32 i32) (result i32)))
    (import "enclave_v1" "seal" (func $seal (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) "aad")
    (func (export "enclave_main")
        (local $n i32) (local $len i32)
        (local.set $n (call $read (i32.const 1024) (i32.const 1024)))
        (local.set $len (call $seal (i32.const 0) (i32.const 0) (i32.const 3)
            (i32.const 1024) (local.get $n) (i32.const 4096) (i32.const 8192)))
        (drop (call $write (i32.const 4096) (local.get $len)))))"#;

/// Every command that writes a file takes `-o`, `--output` and (for old scripts) `--out`.
#[test]
fn every_output_flag_has_one_spelling_and_the_old_alias() {
    for flag in ["-o", "--output", "--out"] {
        let d = Dir::new();
        d.write(
            "enclave.toml",
            b"product_id = 1\nsvn = 1\ndebug = true\ncapabilities = [\"seal\"]\n",
        );
        d.write("secret.txt", b"sealed secret");
        d.wat("app.wasm", SEALER);
        d.ok(&["platform", "init"]);
        d.ok(&["platform", "export-root", flag, "root.pem"]);
        d.ok(&["keygen", flag, "author.key"]);
        d.ok(&[
            "sign",
            "--key",
            "author.key",
            "--manifest",
            "enclave.toml",
            "app.wasm",
            flag,
            "app.enclave",
        ]);
        d.ok(&[
            "attest",
            "app.enclave",
            "--nonce",
            NONCE,
            flag,
            "report.cbor",
        ]);
        let m = d.ok(&["measure", "app.wasm", "--manifest", "enclave.toml"]);
        d.ok(&[
            "seal",
            "--report",
            "report.cbor",
            "--root",
            "root.pem",
            "--measurement",
            m.trim(),
            "--nonce",
            NONCE,
            "--allow-debug",
            "--input",
            "secret.txt",
            flag,
            "input.sealed",
        ]);
        d.ok(&[
            "run",
            "app.enclave",
            "--input",
            "input.sealed",
            flag,
            "output.sealed",
            "--receipt",
            "receipt.cbor",
        ]);
        d.ok(&[
            "open",
            "output.sealed",
            "--receipt",
            "receipt.cbor",
            "--context",
            "input.sealed.context",
            "--root",
            "root.pem",
            flag,
            "blob.bin",
        ]);
        d.ok(&[
            "unseal",
            "blob.bin",
            "--bundle",
            "app.enclave",
            flag,
            "plain.txt",
        ]);
        assert_eq!(
            std::fs::read(d.path("plain.txt")).unwrap(),
            b"sealed secret",
            "{flag}"
        );
    }
    // The help of each shows the one spelling, and the alias.
    let d = Dir::new();
    for command in [
        &["keygen"][..],
        &["sign"],
        &["run"],
        &["attest"],
        &["seal"],
        &["open"],
        &["unseal"],
        &["platform", "export-root"],
    ] {
        let help = d.ok(&[command, &["--help"]].concat());
        assert!(help.contains("-o, --output <FILE>"), "{command:?}: {help}");
        assert!(help.contains("[alias: --out]"), "{command:?}: {help}");
    }
}

/// A private key that group or others can access is refused, as ssh refuses one, before it is
/// used; nothing is written.
#[test]
fn private_keys_others_can_access_are_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let d = Dir::new();
    d.signed(ECHO);
    let chmod = |name: &str, mode: u32| {
        std::fs::set_permissions(d.path(name), std::fs::Permissions::from_mode(mode)).unwrap();
    };
    let sign = [
        "sign",
        "--key",
        "author.key",
        "--manifest",
        "enclave.toml",
        "app.wasm",
    ];
    for mode in [0o644, 0o640, 0o604, 0o660, 0o700 | 0o004] {
        chmod("author.key", mode);
        let err = d.fails(1, &[&sign[..], &["-o", "again.enclave"]].concat());
        assert_eq!(
            err,
            format!(
                "error: author key author.key has mode {mode:04o}: a private key must not be \
                 accessible by group or others (chmod 600 author.key)\n"
            )
        );
        assert!(!d.path("again.enclave").exists());
    }
    chmod("author.key", 0o600);
    d.ok(&[&sign[..], &["-o", "again.enclave"]].concat());
    chmod("author.key", 0o400);
    d.ok(&[&sign[..], &["-o", "again.enclave", "--force"]].concat());

    // The fleet's vendor root key, read by `platform init --vendor-key`, likewise.
    d.ok(&["platform", "init"]);
    std::fs::copy(d.path("platform/vendor-root.key"), d.path("fleet.key")).unwrap();
    std::fs::copy(d.path("platform/vendor-root.pem"), d.path("fleet.pem")).unwrap();
    chmod("fleet.key", 0o644);
    let join = [
        "platform",
        "init",
        "--home",
        "second",
        "--vendor-key",
        "fleet.key",
        "--vendor-cert",
        "fleet.pem",
    ];
    let err = d.fails(1, &join);
    assert_eq!(
        err,
        "error: vendor root key fleet.key has mode 0644: a private key must not be accessible \
         by group or others (chmod 600 fleet.key)\n"
    );
    assert!(!d.path("second").exists());
    chmod("fleet.key", 0o600);
    d.ok(&join);
}

/// An input over the manifest's `max_input_bytes` fails the run with exit code 5, as a limit.
#[test]
fn inputs_over_max_input_bytes_exit_with_code_5() {
    let d = Dir::new();
    d.write(
        "enclave.toml",
        b"product_id = 1\nsvn = 1\ndebug = false\n[limits]\nmax_input_bytes = 16\n",
    );
    d.signed(ECHO);
    d.write("in.txt", &[b'x'; 17]);
    let err = d.fails(
        5,
        &["run", "app.enclave", "--input", "in.txt", "-o", "out.txt"],
    );
    assert_eq!(
        err,
        "error: input is 17 bytes, larger than the manifest's max_input_bytes = 16\n"
    );
    assert!(!d.path("out.txt").exists());
    d.write("in.txt", &[b'x'; 16]);
    d.ok(&["run", "app.enclave", "--input", "in.txt", "-o", "out.txt"]);
}

/// A platform, the echo enclave, evidence, an input sealed to its measurement, a run and its
/// receipt: everything `enclave open` needs.
fn sealed_and_run(d: &Dir) {
    sealed_to(d, ECHO, "secret.txt", b"the launch code is 0000");
    d.ok(&[
        "run",
        "app.enclave",
        "--input",
        "input.sealed",
        "-o",
        "output.sealed",
        "--receipt",
        "receipt.cbor",
    ]);
}

const OPEN_EVIL: &[&str] = &[
    "open",
    "output.sealed",
    "--receipt",
    "receipt.cbor",
    "--context",
    "evil.context",
    "--root",
    "root.pem",
    "-o",
    "result.txt",
];

/// What `enclave open` says of a client context (version 2, measurement policy) with one byte
/// changed at `offset`: the exit code and the start of the message after "error: ".
fn context_refusal(offset: usize) -> (i32, &'static str) {
    match offset {
        0..8 => (
            7,
            "cannot use client context evil.context: not a client context",
        ),
        8..10 => (
            7,
            "cannot use client context evil.context: unsupported format version",
        ),
        10 | 44..48 => (
            7,
            "cannot use client context evil.context: malformed key policy",
        ),
        11 => (6, "receipt.cbor refused: receipt says debug = false"),
        12..44 => (6, "receipt.cbor refused: receipt is for measurement"),
        48..80 => (6, "receipt.cbor refused: receipt is from platform"),
        80..112 => (6, "receipt.cbor refused: receipt is for sealed input"),
        112..144 => (6, "receipt.cbor refused: receipt is for another request"),
        144..176 => (7, "cannot open output.sealed: "),
        _ => unreachable!("a client context is 176 bytes"),
    }
}

/// Issue 12, item 5: 32 single-byte changes to a client context (its evidence digest, bytes
/// 80..112 of version 1) were accepted by `open`. Version 2 has no unchecked field: every byte
/// is compared with the receipt or needed to decrypt, so every change is refused, each with
/// its reason, and nothing is written.
#[test]
fn open_refuses_every_single_byte_change_to_a_client_context() {
    let d = Dir::new();
    sealed_and_run(&d);
    let good = std::fs::read(d.path("input.sealed.context")).unwrap();
    assert_eq!(good.len(), 176);
    d.write("evil.context", &good);
    d.ok(OPEN_EVIL);
    std::fs::remove_file(d.path("result.txt")).unwrap();
    for offset in 0..good.len() {
        let mut evil = good.clone();
        evil[offset] ^= 0x01;
        d.write("evil.context", &evil);
        let (code, reason) = context_refusal(offset);
        let err = d.fails(code, OPEN_EVIL);
        assert!(
            err.starts_with(&format!("error: {reason}")),
            "byte {offset}: {err}"
        );
        assert!(!d.path("result.txt").exists(), "byte {offset}");
    }
}

/// A version 1 context (208 bytes, with the unchecked evidence digest) is refused by its
/// version, with what to do.
#[test]
fn open_refuses_a_version_1_client_context() {
    let d = Dir::new();
    sealed_and_run(&d);
    let v2 = std::fs::read(d.path("input.sealed.context")).unwrap();
    let v1 = [&v2[..8], &[0, 1], &v2[10..80], &[0xee; 32], &v2[80..]].concat();
    d.write("evil.context", &v1);
    let err = d.fails(7, OPEN_EVIL);
    assert_eq!(
        err,
        "error: cannot use client context evil.context (a version 1 context, from an older \
         enclave: seal the input again): unsupported format version 1\n"
    );
    assert!(!d.path("result.txt").exists());
}

/// docs/formats.md, "Attestation evidence": -70007 lists the capabilities ordered by name (as
/// everywhere since issue 29.2), and -70009 is `[measurement key, signer key]`.
#[test]
fn evidence_orders_capabilities_and_enclave_keys_as_documented() {
    let d = Dir::new();
    d.write(
        "enclave.toml",
        b"product_id = 1\nsvn = 1\ndebug = false\n\
          capabilities = [\"store\", \"seal\", \"report\", \"log\", \"random\"]\n",
    );
    let m = attested(&d, ECHO);
    let claims: serde_json::Value = serde_json::from_str(&d.ok(&[
        "verify",
        "report.cbor",
        "--root",
        "root.pem",
        "--measurement",
        m.trim(),
        "--nonce",
        NONCE,
        "--json",
    ]))
    .unwrap();
    assert_eq!(
        claims["capabilities"],
        // In ascending byte order, as everywhere (docs/formats.md, "Manifest").
        serde_json::json!(["log", "random", "report", "seal", "store"])
    );
    // The raw CBOR: array(2), bstr(32) measurement key, bstr(32) signer key.
    let key = |name: &str| hex::decode(claims["enclave_keys"][name].as_str().unwrap()).unwrap();
    let expected = [
        &[0x82, 0x58, 0x20][..],
        &key("measurement"),
        &[0x58, 0x20],
        &key("signer"),
    ]
    .concat();
    let evidence = std::fs::read(d.path("report.cbor")).unwrap();
    assert!(evidence.windows(expected.len()).any(|w| w == expected));
}

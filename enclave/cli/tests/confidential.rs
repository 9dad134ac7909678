//! Confidential I/O from the command line: seal → run → open, the files each party sees, and the
//! exit codes of refusals.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use common::{mode, seal_args, sealed_to, Dir, ECHO, NONCE, OPEN};

const SECRET: &[u8] = b"the launch code is 0000";

/// Platform, echo enclave, evidence, and an input sealed to it; returns the measurement.
fn sealed(d: &Dir) -> String {
    sealed_to(d, ECHO, "secret.txt", SECRET)
}

fn run_sealed(d: &Dir) {
    d.ok(&[
        "run",
        "app.enclave",
        "--input",
        "input.sealed",
        "--output",
        "output.sealed",
        "--receipt",
        "receipt.cbor",
    ]);
}

#[test]
fn seal_run_open() {
    let d = Dir::new();
    sealed(&d);
    assert_eq!(mode(&d.path("input.sealed.context")), 0o600);
    run_sealed(&d);
    d.ok(OPEN);
    assert_eq!(std::fs::read(d.path("result.txt")).unwrap(), SECRET);
    assert_eq!(mode(&d.path("result.txt")), 0o600);
    // What the operator sees holds no plaintext.
    for file in [
        "input.sealed",
        "output.sealed",
        "receipt.cbor",
        "report.cbor",
    ] {
        let bytes = std::fs::read(d.path(file)).unwrap();
        assert!(
            !bytes.windows(11).any(|w| w == b"launch code"),
            "plaintext in {file}"
        );
    }
}

#[test]
fn both_aeads_seal_run_and_open_and_the_header_names_the_one_chosen() {
    let d = Dir::new();
    let m = sealed(&d);
    for (aead, id) in [("chacha20-poly1305", 3u8), ("aes-256-gcm", 2)] {
        let mut seal = seal_args(&m, NONCE, "secret.txt", "input.sealed");
        seal.extend(["--aead", aead, "--force"]);
        assert!(d.ok(&seal).contains(if id == 2 {
            "(AES-256-GCM)"
        } else {
            "(ChaCha20-Poly1305)"
        }));
        assert_eq!(
            std::fs::read(d.path("input.sealed")).unwrap()[14..16],
            [0, id]
        );
        assert_eq!(mode(&d.path("input.sealed")), 0o644);
        d.ok(&[
            "run",
            "app.enclave",
            "--input",
            "input.sealed",
            "--output",
            "output.sealed",
            "--receipt",
            "receipt.cbor",
            "--force",
        ]);
        assert_eq!(
            std::fs::read(d.path("output.sealed")).unwrap()[10..12],
            [0, id]
        );
        let mut open = OPEN.to_vec();
        open.push("--force");
        d.ok(&open);
        assert_eq!(
            std::fs::read(d.path("result.txt")).unwrap(),
            SECRET,
            "{aead}"
        );
    }
}

#[test]
fn run_many_sealed_inputs_with_a_receipt_each() {
    let d = Dir::new();
    let m = sealed(&d);
    d.write("second.txt", b"another secret");
    d.ok(&seal_args(&m, NONCE, "second.txt", "second.sealed"));
    d.ok(&[
        "run",
        "app.enclave",
        "-i",
        "input.sealed",
        "-i",
        "second.sealed",
        "-o",
        "output.sealed",
        "-o",
        "second.out",
        "--receipt",
        "receipt.cbor",
        "--receipt",
        "second.receipt",
    ]);
    d.ok(OPEN);
    assert_eq!(std::fs::read(d.path("result.txt")).unwrap(), SECRET);
    d.ok(&[
        "open",
        "second.out",
        "--receipt",
        "second.receipt",
        "--context",
        "second.sealed.context",
        "--root",
        "root.pem",
        "-o",
        "second.txt.out",
    ]);
    assert_eq!(
        std::fs::read(d.path("second.txt.out")).unwrap(),
        b"another secret"
    );
    // A receipt belongs to its own input: swapped, it is refused.
    let err = d.fails(
        6,
        &[
            "open",
            "second.out",
            "--receipt",
            "receipt.cbor",
            "--context",
            "second.sealed.context",
            "--root",
            "root.pem",
            "-o",
            "swapped.txt",
        ],
    );
    assert!(err.starts_with("error: "), "{err}");
    assert!(!d.path("swapped.txt").exists());
}

#[test]
fn seal_streams_to_standard_output() {
    let d = Dir::new();
    let m = sealed(&d);
    let args = |context: Option<&'static str>| {
        let mut args = seal_args(&m, NONCE, "secret.txt", "-");
        args.extend(context.iter().flat_map(|c| ["--context", *c]));
        args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| {
        std::process::Command::new(env!("CARGO_BIN_EXE_enclave"))
            .args(args)
            .current_dir(d.dir.path())
            .env("ENCLAVE_HOME", d.path("platform"))
            .output()
            .unwrap()
    };
    let out = run(args(None));
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "error: sealing to standard output (-o -) needs --context FILE\n"
    );
    // An existing context is refused before anything is written to stdout.
    let out = run(args(Some("input.sealed.context")));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());

    let out = run(args(Some("piped.context")));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .starts_with("sealed input: standard output"));
    assert_eq!(mode(&d.path("piped.context")), 0o600);
    d.write("input.sealed", &out.stdout);
    run_sealed(&d);
    let mut open = OPEN.to_vec();
    open[5] = "piped.context";
    d.ok(&open);
    assert_eq!(std::fs::read(d.path("result.txt")).unwrap(), SECRET);
}

#[test]
fn seal_refuses_evidence_it_cannot_verify() {
    let d = Dir::new();
    let m = sealed(&d);
    let other_nonce = "ff".repeat(16);
    let err = d.fails(
        6,
        &seal_args(&m, &other_nonce, "secret.txt", "again.sealed"),
    );
    assert!(
        err.starts_with("error: report.cbor refused: nonce mismatch"),
        "{err}"
    );
    assert!(!d.path("again.sealed").exists());
    assert!(!d.path("again.sealed.context").exists());
}

#[test]
fn tampered_sealed_files_are_refused_with_their_exit_codes() {
    let d = Dir::new();
    sealed(&d);
    let good = std::fs::read(d.path("input.sealed")).unwrap();
    for i in [0, 9, 40, 150, 170, good.len() - 1] {
        let mut evil = good.clone();
        evil[i] ^= 0x01;
        d.write("evil.sealed", &evil);
        let out = d.enclave(&[
            "run",
            "app.enclave",
            "--input",
            "evil.sealed",
            "--output",
            "evil.out",
            "--receipt",
            "evil.receipt",
        ]);
        // With --receipt the input is meant to be sealed: damage anywhere, the magic included,
        // is a sealed input refused (exit 7).
        assert_eq!(out.status.code(), Some(7), "flip at {i}");
        assert!(!d.path("evil.out").exists());
        assert!(!d.path("evil.receipt").exists());
    }

    run_sealed(&d);
    let output = std::fs::read(d.path("output.sealed")).unwrap();
    let mut evil = output.clone();
    *evil.last_mut().unwrap() ^= 0x80;
    d.write("output.sealed", &evil);
    let err = d.fails(6, OPEN);
    assert!(
        err.starts_with("error: receipt.cbor refused: receipt is for sealed output "),
        "{err}"
    );
    assert!(!d.path("result.txt").exists());
    d.write("output.sealed", &output);

    let receipt = std::fs::read(d.path("receipt.cbor")).unwrap();
    let mut evil = receipt.clone();
    evil[receipt.len() / 2] ^= 0x10;
    d.write("receipt.cbor", &evil);
    d.fails(6, OPEN);
    d.write("receipt.cbor", &receipt);
    d.ok(OPEN);
}

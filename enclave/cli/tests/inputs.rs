//! `enclave run` opens each input exactly once, so a FIFO, a process substitution (`<(…)`) or
//! standard input works for plaintext and sealed inputs alike; an input meant to be sealed that
//! is not is refused as sealed data.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{sealed_to, Dir, ECHO, MANIFEST, OPEN};

/// A generous bound on a run that should take milliseconds: it only turns a hang (the bug this
/// file guards against: a second `open` of a FIFO blocks forever) into a failure.
const HANG: Duration = Duration::from_secs(120);

fn enclave(d: &Dir, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_enclave"));
    command
        .args(args)
        .current_dir(d.dir.path())
        .env("ENCLAVE_HOME", d.path("platform"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Waits for `child`, killing it (and failing) if it hangs.
fn finish(mut child: Child) -> std::process::Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > HANG {
            child.kill().unwrap();
            panic!("enclave run hung on its input");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Makes `name` a FIFO and starts a thread that writes `bytes` into it once a reader opens it.
fn fifo(d: &Dir, name: &str, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
    let path = d.path(name);
    let made = Command::new("mkfifo").arg(&path).status().unwrap();
    assert!(made.success());
    std::thread::spawn(move || {
        // Blocks until the reader opens; a reader that opens twice gets EOF the second time.
        let mut writer = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        let _ = writer.write_all(&bytes);
    })
}

/// Platform, echo enclave, evidence, and `plain.txt` sealed to it as `input.sealed`.
fn sealed(d: &Dir) {
    sealed_to(d, ECHO, "plain.txt", b"through a pipe");
}

fn open_output(d: &Dir) -> Vec<u8> {
    d.ok(OPEN);
    std::fs::read(d.path("result.txt")).unwrap()
}

#[test]
fn a_plaintext_fifo_is_read_once() {
    let d = Dir::new();
    d.signed(ECHO);
    let writer = fifo(&d, "in.fifo", b"hello through a fifo".to_vec());
    let child = enclave(&d, &["run", "app.enclave", "--input", "in.fifo"])
        .spawn()
        .unwrap();
    let out = finish(child);
    writer.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"hello through a fifo");
}

#[test]
fn a_sealed_fifo_is_read_once() {
    let d = Dir::new();
    sealed(&d);
    let bytes = std::fs::read(d.path("input.sealed")).unwrap();
    let writer = fifo(&d, "in.fifo", bytes);
    let child = enclave(
        &d,
        &[
            "run",
            "app.enclave",
            "--input",
            "in.fifo",
            "-o",
            "output.sealed",
            "--receipt",
            "receipt.cbor",
        ],
    )
    .spawn()
    .unwrap();
    let out = finish(child);
    writer.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(open_output(&d), b"through a pipe");
}

#[test]
fn a_sealed_input_on_standard_input() {
    let d = Dir::new();
    sealed(&d);
    let mut child = enclave(
        &d,
        &[
            "run",
            "app.enclave",
            "-o",
            "output.sealed",
            "--receipt",
            "receipt.cbor",
        ],
    )
    .stdin(Stdio::piped())
    .spawn()
    .unwrap();
    let bytes = std::fs::read(d.path("input.sealed")).unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = finish(child);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(open_output(&d), b"through a pipe");
}

#[test]
fn a_plaintext_input_on_standard_input() {
    let d = Dir::new();
    d.signed(ECHO);
    let mut child = enclave(&d, &["run", "app.enclave"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"ENCL").unwrap();
    let out = finish(child);
    assert!(out.status.success());
    // Shorter than the sealed magic, and a prefix of it: still plaintext, every byte kept.
    assert_eq!(out.stdout, b"ENCL");
}

#[test]
fn a_damaged_sealed_input_with_a_receipt_is_sealed_data_refused() {
    let d = Dir::new();
    sealed(&d);
    let mut bytes = std::fs::read(d.path("input.sealed")).unwrap();
    bytes[0] ^= 0x01;
    d.write("damaged.sealed", &bytes);
    let stderr = d.fails(
        7,
        &[
            "run",
            "app.enclave",
            "--input",
            "damaged.sealed",
            "-o",
            "output.sealed",
            "--receipt",
            "receipt.cbor",
        ],
    );
    assert!(
        stderr.contains("not a sealed input (bad magic)"),
        "{stderr}"
    );
    assert!(!d.path("output.sealed").exists());
    assert!(!d.path("receipt.cbor").exists());
}

/// Issue 33 item 1: an enclave whose manifest takes sealed inputs only is not run on a plaintext
/// file, exit 9, and still runs on a sealed one.
#[test]
fn a_sealed_only_enclave_refuses_a_plaintext_file() {
    let d = Dir::new();
    d.write(
        "enclave.toml",
        format!("{MANIFEST}[inputs]\nsealed_only = true\n").as_bytes(),
    );
    sealed_to(&d, ECHO, "plain.txt", b"a ballot");
    let stderr = d.fails(9, &["run", "app.enclave", "--input", "plain.txt"]);
    assert!(
        stderr.contains("plaintext input refused: this enclave takes sealed inputs only"),
        "{stderr}"
    );
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
    assert_eq!(open_output(&d), b"a ballot");
}

/// Issue 27 item 6: an enclave that refuses replays runs a sealed input once; `enclave run` of
/// the same sealed input again exits 9 and writes nothing.
#[test]
fn a_replayed_sealed_input_is_refused_with_exit_9() {
    let d = Dir::new();
    d.write(
        "enclave.toml",
        format!("{MANIFEST}[inputs]\nsealed_only = true\nrefuse_replays = true\n").as_bytes(),
    );
    sealed_to(&d, ECHO, "plain.txt", b"one ballot");
    let run = |out: &str, receipt: &str| {
        vec![
            "run".to_owned(),
            "app.enclave".into(),
            "--input".into(),
            "input.sealed".into(),
            "-o".into(),
            out.into(),
            "--receipt".into(),
            receipt.into(),
        ]
    };
    let first = run("output.sealed", "receipt.cbor");
    d.ok(&first.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(open_output(&d), b"one ballot");
    let again = run("again.sealed", "again.cbor");
    let stderr = d.fails(9, &again.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        stderr.contains("sealed request refused: request ")
            && stderr.contains("already ran on this platform"),
        "{stderr}"
    );
    assert!(!d.path("again.sealed").exists() && !d.path("again.cbor").exists());
}

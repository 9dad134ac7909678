//! The trial's path as one test (issue 26): a loan-scoring guest scaffolded by `enclave new
//! --wasi`, served with `--tls`, called from "a second shell" with `-i` a FIFO (as `<(…)` is) and
//! `-o -`; on a bad input its panic message reaches the requester, and only the requester.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use std::io::{BufRead as _, Read as _, Write as _};
use std::process::{Command, Output, Stdio};

use common::{cargo_build, Dir};

/// The guest's program: a score from `salary=N`, a panic on anything else.
const LOAN: &str = r#"use std::io::Read;

fn main() {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).expect("stdin");
    let salary: u64 = match input.trim().strip_prefix("salary=").map(str::parse) {
        Some(Ok(salary)) => salary,
        _ => panic!("bad salary: {}", input.trim()),
    };
    println!("score: {}", salary / 1000);
}
"#;

/// What the bad input says; the operator must never see it.
const BAD: &str = "salary=SECRET-4242";

/// `enclave call URL … -i in.fifo -o -` with `input` written into the FIFO.
fn call(d: &Dir, url: &str, m: &str, input: &str) -> Output {
    let fifo = d.path("in.fifo");
    let _ = std::fs::remove_file(&fifo);
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let bytes = input.as_bytes().to_vec();
    let writer = std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
        let _ = f.write_all(&bytes);
    });
    let out = Command::new(env!("CARGO_BIN_EXE_enclave"))
        .current_dir(d.dir.path())
        .args([
            "call",
            url,
            "--root",
            "root.pem",
            "--measurement",
            m,
            "-i",
            "in.fifo",
            "-o",
            "-",
        ])
        .output()
        .unwrap();
    writer.join().unwrap();
    out
}

#[test]
fn a_scaffolded_wasi_guest_served_with_tls_answers_and_fails_to_the_requester_only() {
    let d = Dir::new();
    d.ok(&["new", "loan", "--wasi"]);
    d.write("loan/src/main.rs", LOAN.as_bytes());
    cargo_build(&d, "loan");
    let module = "loan/target/wasm32-wasip1/release/loan.wasm";
    d.ok(&["platform", "init"]);
    d.ok(&["platform", "export-root", "-o", "root.pem"]);
    d.ok(&["keygen", "-o", "author.key"]);
    let sign = [
        "sign",
        module,
        "--key",
        "author.key",
        "--manifest",
        "loan/enclave.toml",
        "-o",
        "loan.enclave",
    ];
    d.ok(&sign);
    let m = d
        .ok(&["measure", module, "--manifest", "loan/enclave.toml"])
        .trim()
        .to_owned();

    let mut server = Command::new(env!("CARGO_BIN_EXE_enclave"))
        .args(["serve", "loan.enclave", "--listen", "127.0.0.1:0", "--tls"])
        .current_dir(d.dir.path())
        .env("ENCLAVE_HOME", d.path("platform"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    assert!(url.starts_with("https://"), "{url}");

    let good = call(&d, &url, &m, "salary=52000");
    assert!(good.status.success(), "{good:?}");
    assert_eq!(good.stdout, b"score: 52\n");

    let bad = call(&d, &url, &m, BAD);
    let stderr = String::from_utf8_lossy(&bad.stderr).into_owned();
    assert_eq!(bad.status.code(), Some(5), "{stderr}");
    assert!(bad.stdout.is_empty());
    // One message, with the guest's own words: its panic, sealed to the requester.
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("bad salary: {BAD}")), "{stderr}");

    // The operator's log never holds the input.
    let _ = server.kill();
    let mut logs = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    let _ = server.wait();
    assert!(!logs.contains("SECRET-4242"), "{logs}");
}

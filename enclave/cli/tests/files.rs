//! One convention for every file argument (docs/cli.md, "Files"): `-` is standard input or
//! output; FIFOs work for every input; a device or FIFO given as an output is written in place
//! and never replaced; and a failing command's `--json` prints the error object. `call` against a
//! real `enclave serve`, and against a fake server that answers with a receipt that is not for
//! the request and an endless body: refused before the body is read.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::FileTypeExt as _;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::{attested, Dir, Listening, ECHO};

/// Echoes its input, unless it starts with `!`: then aborts with `refused: <input>`.
const PICKY: &str = r#"(module
    (import "enclave_v1" "read_input" (func $read (param i32 i32) (result i32)))
    (import "enclave_v1" "write_output" (func $write (param i32 i32) (result i32)))
    (import "enclave_v1" "abort" (func $abort (param i32 i32)))
    (memory (export "memory") 1)
    (data (i32.const 1015) "refused: ")
    (func (export "enclave_main")
        (local $n i32)
        (local.set $n (call $read (i32.const 1024) (i32.const 4096)))
        (if (i32.eq (i32.load8_u (i32.const 1024)) (i32.const 33))
            (then (call $abort (i32.const 1015) (i32.add (i32.const 9) (local.get $n)))))
        (drop (call $write (i32.const 1024) (local.get $n)))))"#;

fn enclave(d: &Dir, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_enclave"));
    command
        .args(args)
        .current_dir(d.dir.path())
        .env("ENCLAVE_HOME", d.path("platform"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs with `stdin` as standard input.
fn with_stdin(d: &Dir, args: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut child = enclave(d, args).stdin(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// Makes `name` a FIFO and starts a thread that writes `bytes` into it once a reader opens it.
fn fifo_in(d: &Dir, name: &str, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
    let path = mkfifo(d, name);
    std::thread::spawn(move || {
        let mut writer = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        let _ = writer.write_all(&bytes);
    })
}

/// Makes `name` a FIFO and starts a thread that reads it to its end.
fn fifo_out(d: &Dir, name: &str) -> std::thread::JoinHandle<Vec<u8>> {
    let path = mkfifo(d, name);
    std::thread::spawn(move || std::fs::read(path).unwrap())
}

fn mkfifo(d: &Dir, name: &str) -> std::path::PathBuf {
    let path = d.path(name);
    assert!(Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap()
        .success());
    path
}

fn is_fifo(path: &std::path::Path) -> bool {
    std::fs::symlink_metadata(path)
        .unwrap()
        .file_type()
        .is_fifo()
}

#[test]
fn dash_is_standard_input_and_output_for_run() {
    let d = Dir::new();
    d.signed(ECHO);
    let out = with_stdin(&d, &["run", "app.enclave", "-i", "-", "-o", "-"], b"piped");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"piped");
    assert!(!d.path("-").exists());
    // Standard input can be read once.
    let err = d.fails(
        2,
        &[
            "run",
            "app.enclave",
            "-i",
            "-",
            "-i",
            "-",
            "-o",
            "a",
            "-o",
            "b",
        ],
    );
    assert_eq!(
        err,
        "error: standard input (-) is given as two inputs: it can be read once\n"
    );
}

/// A link to `/dev/null` (in a temporary directory, so nothing but the link could be replaced)
/// needs no `--force` and stays a link to the device; a FIFO is written in place with or
/// without `--force`.
#[test]
fn devices_and_fifos_are_written_in_place_never_replaced() {
    let d = Dir::new();
    d.signed(ECHO);
    d.write("in.txt", b"to the void");
    let null = d.path("null");
    std::os::unix::fs::symlink("/dev/null", &null).unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let mut args = vec!["run", "app.enclave", "-i", "in.txt", "-o", "null"];
        args.extend_from_slice(extra);
        d.ok(&args);
        let link = std::fs::symlink_metadata(&null).unwrap();
        assert!(link.file_type().is_symlink());
        assert!(std::fs::metadata(&null)
            .unwrap()
            .file_type()
            .is_char_device());
    }
    for extra in [&[][..], &["--force"][..]] {
        let _ = std::fs::remove_file(d.path("out.fifo"));
        let reader = fifo_out(&d, "out.fifo");
        let mut args = vec!["run", "app.enclave", "-i", "in.txt", "-o", "out.fifo"];
        args.extend_from_slice(extra);
        d.ok(&args);
        assert_eq!(reader.join().unwrap(), b"to the void");
        assert!(is_fifo(&d.path("out.fifo")));
    }
    // A regular file is still refused without --force.
    d.write("taken.txt", b"keep");
    let err = d.fails(
        1,
        &["run", "app.enclave", "-i", "in.txt", "-o", "taken.txt"],
    );
    assert!(
        err.contains("taken.txt already exists (use --force to replace it)"),
        "{err}"
    );
    assert_eq!(std::fs::read(d.path("taken.txt")).unwrap(), b"keep");
}

/// `seal -i FIFO` (its length is not in its metadata), then `open -` from standard input to
/// `-o -`.
#[test]
fn seal_reads_a_fifo_and_open_reads_standard_input() {
    let d = Dir::new();
    let m = attested(&d, ECHO);
    let writer = fifo_in(&d, "plain.fifo", b"sealed from a fifo".to_vec());
    // The sealed input into a FIFO, written in place (opened once).
    let reader = fifo_out(&d, "sealed.fifo");
    let mut args = common::seal_args(&m, common::NONCE, "plain.fifo", "sealed.fifo");
    args.extend(["--context", "input.sealed.context"]);
    d.ok(&args);
    writer.join().unwrap();
    std::fs::write(d.path("input.sealed"), reader.join().unwrap()).unwrap();
    assert!(is_fifo(&d.path("sealed.fifo")));
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
    let sealed = std::fs::read(d.path("output.sealed")).unwrap();
    let out = with_stdin(
        &d,
        &[
            "open",
            "-",
            "--receipt",
            "receipt.cbor",
            "--context",
            "input.sealed.context",
            "--root",
            "root.pem",
            "-o",
            "-",
        ],
        &sealed,
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"sealed from a fifo");
}

/// A sealed run that fails: `--json` prints the error object with the receipt's outcome, and
/// the receipt and the sealed failure report are written.
#[test]
fn a_failed_sealed_run_prints_the_error_object_with_its_outcome() {
    let d = Dir::new();
    common::sealed_to(&d, PICKY, "plain.txt", b"!no");
    let args = [
        "run",
        "app.enclave",
        "-i",
        "input.sealed",
        "-o",
        "output.sealed",
        "--receipt",
        "receipt.cbor",
        "--json",
    ];
    let out = enclave(&d, &args).output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    let error: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    common::assert_error_object(&error, 5, &String::from_utf8_lossy(&out.stderr));
    assert_eq!(error["outcome"], "failed");
    assert_eq!(error["receipt"], "receipt.cbor");
    assert!(
        error["failure"]
            .as_str()
            .unwrap()
            .starts_with("guest aborted: <message withheld"),
        "{error}"
    );
    assert!(d.path("receipt.cbor").exists() && d.path("output.sealed").exists());
}

/// A FIFO is opened once and cannot take back what it was given: its reader gets one whole
/// answer that `enclave open` opens, the sealed output of a run that succeeded or the sealed
/// failure report alone of one that failed, never a torn output followed by a report.
#[test]
fn a_sealed_run_into_a_fifo_gives_its_reader_one_answer_that_opens() {
    for (plaintext, code) in [(&b"an answer"[..], 0), (&b"!no"[..], 5)] {
        let d = Dir::new();
        common::sealed_to(&d, PICKY, "plain.txt", plaintext);
        let reader = fifo_out(&d, "answer.fifo");
        let args = [
            "run",
            "app.enclave",
            "-i",
            "input.sealed",
            "-o",
            "answer.fifo",
            "--receipt",
            "receipt.cbor",
        ];
        let out = enclave(&d, &args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{stderr}");
        let answer = reader.join().unwrap();
        assert!(is_fifo(&d.path("answer.fifo")));
        d.write("output.sealed", &answer);
        let open = enclave(&d, common::OPEN).output().unwrap();
        let opened = String::from_utf8_lossy(&open.stderr);
        assert_eq!(open.status.code(), Some(code), "{opened}");
        if code == 0 {
            assert_eq!(std::fs::read(d.path("result.txt")).unwrap(), plaintext);
        } else {
            assert!(opened.contains("guest aborted: refused: !no"), "{opened}");
        }
    }
}

fn call<'a>(url: &'a str, m: &'a str, input: &'a str, output: &'a str) -> Vec<&'a str> {
    vec![
        "call",
        url,
        "--root",
        "root.pem",
        "--measurement",
        m,
        "-i",
        input,
        "-o",
        output,
    ]
}

#[test]
fn call_reads_a_fifo_writes_standard_output_and_keeps_a_failed_runs_receipt_and_report() {
    let d = Dir::new();
    let m = attested(&d, PICKY);
    let served = Listening::start(&d, &["serve", "app.enclave", "--listen", "127.0.0.1:0"]);

    // `-i <(…)` is a FIFO-like pipe: its metadata says 0 bytes.
    let writer = fifo_in(&d, "in.fifo", b"from a pipe".to_vec());
    let out = enclave(&d, &call(&served.url, &m, "in.fifo", "-"))
        .output()
        .unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"from a pipe");
    assert!(!d.path("-").exists());

    // Standard input, to a file.
    let out = with_stdin(&d, &call(&served.url, &m, "-", "answer.txt"), b"from stdin");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read(d.path("answer.txt")).unwrap(), b"from stdin");

    // A failed run: one message, the receipt and the opened report kept, the JSON error object.
    d.write("bad.txt", b"!bad input");
    let mut args = call(&served.url, &m, "bad.txt", "bad.out");
    args.extend([
        "--receipt",
        "bad.receipt",
        "--report",
        "bad.report",
        "--json",
    ]);
    let stderr = d.fails(5, &args);
    assert_eq!(
        stderr,
        format!(
            "error: confidential request to {} failed: the enclave's run failed: guest \
             aborted: refused: !bad input\n",
            served.url
        )
    );
    assert!(!d.path("bad.out").exists());
    assert_eq!(
        std::fs::read_to_string(d.path("bad.report")).unwrap(),
        "guest aborted: refused: !bad input"
    );
    assert_eq!(common::mode(&d.path("bad.report")), 0o600);
    assert!(!std::fs::read(d.path("bad.receipt")).unwrap().is_empty());
    let out = enclave(&d, &args).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "the files exist now: --force");
    args.push("--force");
    let out = enclave(&d, &args).output().unwrap();
    let error: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(error["error"], "guest-failed");
    assert_eq!(error["exit_code"], 5);
    assert_eq!(error["outcome"], "failed");
    assert_eq!(error["receipt"], "bad.receipt");
    assert_eq!(error["report"], "bad.report");
    // The operator's view, withheld for a production enclave.
    assert!(
        error["failure"]
            .as_str()
            .unwrap()
            .starts_with("guest aborted: <message withheld"),
        "{error}"
    );
}

/// Issue 27 item 7: a man in the middle answers with a receipt that is not this request's (a
/// genuine one of another run, then garbage) and an endless body. `call` refuses on the receipt
/// header and reads none of the body: the fake server's writes stop at what the socket buffers
/// hold.
#[test]
fn call_refuses_a_foreign_receipt_before_reading_the_body() {
    let d = Dir::new();
    let m = attested(&d, ECHO);
    let served = Listening::start(&d, &["serve", "app.enclave", "--listen", "127.0.0.1:0"]);
    d.write("in.txt", b"honest");
    let mut args = call(&served.url, &m, "in.txt", "first.txt");
    args.extend(["--receipt", "other.receipt"]);
    d.ok(&args);
    let genuine = std::fs::read(d.path("other.receipt")).unwrap();

    for (receipt, code, message) in [
        (genuine, 6, "the receipt does not match the request"),
        (b"not a receipt".to_vec(), 6, "the receipt was refused"),
    ] {
        let (url, sent) = fake_server(served.url.clone(), receipt);
        let err = d.fails(6, &call(&url, &m, "in.txt", "answer.txt"));
        assert_eq!(code, 6);
        assert!(err.contains(message), "{err}");
        assert!(!d.path("answer.txt").exists());
        let sent = sent.join().unwrap();
        // Socket buffers hold a few MiB at most; the body would be 1 GiB.
        assert!(sent < 64 << 20, "the client read {sent} bytes of the body");
    }
}

/// A server on 127.0.0.1 that forwards the client's `POST /.well-known/enclave/v1/evidence` to
/// `real` (as `POST /v1/evidence`) and answers its `POST /.well-known/enclave/v1/run`
/// with 200, `receipt` in the receipt header, and a chunked body of up to 1 GiB. Returns its URL
/// and a thread that ends with the number of body bytes it wrote before the client hung up.
fn fake_server(real: String, receipt: Vec<u8>) -> (String, std::thread::JoinHandle<u64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let sent = Arc::new(AtomicU64::new(0));
    let thread = std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let (head, body) = read_request(&mut stream);
            if head.starts_with("POST /.well-known/enclave/v1/evidence") {
                let answer = forward(&real, &body);
                stream.write_all(&answer).unwrap();
                continue;
            }
            assert!(
                head.starts_with("POST /.well-known/enclave/v1/run"),
                "{head}"
            );
            use base64::Engine as _;
            let header = base64::engine::general_purpose::STANDARD.encode(&receipt);
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/vnd.enclave.sealed-output\r\n\
                 enclave-receipt: {header}\r\ntransfer-encoding: chunked\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).unwrap();
            let chunk = vec![0x5a; 64 << 10];
            let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
            for _ in 0..(1 << 14) {
                if stream.write_all(&framed).is_err() {
                    break;
                }
                sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            }
            return sent.load(Ordering::SeqCst);
        }
        0
    });
    (url, thread)
}

/// Reads one request: its head and its body (by content-length).
fn read_request(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut head = String::new();
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = value.trim().parse().unwrap();
        }
        let end = line == "\r\n";
        head.push_str(&line);
        if end {
            break;
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    (head, body)
}

/// `POST /v1/evidence` with `body` to the real server; its whole answer.
fn forward(real: &str, body: &[u8]) -> Vec<u8> {
    let addr = real.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /v1/evidence HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    answer
}

//! `enclave serve` and `enclave call` as processes: a confidential request end to end, the exit
//! codes of `call`, and SIGTERM with a request in flight.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{attested, Dir, ECHO};

const PATIENCE: Duration = Duration::from_secs(600);

/// A running `enclave serve` and the address it printed.
struct Served {
    child: Child,
    url: String,
    addr: String,
}

impl Served {
    fn start(d: &Dir, extra: &[&str]) -> Self {
        Self::listen(d, "127.0.0.1:0", extra)
    }

    fn listen(d: &Dir, listen: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_enclave"))
            .args(["serve", "app.enclave", "--listen", listen])
            .args(extra)
            .current_dir(d.dir.path())
            .env("ENCLAVE_HOME", d.path("platform"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        let addr = url
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .to_owned();
        Self { child, url, addr }
    }

    /// Sends SIGTERM and returns the exit status and the logs.
    fn terminate(self) -> (std::process::ExitStatus, String) {
        self.signal();
        self.terminate_waited()
    }

    fn signal(&self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
    }
}

fn call_args<'a>(url: &'a str, m: &'a str, input: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "call",
        url,
        "--root",
        "root.pem",
        "--measurement",
        m,
        "--input",
        input,
        "-o",
        out,
    ]
}

#[test]
fn serve_and_call_complete_a_confidential_request() {
    let d = Dir::new();
    let m = attested(&d, ECHO);
    d.write("secret.txt", b"the quarterly numbers");
    let served = Served::start(&d, &["--workers", "2"]);

    let mut args = call_args(&served.url, &m, "secret.txt", "answer.txt");
    args.extend(["--receipt", "answer.receipt", "--json"]);
    let stdout = d.ok(&args);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["measurement"], m);
    assert_eq!(
        std::fs::read(d.path("answer.txt")).unwrap(),
        b"the quarterly numbers"
    );
    assert_eq!(common::mode(&d.path("answer.txt")), 0o600);
    assert!(d.path("answer.receipt").exists());

    // Another measurement: the evidence is refused, exit 6, nothing written.
    let other = "00".repeat(32);
    let stderr = d.fails(
        6,
        &call_args(&served.url, &other, "secret.txt", "other.txt"),
    );
    assert!(stderr.contains("evidence was refused"), "{stderr}");
    assert!(!d.path("other.txt").exists());
    // The same policy from a verifier policy file; one that forbids a capability the enclave
    // lacks passes, one that requires a capability it lacks is refused before anything is sent.
    d.write(
        "policy.toml",
        format!(
            "roots = [\"root.pem\"]\nmeasurements = [\"{m}\"]\nforbid_capabilities = [\"log\"]\n"
        )
        .as_bytes(),
    );
    let by_file = |out: &'static str, extra: &[&'static str]| {
        let mut args = vec![
            "call",
            served.url.as_str(),
            "--policy",
            "policy.toml",
            "--input",
            "secret.txt",
            "-o",
            out,
        ];
        args.extend_from_slice(extra);
        args
    };
    d.ok(&by_file("by-file.txt", &[]));
    assert_eq!(
        std::fs::read(d.path("by-file.txt")).unwrap(),
        b"the quarterly numbers"
    );
    let stderr = d.fails(
        6,
        &by_file("needs-seal.txt", &["--require-capability", "seal"]),
    );
    assert!(
        stderr.contains("capability `seal` is required and not granted"),
        "{stderr}"
    );
    assert!(!d.path("needs-seal.txt").exists());
    // No server there: exit 1 with the reason.
    let stderr = d.fails(
        1,
        &call_args("http://127.0.0.1:9", &m, "secret.txt", "none.txt"),
    );
    assert!(stderr.contains("cannot reach the server"), "{stderr}");

    let (status, logs) = served.terminate();
    assert!(status.success(), "{status:?}\n{logs}");
    // The logs name routes and outcomes, never a payload byte.
    assert!(
        logs.contains("route=\"run\"") || logs.contains("route=run"),
        "{logs}"
    );
    assert!(!logs.contains("quarterly"), "{logs}");
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_and_exits_0() {
    let d = Dir::new();
    let m = attested(&d, ECHO);
    d.write("in.txt", b"in flight");
    // A sealed input made with `enclave seal`, sent by hand in two parts.
    d.ok(&common::seal_args(&m, common::NONCE, "in.txt", "in.sealed"));
    let sealed = std::fs::read(d.path("in.sealed")).unwrap();
    // The upload pauses while the test waits for the run to start: long body deadlines, so a
    // loaded machine cannot turn the pause into a 408.
    let served = Served::start(
        &d,
        &[
            "--workers",
            "1",
            "--log-format",
            "json",
            "--body-timeout",
            "3600s",
        ],
    );

    let mut stream = upload_in_flight(&served, &sealed);
    served.signal();
    wait_until_closed(&served);
    stream.write_all(&sealed[190..]).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let (status, logs) = served.terminate_waited();
    assert!(status.success(), "{status:?}\n{logs}");
    assert!(
        logs.lines().any(|l| l.starts_with('{')),
        "JSON logs: {logs}"
    );
}

/// Sends the head of a sealed run and part of its body, and waits until the server holds it.
fn upload_in_flight(served: &Served, sealed: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(&served.addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let head = format!(
        "POST /v1/run HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-type: application/vnd.enclave.sealed-input\r\ncontent-length: {}\r\n\r\n",
        sealed.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&sealed[..190]).unwrap();
    let deadline = Instant::now() + PATIENCE;
    while get(&served.addr, "/metrics").contains("enclave_request_body_bytes_reserved 0") {
        assert!(Instant::now() < deadline, "the upload never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    stream
}

/// Waits until the listener is closed (the first signal was taken).
fn wait_until_closed(served: &Served) {
    let deadline = Instant::now() + PATIENCE;
    while TcpStream::connect(&served.addr).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `message` of each JSON log line; panics on a line that is not JSON.
fn json_messages(logs: &str) -> Vec<String> {
    logs.lines()
        .map(|line| {
            let doc: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|_| panic!("not a JSON log line: {line:?}"));
            doc["message"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

/// A drain that times out says so through the logger (JSON here) and exits 1; a second signal
/// during a drain stops at once.
#[test]
fn a_drain_timeout_is_logged_and_a_second_signal_stops_at_once() {
    let d = Dir::new();
    let m = attested(&d, ECHO);
    d.write("in.txt", b"never finished");
    d.ok(&common::seal_args(&m, common::NONCE, "in.txt", "in.sealed"));
    let sealed = std::fs::read(d.path("in.sealed")).unwrap();
    let json = ["--log-format", "json", "--body-timeout", "3600s"];

    // Time is the subject: a 1 s drain with an upload that never ends.
    let served = Served::start(&d, &[&json[..], &["--drain-timeout", "1s"]].concat());
    let _stream = upload_in_flight(&served, &sealed);
    let (status, logs) = served.terminate();
    assert_eq!(status.code(), Some(1), "{logs}");
    let messages = json_messages(&logs);
    assert!(
        messages
            .iter()
            .any(|m| m
                == "the drain timeout of 1s passed with 1 connection(s) and 0 run(s) still busy"),
        "{logs}"
    );

    let served = Served::start(&d, &[&json[..], &["--drain-timeout", "3600s"]].concat());
    let _stream = upload_in_flight(&served, &sealed);
    served.signal();
    wait_until_closed(&served);
    let (status, logs) = served.terminate();
    assert_eq!(status.code(), Some(1), "{logs}");
    assert!(
        json_messages(&logs)
            .iter()
            .any(|m| m == "second signal: stopping at once, requests in flight are dropped"),
        "{logs}"
    );
}

#[test]
fn listen_resolves_names_and_tls_refresh_is_bounded_by_the_evidence_age() {
    let d = Dir::new();
    attested(&d, ECHO);
    let served = Served::listen(&d, "localhost:0", &[]);
    assert!(get(&served.addr, "/healthz").starts_with("HTTP/1.1 200"));
    let (status, _) = served.terminate();
    assert!(status.success());

    let stderr = d.fails(
        2,
        &[
            "serve",
            "app.enclave",
            "--listen",
            "127.0.0.1:0",
            "--tls",
            "--tls-refresh",
            "6m",
        ],
    );
    assert_eq!(
        stderr.trim(),
        "error: --tls-refresh 6m is longer than the clients' default maximum evidence age of 5m: they would refuse the certificate before it is renewed"
    );
}

impl Served {
    /// Waits for an exit already asked for.
    fn terminate_waited(mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().unwrap();
        let mut logs = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut logs)
            .unwrap();
        (status, logs)
    }
}

fn get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

#[test]
fn serve_tls_is_verified_by_call_and_verify_tls() {
    let d = Dir::new();
    let m = attested(&d, ECHO);
    d.write("secret.txt", b"over attested TLS");
    let served = Served::start(&d, &["--workers", "1", "--tls"]);
    assert!(served.url.starts_with("https://"), "{}", served.url);

    d.ok(&call_args(&served.url, &m, "secret.txt", "answer.txt"));
    assert_eq!(
        std::fs::read(d.path("answer.txt")).unwrap(),
        b"over attested TLS"
    );

    let verify_tls = |measurement: &str| {
        let args = [
            "verify-tls",
            served.addr.as_str(),
            "--root",
            "root.pem",
            "--measurement",
            measurement,
            "--json",
        ];
        args.map(str::to_owned)
    };
    let args = verify_tls(&m);
    let json: serde_json::Value =
        serde_json::from_str(&d.ok(&args.each_ref().map(String::as_str))).unwrap();
    assert_eq!(json["measurement"], m);
    assert_eq!(json["tls_key"].as_str().unwrap().len(), 64);
    assert_eq!(json["report_data"], json["tls_key"]);

    // Another measurement: refused in the handshake, exit 6, with the verifier's reason; `call`
    // sends nothing.
    let other = "00".repeat(32);
    let args = verify_tls(&other);
    let stderr = d.fails(6, &args.each_ref().map(String::as_str));
    assert!(
        stderr.contains("attested TLS refused: attestation evidence refused: measurement mismatch"),
        "{stderr}"
    );
    let stderr = d.fails(6, &call_args(&served.url, &other, "secret.txt", "no.txt"));
    assert!(stderr.contains("attested TLS refused"), "{stderr}");
    assert!(!d.path("no.txt").exists());

    let (status, logs) = served.terminate();
    assert!(status.success(), "{status:?}\n{logs}");
}

#[test]
#[ignore = "server flaw: POST /.well-known/enclave/v1/run of an http enclave answers its 404 \
            without reading the request body and closes the connection, so a client that sends \
            its whole body before it reads (ureq, the client library, enclave call) gets a broken \
            pipe instead of the 404; enclave/server/src/routes.rs handle"]
fn a_sealed_run_of_an_http_enclave_is_refused_in_words_not_a_broken_pipe() {
    let d = Dir::new();
    d.ok(&["platform", "init"]);
    d.ok(&["keygen", "--out", "author.key"]);
    d.write("app.wasm", enclave_tests::guests::HTTP_HELLO);
    d.write(
        "http.toml",
        b"product_id = 1\nsvn = 1\ndebug = false\nkind = \"http\"\n",
    );
    d.ok(&[
        "sign",
        "app.wasm",
        "--key",
        "author.key",
        "--manifest",
        "http.toml",
        "-o",
        "app.enclave",
    ]);
    let served = common::Listening::start(
        &d,
        &[
            "serve",
            "app.enclave",
            "--listen",
            "127.0.0.1:0",
            "--allow-plaintext",
        ],
    );
    let answer = ureq::post(&format!("{}/.well-known/enclave/v1/run", served.url))
        .set("content-type", "application/octet-stream")
        .send_bytes(&vec![7; 4 << 20]);
    match answer {
        Err(ureq::Error::Status(404, response)) => {
            let detail = response.into_string().unwrap();
            assert!(
                detail.contains("an http enclave has no /v1/run"),
                "{detail}"
            );
        }
        other => panic!("expected the 404 in words, got {other:?}"),
    }
}

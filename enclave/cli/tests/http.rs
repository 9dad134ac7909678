//! `kind = "http"` enclaves end to end, as processes: wasi:http components (`guests/http-hello`,
//! `guests/http-counter`) signed with `enclave sign`, served by `enclave serve`, called with
//! curl — directly in cleartext, or over attested TLS through `enclave proxy` — and the refusals
//! at signing and running time (issue 31; docs/formats.md, "HTTP API": "Components").
//!
//! Every test is bounded: a fixed number of requests, each with curl's `--max-time`; no
//! assertion depends on how long something took.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Dir, Listening, NONCE};
use enclave_tests::guests::{HTTP_COUNTER, HTTP_HELLO};

/// The problem type of a component that failed before it answered.
const COMPONENT_FAILED: &str = "tag:enclave.invalid,2026:problem/component-failed";

/// Its title.
const FAILED_TITLE: &str = "the component failed before it answered";

/// The detail of a production enclave's trap: its words are withheld.
const WITHHELD: &str = "the component trapped or returned without a response (the details are \
                        withheld: a production enclave's words go to no operator)";

/// What `GET /` of http-hello answers.
const HELLO: &[u8] = b"hello from an enclave\n";

/// The bound on one curl run: generous, so that a loaded machine never reaches it.
const MAX_TIME: &str = "300";

/// A platform (`root.pem` exported) and an author key in `d`.
fn platform(d: &Dir) {
    d.ok(&["platform", "init"]);
    d.ok(&["platform", "export-root", "-o", "root.pem"]);
    d.ok(&["keygen", "--out", "author.key"]);
}

/// A manifest of an http enclave: `debug`, the `capabilities` and extra `[limits]` lines.
fn manifest(debug: bool, capabilities: &[&str], limits: &str) -> String {
    let capabilities: Vec<String> = capabilities.iter().map(|c| format!("{c:?}")).collect();
    format!(
        "product_id = 1\nsvn = 1\ndebug = {debug}\nkind = \"http\"\ncapabilities = [{}]\n[limits]\n{limits}",
        capabilities.join(", ")
    )
}

/// `enclave sign` of the component `wasm` with `manifest` as `NAME.enclave` (the files
/// `NAME.wasm` and `NAME.toml` beside it); returns the sign command's output.
fn sign(d: &Dir, name: &str, wasm: &[u8], manifest: &str) -> std::process::Output {
    d.write(&format!("{name}.wasm"), wasm);
    d.write(&format!("{name}.toml"), manifest.as_bytes());
    d.enclave(&[
        "sign",
        "--key",
        "author.key",
        "--manifest",
        &format!("{name}.toml"),
        &format!("{name}.wasm"),
        "-o",
        &format!("{name}.enclave"),
    ])
}

/// [`sign`], required to succeed; returns the measurement `enclave measure` computes.
fn signed(d: &Dir, name: &str, wasm: &[u8], manifest: &str) -> String {
    let out = sign(d, name, wasm, manifest);
    assert!(
        out.status.success(),
        "sign {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    d.ok(&[
        "measure",
        &format!("{name}.wasm"),
        "--manifest",
        &format!("{name}.toml"),
    ])
    .trim()
    .to_owned()
}

/// `enclave serve BUNDLE --listen 127.0.0.1:0 EXTRA...`.
fn serve(d: &Dir, bundle: &str, extra: &[&str]) -> Listening {
    let args = [&["serve", bundle, "--listen", "127.0.0.1:0"][..], extra].concat();
    Listening::start(d, &args)
}

/// What curl saw of one exchange.
#[derive(Debug)]
struct Reply {
    /// curl's exit code (0: the transfer completed).
    exit: i32,
    /// The status of the last response head (after any `100 Continue`); 0 when none came.
    status: u16,
    /// The last head's header fields, names lowercased, in order.
    headers: Vec<(String, String)>,
    /// The body bytes that arrived.
    body: Vec<u8>,
    /// curl's error message, if any.
    stderr: String,
}

impl Reply {
    /// The first value of header `name` (lowercase).
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Requires a completed transfer with `status`; returns the body.
    fn expect(&self, status: u16) -> &[u8] {
        assert_eq!(self.exit, 0, "curl failed: {}", self.stderr);
        assert_eq!(self.status, status, "{self:?}");
        &self.body
    }

    /// Requires a completed transfer with `status` and a problem document; returns it.
    fn problem(&self, status: u16) -> serde_json::Value {
        let body = self.expect(status);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{self:?}"
        );
        let problem: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(problem["status"], status, "{problem}");
        problem
    }

    /// Requires a `component-failed` problem; returns its detail.
    fn component_failed(&self) -> String {
        let problem = self.problem(500);
        assert_eq!(problem["type"], COMPONENT_FAILED, "{problem}");
        assert_eq!(problem["title"], FAILED_TITLE, "{problem}");
        problem["detail"].as_str().unwrap().to_owned()
    }
}

/// `curl -sS --max-time … ARGS... URL` with the body and the head written to files in `d`.
fn curl(d: &Dir, url: &str, args: &[&str]) -> Reply {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let (body, head) = (
        d.path(&format!("curl-{n}.body")),
        d.path(&format!("curl-{n}.head")),
    );
    let out = Command::new("curl")
        .args(["-sS", "--max-time", MAX_TIME, "-o"])
        .arg(&body)
        .arg("-D")
        .arg(&head)
        .args(args)
        .arg(url)
        .current_dir(d.dir.path())
        .output()
        .unwrap_or_else(|e| panic!("these tests need curl on the PATH: {e}"));
    let head = std::fs::read_to_string(&head).unwrap_or_default();
    let (status, headers) = parse_head(&head);
    Reply {
        exit: out.status.code().unwrap_or(-1),
        status,
        headers,
        body: std::fs::read(&body).unwrap_or_default(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The status and the fields of the last head in curl's `-D` dump (an interim `100 Continue`
/// comes first when curl sent `Expect: 100-continue`).
fn parse_head(dump: &str) -> (u16, Vec<(String, String)>) {
    let Some(last) = dump
        .split("\r\n\r\n")
        .filter(|b| !b.trim().is_empty())
        .last()
    else {
        return (0, Vec::new());
    };
    let mut lines = last.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers)
}

/// `n` bytes that are not all alike, to catch reordering or lost chunks.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i % 253) ^ (i >> 8)) as u8).collect()
}

/// What `GET /bytes/N` sends: byte i is i % 251.
fn bytes_body(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// The done-when test of issue 31: a production wasi:http component, signed, served over
/// attested TLS, and answered correctly through `enclave proxy` to curl.
#[test]
fn curl_reaches_a_production_http_enclave_over_attested_tls_through_the_proxy() {
    let d = Dir::new();
    platform(&d);
    // http-hello imports nothing that needs a capability (signing checks that).
    let m = signed(&d, "app", HTTP_HELLO, &manifest(false, &[], ""));
    let served = serve(&d, "app.enclave", &["--tls"]);
    assert!(served.url.starts_with("https://"), "{}", served.url);
    // No --allow-debug: the proxy takes only a production enclave of this measurement.
    let proxy = Listening::start(
        &d,
        &[
            "proxy",
            &served.url,
            "--listen",
            "127.0.0.1:0",
            "--root",
            "root.pem",
            "--measurement-from",
            "app.enclave",
        ],
    );
    let url = |path: &str| format!("{}{path}", proxy.url);

    let hello = curl(&d, &url("/"), &[]);
    assert_eq!(hello.expect(200), HELLO);
    assert_eq!(hello.header("content-type"), Some("text/plain"));

    echoes_bodies_of_every_size(&d, &url("/echo"));

    for n in [0, 1, 65_536, 65_537, 1 << 20] {
        let reply = curl(&d, &url(&format!("/bytes/{n}")), &[]);
        assert_eq!(reply.expect(200), bytes_body(n), "GET /bytes/{n}");
        assert_eq!(
            reply.header("content-type"),
            Some("application/octet-stream")
        );
    }
    let teapot = curl(&d, &url("/status/418"), &[]);
    assert!(teapot.expect(418).is_empty());
    assert_eq!(curl(&d, &url("/nope"), &[]).expect(404), b"not found\n");
    // Another method on `/` is not found either: the component routes `GET /` only.
    let posted = curl(&d, &url("/"), &["--data-binary", "x"]);
    assert_eq!(posted.expect(404), b"not found\n");

    head_has_no_body(&d, &url("/"));

    for method in ["PUT", "DELETE", "PATCH"] {
        let reply = curl(&d, &url("/echo"), &["-X", method, "--data-binary", method]);
        assert_eq!(reply.expect(200), method.as_bytes());
        assert_eq!(reply.header("x-echo-method"), Some(method));
    }
    let headers = curl(
        &d,
        &url("/headers"),
        &[
            "-H",
            "X-Custom: hello there",
            "-H",
            "User-Agent: enclave-tests",
            "-H",
            "Accept: text/plain",
        ],
    );
    // Exactly what the client sent, the hop-by-hop and proxy-added fields left out.
    assert_eq!(
        String::from_utf8_lossy(headers.expect(200)),
        "accept: text/plain\nuser-agent: enclave-tests\nx-custom: hello there\n"
    );

    // The server's own routes, under the reserved prefix only.
    let info = curl(&d, &url("/.well-known/enclave/v1/info"), &[]);
    let info: serde_json::Value = serde_json::from_slice(info.expect(200)).unwrap();
    assert_eq!(info["kind"], "http", "{info}");
    assert_eq!(info["measurement"], m.as_str(), "{info}");
    assert_eq!(info["debug"], false, "{info}");
    assert_eq!(info["capabilities"], serde_json::json!([]), "{info}");
    assert_eq!(curl(&d, &url("/v1/info"), &[]).expect(404), b"not found\n");

    // A trap: the category, never the component's words (production).
    let trap = curl(&d, &url("/trap"), &[]);
    assert_eq!(trap.component_failed(), WITHHELD);
    let problem = trap.problem(500);
    assert!(
        problem["instance"]
            .as_str()
            .unwrap()
            .starts_with("urn:enclave:request:"),
        "{problem}"
    );
    // The server goes on answering.
    assert_eq!(curl(&d, &url("/"), &[]).expect(200), HELLO);
}

/// `POST URL` (http-hello's `/echo`) with bodies of 0 B, 1 B, 1 MiB and 2 MiB + 1 (over curl's
/// threshold for `Expect: 100-continue`), with a length and chunked: each comes back byte for
/// byte.
fn echoes_bodies_of_every_size(d: &Dir, url: &str) {
    for (name, body) in [
        ("empty", Vec::new()),
        ("one", b"x".to_vec()),
        ("mib", pattern(1 << 20)),
        ("two-mib", pattern((2 << 20) + 1)),
    ] {
        d.write(name, &body);
        let file = format!("@{name}");
        let sized = curl(
            d,
            url,
            &[
                "--data-binary",
                &file,
                "-H",
                "Content-Type: application/x-test",
            ],
        );
        assert_eq!(sized.expect(200), body, "{name} with a length");
        assert_eq!(sized.header("x-echo-method"), Some("POST"));
        assert_eq!(sized.header("content-type"), Some("application/x-test"));
        let chunked = curl(
            d,
            url,
            &["--data-binary", &file, "-H", "Transfer-Encoding: chunked"],
        );
        assert_eq!(chunked.expect(200), body, "{name} chunked");
    }
}

/// `HEAD URL` then `GET URL` on the same connection (curl `--next` reuses it): the component's
/// 404 for HEAD (it routes `GET /` only) comes without its body — were the body sent, the
/// second response would not parse.
fn head_has_no_body(d: &Dir, url: &str) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", MAX_TIME, "-I", url, "--next", url])
        .current_dir(d.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nhello from an enclave\n"), "{text}");
    assert!(!text.contains("not found\n"), "{text}");
}

/// Cleartext serving of an http enclave needs `--allow-plaintext`; then the component answers
/// every path but the server's own, which live under `/.well-known/enclave/` only.
#[test]
fn cleartext_needs_allow_plaintext_and_the_servers_routes_are_under_the_reserved_prefix() {
    let d = Dir::new();
    platform(&d);
    signed(&d, "app", HTTP_HELLO, &manifest(false, &[], ""));
    let stderr = d.fails(2, &["serve", "app.enclave", "--listen", "127.0.0.1:0"]);
    assert_eq!(
        stderr.trim(),
        "error: an http enclave's requests and responses are its inputs and outputs: serve it \
         with --tls (attested TLS), or pass --allow-plaintext to serve them in cleartext"
    );

    let served = Listening::start_logged(
        &d,
        &[
            "serve",
            "app.enclave",
            "--listen",
            "127.0.0.1:0",
            "--allow-plaintext",
        ],
        "serve.log",
    );
    assert!(served.url.starts_with("http://"), "{}", served.url);
    let url = |path: &str| format!("{}{path}", served.url);
    assert_eq!(curl(&d, &url("/"), &[]).expect(200), HELLO);
    // The component's paths, the old names of the server's routes among them.
    for path in [
        "/healthz",
        "/v1/info",
        "/.well-known/enclave",
        "/.well-known/enclavex",
    ] {
        let reply = curl(&d, &url(path), &[]);
        assert_eq!(reply.expect(404), b"not found\n", "{path}");
        assert_eq!(reply.header("content-type"), Some("text/plain"), "{path}");
    }
    let health = curl(&d, &url("/.well-known/enclave/healthz"), &[]);
    assert_eq!(health.expect(200), b"ok\n");
    let info = curl(&d, &url("/.well-known/enclave/v1/info"), &[]);
    let info: serde_json::Value = serde_json::from_slice(info.expect(200)).unwrap();
    assert_eq!(info["kind"], "http", "{info}");

    let run = curl(
        &d,
        &url("/.well-known/enclave/v1/run"),
        &["--data-binary", "x"],
    );
    let problem = run.problem(404);
    assert_eq!(
        problem["type"],
        "tag:enclave.invalid,2026:problem/not-found"
    );
    assert_eq!(
        problem["detail"],
        "an http enclave has no /v1/run: its component answers every path outside \
         /.well-known/enclave/"
    );
    let unknown = curl(&d, &url("/.well-known/enclave/nope"), &[]);
    assert_eq!(unknown.problem(404)["detail"], "no route /nope");

    // No Host header (curl's `-H 'Host:'` removes it) and HTTP/1.0, or one that is not
    // visible ASCII: no authority, a 400.
    for host in [
        &["--http1.0", "-H", "Host:"][..],
        &["-H", "Host: caf\u{e9}"],
    ] {
        let hostless = curl(&d, &url("/"), host);
        let problem = hostless.problem(400);
        assert_eq!(
            problem["detail"], "the request names no authority: send a Host header (visible ASCII)",
            "{host:?}"
        );
    }
    // The logs name the route and the outcome, never the path, a header or a body byte.
    let secret = curl(
        &d,
        &url("/echo?token=hunter2"),
        &["-H", "X-Token: hunter2", "--data-binary", "hunter2 body"],
    );
    assert_eq!(secret.expect(200), b"hunter2 body");
    assert_eq!(served.stop().code(), Some(0));
    let log = std::fs::read_to_string(d.path("serve.log")).unwrap();
    assert!(log.contains("route=\"component\""), "{log}");
    assert!(!log.contains("hunter2") && !log.contains("/echo"), "{log}");
}

/// The manifest's limits, per request, under `enclave serve` (debug enclaves, so that the
/// details are shown): fuel, wall clock, the request and the response body caps; the server
/// answers on after each.
#[test]
fn each_request_is_bounded_by_the_manifests_limits() {
    let d = Dir::new();
    platform(&d);

    signed(
        &d,
        "fuel",
        HTTP_HELLO,
        &manifest(true, &[], "fuel = 1000000\ntimeout_ms = 600000\n"),
    );
    // The loop is stopped by the limit under test, whatever the load (docs/testing.md, "Tests
    // and time").
    let served = serve(&d, "fuel.enclave", &["--allow-plaintext"]);
    let spin = curl(&d, &format!("{}/spin", served.url), &[]);
    assert_eq!(spin.component_failed(), "fuel budget of 1000000 exhausted");
    assert_eq!(curl(&d, &served.url, &[]).expect(200), HELLO);
    drop(served);

    // Unmetered: only the wall clock ends the loop. (Time is the subject here; the limit is
    // on the component's execution, so nothing else in this request races it.)
    let clock = "fuel = 0\ntimeout_ms = 200\n";
    signed(&d, "clock", HTTP_HELLO, &manifest(true, &[], clock));
    let served = serve(&d, "clock.enclave", &["--allow-plaintext"]);
    let spin = curl(&d, &format!("{}/spin", served.url), &[]);
    assert_eq!(
        spin.component_failed(),
        "wall-clock limit of 200 ms exceeded"
    );
    drop(served);

    // Memory over all the component's memories: http-hello's initial memory alone is more.
    signed(
        &d,
        "memory",
        HTTP_HELLO,
        &manifest(true, &[], "memory_bytes = 1048576\n"),
    );
    let served = serve(&d, "memory.enclave", &["--allow-plaintext"]);
    let detail = curl(&d, &served.url, &[]).component_failed();
    assert!(
        detail.starts_with("memory limit of 1048576 bytes exceeded (guest asked for "),
        "{detail}"
    );
    drop(served);

    let caps = "max_input_bytes = 1024\nmax_output_bytes = 1000\n";
    signed(&d, "caps", HTTP_HELLO, &manifest(true, &[], caps));
    let served = serve(&d, "caps.enclave", &["--allow-plaintext"]);
    let url = |path: &str| format!("{}{path}", served.url);
    // A debug enclave's trap shows its words.
    assert_eq!(
        curl(&d, &url("/trap"), &[]).component_failed(),
        "guest trapped: wasm `unreachable` instruction executed"
    );
    request_bodies_are_capped(&d, &url("/echo"));
    // Exactly the cap passes whole.
    assert_eq!(
        curl(&d, &url("/bytes/1000"), &[]).expect(200),
        bytes_body(1000)
    );
    // Over the cap the body is cut off with an error: the connection closes without the end
    // of the chunked body, so curl fails. The component writes the 5000 bytes as one frame,
    // which alone is over the cap, so no byte of it is sent; whether the head went out first
    // depends on whether the frame was already there when the server wrote the head: curl
    // then says "Empty reply from server" (52) or "transfer closed with outstanding read data
    // remaining" (18). Either way the client knows the response is incomplete.
    let cut = curl(&d, &url("/bytes/5000"), &[]);
    assert!(matches!(cut.exit, 18 | 52), "{cut:?}");
    assert!(cut.body.is_empty(), "{cut:?}");
    // The server answers on.
    assert_eq!(curl(&d, &url("/"), &[]).expect(200), HELLO);
}

/// `URL` (http-hello's `/echo`) under `max_input_bytes = 1024` and `max_output_bytes = 1000`:
/// 1000 bytes pass both ways, 2 KiB is a 413 with a length (refused before the body is read)
/// and chunked (refused past the cap).
fn request_bodies_are_capped(d: &Dir, url: &str) {
    d.write("small", &pattern(1000));
    d.write("two-kib", &pattern(2048));
    assert_eq!(
        curl(d, url, &["--data-binary", "@small"]).expect(200),
        pattern(1000)
    );
    let sized = curl(d, url, &["--data-binary", "@two-kib"]);
    let problem = sized.problem(413);
    assert_eq!(
        problem["type"],
        "tag:enclave.invalid,2026:problem/payload-too-large"
    );
    assert_eq!(
        problem["detail"],
        "the body of 2048 bytes is over this enclave's limit of 1024"
    );
    let chunked = curl(
        d,
        url,
        &[
            "--data-binary",
            "@two-kib",
            "-H",
            "Transfer-Encoding: chunked",
        ],
    );
    assert_eq!(
        chunked.problem(413)["detail"],
        "the body is longer than the enclave takes"
    );
}

/// FINDING (issue 31): a component that fails after it has set its response ends the body as
/// if it were complete, against docs/formats.md ("The same happens when the component fails
/// while it writes the body"): curl gets `200`, a well-formed chunked body (HTTP/1.1) or a
/// cleanly closed stream (HTTP/2) and exits 0, and the log says `outcome="ok"`. Here a
/// production enclave runs out of fuel computing `GET /bytes/1000000`: the client gets 131072
/// of the 1000000 bytes (two 64 KiB chunks) and no sign that the rest is missing; with less
/// fuel, before the first byte, an empty 200. wasmtime-wasi-http ends the body cleanly when
/// the component's outgoing-body resource is dropped unfinished (its `finish` sender goes with
/// the store, and `BodyImpl::poll_frame` maps that `RecvError` to the end of the body), so the
/// runtime has to end the body with an error itself unless the component called `finish`. The
/// same holds for a trap and the wall-clock limit after the head.
#[test]
fn a_component_that_fails_after_its_head_does_not_end_the_body_cleanly() {
    let d = Dir::new();
    platform(&d);
    signed(
        &d,
        "fuel",
        HTTP_HELLO,
        &manifest(false, &[], "fuel = 3000000\n"),
    );
    let served = serve(&d, "fuel.enclave", &["--allow-plaintext"]);
    let url = format!("{}/bytes/1000000", served.url);
    for http in ["--http1.1", "--http2-prior-knowledge"] {
        let cut = curl(&d, &url, &[http]);
        // The fuel runs out before the end (else this test says nothing).
        assert!(
            cut.body.len() < 1_000_000,
            "{http}: {} bytes",
            cut.body.len()
        );
        assert_eq!(cut.body, bytes_body(cut.body.len()), "{http}");
        assert_ne!(
            cut.exit,
            0,
            "{http}: {} of 1000000 bytes, and the response looks complete",
            cut.body.len()
        );
    }
}

/// The number of instance slots of an http enclave: this many components run at once.
const SLOTS: usize = 16;

/// Runs `check` with the server's every instance slot taken by a `GET /spin` that only the
/// server's end stops (unmetered, a 10-minute deadline), `--queue 0`: `check` gets the
/// server's URL. Then kills the server, which ends the spins.
fn with_every_slot_taken(d: &Dir, check: impl FnOnce(&str)) {
    platform(d);
    let limits = "fuel = 0\ntimeout_ms = 600000\n";
    signed(d, "spin", HTTP_HELLO, &manifest(true, &[], limits));
    let served = serve(d, "spin.enclave", &["--allow-plaintext", "--queue", "0"]);
    let url = served.url.clone();
    let spin = format!("{url}/spin");
    std::thread::scope(|scope| {
        let spins: Vec<_> = (0..SLOTS)
            .map(|_| scope.spawn(|| curl(d, &spin, &[])))
            .collect();
        wait_for_metric(d, &url, &format!("enclave_runs_in_flight {SLOTS}"), 6000);
        check(&url);
        drop(served);
        for spin in spins {
            // Cut off by the server's end: no response.
            assert_ne!(spin.join().unwrap().exit, 0);
        }
    });
}

/// Polls `GET /.well-known/enclave/metrics` until a line reads `line`, at most `attempts`
/// times, 100 ms apart (a bound, not a timing).
fn wait_for_metric(d: &Dir, url: &str, line: &str, attempts: u32) {
    let metrics = format!("{url}/.well-known/enclave/metrics");
    for _ in 0..attempts {
        let reply = curl(d, &metrics, &[]);
        if String::from_utf8_lossy(reply.expect(200))
            .lines()
            .any(|l| l == line)
        {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the metrics never showed {line:?}");
}

/// Every instance slot busy and no queue: the next request is a 503 at once, and the server's
/// own routes still answer.
#[test]
fn a_request_past_the_instance_slots_and_the_queue_is_503_busy() {
    let d = Dir::new();
    with_every_slot_taken(&d, |url| {
        let busy = curl(&d, url, &[]);
        let problem = busy.problem(503);
        assert_eq!(problem["type"], "tag:enclave.invalid,2026:problem/busy");
        assert_eq!(
            problem["detail"],
            "every worker is busy and the queue is full"
        );
        assert_eq!(busy.header("retry-after"), Some("1"));
        let health = curl(&d, &format!("{url}/.well-known/enclave/healthz"), &[]);
        assert_eq!(health.expect(200), b"ok\n");
    });
}

/// The metrics of an http enclave count its component slots (not the native instance pool):
/// none free while every one runs a component.
#[test]
fn the_metrics_count_an_http_enclaves_busy_slots() {
    let d = Dir::new();
    with_every_slot_taken(&d, |url| {
        let metrics = curl(&d, &format!("{url}/.well-known/enclave/metrics"), &[]);
        let text = String::from_utf8_lossy(metrics.expect(200)).into_owned();
        assert!(
            text.lines().any(|l| l == "enclave_instance_slots_free 0"),
            "{text}"
        );
    });
}

/// The counter component (`store` and `report`): its count goes on across requests and across
/// a restart, concurrent requests (on one server and on two) each take one transaction, an old
/// copy of the store put back is refused, and its evidence verifies.
#[test]
fn an_http_enclaves_store_keeps_its_state_and_refuses_a_rollback() {
    let d = Dir::new();
    platform(&d);
    let capabilities = ["report", "store"];
    let m = signed(
        &d,
        "counter",
        HTTP_COUNTER,
        &manifest(false, &capabilities, ""),
    );
    let count_url = |served: &Listening| format!("{}/count", served.url);

    let served = serve(&d, "counter.enclave", &["--allow-plaintext"]);
    for n in 1..=3 {
        let reply = curl(&d, &count_url(&served), &["-X", "POST"]);
        assert_eq!(reply.expect(200), format!("{n}\n").as_bytes());
    }
    assert!(served.stop().success());

    let served = serve(&d, "counter.enclave", &["--allow-plaintext"]);
    assert_eq!(curl(&d, &count_url(&served), &[]).expect(200), b"3\n");
    // Eight at once: each request is one transaction, so each sees a count of its own.
    let one = [count_url(&served)];
    assert_eq!(concurrent_posts(&d, &one), counts(4..=11));
    assert_eq!(curl(&d, &count_url(&served), &[]).expect(200), b"11\n");
    // Two servers of one platform share the store, one transaction at a time between them.
    let other = serve(&d, "counter.enclave", &["--allow-plaintext"]);
    let both = [count_url(&served), count_url(&other)];
    assert_eq!(concurrent_posts(&d, &both), counts(12..=19));
    assert_eq!(curl(&d, &count_url(&other), &[]).expect(200), b"19\n");
    assert!(other.stop().success());
    evidence_verifies(&d, &served, &m);
    assert!(served.stop().success());

    // A copy of the store at count 19 (the servers stopped, so no write is half done).
    let store = d.path("platform").join("store");
    let saved = d.path("saved-store");
    copy_tree(&store, &saved);
    let served = serve(&d, "counter.enclave", &["--allow-plaintext"]);
    let reply = curl(&d, &count_url(&served), &["-X", "POST"]);
    assert_eq!(reply.expect(200), b"20\n");
    assert!(served.stop().success());

    // The old copy put back: the platform counter is ahead of it, every request fails.
    std::fs::remove_dir_all(&store).unwrap();
    copy_tree(&saved, &store);
    let served = serve(&d, "counter.enclave", &["--allow-plaintext"]);
    for args in [&["-X", "POST"][..], &[]] {
        let reply = curl(&d, &count_url(&served), args);
        assert_eq!(
            reply.component_failed(),
            "sealed store: sealed state version 19 is older than the platform counter 20: \
             rolled back"
        );
    }
    // The server itself is fine.
    let health = curl(
        &d,
        &format!("{}/.well-known/enclave/healthz", served.url),
        &[],
    );
    assert_eq!(health.expect(200), b"ok\n");
}

/// Eight `POST`s at once, spread over `urls`; the answers.
fn concurrent_posts(d: &Dir, urls: &[String]) -> BTreeSet<String> {
    std::thread::scope(|scope| {
        let posts: Vec<_> = urls
            .iter()
            .cycle()
            .take(8)
            .map(|url| scope.spawn(move || curl(d, url, &["-X", "POST"])))
            .collect();
        posts
            .into_iter()
            .map(|post| String::from_utf8(post.join().unwrap().expect(200).to_vec()).unwrap())
            .collect()
    })
}

/// The counter's answers for `range`.
fn counts(range: std::ops::RangeInclusive<u64>) -> BTreeSet<String> {
    range.map(|n| format!("{n}\n")).collect()
}

/// `GET /report?nonce=…` of the counter component: evidence that `enclave verify` accepts for
/// this measurement and nonce, with the component's report data (SHA-256 of `hello`).
fn evidence_verifies(d: &Dir, served: &Listening, measurement: &str) {
    let url = format!("{}/report?nonce={NONCE}", served.url);
    let reply = curl(d, &url, &[]);
    let evidence = reply.expect(200).to_vec();
    assert_eq!(reply.header("content-type"), Some("application/eat+cwt"));
    d.write("report.cbor", &evidence);
    let verified = d.ok(&[
        "verify",
        "report.cbor",
        "--root",
        "root.pem",
        "--measurement-from",
        "counter.enclave",
        "--nonce",
        NONCE,
        "--json",
    ]);
    let verified: serde_json::Value = serde_json::from_str(&verified).unwrap();
    assert_eq!(verified["measurement"], measurement, "{verified}");
    assert_eq!(verified["nonce"], NONCE, "{verified}");
    assert_eq!(
        verified["report_data"],
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
    assert_eq!(
        verified["capabilities"],
        serde_json::json!(["report", "store"])
    );
    // A bad nonce is the component's 400.
    let bad = curl(d, &format!("{}/report?nonce=xyz", served.url), &[]);
    assert_eq!(bad.expect(400), b"bad nonce\n");
}

/// Copies a directory tree (a backup of part of the platform home).
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// What `enclave sign` and `enclave run` refuse about http enclaves, with the exact words.
#[test]
fn http_enclaves_are_refused_at_signing_and_running_with_the_reason() {
    let d = Dir::new();
    platform(&d);
    let refused = |name: &str, wasm: &[u8], manifest: &str| {
        let out = sign(&d, name, wasm, manifest);
        assert_eq!(out.status.code(), Some(4), "{out:?}");
        assert!(!d.path(&format!("{name}.enclave")).exists());
        String::from_utf8(out.stderr).unwrap().trim().to_owned()
    };

    // A capability missing: every import that needs one is named, with the advice.
    assert_eq!(
        refused("nothing", HTTP_COUNTER, &manifest(false, &[], "")),
        "error: the runtime would refuse this module: module imports outside the granted ABI: \
         enclave:platform/store@0.1.0: needs the `store` capability: add capabilities = \
         [\"store\"] to the manifest; enclave:platform/attestation@0.1.0: needs the `report` \
         capability: add capabilities = [\"report\"] to the manifest"
    );
    assert_eq!(
        refused("no-report", HTTP_COUNTER, &manifest(false, &["store"], "")),
        "error: the runtime would refuse this module: module imports outside the granted ABI: \
         enclave:platform/attestation@0.1.0: needs the `report` capability: add capabilities = \
         [\"report\"] to the manifest"
    );
    // A core module under kind = "http", a component under the other kinds.
    let core = wat::parse_str(common::ECHO).unwrap();
    assert_eq!(
        refused("core", &core, &manifest(false, &[], "")),
        "error: the runtime would refuse this module: invalid wasm module: a core wasm module, \
         not a component: kind = \"http\" takes a WASI 0.2 component (docs/abi.md, \"Components\")"
    );
    for kind in ["wasi", "enclave"] {
        let manifest = format!("product_id = 1\nsvn = 1\ndebug = false\nkind = \"{kind}\"\n");
        assert_eq!(
            refused(kind, HTTP_HELLO, &manifest),
            "error: the runtime would refuse this module: invalid wasm module: a wasm \
             component, not a core module: a wasi:http component needs kind = \"http\" \
             (docs/abi.md, \"Components\")",
            "kind = {kind}"
        );
    }
    // What the manifest itself cannot say for an http enclave (exit 4 as well: "module or
    // manifest refused").
    for (name, extra, message) in [
        (
            "log",
            "capabilities = [\"log\"]\n",
            "error: in manifest log.toml: capability `log` is not available to http guests",
        ),
        (
            "args",
            "args = [\"a\"]\n",
            "error: in manifest args.toml: args: only WASI guests take arguments",
        ),
        (
            "padded",
            "pad_output = 16\n",
            "error: in manifest padded.toml: inputs: [inputs] and pad_output apply to sealed \
             runs; an http enclave's requests and responses travel over attested TLS (leave \
             both out for kind = \"http\")",
        ),
        (
            "sealed-only",
            "[inputs]\nsealed_only = true\n",
            "error: in manifest sealed-only.toml: inputs: [inputs] and pad_output apply to \
             sealed runs; an http enclave's requests and responses travel over attested TLS \
             (leave both out for kind = \"http\")",
        ),
    ] {
        let manifest = format!("product_id = 1\nsvn = 1\ndebug = false\nkind = \"http\"\n{extra}");
        assert_eq!(refused(name, HTTP_HELLO, &manifest), message);
    }

    // A good http bundle is for `serve`, not `run`.
    signed(&d, "app", HTTP_HELLO, &manifest(false, &[], ""));
    d.write("empty", b"");
    let stderr = d.fails(5, &["run", "app.enclave", "--input", "empty"]);
    assert_eq!(
        stderr.trim(),
        "error: this is an http enclave (kind = \"http\"): it answers HTTP requests; serve it \
         with `enclave serve` instead of running it"
    );
}

/// `enclave call` of an http enclave: the client uses the server's own routes (under
/// `/.well-known/enclave/`, never the component's paths), and the server's 404 says why.
#[test]
fn call_of_an_http_enclave_says_it_is_one() {
    let d = Dir::new();
    platform(&d);
    signed(&d, "app", HTTP_HELLO, &manifest(false, &[], ""));
    let served = serve(&d, "app.enclave", &["--tls"]);
    // A small input: the server answers this 404 without reading the body and closes (the
    // ignored serve test a_sealed_run_of_an_http_enclave_is_refused_in_words_not_a_broken_pipe
    // shows a large one turn into a broken pipe); a sealed input of a few hundred bytes comes
    // in with the request head.
    d.write("in.txt", b"hi");
    let stderr = d.fails(
        1,
        &[
            "call",
            &served.url,
            "--root",
            "root.pem",
            "--measurement-from",
            "app.enclave",
            "-i",
            "in.txt",
            "-o",
            "out.txt",
        ],
    );
    assert_eq!(
        stderr.trim(),
        format!(
            "error: confidential request to {} failed: the server refused the request (404 \
             not-found): an http enclave has no /v1/run: its component answers every path \
             outside /.well-known/enclave/",
            served.url
        )
    );
    assert!(!d.path("out.txt").exists());
}

/// FINDING (issue 31): a client that goes away before the answer leaves its component running
/// until `timeout_ms`, holding one of the 16 instance slots: 16 clients that connect and leave
/// make the server answer 503 for the whole timeout (10 s by default, up to a day). The run is
/// a task of its own (enclave/server/src/routes/component.rs) that nothing cancels when the
/// connection closes. (The 60 s bound below is far above the time a cancelled run takes to
/// end; the component's own deadline is 10 minutes.)
#[test]
fn a_client_that_goes_away_frees_its_instance_slot() {
    let d = Dir::new();
    platform(&d);
    let limits = "fuel = 0\ntimeout_ms = 600000\n";
    signed(&d, "spin", HTTP_HELLO, &manifest(true, &[], limits));
    let served = serve(&d, "spin.enclave", &["--allow-plaintext"]);
    let mut stream =
        std::net::TcpStream::connect(served.url.trim_start_matches("http://")).unwrap();
    std::io::Write::write_all(&mut stream, b"GET /spin HTTP/1.1\r\nhost: t\r\n\r\n").unwrap();
    wait_for_metric(&d, &served.url, "enclave_runs_in_flight 1", 6000);
    drop(stream);
    wait_for_metric(&d, &served.url, "enclave_runs_in_flight 0", 600);
}

/// FINDING (issue 31): a component that answers an informational status (1xx) as its final
/// response. For 100, 103 and 199 hyper replaces it with a bare `500` (empty body, no
/// `x-request-id`, no problem document) while the server logs `status=1xx outcome="ok"`; a
/// `101 Switching Protocols` to a request that asked for no upgrade goes out as is, and the
/// connection is then dropped (curl: "Empty reply from server", 52). Over HTTP/2 each is a
/// stream reset. The host should refuse such a response as a component failure.
#[test]
fn a_components_informational_status_is_a_component_failure() {
    let d = Dir::new();
    platform(&d);
    signed(&d, "app", HTTP_HELLO, &manifest(true, &[], ""));
    let served = serve(&d, "app.enclave", &["--allow-plaintext"]);
    for status in [100, 101, 103, 199] {
        let reply = curl(&d, &format!("{}/status/{status}", served.url), &[]);
        let problem = reply.problem(500);
        assert_eq!(problem["type"], COMPONENT_FAILED, "{status}: {problem}");
    }
}

//! `enclave-server` end to end: a real server on 127.0.0.1, the real client library and raw
//! sockets. Every wait is bounded by `PATIENCE` unless time is the subject of the test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use attest::Capability;
use common::{get, post, post_head, problem, read_response, request, Running, PATIENCE};
use enclave_client::ClientError;
use enclave_server::{Config, SEALED_INPUT_MEDIA_TYPE};
use enclave_tests::guests::{COUNTER, HOSTILE, WASI_CSV, WORDCOUNT};
use enclave_tests::harness::manifest;

fn config() -> Config {
    Config {
        workers: 2,
        ..Config::default()
    }
}

fn hostile_manifest() -> attest::Manifest {
    let mut m = manifest();
    m.limits.fuel = 20_000_000;
    m
}

#[test]
fn every_route_answers() {
    let server = Running::start(WORDCOUNT, &manifest(), config());
    let addr = server.addr;
    assert_eq!(get(addr, "/healthz").0, 200);
    assert_eq!(get(addr, "/readyz").0, 200);

    let (status, head, body) = get(addr, "/v1/info");
    assert_eq!(status, 200);
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(head.contains("x-request-id: "), "{head}");
    let info: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(info["measurement"], server.measurement.to_string());
    assert_eq!(
        info["platform_id"],
        server.harness.platform().platform_id().to_string()
    );
    assert_eq!(info["debug"], false);
    assert_eq!(info["plaintext_runs"], false);
    assert!(info["limits"]["max_sealed_input_bytes"].as_u64().unwrap() > 0);

    let (status, _, body) = get(addr, "/nowhere");
    assert_eq!((status, problem(&body)), (404, ("not-found".into(), 404)));
    let (status, head, body) = request(
        addr,
        "DELETE /v1/run HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        b"",
    );
    assert_eq!(
        (status, problem(&body).0.as_str()),
        (405, "method-not-allowed")
    );
    assert!(head.contains("allow: get, post"), "{head}");

    // Evidence for the caller's nonce, verified as a relying party would.
    let evidence = server.client().attest().unwrap();
    assert_eq!(evidence.measurement(), server.measurement);
    assert!(evidence.enclave_keys().is_some());

    let (status, head, body) = get(addr, "/metrics");
    assert_eq!(status, 200);
    assert!(head.contains("application/openmetrics-text"), "{head}");
    let text = String::from_utf8(body).unwrap();
    for name in [
        "enclave_requests_total{route=\"evidence\",outcome=\"ok\"} 1",
        "enclave_refusals_total{reason=\"not-found\"} 1",
        "enclave_queue_depth 0",
        "enclave_runs_in_flight 0",
        "enclave_instance_slots_free 16",
        "enclave_run_duration_seconds_count",
        "enclave_fuel_used_total",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
    server.stop().unwrap();
}

#[test]
fn a_confidential_request_round_trips_and_opens_offline() {
    let server = Running::start(WORDCOUNT, &manifest(), config());
    let answer = server.client().call(b"to be or not to be").unwrap();
    assert_eq!(answer.output.as_slice(), b"be\t2\nto\t2\nnot\t1\nor\t1\n");
    assert_eq!(answer.receipt.claims().measurement, server.measurement);
    // What `enclave open` does with the saved body, receipt and context.
    let receipt = attest::verify_receipt(
        &answer.receipt_bytes,
        &[server.harness.root()],
        std::time::SystemTime::now(),
    )
    .unwrap();
    let digest = sealer::SealedOutputDigest::from_bytes(
        sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(
            &answer.sealed_output,
        ))
        .into(),
    );
    sealer::check_receipt(&answer.context, &receipt, &digest).unwrap();
    let mut opened = Vec::new();
    sealer::open_output(
        &answer.context,
        answer.sealed_output.as_slice(),
        &mut opened,
    )
    .unwrap();
    assert_eq!(opened, answer.output.as_slice());
    server.stop().unwrap();
}

#[test]
fn refusals_name_their_reason() {
    let server = Running::start(WORDCOUNT, &manifest(), config());
    let addr = server.addr;
    let json = "application/json";

    // Evidence requests.
    let cases: [(&str, &[u8], u16, &str); 4] = [
        (json, br#"{"nonce":"00"}"#, 400, "bad-request"),
        (json, br#"{"nonce":"zz"}"#, 400, "bad-request"),
        (
            json,
            br#"{"nonce":"0011223344556677","extra":1}"#,
            400,
            "bad-request",
        ),
        (
            "text/plain",
            b"0011223344556677",
            415,
            "unsupported-media-type",
        ),
    ];
    for (media, body, status, kind) in cases {
        let (got, _, answer) = post(addr, "/v1/evidence", media, body);
        assert_eq!(
            (got, problem(&answer).0.as_str()),
            (status, kind),
            "{body:?}"
        );
    }
    let (got, _, answer) = post(addr, "/v1/evidence", json, &[b' '; 2048]);
    assert_eq!(
        (got, problem(&answer).0.as_str()),
        (413, "payload-too-large")
    );

    // Runs.
    let (sealed, _) = server.sealed(b"some words");
    let mut tampered = sealed.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let (got, _, answer) = post(addr, "/v1/run", SEALED_INPUT_MEDIA_TYPE, &tampered);
    assert_eq!(
        (got, problem(&answer).0.as_str()),
        (400, "sealed-input-refused")
    );
    let (got, _, answer) = post(addr, "/v1/run", SEALED_INPUT_MEDIA_TYPE, &[b'n'; 300]);
    assert_eq!(
        (got, problem(&answer).0.as_str()),
        (400, "sealed-input-refused")
    );
    let doc: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert!(
        doc["detail"].as_str().unwrap().contains("bad magic"),
        "{doc}"
    );
    // A body that does not match the length its header declares.
    let (got, _, answer) = post(
        addr,
        "/v1/run",
        SEALED_INPUT_MEDIA_TYPE,
        &[&sealed[..], b"x"].concat(),
    );
    assert_eq!(
        (got, problem(&answer).0.as_str()),
        (400, "sealed-input-refused")
    );
    let (got, _, answer) = post(addr, "/v1/run", "application/octet-stream", b"words");
    assert_eq!(
        (got, problem(&answer).0.as_str()),
        (403, "plaintext-refused")
    );
    let (got, _, answer) = post(addr, "/v1/run", "text/plain", b"words");
    assert_eq!(
        (got, problem(&answer).0.as_str()),
        (415, "unsupported-media-type")
    );
    // Over the enclave's input cap, refused from its declared length before any byte is read.
    let (got, _, answer) = request(
        addr,
        &format!("POST /v1/run HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-type: {SEALED_INPUT_MEDIA_TYPE}\r\ncontent-length: 99999999999\r\n\r\n"),
        b"",
    );
    assert_eq!(
        (got, problem(&answer).0.as_str()),
        (413, "payload-too-large")
    );

    // Sealed against another platform's evidence: its own problem type, so a client re-attests.
    let other = Running::start(WORDCOUNT, &manifest(), config());
    let (elsewhere, _) = other.sealed(b"misrouted");
    let (got, _, answer) = post(addr, "/v1/run", SEALED_INPUT_MEDIA_TYPE, &elsewhere);
    assert_eq!((got, problem(&answer).0.as_str()), (421, "wrong-platform"));
    let doc: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(
        doc["platform_id"],
        server.harness.platform().platform_id().to_string()
    );

    // The client library surfaces the same.
    let policy = server.policy();
    let wrong = enclave_client::Client::new(&other.url(), policy).unwrap();
    assert!(matches!(wrong.call(b"x"), Err(ClientError::Evidence(_))));
    other.stop().unwrap();
    server.stop().unwrap();
}

#[test]
fn plaintext_runs_only_when_allowed() {
    let server = Running::start(
        WORDCOUNT,
        &manifest(),
        Config {
            allow_plaintext: true,
            ..config()
        },
    );
    let (status, head, body) = post(server.addr, "/v1/run", "application/octet-stream", b"a b a");
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: application/octet-stream"),
        "{head}"
    );
    assert_eq!(body, b"a\t2\nb\t1\n");
    // Chunked, without a length.
    let (status, _, body) = request(
        server.addr,
        "POST /v1/run HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n",
        b"3\r\nc d\r\n2\r\n c\r\n0\r\n\r\n",
    );
    assert_eq!((status, body.as_slice()), (200, b"c\t2\nd\t1\n".as_slice()));
    server.stop().unwrap();
}

/// Hostile and failing guests under concurrent load, while honest requests keep succeeding; the
/// instance pool is whole afterwards.
#[test]
fn failing_and_hostile_guests_do_not_disturb_honest_requests() {
    let server = Running::start(HOSTILE, &hostile_manifest(), config());
    let honest_server = Running::start(WORDCOUNT, &manifest(), config());
    std::thread::scope(|scope| {
        for attack in ["loop", "abort", "trap", "memory"] {
            let server = &server;
            scope.spawn(move || {
                for _ in 0..3 {
                    match server.client().call(attack.as_bytes()) {
                        Err(ClientError::GuestFailed {
                            category, report, ..
                        }) => {
                            assert!(!category.is_empty());
                            if attack == "abort" {
                                // Withheld from the operator, sealed to the requester.
                                assert!(category.contains("withheld"), "{category}");
                                assert!(report.contains("hostile abort"), "{report}");
                            }
                        }
                        other => panic!("{attack}: {other:?}"),
                    }
                }
            });
        }
        for i in 0..4 {
            let honest = &honest_server;
            let hostile = &server;
            scope.spawn(move || {
                for j in 0..5 {
                    let text = format!("w{i} x{j} w{i}");
                    let answer = honest.client().call(text.as_bytes()).unwrap();
                    assert!(String::from_utf8_lossy(&answer.output).contains(&format!("w{i}\t2")));
                    // The hostile server still serves evidence between its failures.
                    hostile.client().attest().unwrap();
                }
            });
        }
    });
    for s in [&server, &honest_server] {
        s.wait_for("every run to finish", |s| {
            s.metric("enclave_runs_in_flight") == 0.0
        });
        assert_eq!(s.metric("enclave_instance_slots_free"), 16.0);
    }
    assert_eq!(
        server.metric("enclave_refusals_total{reason=\"guest-failed\"}"),
        12.0
    );
    server.stop().unwrap();
    honest_server.stop().unwrap();
}

/// Concurrent requests to a stateful guest lose no update: each `incr` answers a distinct value.
#[test]
fn concurrent_store_updates_are_serialised() {
    let mut m = manifest();
    m.capabilities.insert(Capability::Store);
    m.capabilities.insert(Capability::Seal);
    let server = Running::start(
        COUNTER,
        &m,
        Config {
            workers: 2,
            ..Config::default()
        },
    );
    let values = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..5 {
                    let answer = server.client().call(b"incr hits\n").unwrap();
                    let text = String::from_utf8(answer.output.to_vec()).unwrap();
                    let n: u64 = text.trim().strip_prefix("hits=").unwrap().parse().unwrap();
                    values.lock().unwrap().push(n);
                }
            });
        }
    });
    let mut values = values.into_inner().unwrap();
    values.sort_unstable();
    assert_eq!(values, (1..=20).collect::<Vec<_>>());
    server.stop().unwrap();
}

/// Sends the request head and the sealed header, then stalls mid-body.
fn stalled_upload(server: &Running, sealed: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let head = format!(
        "POST /v1/run HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-type: {SEALED_INPUT_MEDIA_TYPE}\r\ncontent-length: {}\r\n\r\n",
        sealed.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&sealed[..200]).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// A body is received before its run takes a worker: stalled uploads hold no guest thread, and
/// the bodies held at once are bounded (`max_body_memory`, here clamped up to one sealed input).
#[test]
fn stalled_uploads_hold_no_worker_and_body_memory_is_bounded() {
    let mut m = manifest();
    m.limits.max_input_bytes = 100_000;
    let server = Running::start(
        WORDCOUNT,
        &m,
        Config {
            workers: 1,
            queue: 1,
            max_body_memory: 0,
            // The uploads pause while the test arranges: deadlines a loaded machine cannot reach.
            body_idle_timeout: PATIENCE,
            body_timeout: PATIENCE,
            ..Config::default()
        },
    );
    let reserved = "enclave_request_body_bytes_reserved";
    let (sealed, _) = server.sealed(&vec![b'a'; 90_000]);
    let first = stalled_upload(&server, &sealed);
    server.wait_for("the upload to reserve its body", |s| {
        s.metric(reserved) > 0.0
    });
    // The only worker is free for an honest run.
    assert_eq!(
        server.client().call(b"honest").unwrap().output.as_slice(),
        b"honest\t1\n"
    );
    // A second large body does not fit beside the first.
    let mut second = stalled_upload(&server, &sealed);
    let (status, head, body) = read_response(&mut second);
    assert_eq!((status, problem(&body).0.as_str()), (503, "busy"));
    assert!(head.contains("retry-after: 1"), "{head}");
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        doc["detail"],
        "the request bodies held in memory reach the server's bound"
    );

    // The first client goes away mid-upload: its bytes are returned, and the same body fits.
    drop(first);
    server.wait_for("the reservation to return", |s| s.metric(reserved) == 0.0);
    let (status, _, _) = post(server.addr, "/v1/run", SEALED_INPUT_MEDIA_TYPE, &sealed);
    assert_eq!(status, 200);

    // A client that goes away mid-download: the server serves the next.
    let (big, _) = server.sealed(&vec![b'b'; 90_000]);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let head = format!(
        "POST /v1/run HTTP/1.1\r\nhost: t\r\ncontent-type: {SEALED_INPUT_MEDIA_TYPE}\r\ncontent-length: {}\r\n\r\n",
        big.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&big).unwrap();
    let mut some = [0u8; 64];
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let _ = stream.read(&mut some).unwrap();
    drop(stream);
    assert_eq!(
        server.client().call(b"after").unwrap().output.as_slice(),
        b"after\t1\n"
    );
    server.wait_for("every run to finish", |s| {
        s.metric("enclave_runs_in_flight") == 0.0
    });
    assert_eq!(server.metric("enclave_instance_slots_free"), 16.0);
    server.stop().unwrap();
}

#[test]
fn malformed_http_is_refused_and_the_server_goes_on() {
    let server = Running::start(WORDCOUNT, &manifest(), config());
    for garbage in [
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nhost: t\r\nbad header line\r\n\r\n",
        b"POST /v1/run HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello",
        b"GET /healthz HTTP/9.9\r\n\r\n",
    ] {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.write_all(garbage).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer);
        assert!(
            answer.is_empty() || text.starts_with("HTTP/1.1 4") || text.starts_with("HTTP/1.1 505"),
            "{text}"
        );
    }
    // HTTP/2 with prior knowledge is spoken too: the preface gets a SETTINGS frame back.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .unwrap();
    let mut frame = [0u8; 9];
    stream.read_exact(&mut frame).unwrap();
    assert_eq!(frame[3], 0x4, "a SETTINGS frame");
    drop(stream);
    assert_eq!(get(server.addr, "/healthz").0, 200);
    server.stop().unwrap();
}

/// Time is the subject here: clients that send too slowly are cut off by the deadlines.
#[test]
fn slow_clients_are_cut_off() {
    let server = Running::start(
        WORDCOUNT,
        &manifest(),
        Config {
            workers: 1,
            header_timeout: Duration::from_secs(1),
            body_idle_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_secs(2),
            ..Config::default()
        },
    );
    // Headers that never end: the connection is closed.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: t\r\n")
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(started.elapsed() < PATIENCE);
    let text = String::from_utf8_lossy(&rest);
    assert!(
        rest.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );

    // A body that stalls: 408 with its problem type, and the worker is free again.
    let (sealed, _) = server.sealed(&vec![b'c'; 200_000]);
    let mut stalled = stalled_upload(&server, &sealed);
    let (status, _, body) = read_response(&mut stalled);
    assert_eq!(
        (status, problem(&body).0.as_str()),
        (408, "request-timeout")
    );
    assert_eq!(
        server.client().call(b"next").unwrap().output.as_slice(),
        b"next\t1\n"
    );
    server.stop().unwrap();
}

#[test]
fn shutdown_finishes_requests_in_flight_and_refuses_new_ones() {
    let mut server = Running::start(
        WORDCOUNT,
        &manifest(),
        Config {
            body_idle_timeout: PATIENCE,
            body_timeout: PATIENCE,
            ..config()
        },
    );
    let addr = server.addr;
    let (sealed, context) = server.sealed(&b"d ".repeat(50_000));
    let mut in_flight = stalled_upload(&server, &sealed);
    server.wait_for("the upload to start", |s| {
        s.metric("enclave_request_body_bytes_reserved") > 0.0
    });
    let stopping = server.begin_stop();
    // The listener closes: new connections are refused.
    let deadline = Instant::now() + PATIENCE;
    while TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "still accepting");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The request in flight completes.
    in_flight.write_all(&sealed[200..]).unwrap();
    let (status, head, body) = read_response(&mut in_flight);
    assert_eq!(status, 200);
    assert!(head.contains("enclave-receipt: "), "{head}");
    let mut opened = Vec::new();
    sealer::open_output(&context, body.as_slice(), &mut opened).unwrap();
    assert_eq!(opened, b"d\t50000\n");
    stopping.join().unwrap().unwrap();
}

/// A server that refuses before reading the body (413 from its declared length) closes the
/// connection under the client's upload: the client says so and names the likely cause, rather
/// than reporting a failure to seal. (The 413 itself is checked over a raw socket above.)
#[test]
fn an_early_refusal_is_not_reported_as_a_sealing_failure() {
    let mut m = manifest();
    m.limits.max_input_bytes = 1024;
    let server = Running::start(WORDCOUNT, &m, config());
    match server.client().call(&vec![b'a'; 1 << 20]) {
        Err(ClientError::Refused {
            status, problem, ..
        }) => assert_eq!((status, problem.as_str()), (413, "payload-too-large")),
        Err(ClientError::Transport(message)) => {
            assert!(
                message.contains("closed the connection before the upload ended"),
                "{message}"
            );
            assert!(message.contains("max_input_bytes"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        server.client().call(b"ok").unwrap().output.as_slice(),
        b"ok\t1\n"
    );
    server.stop().unwrap();
}

/// One HTTP/1.1 message (head and `content-length` body) from `stream`, as raw bytes; `None` at
/// the end of the stream.
fn read_message(stream: &mut std::io::BufReader<TcpStream>) -> Option<Vec<u8>> {
    use std::io::BufRead as _;
    let mut message = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            }
        }
        message.extend_from_slice(line.as_bytes());
        if line == "\r\n" {
            break;
        }
    }
    let start = message.len();
    message.resize(start + length, 0);
    stream.read_exact(&mut message[start..]).ok()?;
    Some(message)
}

/// A balancer that sends the first request it relays to `first` and every later one to `then`,
/// each on a fresh backend connection: what a per-request balancer does to a client whose
/// evidence and run land on different instances.
fn switching_balancer(first: std::net::SocketAddr, then: std::net::SocketAddr) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut relayed = 0;
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let mut reader = std::io::BufReader::new(client.try_clone().unwrap());
            let mut writer = client;
            while let Some(request) = read_message(&mut reader) {
                let backend = if relayed == 0 { first } else { then };
                relayed += 1;
                let mut upstream = TcpStream::connect(backend).unwrap();
                upstream.write_all(&request).unwrap();
                let mut upstream = std::io::BufReader::new(upstream);
                let Some(response) = read_message(&mut upstream) else {
                    break;
                };
                writer.write_all(&response).unwrap();
            }
        }
    });
    format!("http://{addr}")
}

#[test]
fn a_run_that_lands_on_another_platform_is_retried_after_attesting_again() {
    let a = Running::start(WORDCOUNT, &manifest(), config());
    let b = Running::start(WORDCOUNT, &manifest(), config());
    let url = switching_balancer(a.addr, b.addr);
    let policy = attest::VerifierPolicy::new(vec![a.harness.root(), b.harness.root()])
        .measurement(a.measurement)
        .measurement(b.measurement);
    let client = enclave_client::Client::new(&url, policy)
        .unwrap()
        .timeout(PATIENCE);
    // Evidence from a, the run to b: b refuses it (wrong-platform), the client attests b and
    // sends the input again, sealed to b.
    let answer = client.call(b"to be or not to be").unwrap();
    assert_eq!(answer.output.as_slice(), b"be\t2\nto\t2\nnot\t1\nor\t1\n");
    assert_eq!(
        answer.receipt.claims().platform_id,
        b.harness.platform().platform_id()
    );
    assert_eq!(
        b.metric("enclave_refusals_total{reason=\"wrong-platform\"}"),
        1.0
    );
    a.stop().unwrap();
    b.stop().unwrap();
}

/// A WASI guest reads stdin inside wasmtime-wasi's own tokio runtime: served, its input must
/// already be in memory (a guest thread that waited on the connection there would panic).
#[test]
fn wasi_guests_are_served_sealed_and_plaintext_over_http_and_tls() {
    const CSV: &[u8] = b"category,amount\nfood,12.50\nrent,800\nfood,-2.25\n";
    const REPORT: &[u8] = b"category,count,sum,mean\nfood,2,10.25,5.13\nrent,1,800.00,800.00\n";
    let mut wasi = manifest();
    wasi.kind = attest::GuestKind::Wasi;
    for tls in [false, true] {
        let server = Running::start(
            WASI_CSV,
            &wasi,
            Config {
                allow_plaintext: true,
                tls,
                ..config()
            },
        );
        let answer = server.client().call(CSV).unwrap();
        assert_eq!(answer.output.as_slice(), REPORT, "sealed, tls {tls}");
        let head = post_head("/v1/run", "application/octet-stream", CSV.len());
        let (status, _, body) = server.request(&head, CSV);
        assert_eq!(
            (status, body.as_slice()),
            (200, REPORT),
            "plaintext, tls {tls}"
        );
        // Chunked, without a length.
        let head = "POST /v1/run HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        let chunked = [
            format!("{:x}\r\n", CSV.len()).as_bytes(),
            CSV,
            b"\r\n0\r\n\r\n",
        ]
        .concat();
        let (status, _, body) = server.request(head, &chunked);
        assert_eq!(
            (status, body.as_slice()),
            (200, REPORT),
            "chunked, tls {tls}"
        );
        server.stop().unwrap();
    }
}

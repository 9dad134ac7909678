//! Hostile clients against a real server on 127.0.0.1, over raw sockets: each attack holds or
//! wastes what it can, and an honest request after it must succeed. Deadlines are short flags so
//! the attacks end fast; no assertion is about elapsed time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{get, post, post_head, problem, read_response, Running, PATIENCE};
use enclave_server::{Config, SEALED_INPUT_MEDIA_TYPE};
use enclave_tests::guests::WORDCOUNT;
use enclave_tests::harness::manifest;

const SHORT: Duration = Duration::from_secs(1);

fn config() -> Config {
    Config {
        workers: 1,
        ..Config::default()
    }
}

fn honest(server: &Running) {
    let answer = server.client().call(b"honest words honest").unwrap();
    assert_eq!(answer.output.as_slice(), b"honest\t2\nwords\t1\n");
}

/// Blocks until the server closes `stream` (EOF or reset), reading and discarding what it sends.
fn wait_closed(stream: &mut (impl Read + ?Sized)) {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn connect(server: &Running) -> TcpStream {
    let stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

fn closed(server: &Running, reason: &str) -> f64 {
    server.metric(&format!(
        "enclave_connections_closed_total{{reason=\"{reason}\"}}"
    ))
}

/// More silent sockets than the cap, with a header deadline that never comes: only closing the
/// oldest idle connections lets the honest client in.
#[test]
fn silent_sockets_beyond_the_cap_are_evicted_oldest_first() {
    let server = Running::start(
        WORDCOUNT,
        &manifest(),
        Config {
            max_connections: 8,
            header_timeout: PATIENCE,
            ..config()
        },
    );
    let mut silent: Vec<TcpStream> = (0..12).map(|_| connect(&server)).collect();
    assert_eq!(get(server.addr, "/healthz").0, 200);
    honest(&server);
    // The first accepted were the first closed.
    wait_closed(&mut silent[0]);
    assert!(closed(&server, "evicted") >= 1.0);
    drop(silent);
}

/// A socket that sends nothing, and one that stops inside the h2 preface: both are closed at the
/// header deadline.
#[test]
fn silent_sockets_and_a_partial_h2_preface_meet_the_header_deadline() {
    let server = Running::start(
        WORDCOUNT,
        &manifest(),
        Config {
            header_timeout: SHORT,
            ..config()
        },
    );
    let mut silent = connect(&server);
    let mut partial = connect(&server);
    partial.write_all(b"PRI * HTTP/2.0\r\n").unwrap();
    wait_closed(&mut silent);
    wait_closed(&mut partial);
    assert_eq!(closed(&server, "header_timeout"), 2.0);
    honest(&server);
}

/// Silent before the TLS handshake, and silent after it: closed by the handshake and the header
/// deadlines.
#[test]
fn silent_tls_connections_meet_the_handshake_and_header_deadlines() {
    let server = Running::start(
        WORDCOUNT,
        &manifest(),
        Config {
            tls: true,
            header_timeout: SHORT,
            tls_handshake_timeout: SHORT,
            ..config()
        },
    );
    let mut before = connect(&server);
    wait_closed(&mut before);
    assert_eq!(closed(&server, "tls_handshake_timeout"), 1.0);

    let mut after = server.tls_connect();
    wait_closed(&mut after);
    assert_eq!(closed(&server, "header_timeout"), 1.0);
    honest(&server);
}

/// An HTTP/2 frame: length, type, flags, stream, payload.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

const PING: u8 = 0x6;
const SETTINGS: u8 = 0x4;
const HEADERS: u8 = 0x1;

/// An h2c client with prior knowledge that sends one request, then opens no stream but keeps
/// answering the server's PINGs and sending its own: the idle deadline still closes it.
#[test]
fn an_idle_h2c_connection_answering_pings_meets_the_idle_deadline() {
    let server = Running::start(
        WORDCOUNT,
        &manifest(),
        Config {
            idle_timeout: SHORT,
            ..config()
        },
    );
    let mut stream = connect(&server);
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .unwrap();
    stream.write_all(&frame(SETTINGS, 0, 0, &[])).unwrap();
    // GET /healthz: :method GET, :scheme http, :path (literal), :authority (literal).
    let mut block = vec![0x82, 0x86, 0x44, 8];
    block.extend_from_slice(b"/healthz");
    block.extend_from_slice(&[0x41, 1, b't']);
    stream.write_all(&frame(HEADERS, 0x5, 1, &block)).unwrap();

    let alive = Arc::new(AtomicBool::new(true));
    let mut writer = stream.try_clone().unwrap();
    let pinging = {
        let alive = alive.clone();
        std::thread::spawn(move || {
            while alive.load(Ordering::SeqCst) {
                if writer.write_all(&frame(PING, 0, 0, b"keepopen")).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    // Read frames; ACK the server's PINGs; stop at the end of the connection.
    let mut answered = false;
    let mut head = [0u8; 9];
    while stream.read_exact(&mut head).is_ok() {
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let mut payload = vec![0u8; len];
        if stream.read_exact(&mut payload).is_err() {
            break;
        }
        match (head[3], head[4]) {
            (HEADERS, _) => answered = true,
            (SETTINGS, 0) => {
                let _ = stream.write_all(&frame(SETTINGS, 0x1, 0, &[]));
            }
            (PING, 0) => {
                let _ = stream.write_all(&frame(PING, 0x1, 0, &payload));
            }
            _ => {}
        }
    }
    alive.store(false, Ordering::SeqCst);
    pinging.join().unwrap();
    assert!(answered, "the request was answered");
    assert_eq!(closed(&server, "idle_timeout"), 1.0);
    honest(&server);
}

/// A body sent a byte at a time holds no worker: with one worker, an honest run completes while
/// the slow upload is still going.
#[test]
fn a_slow_body_does_not_hold_the_only_worker() {
    let server = Running::start(
        WORDCOUNT,
        &manifest(),
        Config {
            body_idle_timeout: PATIENCE,
            body_timeout: PATIENCE,
            ..config()
        },
    );
    let (sealed, _) = server.sealed(&[b'z'; 4096]);
    let mut slow = connect(&server);
    slow.write_all(post_head("/v1/run", SEALED_INPUT_MEDIA_TYPE, sealed.len()).as_bytes())
        .unwrap();
    let alive = Arc::new(AtomicBool::new(true));
    let trickle = {
        let alive = alive.clone();
        let mut slow = slow.try_clone().unwrap();
        std::thread::spawn(move || {
            for byte in &sealed[..sealed.len() - 1] {
                if !alive.load(Ordering::SeqCst) || slow.write_all(&[*byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    server.wait_for("the slow upload to start", |s| {
        s.metric("enclave_request_body_bytes_reserved") > 0.0
    });
    for _ in 0..3 {
        honest(&server);
    }
    assert_eq!(server.metric("enclave_runs_in_flight"), 0.0);
    alive.store(false, Ordering::SeqCst);
    trickle.join().unwrap();
}

/// `POST /v1/evidence` takes a JSON object with known fields only: not an array (which serde
/// would map onto the struct's fields in order).
#[test]
fn evidence_requests_are_json_objects_only() {
    let server = Running::start(WORDCOUNT, &manifest(), config());
    let nonce = "00112233445566778899aabbccddeeff";
    for (body, detail) in [
        (
            format!("[\"{nonce}\"]"),
            "not an evidence request: the body must be a JSON object".to_owned(),
        ),
        (
            format!("  [\"{nonce}\", \"\"]"),
            "not an evidence request: the body must be a JSON object".to_owned(),
        ),
        (
            format!("{{\"nonce\":\"{nonce}\",\"nonce\":\"{nonce}\"}}"),
            "not an evidence request: duplicate field `nonce` at line 1 column 51".to_owned(),
        ),
        (
            "\"just a string\"".to_owned(),
            "not an evidence request: the body must be a JSON object".to_owned(),
        ),
    ] {
        let (status, _, answer) = post(
            server.addr,
            "/v1/evidence",
            "application/json",
            body.as_bytes(),
        );
        assert_eq!((status, problem(&answer).0.as_str()), (400, "bad-request"));
        let doc: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(doc["detail"], detail.as_str(), "{body}");
    }
    let (status, _, _) = post(
        server.addr,
        "/v1/evidence",
        "application/json",
        format!("{{\"nonce\":\"{nonce}\"}}").as_bytes(),
    );
    assert_eq!(status, 200);
    server.client().attest().unwrap();
}

fn chunked(server: &Running, body: &[u8]) -> (u16, String, Vec<u8>) {
    let head = format!(
        "POST /v1/run HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-type: {SEALED_INPUT_MEDIA_TYPE}\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    let body = [
        format!("{:x}\r\n", body.len()).as_bytes(),
        body,
        b"\r\n0\r\n\r\n",
    ]
    .concat();
    server.request(&head, &body)
}

fn detail(body: &[u8]) -> String {
    let doc: serde_json::Value = serde_json::from_slice(body).unwrap();
    doc["detail"].as_str().unwrap().to_owned()
}

/// Sealed bodies whose lengths disagree: 413 only when a declared length is over the cap, 400
/// sealed-input-refused whenever the body disagrees with its sealed header.
#[test]
fn sealed_length_mismatches_are_refused_as_documented() {
    let mut m = manifest();
    m.limits.max_input_bytes = 1000;
    let server = Running::start(WORDCOUNT, &m, config());
    let (sealed, _) = server.sealed(b"some words");
    let total = sealed.len();

    // Chunked, 16 extra bytes.
    let (status, _, body) = chunked(&server, &[&sealed[..], &[0u8; 16]].concat());
    assert_eq!(
        (status, problem(&body).0.as_str()),
        (400, "sealed-input-refused")
    );
    assert_eq!(
        detail(&body),
        "the body is longer than its sealed header declares"
    );
    // Chunked, one byte short.
    let (status, _, body) = chunked(&server, &sealed[..total - 1]);
    assert_eq!(
        (status, problem(&body).0.as_str()),
        (400, "sealed-input-refused")
    );
    assert_eq!(
        detail(&body),
        format!(
            "the body ended after {} bytes; its sealed header declares {total}",
            total - 1
        )
    );
    // A length that is not the header's.
    let (status, _, body) = post(
        server.addr,
        "/v1/run",
        SEALED_INPUT_MEDIA_TYPE,
        &[&sealed[..], &[0u8; 16]].concat(),
    );
    assert_eq!(
        (status, detail(&body).as_str()),
        (
            400,
            format!(
                "the body is {} bytes but its sealed header declares {total}",
                total + 16
            )
            .as_str()
        )
    );
    // A header declaring more than the cap, in a body of another length: the cap first.
    let (big, _) = server.sealed(&[b'w'; 2000]);
    let (status, _, body) = post(server.addr, "/v1/run", SEALED_INPUT_MEDIA_TYPE, &big[..300]);
    assert_eq!(
        (status, problem(&body).0.as_str()),
        (413, "payload-too-large")
    );
    assert_eq!(
        detail(&body),
        "the sealed input holds 2000 bytes; this enclave takes at most 1000"
    );
    honest(&server);
}

/// An HTTP/1.1 keep-alive connection left open after its answer is closed at the idle deadline.
#[test]
fn an_idle_keep_alive_connection_meets_the_idle_deadline() {
    let server = Running::start(
        WORDCOUNT,
        &manifest(),
        Config {
            idle_timeout: SHORT,
            allow_plaintext: true,
            ..config()
        },
    );
    let words = b"big ".repeat(200_000);
    let mut stream = connect(&server);
    stream
        .write_all(
            format!(
                "POST /v1/run HTTP/1.1\r\nhost: t\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\n\r\n",
                words.len()
            )
            .as_bytes(),
        )
        .unwrap();
    stream.write_all(&words).unwrap();
    server.wait_for("the connection to be closed idle", |s| {
        closed(s, "idle_timeout") == 1.0
    });
    let (status, _, body) = read_response(&mut stream);
    assert_eq!(
        (status, body.as_slice()),
        (200, b"big\t200000\n".as_slice())
    );
    honest(&server);
}

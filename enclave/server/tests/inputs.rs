//! What a client or operator can feed a served enclave (issue 33 items 1 and 4, issue 27 item 6):
//! an enclave whose manifest takes sealed inputs only refuses plaintext even under
//! `--allow-plaintext`; one that refuses replays runs a sealed request once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is a failing test"
)]

mod common;

use attest::{Capability, InputPolicy, Manifest};
use common::{get, post, problem, Running};
use enclave_server::{Config, SEALED_INPUT_MEDIA_TYPE};
use enclave_tests::guests::COUNTER;
use enclave_tests::harness::manifest;

fn counter_manifest(inputs: InputPolicy) -> Manifest {
    let mut m = manifest();
    m.capabilities.insert(Capability::Store);
    m.capabilities.insert(Capability::Seal);
    m.inputs = inputs;
    m
}

fn plaintext_allowed() -> Config {
    Config {
        allow_plaintext: true,
        workers: 2,
        ..Config::default()
    }
}

#[test]
fn a_sealed_only_enclave_refuses_plaintext_even_when_the_operator_allows_it() {
    let inputs = InputPolicy {
        sealed_only: true,
        ..InputPolicy::default()
    };
    let server = Running::start(COUNTER, &counter_manifest(inputs), plaintext_allowed());
    let (status, _, body) = post(
        server.addr,
        "/v1/run",
        "application/octet-stream",
        b"incr votes\n",
    );
    assert_eq!(
        (status, problem(&body).0.as_str()),
        (403, "plaintext-refused")
    );
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        doc["detail"]
            .as_str()
            .unwrap()
            .starts_with("plaintext input refused: this enclave takes sealed inputs only"),
        "{doc}"
    );
    let (_, _, info) = get(server.addr, "/v1/info");
    let info: serde_json::Value = serde_json::from_slice(&info).unwrap();
    assert_eq!(info["plaintext_runs"], false);
    assert_eq!(info["sealed_only"], true);
    // Sealed, it runs, and the plaintext attempt left no trace in the store.
    let answer = server.client().call(b"incr votes\n").unwrap();
    assert_eq!(answer.output.as_slice(), b"votes=1\n");
    server.stop().unwrap();
}

/// Issue 27 item 6: the same sealed input posted twice to an enclave that refuses replays runs
/// once (409 replayed-request the second time); without the opt-in it runs twice.
#[test]
fn a_replayed_post_runs_once_when_the_enclave_refuses_replays() {
    for (inputs, second) in [
        (InputPolicy::default(), (200, String::new())),
        (
            InputPolicy {
                sealed_only: true,
                refuse_replays: true,
                ..InputPolicy::default()
            },
            (409, "replayed-request".to_owned()),
        ),
    ] {
        let server = Running::start(COUNTER, &counter_manifest(inputs), plaintext_allowed());
        let (sealed, _) = server.sealed(b"incr votes\n");
        let (status, _, _) = post(server.addr, "/v1/run", SEALED_INPUT_MEDIA_TYPE, &sealed);
        assert_eq!(status, 200);
        let (status, _, body) = post(server.addr, "/v1/run", SEALED_INPUT_MEDIA_TYPE, &sealed);
        let kind = if status == 200 {
            String::new()
        } else {
            problem(&body).0
        };
        assert_eq!((status, kind), second);
        // A fresh request sees one or two votes.
        let answer = server.client().call(b"incr votes\n").unwrap();
        let expected: &[u8] = if second.0 == 200 {
            b"votes=3\n"
        } else {
            b"votes=2\n"
        };
        assert_eq!(answer.output.as_slice(), expected);
        server.stop().unwrap();
    }
}

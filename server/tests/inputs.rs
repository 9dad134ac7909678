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
use enclave_server::Config;
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

//! `enclave proxy` as a process between a real HTTP client (ureq) and `enclave serve --tls`:
//! requests pass when the upstream's attested certificate verifies under the policy, and get the
//! proxy's own 502 problem with the verifier's reason when it does not.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{attested, Dir, Listening, ECHO};

fn proxy_to(d: &Dir, upstream: &str, measurement: &str) -> Listening {
    Listening::start(
        d,
        &[
            "proxy",
            upstream,
            "--listen",
            "127.0.0.1:0",
            "--root",
            "root.pem",
            "--measurement",
            measurement,
        ],
    )
}

#[test]
fn plain_http_clients_reach_an_attested_enclave_through_the_proxy() {
    let d = Dir::new();
    let m = attested(&d, ECHO);
    let served = Listening::start(
        &d,
        &[
            "serve",
            "app.enclave",
            "--listen",
            "127.0.0.1:0",
            "--tls",
            "--allow-plaintext",
            "--workers",
            "1",
        ],
    );
    assert!(served.url.starts_with("https://"), "{}", served.url);
    let proxy = proxy_to(&d, &served.url, &m);
    assert!(proxy.url.starts_with("http://127.0.0.1:"), "{}", proxy.url);

    // The server's own routes and a run, each over a verified upstream connection.
    let info = ureq::get(&format!("{}/v1/info", proxy.url))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["measurement"], m.as_str());
    for _ in 0..3 {
        let answer = ureq::post(&format!("{}/v1/run", proxy.url))
            .set("content-type", "application/octet-stream")
            .send_bytes(b"through the proxy")
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.into_string().unwrap(), "through the proxy");
    }

    // A policy the enclave does not meet: nothing is sent; the proxy answers 502 itself.
    let other = "00".repeat(32);
    let refusing = proxy_to(&d, &served.url, &other);
    let error = ureq::get(&format!("{}/v1/info", refusing.url))
        .call()
        .unwrap_err();
    let ureq::Error::Status(502, response) = error else {
        panic!("expected 502, got {error}")
    };
    assert_eq!(
        response.header("content-type"),
        Some("application/problem+json")
    );
    let problem: serde_json::Value =
        serde_json::from_str(&response.into_string().unwrap()).unwrap();
    assert_eq!(
        problem["type"],
        "tag:enclave.invalid,2026:problem/attested-tls-refused"
    );
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("the attested TLS certificate was refused")
            && detail.contains("measurement mismatch"),
        "{detail}"
    );
}

#[test]
fn the_proxy_listens_on_loopback_and_speaks_only_attested_tls_upstream() {
    let d = Dir::new();
    let m = attested(&d, ECHO);
    let common = ["--root", "root.pem", "--measurement", m.as_str()];
    let stderr = d.fails(
        2,
        &[
            &["proxy", "https://127.0.0.1:1", "--listen", "0.0.0.0:0"][..],
            &common,
        ]
        .concat(),
    );
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0: past the proxy the traffic is cleartext"),
        "{stderr}"
    );
    let stderr = d.fails(
        2,
        &[
            &["proxy", "http://127.0.0.1:1", "--listen", "127.0.0.1:0"][..],
            &common,
        ]
        .concat(),
    );
    assert!(
        stderr.contains("upstream \"http://127.0.0.1:1\" is not an https://HOST:PORT URL"),
        "{stderr}"
    );
}

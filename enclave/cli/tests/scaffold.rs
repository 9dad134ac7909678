//! `enclave new`: the projects it creates build, sign and run (or serve) as they are. One test
//! per kind of project, because each runs cargo (a few seconds to a minute in release); they
//! need the three wasm targets, as the rest of the workspace does (rust-toolchain.toml), and the
//! crates the guests' build put in cargo's cache (they build `--offline`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use common::{cargo_build, cargo_build_with, Dir, Listening};

fn sign_and_run(d: &Dir, project: &str, wasm: &str) -> String {
    let at = |name: &str| format!("{project}/{name}");
    d.ok(&["keygen", "-o", &at("author.key")]);
    d.ok(&[
        "sign",
        &at(wasm),
        "--key",
        &at("author.key"),
        "--manifest",
        &at("enclave.toml"),
        "-o",
        &at("app.enclave"),
    ]);
    d.write("in.txt", b"hello from the enclave\nsecond line\n");
    d.ok(&[
        "run",
        &at("app.enclave"),
        "--trusted-signer",
        &at("author.pub"),
        "-i",
        "in.txt",
    ])
}

#[test]
fn new_projects_build_sign_and_run_as_they_are() {
    let d = Dir::new();
    let created = d.ok(&["new", "my-guest"]);
    assert!(created.contains("cargo build --release"), "{created}");
    cargo_build(&d, "my-guest");
    let out = sign_and_run(
        &d,
        "my-guest",
        "target/wasm32-unknown-unknown/release/my_guest.wasm",
    );
    assert_eq!(out, "2 lines, 6 words, 35 bytes\n");

    let created: serde_json::Value =
        serde_json::from_str(&d.ok(&["new", "tool", "--wasi", "--json"])).unwrap();
    assert_eq!(created["module"], "target/wasm32-wasip1/release/tool.wasm");
    cargo_build(&d, "tool");
    let out = sign_and_run(&d, "tool", "target/wasm32-wasip1/release/tool.wasm");
    assert_eq!(out, "2 lines, 6 words, 35 bytes\n");
    let inspect = d.ok(&["inspect", "tool/app.enclave"]);
    assert!(inspect.contains("kind:          wasi"), "{inspect}");

    // Never into a directory that holds anything; names cargo would refuse are usage errors.
    let err = d.fails(1, &["new", "tool"]);
    assert_eq!(err, "error: tool already exists and is not empty\n");
    let err = d.fails(2, &["new", "9lives"]);
    assert_eq!(
        err,
        "error: \"9lives\" is not a package name: use letters, digits, `-` and `_`, starting \
         with a letter\n"
    );
    // --sdk: a path dependency on a checkout's SDK instead of a copy.
    let sdk = concat!(env!("CARGO_MANIFEST_DIR"), "/../../guests/sdk");
    d.ok(&["new", "linked", "--sdk", sdk]);
    let manifest = std::fs::read_to_string(d.path("linked/Cargo.toml")).unwrap();
    assert!(manifest.contains("guests/sdk\" }"), "{manifest}");
    assert!(!d.path("linked/enclave-guest").exists());
}

/// Signs `wasm` of `project` with `manifest` (both paths in the project) as `bundle`.
fn sign(d: &Dir, project: &str, wasm: &str, manifest: &str, bundle: &str) {
    let at = |name: &str| format!("{project}/{name}");
    d.ok(&[
        "sign",
        &at(wasm),
        "--key",
        &at("author.key"),
        "--manifest",
        &at(manifest),
        "-o",
        &at(bundle),
    ]);
}

#[test]
fn a_new_http_component_builds_signs_and_serves_as_it_is() {
    let d = Dir::new();
    let created: serde_json::Value =
        serde_json::from_str(&d.ok(&["new", "web-app", "--http", "--json"])).unwrap();
    let wasm = "target/wasm32-wasip2/release/web_app.wasm";
    assert_eq!(created["module"], wasm);
    assert_eq!(created["kind"], "http");
    let readme = std::fs::read_to_string(d.path("web-app/README.md")).unwrap();
    for step in [
        "cargo build --release",
        "enclave keygen",
        "enclave sign",
        "enclave serve web-app.enclave --tls",
        "enclave proxy https://127.0.0.1:8443",
        "curl http://127.0.0.1:8080/",
    ] {
        assert!(readme.contains(step), "{step:?} not in {readme}");
    }
    // The platform's WIT, as this binary's runtime links it.
    let wit = std::fs::read_to_string(d.path("web-app/wit/platform.wit")).unwrap();
    assert_eq!(
        wit,
        include_str!("../../runtime/wit/platform.wit"),
        "the project's WIT is not the runtime's"
    );
    cargo_build(&d, "web-app");
    d.ok(&["keygen", "-o", "web-app/author.key"]);
    sign(&d, "web-app", wasm, "enclave.toml", "app.enclave");
    let inspect = d.ok(&["inspect", "web-app/app.enclave"]);
    assert!(inspect.contains("kind:          http"), "{inspect}");

    d.ok(&["platform", "init"]);
    let served = Listening::start(
        &d,
        &[
            "serve",
            "web-app/app.enclave",
            "--listen",
            "127.0.0.1:0",
            "--allow-plaintext",
        ],
    );
    let hello = ureq::get(&format!("{}/", served.url)).call().unwrap();
    assert_eq!(hello.status(), 200);
    assert_eq!(hello.into_string().unwrap(), "hello from web-app\n");
    let echoed = ureq::post(&format!("{}/echo", served.url))
        .send_bytes(b"echo me")
        .unwrap();
    assert_eq!(echoed.into_string().unwrap(), "echo me");
    let missing = ureq::get(&format!("{}/nope", served.url))
        .call()
        .unwrap_err();
    assert!(matches!(missing, ureq::Error::Status(404, _)), "{missing}");
    drop(served);

    // The store example builds offline too, and keeps its count across requests.
    cargo_build_with(&d, "web-app", &["--example", "counter"]);
    sign(
        &d,
        "web-app",
        "target/wasm32-wasip2/release/examples/counter.wasm",
        "examples/counter.toml",
        "counter.enclave",
    );
    let served = Listening::start(
        &d,
        &[
            "serve",
            "web-app/counter.enclave",
            "--listen",
            "127.0.0.1:0",
            "--allow-plaintext",
        ],
    );
    for n in 1..=2 {
        let counted = ureq::post(&format!("{}/count", served.url)).call().unwrap();
        assert_eq!(counted.into_string().unwrap(), format!("{n}\n"));
    }
    let count = ureq::get(&format!("{}/count", served.url)).call().unwrap();
    assert_eq!(count.into_string().unwrap(), "2\n");

    // --http with --wasi or --sdk is a usage error.
    let err = d.fails(2, &["new", "both", "--http", "--wasi"]);
    assert!(err.contains("cannot be used with"), "{err}");
}

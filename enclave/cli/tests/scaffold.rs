//! `enclave new`: the projects it creates build, sign and run as they are. One test, because
//! it runs cargo twice (a native and a WASI guest, each a few seconds in release); it needs the
//! two wasm targets, as the rest of the workspace does (rust-toolchain.toml).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use common::{cargo_build, Dir};

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

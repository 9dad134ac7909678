//! End-to-end tests of the whole system on the real example guests (compiled from `guests/` by
//! this crate's build script). One binary, one module per area.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is a failing test"
)]

mod attestation;
mod bundles;
mod confidential;
mod guests;
mod hostile;
mod http;
mod inputs;
mod matrix;
mod real_programs;
mod storage;
mod vote_tally;
mod wasi;

use attest::{AuthorKey, Manifest};
use enclave_runtime::{Enclave, Input, RunError};

/// The manifest every test starts from; tests append TOML to it.
pub const BASE: &str = "product_id = 1\nsvn = 1\ndebug = false\n";

/// Signs `module` under a fresh key with `BASE` plus `extra`.
pub fn sign(module: &[u8], extra: &str) -> Vec<u8> {
    let manifest = Manifest::from_toml(&format!("{BASE}{extra}")).unwrap();
    attest::bundle::sign(&AuthorKey::generate().unwrap(), &manifest, module).unwrap()
}

/// Loads `module` signed with `BASE` plus `extra`.
pub fn load(module: &[u8], extra: &str) -> Enclave {
    Enclave::load(&sign(module, extra), enclave_runtime::Signers::Any).unwrap()
}

/// Runs once on `input`, collecting the output in memory.
pub fn run(enclave: &Enclave, input: &[u8]) -> Result<Vec<u8>, RunError> {
    Ok(enclave
        .run(Input::from_bytes(input.to_vec()), Vec::new(), None)?
        .output)
}

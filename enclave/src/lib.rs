//! The enclave runtime: loads signed, measured wasm bundles into an isolated wasmtime store.
#![deny(missing_docs)]

pub mod platform;

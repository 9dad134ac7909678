//! The enclave runtime: loads signed, measured wasm bundles into an isolated wasmtime store with
//! no ambient capabilities and runs them under the limits their manifest declares.
//!
//! - [`Enclave`]: verify + compile a bundle once, run it many times, each run in a fresh store.
//!   A guest is a native enclave module (`docs/abi.md`) or an unmodified WASI preview 1 command
//!   whose only capability is stdio ([`wasi`], `docs/wasi.md`).
//! - [`platform`]: the simulated hardware (vendor root, attestation key, platform secret).
//! - [`store`]: an enclave's persistent sealed store, with rollback protection.
//! - [`files`]: atomic output and 0600 secret files, used by the CLI.
//!
//! The ABI a guest sees is in `docs/abi.md`; the threat model in `docs/threat-model.md`.
#![deny(missing_docs)]

pub mod abi;
pub mod cache;
pub mod confidential;
pub mod engine;
pub mod error;
pub mod files;
pub mod host;
pub mod platform;
pub mod runner;
pub mod store;
pub mod wasi;

pub use error::{GuestFault, GuestMessage, LoadError, RunError, StoreFault};
pub use host::{
    Input, PlatformServices, ReportIssuer, ReportRefused, RunScope, SealPolicy, ServiceRefused,
};
pub use runner::{describe_module, Enclave, ModuleInterface, RunReport};

//! The enclave runtime: loads signed, measured wasm bundles into an isolated wasmtime store with
//! no ambient capabilities and runs them under the limits their manifest declares. This is the
//! crate an embedder links; it has no command line, no server and no files of its own.
//!
//! - [`Enclave`]: verify + compile a bundle once, run it many times, each run in a fresh store.
//!   A guest is a native enclave module (`docs/abi.md`) or an unmodified WASI preview 1 command
//!   whose only capability is stdio ([`wasi`], `docs/wasi.md`).
//! - [`Enclave::run_sealed`] ([`confidential`]): a sealed input opened inside the runtime, the
//!   output sealed back to the requester, a receipt signed by the platform;
//!   [`Enclave::run_sealed_with`] does the same with the enclave's key pairs derived once
//!   ([`ConfidentialKeys`]).
//! - [`services`]: what the runtime asks of the platform under it — the services a guest may
//!   call and what a confidential run needs — as traits; `enclave_platform` implements them for
//!   the simulated platform on disk.
//! - [`module_limits`]: the static sanity bounds a module must meet before anything compiles it.
//! - [`compile`]: compilation in this process for trusted modules, or in a sandbox under a CPU
//!   and memory budget the operating system enforces ([`compile::Sandbox`]).
//! - [`cache`]: compiled code, authenticated before it is ever loaded, kept in a directory
//!   the platform chooses ([`cache::CodeCache::for_secret`]).
//! - [`embed`]: what a plugin host needs (`docs/embedding.md`): a [`Loader`] with an allow-list
//!   of signers, [`HostPolicy`] caps and [`HostFunctions`], a [`SharedEngine`], calls by name
//!   and a [`CancelHandle`]; [`receipted`]: signed receipts for plaintext runs.
//!
//! The layers and their rules: `docs/architecture.md`. The ABI a guest sees: `docs/abi.md`.
#![deny(missing_docs)]

pub mod abi;
pub mod cache;
pub mod compile;
#[cfg(feature = "http")]
pub mod component;
pub mod confidential;
pub mod embed;
pub mod engine;
pub mod error;
mod failure;
pub mod host;
pub mod host_fns;
pub mod module_limits;
pub mod policy;
pub mod receipted;
pub mod runner;
pub mod services;
#[cfg(feature = "wasi")]
pub mod wasi;

pub use attest::Signers;
pub use compile::Compilation;
pub use confidential::{ConfidentialError, ConfidentialKeys, SealedRun};
pub use embed::{
    CancelHandle, EngineConfig, GuestThread, HostPolicy, Loader, RunOptions, SharedEngine,
};
pub use error::{GuestFault, GuestMessage, LoadError, RunError, StoreFault};
pub use host::{Input, InputOrigin, SealedOrigin};
pub use host_fns::{HostCallRefused, HostFunctions};
pub use receipted::{ReceiptError, ReceiptedRun};
pub use runner::{describe_module, describe_module_with, Enclave, ModuleInterface, RunReport};
pub use services::{
    ConfidentialPlatform, PlatformServices, ReplayRefused, ReportIssuer, ReportRefused, RequestId,
    RunScope, SealPolicy, ServiceRefused,
};

//! Identities, signed enclave bundles, attestation evidence and the verifier library.
//!
//! This crate is what a relying party links to check an enclave remotely. It has no wasmtime
//! inside and does no file or network I/O: every function takes bytes and returns values.
//!
//! - [`identity`]: the newtypes that name an enclave — [`Measurement`] (MRENCLAVE analog),
//!   [`SignerId`] (MRSIGNER analog), [`ModuleDigest`], [`ProductId`], [`Svn`].
//! - [`manifest`]: the signed enclave configuration (limits, capabilities, debug, svn).
//! - [`keys`]: Ed25519 author keys as PKCS#8 / SPKI PEM, readable by `openssl pkey`.
//! - [`bundle`]: the signed bundle (COSE_Sign1, RFC 9052) and its verification.
//! - [`cbor`]: strict decoding of untrusted CBOR (size cap, recursion limit, no trailing bytes).
//!
//! Every byte format is specified in `docs/formats.md`.
#![deny(missing_docs)]

pub mod bundle;
pub mod cbor;
pub mod identity;
pub mod keys;
pub mod manifest;

pub use bundle::{BundleError, VerifiedBundle};
pub use identity::{
    EnclavePublicKey, Measurement, ModuleDigest, PlatformId, ProductId, SignerId, Svn,
};
pub use keys::{AuthorKey, AuthorPublicKey, KeyError};
pub use manifest::{Capability, GuestKind, Limits, Manifest, ManifestError};

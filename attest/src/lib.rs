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
//! - [`evidence`]: attestation evidence — EAT claims (RFC 9711) in a COSE_Sign1 with an X.509
//!   chain; [`mod@verify`]: the relying party's verifier and [`VerifierPolicy`]; [`policy`]: the
//!   same policy read from a TOML verifier policy file.
//! - [`receipt`]: signed execution receipts and their verification.
//! - [`trust`]: [`TrustedRoots`], the pinned roots parsed once, with the platform chains already
//!   validated under them (for a relying party that verifies many tokens).
//! - [`tls`]: attested TLS — evidence in an X.509 extension (RFC 9999 `id-pe-cmw`), checked by
//!   [`tls::verify_certificate`] and, with feature `tls`, a rustls certificate verifier.
//! - [`cose`]: the envelope both share, its OIDs and claim keys.
//! - `platform` (feature `platform`): the simulated vendor root CA and attestation keys.
//! - [`cbor`]: strict decoding of untrusted CBOR (size cap, recursion limit, no trailing bytes).
//!
//! Every byte format is specified in `docs/formats.md`.
#![deny(missing_docs)]

pub mod bundle;
pub mod cbor;
mod chain;
pub mod cose;
mod error;
pub mod evidence;
pub mod identity;
pub mod keys;
pub mod manifest;
#[cfg(feature = "platform")]
pub mod platform;
pub mod policy;
pub mod receipt;
pub mod tls;
pub mod trust;
pub mod verify;

pub use bundle::{BundleError, Signers, VerifiedBundle};
pub use evidence::{Claims, EnclaveKeys, EvidenceError};
pub use identity::{
    EnclavePublicKey, Measurement, ModuleDigest, PlatformId, ProductId, SignerId, Svn,
};
pub use keys::{AuthorKey, AuthorPublicKey, KeyError};
pub use manifest::{Capability, GuestKind, InputPolicy, Limits, Manifest, ManifestError};
#[cfg(feature = "platform")]
pub use platform::{AttestationKey, PlatformError, VendorCa};
pub use policy::{PolicyError, PolicyFile};
pub use receipt::{verify_receipt, Outcome, ReceiptClaims, StoreVersion, VerifiedReceipt};
pub use trust::TrustedRoots;
pub use verify::{verify, VerifiedEvidence, VerifierPolicy, VerifyError};

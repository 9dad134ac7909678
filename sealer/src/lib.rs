//! Confidential I/O: sealing keys, HPKE to an attested enclave key, STREAM chunking and
//! Oblivious-HTTP-style response encryption.
//!
//! The crate does no file, network or process I/O: it works on keys, bytes and
//! [`std::io::Read`] / [`std::io::Write`], with memory bounded independently of the payload size
//! (two 64 KiB chunk buffers). Every byte it writes is specified in `docs/formats.md`, section
//! "Confidential I/O".
//!
//! - [`keys`]: the [`PlatformSecret`], [`KeyPolicy`] (measurement or signer, SGX-style) and
//!   [`derive_key`], which always binds the debug bit; [`EnclaveIdentity`] applies the svn rule.
//! - [`blob`]: sealed blobs an enclave keeps for itself (AES-256-GCM, one key per blob), and
//!   its sealed store state.
//! - [`keypair`]: the enclave's HPKE key pair, derived, never stored.
//! - [`input`]: the client seals ([`seal`]); the enclave reads the [`SealedInputHeader`], checks
//!   its binding and opens it into an [`OpenReader`].
//! - [`output`]: the enclave encrypts its output back to the client ([`ResponseSealer`],
//!   [`SealWriter`]); the client opens it ([`open_output`]) with its [`ClientContext`].
//!
//! Primitives come from `ring` (HKDF-SHA256, ChaCha20-Poly1305, SHA-256, the system CSPRNG) and
//! `hpke` (RFC 9180); nothing here implements a primitive.
#![deny(missing_docs)]

pub mod blob;
pub mod context;
mod digest;
mod entropy;
pub mod error;
pub mod input;
pub mod keypair;
pub mod keys;
pub mod output;
pub mod receipt;
mod stream;

pub use context::ClientContext;
pub use digest::{EvidenceDigest, SealedInputDigest, SealedOutputDigest};
pub use error::{OpenError, SealError, StreamError};
pub use input::{seal, seal_with_workers, OpenReader, SealTarget, SealedInputHeader};
pub use keypair::EnclaveKeyPair;
pub use keys::{derive_key, EnclaveIdentity, KeyPolicy, KeyPurpose, PlatformSecret};
pub use output::{open_output, FinishedOutput, OpenedOutput, ResponseSealer, SealWriter};
pub use receipt::{check_receipt, ReceiptMismatch};
pub use stream::CHUNK_LEN;

//! Confidential I/O: sealing keys, HPKE to an attested enclave key, STREAM chunking and
//! Oblivious-HTTP-style response encryption.
//!
//! The crate does no file, network or process I/O: it works on keys, bytes and
//! [`std::io::Read`] / [`std::io::Write`], with memory bounded independently of the payload size
//! (two 64 KiB chunk buffers). Every byte it writes is specified in `docs/formats.md`, section
//! "Confidential I/O".
//!
//! - [`keys`]: the [`PlatformSecret`], [`KeyPolicy`] (measurement or signer, SGX-style) and
//!   [`derive_key`], which always binds the debug bit; [`EnclaveIdentity`] applies the svn rule;
//!   [`TcbSecrets`] gives the secret of each TCB level up to the platform's own.
//! - [`blob`]: sealed blobs an enclave keeps for itself (AES-256-GCM, one key per blob), and
//!   its sealed store state.
//! - [`keypair`]: the enclave's HPKE key pair, derived, never stored; it decapsulates with
//!   AWS-LC's X25519 under `hpke`'s key schedule (`kem.rs`).
//! - [`input`]: the client seals ([`seal`]); the enclave reads the [`SealedInputHeader`], checks
//!   its binding and opens it into an [`OpenReader`].
//! - [`output`]: the enclave encrypts its output back to the client ([`ResponseSealer`],
//!   [`SealWriter`]); the client opens it ([`open_output`]) with its [`ClientContext`].
//! - [`AeadSuite`]: AES-256-GCM or ChaCha20-Poly1305, named in every sealed header.
//!
//! Primitives come from `ring` (HKDF-SHA256, AES-256-GCM, ChaCha20-Poly1305, the system CSPRNG),
//! `sha2` (SHA-256),
//! `hpke` (RFC 9180) and `aws-lc-rs` (X25519, RFC 7748); nothing here implements a primitive.
#![deny(missing_docs)]

pub mod blob;
pub mod context;
mod digest;
mod entropy;
pub mod error;
pub mod input;
mod kem;
pub mod keypair;
pub mod keys;
pub mod output;
pub mod padding;
pub mod receipt;
mod stream;
mod suite;
mod target;

pub use context::ClientContext;
pub use digest::{EvidenceDigest, SealedInputDigest, SealedOutputDigest};
pub use error::{OpenError, SealError, StreamError};
pub use input::{
    seal, seal_with_options, seal_with_workers, OpenReader, SealOptions, SealTarget,
    SealedInputHeader,
};
pub use keypair::EnclaveKeyPair;
pub use keys::{
    derive_key, EnclaveIdentity, KeyPolicy, KeyPurpose, PlatformSecret, TcbError, TcbRecoveryRoot,
    TcbSecrets, MAX_TCB,
};
pub use output::{open_output, FinishedOutput, OpenedOutput, ResponseSealer, SealWriter};
pub use receipt::{check_receipt, ReceiptMismatch};
pub use stream::CHUNK_LEN;
pub use suite::AeadSuite;

/// The exact length of a sealed input of `plaintext_len` bytes (its header and every STREAM
/// chunk with its tag), or `None` if it does not fit a `u64`. A server bounds a request body
/// with it before reading a byte past the header.
pub fn sealed_input_len(plaintext_len: u64) -> Option<u64> {
    sealed_len(input::HEADER_LEN, plaintext_len)
}

/// The exact length of a sealed output of `plaintext_len` bytes.
pub fn sealed_output_len(plaintext_len: u64) -> Option<u64> {
    sealed_len(output::OUTPUT_HEADER_LEN, plaintext_len)
}

fn sealed_len(header: usize, plaintext_len: u64) -> Option<u64> {
    let tags = stream::chunk_count(plaintext_len).checked_mul(stream::TAG_LEN as u64)?;
    (header as u64)
        .checked_add(plaintext_len)?
        .checked_add(tags)
}

#[cfg(test)]
mod length_tests {
    use super::*;

    #[test]
    fn sealed_lengths_match_what_seal_writes() {
        for len in [
            0usize,
            1,
            CHUNK_LEN - 1,
            CHUNK_LEN,
            CHUNK_LEN + 1,
            3 * CHUNK_LEN,
        ] {
            let plaintext = vec![7u8; len];
            let identity = EnclaveIdentity {
                measurement: attest::Measurement::from_bytes([1; 32]),
                signer: attest::SignerId::from_bytes([2; 32]),
                product_id: attest::ProductId(1),
                svn: attest::Svn(1),
                debug: false,
            };
            let secret = PlatformSecret::from_bytes([9; 32]);
            let platform = attest::PlatformId::from_bytes([3; 32]);
            let policy = identity.measurement_policy();
            let keypair = EnclaveKeyPair::derive(&secret, &policy, false);
            let target = SealTarget {
                public_key: keypair.public(),
                policy,
                debug: false,
                evidence_digest: EvidenceDigest::from_bytes([4; 32]),
                platform_id: platform,
            };
            let mut sealed = Vec::new();
            seal(&target, plaintext.as_slice(), len as u64, &mut sealed).expect("seal");
            assert_eq!(
                Some(sealed.len() as u64),
                sealed_input_len(len as u64),
                "{len}"
            );
        }
        assert_eq!(sealed_input_len(u64::MAX), None);
        assert_eq!(
            sealed_output_len(0),
            Some((output::OUTPUT_HEADER_LEN + stream::TAG_LEN) as u64)
        );
    }
}

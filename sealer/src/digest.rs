//! Newtypes for the SHA-256 digests that tie sealed files to evidence and receipts, and the
//! two-level sealed-input digest (`docs/formats.md`, "Sealed input digest").

use std::fmt;

use sha2::{Digest as _, Sha256};

/// The domain-separation prefix of the sealed-input digest.
pub(crate) const INPUT_DIGEST_DOMAIN: &[u8] = b"enclave/v2 sealed-input digest";

/// SHA-256 of one sealed STREAM chunk (ciphertext and tag), the inner level of the
/// sealed-input digest.
pub(crate) fn chunk_hash(sealed_chunk: &[u8]) -> [u8; 32] {
    Sha256::digest(sealed_chunk).into()
}

/// The sealed-input digest being computed: `SHA-256(domain || header || u64 chunk count ||
/// chunk_hash(0) || … || chunk_hash(count − 1))`. It commits to every sealed byte (collision
/// resistance of SHA-256 at both levels; the header fixes the chunk boundaries) and its inner
/// hashes can be computed in parallel.
#[derive(Clone)]
pub(crate) struct InputDigester {
    outer: Sha256,
}

impl InputDigester {
    /// Starts the digest of a sealed input with `header` and `chunks` chunks.
    pub(crate) fn new(header: &[u8], chunks: u64) -> Self {
        let mut outer = Sha256::new();
        outer.update(INPUT_DIGEST_DOMAIN);
        outer.update(header);
        outer.update(chunks.to_be_bytes());
        Self { outer }
    }

    /// Absorbs the hash of the next chunk, in order.
    pub(crate) fn chunk(&mut self, chunk_hash: &[u8; 32]) {
        self.outer.update(chunk_hash);
    }

    /// The digest so far (final once every chunk has been absorbed).
    pub(crate) fn value(&self) -> [u8; 32] {
        self.outer.clone().finalize().into()
    }
}

/// A 32-byte digest that prints as lowercase hex.
macro_rules! digest_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name([u8; 32]);

        impl $name {
            /// Wraps raw digest bytes.
            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The raw digest bytes.
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for byte in self.0 {
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }
    };
}

digest_newtype!(
    /// SHA-256 of the attestation evidence a sealed input was sealed against, exactly as the
    /// client received it.
    EvidenceDigest
);
digest_newtype!(
    /// The sealed-input digest of a whole sealed input file (header and every chunk), as written
    /// by [`crate::seal`]: SHA-256 over the header and the SHA-256 of every sealed chunk
    /// (`docs/formats.md`, "Sealed input digest").
    SealedInputDigest
);
digest_newtype!(
    /// SHA-256 of a whole sealed output file (header and every chunk).
    SealedOutputDigest
);

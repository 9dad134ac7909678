//! The key and nonces of a stream, and the arithmetic of its chunks.

use ring::aead::{LessSafeKey, Nonce, UnboundKey};

use crate::error::SealError;
use crate::suite::AeadSuite;

/// Plaintext bytes per chunk: 64 KiB.
pub const CHUNK_LEN: usize = 64 * 1024;
/// The AEAD tag after each chunk (16 bytes for both suites).
pub(crate) const TAG_LEN: usize = 16;
pub(super) const CHUNK_LEN_U64: u64 = CHUNK_LEN as u64;

/// The key of one stream, with its AEAD.
pub(crate) struct StreamKey {
    pub(super) key: LessSafeKey,
    pub(super) suite: AeadSuite,
}

impl StreamKey {
    pub(crate) fn new(suite: AeadSuite, bytes: &[u8; 32]) -> Self {
        #[allow(
            clippy::expect_used,
            reason = "both suites take exactly 32-byte keys, which the type guarantees"
        )]
        let key = UnboundKey::new(suite.ring(), bytes).expect("32-byte key");
        Self {
            key: LessSafeKey::new(key),
            suite,
        }
    }

    /// Refuses a chunk index past what the suite may seal under one key.
    pub(super) fn check_index(&self, index: u64) -> Result<(), SealError> {
        if index >= self.suite.max_chunks() {
            return Err(SealError::TooManyChunks);
        }
        Ok(())
    }
}

/// The nonce of chunk `counter`: 3 zero bytes, the 8-byte big-endian counter, the flag.
pub(super) fn nonce(counter: u64, last: bool) -> Nonce {
    let [a, b, c, d, e, f, g, h] = counter.to_be_bytes();
    Nonce::assume_unique_for_key([0, 0, 0, a, b, c, d, e, f, g, h, u8::from(last)])
}

/// Number of chunks of a payload of `len` bytes (at least one: the final chunk).
pub(crate) fn chunk_count(len: u64) -> u64 {
    len.div_ceil(CHUNK_LEN_U64).max(1)
}

/// Plaintext length of chunk `index` of a payload of `len` bytes.
pub(crate) fn chunk_len(index: u64, len: u64) -> usize {
    let rest = len.saturating_sub(index.saturating_mul(CHUNK_LEN_U64));
    usize::try_from(rest.min(CHUNK_LEN_U64)).unwrap_or(CHUNK_LEN)
}

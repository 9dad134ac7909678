//! The errors of sealing ([`SealError`]) and of opening ([`OpenError`], [`StreamError`]).
//!
//! Crypto failures stay coarse ("decryption failed"); structural and policy failures are
//! specific, so an operator can tell a truncated upload from a wrong key.

use attest::{Measurement, PlatformId, ProductId, SignerId, Svn};

/// Sealing an input (client side) or an output (enclave side) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Reading the plaintext or writing the sealed bytes failed.
    #[error("i/o error while sealing")]
    Io(#[from] std::io::Error),
    /// The system random number generator failed.
    #[error("random number generator failed")]
    Random,
    /// The enclave public key is not usable for X25519 (a low-order point).
    #[error("invalid enclave public key")]
    InvalidPublicKey,
    /// The plaintext ended before the declared length.
    #[error("plaintext ended after {actual} bytes, {declared} declared")]
    InputShorter {
        /// The length announced in the header.
        declared: u64,
        /// The bytes actually read.
        actual: u64,
    },
    /// The plaintext continued past the declared length.
    #[error("plaintext is longer than the {declared} bytes declared")]
    InputLonger {
        /// The length announced in the header.
        declared: u64,
    },
    /// The stream would need more chunks than one key may seal: 2^24 (1 TiB) under
    /// AES-256-GCM, the 64-bit counter under ChaCha20-Poly1305.
    #[error("too many chunks for one stream")]
    TooManyChunks,
    /// An AEAD operation refused its input (cannot happen for chunk-sized buffers).
    #[error("encryption failed")]
    Encryption,
    /// The writer was used after an earlier error.
    #[error("sealed output writer unusable after an earlier error")]
    Poisoned,
}

/// A sealed stream (the chunks after a header) is not what its writer produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The stream ends inside a chunk, or chunks before the final one are missing.
    #[error("sealed stream truncated in chunk {chunk}")]
    Truncated {
        /// Index of the first incomplete chunk.
        chunk: u64,
    },
    /// Every chunk but the final one is present.
    #[error("sealed stream lacks its final chunk (chunk {chunk})")]
    MissingFinalChunk {
        /// Index the final chunk should have had.
        chunk: u64,
    },
    /// Bytes follow the final chunk.
    #[error("data after the final chunk")]
    TrailingData,
    /// A chunk authenticates, but at another position: chunks were reordered, dropped or
    /// duplicated.
    #[error("chunk {found} found at position {position}: chunks reordered, dropped or duplicated")]
    ChunkOutOfOrder {
        /// Where the chunk was found.
        position: u64,
        /// The position it was sealed for.
        found: u64,
    },
    /// A chunk does not authenticate at any nearby position: altered, or the wrong key.
    #[error("chunk {chunk} failed authentication")]
    ChunkAuthentication {
        /// Index of the chunk.
        chunk: u64,
    },
    /// A final chunk is empty although chunks precede it (writers never produce one).
    #[error("empty final chunk {chunk}")]
    EmptyFinalChunk {
        /// Index of the chunk.
        chunk: u64,
    },
    /// The stream needs more chunks than the 64-bit counter allows.
    #[error("too many chunks")]
    TooManyChunks,
    /// An earlier read failed; the stream position is lost.
    #[error("sealed stream unusable after an earlier error")]
    Poisoned,
}

/// Opening a sealed input (enclave side) or a sealed output (client side) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Reading the sealed bytes or writing the plaintext failed.
    #[error("i/o error while opening")]
    Io(#[from] std::io::Error),
    /// The file ends inside its fixed-size header.
    #[error("sealed header truncated")]
    TruncatedHeader,
    /// The magic bytes are not those of a sealed input.
    #[error("not a sealed input (bad magic)")]
    NotSealedInput,
    /// The magic bytes are not those of a sealed output.
    #[error("not a sealed output (bad magic)")]
    NotSealedOutput,
    /// The magic bytes are not those of a client context.
    #[error("not a client context (bad magic)")]
    NotClientContext,
    /// A format version this build does not know.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u16),
    /// An HPKE suite other than DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 with AES-256-GCM or
    /// ChaCha20-Poly1305.
    #[error("unsupported hpke suite: kem {kem:#06x}, kdf {kdf:#06x}, aead {aead:#06x}")]
    UnsupportedSuite {
        /// KEM id.
        kem: u16,
        /// KDF id.
        kdf: u16,
        /// AEAD id.
        aead: u16,
    },
    /// A sealed output names an AEAD other than AES-256-GCM (0x0002) or ChaCha20-Poly1305
    /// (0x0003).
    #[error("unsupported aead {0:#06x}")]
    UnsupportedAead(u16),
    /// A chunk size other than 65536.
    #[error("unsupported chunk size {0}")]
    UnsupportedChunkSize(u32),
    /// The key policy block is malformed.
    #[error("malformed key policy: {0}")]
    MalformedPolicy(&'static str),
    /// A client context of the wrong length.
    #[error("malformed client context: {0}")]
    MalformedContext(&'static str),
    /// HPKE decapsulation or the header's key confirmation failed: the header was altered, or
    /// the input was sealed to another key or platform secret.
    #[error("decryption failed")]
    Decryption,
    /// The key pair passed to open was derived for another policy or debug bit than the header
    /// names.
    #[error("key pair derived for another key policy than the header names")]
    KeyPolicyMismatch,
    /// Measurement policy, other measurement.
    #[error("sealed to measurement {sealed}, enclave is {enclave}")]
    MeasurementMismatch {
        /// From the header.
        sealed: Measurement,
        /// The running enclave's.
        enclave: Measurement,
    },
    /// Signer policy, other signer.
    #[error("sealed to signer {sealed}, enclave is signed by {enclave}")]
    SignerMismatch {
        /// From the header.
        sealed: SignerId,
        /// The running enclave's.
        enclave: SignerId,
    },
    /// Signer policy, other product id.
    #[error("sealed to product id {sealed}, enclave is product id {enclave}")]
    ProductMismatch {
        /// From the header.
        sealed: ProductId,
        /// The running enclave's.
        enclave: ProductId,
    },
    /// Signer policy sealed to a newer svn than the enclave's: an old enclave never reads data
    /// meant for its fixed successor.
    #[error("sealed to svn {sealed}, enclave is svn {enclave}")]
    SvnTooNew {
        /// From the header.
        sealed: Svn,
        /// The running enclave's.
        enclave: Svn,
    },
    /// Sealed for a debug enclave and opened by a production one, or the reverse.
    #[error("sealed for a {} enclave, this enclave is {}", mode(*sealed), mode(*enclave))]
    DebugMismatch {
        /// From the header.
        sealed: bool,
        /// The running enclave's.
        enclave: bool,
    },
    /// Sealed to another platform.
    #[error("sealed to platform {sealed}, this platform is {platform}")]
    PlatformMismatch {
        /// From the header.
        sealed: PlatformId,
        /// This platform's.
        platform: PlatformId,
    },
    /// The chunks after the header are not what the writer produced.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// A padded payload (sealed output version 3, sealed input version 3) does not end in its
    /// padding, or declares more plaintext than it holds. Only the holder of the key can make
    /// such a payload: it is the writer's bug, not tampering.
    #[error("bad padding")]
    BadPadding,
}

fn mode(debug: bool) -> &'static str {
    if debug {
        "debug"
    } else {
        "production"
    }
}

//! Sealed output: the enclave encrypts its output back to the client that sealed the input, as
//! Oblivious HTTP encrypts responses (RFC 9458 §4.4): a key derived from the HPKE exporter
//! secret of the input's context, the input's `enc` and a fresh response nonce, with the AEAD of
//! the input, which the header names (`docs/formats.md`, "Sealed output").

use std::fmt;
use std::io::{self, Read, Write};

use ring::hkdf;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::context::ClientContext;
use crate::digest::SealedOutputDigest;
use crate::entropy::{Entropy, SystemEntropy};
use crate::error::{OpenError, SealError};
use crate::stream::{
    reserve_secret, ChunkFailure, ChunkSealer, HashingWriter, Plan, StreamDigest, StreamKey,
    StreamReader, CHUNK_LEN, TAG_LEN,
};
use crate::suite::AeadSuite;

/// The first 8 bytes of a sealed output.
pub const OUTPUT_MAGIC: [u8; 8] = *b"ENCLRESP";
/// The sealed output format version (2: the header names the AEAD).
pub const OUTPUT_VERSION: u16 = 2;
/// Length of the sealed output header: magic, version, `aead_id`, response nonce.
pub const OUTPUT_HEADER_LEN: usize = 8 + 2 + 2 + 32;

/// The response key: `HKDF-Expand(HKDF-Extract(enc || response_nonce, secret), "key", 32)`.
fn response_key(
    suite: AeadSuite,
    secret: &[u8; 32],
    enc: &[u8; 32],
    response_nonce: &[u8; 32],
) -> StreamKey {
    let salt = [enc.as_slice(), response_nonce.as_slice()].concat();
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &salt).extract(secret);
    let mut key = Zeroizing::new([0u8; 32]);
    #[allow(
        clippy::expect_used,
        reason = "HKDF-Expand of 32 bytes with SHA-256 cannot fail: the limit is 255 × 32 bytes"
    )]
    prk.expand(&[b"key"], hkdf::HKDF_SHA256)
        .and_then(|okm| okm.fill(key.as_mut_slice()))
        .expect("32-byte HKDF-SHA256 output");
    StreamKey::new(suite, &key)
}

/// What the enclave keeps from opening an input to encrypt its response. Cloned only to seal a
/// failed run's report instead of the output (`docs/formats.md`, "Failed runs"): one response
/// is ever released per input, each under its own fresh response nonce.
#[derive(Clone)]
pub struct ResponseSealer {
    suite: AeadSuite,
    enc: [u8; 32],
    secret: Zeroizing<[u8; 32]>,
}

impl ResponseSealer {
    pub(crate) fn new(suite: AeadSuite, enc: [u8; 32], secret: Zeroizing<[u8; 32]>) -> Self {
        Self { suite, enc, secret }
    }

    /// Starts the sealed output: draws the response nonce and writes the header to `out`.
    /// Consumes the sealer: one response per input.
    ///
    /// # Errors
    /// [`SealError::Random`] or [`SealError::Io`].
    pub fn writer<W: Write>(self, out: W) -> Result<SealWriter<W>, SealError> {
        self.writer_with(&mut SystemEntropy::new(), out)
    }

    pub(crate) fn writer_with<W: Write>(
        self,
        entropy: &mut impl Entropy,
        out: W,
    ) -> Result<SealWriter<W>, SealError> {
        let mut response_nonce = [0u8; 32];
        entropy.fill(&mut response_nonce)?;
        let key = response_key(self.suite, &self.secret, &self.enc, &response_nonce);
        let mut out = HashingWriter::new(out);
        out.write_all(&OUTPUT_MAGIC)?;
        out.write_all(&OUTPUT_VERSION.to_be_bytes())?;
        out.write_all(&self.suite.id().to_be_bytes())?;
        out.write_all(&response_nonce)?;
        Ok(SealWriter {
            out,
            sealer: ChunkSealer::new(key),
            // Grows with the output (see `write`): a short answer never touches a whole chunk.
            buf: Zeroizing::new(Vec::new()),
            plaintext_len: 0,
            poisoned: false,
        })
    }
}

impl fmt::Debug for ResponseSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseSealer(<redacted>)")
    }
}

/// Encrypts the enclave's output as STREAM chunks. Holds at most one chunk of plaintext; a
/// full chunk is sealed once more data arrives (only then is it known not to be the last).
/// Without [`Self::finish`] the output lacks its final chunk and every reader refuses it.
pub struct SealWriter<W: Write> {
    out: HashingWriter<W>,
    sealer: ChunkSealer,
    buf: Zeroizing<Vec<u8>>,
    plaintext_len: u64,
    poisoned: bool,
}

/// A finished sealed output.
#[derive(Debug)]
pub struct FinishedOutput<W> {
    /// The writer, handed back.
    pub writer: W,
    /// SHA-256 of the whole sealed output (for the receipt).
    pub digest: SealedOutputDigest,
    /// Plaintext bytes sealed.
    pub plaintext_len: u64,
}

impl<W: Write> SealWriter<W> {
    /// Seals the buffered rest as the final chunk, flushes, and hands the writer back.
    ///
    /// # Errors
    /// [`SealError::Io`], or [`SealError::Poisoned`] after an earlier failed write.
    pub fn finish(mut self) -> Result<FinishedOutput<W>, SealError> {
        if self.poisoned {
            return Err(SealError::Poisoned);
        }
        reserve_secret(&mut self.buf, TAG_LEN, CHUNK_LEN + TAG_LEN);
        self.sealer.seal(&mut self.buf, true)?;
        self.out.write_all(&self.buf)?;
        self.out.inner.flush()?;
        let digest = SealedOutputDigest::from_bytes(self.out.digest());
        Ok(FinishedOutput {
            writer: self.out.inner,
            digest,
            plaintext_len: self.plaintext_len,
        })
    }

    fn seal_full_chunk(&mut self) -> Result<(), SealError> {
        self.sealer.seal(&mut self.buf, false)?;
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

impl<W: Write> Write for SealWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.poisoned {
            return Err(io::Error::other(SealError::Poisoned));
        }
        if data.is_empty() {
            return Ok(0);
        }
        if self.buf.len() == CHUNK_LEN {
            if let Err(e) = self.seal_full_chunk() {
                self.poisoned = true;
                return Err(match e {
                    SealError::Io(e) => e,
                    other => io::Error::other(other),
                });
            }
        }
        let room = CHUNK_LEN.saturating_sub(self.buf.len());
        let n = room.min(data.len());
        // Room for the tag too, which sealing appends.
        reserve_secret(&mut self.buf, n + TAG_LEN, CHUNK_LEN + TAG_LEN);
        self.buf
            .extend_from_slice(data.get(..n).unwrap_or_default());
        self.plaintext_len = self
            .plaintext_len
            .saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        Ok(n)
    }

    /// Flushes the underlying writer; buffered plaintext stays until the chunk is full.
    fn flush(&mut self) -> io::Result<()> {
        self.out.inner.flush()
    }
}

impl<W: Write> fmt::Debug for SealWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealWriter")
            .field("plaintext_len", &self.plaintext_len)
            .finish_non_exhaustive()
    }
}

/// The result of opening a sealed output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenedOutput {
    /// Plaintext bytes written.
    pub plaintext_len: u64,
    /// SHA-256 of the whole sealed output, to compare with the receipt.
    pub digest: SealedOutputDigest,
}

/// Opens a sealed output with the client context of the input it answers, writing the
/// plaintext to `out` chunk by chunk.
///
/// Plaintext is written before the whole output is authenticated: on error, discard what was
/// written (the CLI writes to a temporary file and renames it only on success).
///
/// # Errors
/// [`OpenError::TruncatedHeader`], [`OpenError::NotSealedOutput`],
/// [`OpenError::UnsupportedVersion`], [`OpenError::UnsupportedAead`], [`OpenError::Stream`] (a
/// wrong context shows as `ChunkAuthentication { chunk: 0 }`), [`OpenError::Io`].
pub fn open_output<R: Read, W: Write>(
    context: &ClientContext,
    mut sealed: R,
    mut out: W,
) -> Result<OpenedOutput, OpenError> {
    let mut header = [0u8; OUTPUT_HEADER_LEN];
    sealed.read_exact(&mut header).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => OpenError::TruncatedHeader,
        _ => OpenError::Io(e),
    })?;
    let [m0, m1, m2, m3, m4, m5, m6, m7, v0, v1, a0, a1, response_nonce @ ..] = header;
    if [m0, m1, m2, m3, m4, m5, m6, m7] != OUTPUT_MAGIC {
        return Err(OpenError::NotSealedOutput);
    }
    let version = u16::from_be_bytes([v0, v1]);
    if version != OUTPUT_VERSION {
        return Err(OpenError::UnsupportedVersion(version));
    }
    let aead = u16::from_be_bytes([a0, a1]);
    let suite = AeadSuite::from_id(aead).ok_or(OpenError::UnsupportedAead(aead))?;
    let key = response_key(
        suite,
        context.response_secret(),
        context.enc(),
        &response_nonce,
    );
    let mut hasher = Sha256::new();
    hasher.update(header);
    let mut stream = StreamReader::new(sealed, key, Plan::Unknown, StreamDigest::Flat(hasher));
    loop {
        match stream.next_chunk() {
            Ok(Some(plain)) => out.write_all(plain)?,
            Ok(None) => break,
            Err(ChunkFailure::Io(e)) => return Err(OpenError::Io(e)),
            Err(ChunkFailure::Stream(e)) => return Err(OpenError::Stream(e)),
        }
    }
    out.flush()?;
    Ok(OpenedOutput {
        plaintext_len: stream.total(),
        digest: SealedOutputDigest::from_bytes(stream.digest()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::TestEntropy;

    fn sealed_with(pieces: &[&[u8]]) -> Vec<u8> {
        let sealer = ResponseSealer::new(
            AeadSuite::ChaCha20Poly1305,
            [1; 32],
            Zeroizing::new([2; 32]),
        );
        let mut writer = sealer.writer_with(&mut TestEntropy(9), Vec::new()).unwrap();
        for piece in pieces {
            writer.write_all(piece).unwrap();
        }
        writer.finish().unwrap().writer
    }

    #[test]
    fn chunking_does_not_depend_on_write_sizes() {
        let data: Vec<u8> = (0..3 * CHUNK_LEN + 7).map(|i| i as u8).collect();
        let whole = sealed_with(&[&data]);
        let (a, b) = data.split_at(CHUNK_LEN);
        let (b, c) = b.split_at(1);
        assert_eq!(sealed_with(&[a, b, c]), whole);
        let small: Vec<&[u8]> = data.chunks(1000).collect();
        assert_eq!(sealed_with(&small), whole);
        assert_eq!(whole.len(), OUTPUT_HEADER_LEN + data.len() + 4 * TAG_LEN);
        assert_eq!(whole[..12], *b"ENCLRESP\x00\x02\x00\x03");
        assert_eq!(whole[12..44], (9..41).collect::<Vec<u8>>()[..]);
    }

    #[test]
    fn exactly_one_full_chunk_is_one_final_chunk() {
        let data = vec![7u8; CHUNK_LEN];
        assert_eq!(
            sealed_with(&[&data]).len(),
            OUTPUT_HEADER_LEN + CHUNK_LEN + TAG_LEN
        );
    }
}

//! Sealed output: the enclave encrypts its output back to the client that sealed the input, as
//! Oblivious HTTP encrypts responses (RFC 9458 §4.4): a key derived from the HPKE exporter
//! secret of the input's context, the input's `enc` and a fresh response nonce, with the AEAD of
//! the input, which the header names (`docs/formats.md`, "Sealed output").

use std::fmt;
use std::io::{self, Read, Write};
use std::num::NonZeroU64;

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
/// The version of a padded sealed output: as [`OUTPUT_VERSION`], with the plaintext followed by
/// the padding `0x80 0x00…` up to a multiple of the enclave's `pad_output` (`docs/formats.md`,
/// "Padding").
pub const PADDED_OUTPUT_VERSION: u16 = 3;
/// The byte that starts the padding of a padded output (ISO/IEC 7816-4 padding).
const PAD_MARKER: u8 = 0x80;
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
    pad: Option<NonZeroU64>,
}

impl ResponseSealer {
    pub(crate) fn new(suite: AeadSuite, enc: [u8; 32], secret: Zeroizing<[u8; 32]>) -> Self {
        Self {
            suite,
            enc,
            secret,
            pad: None,
        }
    }

    /// Pads the output (format version 3) so that its plaintext with the padding is a multiple
    /// of `bucket` bytes: two outputs shorter than `bucket` seal to the same length. `0` means
    /// no padding (version 2).
    #[must_use]
    pub fn padded_to(mut self, bucket: u64) -> Self {
        self.pad = NonZeroU64::new(bucket);
        self
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
        let version = match self.pad {
            Some(_) => PADDED_OUTPUT_VERSION,
            None => OUTPUT_VERSION,
        };
        out.write_all(&OUTPUT_MAGIC)?;
        out.write_all(&version.to_be_bytes())?;
        out.write_all(&self.suite.id().to_be_bytes())?;
        out.write_all(&response_nonce)?;
        Ok(SealWriter {
            out,
            sealer: ChunkSealer::new(key),
            // Grows with the output (see `write`): a short answer never touches a whole chunk.
            buf: Zeroizing::new(Vec::new()),
            plaintext_len: 0,
            poisoned: false,
            pad: self.pad,
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
    pad: Option<NonZeroU64>,
}

/// A finished sealed output.
#[derive(Debug)]
pub struct FinishedOutput<W> {
    /// The writer, handed back.
    pub writer: W,
    /// SHA-256 of the whole sealed output (for the receipt).
    pub digest: SealedOutputDigest,
    /// Plaintext bytes sealed (padding not counted).
    pub plaintext_len: u64,
}

/// Bytes of padding after `len` plaintext bytes: the marker and as many zeros as make the
/// total the smallest multiple of `bucket` above `len`.
pub fn padding_len(len: u64, bucket: NonZeroU64) -> u64 {
    let bucket = bucket.get();
    bucket - len % bucket
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
        let plaintext_len = self.plaintext_len;
        if let Some(bucket) = self.pad {
            self.write_padding(padding_len(plaintext_len, bucket))?;
        }
        reserve_secret(&mut self.buf, TAG_LEN, CHUNK_LEN + TAG_LEN);
        self.sealer.seal(&mut self.buf, true)?;
        self.out.write_all(&self.buf)?;
        self.out.inner.flush()?;
        let digest = SealedOutputDigest::from_bytes(self.out.digest());
        Ok(FinishedOutput {
            writer: self.out.inner,
            digest,
            plaintext_len,
        })
    }

    /// The marker, then zeros, `len` bytes in all (at least 1).
    fn write_padding(&mut self, len: u64) -> Result<(), SealError> {
        const ZEROS: [u8; 4096] = [0; 4096];
        self.write_all(&[PAD_MARKER])?;
        let mut left = len.saturating_sub(1);
        while left > 0 {
            let n = usize::try_from(left)
                .unwrap_or(ZEROS.len())
                .min(ZEROS.len());
            self.write_all(ZEROS.get(..n).unwrap_or_default())?;
            left -= n as u64;
        }
        Ok(())
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
    if version != OUTPUT_VERSION && version != PADDED_OUTPUT_VERSION {
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
    let mut unpad = Unpadder::new(version == PADDED_OUTPUT_VERSION);
    loop {
        match stream.next_chunk() {
            Ok(Some(plain)) => unpad.write(plain, &mut out)?,
            Ok(None) => break,
            Err(ChunkFailure::Io(e)) => return Err(OpenError::Io(e)),
            Err(ChunkFailure::Stream(e)) => return Err(OpenError::Stream(e)),
        }
    }
    let plaintext_len = unpad.finish(stream.total())?;
    out.flush()?;
    Ok(OpenedOutput {
        plaintext_len,
        digest: SealedOutputDigest::from_bytes(stream.digest()),
    })
}

/// Removes a padded output's padding as the plaintext streams through, in constant memory: it
/// holds back only the last nonzero byte seen and a count of the zeros after it, since until
/// the end it cannot know whether they are the padding.
struct Unpadder {
    padded: bool,
    held: Option<u8>,
    zeros: u64,
}

impl Unpadder {
    fn new(padded: bool) -> Self {
        Self {
            padded,
            held: None,
            zeros: 0,
        }
    }

    fn write<W: Write>(&mut self, plain: &[u8], out: &mut W) -> io::Result<()> {
        if !self.padded {
            return out.write_all(plain);
        }
        let Some(last) = plain.iter().rposition(|&b| b != 0) else {
            self.zeros = self.zeros.saturating_add(plain.len() as u64);
            return Ok(());
        };
        // Everything held is data now: a nonzero byte follows it.
        if let Some(held) = self.held.take() {
            out.write_all(&[held])?;
            write_zeros(out, self.zeros)?;
        }
        out.write_all(plain.get(..last).unwrap_or_default())?;
        self.held = plain.get(last).copied();
        self.zeros = (plain.len() - last - 1) as u64;
        Ok(())
    }

    /// The plaintext length without the padding, given `total` bytes opened.
    fn finish(self, total: u64) -> Result<u64, OpenError> {
        if !self.padded {
            return Ok(total);
        }
        match self.held {
            Some(PAD_MARKER) => Ok(total - self.zeros - 1),
            _ => Err(OpenError::BadPadding),
        }
    }
}

fn write_zeros<W: Write>(out: &mut W, mut count: u64) -> io::Result<()> {
    const ZEROS: [u8; 4096] = [0; 4096];
    while count > 0 {
        let n = usize::try_from(count)
            .unwrap_or(ZEROS.len())
            .min(ZEROS.len());
        out.write_all(ZEROS.get(..n).unwrap_or_default())?;
        count -= n as u64;
    }
    Ok(())
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

    fn padded_with(bucket: u64, data: &[u8]) -> Vec<u8> {
        let sealer = ResponseSealer::new(
            AeadSuite::ChaCha20Poly1305,
            [1; 32],
            Zeroizing::new([2; 32]),
        )
        .padded_to(bucket);
        let mut writer = sealer.writer_with(&mut TestEntropy(9), Vec::new()).unwrap();
        writer.write_all(data).unwrap();
        let finished = writer.finish().unwrap();
        assert_eq!(finished.plaintext_len, data.len() as u64);
        finished.writer
    }

    #[test]
    fn padded_outputs_of_one_bucket_have_one_length() {
        let approve = padded_with(4096, b"{\"decision\":\"approve\",\"limit\":25000}");
        let decline = padded_with(4096, b"{\"decision\":\"decline\"}");
        assert_eq!(approve.len(), decline.len());
        assert_eq!(approve.len(), OUTPUT_HEADER_LEN + 4096 + TAG_LEN);
        assert_eq!(approve[..12], *b"ENCLRESP\x00\x03\x00\x03");
        // The marker always needs a byte: 4095 bytes fill one bucket, 4096 need two.
        assert_eq!(padded_with(4096, &[7; 4095]).len(), approve.len());
        assert_eq!(padded_with(4096, &[7; 4096]).len(), approve.len() + 4096);
        assert_eq!(padded_with(4096, b"").len(), approve.len());
        // Buckets over one chunk.
        let big = padded_with(100_000, b"x");
        assert_eq!(big.len(), OUTPUT_HEADER_LEN + 100_000 + 2 * TAG_LEN);
    }

    #[test]
    fn padding_is_removed_in_constant_memory_and_checked() {
        let unpad = |chunks: &[&[u8]]| {
            let mut unpad = Unpadder::new(true);
            let mut out = Vec::new();
            let mut total = 0;
            for chunk in chunks {
                unpad.write(chunk, &mut out).unwrap();
                total += chunk.len() as u64;
            }
            unpad.finish(total).map(|len| {
                assert_eq!(len, out.len() as u64);
                out
            })
        };
        assert_eq!(unpad(&[b"ab\x80\0\0"]).unwrap(), b"ab");
        // Zeros and markers inside the data, across chunk boundaries.
        assert_eq!(
            unpad(&[b"a\0\0", b"\0", b"\x80\0b\x80", b"\0\0", b"\0"]).unwrap(),
            b"a\0\0\0\x80\0b"
        );
        assert_eq!(unpad(&[b"\x80", b"\0\0\0"]).unwrap(), b"");
        assert_eq!(unpad(&[b"\0\0\x80\x80"]).unwrap(), b"\0\0\x80");
        for bad in [&b""[..], b"\0\0", b"ab", b"a\x81\0"] {
            assert!(
                matches!(unpad(&[bad]), Err(OpenError::BadPadding)),
                "{bad:?}"
            );
        }
        // Unpadded outputs pass through.
        let mut plain = Unpadder::new(false);
        let mut out = Vec::new();
        plain.write(b"ab\0", &mut out).unwrap();
        assert_eq!(
            (plain.finish(3).unwrap(), out.as_slice()),
            (3, &b"ab\0"[..])
        );
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

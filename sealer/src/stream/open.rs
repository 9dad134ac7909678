//! Opening a stream: [`StreamReader`] checks every chunk and tells truncation, reordering and
//! tampering apart.

use std::io::{self, Read};

use ring::aead::Aad;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::digest::{chunk_hash, InputDigester};
use crate::error::StreamError;

use super::chunk_io::{read_byte, read_up_to, reserve_secret};
use super::key::{chunk_len, nonce, StreamKey, CHUNK_LEN, TAG_LEN};

/// How far from its position a failing chunk is searched for, to tell reordering from tampering.
const SEARCH_WINDOW: u64 = 16;

/// How the reader knows where the stream ends.
#[derive(Clone, Copy)]
pub(crate) enum Plan {
    /// The header declared the plaintext length: the chunk count and sizes are known.
    Known { len: u64, chunks: u64 },
    /// The final chunk is the one followed by end of input.
    Unknown,
}

/// Why a chunk could not be produced.
pub(crate) enum ChunkFailure {
    Io(io::Error),
    Stream(StreamError),
}

pub(super) enum State {
    Reading,
    Done,
    Failed(StreamError),
}

/// How a reader hashes what it consumes.
pub(crate) enum StreamDigest {
    /// SHA-256 of every byte (a sealed output); has already absorbed the header.
    Flat(Sha256),
    /// The two-level sealed-input digest; has already absorbed the header and chunk count.
    Chunked(InputDigester),
}

impl StreamDigest {
    pub(super) fn absorb(&mut self, sealed_chunk: &[u8]) {
        match self {
            Self::Flat(hasher) => hasher.update(sealed_chunk),
            Self::Chunked(digester) => digester.chunk(&chunk_hash(sealed_chunk)),
        }
    }

    pub(super) fn value(&self) -> [u8; 32] {
        match self {
            Self::Flat(hasher) => hasher.clone().finalize().into(),
            Self::Chunked(digester) => digester.value(),
        }
    }
}

/// Reads, authenticates and decrypts a STREAM chunk by chunk, hashing every byte consumed.
pub(crate) struct StreamReader<R> {
    inner: R,
    key: StreamKey,
    plan: Plan,
    next: u64,
    pending: Option<u8>,
    ciphertext: Vec<u8>,
    plaintext: Zeroizing<Vec<u8>>,
    digest: StreamDigest,
    total: u64,
    state: State,
}

impl<R: Read> StreamReader<R> {
    /// `digest` has already absorbed the header.
    pub(crate) fn new(inner: R, key: StreamKey, plan: Plan, digest: StreamDigest) -> Self {
        // A known length's first chunk is its largest: buffers of that size serve every chunk.
        // An unknown length's grow with the chunks (at most one chunk and its tag).
        let capacity = match plan {
            Plan::Known { len, .. } => chunk_len(0, len) + TAG_LEN,
            Plan::Unknown => 0,
        };
        Self {
            inner,
            key,
            plan,
            next: 0,
            pending: None,
            ciphertext: Vec::with_capacity(capacity),
            plaintext: Zeroizing::new(Vec::with_capacity(capacity)),
            digest,
            total: 0,
            state: State::Reading,
        }
    }

    /// The next chunk's plaintext, or `None` after the final chunk (trailing data checked).
    pub(crate) fn next_chunk(&mut self) -> Result<Option<&[u8]>, ChunkFailure> {
        match self.state {
            State::Done => return Ok(None),
            State::Failed(e) => return Err(ChunkFailure::Stream(e)),
            State::Reading => {}
        }
        match self.advance() {
            Ok(()) => Ok(Some(self.plaintext.as_slice())),
            Err(failure) => {
                self.plaintext.clear();
                self.state = State::Failed(match &failure {
                    ChunkFailure::Stream(e) => *e,
                    ChunkFailure::Io(_) => StreamError::Poisoned,
                });
                Err(failure)
            }
        }
    }

    /// The plaintext of the chunk last returned (empty before the first and after a failure).
    pub(crate) fn current(&self) -> &[u8] {
        &self.plaintext
    }

    /// Plaintext bytes produced so far.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Whether the final chunk has been read and authenticated.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The digest of every byte consumed, header included (final once [`Self::is_done`]).
    pub(crate) fn digest(&self) -> [u8; 32] {
        self.digest.value()
    }

    pub(super) fn advance(&mut self) -> Result<(), ChunkFailure> {
        let index = self.next;
        let want = match self.plan {
            Plan::Known { len, .. } => chunk_len(index, len) + TAG_LEN,
            Plan::Unknown => CHUNK_LEN + TAG_LEN,
        };
        self.ciphertext.clear();
        self.ciphertext.extend(self.pending.take());
        let already = self.ciphertext.len();
        match self.plan {
            Plan::Known { .. } => read_up_to(&mut self.inner, &mut self.ciphertext, want - already),
            // Grows with what arrives instead of zero-filling a whole chunk's room first.
            Plan::Unknown => (&mut self.inner)
                .take(u64::try_from(want - already).unwrap_or(u64::MAX))
                .read_to_end(&mut self.ciphertext)
                .map(drop),
        }
        .map_err(ChunkFailure::Io)?;
        if index >= self.key.suite.max_chunks() {
            return Err(ChunkFailure::Stream(StreamError::TooManyChunks));
        }
        let last = self.classify(index, want)?;
        self.digest.absorb(&self.ciphertext);
        self.decrypt(index, last)?;
        if last {
            self.check_end()?;
            self.state = State::Done;
        } else {
            self.next = index
                .checked_add(1)
                .ok_or(ChunkFailure::Stream(StreamError::TooManyChunks))?;
        }
        Ok(())
    }

    /// Checks the chunk length and decides whether it is the final chunk.
    pub(super) fn classify(&mut self, index: u64, want: usize) -> Result<bool, ChunkFailure> {
        let got = self.ciphertext.len();
        let fail = |e| Err(ChunkFailure::Stream(e));
        match self.plan {
            Plan::Known { chunks, .. } => {
                let last = index.saturating_add(1) == chunks;
                match got {
                    g if g == want => Ok(last),
                    0 if last => fail(StreamError::MissingFinalChunk { chunk: index }),
                    _ => fail(StreamError::Truncated { chunk: index }),
                }
            }
            Plan::Unknown if got < TAG_LEN => fail(StreamError::Truncated { chunk: index }),
            Plan::Unknown if got < want => Ok(true),
            Plan::Unknown => {
                self.pending = read_byte(&mut self.inner).map_err(ChunkFailure::Io)?;
                Ok(self.pending.is_none())
            }
        }
    }

    pub(super) fn decrypt(&mut self, index: u64, last: bool) -> Result<(), ChunkFailure> {
        if try_open(
            &self.key,
            &self.ciphertext,
            &mut self.plaintext,
            index,
            last,
        )
        .is_err()
        {
            let e = self.diagnose(index, last);
            return Err(ChunkFailure::Stream(e));
        }
        if last && self.plaintext.is_empty() && index > 0 {
            return Err(ChunkFailure::Stream(StreamError::EmptyFinalChunk {
                chunk: index,
            }));
        }
        let len = u64::try_from(self.plaintext.len()).unwrap_or(u64::MAX);
        self.total = self.total.saturating_add(len);
        Ok(())
    }

    /// After the final chunk of a known-length stream, nothing may follow.
    pub(super) fn check_end(&mut self) -> Result<(), ChunkFailure> {
        match read_byte(&mut self.inner).map_err(ChunkFailure::Io)? {
            None => Ok(()),
            Some(_) => Err(ChunkFailure::Stream(StreamError::TrailingData)),
        }
    }

    /// A chunk failed at `index`: searches nearby positions and the other flag, so reordering,
    /// dropping, duplication and truncation get their own error. Costs at most
    /// `2 × (2 × SEARCH_WINDOW + 1)` chunk decryptions, only on failure.
    pub(super) fn diagnose(&mut self, index: u64, last: bool) -> StreamError {
        let mut scratch = Zeroizing::new(Vec::with_capacity(self.ciphertext.len()));
        let low = index.saturating_sub(SEARCH_WINDOW);
        let high = index.saturating_add(SEARCH_WINDOW);
        for candidate in low..=high {
            for flag in [false, true] {
                if (candidate == index && flag == last) || !self.plausible(candidate, flag) {
                    continue;
                }
                if try_open(&self.key, &self.ciphertext, &mut scratch, candidate, flag).is_ok() {
                    return match (candidate == index, last) {
                        (true, true) => StreamError::MissingFinalChunk {
                            chunk: index.saturating_add(1),
                        },
                        (true, false) => StreamError::TrailingData,
                        (false, _) => StreamError::ChunkOutOfOrder {
                            position: index,
                            found: candidate,
                        },
                    };
                }
            }
        }
        StreamError::ChunkAuthentication { chunk: index }
    }

    /// Whether chunk `candidate` with flag `flag` could have the length just read.
    pub(super) fn plausible(&self, candidate: u64, flag: bool) -> bool {
        match self.plan {
            Plan::Known { len, chunks } => {
                candidate < chunks
                    && flag == (candidate.saturating_add(1) == chunks)
                    && chunk_len(candidate, len) + TAG_LEN == self.ciphertext.len()
            }
            Plan::Unknown => true,
        }
    }
}

/// Decrypts `ciphertext` as chunk `counter` into `out`.
pub(super) fn try_open(
    key: &StreamKey,
    ciphertext: &[u8],
    out: &mut Zeroizing<Vec<u8>>,
    counter: u64,
    last: bool,
) -> Result<(), ring::error::Unspecified> {
    out.clear();
    reserve_secret(out, ciphertext.len(), CHUNK_LEN + TAG_LEN);
    out.extend_from_slice(ciphertext);
    match key
        .key
        .open_in_place(nonce(counter, last), Aad::empty(), out)
    {
        Ok(plain) => {
            let len = plain.len();
            out.truncate(len);
            Ok(())
        }
        Err(e) => {
            out.clear();
            Err(e)
        }
    }
}

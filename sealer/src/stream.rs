//! STREAM chunking (Hoang, Reyhanitabar, Rogaway, Vizár 2015, as in age): the payload is cut into
//! 64 KiB chunks, each sealed with the stream's AEAD ([`AeadSuite`]: AES-256-GCM or
//! ChaCha20-Poly1305) under one key with the nonce `11-byte big-endian chunk counter ||
//! last-chunk flag`, empty associated data.
//!
//! Every chunk but the last holds exactly [`CHUNK_LEN`] plaintext bytes; the last holds
//! 0..=[`CHUNK_LEN`] and is empty only when the whole payload is. A reader needs two chunk
//! buffers whatever the payload size.

use std::io::{self, Read, Write};
use std::sync::mpsc;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::digest::{chunk_hash, InputDigester};
use crate::error::{SealError, StreamError};
use crate::suite::AeadSuite;

/// Plaintext bytes per chunk: 64 KiB.
pub const CHUNK_LEN: usize = 64 * 1024;
/// The AEAD tag after each chunk (16 bytes for both suites).
pub(crate) const TAG_LEN: usize = 16;
const CHUNK_LEN_U64: u64 = CHUNK_LEN as u64;
/// How far from its position a failing chunk is searched for, to tell reordering from tampering.
const SEARCH_WINDOW: u64 = 16;

/// The key of one stream, with its AEAD.
pub(crate) struct StreamKey {
    key: LessSafeKey,
    suite: AeadSuite,
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
    fn check_index(&self, index: u64) -> Result<(), SealError> {
        if index >= self.suite.max_chunks() {
            return Err(SealError::TooManyChunks);
        }
        Ok(())
    }
}

/// The nonce of chunk `counter`: 3 zero bytes, the 8-byte big-endian counter, the flag.
fn nonce(counter: u64, last: bool) -> Nonce {
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

/// Seals chunks in order.
pub(crate) struct ChunkSealer {
    key: StreamKey,
    counter: u64,
    done: bool,
}

impl ChunkSealer {
    pub(crate) fn new(key: StreamKey) -> Self {
        Self {
            key,
            counter: 0,
            done: false,
        }
    }

    /// Encrypts `buf` (at most one chunk of plaintext) in place and appends the tag.
    pub(crate) fn seal(&mut self, buf: &mut Vec<u8>, last: bool) -> Result<(), SealError> {
        if self.done {
            return Err(SealError::Poisoned);
        }
        seal_chunk(&self.key, self.counter, last, buf)?;
        if last {
            self.done = true;
        } else {
            self.counter = self
                .counter
                .checked_add(1)
                .ok_or(SealError::TooManyChunks)?;
        }
        Ok(())
    }
}

/// Encrypts `buf` in place as chunk `counter` and appends its tag.
fn seal_chunk(
    key: &StreamKey,
    counter: u64,
    last: bool,
    buf: &mut Vec<u8>,
) -> Result<(), SealError> {
    key.check_index(counter)?;
    let tag = key
        .key
        .seal_in_place_separate_tag(nonce(counter, last), Aad::empty(), buf)
        .map_err(|_| SealError::Encryption)?;
    buf.extend_from_slice(tag.as_ref());
    Ok(())
}

/// Seals a whole payload of exactly `len` bytes from `plaintext` as STREAM chunks to `out`,
/// encrypting and hashing each chunk on up to `workers` threads while this thread reads, writes
/// in order and absorbs the chunk hashes into `digest` (the two-level sealed-input digest).
///
/// The bytes written are those of the sequential [`ChunkSealer`] (the nonce depends only on the
/// chunk index), and so is the digest; only the per-chunk work runs in parallel. At most
/// `2 × workers + 1` chunk buffers exist at once, whatever `len`. Payloads of fewer than
/// [`PARALLEL_MIN_CHUNKS`] chunks, or `workers <= 1`, are sealed on this thread alone.
pub(crate) fn seal_stream<W: Write>(
    key: StreamKey,
    plaintext: &mut impl Read,
    len: u64,
    out: &mut W,
    digest: &mut InputDigester,
    workers: usize,
) -> Result<(), SealError> {
    let chunks = chunk_count(len);
    key.check_index(chunks.saturating_sub(1))?;
    let workers = u64::try_from(workers).unwrap_or(1).min(chunks).max(1);
    if workers == 1 || chunks < PARALLEL_MIN_CHUNKS {
        let mut sealer = ChunkSealer::new(key);
        // The first chunk is the largest: a short payload gets a short buffer (a secret buffer
        // is wiped whole when dropped, so a 64 KiB one costs 64 KiB of writes however little
        // it held).
        let mut buf = Zeroizing::new(Vec::with_capacity(chunk_len(0, len) + TAG_LEN));
        let mut reader = ChunkReader::new(plaintext, len);
        for index in 0..chunks {
            reader.read_chunk(index, &mut buf)?;
            sealer.seal(&mut buf, index.saturating_add(1) == chunks)?;
            out.write_all(&buf)?;
            digest.chunk(&chunk_hash(&buf));
        }
        return reader.finish();
    }

    let key = &key;
    std::thread::scope(|scope| {
        // Chunk i goes to worker i % workers and comes back on that worker's result channel,
        // so taking results round-robin yields them in chunk order.
        let mut lanes = Vec::new();
        for _ in 0..workers {
            let (work_tx, work_rx) = mpsc::sync_channel::<(u64, Zeroizing<Vec<u8>>)>(LANE_DEPTH);
            let (done_tx, done_rx) = mpsc::channel();
            scope.spawn(move || {
                for (index, mut buf) in work_rx {
                    let last = index.saturating_add(1) == chunks;
                    let sealed = seal_chunk(key, index, last, &mut buf).map(|()| {
                        let hash = chunk_hash(&buf);
                        (buf, hash)
                    });
                    if done_tx.send(sealed).is_err() {
                        break;
                    }
                }
            });
            lanes.push((work_tx, done_rx));
        }
        let window = workers.saturating_mul(LANE_DEPTH_U64);
        let lane = |index: u64| {
            let i = usize::try_from(index % workers).unwrap_or(0);
            lanes.get(i).ok_or(SealError::Poisoned)
        };
        let mut reader = ChunkReader::new(plaintext, len);
        let mut spare: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        let mut written = 0u64;
        for index in 0..chunks {
            if index.saturating_sub(written) >= window {
                spare.push(collect(lane(written)?, out, digest)?);
                written = written.saturating_add(1);
            }
            let mut buf = spare
                .pop()
                .unwrap_or_else(|| Zeroizing::new(Vec::with_capacity(CHUNK_LEN + TAG_LEN)));
            reader.read_chunk(index, &mut buf)?;
            lane(index)?
                .0
                .send((index, buf))
                .map_err(|_| SealError::Poisoned)?;
        }
        while written < chunks {
            collect(lane(written)?, out, digest)?;
            written = written.saturating_add(1);
        }
        reader.finish()
        // Leaving the scope drops the work senders, which ends the workers, and joins them.
    })
}

/// Below this many chunks a payload is sealed on the calling thread: starting threads would
/// cost more than they save.
pub(crate) const PARALLEL_MIN_CHUNKS: u64 = 8;
/// Chunks queued per worker.
const LANE_DEPTH: usize = 2;
const LANE_DEPTH_U64: u64 = LANE_DEPTH as u64;

/// A sealed chunk and its SHA-256, from a worker.
type SealedChunk = (Zeroizing<Vec<u8>>, [u8; 32]);

type Lane = (
    mpsc::SyncSender<(u64, Zeroizing<Vec<u8>>)>,
    mpsc::Receiver<Result<SealedChunk, SealError>>,
);

/// Waits for the next sealed chunk of `lane`, writes it, absorbs its hash and returns its buffer
/// for reuse.
fn collect<W: Write>(
    lane: &Lane,
    out: &mut W,
    digest: &mut InputDigester,
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let (mut buf, hash) = lane.1.recv().map_err(|_| SealError::Poisoned)??;
    out.write_all(&buf)?;
    digest.chunk(&hash);
    buf.clear();
    Ok(buf)
}

/// Reads a payload of a declared length chunk by chunk and notices when it is shorter or longer.
struct ChunkReader<'a, R> {
    inner: &'a mut R,
    len: u64,
    done: u64,
}

impl<'a, R: Read> ChunkReader<'a, R> {
    fn new(inner: &'a mut R, len: u64) -> Self {
        Self {
            inner,
            len,
            done: 0,
        }
    }

    /// Fills `buf` (cleared first) with the plaintext of chunk `index`.
    fn read_chunk(&mut self, index: u64, buf: &mut Vec<u8>) -> Result<(), SealError> {
        let want = chunk_len(index, self.len);
        buf.clear();
        read_up_to(self.inner, buf, want)?;
        self.done = self
            .done
            .saturating_add(u64::try_from(buf.len()).unwrap_or(u64::MAX));
        if buf.len() < want {
            return Err(SealError::InputShorter {
                declared: self.len,
                actual: self.done,
            });
        }
        Ok(())
    }

    /// Checks that the plaintext ends where it was declared to.
    fn finish(self) -> Result<(), SealError> {
        match read_byte(self.inner)? {
            None => Ok(()),
            Some(_) => Err(SealError::InputLonger { declared: self.len }),
        }
    }
}

/// Reads up to `want` bytes into `buf` (cleared first), stopping early only at end of input.
pub(crate) fn read_up_to(reader: &mut impl Read, buf: &mut Vec<u8>, want: usize) -> io::Result<()> {
    let start = buf.len();
    buf.resize(start.saturating_add(want), 0);
    let mut filled = start;
    while let Some(free) = buf.get_mut(filled..).filter(|free| !free.is_empty()) {
        match reader.read(free) {
            Ok(0) => break,
            Ok(n) => filled = filled.saturating_add(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                buf.truncate(filled);
                return Err(e);
            }
        }
    }
    buf.truncate(filled);
    Ok(())
}

/// The next byte of `reader`, `None` at its end.
pub(crate) fn read_byte(reader: &mut impl Read) -> io::Result<Option<u8>> {
    let mut one = [0u8; 1];
    loop {
        match reader.read(&mut one) {
            Ok(0) => return Ok(None),
            Ok(_) => {
                let [byte] = one;
                return Ok(Some(byte));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Makes room for `additional` more bytes in a buffer that holds secrets, without leaving a copy
/// behind: `Vec`'s own growth would free the old allocation unwiped, so a buffer too small is
/// replaced by a new one (what it held is copied, the old one wiped as it drops). Capacity at
/// least doubles, up to `max` (at least what is needed).
pub(crate) fn reserve_secret(buf: &mut Zeroizing<Vec<u8>>, additional: usize, max: usize) {
    let needed = buf.len().saturating_add(additional);
    if buf.capacity() >= needed {
        return;
    }
    let capacity = buf.capacity().saturating_mul(2).min(max).max(needed);
    let mut grown = Zeroizing::new(Vec::with_capacity(capacity));
    grown.extend_from_slice(buf);
    *buf = grown;
}

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

enum State {
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
    fn absorb(&mut self, sealed_chunk: &[u8]) {
        match self {
            Self::Flat(hasher) => hasher.update(sealed_chunk),
            Self::Chunked(digester) => digester.chunk(&chunk_hash(sealed_chunk)),
        }
    }

    fn value(&self) -> [u8; 32] {
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

    fn advance(&mut self) -> Result<(), ChunkFailure> {
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
    fn classify(&mut self, index: u64, want: usize) -> Result<bool, ChunkFailure> {
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

    fn decrypt(&mut self, index: u64, last: bool) -> Result<(), ChunkFailure> {
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
    fn check_end(&mut self) -> Result<(), ChunkFailure> {
        match read_byte(&mut self.inner).map_err(ChunkFailure::Io)? {
            None => Ok(()),
            Some(_) => Err(ChunkFailure::Stream(StreamError::TrailingData)),
        }
    }

    /// A chunk failed at `index`: searches nearby positions and the other flag, so reordering,
    /// dropping, duplication and truncation get their own error. Costs at most
    /// `2 × (2 × SEARCH_WINDOW + 1)` chunk decryptions, only on failure.
    fn diagnose(&mut self, index: u64, last: bool) -> StreamError {
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
    fn plausible(&self, candidate: u64, flag: bool) -> bool {
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
fn try_open(
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

/// A writer that hashes what it passes on.
pub(crate) struct HashingWriter<W> {
    pub(crate) inner: W,
    pub(crate) hasher: Sha256,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inner.write_all(bytes)?;
        self.hasher.update(bytes);
        Ok(())
    }

    pub(crate) fn digest(&self) -> [u8; 32] {
        self.hasher.clone().finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_arithmetic() {
        assert_eq!(chunk_count(0), 1);
        assert_eq!(chunk_count(1), 1);
        assert_eq!(chunk_count(CHUNK_LEN_U64), 1);
        assert_eq!(chunk_count(CHUNK_LEN_U64 + 1), 2);
        assert_eq!(chunk_count(u64::MAX), 1 << 48);
        assert_eq!(chunk_len(0, 0), 0);
        assert_eq!(chunk_len(0, CHUNK_LEN_U64 + 1), CHUNK_LEN);
        assert_eq!(chunk_len(1, CHUNK_LEN_U64 + 1), 1);
        assert_eq!(chunk_len(2, CHUNK_LEN_U64 + 1), 0);
    }

    #[test]
    fn nonce_is_counter_then_flag() {
        let n = nonce(0x0102_0304_0506_0708, true);
        assert_eq!(n.as_ref(), &[0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 1]);
        assert_eq!(nonce(0, false).as_ref(), &[0; 12]);
    }

    #[test]
    fn sealer_refuses_chunks_after_the_final_one() {
        let mut sealer = ChunkSealer::new(StreamKey::new(AeadSuite::ChaCha20Poly1305, &[3; 32]));
        let mut buf = vec![1, 2, 3];
        sealer.seal(&mut buf, true).unwrap();
        assert_eq!(buf.len(), 3 + TAG_LEN);
        assert!(matches!(
            sealer.seal(&mut buf, false),
            Err(SealError::Poisoned)
        ));
    }

    #[test]
    fn aes_gcm_keys_seal_at_most_2_to_the_24_chunks() {
        let key = StreamKey::new(AeadSuite::Aes256Gcm, &[3; 32]);
        let mut buf = vec![1, 2, 3];
        seal_chunk(&key, (1 << 24) - 1, true, &mut buf).unwrap();
        let mut buf = vec![1, 2, 3];
        assert!(matches!(
            seal_chunk(&key, 1 << 24, true, &mut buf),
            Err(SealError::TooManyChunks)
        ));
        let chacha = StreamKey::new(AeadSuite::ChaCha20Poly1305, &[3; 32]);
        seal_chunk(&chacha, 1 << 24, true, &mut buf).unwrap();
        let mut digest = InputDigester::new(&[], 1);
        let too_long = (1u64 << 24) * CHUNK_LEN_U64 + 1;
        assert!(matches!(
            seal_stream(
                key,
                &mut io::empty(),
                too_long,
                &mut io::sink(),
                &mut digest,
                1
            ),
            Err(SealError::TooManyChunks)
        ));
    }

    #[test]
    fn the_suites_write_different_chunks_of_the_same_length() {
        let seal = |suite| {
            let mut buf = vec![9u8; 100];
            seal_chunk(&StreamKey::new(suite, &[4; 32]), 0, true, &mut buf).unwrap();
            buf
        };
        let (aes, chacha) = (
            seal(AeadSuite::Aes256Gcm),
            seal(AeadSuite::ChaCha20Poly1305),
        );
        assert_eq!(aes.len(), 100 + TAG_LEN);
        assert_eq!(chacha.len(), 100 + TAG_LEN);
        assert_ne!(aes, chacha);
    }
}

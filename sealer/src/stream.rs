//! STREAM chunking (Hoang, Reyhanitabar, Rogaway, Vizár 2015, as in age): the payload is cut into
//! 64 KiB chunks, each sealed with the stream's AEAD ([`AeadSuite`]: AES-256-GCM or
//! ChaCha20-Poly1305) under one key with the nonce `11-byte big-endian chunk counter ||
//! last-chunk flag`, empty associated data.
//!
//! Every chunk but the last holds exactly [`CHUNK_LEN`] plaintext bytes; the last holds
//! 0..=[`CHUNK_LEN`] and is empty only when the whole payload is. A reader needs two chunk
//! buffers whatever the payload size.

use std::io::{self, Read, Write};
use std::sync::{mpsc, Mutex};

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

/// Seals a whole payload of exactly `len` bytes from `plaintext` as STREAM chunks to `out`, and
/// absorbs the hash of every sealed chunk into `digest` (the two-level sealed-input digest).
///
/// The chunks go in batches of up to [`BATCH_CHUNKS`]: this thread reads a batch's plaintext
/// straight into the consecutive sealed-chunk slots of one buffer (chunk `i` of the batch at
/// `i × (CHUNK_LEN + TAG_LEN)`); each chunk is sealed in place with its tag appended in its slot
/// and then hashed, so the sealed batch is contiguous and leaves with one `write_all`; its chunk
/// hashes are absorbed in order. With `workers > 1` and at least [`PARALLEL_MIN_CHUNKS`] chunks,
/// up to `workers` threads seal and hash batches while this thread reads and writes (one
/// hand-off per batch, not per chunk), and this thread seals a queued batch itself rather than
/// wait idle for the next one to write.
///
/// The bytes written are those of the sequential [`ChunkSealer`] (the nonce depends only on the
/// chunk index), and so is the digest. At most `DEPTH × workers` batch buffers exist at once
/// (one when sealing on this thread), each at most `BATCH_CHUNKS × (CHUNK_LEN + TAG_LEN)`
/// bytes, and no larger than the payload needs, whatever `len`.
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
    let plan = BatchPlan::new(len, workers);
    let mut reader = ChunkReader::new(plaintext, len);
    if plan.workers <= 1 {
        let mut batch = Batch::new(&plan);
        for index in 0..plan.batches {
            batch.fill(&mut reader, &plan, index)?;
            batch.seal(&key, &plan)?;
            batch.write(&plan, out, digest)?;
        }
    } else {
        seal_in_parallel(&key, &plan, &mut reader, out, digest)?;
    }
    reader.finish()
}

/// Below this many chunks a payload is sealed on the calling thread: starting threads would
/// cost more than they save.
pub(crate) const PARALLEL_MIN_CHUNKS: u64 = 8;
/// Most chunks in one batch: 16 × 64 KiB, about 1 MiB sealed.
pub(crate) const BATCH_CHUNKS: u64 = 16;
/// Batches in flight per worker (queued, being sealed, or waiting to be written).
const DEPTH: u64 = 2;
/// Bytes of one sealed-chunk slot in a batch buffer.
const SLOT_LEN: usize = CHUNK_LEN + TAG_LEN;

/// How a payload is cut into batches, and how many threads seal them.
struct BatchPlan {
    len: u64,
    chunks: u64,
    /// Chunks per batch (the last batch may have fewer).
    per_batch: u64,
    batches: u64,
    /// Sealing threads besides the calling one; 1 means the calling thread alone.
    workers: u64,
}

impl BatchPlan {
    fn new(len: u64, workers: usize) -> Self {
        let chunks = chunk_count(len);
        let workers = u64::try_from(workers).unwrap_or(1).max(1);
        let parallel = workers > 1 && chunks >= PARALLEL_MIN_CHUNKS;
        // In parallel, batches small enough that every worker gets work even for a payload of a
        // few chunks; alone, as large as allowed (fewer, larger writes).
        let per_batch = if parallel {
            chunks
                .div_ceil(workers.saturating_mul(DEPTH))
                .clamp(1, BATCH_CHUNKS)
        } else {
            BATCH_CHUNKS
        };
        let batches = chunks.div_ceil(per_batch);
        Self {
            len,
            chunks,
            per_batch,
            batches,
            workers: if parallel { workers.min(batches) } else { 1 },
        }
    }

    fn first_chunk(&self, batch: u64) -> u64 {
        batch.saturating_mul(self.per_batch)
    }

    fn chunks_in(&self, batch: u64) -> u64 {
        self.per_batch
            .min(self.chunks.saturating_sub(self.first_chunk(batch)))
    }

    /// Bytes of batch `batch` once sealed: its plaintext and a tag per chunk. The first batch is
    /// the largest.
    fn sealed_len(&self, batch: u64) -> usize {
        let count = self.chunks_in(batch);
        let offset = self.first_chunk(batch).saturating_mul(CHUNK_LEN_U64);
        let text = self
            .len
            .saturating_sub(offset)
            .min(count.saturating_mul(CHUNK_LEN_U64));
        let tags = count.saturating_mul(TAG_LEN as u64);
        usize::try_from(text.saturating_add(tags)).unwrap_or(usize::MAX)
    }
}

/// A batch of consecutive chunks in one buffer of sealed-chunk slots.
struct Batch {
    /// Which batch of the payload the buffer holds.
    index: u64,
    /// Slot `i` (at `i × SLOT_LEN`) holds chunk `i` of the batch: plaintext, then sealed in place
    /// with its tag after it. Always the length of the payload's largest batch, so it is
    /// allocated (zeroed) once and reused without being cleared.
    buf: Zeroizing<Vec<u8>>,
    /// SHA-256 of each sealed chunk, in order.
    hashes: Vec<[u8; 32]>,
}

impl Batch {
    fn new(plan: &BatchPlan) -> Self {
        Self {
            index: 0,
            buf: Zeroizing::new(vec![0; plan.sealed_len(0)]),
            hashes: Vec::with_capacity(usize::try_from(plan.per_batch).unwrap_or(0)),
        }
    }

    /// The slot of chunk `i` of this batch for a chunk of `text_len` plaintext bytes.
    fn slot(&mut self, i: u64, text_len: usize) -> Result<&mut [u8], SealError> {
        let start = usize::try_from(i)
            .unwrap_or(usize::MAX)
            .saturating_mul(SLOT_LEN);
        let end = start.saturating_add(text_len).saturating_add(TAG_LEN);
        self.buf.get_mut(start..end).ok_or(SealError::Poisoned)
    }

    /// Reads the plaintext of batch `index` into its slots.
    fn fill<R: Read>(
        &mut self,
        reader: &mut ChunkReader<'_, R>,
        plan: &BatchPlan,
        index: u64,
    ) -> Result<(), SealError> {
        self.index = index;
        self.hashes.clear();
        let first = plan.first_chunk(index);
        for i in 0..plan.chunks_in(index) {
            let text_len = chunk_len(first.saturating_add(i), plan.len);
            let slot = self.slot(i, text_len)?;
            let text = slot.get_mut(..text_len).ok_or(SealError::Poisoned)?;
            reader.read_exact_chunk(text)?;
        }
        Ok(())
    }

    /// Seals every chunk in its slot and hashes it.
    fn seal(&mut self, key: &StreamKey, plan: &BatchPlan) -> Result<(), SealError> {
        let first = plan.first_chunk(self.index);
        for i in 0..plan.chunks_in(self.index) {
            let chunk = first.saturating_add(i);
            let last = chunk.saturating_add(1) == plan.chunks;
            let slot = self.slot(i, chunk_len(chunk, plan.len))?;
            seal_slot(key, chunk, last, slot)?;
            let hash = chunk_hash(slot);
            self.hashes.push(hash);
        }
        Ok(())
    }

    /// Writes the sealed batch and absorbs its chunk hashes.
    fn write<W: Write>(
        &self,
        plan: &BatchPlan,
        out: &mut W,
        digest: &mut InputDigester,
    ) -> Result<(), SealError> {
        let sealed = self
            .buf
            .get(..plan.sealed_len(self.index))
            .ok_or(SealError::Poisoned)?;
        out.write_all(sealed)?;
        for hash in &self.hashes {
            digest.chunk(hash);
        }
        Ok(())
    }
}

/// Encrypts the plaintext in `slot` (all but its last [`TAG_LEN`] bytes) in place as chunk
/// `counter` and puts the tag in the last [`TAG_LEN`] bytes.
fn seal_slot(key: &StreamKey, counter: u64, last: bool, slot: &mut [u8]) -> Result<(), SealError> {
    key.check_index(counter)?;
    let text_len = slot.len().checked_sub(TAG_LEN).ok_or(SealError::Poisoned)?;
    let (text, tag_room) = slot.split_at_mut(text_len);
    let tag = key
        .key
        .seal_in_place_separate_tag(nonce(counter, last), Aad::empty(), text)
        .map_err(|_| SealError::Encryption)?;
    for (to, from) in tag_room.iter_mut().zip(tag.as_ref()) {
        *to = *from;
    }
    Ok(())
}

/// The parallel path of [`seal_stream`]: `plan.workers` threads take filled batches from one
/// queue, seal them and send them back; this thread fills, writes in order, and seals a queued
/// batch itself when it would otherwise wait.
fn seal_in_parallel<R: Read, W: Write>(
    key: &StreamKey,
    plan: &BatchPlan,
    reader: &mut ChunkReader<'_, R>,
    out: &mut W,
    digest: &mut InputDigester,
) -> Result<(), SealError> {
    let window = plan.workers.saturating_mul(DEPTH);
    let (work_tx, work_rx) =
        mpsc::sync_channel::<Batch>(usize::try_from(window).unwrap_or(usize::MAX));
    let work_rx = Mutex::new(work_rx);
    let (done_tx, done_rx) = mpsc::channel::<Result<Batch, SealError>>();
    std::thread::scope(|scope| {
        for _ in 0..plan.workers {
            let done_tx = done_tx.clone();
            let work_rx = &work_rx;
            scope.spawn(move || {
                while let Some(mut batch) = next_work(work_rx) {
                    let sealed = batch.seal(key, plan).map(|()| batch);
                    if done_tx.send(sealed).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        let mut writer = InOrder {
            queue: &work_rx,
            done: &done_rx,
            next: 0,
            ready: Vec::new(),
            spare: Vec::new(),
        };
        // `work_tx` is moved in, so it is dropped (ending the workers) however this returns.
        writer.feed(work_tx, key, plan, window, reader, out, digest)
    })
}

/// The next batch to seal, `None` once the queue is closed and empty.
fn next_work(queue: &Mutex<mpsc::Receiver<Batch>>) -> Option<Batch> {
    queue.lock().ok()?.recv().ok()
}

/// The calling thread's side of [`seal_in_parallel`]: hands out batches and writes them back in
/// order.
struct InOrder<'a> {
    queue: &'a Mutex<mpsc::Receiver<Batch>>,
    done: &'a mpsc::Receiver<Result<Batch, SealError>>,
    /// The batch to write next.
    next: u64,
    /// Sealed batches that came back before their turn (fewer than the window).
    ready: Vec<Batch>,
    /// Written batches whose buffers can be filled again.
    spare: Vec<Batch>,
}

impl InOrder<'_> {
    #[allow(
        clippy::too_many_arguments,
        reason = "the parts of one sealing; a struct for them would be used once"
    )]
    fn feed<R: Read, W: Write>(
        &mut self,
        work: mpsc::SyncSender<Batch>,
        key: &StreamKey,
        plan: &BatchPlan,
        window: u64,
        reader: &mut ChunkReader<'_, R>,
        out: &mut W,
        digest: &mut InputDigester,
    ) -> Result<(), SealError> {
        for index in 0..plan.batches {
            while index.saturating_sub(self.next) >= window {
                self.write_next(key, plan, out, digest)?;
            }
            let mut batch = self.spare.pop().unwrap_or_else(|| Batch::new(plan));
            batch.fill(reader, plan, index)?;
            work.send(batch).map_err(|_| SealError::Poisoned)?;
        }
        drop(work);
        while self.next < plan.batches {
            self.write_next(key, plan, out, digest)?;
        }
        Ok(())
    }

    /// Waits for batch `self.next` (sealing queued batches meanwhile), writes it and keeps its
    /// buffer.
    fn write_next<W: Write>(
        &mut self,
        key: &StreamKey,
        plan: &BatchPlan,
        out: &mut W,
        digest: &mut InputDigester,
    ) -> Result<(), SealError> {
        loop {
            if let Some(at) = self.ready.iter().position(|b| b.index == self.next) {
                let batch = self.ready.swap_remove(at);
                batch.write(plan, out, digest)?;
                self.spare.push(batch);
                self.next = self.next.saturating_add(1);
                return Ok(());
            }
            let sealed = match self.take_queued() {
                Some(mut batch) => batch.seal(key, plan).map(|()| batch),
                None => self.done.recv().map_err(|_| SealError::Poisoned)?,
            }?;
            self.ready.push(sealed);
        }
    }

    /// A batch still in the queue, if no worker is taking one right now.
    fn take_queued(&self) -> Option<Batch> {
        self.queue.try_lock().ok()?.try_recv().ok()
    }
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

    /// Fills `text` with the next plaintext bytes.
    fn read_exact_chunk(&mut self, text: &mut [u8]) -> Result<(), SealError> {
        let filled = read_full(self.inner, text)?;
        self.done = self
            .done
            .saturating_add(u64::try_from(filled).unwrap_or(u64::MAX));
        if filled < text.len() {
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

/// Fills `buf` from `reader`, stopping early only at end of input; the number of bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(free) = buf.get_mut(filled..).filter(|free| !free.is_empty()) {
        match reader.read(free) {
            Ok(0) => break,
            Ok(n) => filled = filled.saturating_add(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
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

    /// What the sequential [`ChunkSealer`] writes for `plaintext`, and the two-level digest.
    fn sealed_one_by_one(suite: AeadSuite, plaintext: &[u8]) -> (Vec<u8>, [u8; 32]) {
        let len = plaintext.len() as u64;
        let chunks = chunk_count(len);
        let mut sealer = ChunkSealer::new(StreamKey::new(suite, &[5; 32]));
        let mut digest = InputDigester::new(b"header", chunks);
        let mut out = Vec::new();
        for index in 0..chunks {
            let start = index as usize * CHUNK_LEN;
            let end = plaintext.len().min(start + CHUNK_LEN);
            let mut buf = plaintext[start..end].to_vec();
            sealer.seal(&mut buf, index + 1 == chunks).unwrap();
            digest.chunk(&chunk_hash(&buf));
            out.extend_from_slice(&buf);
        }
        (out, digest.value())
    }

    fn sealed_by_stream(
        suite: AeadSuite,
        mut plaintext: &[u8],
        declared: u64,
        workers: usize,
    ) -> Result<(Vec<u8>, [u8; 32]), SealError> {
        let mut digest = InputDigester::new(b"header", chunk_count(declared));
        let mut out = Vec::new();
        let key = StreamKey::new(suite, &[5; 32]);
        seal_stream(
            key,
            &mut plaintext,
            declared,
            &mut out,
            &mut digest,
            workers,
        )?;
        Ok((out, digest.value()))
    }

    /// Lengths around chunk and batch boundaries, and several batches and one byte.
    fn batch_edges() -> Vec<usize> {
        let batch = BATCH_CHUNKS as usize * CHUNK_LEN;
        vec![
            0,
            1,
            CHUNK_LEN - 1,
            CHUNK_LEN,
            CHUNK_LEN + 1,
            PARALLEL_MIN_CHUNKS as usize * CHUNK_LEN,
            batch - 1,
            batch,
            batch + 1,
            3 * batch + 1,
        ]
    }

    #[test]
    fn batches_write_the_bytes_and_digest_of_the_chunk_sealer() {
        for suite in AeadSuite::ALL {
            for len in batch_edges() {
                let plaintext: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
                let expected = sealed_one_by_one(suite, &plaintext);
                for workers in [1, 2, 3, 4, 9] {
                    let got = sealed_by_stream(suite, &plaintext, len as u64, workers).unwrap();
                    assert!(got.0 == expected.0, "{suite}, len {len}, {workers} workers");
                    assert_eq!(got.1, expected.1, "{suite}, len {len}, {workers} workers");
                }
            }
        }
    }

    #[test]
    fn batches_notice_a_payload_of_the_wrong_length_as_the_chunk_reader_did() {
        let suite = AeadSuite::Aes256Gcm;
        for declared in batch_edges() {
            let shorter = [declared.checked_sub(1), Some(declared / 2), Some(0)];
            for actual in shorter.into_iter().flatten().filter(|&a| a < declared) {
                let plaintext = vec![7u8; actual];
                for workers in [1, 2, 4] {
                    let result = sealed_by_stream(suite, &plaintext, declared as u64, workers);
                    assert!(
                        matches!(
                            result,
                            Err(SealError::InputShorter { declared: d, actual: a })
                                if (d, a) == (declared as u64, actual as u64)
                        ),
                        "declared {declared}, actual {actual}, {workers} workers"
                    );
                }
            }
            let plaintext = vec![7u8; declared + 1];
            for workers in [1, 2, 4] {
                let result = sealed_by_stream(suite, &plaintext, declared as u64, workers);
                assert!(
                    matches!(
                        result,
                        Err(SealError::InputLonger { declared: d }) if d == declared as u64
                    ),
                    "declared {declared}, {workers} workers"
                );
            }
        }
    }

    #[test]
    fn a_read_error_mid_batch_is_reported_as_it_happened() {
        let plaintext = vec![1u8; 40 * CHUNK_LEN];
        for workers in [1, 2] {
            let mut failing = io::Read::chain(&plaintext[..5 * CHUNK_LEN + 3], FailingReader);
            let mut digest = InputDigester::new(b"header", 40);
            let key = StreamKey::new(AeadSuite::Aes256Gcm, &[5; 32]);
            let result = seal_stream(
                key,
                &mut failing,
                plaintext.len() as u64,
                &mut Vec::new(),
                &mut digest,
                workers,
            );
            assert!(
                matches!(result, Err(SealError::Io(ref e)) if e.to_string() == "disk on fire"),
                "{workers} workers"
            );
        }
    }

    struct FailingReader;

    impl io::Read for FailingReader {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }

    #[test]
    fn a_batch_plan_bounds_memory_and_spreads_small_payloads() {
        let slot = (CHUNK_LEN + TAG_LEN) as u64;
        // 1 GiB on 2 workers: full batches, 4 of them in flight.
        let plan = BatchPlan::new(1 << 30, 2);
        assert_eq!((plan.per_batch, plan.workers), (BATCH_CHUNKS, 2));
        assert_eq!(plan.sealed_len(0) as u64, BATCH_CHUNKS * slot);
        // 8 chunks on 2 workers: 4 batches of 2.
        let plan = BatchPlan::new(PARALLEL_MIN_CHUNKS * CHUNK_LEN_U64, 2);
        assert_eq!((plan.per_batch, plan.batches, plan.workers), (2, 4, 2));
        // A small payload alone: one buffer of exactly its sealed size.
        let plan = BatchPlan::new(3, 4);
        assert_eq!(
            (plan.batches, plan.workers, plan.sealed_len(0)),
            (1, 1, 3 + TAG_LEN)
        );
        let plan = BatchPlan::new(0, 1);
        assert_eq!(plan.sealed_len(0), TAG_LEN);
    }
}

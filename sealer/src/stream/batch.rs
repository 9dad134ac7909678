//! Batches of chunks sealed in one buffer, on this thread or by worker threads in order.

use std::io::{Read, Write};
use std::sync::{mpsc, Mutex};

use ring::aead::Aad;
use zeroize::Zeroizing;

use crate::digest::{chunk_hash, InputDigester};
use crate::error::SealError;

use super::chunk_io::ChunkReader;
use super::key::{chunk_count, chunk_len, nonce, StreamKey, CHUNK_LEN, CHUNK_LEN_U64, TAG_LEN};

/// Below this many chunks a payload is sealed on the calling thread: starting threads would
/// cost more than they save.
pub(crate) const PARALLEL_MIN_CHUNKS: u64 = 8;
/// Most chunks in one batch: 16 × 64 KiB, about 1 MiB sealed.
pub(crate) const BATCH_CHUNKS: u64 = 16;
/// Batches in flight per worker (queued, being sealed, or waiting to be written).
pub(super) const DEPTH: u64 = 2;
/// Bytes of one sealed-chunk slot in a batch buffer.
pub(super) const SLOT_LEN: usize = CHUNK_LEN + TAG_LEN;

/// How a payload is cut into batches, and how many threads seal them.
pub(super) struct BatchPlan {
    len: u64,
    chunks: u64,
    /// Chunks per batch (the last batch may have fewer).
    pub(super) per_batch: u64,
    pub(super) batches: u64,
    /// Sealing threads besides the calling one; 1 means the calling thread alone.
    pub(super) workers: u64,
}

impl BatchPlan {
    pub(super) fn new(len: u64, workers: usize) -> Self {
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

    pub(super) fn first_chunk(&self, batch: u64) -> u64 {
        batch.saturating_mul(self.per_batch)
    }

    pub(super) fn chunks_in(&self, batch: u64) -> u64 {
        self.per_batch
            .min(self.chunks.saturating_sub(self.first_chunk(batch)))
    }

    /// Bytes of batch `batch` once sealed: its plaintext and a tag per chunk. The first batch is
    /// the largest.
    pub(super) fn sealed_len(&self, batch: u64) -> usize {
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
pub(super) struct Batch {
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
    pub(super) fn new(plan: &BatchPlan) -> Self {
        Self {
            index: 0,
            buf: Zeroizing::new(vec![0; plan.sealed_len(0)]),
            hashes: Vec::with_capacity(usize::try_from(plan.per_batch).unwrap_or(0)),
        }
    }

    /// The slot of chunk `i` of this batch for a chunk of `text_len` plaintext bytes.
    pub(super) fn slot(&mut self, i: u64, text_len: usize) -> Result<&mut [u8], SealError> {
        let start = usize::try_from(i)
            .unwrap_or(usize::MAX)
            .saturating_mul(SLOT_LEN);
        let end = start.saturating_add(text_len).saturating_add(TAG_LEN);
        self.buf.get_mut(start..end).ok_or(SealError::Poisoned)
    }

    /// Reads the plaintext of batch `index` into its slots.
    pub(super) fn fill<R: Read>(
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
    pub(super) fn seal(&mut self, key: &StreamKey, plan: &BatchPlan) -> Result<(), SealError> {
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
    pub(super) fn write<W: Write>(
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
pub(super) fn seal_slot(
    key: &StreamKey,
    counter: u64,
    last: bool,
    slot: &mut [u8],
) -> Result<(), SealError> {
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
pub(super) fn seal_in_parallel<R: Read, W: Write>(
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
pub(super) fn next_work(queue: &Mutex<mpsc::Receiver<Batch>>) -> Option<Batch> {
    queue.lock().ok()?.recv().ok()
}

/// The calling thread's side of [`seal_in_parallel`]: hands out batches and writes them back in
/// order.
pub(super) struct InOrder<'a> {
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
    pub(super) fn feed<R: Read, W: Write>(
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
    pub(super) fn write_next<W: Write>(
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
    pub(super) fn take_queued(&self) -> Option<Batch> {
        self.queue.try_lock().ok()?.try_recv().ok()
    }
}

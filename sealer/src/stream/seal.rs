//! Sealing a stream: chunk by chunk in order ([`ChunkSealer`]), or a whole payload in batches
//! ([`seal_stream`]).

use std::io::{Read, Write};

use ring::aead::Aad;

use crate::digest::InputDigester;
use crate::error::SealError;

use super::batch::{seal_in_parallel, Batch, BatchPlan};
use super::chunk_io::ChunkReader;
use super::key::{chunk_count, nonce, StreamKey};

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
pub(super) fn seal_chunk(
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

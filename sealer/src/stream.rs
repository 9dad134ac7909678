//! STREAM chunking (Hoang, Reyhanitabar, Rogaway, Vizár 2015, as in age): the payload is cut into
//! 64 KiB chunks, each sealed with the stream's AEAD ([`crate::suite::AeadSuite`]: AES-256-GCM or
//! ChaCha20-Poly1305) under one key with the nonce `11-byte big-endian chunk counter ||
//! last-chunk flag`, empty associated data.
//!
//! Every chunk but the last holds exactly [`CHUNK_LEN`] plaintext bytes; the last holds
//! 0..=[`CHUNK_LEN`] and is empty only when the whole payload is. A reader needs two chunk
//! buffers whatever the payload size.

mod batch;
mod chunk_io;
mod key;
mod open;
mod seal;

pub(crate) use batch::PARALLEL_MIN_CHUNKS;
pub(crate) use chunk_io::{reserve_secret, HashingWriter};
pub use key::CHUNK_LEN;
pub(crate) use key::{chunk_count, StreamKey, TAG_LEN};
pub(crate) use open::{ChunkFailure, Plan, StreamDigest, StreamReader};
pub(crate) use seal::{seal_stream, ChunkSealer};

#[cfg(test)]
mod tests {
    use std::io;

    use super::batch::*;
    use super::key::*;
    use super::seal::*;
    use crate::digest::*;
    use crate::error::*;
    use crate::suite::AeadSuite;

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

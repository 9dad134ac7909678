//! The cost of padding (docs/performance.md, "Padding"): `cargo bench -p sealer --bench padding`.
//!
//! A short answer (100 bytes) sealed by the enclave without padding and padded to 4 KiB, 64 KiB
//! and 1 MiB, and opened by the client; a short input sealed by the client with and without
//! `--pad`. The padded bytes are encrypted, hashed and carried like data, so the cost is that
//! of the padded length.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark setup: a panic is a failed run"
)]

use std::io::{self, Write as _};
use std::num::NonZeroU64;

use attest::{Measurement, PlatformId};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use sealer::{
    input::seal_padded, open_output, seal_with_options, AeadSuite, EnclaveKeyPair, EvidenceDigest,
    KeyPolicy, PlatformSecret, SealOptions, SealTarget, SealedInputHeader,
};

const ANSWER: [u8; 100] = [0x5a; 100];

fn bench(c: &mut Criterion) {
    let secret = PlatformSecret::from_bytes([7; 32]);
    let policy = KeyPolicy::Measurement(Measurement::from_bytes([1; 32]));
    let keypair = EnclaveKeyPair::derive(&secret, &policy, false);
    let target = SealTarget {
        public_key: keypair.public(),
        policy,
        debug: false,
        evidence_digest: EvidenceDigest::from_bytes([2; 32]),
        platform_id: PlatformId::from_bytes([3; 32]),
    };
    let options = SealOptions {
        suite: AeadSuite::Aes256Gcm,
        workers: 1,
    };
    // A request, opened once: its response sealer and the client's context.
    let mut sealed = Vec::new();
    let context = seal_with_options(&target, options, &b"q"[..], 1, &mut sealed).unwrap();
    let mut reader = sealed.as_slice();
    let header = SealedInputHeader::read(&mut reader).unwrap();
    let (_, response) = header.open(&keypair, reader).unwrap();

    let mut group = c.benchmark_group("padding");
    group.sample_size(20);
    for pad in [0u64, 4 << 10, 64 << 10, 1 << 20] {
        let label = if pad == 0 {
            "none".to_owned()
        } else {
            format!("{}KiB", pad >> 10)
        };
        let sealer = response.clone().padded_to(pad);
        group.bench_function(BenchmarkId::new("seal 100 B answer", &label), |b| {
            b.iter(|| {
                let mut w = sealer.clone().writer(io::sink()).unwrap();
                w.write_all(&ANSWER).unwrap();
                w.finish().unwrap()
            });
        });
        let mut answer = Vec::new();
        let mut w = sealer.clone().writer(&mut answer).unwrap();
        w.write_all(&ANSWER).unwrap();
        w.finish().unwrap();
        group.bench_function(BenchmarkId::new("open 100 B answer", &label), |b| {
            b.iter(|| open_output(&context, answer.as_slice(), io::sink()).unwrap());
        });
        group.bench_function(BenchmarkId::new("seal 100 B input", &label), |b| {
            b.iter(|| match NonZeroU64::new(pad) {
                Some(bucket) => {
                    seal_padded(&target, options, bucket, &ANSWER[..], 100, io::sink()).unwrap()
                }
                None => seal_with_options(&target, options, &ANSWER[..], 100, io::sink()).unwrap(),
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

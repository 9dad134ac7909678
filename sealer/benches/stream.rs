//! Throughput of sealing and opening (issue 7): `cargo bench -p sealer --bench stream`.
//!
//! Measures whole sealed inputs (HPKE setup + STREAM over the payload) and the enclave side
//! (header, key derivation, open, read to the end), in memory, for 1 MiB and 64 MiB; sealing both
//! as `seal` does (chunks encrypted and hashed on up to 4 threads) and on the calling thread
//! alone, with each AEAD.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark setup: a panic is a failed run"
)]

use std::io::{self, Read as _};

use attest::{Measurement, PlatformId};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sealer::{
    seal_with_options, AeadSuite, EnclaveKeyPair, EvidenceDigest, KeyPolicy, PlatformSecret,
    SealOptions, SealTarget, SealedInputHeader,
};

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
    let mut group = c.benchmark_group("stream");
    group.sample_size(10);
    for suite in AeadSuite::ALL {
        for mib in [1usize, 64] {
            let plain = vec![0x5a; mib << 20];
            let len = plain.len() as u64;
            let name =
                |what: &str| BenchmarkId::new(format!("{what}, {suite}"), format!("{mib}MiB"));
            let options = SealOptions {
                suite,
                ..SealOptions::for_len(len)
            };
            let one = SealOptions {
                workers: 1,
                ..options
            };
            group.throughput(Throughput::Bytes(len));
            group.bench_with_input(name("seal"), &plain, |b, p| {
                b.iter(|| {
                    seal_with_options(&target, options, p.as_slice(), len, io::sink()).unwrap()
                });
            });
            group.bench_with_input(name("seal, one thread"), &plain, |b, p| {
                b.iter(|| seal_with_options(&target, one, p.as_slice(), len, io::sink()).unwrap());
            });
            let mut sealed = Vec::new();
            seal_with_options(&target, options, plain.as_slice(), len, &mut sealed).unwrap();
            group.bench_with_input(name("open"), &sealed, |b, s| {
                b.iter(|| {
                    let mut reader = s.as_slice();
                    let header = SealedInputHeader::read(&mut reader).unwrap();
                    let pair = EnclaveKeyPair::derive(&secret, header.policy(), header.debug());
                    let (mut opened, _) = header.open(&pair, reader).unwrap();
                    io::copy(&mut opened.by_ref(), &mut io::sink()).unwrap()
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

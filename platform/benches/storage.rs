//! Sealing and the sealed store: `seal` / `unseal` per call (the key derivations and AES-256-GCM
//! a guest's call costs, without the copy in and out of guest memory), and durable store updates
//! per second (each one seals the whole state and makes two atomic, fsynced writes).
//!
//! `cargo bench -p enclave-platform --bench storage`. The store directory is a temporary directory under
//! `$TMPDIR`, so the update rate is the rate of that file system's fsync.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark code")]

use std::sync::Arc;
use std::time::SystemTime;

use attest::{Measurement, ProductId, SignerId, Svn};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use enclave_platform::store::SealedStore;
use enclave_platform::{InitOptions, Platform};
use sealer::blob::{self, BlobKind};
use sealer::EnclaveIdentity;

fn identity() -> EnclaveIdentity {
    EnclaveIdentity {
        measurement: Measurement::from_bytes([1; 32]),
        signer: SignerId::from_bytes([2; 32]),
        product_id: ProductId(1),
        svn: Svn(1),
        debug: false,
    }
}

fn platform(dir: &tempfile::TempDir) -> Arc<Platform> {
    let options = InitOptions {
        name: "bench".into(),
        tcb: 1,
        vendor: None,
    };
    Arc::new(Platform::init(&dir.path().join("platform"), options, SystemTime::now()).unwrap())
}

fn seal_unseal(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let platform = platform(&dir);
    let secret = platform.sealing_secret();
    let me = identity();
    let mut group = c.benchmark_group("blob");
    for size in [64usize, 4 << 10, 64 << 10, 1 << 20] {
        let plaintext = vec![7u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("seal", size), &plaintext, |b, pt| {
            b.iter(|| {
                blob::seal(
                    BlobKind::Sealed,
                    secret,
                    &me,
                    &me.signer_policy(),
                    b"aad",
                    pt,
                )
                .unwrap()
            })
        });
        let sealed = blob::seal(
            BlobKind::Sealed,
            secret,
            &me,
            &me.signer_policy(),
            b"aad",
            &plaintext,
        )
        .unwrap();
        group.bench_with_input(BenchmarkId::new("unseal", size), &sealed, |b, sealed| {
            b.iter(|| blob::open(BlobKind::Sealed, secret, &me, sealed).unwrap())
        });
    }
    group.finish();
}

fn store_updates(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let platform = platform(&dir);
    let mut group = c.benchmark_group("store");
    group.sample_size(20);
    group.throughput(Throughput::Elements(1));
    for entries in [1usize, 1000] {
        let mut store = SealedStore::new(
            platform.clone(),
            EnclaveIdentity {
                product_id: ProductId(entries as u16),
                ..identity()
            },
        );
        for i in 0..entries {
            store
                .put(format!("key {i}").as_bytes(), &[0u8; 64])
                .unwrap();
        }
        let mut n = 0u64;
        group.bench_function(BenchmarkId::new("put", format!("{entries} entries")), |b| {
            b.iter(|| {
                n += 1;
                store.put(b"key 0", &n.to_be_bytes()).unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("get", format!("{entries} entries")), |b| {
            b.iter(|| store.get(b"key 0").unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, seal_unseal, store_updates);
criterion_main!(benches);

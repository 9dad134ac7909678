//! Loading a bundle, per MiB of module: `attest::bundle::verify` (COSE parse, Ed25519 signature,
//! manifest, module digest and measurement), then the whole `Enclave::load` (verify + compile),
//! and `Enclave::load_cached` with an authenticated compiled-code cache hit. Criterion's "thrpt"
//! is MiB of module per second. Evidence verification per second is `attest`'s own benchmark:
//! `cargo bench -p attest --bench verify --features platform`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark setup: a panic is a failed run"
)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use enclave_benches::{manifest, module_of_size, sign};
use enclave_runtime::cache::CodeCache;
use enclave_runtime::Enclave;

fn bench(c: &mut Criterion) {
    let manifest = manifest();
    let dir = tempfile::tempdir().unwrap();
    let cache = CodeCache::new(dir.path().to_owned(), &[9; 32]);
    let mut group = c.benchmark_group("bundle load");
    for mib in [1usize, 8] {
        let module = module_of_size(mib << 20);
        let bundle = sign(&module, &manifest).unwrap();
        Enclave::load_cached(&bundle, enclave_runtime::Signers::Any, Some(&cache)).unwrap();
        group.throughput(Throughput::Bytes(module.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("verify + measure", mib),
            &bundle,
            |b, bundle| {
                b.iter(|| attest::bundle::verify(bundle).unwrap());
            },
        );
        group.bench_with_input(
            BenchmarkId::new("Enclave::load", mib),
            &bundle,
            |b, bundle| {
                b.iter(|| Enclave::load(bundle, enclave_runtime::Signers::Any).unwrap());
            },
        );
        group.bench_with_input(
            BenchmarkId::new("Enclave::load_cached (hit)", mib),
            &bundle,
            |b, bundle| {
                b.iter(|| {
                    Enclave::load_cached(bundle, enclave_runtime::Signers::Any, Some(&cache))
                        .unwrap()
                })
            },
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);

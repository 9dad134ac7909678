//! A full confidential request in process: the data owner seals 1 KiB to the attested enclave,
//! the runtime opens it, runs the echo guest, seals the answer and signs a receipt, and the data
//! owner verifies the receipt and opens the answer. Criterion's "thrpt" is requests per second
//! on one core; the runtime's share (`run_sealed` alone) is measured separately.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark setup: a panic is a failed run"
)]

use std::time::{Duration, Instant, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use enclave_benches::{manifest, sign, wasm, Bench, ECHO};
use enclave_runtime::Enclave;

fn bench(c: &mut Criterion) {
    let bench = Bench::new().unwrap();
    let enclave = Enclave::load(&sign(&wasm(ECHO).unwrap(), &manifest()).unwrap(), &[]).unwrap();
    let evidence = bench.verified_evidence(&enclave).unwrap();
    let plaintext = vec![b'x'; 1024];

    let run_sealed = |sealed: Vec<u8>| {
        enclave
            .run_sealed(
                &bench.platform,
                std::io::Cursor::new(sealed),
                Vec::new(),
                None,
                SystemTime::now,
            )
            .unwrap()
    };
    let request = Bench::seal(&evidence, &plaintext).unwrap();
    let run = run_sealed(request.sealed.clone());
    assert_eq!(
        bench.open(&request, &run.receipt, &run.output).unwrap(),
        plaintext
    );

    let mut group = c.benchmark_group("confidential request (1 KiB)");
    group.throughput(Throughput::Elements(1));
    group.bench_function("seal + run_sealed + open", |b| {
        b.iter_custom(|iters| {
            enclave
                .on_guest_thread(|| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let request = Bench::seal(&evidence, &plaintext).unwrap();
                        let run = run_sealed(request.sealed.clone());
                        bench.open(&request, &run.receipt, &run.output).unwrap();
                    }
                    start.elapsed()
                })
                .unwrap()
        });
    });
    group.bench_function("run_sealed only (the runtime's share)", |b| {
        b.iter_custom(|iters| {
            let requests: Vec<_> = (0..iters)
                .map(|_| Bench::seal(&evidence, &plaintext).unwrap().sealed)
                .collect();
            enclave
                .on_guest_thread(|| {
                    let start = Instant::now();
                    for sealed in requests {
                        run_sealed(sealed);
                    }
                    start.elapsed()
                })
                .unwrap()
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);

//! A fresh instance per request: instantiate + call of a trivial guest through `Enclave::run`,
//! next to raw wasmtime `InstancePre::instantiate` + call on an engine with the same settings,
//! in one group (goal: enclave ≤ 1.5× raw). Also raw wasmtime with its default configuration,
//! and `Enclave::run` from a thread that is not a guest thread (one OS thread per run).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark setup: a panic is a failed run"
)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use enclave_benches::{manifest, sign, wasm, TRIVIAL};
use enclave_runtime::{Enclave, Input};
use wasmtime::{Engine, InstancePre, Linker, Module, Store};

fn raw_pre(engine: &Engine) -> InstancePre<()> {
    let module = Module::new(engine, wasm(TRIVIAL).unwrap()).unwrap();
    Linker::new(engine).instantiate_pre(&module).unwrap()
}

/// One raw request: a store with the enclave's limits (fuel, epoch deadline), instantiate, call.
fn raw_run(engine: &Engine, pre: &InstancePre<()>, limited: bool) {
    let mut store = Store::new(engine, ());
    if limited {
        store.set_fuel(10_000_000_000).unwrap();
        store.set_epoch_deadline(1000);
        store.epoch_deadline_trap();
    }
    let instance = pre.instantiate(&mut store).unwrap();
    let main = instance
        .get_typed_func::<(), ()>(&mut store, "enclave_main")
        .unwrap();
    main.call(&mut store, ()).unwrap();
}

fn bench(c: &mut Criterion) {
    let manifest = manifest();
    let enclave = Enclave::load(
        &sign(&wasm(TRIVIAL).unwrap(), &manifest).unwrap(),
        enclave_runtime::Signers::Any,
    )
    .unwrap();
    let run = || {
        enclave
            .run(Input::from_bytes(Vec::new()), Vec::new(), None)
            .unwrap();
    };

    let same = enclave_runtime::engine::build_pooled(&manifest.limits).unwrap();
    let same_pre = raw_pre(&same);
    let default = Engine::default();
    let default_pre = raw_pre(&default);

    let mut group = c.benchmark_group("instantiate+call");
    group.bench_function("raw wasmtime, same engine config", |b| {
        b.iter(|| raw_run(&same, &same_pre, true));
    });
    group.bench_function("raw wasmtime, default config", |b| {
        b.iter(|| raw_run(&default, &default_pre, false));
    });
    group.bench_function("Enclave::run on a guest thread", |b| {
        b.iter_custom(|iters| {
            enclave
                .on_guest_thread(|| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        run();
                    }
                    start.elapsed()
                })
                .unwrap()
        });
    });
    group.bench_function("Enclave::run, a thread per run", |b| b.iter(run));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);

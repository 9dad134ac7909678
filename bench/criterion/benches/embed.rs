//! The embedder's per-call cost (`docs/embedding.md`): a call by export name of a trivial plugin
//! loaded on a `SharedEngine` with host caps, from an embedder's own thread made a guest thread
//! (`GuestThread`), next to raw wasmtime `InstancePre::instantiate` + call on an engine with the
//! same settings and bounds (pooling, fuel, an epoch deadline). Goal: ≤ 1.1× raw
//! (docs/performance.md, "Many plugins").
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark setup: a panic is a failed run"
)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use enclave_benches::{manifest, sign, wasm};
use enclave_runtime::{
    EngineConfig, GuestThread, HostPolicy, Input, Loader, RunOptions, SharedEngine, Signers,
};
use wasmtime::{Engine, InstancePre, Linker, Module, Store, StoreLimits, StoreLimitsBuilder};

/// A plugin with an export besides its entry point.
const PLUGIN: &str = r#"(module (memory (export "memory") 1)
    (func (export "enclave_main")) (func (export "transform")))"#;

/// One raw call: a store with fuel, an epoch deadline and a memory limiter (the plugin's bounds),
/// instantiate, call `transform`.
fn raw_call(engine: &Engine, pre: &InstancePre<StoreLimits>, memory_bytes: usize) {
    let limits = StoreLimitsBuilder::new()
        .memory_size(memory_bytes)
        .instances(1)
        .memories(1)
        .tables(1)
        .trap_on_grow_failure(true)
        .build();
    let mut store = Store::new(engine, limits);
    store.limiter(|limits| limits);
    store.set_fuel(1_000_000_000).unwrap();
    store.set_epoch_deadline(100);
    store.epoch_deadline_trap();
    let instance = pre.instantiate(&mut store).unwrap();
    let transform = instance
        .get_typed_func::<(), ()>(&mut store, "transform")
        .unwrap();
    transform.call(&mut store, ()).unwrap();
}

fn bench(c: &mut Criterion) {
    let engine = SharedEngine::new(EngineConfig::default()).unwrap();
    let policy = HostPolicy::new().fuel(1_000_000_000).timeout_ms(1_000);
    let loader = Loader::new(Signers::Any).engine(&engine).policy(policy);
    let plugin = loader
        .load(&sign(&wasm(PLUGIN).unwrap(), &manifest()).unwrap())
        .unwrap();
    let options = RunOptions::new().export("transform");

    let raw = enclave_runtime::engine::build_pooled(plugin.limits()).unwrap();
    let _ticker = enclave_runtime::engine::EpochTicker::start(&raw).unwrap();
    let module = Module::new(&raw, wasm(PLUGIN).unwrap()).unwrap();
    let pre = Linker::new(&raw).instantiate_pre(&module).unwrap();

    let memory_bytes = usize::try_from(plugin.limits().memory_bytes).unwrap();
    let mut group = c.benchmark_group("call by name");
    group.bench_function("raw wasmtime, same config and bounds", |b| {
        b.iter(|| raw_call(&raw, &pre, memory_bytes));
    });
    group.bench_function("SharedEngine plugin, on a GuestThread", |b| {
        b.iter_custom(|iters| {
            let stack = plugin.guest_stack_bytes();
            std::thread::scope(|scope| {
                let worker = std::thread::Builder::new().stack_size(stack);
                let worker = worker.spawn_scoped(scope, || {
                    let _guest = GuestThread::enter(stack);
                    let start = Instant::now();
                    for _ in 0..iters {
                        let input = Input::from_bytes(Vec::new());
                        plugin.run_with(input, Vec::new(), None, &options).unwrap();
                    }
                    start.elapsed()
                });
                worker.unwrap().join().unwrap()
            })
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);

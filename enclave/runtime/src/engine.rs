//! The wasmtime engine configuration: what wasm features a guest gets and how limits are enforced.
//!
//! Every setting here is part of the isolation story, so it is spelled out rather than left to
//! wasmtime's defaults. `docs/threat-model.md` lists the resulting feature set.
//!
//! A loaded enclave's engine ([`build_pooled`]) keeps a pool of pre-reserved instance slots
//! (wasmtime's pooling allocator, copy-on-write memory images), so a fresh, isolated instance per
//! run costs microseconds: a slot's memory is reset to the module's initial image (zeroes
//! elsewhere) before it is reused, so nothing of one run's memory reaches the next.

use std::hash::Hash;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use attest::Limits;
use sha2::{Digest, Sha256};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

use crate::host::MAX_TABLE_ELEMENTS;

/// How often the epoch advances; the wall-clock limit is enforced at this granularity.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Instances of one enclave that may exist at once (concurrent runs); more runs wait for a slot.
pub const POOL_INSTANCES: u32 = 16;
/// Tables a guest may define (the store limiter allows as many).
pub const MAX_TABLES: u32 = 4;
/// The largest instance (`VMContext`) a pool slot holds; wasmtime's default is 1 MiB, which a
/// module with tens of thousands of functions exceeds.
const MAX_INSTANCE_BYTES: usize = 8 << 20;
/// Every memory slot spans the whole 32-bit space (the same virtual reservation wasmtime makes
/// for any 32-bit memory, so bounds checks stay elided). The manifest's `memory_bytes` is
/// enforced by the store's limiter, with its own error, not by the pool.
const SLOT_MEMORY_BYTES: u64 = 1 << 32;

/// Builds an engine with the on-demand allocator, for guests with a wasm stack of
/// `stack_bytes`: enough to compile and inspect a module.
///
/// The stack limit is an engine setting in wasmtime, so each loaded enclave has an engine of its
/// own, configured from its signed manifest.
///
/// # Errors
/// When wasmtime refuses the configuration (a bug, not an input problem).
pub fn build(stack_bytes: u64) -> wasmtime::Result<Engine> {
    Engine::new(&config(stack_bytes, Metering::Fuel))
}

/// Builds the engine a loaded enclave runs in: [`build`]'s settings with a pool of
/// [`POOL_INSTANCES`] instance slots sized for `limits`, and copy-on-write memory images.
///
/// # Errors
/// When wasmtime refuses the configuration, or the operating system the pool's address space.
pub fn build_pooled(limits: &Limits) -> wasmtime::Result<Engine> {
    let settings = settings_of(limits);
    let mut config = config(settings.stack_bytes, settings.metering);
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool()))
        .memory_init_cow(true);
    Engine::new(&config)
}

/// The settings that decide the code compiled for an enclave of `limits`: a compile sandbox
/// builds its engine from them ([`build_for`]).
pub(crate) fn settings_of(limits: &Limits) -> EngineSettings {
    settings_for(limits, Flavor::Core)
}

/// [`settings_of`] for code of `flavor`.
pub(crate) fn settings_for(limits: &Limits, flavor: Flavor) -> EngineSettings {
    EngineSettings {
        stack_bytes: limits.stack_bytes,
        metering: if limits.is_metered() {
            Metering::Fuel
        } else {
            Metering::TimeOnly
        },
        flavor,
    }
}

/// An engine that compiles for `settings` exactly as [`build_pooled`]'s (or, for components,
/// [`build_components`]'s) does (the same compatibility hash), without an instance pool: what a
/// compile sandbox builds, so that its address space is only the compiler's.
pub(crate) fn build_for(settings: EngineSettings) -> wasmtime::Result<Engine> {
    let mut config = config_for(settings);
    config.memory_init_cow(true);
    Engine::new(&config)
}

/// The engine an `http` enclave (a component, `crate::component`) runs in: [`build`]'s limits
/// with the component model on, and a pool of [`POOL_INSTANCES`] component instance slots with
/// copy-on-write memory images, as `wasmtime serve` has by default: a fresh instance per
/// request then maps and unmaps nothing.
///
/// # Errors
/// When wasmtime refuses the configuration, or the operating system the pool's address space.
pub(crate) fn build_components(limits: &Limits) -> wasmtime::Result<Engine> {
    let mut config = config_for(settings_for(limits, Flavor::Component));
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(component_pool()))
        .memory_init_cow(true);
    Engine::new(&config)
}

/// Core instances one component instance may create: toolchains emit a handful (Rust) to a few
/// dozen (CPython, with its shims and adapters).
const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 64;
/// Memories one component instance may create (each core module has at most one).
const MAX_MEMORIES_PER_COMPONENT: u32 = 8;
/// Tables one component instance may create.
const MAX_TABLES_PER_COMPONENT: u32 = 64;

/// The pool of an `http` enclave's engine: [`POOL_INSTANCES`] component instances at once,
/// each within the per-component maxima above.
fn component_pool() -> PoolingAllocationConfig {
    let slots = POOL_INSTANCES;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(slots)
        .total_core_instances(slots.saturating_mul(MAX_CORE_INSTANCES_PER_COMPONENT))
        .total_memories(slots.saturating_mul(MAX_MEMORIES_PER_COMPONENT))
        .total_tables(slots.saturating_mul(MAX_TABLES_PER_COMPONENT))
        .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
        .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
        .max_memories_per_module(1)
        .max_tables_per_module(MAX_TABLES)
        .table_elements(MAX_TABLE_ELEMENTS)
        .max_core_instance_size(MAX_INSTANCE_BYTES)
        .max_memory_size(usize::try_from(SLOT_MEMORY_BYTES).unwrap_or(usize::MAX))
        // One async stack per request in flight: components run on fibers.
        .total_stacks(slots);
    pool
}

fn pool() -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_core_instances(POOL_INSTANCES)
        .total_memories(POOL_INSTANCES)
        .total_tables(POOL_INSTANCES.saturating_mul(MAX_TABLES))
        .max_memories_per_module(1)
        .max_tables_per_module(MAX_TABLES)
        .table_elements(MAX_TABLE_ELEMENTS)
        .max_core_instance_size(MAX_INSTANCE_BYTES)
        .max_memory_size(usize::try_from(SLOT_MEMORY_BYTES).unwrap_or(usize::MAX))
        // Guests are core modules run synchronously: no component instances, no async stacks
        // (the GC heap pool is not compiled in: the `gc` cargo feature is off).
        .total_component_instances(0)
        .total_stacks(0);
    pool
}

/// Builds the engine of a shared engine (`crate::embed::SharedEngine`): [`build`]'s settings
/// with a pool of `slots` slots, each reserving `slot_memory_bytes` for linear memory.
///
/// # Errors
/// When wasmtime refuses the configuration, or the operating system the pool's address space.
pub(crate) fn build_shared(
    slots: u32,
    slot_memory_bytes: u64,
    max_stack_bytes: u64,
    fuel: bool,
) -> wasmtime::Result<Engine> {
    let metering = if fuel {
        Metering::Fuel
    } else {
        Metering::TimeOnly
    };
    let slot = usize::try_from(slot_memory_bytes).unwrap_or(usize::MAX);
    let mut pool = pool();
    pool.total_core_instances(slots)
        .total_memories(slots)
        .total_tables(slots.saturating_mul(MAX_TABLES))
        .max_memory_size(slot);
    let mut wasm = self::config(max_stack_bytes, metering);
    wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .memory_reservation(slot_memory_bytes)
        .memory_init_cow(true);
    Engine::new(&wasm)
}

/// wasmtime's default async stack size.
const DEFAULT_ASYNC_STACK: usize = 2 << 20;

/// What decides the code compiled for an engine: the stack limit and the metering. A compile
/// sandbox builds its engine from these ([`build_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EngineSettings {
    pub(crate) stack_bytes: u64,
    pub(crate) metering: Metering,
    pub(crate) flavor: Flavor,
}

/// What an engine runs: core modules (native and WASI guests) or components (`http` guests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// Core wasm modules, called synchronously.
    Core,
    /// Components, with the component model and async calls on.
    Component,
}

impl Flavor {
    /// The flavor `wasm`'s header names: a component's version field is `0d 00 01 00`; anything
    /// else is compiled (and refused, if need be) as a core module.
    pub(crate) fn of(wasm: &[u8]) -> Self {
        if wasm.get(4..8) == Some(&[0x0d, 0x00, 0x01, 0x00][..]) {
            Self::Component
        } else {
            Self::Core
        }
    }
}

/// How a run's work is bounded besides the wall-clock deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Metering {
    /// Fuel instrumentation: a deterministic instruction budget, and the fuel used is reported
    /// (it costs guest speed: a counter update in every basic block).
    Fuel,
    /// `limits.fuel = 0`: no instruction counting; only the epoch deadline (`timeout_ms`) stops
    /// a run.
    TimeOnly,
}

/// [`config`] for `settings`, with the component model on for components (async calls need
/// no setting in wasmtime 48: `call_async` and `instantiate_async` are always there).
fn config_for(settings: EngineSettings) -> Config {
    let mut config = config(settings.stack_bytes, settings.metering);
    if settings.flavor == Flavor::Component {
        config.wasm_component_model(true);
    }
    config
}

fn config(stack_bytes: u64, metering: Metering) -> Config {
    let stack = usize::try_from(stack_bytes).unwrap_or(usize::MAX);
    let mut config = Config::new();
    config
        // Deterministic, single-threaded guests. (wasm threads and shared memory need the
        // `threads` cargo feature, which is off.)
        .wasm_shared_everything_threads(false)
        .cranelift_nan_canonicalization(true)
        .relaxed_simd_deterministic(true)
        // One 32-bit memory. GC and exceptions are not compiled in (the `gc` cargo feature is
        // off). The component model is compiled in, because wasmtime-wasi needs it for its own
        // types; it is on only in the engines of `http` guests ([`config_for`]).
        .wasm_component_model(false)
        .wasm_memory64(false)
        .wasm_multi_memory(false)
        .wasm_gc(false)
        .wasm_stack_switching(false)
        // Limits: fuel for instructions, epochs for wall-clock time, a bounded stack.
        .consume_fuel(metering == Metering::Fuel)
        .epoch_interruption(true)
        .max_wasm_stack(stack)
        // wasmtime refuses a wasm stack larger than the async stack size (2 MiB by default),
        // even for synchronous calls: raise it with the manifest's limit (up to 8 MiB).
        .async_stack_size(stack.max(DEFAULT_ASYNC_STACK))
        // Errors carry the cause, not a wasm backtrace (also cheaper on the trap path).
        .wasm_backtrace_max_frames(None)
        .cranelift_opt_level(OptLevel::Speed)
        .parallel_compilation(true);
    config
}

/// SHA-256 over everything that decides whether a compiled artifact fits an engine: wasmtime's
/// own compatibility hash (its version, the target and CPU features, the compiler flags, the
/// tunables such as fuel and epoch instrumentation, the wasm features) and the wasm stack limit.
/// Compiled-code cache entries are keyed by it (`crate::cache`), so any change misses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EngineFingerprint([u8; 32]);

impl EngineFingerprint {
    /// The fingerprint of `engine`, built for a wasm stack of `stack_bytes`.
    pub fn of(engine: &Engine, stack_bytes: u64) -> Self {
        let mut hasher = Sha256Hasher(Sha256::new());
        b"enclave/engine-fingerprint/v1".hash(&mut hasher);
        std::env::consts::ARCH.hash(&mut hasher);
        std::env::consts::OS.hash(&mut hasher);
        stack_bytes.hash(&mut hasher);
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Self(hasher.0.finalize().into())
    }

    /// The fingerprint's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// A `Hasher` feeding SHA-256, so a `Hash` value gives a stable, collision-resistant digest.
struct Sha256Hasher(Sha256);

impl std::hash::Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        // Only `write` is used: the digest is taken from the inner state.
        0
    }
}

/// A thread that advances an engine's epoch every [`EPOCH_TICK`] so that deadlines fire. It
/// stops when dropped, at once: it waits on a channel that the drop disconnects, not in a sleep
/// (which would make every process exit wait up to a tick).
#[derive(Debug)]
pub struct EpochTicker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts ticking `engine`.
    ///
    /// # Errors
    /// When the operating system cannot start a thread.
    pub fn start(engine: &Engine) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let engine = engine.weak();
        let thread = std::thread::Builder::new()
            .name("enclave-epoch".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EPOCH_TICK) {
                    match engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        // Disconnecting the channel wakes the thread.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // The thread only waits and ticks; it cannot panic, and a join error changes nothing.
            let _ = thread.join();
        }
    }
}

/// Epoch ticks that make up `timeout_ms`, rounded up, at least one.
pub fn deadline_ticks(timeout_ms: u64) -> u64 {
    let tick = u64::try_from(EPOCH_TICK.as_millis()).unwrap_or(1).max(1);
    timeout_ms.div_ceil(tick).max(1)
}

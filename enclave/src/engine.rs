//! The wasmtime engine configuration: what wasm features a guest gets and how limits are enforced.
//!
//! Every setting here is part of the isolation story, so it is spelled out rather than left to
//! wasmtime's defaults. `docs/threat-model.md` lists the resulting feature set.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Engine, OptLevel};

/// How often the epoch advances; the wall-clock limit is enforced at this granularity.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Builds the engine for guests with a wasm stack of `stack_bytes`.
///
/// The stack limit is an engine setting in wasmtime, so each loaded enclave has an engine of its
/// own, configured from its signed manifest.
///
/// # Errors
/// When wasmtime refuses the configuration (a bug, not an input problem).
pub fn build(stack_bytes: u64) -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config
        // Deterministic, single-threaded guests. (wasm threads and shared memory need the
        // `threads` cargo feature, which is off.)
        .wasm_shared_everything_threads(false)
        .cranelift_nan_canonicalization(true)
        .relaxed_simd_deterministic(true)
        // One 32-bit memory. GC and exceptions are not compiled in (the `gc` cargo feature is
        // off). The component model is compiled in, because wasmtime-wasi needs it for its own
        // types, but guests are core modules only: it stays off.
        .wasm_component_model(false)
        .wasm_memory64(false)
        .wasm_multi_memory(false)
        .wasm_gc(false)
        .wasm_stack_switching(false)
        // Limits: fuel for instructions, epochs for wall-clock time, a bounded stack.
        .consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(usize::try_from(stack_bytes).unwrap_or(usize::MAX))
        // Errors carry the cause, not a wasm backtrace (also cheaper on the trap path).
        .wasm_backtrace_max_frames(None)
        .cranelift_opt_level(OptLevel::Speed)
        .parallel_compilation(true);
    Engine::new(&config)
}

/// A thread that advances an engine's epoch every [`EPOCH_TICK`] so that deadlines fire. It
/// stops when dropped.
#[derive(Debug)]
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts ticking `engine`.
    ///
    /// # Errors
    /// When the operating system cannot start a thread.
    pub fn start(engine: &Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let (engine, flag) = (engine.weak(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("enclave-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // The thread only sleeps and ticks; it cannot panic, and a join error changes nothing.
            let _ = thread.join();
        }
    }
}

/// Epoch ticks that make up `timeout_ms`, rounded up, at least one.
pub fn deadline_ticks(timeout_ms: u64) -> u64 {
    let tick = u64::try_from(EPOCH_TICK.as_millis()).unwrap_or(1).max(1);
    timeout_ms.div_ceil(tick).max(1)
}

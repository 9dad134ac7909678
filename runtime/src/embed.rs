//! The embedder's side of the runtime: a plugin host loads third-party bundles with a
//! [`Loader`] (whose signers it trusts, how far it caps their limits, which host functions it
//! grants, on which [`SharedEngine`]), then runs or calls them with [`RunOptions`] (a
//! [`CancelHandle`], the export to call). `docs/embedding.md` walks through a whole host.
//!
//! The author's signed manifest says what a plugin needs; the [`HostPolicy`] says what the host
//! allows, and the stricter of the two wins, limit by limit. Nothing here widens what a
//! manifest grants.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use attest::{bundle, Limits, Signers};
use wasmtime::Engine;

use crate::cache::CodeCache;
use crate::compile::Compilation;
use crate::engine::{self, EpochTicker};
use crate::error::LoadError;
use crate::host_fns::HostFunctions;
use crate::runner::{Enclave, Slots};

/// The host's caps on the limits an author's manifest declares: each one set here replaces the
/// manifest's value when it is lower (the stricter wins). Unset caps leave the manifest's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostPolicy {
    fuel: Option<u64>,
    timeout_ms: Option<u64>,
    memory_bytes: Option<u64>,
    max_input_bytes: Option<u64>,
    max_output_bytes: Option<u64>,
}

impl HostPolicy {
    /// No caps: the manifest's limits apply as signed.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `fuel` units per run (at least 1). It also meters a manifest that asked for no
    /// metering (`fuel = 0`).
    #[must_use]
    pub fn fuel(mut self, fuel: u64) -> Self {
        self.fuel = Some(fuel.max(1));
        self
    }

    /// At most `timeout_ms` of wall-clock time per run (at least 1 ms).
    #[must_use]
    pub fn timeout_ms(mut self, timeout_ms: u64) -> Self {
        self.timeout_ms = Some(timeout_ms.max(1));
        self
    }

    /// At most `memory_bytes` of linear memory.
    #[must_use]
    pub fn memory_bytes(mut self, memory_bytes: u64) -> Self {
        self.memory_bytes = Some(memory_bytes);
        self
    }

    /// At most `max_input_bytes` of input per run.
    #[must_use]
    pub fn max_input_bytes(mut self, max_input_bytes: u64) -> Self {
        self.max_input_bytes = Some(max_input_bytes);
        self
    }

    /// At most `max_output_bytes` of output per run.
    #[must_use]
    pub fn max_output_bytes(mut self, max_output_bytes: u64) -> Self {
        self.max_output_bytes = Some(max_output_bytes);
        self
    }

    /// The limits a run gets: the author's, each lowered to this policy's cap where it has one.
    /// The wasm stack is the engine's business ([`EngineConfig::max_stack_bytes`]).
    pub fn apply(&self, author: &Limits) -> Limits {
        let cap = |limit: u64, cap: Option<u64>| cap.map_or(limit, |cap| limit.min(cap));
        let mut limits = author.clone();
        limits.fuel = match self.fuel {
            None => author.fuel,
            Some(cap) if author.is_metered() => author.fuel.min(cap),
            Some(cap) => cap,
        };
        limits.timeout_ms = cap(author.timeout_ms, self.timeout_ms);
        limits.memory_bytes = cap(author.memory_bytes, self.memory_bytes);
        limits.max_input_bytes = cap(author.max_input_bytes, self.max_input_bytes);
        limits.max_output_bytes = cap(author.max_output_bytes, self.max_output_bytes);
        limits
    }
}

/// Stops a run from another thread: the run ends with [`crate::RunError::Cancelled`] at the
/// next epoch tick ([`engine::EPOCH_TICK`]) that finds the guest executing wasm (a host
/// function in progress finishes first). A handle cancelled before the run starts stops it
/// before the guest executes anything. Clones share the flag; one handle can cancel many runs.
#[derive(Debug, Clone, Default)]
pub struct CancelHandle(Arc<AtomicBool>);

impl CancelHandle {
    /// A handle not cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every run given this handle (or a clone), now and later.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`CancelHandle::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// How one run is made: the export it calls and the handle that can cancel it.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub(crate) cancel: Option<CancelHandle>,
    pub(crate) export: Option<String>,
}

impl RunOptions {
    /// The defaults: the guest's entry point, no cancellation.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets `handle` cancel the run.
    #[must_use]
    pub fn cancel(mut self, handle: &CancelHandle) -> Self {
        self.cancel = Some(handle.clone());
        self
    }

    /// Calls the native guest's export `name` (`[] -> []`, with the same input and output
    /// functions as `enclave_main`) instead of its entry point.
    #[must_use]
    pub fn export(mut self, name: &str) -> Self {
        self.export = Some(name.to_owned());
        self
    }
}

/// The current thread, made a guest thread while the guard lives: runs of enclaves whose
/// [`Enclave::guest_stack_bytes`] fit in `stack_bytes` execute on it instead of starting a
/// thread each (see [`Enclave::run`]). For an embedder's own workers (a rayon or tokio
/// blocking pool built with `stack_size(n)`, where `on_thread_start` or `start_handler` makes
/// the guard, or at the top of each job).
///
/// The promise is the caller's: the thread was created with at least `stack_bytes` of native
/// stack (`std::thread::Builder::stack_size`), and no more of it is in use below the guard than
/// the [`crate::runner::HOST_STACK_HEADROOM`] included in [`Enclave::guest_stack_bytes`]
/// allows for. A thread with less may crash the process on a deep guest recursion instead of
/// ending the run with a stack overflow error; [`Enclave::on_guest_thread`] is the way that
/// needs no promise.
#[derive(Debug)]
pub struct GuestThread {
    previous: usize,
    /// Not `Send`: the guard belongs to the thread it marks.
    _thread: std::marker::PhantomData<*const ()>,
}

impl GuestThread {
    /// Marks the current thread, made with `stack_bytes` of native stack, as a guest thread
    /// until the guard is dropped.
    pub fn enter(stack_bytes: usize) -> Self {
        let previous = crate::runner::GUEST_STACK.with(|s| s.replace(stack_bytes));
        Self {
            previous,
            _thread: std::marker::PhantomData,
        }
    }
}

impl Drop for GuestThread {
    fn drop(&mut self) {
        crate::runner::GUEST_STACK.with(|s| s.set(self.previous));
    }
}

/// How a [`SharedEngine`] is sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Instance slots: runs of all the engine's enclaves that may execute at once; more wait.
    pub pool_slots: u32,
    /// Address space reserved per slot for a guest's linear memory. 4 GiB (the default) lets
    /// wasmtime elide bounds checks; less saves address space, costs explicit checks, and caps
    /// every loaded enclave's `memory_bytes` at this size.
    pub slot_memory_bytes: u64,
    /// The wasm stack every guest of the engine gets (an engine-wide setting in wasmtime); a
    /// manifest asking for more is refused with [`LoadError::StackAboveEngine`].
    pub max_stack_bytes: u64,
    /// Whether guests count fuel. Off, guests run faster but only enclaves whose limits (after
    /// the [`HostPolicy`]) are unmetered (`fuel = 0`) load.
    pub fuel: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            pool_slots: engine::POOL_INSTANCES,
            slot_memory_bytes: 1 << 32,
            max_stack_bytes: Limits::default().stack_bytes,
            fuel: true,
        }
    }
}

/// One wasmtime engine, instance pool and epoch thread that any number of loaded enclaves
/// share: what a plugin host creates once. Its address space is about
/// `pool_slots × (slot_memory_bytes + 32 MiB guard)` whatever the number of enclaves loaded on
/// it (`docs/performance.md`, "Many plugins"). Clones share the engine.
#[derive(Debug, Clone)]
pub struct SharedEngine(Arc<EngineShared>);

/// What the enclaves of one [`SharedEngine`] share.
#[derive(Debug)]
pub(crate) struct EngineShared {
    pub(crate) engine: Engine,
    pub(crate) slots: Arc<Slots>,
    pub(crate) ticker: Arc<EpochTicker>,
    pub(crate) config: EngineConfig,
}

impl SharedEngine {
    /// Creates the engine, reserves its pool and starts its epoch thread.
    ///
    /// # Errors
    /// [`LoadError::Engine`] when wasmtime refuses the configuration (for example zero slots)
    /// or the operating system the address space or the thread.
    pub fn new(config: EngineConfig) -> Result<Self, LoadError> {
        let engine =
            engine::build_shared(&config).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let ticker = EpochTicker::start(&engine).map_err(|e| LoadError::Engine(e.to_string()))?;
        Ok(Self(Arc::new(EngineShared {
            engine,
            slots: Arc::new(Slots::new(config.pool_slots)),
            ticker: Arc::new(ticker),
            config,
        })))
    }

    /// How the engine was sized.
    pub fn config(&self) -> EngineConfig {
        self.0.config
    }

    /// Free instance slots now, out of [`EngineConfig::pool_slots`].
    pub fn free_instance_slots(&self) -> u32 {
        self.0.slots.free()
    }

    pub(crate) fn shared(&self) -> &EngineShared {
        &self.0
    }
}

/// Loads bundles the way a plugin host decides: which signers it trusts, the caps of its
/// [`HostPolicy`], the [`HostFunctions`] it grants, and the engine (a [`SharedEngine`], or one
/// engine per enclave as [`Enclave::load`] makes).
#[derive(Debug, Clone)]
pub struct Loader {
    signers: Signers,
    pub(crate) policy: HostPolicy,
    pub(crate) engine: Option<SharedEngine>,
    pub(crate) host: HostFunctions,
}

impl Loader {
    /// A loader that accepts bundles signed by `signers` (an empty allow-list trusts no one;
    /// [`Signers::Any`] anyone), with no caps, no host functions and an engine per enclave.
    pub fn new(signers: impl Into<Signers>) -> Self {
        Self {
            signers: signers.into(),
            policy: HostPolicy::default(),
            engine: None,
            host: HostFunctions::default(),
        }
    }

    /// Caps every loaded enclave's limits with `policy`.
    #[must_use]
    pub fn policy(mut self, policy: HostPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Loads enclaves on `engine` instead of an engine each.
    #[must_use]
    pub fn engine(mut self, engine: &SharedEngine) -> Self {
        self.engine = Some(engine.clone());
        self
    }

    /// Grants `functions` to the loaded enclaves that import them.
    #[must_use]
    pub fn host_functions(mut self, functions: HostFunctions) -> Self {
        self.host = functions;
        self
    }

    /// Verifies, checks the signer of, compiles and links a bundle.
    ///
    /// # Errors
    /// [`LoadError`] naming the first failed check.
    pub fn load(&self, bundle_bytes: &[u8]) -> Result<Enclave, LoadError> {
        self.load_through(bundle_bytes, None)
    }

    /// As [`Loader::load`], with compiled code from `cache` (see [`Enclave::load_cached`]).
    ///
    /// # Errors
    /// As [`Loader::load`].
    pub fn load_cached(
        &self,
        bundle_bytes: &[u8],
        cache: &CodeCache,
    ) -> Result<Enclave, LoadError> {
        self.load_through(bundle_bytes, Some(cache))
    }

    fn load_through(
        &self,
        bundle_bytes: &[u8],
        cache: Option<&CodeCache>,
    ) -> Result<Enclave, LoadError> {
        let bundle = bundle::verify(bundle_bytes)?;
        bundle.require_signer(&self.signers)?;
        Enclave::assemble(bundle, cache, Compilation::InProcess, self)
    }
}

impl Default for Loader {
    /// Trusts no one: a loader must be told whose bundles it accepts.
    fn default() -> Self {
        Self::new(Signers::only([]))
    }
}

#[cfg(test)]
mod tests;

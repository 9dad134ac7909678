//! The embedder's side of the runtime: a plugin host loads third-party bundles with a
//! [`Loader`] (whose signers it trusts, how far it caps their limits, which host functions it
//! grants, on which [`SharedEngine`]), then runs or calls them with [`RunOptions`] (a
//! [`CancelHandle`], the export to call). `docs/embedding.md` walks through a whole host.
//!
//! The author's signed manifest says what a plugin needs; the [`HostPolicy`] says what the host
//! allows, and the stricter of the two wins, limit by limit. Nothing here widens what a
//! manifest grants.

use std::sync::Arc;

use attest::{bundle, Limits, Signers};

use crate::cache::CodeCache;
use crate::compile::Compilation;
use crate::engine::{self, EpochTicker};
use crate::error::LoadError;
use crate::host_fns::HostFunctions;
pub use crate::policy::{CancelHandle, HostPolicy, RunOptions};
use crate::runner::{Enclave, EngineShared, Slots};

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
pub struct SharedEngine(Arc<EngineShared>, EngineConfig);

impl SharedEngine {
    /// Creates the engine, reserves its pool and starts its epoch thread.
    ///
    /// # Errors
    /// [`LoadError::Engine`] when wasmtime refuses the configuration (for example zero slots)
    /// or the operating system the address space or the thread.
    pub fn new(config: EngineConfig) -> Result<Self, LoadError> {
        let engine = engine::build_shared(
            config.pool_slots,
            config.slot_memory_bytes,
            config.max_stack_bytes,
            config.fuel,
        )
        .map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let ticker = EpochTicker::start(&engine).map_err(|e| LoadError::Engine(e.to_string()))?;
        Ok(Self(
            Arc::new(EngineShared {
                engine,
                slots: Arc::new(Slots::new(config.pool_slots)),
                ticker: Arc::new(ticker),
                max_stack_bytes: config.max_stack_bytes,
                slot_memory_bytes: config.slot_memory_bytes,
                fuel: config.fuel,
            }),
            config,
        ))
    }

    /// How the engine was sized.
    pub fn config(&self) -> EngineConfig {
        self.1
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
        let shared = self.engine.as_ref().map(SharedEngine::shared);
        let compilation = Compilation::InProcess;
        Enclave::assemble(bundle, cache, compilation, &self.policy, &self.host, shared)
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

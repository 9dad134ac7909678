//! What a host decides for the runs of the enclaves it loads: the [`HostPolicy`] caps on the
//! author's limits (the stricter wins), and for each run its [`RunOptions`] (the export to call,
//! a [`CancelHandle`]). Re-exported by [`crate::embed`], where `docs/embedding.md` starts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use attest::Limits;

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
    /// The wasm stack is the engine's business (`crate::embed::EngineConfig::max_stack_bytes`).
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
/// next epoch tick ([`crate::engine::EPOCH_TICK`]) that finds the guest executing wasm (a host
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

//! Loading a signed bundle into an isolated store and running it.
//!
//! `Enclave::load` verifies the bundle (signature, manifest, trusted signer), recomputes the
//! measurement from the bytes it loaded, compiles the module and checks its imports against the
//! granted ABI. `Enclave::run` gives each run a fresh store with the manifest's limits, so
//! nothing of one run's memory is visible to the next.
//!
//! Fast paths: `Enclave::load_cached` takes compiled code from an authenticated cache
//! ([`crate::cache`]) instead of compiling; each run takes a pre-reserved instance slot from the
//! engine's pool ([`engine::build_pooled`]); and runs made on a thread started by
//! [`Enclave::on_guest_thread`] execute right there, without a thread of their own.
//!
//! Native guests (`kind = "enclave"`) link the enclave ABI ([`crate::abi`]); WASI guests
//! (`kind = "wasi"`) link WASI preview 1 ([`crate::wasi`]). Both get the same store setup and
//! limits, and the same I/O accounting.

use std::cell::Cell;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use attest::bundle::{self, VerifiedBundle};
use attest::receipt::StoreVersion;
use attest::{Capability, GuestKind, Limits, Manifest, Measurement, Signers};
use wasmtime::{Engine, InstancePre, Linker, Module, ResourceLimiter, Store, Trap};

use crate::abi;
use crate::cache::{CacheOutcome, CodeCache};
use crate::compile::{self, Code, Compilation, Target};
#[cfg(feature = "http")]
use crate::component;
use crate::engine::{self, EngineSettings, EpochTicker, Flavor, Metering};
#[cfg(feature = "wasi")]
use crate::error::GuestMessage;
use crate::error::{LoadError, RunError};
use crate::failure::{classify, Cancelled};
use crate::host::{GuestIo, HostState, Input, InputFailure, InputOrigin, IoSummary, OutputSink};
use crate::host_fns::HostFunctions;
use crate::policy::{CancelHandle, HostPolicy, RunOptions};
use crate::services::{ReportIssuer, RunScope, ServiceRefused};
#[cfg(feature = "wasi")]
use crate::wasi::{self, SharedIo, WasiState, MODULE as WASI_MODULE};

/// The import module of WASI preview 1 (`crate::wasi::MODULE` when the `wasi` feature is on),
/// named in the refusal of a WASI guest under a native manifest.
#[cfg(not(feature = "wasi"))]
const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// Native stack a guest thread needs beyond the wasm stack limit, for host frames
/// ([`Enclave::guest_stack_bytes`]).
pub const HOST_STACK_HEADROOM: usize = 2 << 20;

thread_local! {
    /// The native stack of the current thread when [`Enclave::on_guest_thread`] started it and
    /// no run is executing on it; zero on every other thread.
    pub(crate) static GUEST_STACK: Cell<usize> = const { Cell::new(0) };
}

/// A verified, compiled enclave, ready to run any number of times.
pub struct Enclave {
    bundle: VerifiedBundle,
    engine: Engine,
    code: Code,
    linked: Linked,
    /// The engine's pool slots: the enclave's own, or those of a shared engine.
    slots: Arc<Slots>,
    cache: Option<CacheOutcome>,
    /// The manifest's limits under the host's caps ([`crate::embed::HostPolicy`]).
    limits: Limits,
    /// Whether the engine counts fuel (a shared engine may, for an unmetered enclave).
    engine_fuel: bool,
    _ticker: Arc<EpochTicker>,
}

/// The module linked against the host functions of its kind.
enum Linked {
    Native(InstancePre<HostState>),
    #[cfg(feature = "wasi")]
    Wasi(InstancePre<WasiState>),
    /// A component, served request by request ([`Enclave::http`]).
    #[cfg(feature = "http")]
    Http(component::Linked),
}

impl std::fmt::Debug for Enclave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enclave")
            .field("bundle", &self.bundle)
            .finish_non_exhaustive()
    }
}

/// What a successful run did.
pub struct RunReport<W> {
    /// The measurement of the enclave that ran.
    pub measurement: Measurement,
    /// Fuel consumed (`Some(0)` for an unmetered enclave), for a debug enclave only. `None` for
    /// a production enclave: the exact fuel of a run tells its operator which way the guest
    /// decided (docs/threat-model.md, "What the operator sees"), so it is withheld from every
    /// surface (the receipt, `--json`, logs, metrics).
    pub fuel_used: Option<u64>,
    /// Wall-clock time of instantiation and the call.
    pub duration: Duration,
    /// Input bytes read.
    pub input_bytes: u64,
    /// Output bytes written.
    pub output_bytes: u64,
    /// Debug diagnostics: the `log` capability's lines for a native guest, stderr for a WASI
    /// guest; at most 64 KiB, and always empty for production enclaves.
    pub log: Vec<u8>,
    /// The enclave's sealed store as the run left it (its version and head digest), for a guest
    /// granted the `store` capability run with platform services; `None` otherwise.
    pub store: Option<StoreVersion>,
    /// A WASI guest's exit status: `Some(0)` when it returned from `_start`, `Some(n)` when it
    /// called `proc_exit(n)` (0 to 125; a nonzero code is still a completed run whose output
    /// is released, docs/wasi.md). `None` for native guests.
    pub exit_code: Option<i32>,
    /// The output writer, handed back so the caller can finish it (seal the last chunk, commit
    /// the file).
    pub output: W,
}

impl<W> std::fmt::Debug for RunReport<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunReport")
            .field("measurement", &self.measurement)
            .field("fuel_used", &self.fuel_used)
            .field("duration", &self.duration)
            .field("input_bytes", &self.input_bytes)
            .field("output_bytes", &self.output_bytes)
            .field("exit_code", &self.exit_code)
            .finish_non_exhaustive()
    }
}

/// A module's imports and exports, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInterface {
    /// `module.name: type` for each import.
    pub imports: Vec<String>,
    /// `name: type` for each export.
    pub exports: Vec<String>,
}

impl Enclave {
    /// Verifies and compiles a bundle.
    ///
    /// `trusted_signers` is an allow-list that fails closed: an empty list trusts no one
    /// ([`attest::BundleError::NoTrustedSigners`]); [`Signers::Any`] accepts any signer (the
    /// bundle must still be validly signed).
    ///
    /// # Errors
    /// [`LoadError`] naming the first failed check.
    pub fn load(
        bundle_bytes: &[u8],
        trusted_signers: impl Into<Signers>,
    ) -> Result<Self, LoadError> {
        Self::load_cached(bundle_bytes, trusted_signers, None)
    }

    /// As [`Enclave::load`], with the compiled code taken from `cache` when it holds an
    /// authenticated entry for this module and engine, and stored there otherwise. The bundle
    /// is verified and measured the same way either way.
    ///
    /// # Errors
    /// As [`Enclave::load`]. Cache problems are not errors: the module is compiled instead.
    pub fn load_cached(
        bundle_bytes: &[u8],
        trusted_signers: impl Into<Signers>,
        cache: Option<&CodeCache>,
    ) -> Result<Self, LoadError> {
        let bundle = bundle::verify(bundle_bytes)?;
        bundle.require_signer(trusted_signers)?;
        Self::from_verified_cached(bundle, cache)
    }

    /// Compiles an already verified bundle.
    ///
    /// # Errors
    /// [`LoadError`] for an invalid module or one that imports outside the granted ABI.
    pub fn from_verified(bundle: VerifiedBundle) -> Result<Self, LoadError> {
        Self::from_verified_cached(bundle, None)
    }

    /// As [`Enclave::from_verified`], through `cache` (see [`Enclave::load_cached`]).
    ///
    /// # Errors
    /// As [`Enclave::from_verified`].
    pub fn from_verified_cached(
        bundle: VerifiedBundle,
        cache: Option<&CodeCache>,
    ) -> Result<Self, LoadError> {
        Self::from_verified_with(bundle, cache, Compilation::InProcess)
    }

    /// As [`Enclave::load_cached`], compiled as `compilation` says on a cache miss: in a
    /// [`Sandbox`](crate::compile::Sandbox) under its budget for a module the embedder does not
    /// trust.
    ///
    /// # Errors
    /// As [`Enclave::load`], and [`LoadError::CompileBudget`] when the sandbox stopped the
    /// compilation at its budget.
    pub fn load_with(
        bundle_bytes: &[u8],
        trusted_signers: impl Into<Signers>,
        cache: Option<&CodeCache>,
        compilation: Compilation<'_>,
    ) -> Result<Self, LoadError> {
        let bundle = bundle::verify(bundle_bytes)?;
        bundle.require_signer(trusted_signers)?;
        Self::from_verified_with(bundle, cache, compilation)
    }

    /// As [`Enclave::from_verified_cached`], compiled as `compilation` says (see
    /// [`Enclave::load_with`]).
    ///
    /// # Errors
    /// As [`Enclave::load_with`].
    pub fn from_verified_with(
        bundle: VerifiedBundle,
        cache: Option<&CodeCache>,
        compilation: Compilation<'_>,
    ) -> Result<Self, LoadError> {
        let (policy, host) = (HostPolicy::default(), HostFunctions::default());
        Self::assemble(bundle, cache, compilation, &policy, &host, None)
    }

    /// Compiles (as `compilation` says) and links a verified bundle under the host's `policy`,
    /// with its `host` functions, on `shared` or an engine of its own (the trusted signer was
    /// checked by the caller).
    pub(crate) fn assemble(
        bundle: VerifiedBundle,
        cache: Option<&CodeCache>,
        compilation: Compilation<'_>,
        policy: &HostPolicy,
        host: &HostFunctions,
        shared: Option<&EngineShared>,
    ) -> Result<Self, LoadError> {
        let manifest = bundle.manifest();
        let mut limits = policy.apply(&manifest.limits);
        let placed = match (shared, manifest.kind) {
            (Some(_), GuestKind::Http) => return Err(LoadError::HttpOnSharedEngine),
            (Some(shared), _) => Placement::shared(shared, &mut limits)?,
            (None, GuestKind::Http) => Placement::components(&limits)?,
            (None, _) => Placement::own(&limits)?,
        };
        let engine = placed.engine;
        let target = Target {
            engine: &engine,
            settings: placed.settings,
        };
        let (code, outcome) = match cache {
            Some(cache) => {
                let (code, outcome) = cache.code(&target, bundle.module(), compilation)?;
                (code, Some(outcome))
            }
            None => (
                compile::compile(compilation, &target, bundle.module())?.code,
                None,
            ),
        };
        let linked = match &code {
            Code::Module(module) => link(&engine, module, manifest, &limits, host)?,
            #[cfg(feature = "http")]
            Code::Component(component) => {
                Linked::Http(component::link(&engine, component, manifest)?)
            }
            #[cfg(not(feature = "http"))]
            Code::Component(_) => return Err(LoadError::HttpNotBuilt),
        };
        Ok(Self {
            bundle,
            engine,
            code,
            linked,
            slots: placed.slots,
            cache: outcome,
            limits,
            engine_fuel: placed.fuel,
            _ticker: placed.ticker,
        })
    }

    /// The limits runs get: the manifest's, under the host's caps.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// What the compiled-code cache did at load; `None` when loaded without one.
    pub fn cache_outcome(&self) -> Option<CacheOutcome> {
        self.cache
    }

    /// Runs `f` on a new thread with enough native stack for this enclave's guests. Every
    /// [`Enclave::run`] (or [`Enclave::run_sealed`]) that `f` makes, of this enclave or any other
    /// whose stack limit fits, executes on that thread instead of starting one per run: the way
    /// to serve many requests. Guest stack overflows stay traps either way.
    ///
    /// # Errors
    /// [`RunError::Host`] when the thread cannot start or `f` panics.
    pub fn on_guest_thread<R: Send>(&self, f: impl FnOnce() -> R + Send) -> Result<R, RunError> {
        let stack = self.native_stack();
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("enclave-guest".into())
                .stack_size(stack)
                .spawn_scoped(scope, || {
                    GUEST_STACK.with(|s| s.set(stack));
                    f()
                })
                .map_err(|e| RunError::Host(format!("cannot start the guest thread: {e}")))?
                .join()
                .map_err(|_| RunError::Host("the guest thread panicked".into()))
        })
    }

    /// How many of the enclave's instance slots are free now, out of [`engine::POOL_INSTANCES`]:
    /// a run takes one for its duration (at most that many runs execute at once; more wait). A
    /// server reports it, and its tests check that every slot comes back.
    pub fn free_instance_slots(&self) -> u32 {
        self.slots.free()
    }

    /// The native stack a thread needs to run this enclave's guests itself: the wasm stack
    /// limit and [`HOST_STACK_HEADROOM`] for host frames. An embedder's worker threads made with
    /// at least this stack can become guest threads ([`crate::embed::GuestThread`]).
    pub fn guest_stack_bytes(&self) -> usize {
        self.native_stack()
    }

    /// The native stack a run needs: the wasm stack limit and room for host frames.
    fn native_stack(&self) -> usize {
        let stack = self.limits.stack_bytes;
        usize::try_from(stack)
            .unwrap_or(usize::MAX)
            .saturating_add(HOST_STACK_HEADROOM)
    }

    /// The verified bundle this enclave was loaded from.
    pub fn bundle(&self) -> &VerifiedBundle {
        &self.bundle
    }

    /// The identity sealing keys see: measurement, signer, product id, svn and debug mode.
    pub fn identity(&self) -> sealer::EnclaveIdentity {
        identity_of(&self.bundle)
    }

    /// The measurement, recomputed at load from the bytes loaded.
    pub fn measurement(&self) -> Measurement {
        self.bundle.measurement()
    }

    /// The module's imports and exports.
    pub fn interface(&self) -> ModuleInterface {
        interface(&self.code)
    }

    /// Whether this is an `http` enclave (`kind = "http"`): a component that answers HTTP
    /// requests ([`Enclave::http`]) rather than runs.
    pub fn is_http(&self) -> bool {
        self.bundle.manifest().kind == GuestKind::Http
    }

    /// Starts answering `request` with a fresh instance of an `http` enclave's component
    /// (`docs/abi.md`, "Components"): drive [`component::Exchange::run`] on the executor and
    /// await [`component::Exchange::response`]. `services` serve the `enclave:platform`
    /// interfaces. The request comes with its whole body (as every surface receives it, so that a
    /// slow client holds no instance), which must already be bounded by the manifest's
    /// `max_input_bytes`; the caller bounds the whole exchange in wall-clock time.
    ///
    /// For a component granted `store` this takes the request's store transaction first,
    /// waiting for the request that holds it: call it where blocking is allowed.
    ///
    /// # Errors
    /// [`RunError::HttpKind`]'s opposite, [`RunError::Host`], for an enclave that is not an
    /// `http` one, or when the store cannot be held.
    #[cfg(feature = "http")]
    pub fn http(
        &self,
        request: http::Request<bytes::Bytes>,
        scheme: component::Scheme,
        services: Option<Arc<dyn ReportIssuer>>,
    ) -> Result<component::Exchange, RunError> {
        let Linked::Http(linked) = &self.linked else {
            return Err(RunError::Host(format!(
                "this enclave's manifest says kind = \"{}\": only a kind = \"http\" enclave \
                 answers HTTP requests",
                self.bundle.manifest().kind
            )));
        };
        component::Request {
            linked,
            engine: &self.engine,
            manifest: self.bundle.manifest(),
            limits: &self.limits,
            engine_fuel: self.engine_fuel,
        }
        .start(request, scheme, services)
    }

    /// Runs the guest once on `input`, writing to `output`, in a fresh store.
    ///
    /// A run executes on a guest thread: one started by [`Enclave::on_guest_thread`], or an
    /// embedder's own thread inside a [`crate::embed::GuestThread`], with at least
    /// [`Enclave::guest_stack_bytes`] of stack. Called from any other thread, every run starts
    /// a thread of its own and joins it, which costs tens to hundreds of microseconds per run
    /// (32–248 µs against 5–54 µs on a guest thread, measured for issue 32): a host that runs
    /// often should run from guest threads.
    ///
    /// `reporter` serves the `report` capability; without one, report calls fail with
    /// `ERR_FAILED`.
    ///
    /// # Errors
    /// [`RunError`] naming the cause; whatever reached `output` before it must be discarded.
    pub fn run<W: Write + Send + 'static>(
        &self,
        input: Input,
        output: W,
        reporter: Option<Arc<dyn ReportIssuer>>,
    ) -> Result<RunReport<W>, RunError> {
        self.run_with(input, output, reporter, &RunOptions::default())
    }

    /// Calls the native guest's export `name` (`[] -> []`, reading `input` and writing its
    /// output through the ABI's input and output functions like `enclave_main`) in a fresh
    /// store, and returns what it wrote: [`Enclave::run_with`] with [`RunOptions::export`].
    ///
    /// # Errors
    /// [`RunError::NoSuchExport`] when there is no such function; otherwise as
    /// [`Enclave::run`].
    pub fn call(
        &self,
        name: &str,
        input: &[u8],
        reporter: Option<Arc<dyn ReportIssuer>>,
        options: &RunOptions,
    ) -> Result<Vec<u8>, RunError> {
        let options = options.clone().export(name);
        let input = Input::from_bytes(input.to_vec());
        Ok(self.run_with(input, Vec::new(), reporter, &options)?.output)
    }

    /// As [`Enclave::run`], made as `options` say: the export it calls and the
    /// [`CancelHandle`] that may stop it.
    ///
    /// # Errors
    /// As [`Enclave::run`]; [`RunError::Cancelled`] when the handle cancelled the run,
    /// [`RunError::NoSuchExport`] for an export that is not a `[] -> []` function.
    pub fn run_with<W: Write + Send + 'static>(
        &self,
        input: Input,
        output: W,
        reporter: Option<Arc<dyn ReportIssuer>>,
        options: &RunOptions,
    ) -> Result<RunReport<W>, RunError> {
        self.run_with_store(input, output, reporter, options).0
    }

    /// [`Enclave::run_with`], and the store's state the run left, failed runs included (for
    /// the receipt of a confidential run).
    pub(crate) fn run_with_store<W: Write + Send + 'static>(
        &self,
        input: Input,
        output: W,
        reporter: Option<Arc<dyn ReportIssuer>>,
        options: &RunOptions,
    ) -> (Result<RunReport<W>, RunError>, Option<StoreVersion>) {
        let mut store = None;
        let report = self.run_checked(input, output, reporter, options, &mut store);
        (report, store)
    }

    fn run_checked<W: Write + Send + 'static>(
        &self,
        input: Input,
        output: W,
        reporter: Option<Arc<dyn ReportIssuer>>,
        options: &RunOptions,
        store: &mut Option<StoreVersion>,
    ) -> Result<RunReport<W>, RunError> {
        let manifest = self.bundle.manifest();
        if manifest.kind == GuestKind::Http {
            return Err(RunError::HttpKind);
        }
        if manifest.inputs.sealed_only && input.origin() == InputOrigin::Plaintext {
            return Err(RunError::PlaintextRefused);
        }
        let limits = &self.limits;
        if input.len() > limits.max_input_bytes {
            return Err(RunError::InputTooLarge {
                size: input.len(),
                limit: limits.max_input_bytes,
            });
        }
        let stack = self.native_stack();
        let here = GUEST_STACK.with(Cell::get);
        let report = if here >= stack {
            // A thread from `on_guest_thread` with stack to spare. While the guest runs, a nested
            // run (from a host function) would find no stack recorded and start its own thread.
            GUEST_STACK.with(|s| s.set(0));
            let report = self.run_here(input, Box::new(output), reporter, options, store);
            GUEST_STACK.with(|s| s.set(here));
            report
        } else {
            std::thread::scope(|scope| {
                std::thread::Builder::new()
                    .name("enclave-guest".into())
                    .stack_size(stack)
                    .spawn_scoped(scope, || {
                        self.run_here(input, Box::new(output), reporter, options, store)
                    })
                    .map_err(|e| RunError::Host(format!("cannot start the guest thread: {e}")))?
                    .join()
                    .map_err(|_| RunError::Host("the guest thread panicked".into()))?
            })
        };
        // The one place a run's outcome leaves the runtime. A debug enclave's operator may read
        // what its guest says and how much fuel it used; a production guest's words stay
        // confidential (`RunError::guest_message`) and its fuel is withheld.
        let debug = self.bundle.manifest().debug;
        let report = report.map_err(|e| if debug { e.disclose_guest_message() } else { e });
        report.and_then(|report| {
            let RunReport {
                measurement,
                fuel_used,
                duration,
                input_bytes,
                output_bytes,
                log,
                store,
                exit_code,
                output,
            } = report;
            let output = output.into_any().downcast::<W>().map_err(|_| {
                RunError::Host("output writer changed type during the run (a bug)".into())
            })?;
            let output = *output;
            Ok(RunReport {
                measurement,
                fuel_used: fuel_used.filter(|_| debug),
                duration,
                input_bytes,
                output_bytes,
                log,
                store,
                exit_code,
                output,
            })
        })
    }

    /// Runs the guest on this thread; `store` gets the store's state the run left, read while
    /// the run still holds the store (so no other run comes between), whether or not it failed.
    fn run_here(
        &self,
        input: Input,
        output: Box<dyn OutputSink>,
        reporter: Option<Arc<dyn ReportIssuer>>,
        options: &RunOptions,
        store: &mut Option<StoreVersion>,
    ) -> Result<RunReport<Box<dyn OutputSink>>, RunError> {
        let manifest = self.bundle.manifest();
        let started = Instant::now();
        let origin = input.origin();
        let io = GuestIo::new(input, output, &self.limits, manifest.debug);
        let cancel = options.cancel.as_ref();
        let (summary, fuel_left, exit_code) = match &self.linked {
            Linked::Native(pre) => {
                // Held to the end of the run: its store operations are one transaction.
                let held = match &reporter {
                    Some(services) if manifest.grants(Capability::Store) => {
                        services.begin_run().map_err(store_refused)?
                    }
                    _ => RunScope::default(),
                };
                let holder = reporter
                    .clone()
                    .filter(|_| manifest.grants(Capability::Store));
                let state = HostState::new(io, origin, &self.limits, reporter);
                let entry = options.export.as_deref().unwrap_or(abi::ENTRY);
                let executed = self.execute(pre, state, entry, cancel);
                *store = holder.and_then(|services| services.store_version());
                drop(held);
                let (state, fuel_left, _) = executed?;
                (finish(state.into_io())?, fuel_left, None)
            }
            #[cfg(feature = "wasi")]
            Linked::Wasi(_) if options.export.is_some() => {
                let name = options.export.clone().unwrap_or_default();
                return Err(RunError::NoSuchExport(name));
            }
            #[cfg(feature = "wasi")]
            Linked::Wasi(pre) => {
                let (summary, fuel_left, code) = self.run_wasi(pre, io, cancel)?;
                (summary, fuel_left, Some(code))
            }
            #[cfg(feature = "http")]
            Linked::Http(_) => return Err(RunError::HttpKind),
        };
        let IoSummary {
            mut output,
            input_bytes,
            output_bytes,
            log,
        } = summary;
        output.flush().map_err(RunError::Output)?;
        Ok(RunReport {
            measurement: self.bundle.measurement(),
            fuel_used: Some(self.limits.fuel.saturating_sub(fuel_left)),
            duration: started.elapsed(),
            input_bytes,
            output_bytes,
            log,
            store: *store,
            exit_code,
            output,
        })
    }

    /// Runs a WASI command: its stdio streams share `io` with this function, which takes it back
    /// once the store (and with it every stream) is gone.
    #[cfg(feature = "wasi")]
    fn run_wasi(
        &self,
        pre: &InstancePre<WasiState>,
        io: GuestIo,
        cancel: Option<&CancelHandle>,
    ) -> Result<(IoSummary, u64, i32), RunError> {
        let manifest = self.bundle.manifest();
        let io: SharedIo = Arc::new(Mutex::new(io));
        let refused = wasi::LastRefusal::default();
        let state = WasiState::new(&io, manifest, refused.clone()).capped(&self.limits);
        let outcome = self.execute(pre, state, wasi::ENTRY, cancel);
        let outcome = outcome.map(|(state, fuel_left, code)| {
            drop(state);
            (fuel_left, code.unwrap_or(0))
        });
        let io = Arc::try_unwrap(io)
            .map_err(|_| RunError::Host("a WASI stream outlived its run (a bug)".into()))?
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        match outcome {
            // A clean exit, whatever its code: the program chose to stop, and its code is part
            // of its answer (docs/wasi.md, "Exit status").
            Ok((fuel_left, code)) => Ok((finish(io)?, fuel_left, code)),
            Err(RunError::Trap(trap)) => {
                let mut text = trap;
                if let Some(refusal) = refused.last() {
                    text = format!("{text} ({refusal})");
                }
                // What the program said before it trapped (a Rust panic message) is its own
                // words: the requester's, and the operator's only for a debug enclave.
                let words = io.stderr_words().trim_ascii();
                if words.is_empty() {
                    Err(RunError::Trap(text))
                } else {
                    Err(RunError::TrapWithStderr {
                        trap: text,
                        stderr: GuestMessage::from_guest_bytes(words),
                    })
                }
            }
            Err(error) => Err(error),
        }
    }

    /// Instantiates and calls `entry` in a fresh store with the manifest's limits. Returns the
    /// store's state, the fuel left and the code of a WASI `proc_exit`, if the guest called it.
    fn execute<T: GuestState>(
        &self,
        pre: &InstancePre<T>,
        state: T,
        entry: &str,
        cancel: Option<&CancelHandle>,
    ) -> Result<(T, u64, Option<i32>), RunError> {
        let limits = &self.limits;
        if cancel.is_some_and(CancelHandle::is_cancelled) {
            return Err(RunError::Cancelled);
        }
        // Declared before the store, so the slot is given back after the store (and with it the
        // instance) is gone.
        let _slot = self.slots.acquire();
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| state.limiter());
        let fuel_error = |e: wasmtime::Error| RunError::Host(format!("{e:#}"));
        let metered = limits.is_metered();
        if metered {
            store.set_fuel(limits.fuel).map_err(fuel_error)?;
        } else if self.engine_fuel {
            // A shared engine counts fuel; this enclave's runs are bounded by time alone.
            store.set_fuel(u64::MAX).map_err(fuel_error)?;
        }
        let ticks = engine::deadline_ticks(limits.timeout_ms);
        match cancel {
            None => {
                store.set_epoch_deadline(ticks);
                store.epoch_deadline_trap();
            }
            Some(cancel) => deadline_or_cancel(&mut store, ticks, cancel.clone()),
        }

        let instance = pre
            .instantiate(&mut store)
            .map_err(|e| classify(e, limits, true))?;
        let entry = instance
            .get_typed_func::<(), ()>(&mut store, entry)
            .map_err(|_| RunError::NoSuchExport(entry.to_owned()))?;
        let exit_code = match entry.call(&mut store, ()) {
            Ok(()) => None,
            Err(e) => match wasi_exit(&e) {
                Some(code) => Some(code),
                None => return Err(classify(e, limits, false)),
            },
        };
        let fuel_left = if metered {
            store.get_fuel().map_err(fuel_error)?
        } else {
            0
        };
        Ok((store.into_data(), fuel_left, exit_code))
    }
}

/// The identity the enclave of a verified `bundle` has, as sealing keys see it.
pub fn identity_of(bundle: &VerifiedBundle) -> sealer::EnclaveIdentity {
    let manifest = bundle.manifest();
    sealer::EnclaveIdentity {
        measurement: bundle.measurement(),
        signer: bundle.signer_id(),
        product_id: manifest.product_id,
        svn: manifest.svn,
        debug: manifest.debug,
    }
}

/// Counts the engine pool's free instance slots, so that a run beyond the pool's capacity waits
/// for one instead of failing.
pub(crate) struct Slots {
    state: Mutex<SlotCount>,
    returned: Condvar,
}

struct SlotCount {
    free: u32,
    /// Runs blocked in [`Slots::acquire`]: a returned slot wakes one only if there is one (a
    /// condition variable's notify is a system call even with nobody waiting).
    waiting: u32,
}

/// A taken slot; given back on drop.
struct Slot<'a>(&'a Slots);

impl Slots {
    pub(crate) fn new(count: u32) -> Self {
        Self {
            state: Mutex::new(SlotCount {
                free: count,
                waiting: 0,
            }),
            returned: Condvar::new(),
        }
    }

    /// Free slots now.
    pub(crate) fn free(&self) -> u32 {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .free
    }

    fn acquire(&self) -> Slot<'_> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while state.free == 0 {
            state.waiting = state.waiting.saturating_add(1);
            state = self
                .returned
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.waiting = state.waiting.saturating_sub(1);
        }
        state.free -= 1;
        Slot(self)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.free = state.free.saturating_add(1);
        if state.waiting > 0 {
            self.0.returned.notify_one();
        }
    }
}

impl std::fmt::Debug for Slots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slots").field("free", &self.free()).finish()
    }
}

/// What the enclaves of one shared engine (`crate::embed::SharedEngine`) share, and how it was
/// sized.
#[derive(Debug)]
pub(crate) struct EngineShared {
    pub(crate) engine: Engine,
    pub(crate) slots: Arc<Slots>,
    pub(crate) ticker: Arc<EpochTicker>,
    pub(crate) max_stack_bytes: u64,
    pub(crate) slot_memory_bytes: u64,
    pub(crate) fuel: bool,
}

/// Where an enclave runs: an engine, its pool's slots and its epoch thread.
struct Placement {
    engine: Engine,
    /// What code compiled for `engine` is built with (a compile sandbox's engine).
    settings: EngineSettings,
    slots: Arc<Slots>,
    ticker: Arc<EpochTicker>,
    fuel: bool,
}

impl Placement {
    /// An engine of the enclave's own, sized for `limits`.
    fn own(limits: &Limits) -> Result<Self, LoadError> {
        let engine =
            engine::build_pooled(limits).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let ticker = EpochTicker::start(&engine).map_err(|e| LoadError::Engine(e.to_string()))?;
        Ok(Self {
            engine,
            settings: engine::settings_of(limits),
            slots: Arc::new(Slots::new(engine::POOL_INSTANCES)),
            ticker: Arc::new(ticker),
            fuel: limits.is_metered(),
        })
    }

    /// An engine of the enclave's own for a component (`kind = "http"`): instances on demand,
    /// at most [`engine::POOL_INSTANCES`] requests at once.
    fn components(limits: &Limits) -> Result<Self, LoadError> {
        let engine =
            engine::build_components(limits).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let ticker = EpochTicker::start(&engine).map_err(|e| LoadError::Engine(e.to_string()))?;
        Ok(Self {
            engine,
            settings: engine::settings_for(limits, Flavor::Component),
            slots: Arc::new(Slots::new(engine::POOL_INSTANCES)),
            ticker: Arc::new(ticker),
            fuel: limits.is_metered(),
        })
    }

    /// A place on `shared`, whose slot size caps `limits.memory_bytes` and whose stack the
    /// enclave gets.
    fn shared(shared: &EngineShared, limits: &mut Limits) -> Result<Self, LoadError> {
        let config = shared;
        if limits.stack_bytes > config.max_stack_bytes {
            return Err(LoadError::StackAboveEngine {
                stack_bytes: limits.stack_bytes,
                limit: config.max_stack_bytes,
            });
        }
        if limits.is_metered() && !config.fuel {
            return Err(LoadError::Engine(
                "the enclave has a fuel budget but the shared engine counts no fuel".into(),
            ));
        }
        limits.stack_bytes = config.max_stack_bytes;
        limits.memory_bytes = limits.memory_bytes.min(config.slot_memory_bytes);
        let metering = if config.fuel {
            Metering::Fuel
        } else {
            Metering::TimeOnly
        };
        Ok(Self {
            engine: shared.engine.clone(),
            settings: EngineSettings {
                stack_bytes: config.max_stack_bytes,
                metering,
                flavor: Flavor::Core,
            },
            slots: Arc::clone(&shared.slots),
            ticker: Arc::clone(&shared.ticker),
            fuel: config.fuel,
        })
    }
}

/// The code of a WASI guest's `proc_exit`, if that is what ended the call.
#[cfg(feature = "wasi")]
fn wasi_exit(error: &wasmtime::Error) -> Option<i32> {
    error
        .downcast_ref::<wasmtime_wasi::I32Exit>()
        .map(|exit| exit.0)
}

/// Without WASI, no call ends in `proc_exit`.
#[cfg(not(feature = "wasi"))]
fn wasi_exit(_error: &wasmtime::Error) -> Option<i32> {
    None
}

/// Ends the run after `ticks` epoch ticks, or at the first tick after `cancel` is cancelled.
fn deadline_or_cancel<T>(store: &mut Store<T>, ticks: u64, cancel: CancelHandle) {
    let mut left = ticks;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if cancel.is_cancelled() {
            return Err(Cancelled.into());
        }
        left = left.saturating_sub(1);
        if left == 0 {
            return Err(Trap::Interrupt.into());
        }
        Ok(wasmtime::UpdateDeadline::Continue(1))
    });
}

/// The store state of either kind of guest.
trait GuestState: Send + 'static {
    fn limiter(&mut self) -> &mut dyn ResourceLimiter;
}

impl GuestState for HostState {
    fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        HostState::limiter(self)
    }
}

#[cfg(feature = "wasi")]
impl GuestState for WasiState {
    fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        WasiState::limiter(self)
    }
}

/// Checks the module's imports against its kind's host functions and links it.
fn link(
    engine: &Engine,
    module: &Module,
    manifest: &Manifest,
    limits: &Limits,
    host: &HostFunctions,
) -> Result<Linked, LoadError> {
    let setup = |e: wasmtime::Error| LoadError::Engine(format!("{e:#}"));
    let invalid = |e: wasmtime::Error| LoadError::InvalidModule(format!("{e:#}"));
    check_kind(module, manifest.kind)?;
    check_initial_memory(module, limits.memory_bytes)?;
    match manifest.kind {
        GuestKind::Enclave => {
            check_native(module, manifest, host)?;
            let mut linker = Linker::new(engine);
            abi::define(&mut linker, manifest).map_err(setup)?;
            host.define_in(&mut linker).map_err(setup)?;
            Ok(Linked::Native(
                linker.instantiate_pre(module).map_err(invalid)?,
            ))
        }
        #[cfg(not(feature = "wasi"))]
        GuestKind::Wasi => Err(LoadError::WasiNotBuilt),
        GuestKind::Http => Err(LoadError::from(
            crate::module_limits::ModuleLimitError::NotComponent,
        )),
        #[cfg(feature = "wasi")]
        GuestKind::Wasi => {
            wasi::check_module(module)?;
            let mut linker = Linker::new(engine);
            wasi::define(&mut linker, manifest).map_err(setup)?;
            Ok(Linked::Wasi(
                linker.instantiate_pre(module).map_err(invalid)?,
            ))
        }
    }
}

/// Checks a native module's imports: the ABI's (with the manifest's grants) and the host's
/// functions, every problem listed.
fn check_native(
    module: &Module,
    manifest: &Manifest,
    host: &HostFunctions,
) -> Result<(), LoadError> {
    let mut problems = host.check_module(module);
    match abi::check_module(module, manifest) {
        Ok(()) if problems.is_empty() => Ok(()),
        Ok(()) => Err(LoadError::ForbiddenImports(problems)),
        Err(LoadError::ForbiddenImports(mut abi)) => {
            abi.append(&mut problems);
            Err(LoadError::ForbiddenImports(abi))
        }
        Err(error) => Err(error),
    }
}

/// Refuses a module written for the other kind (it imports the other kind's host functions and
/// none of its own), with the kind it needs: the mistake behind most "not part of the ABI"
/// refusals of a module that is otherwise fine. A module mixing both gets the full list of
/// offending imports from its kind's check instead.
fn check_kind(module: &Module, declared: GuestKind) -> Result<(), LoadError> {
    let (own, other) = match declared {
        GuestKind::Enclave => (abi::MODULE, WASI_MODULE),
        GuestKind::Wasi => (WASI_MODULE, abi::MODULE),
        // A component is never linked here (`module_limits::check_component` refuses a core
        // module under kind = "http" before it compiles).
        GuestKind::Http => return Ok(()),
    };
    if module.imports().any(|import| import.module() == own) {
        return Ok(());
    }
    let imports: Vec<String> = module
        .imports()
        .filter(|import| import.module() == other)
        .map(|import| format!("{}.{}", import.module(), import.name()))
        .collect();
    if imports.is_empty() {
        Ok(())
    } else {
        Err(LoadError::WrongKind { declared, imports })
    }
}

/// Refuses a module whose memory starts larger than `memory_bytes`: no run of it could ever
/// instantiate, so it is refused when signed and loaded rather than on every run.
fn check_initial_memory(module: &Module, memory_bytes: u64) -> Result<(), LoadError> {
    let memories = module.exports().filter_map(|e| e.ty().memory().cloned());
    let imported = module.imports().filter_map(|i| i.ty().memory().cloned());
    for memory in memories.chain(imported) {
        let page = memory.page_size();
        let minimum = memory.minimum().saturating_mul(page);
        if minimum > memory_bytes {
            return Err(LoadError::MemoryBelowMinimum {
                minimum,
                limit: memory_bytes,
            });
        }
    }
    Ok(())
}

/// A store that could not be held for a run: the run does not start.
fn store_refused(refused: ServiceRefused) -> RunError {
    match refused.status() {
        Err(fault) => RunError::Fault(fault),
        Ok(status) => RunError::Host(format!("the platform refused the store (status {status})")),
    }
}

/// Authenticates the rest of the input (see [`GuestIo::drain_input`]) and hands back the I/O.
fn finish(mut io: GuestIo) -> Result<IoSummary, RunError> {
    io.drain_input()
        .map_err(|InputFailure(e)| RunError::Input(e))?;
    Ok(io.finish())
}

/// Compiles `module` with the default engine and lists its interface, without checking it
/// against any manifest (for `enclave inspect`).
///
/// # Errors
/// [`LoadError::InvalidModule`].
pub fn describe_module(module: &[u8]) -> Result<ModuleInterface, LoadError> {
    describe_module_with(module, Compilation::InProcess)
}

/// As [`describe_module`], compiled as `compilation` says.
///
/// # Errors
/// [`LoadError::InvalidModule`], [`LoadError::ModuleLimit`], [`LoadError::CompileBudget`].
pub fn describe_module_with(
    module: &[u8],
    compilation: Compilation<'_>,
) -> Result<ModuleInterface, LoadError> {
    let limits = attest::Limits::default();
    let settings = engine::settings_for(&limits, Flavor::of(module));
    let engine = engine::build_for(settings).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
    let target = Target {
        engine: &engine,
        settings,
    };
    Ok(interface(
        &compile::compile(compilation, &target, module)?.code,
    ))
}

fn interface(code: &Code) -> ModuleInterface {
    match code {
        Code::Module(module) => module_interface(module),
        Code::Component(component) => component_interface(component),
    }
}

/// A component's imports and exports by name (`wasi:http/types@0.2.6: instance`).
fn component_interface(component: &wasmtime::component::Component) -> ModuleInterface {
    let ty = component.component_type();
    let engine = component.engine();
    let name = |(name, item): (&str, wasmtime::component::types::ComponentExtern<'_>)| {
        use wasmtime::component::types::ComponentItem as Item;
        let kind = match item.ty {
            Item::ComponentFunc(_) | Item::CoreFunc(_) => "func",
            Item::Module(_) => "module",
            Item::Component(_) => "component",
            Item::ComponentInstance(_) => "instance",
            Item::Type(_) => "type",
            Item::Resource(_) => "resource",
        };
        format!("{name}: {kind}")
    };
    ModuleInterface {
        imports: ty.imports(engine).map(name).collect(),
        exports: ty.exports(engine).map(name).collect(),
    }
}

fn module_interface(module: &Module) -> ModuleInterface {
    ModuleInterface {
        imports: module
            .imports()
            .map(|i| format!("{}.{}: {}", i.module(), i.name(), describe(&i.ty())))
            .collect(),
        exports: module
            .exports()
            .map(|e| format!("{}: {}", e.name(), describe(&e.ty())))
            .collect(),
    }
}

fn describe(ty: &wasmtime::ExternType) -> String {
    match ty {
        wasmtime::ExternType::Func(f) => format!("func {}", abi::render_func(f)),
        wasmtime::ExternType::Memory(m) => {
            format!(
                "memory (min {} pages{})",
                m.minimum(),
                m.maximum()
                    .map(|x| format!(", max {x}"))
                    .unwrap_or_default()
            )
        }
        wasmtime::ExternType::Table(_) => "table".into(),
        wasmtime::ExternType::Global(_) => "global".into(),
        wasmtime::ExternType::Tag(_) => "tag".into(),
    }
}

#[cfg(test)]
mod tests;

//! WASI preview 1 guests (`kind = "wasi"`): unmodified `wasm32-wasip1` commands whose only
//! capability is stdio, as specified in `docs/wasi.md`.
//!
//! wasmtime-wasi's preview-1 context serves arguments, the (empty) environment and the three
//! stdio descriptors; its stdin, stdout and stderr are the run's input, output and diagnostics
//! (`stdio`), under the same limits as a native guest. Every other preview-1 function is
//! shadowed in the linker by a definition from `functions::FUNCTIONS`: the clocks and
//! randomness the manifest grants are implemented here, and everything else returns an errno
//! without doing anything. So a refused call never reaches wasmtime-wasi, let alone the host:
//! there are no preopened directories, no environment variables and no sockets to reach.

mod functions;
mod stdio;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use attest::{Capability, Manifest};
use wasmtime::{Caller, Extern, ExternType, FuncType, Linker, Module, ResourceLimiter, Val};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtxBuilder};

use crate::abi;
use crate::error::{GuestFault, LoadError};
use crate::host::{GuestIo, Limiter};

pub use functions::Errno;
use functions::{Behaviour, WasiFunction, FUNCTIONS};

/// The import module of WASI preview 1.
pub const MODULE: &str = "wasi_snapshot_preview1";
/// A WASI command's entry point.
pub const ENTRY: &str = "_start";
/// `argv[0]` of every WASI guest; the manifest's `args` follow it.
pub const PROGRAM_NAME: &str = "enclave";

/// A run's I/O, shared between the runner and the streams of the WASI context.
pub(crate) type SharedIo = Arc<Mutex<GuestIo>>;

/// Everything a running WASI guest can reach: one per run, dropped with its store.
pub struct WasiState {
    limiter: Limiter,
    ctx: WasiP1Ctx,
    started: Instant,
    refused: LastRefusal,
}

/// The last call the runtime refused a WASI guest, shared with the runner so that a run which
/// then traps can say what was refused: Rust std panics (a wasm `unreachable` trap) when
/// `random_get` or a clock is refused, and "unreachable" alone tells its author nothing.
#[derive(Debug, Clone, Default)]
pub(crate) struct LastRefusal(Arc<Mutex<Option<Refusal>>>);

impl LastRefusal {
    fn record(&self, function: &'static str, capability: Option<Capability>) {
        let mut last = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *last = Some(Refusal {
            function,
            capability,
        });
    }

    /// The last refusal of the run, if any.
    pub(crate) fn last(&self) -> Option<Refusal> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A refused call: the function, and the capability that would have granted it (none grants
/// the file system, sockets or signals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    function: &'static str,
    capability: Option<Capability>,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let function = self.function;
        match self.capability {
            Some(capability) => write!(
                f,
                "after the enclave refused {MODULE}.{function}: grant it with capabilities = \
                 [\"{}\"] in the manifest{}",
                capability.name(),
                match capability {
                    Capability::Random => " (Rust std's HashMap needs it)",
                    _ => "",
                }
            ),
            None => write!(
                f,
                "after the enclave refused {MODULE}.{function}, which no capability grants \
                 (docs/wasi.md)"
            ),
        }
    }
}

impl std::fmt::Debug for WasiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasiState")
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

impl WasiState {
    /// The state of one run of a guest with `manifest`, whose stdio is `io`.
    pub(crate) fn new(io: &SharedIo, manifest: &Manifest, refused: LastRefusal) -> Self {
        Self {
            limiter: Limiter::new(&manifest.limits),
            ctx: context(io, &manifest.args),
            started: Instant::now(),
            refused,
        }
    }

    pub(crate) fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limiter
    }

    /// The same state with memory limited by `limits` (the manifest's under the host's caps).
    pub(crate) fn capped(mut self, limits: &attest::Limits) -> Self {
        self.limiter = Limiter::new(limits);
        self
    }
}

/// The wasmtime-wasi context: stdio and arguments, nothing else. Its clocks and random number
/// generators are frozen as well, although no guest call reaches them (they are shadowed).
fn context(io: &SharedIo, args: &[String]) -> WasiP1Ctx {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdin(stdio::Stdin::new(io))
        .stdout(stdio::Stdout::new(io))
        .stderr(stdio::Stderr::new(io))
        .arg(PROGRAM_NAME)
        .args(args)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .wall_clock(FrozenClock)
        .monotonic_clock(FrozenClock)
        .secure_random(wasmtime_wasi::Deterministic::new(vec![0]))
        .insecure_random(wasmtime_wasi::Deterministic::new(vec![0]))
        .insecure_random_seed(0);
    builder.build_p1()
}

/// A clock that always reads zero: wasmtime-wasi's clocks, which guests never reach.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// Checks every import and the required exports of a WASI module, collecting every problem.
///
/// # Errors
/// [`LoadError::ForbiddenImports`] listing each import that is not a preview-1 function with its
/// exact signature, or [`LoadError::MissingExport`].
pub fn check_module(module: &Module) -> Result<(), LoadError> {
    let problems: Vec<String> = module
        .imports()
        .filter_map(|import| {
            check_import(import.module(), import.name(), &import.ty())
                .err()
                .map(|why| format!("{}.{}: {why}", import.module(), import.name()))
        })
        .collect();
    if !problems.is_empty() {
        return Err(LoadError::ForbiddenImports(problems));
    }
    match module.get_export(ENTRY) {
        Some(ExternType::Func(f)) if f.params().len() == 0 && f.results().len() == 0 => {}
        _ => return Err(LoadError::MissingExport("function `_start: [] -> []`")),
    }
    match module.get_export("memory") {
        Some(ExternType::Memory(_)) => Ok(()),
        _ => Err(LoadError::MissingExport("memory `memory`")),
    }
}

fn check_import(module: &str, name: &str, ty: &ExternType) -> Result<(), String> {
    if module != MODULE {
        return Err(format!(
            "not part of WASI preview 1 (a WASI guest may import only from {MODULE})"
        ));
    }
    let Some(function) = functions::find(name) else {
        return Err(format!("no such function in {MODULE}"));
    };
    let ExternType::Func(func) = ty else {
        return Err("imported as a non-function".into());
    };
    if !abi::signature_matches(func, function.params, function.results) {
        return Err(format!(
            "wrong signature: expected {}, found {}",
            abi::signature(function.params, function.results),
            abi::render_func(func),
        ));
    }
    Ok(())
}

/// Defines every preview-1 function: wasmtime-wasi's for stdio, arguments, environment and
/// exit, and this module's for the rest (see `FUNCTIONS`).
///
/// # Errors
/// Only on a wasmtime definition failure (a bug).
pub fn define(linker: &mut Linker<WasiState>, manifest: &Manifest) -> wasmtime::Result<()> {
    wasmtime_wasi::p1::add_to_linker_sync(linker, |state: &mut WasiState| &mut state.ctx)?;
    let grants = Grants::of(manifest);
    linker.allow_shadowing(true);
    for function in FUNCTIONS {
        match function.behaviour {
            Behaviour::WasmtimeWasi => {}
            Behaviour::Fails(errno) => refuse(linker, function, errno)?,
            Behaviour::NoOp => {
                linker.func_wrap(MODULE, function.name, || Errno::SUCCESS.code())?;
            }
            Behaviour::ClockTime => {
                linker.func_wrap(MODULE, function.name, clock_time_get(grants))?;
            }
            Behaviour::ClockResolution => {
                linker.func_wrap(MODULE, function.name, clock_res_get(grants))?;
            }
            Behaviour::Random => {
                linker.func_wrap(MODULE, function.name, random_get(grants))?;
            }
        }
    }
    linker.allow_shadowing(false);
    Ok(())
}

/// Defines `function` as returning `errno` and doing nothing else.
fn refuse(
    linker: &mut Linker<WasiState>,
    function: &WasiFunction,
    errno: Errno,
) -> wasmtime::Result<()> {
    let name = function.name;
    let ty = FuncType::new(
        linker.engine(),
        function.params.iter().map(|&n| functions::val_type(n)),
        function.results.iter().map(|&n| functions::val_type(n)),
    );
    linker.func_new(
        MODULE,
        function.name,
        ty,
        move |caller: Caller<'_, WasiState>, _params, results| {
            // The preopen scan's EBADF is how every wasi-libc program starts: not a refusal.
            if errno == Errno::NOTCAPABLE {
                caller.data().refused.record(name, None);
            }
            if let Some(result) = results.first_mut() {
                *result = Val::I32(errno.code());
            }
            Ok(())
        },
    )?;
    Ok(())
}

/// The clock and random capabilities a manifest grants.
#[derive(Clone, Copy, Debug)]
struct Grants {
    wall: bool,
    monotonic: bool,
    random: bool,
}

impl Grants {
    fn of(manifest: &Manifest) -> Self {
        Self {
            wall: manifest.grants(Capability::ClockWall),
            monotonic: manifest.grants(Capability::ClockMonotonic),
            random: manifest.grants(Capability::Random),
        }
    }

    /// Which clock `id` names, if it is granted.
    fn clock(self, id: i32) -> Result<Clock, Errno> {
        match id {
            functions::CLOCK_REALTIME if self.wall => Ok(Clock::Wall),
            functions::CLOCK_MONOTONIC if self.monotonic => Ok(Clock::Monotonic),
            functions::CLOCK_REALTIME..=functions::CLOCK_THREAD_CPUTIME => Err(Errno::NOTCAPABLE),
            _ => Err(Errno::INVAL),
        }
    }

    /// The capability that grants clock `id`, if one does (the CPU-time clocks: none).
    fn clock_capability(id: i32) -> Option<Capability> {
        match id {
            functions::CLOCK_REALTIME => Some(Capability::ClockWall),
            functions::CLOCK_MONOTONIC => Some(Capability::ClockMonotonic),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Clock {
    Wall,
    Monotonic,
}

/// Wall clock: nanoseconds since the Unix epoch, microsecond resolution. Monotonic: nanoseconds
/// since the run started (so it says nothing about the host's uptime).
fn clock_time_get(
    grants: Grants,
) -> impl Fn(Caller<'_, WasiState>, i32, i64, i32) -> wasmtime::Result<i32> + Send + Sync + 'static
{
    move |mut caller, id, _precision, ptr| {
        let nanos = match grants.clock(id) {
            Ok(Clock::Wall) => SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
            Ok(Clock::Monotonic) => caller.data().started.elapsed().as_nanos(),
            Err(errno) => return Ok(refuse_clock(&caller, "clock_time_get", id, errno)),
        };
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
        write_guest(&mut caller, "clock_time_get", ptr, &nanos.to_le_bytes())?;
        Ok(Errno::SUCCESS.code())
    }
}

fn clock_res_get(
    grants: Grants,
) -> impl Fn(Caller<'_, WasiState>, i32, i32) -> wasmtime::Result<i32> {
    move |mut caller, id, ptr| {
        let resolution: u64 = match grants.clock(id) {
            Ok(Clock::Wall) => 1_000,
            Ok(Clock::Monotonic) => 1,
            Err(errno) => return Ok(refuse_clock(&caller, "clock_res_get", id, errno)),
        };
        write_guest(&mut caller, "clock_res_get", ptr, &resolution.to_le_bytes())?;
        Ok(Errno::SUCCESS.code())
    }
}

/// Records a refused clock call (not an unknown clock id, which is the guest's own error) and
/// returns its errno.
fn refuse_clock(
    caller: &Caller<'_, WasiState>,
    function: &'static str,
    id: i32,
    errno: Errno,
) -> i32 {
    if errno == Errno::NOTCAPABLE {
        caller
            .data()
            .refused
            .record(function, Grants::clock_capability(id));
    }
    errno.code()
}

/// Fills the buffer from the host CSPRNG, as the native `random` function does: in place, so
/// nothing the size of the guest's request is allocated (wasmtime-wasi's own `random_get` would
/// allocate it).
fn random_get(grants: Grants) -> impl Fn(Caller<'_, WasiState>, i32, i32) -> wasmtime::Result<i32> {
    move |mut caller, ptr, len| {
        if !grants.random {
            let capability = Some(Capability::Random);
            caller.data().refused.record("random_get", capability);
            return Ok(Errno::NOTCAPABLE.code());
        }
        let memory = memory(&mut caller)?;
        let dest = guest_slice(memory.data_mut(&mut caller), "random_get", ptr, len)?;
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), dest)
            .map_err(|_| GuestFault::HostRandomFailed)?;
        Ok(Errno::SUCCESS.code())
    }
}

/// A buffer outside the guest's memory. WASI says a function given an out-of-bounds pointer
/// traps, and wasmtime-wasi's functions do; so do these, and the run ends (as a native guest's
/// does, `docs/abi.md`).
#[derive(Debug, thiserror::Error)]
#[error("guest passed an out-of-bounds buffer to {MODULE}.{function} (ptr={ptr:#x}, len={len:#x})")]
struct OutOfBounds {
    function: &'static str,
    ptr: u32,
    len: u32,
}

fn memory(caller: &mut Caller<'_, WasiState>) -> Result<wasmtime::Memory, GuestFault> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => Err(GuestFault::NoMemory),
    }
}

/// The guest buffer at `ptr` of `len` bytes (both unsigned 32-bit), in place.
fn guest_slice<'a>(
    data: &'a mut [u8],
    function: &'static str,
    ptr: i32,
    len: i32,
) -> Result<&'a mut [u8], OutOfBounds> {
    let (ptr, len) = (ptr as u32, len as u32);
    let range = usize::try_from(ptr).ok().and_then(|start| {
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        Some(start..end)
    });
    range
        .and_then(|range| data.get_mut(range))
        .ok_or(OutOfBounds { function, ptr, len })
}

/// Copies `bytes` (a fixed-size result) to guest memory at `ptr`.
fn write_guest(
    caller: &mut Caller<'_, WasiState>,
    function: &'static str,
    ptr: i32,
    bytes: &[u8; 8],
) -> wasmtime::Result<()> {
    let memory = memory(caller)?;
    let dest = guest_slice(memory.data_mut(caller), function, ptr, 8)?;
    dest.copy_from_slice(bytes);
    Ok(())
}

#[cfg(test)]
mod tests;

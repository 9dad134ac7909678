//! The host side of ABI v1 (`docs/abi.md`): which imports a guest may have, checked before
//! linking, and the host functions themselves.
//!
//! Every pointer and length a guest passes is checked against its memory before the host reads or
//! writes; a bad one ends the run (see [`crate::error::GuestFault`]). A length the host copies is
//! first checked against its documented cap (`CappedLen`), so no host allocation is ever sized
//! by what a guest asked for: the guest's memory can be gigabytes, the host's copy of it is not.

use std::ops::RangeBounds;

use attest::{Capability, Manifest};
use wasmtime::{Caller, Extern, ExternType, Linker, Memory, Module, ValType};

use crate::error::{GuestFault, GuestMessage, LoadError};
use crate::host::{HostState, InputOrigin};
use crate::services::SealPolicy;

/// The import module every native guest imports from.
pub const MODULE: &str = "enclave_v1";
/// The guest's entry point.
pub const ENTRY: &str = "enclave_main";
/// The import module of the host functions an embedder grants (`crate::host_fns`), which this
/// module's check leaves to that one.
pub const HOST_MODULE: &str = "enclave_host";

/// The status codes a guest may handle; see `docs/abi.md`.
pub use crate::services::status;

/// What `input_source` writes for a sealed input: the request id, then the evidence digest.
pub const INPUT_SOURCE_LEN: usize = 64;
/// `input_source`'s result bit: the input arrived sealed.
pub const INPUT_SEALED: i32 = 1;
/// `input_source`'s result bit: the platform checked the request id against its replay window.
pub const INPUT_REPLAY_CHECKED: i32 = 2;

/// Largest single `random` request.
pub const MAX_RANDOM_BYTES: u32 = 65_536;
/// Largest `abort` message kept.
pub const MAX_ABORT_MESSAGE: usize = 1024;
/// Largest plaintext a guest may seal: 1 MiB.
pub const MAX_SEAL_PLAINTEXT: usize = sealer::blob::MAX_PLAINTEXT;
/// Largest additional data a guest may seal: 64 KiB.
pub const MAX_SEAL_AAD: usize = sealer::blob::MAX_AAD;
/// Largest key a guest may pass to `store_get`, `store_put` or `store_delete`: 256 bytes.
pub const MAX_STORE_KEY: usize = 256;
/// Largest value a guest may `store_put`: 64 KiB.
pub const MAX_STORE_VALUE: usize = 64 << 10;
/// Largest blob a guest may unseal.
pub const MAX_SEALED_BLOB: usize = sealer::blob::MAX_BLOB;
/// The nonce lengths `report` accepts: 8 ..= 64 bytes, the evidence format's own bounds.
pub const REPORT_NONCE_LEN: std::ops::RangeInclusive<usize> = attest::evidence::NONCE_LEN;
/// Largest report data `report` accepts: 64 bytes, the evidence format's own bound.
pub const MAX_REPORT_DATA: usize = attest::evidence::MAX_REPORT_DATA;

/// A wasm number type in a host function's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Num {
    I32,
    I64,
}

struct HostFn {
    name: &'static str,
    params: &'static [Num],
    results: &'static [Num],
    capability: Option<Capability>,
}

const fn host_fn(
    name: &'static str,
    params: &'static [Num],
    results: &'static [Num],
    capability: Option<Capability>,
) -> HostFn {
    HostFn {
        name,
        params,
        results,
        capability,
    }
}

use Num::{I32, I64};

/// Whether `func` has exactly the signature `params -> results`.
pub(crate) fn signature_matches(
    func: &wasmtime::FuncType,
    params: &[Num],
    results: &[Num],
) -> bool {
    func.params().map(num).eq(params.iter().map(|&n| Some(n)))
        && func.results().map(num).eq(results.iter().map(|&n| Some(n)))
}

/// ABI v1, as documented in `docs/abi.md`.
const ABI: &[HostFn] = &[
    host_fn("input_len", &[], &[I64], None),
    host_fn("read_input", &[I32, I32], &[I32], None),
    host_fn("write_output", &[I32, I32], &[I32], None),
    host_fn("abort", &[I32, I32], &[], None),
    host_fn("input_source", &[I32, I32], &[I32], None),
    host_fn("random", &[I32, I32], &[I32], Some(Capability::Random)),
    host_fn("log", &[I32, I32], &[I32], Some(Capability::Log)),
    host_fn(
        "report",
        &[I32, I32, I32, I32, I32, I32],
        &[I32],
        Some(Capability::Report),
    ),
    host_fn(
        "seal",
        &[I32, I32, I32, I32, I32, I32, I32],
        &[I32],
        Some(Capability::Seal),
    ),
    host_fn(
        "seal_at",
        &[I32, I32, I32, I32, I32, I32, I32, I32],
        &[I32],
        Some(Capability::Seal),
    ),
    host_fn("tcb_level", &[], &[I64], Some(Capability::Seal)),
    host_fn(
        "unseal",
        &[I32, I32, I32, I32, I32, I32],
        &[I64],
        Some(Capability::Seal),
    ),
    host_fn(
        "store_get",
        &[I32, I32, I32, I32],
        &[I32],
        Some(Capability::Store),
    ),
    host_fn(
        "store_put",
        &[I32, I32, I32, I32],
        &[I32],
        Some(Capability::Store),
    ),
    host_fn("store_delete", &[I32, I32], &[I32], Some(Capability::Store)),
];

/// Checks every import and the required exports of `module` against the ABI and the manifest's
/// grants, collecting every problem rather than stopping at the first.
///
/// # Errors
/// [`LoadError::ForbiddenImports`] listing each offending import, or
/// [`LoadError::MissingExport`].
pub fn check_module(module: &Module, manifest: &Manifest) -> Result<(), LoadError> {
    let problems: Vec<String> = module
        .imports()
        // Host functions are the embedder's grants, checked by `crate::host_fns`.
        .filter(|import| import.module() != HOST_MODULE)
        .filter_map(|import| {
            check_import(import.module(), import.name(), &import.ty(), manifest)
                .err()
                .map(|why| format!("{}.{}: {why}", import.module(), import.name()))
        })
        .collect();
    if !problems.is_empty() {
        return Err(LoadError::ForbiddenImports(problems));
    }
    match module.get_export(ENTRY) {
        Some(ExternType::Func(f)) if f.params().len() == 0 && f.results().len() == 0 => {}
        _ => {
            return Err(LoadError::MissingExport(
                "function `enclave_main: [] -> []`",
            ))
        }
    }
    match module.get_export("memory") {
        Some(ExternType::Memory(_)) => Ok(()),
        _ => Err(LoadError::MissingExport("memory `memory`")),
    }
}

fn check_import(
    module: &str,
    name: &str,
    ty: &ExternType,
    manifest: &Manifest,
) -> Result<(), String> {
    if module != MODULE {
        return Err("not part of the enclave ABI (no ambient capabilities)".into());
    }
    let Some(host_fn) = ABI.iter().find(|f| f.name == name) else {
        return Err(format!("no such function in {MODULE}"));
    };
    let ExternType::Func(func) = ty else {
        return Err("imported as a non-function".into());
    };
    if !signature_matches(func, host_fn.params, host_fn.results) {
        return Err(format!(
            "wrong signature: expected {}, found {}",
            signature(host_fn.params, host_fn.results),
            render_func(func),
        ));
    }
    match host_fn.capability {
        Some(cap) if !manifest.grants(cap) => {
            Err(format!("capability `{cap}` is not granted by the manifest"))
        }
        _ => Ok(()),
    }
}

pub(crate) fn num(ty: ValType) -> Option<Num> {
    match ty {
        ValType::I32 => Some(Num::I32),
        ValType::I64 => Some(Num::I64),
        _ => None,
    }
}

/// A signature as `(i32, i32) -> (i32)`.
pub(crate) fn signature(params: &[Num], results: &[Num]) -> String {
    let list = |xs: &[Num]| {
        xs.iter()
            .map(|n| if *n == I32 { "i32" } else { "i64" })
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("({}) -> ({})", list(params), list(results))
}

/// A function type as `(i32, i32) -> (i32)`, the notation of `docs/abi.md`.
pub fn render_func(func: &wasmtime::FuncType) -> String {
    let list = |tys: Vec<String>| tys.join(", ");
    format!(
        "({}) -> ({})",
        list(func.params().map(|t| t.to_string()).collect()),
        list(func.results().map(|t| t.to_string()).collect())
    )
}

/// Defines the host functions the manifest grants. Imports were checked by [`check_module`], so
/// nothing else can be asked for.
///
/// # Errors
/// Only on a wasmtime definition failure (a bug).
pub fn define(linker: &mut Linker<HostState>, manifest: &Manifest) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "input_len",
        |caller: Caller<'_, HostState>| -> i64 {
            i64::try_from(caller.data().input_remaining()).unwrap_or(i64::MAX)
        },
    )?;
    linker.func_wrap(MODULE, "read_input", read_input)?;
    linker.func_wrap(MODULE, "write_output", write_output)?;
    linker.func_wrap(MODULE, "abort", abort)?;
    linker.func_wrap(MODULE, "input_source", input_source)?;
    if manifest.grants(Capability::Random) {
        linker.func_wrap(MODULE, "random", random)?;
    }
    if manifest.grants(Capability::Log) {
        linker.func_wrap(MODULE, "log", log)?;
    }
    if manifest.grants(Capability::Report) {
        linker.func_wrap(MODULE, "report", report)?;
    }
    if manifest.grants(Capability::Seal) {
        linker.func_wrap(MODULE, "seal", seal)?;
        linker.func_wrap(MODULE, "seal_at", seal_at)?;
        linker.func_wrap(MODULE, "tcb_level", tcb_level)?;
        linker.func_wrap(MODULE, "unseal", unseal)?;
    }
    if manifest.grants(Capability::Store) {
        linker.func_wrap(MODULE, "store_get", store_get)?;
        linker.func_wrap(MODULE, "store_put", store_put)?;
        linker.func_wrap(MODULE, "store_delete", store_delete)?;
    }
    Ok(())
}

/// A guest buffer, checked against the memory's current size.
#[derive(Clone, Copy)]
struct GuestBuf {
    start: usize,
    end: usize,
}

impl GuestBuf {
    fn check(
        function: &'static str,
        ptr: i32,
        len: i32,
        memory_len: usize,
    ) -> Result<Self, GuestFault> {
        // The ABI takes both as unsigned 32-bit values.
        let (p, l) = (ptr as u32, len as u32);
        let fault = GuestFault::OutOfBounds {
            function,
            ptr: p,
            len: l,
        };
        let start = usize::try_from(p).map_err(|_| fault.clone())?;
        let end = start
            .checked_add(usize::try_from(l).map_err(|_| fault.clone())?)
            .ok_or(fault.clone())?;
        if end > memory_len {
            return Err(fault);
        }
        Ok(Self { start, end })
    }

    fn len(self) -> usize {
        self.end - self.start
    }
}

fn memory(caller: &mut Caller<'_, HostState>) -> Result<Memory, GuestFault> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => Err(GuestFault::NoMemory),
    }
}

/// A guest-supplied length within its documented cap: the only kind of length [`read_guest`]
/// copies, so a copy sized by an unchecked guest value does not compile.
#[derive(Clone, Copy, Debug)]
struct CappedLen(i32);

impl CappedLen {
    /// `len`, read as unsigned 32-bit, if `allowed` contains it; `None` is the guest's
    /// [`status::ERR_TOO_LARGE`]. Nothing of the guest's memory is touched.
    fn within(len: i32, allowed: impl RangeBounds<usize>) -> Option<Self> {
        let n = usize::try_from(len as u32).ok()?;
        allowed.contains(&n).then_some(Self(len))
    }
}

/// Copies a guest buffer, of a length already checked against its cap, out of memory.
fn read_guest(
    caller: &mut Caller<'_, HostState>,
    function: &'static str,
    ptr: i32,
    len: CappedLen,
) -> Result<Vec<u8>, GuestFault> {
    let memory = memory(caller)?;
    let data = memory.data(&caller);
    let buf = GuestBuf::check(function, ptr, len.0, data.len())?;
    Ok(data
        .get(buf.start..buf.end)
        .map(<[u8]>::to_vec)
        .unwrap_or_default())
}

/// Copies `bytes` into guest memory at `ptr`, which must have room for all of them.
fn write_guest(
    caller: &mut Caller<'_, HostState>,
    function: &'static str,
    ptr: i32,
    bytes: &[u8],
) -> Result<(), GuestFault> {
    let len = i32::try_from(bytes.len()).map_err(|_| GuestFault::OutOfBounds {
        function,
        ptr: ptr as u32,
        len: u32::MAX,
    })?;
    let memory = memory(caller)?;
    let data = memory.data_mut(caller);
    let buf = GuestBuf::check(function, ptr, len, data.len())?;
    if let Some(dest) = data.get_mut(buf.start..buf.end) {
        dest.copy_from_slice(bytes);
    }
    Ok(())
}

fn read_input(mut caller: Caller<'_, HostState>, ptr: i32, len: i32) -> wasmtime::Result<i32> {
    let memory = memory(&mut caller)?;
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let buf = GuestBuf::check("read_input", ptr, len, data.len())?;
    let dest = data.get_mut(buf.start..buf.end).unwrap_or_default();
    let n = state.read_input(dest)?;
    // `n <= len <= u32::MAX`, and the guest reads the result as an unsigned count below 2^31
    // whenever it asked for less than 2 GiB.
    Ok(i32::try_from(n).unwrap_or(i32::MAX))
}

fn write_output(mut caller: Caller<'_, HostState>, ptr: i32, len: i32) -> wasmtime::Result<i32> {
    let memory = memory(&mut caller)?;
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let buf = GuestBuf::check("write_output", ptr, len, data.len())?;
    state.write_output(data.get(buf.start..buf.end).unwrap_or_default())?;
    Ok(0)
}

fn abort(mut caller: Caller<'_, HostState>, ptr: i32, len: i32) -> wasmtime::Result<()> {
    let memory = memory(&mut caller)?;
    let data = memory.data(&caller);
    let buf = GuestBuf::check("abort", ptr, len, data.len())?;
    let shown = buf.len().min(MAX_ABORT_MESSAGE);
    let bytes = data.get(buf.start..buf.start + shown).unwrap_or_default();
    Err(GuestFault::Aborted(GuestMessage::from_guest_bytes(bytes)).into())
}

/// `input_source(out) -> flags`: see `docs/abi.md`, "Input origin". The output buffer is
/// checked against memory first; a plaintext input writes nothing and returns 0.
fn input_source(
    mut caller: Caller<'_, HostState>,
    out_ptr: i32,
    out_cap: i32,
) -> wasmtime::Result<i32> {
    const NAME: &str = "input_source";
    check_out(&mut caller, NAME, out_ptr, out_cap)?;
    let sealed = match caller.data().origin() {
        InputOrigin::Sealed(sealed) => sealed,
        _ => return Ok(0),
    };
    if capacity(out_cap) < INPUT_SOURCE_LEN {
        return Ok(status::ERR_BUFFER_TOO_SMALL);
    }
    let record = [sealed.request_id, sealed.evidence_digest].concat();
    write_guest(&mut caller, NAME, out_ptr, &record)?;
    Ok(if sealed.replay_checked {
        INPUT_SEALED | INPUT_REPLAY_CHECKED
    } else {
        INPUT_SEALED
    })
}

fn random(mut caller: Caller<'_, HostState>, ptr: i32, len: i32) -> wasmtime::Result<i32> {
    if len as u32 > MAX_RANDOM_BYTES {
        return Ok(status::ERR_TOO_LARGE);
    }
    let memory = memory(&mut caller)?;
    let data = memory.data_mut(&mut caller);
    let buf = GuestBuf::check("random", ptr, len, data.len())?;
    let dest = data.get_mut(buf.start..buf.end).unwrap_or_default();
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), dest)
        .map_err(|_| GuestFault::HostRandomFailed)?;
    Ok(0)
}

fn log(mut caller: Caller<'_, HostState>, ptr: i32, len: i32) -> wasmtime::Result<i32> {
    let memory = memory(&mut caller)?;
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let buf = GuestBuf::check("log", ptr, len, data.len())?;
    state.log(data.get(buf.start..buf.end).unwrap_or_default());
    Ok(0)
}

/// `report(nonce, report_data) -> evidence`: see `docs/abi.md`. Both lengths are checked
/// against their caps before any guest memory is read, and every buffer, the output included,
/// against memory before the platform does any work.
fn report(
    mut caller: Caller<'_, HostState>,
    nonce_ptr: i32,
    nonce_len: i32,
    data_ptr: i32,
    data_len: i32,
    out_ptr: i32,
    out_cap: i32,
) -> wasmtime::Result<i32> {
    const NAME: &str = "report";
    let (Some(nonce_len), Some(data_len)) = (
        CappedLen::within(nonce_len, REPORT_NONCE_LEN),
        CappedLen::within(data_len, ..=MAX_REPORT_DATA),
    ) else {
        return Ok(status::ERR_TOO_LARGE);
    };
    let nonce = read_guest(&mut caller, NAME, nonce_ptr, nonce_len)?;
    let report_data = read_guest(&mut caller, NAME, data_ptr, data_len)?;
    check_out(&mut caller, NAME, out_ptr, out_cap)?;
    let evidence = match caller.data().report(&nonce, &report_data) {
        Ok(evidence) => evidence,
        Err(code) => return Ok(code),
    };
    if evidence.len() > capacity(out_cap) {
        return Ok(status::ERR_BUFFER_TOO_SMALL);
    }
    write_guest(&mut caller, NAME, out_ptr, &evidence)?;
    Ok(i32::try_from(evidence.len()).unwrap_or(status::ERR_TOO_LARGE))
}

/// A guest-supplied capacity, as unsigned.
fn capacity(cap: i32) -> usize {
    usize::try_from(cap as u32).unwrap_or(usize::MAX)
}

/// `seal(policy, aad, plaintext) -> blob`: see `docs/abi.md`.
#[allow(
    clippy::too_many_arguments,
    reason = "the ABI passes each buffer as a pointer and a length"
)]
fn seal(
    caller: Caller<'_, HostState>,
    policy: i32,
    aad_ptr: i32,
    aad_len: i32,
    pt_ptr: i32,
    pt_len: i32,
    out_ptr: i32,
    out_cap: i32,
) -> wasmtime::Result<i32> {
    let request = SealRequest {
        function: "seal",
        policy,
        tcb: None,
        aad: (aad_ptr, aad_len),
        plaintext: (pt_ptr, pt_len),
        out: (out_ptr, out_cap),
    };
    request.serve(caller)
}

/// `seal_at(policy, tcb, aad, plaintext) -> blob`: as `seal`, at the platform TCB level `tcb`
/// (read as unsigned), which must not be above the platform's; see `docs/abi.md`.
#[allow(
    clippy::too_many_arguments,
    reason = "the ABI passes each buffer as a pointer and a length"
)]
fn seal_at(
    caller: Caller<'_, HostState>,
    policy: i32,
    tcb: i32,
    aad_ptr: i32,
    aad_len: i32,
    pt_ptr: i32,
    pt_len: i32,
    out_ptr: i32,
    out_cap: i32,
) -> wasmtime::Result<i32> {
    let request = SealRequest {
        function: "seal_at",
        policy,
        tcb: Some(tcb as u32),
        aad: (aad_ptr, aad_len),
        plaintext: (pt_ptr, pt_len),
        out: (out_ptr, out_cap),
    };
    request.serve(caller)
}

/// The arguments of `seal` or `seal_at`, as the guest passed them: each buffer a pointer and a
/// length (or capacity).
struct SealRequest {
    function: &'static str,
    policy: i32,
    /// `None`: the platform's current level (`seal`).
    tcb: Option<u32>,
    aad: (i32, i32),
    plaintext: (i32, i32),
    out: (i32, i32),
}

impl SealRequest {
    /// Caps first, then every buffer against memory, then the policy, the output's size and
    /// the platform's answer.
    fn serve(self, mut caller: Caller<'_, HostState>) -> wasmtime::Result<i32> {
        let name = self.function;
        let (out_ptr, out_cap) = self.out;
        let (Some(aad_len), Some(pt_len)) = (
            CappedLen::within(self.aad.1, ..=MAX_SEAL_AAD),
            CappedLen::within(self.plaintext.1, ..=MAX_SEAL_PLAINTEXT),
        ) else {
            return Ok(status::ERR_TOO_LARGE);
        };
        let aad = read_guest(&mut caller, name, self.aad.0, aad_len)?;
        let plaintext =
            zeroize::Zeroizing::new(read_guest(&mut caller, name, self.plaintext.0, pt_len)?);
        check_out(&mut caller, name, out_ptr, out_cap)?;
        let Some(policy) = SealPolicy::from_abi(self.policy) else {
            return Ok(status::ERR_POLICY);
        };
        if sealer::blob::sealed_len(aad.len(), plaintext.len()) > capacity(out_cap) {
            return Ok(status::ERR_BUFFER_TOO_SMALL);
        }
        let sealed = caller.data().services().and_then(|s| match self.tcb {
            None => s.seal(policy, &aad, &plaintext),
            Some(tcb) => s.seal_at(policy, tcb, &aad, &plaintext),
        });
        let sealed = match sealed {
            Ok(sealed) => sealed,
            Err(refused) => return Ok(refused.status()?),
        };
        if sealed.len() > capacity(out_cap) {
            return Ok(status::ERR_BUFFER_TOO_SMALL);
        }
        write_guest(&mut caller, name, out_ptr, &sealed)?;
        Ok(i32::try_from(sealed.len()).unwrap_or(status::ERR_TOO_LARGE))
    }
}

/// `tcb_level() -> level`: the platform's current TCB level, or a negative status when the run
/// has no platform; see `docs/abi.md`.
fn tcb_level(caller: Caller<'_, HostState>) -> wasmtime::Result<i64> {
    match caller.data().services().and_then(|s| s.tcb_level()) {
        Ok(level) => Ok(level.into()),
        Err(refused) => Ok(refused.status()?.into()),
    }
}

/// `unseal(blob) -> (aad, plaintext)`: see `docs/abi.md`. Returns `aad_len << 32 | pt_len`.
fn unseal(
    mut caller: Caller<'_, HostState>,
    blob_ptr: i32,
    blob_len: i32,
    aad_ptr: i32,
    aad_cap: i32,
    pt_ptr: i32,
    pt_cap: i32,
) -> wasmtime::Result<i64> {
    const NAME: &str = "unseal";
    let Some(blob_len) = CappedLen::within(blob_len, ..=MAX_SEALED_BLOB) else {
        return Ok(status::ERR_TOO_LARGE.into());
    };
    let blob = read_guest(&mut caller, NAME, blob_ptr, blob_len)?;
    check_out(&mut caller, NAME, aad_ptr, aad_cap)?;
    check_out(&mut caller, NAME, pt_ptr, pt_cap)?;
    let opened = match caller.data().services().and_then(|s| s.unseal(&blob)) {
        Ok(opened) => opened,
        Err(refused) => return Ok(refused.status()?.into()),
    };
    if opened.aad.len() > capacity(aad_cap) || opened.plaintext.len() > capacity(pt_cap) {
        return Ok(status::ERR_BUFFER_TOO_SMALL.into());
    }
    write_guest(&mut caller, NAME, aad_ptr, &opened.aad)?;
    write_guest(&mut caller, NAME, pt_ptr, &opened.plaintext)?;
    // Both lengths are below 2^31 (capped at 1 MiB), so the result is non-negative.
    Ok(((opened.aad.len() as i64) << 32) | opened.plaintext.len() as i64)
}

fn store_get(
    mut caller: Caller<'_, HostState>,
    key_ptr: i32,
    key_len: i32,
    out_ptr: i32,
    out_cap: i32,
) -> wasmtime::Result<i32> {
    const NAME: &str = "store_get";
    let Some(key_len) = CappedLen::within(key_len, ..=MAX_STORE_KEY) else {
        return Ok(status::ERR_TOO_LARGE);
    };
    let key = read_guest(&mut caller, NAME, key_ptr, key_len)?;
    check_out(&mut caller, NAME, out_ptr, out_cap)?;
    let value = match caller.data().services().and_then(|s| s.store_get(&key)) {
        Ok(Some(value)) => value,
        Ok(None) => return Ok(status::ERR_NOT_FOUND),
        Err(refused) => return Ok(refused.status()?),
    };
    if value.len() > capacity(out_cap) {
        return Ok(status::ERR_BUFFER_TOO_SMALL);
    }
    write_guest(&mut caller, NAME, out_ptr, &value)?;
    Ok(i32::try_from(value.len()).unwrap_or(status::ERR_TOO_LARGE))
}

fn store_put(
    mut caller: Caller<'_, HostState>,
    key_ptr: i32,
    key_len: i32,
    value_ptr: i32,
    value_len: i32,
) -> wasmtime::Result<i32> {
    const NAME: &str = "store_put";
    let (Some(key_len), Some(value_len)) = (
        CappedLen::within(key_len, ..=MAX_STORE_KEY),
        CappedLen::within(value_len, ..=MAX_STORE_VALUE),
    ) else {
        return Ok(status::ERR_TOO_LARGE);
    };
    let key = read_guest(&mut caller, NAME, key_ptr, key_len)?;
    let value = zeroize::Zeroizing::new(read_guest(&mut caller, NAME, value_ptr, value_len)?);
    match caller
        .data()
        .services()
        .and_then(|s| s.store_put(&key, &value))
    {
        Ok(()) => Ok(0),
        Err(refused) => Ok(refused.status()?),
    }
}

fn store_delete(
    mut caller: Caller<'_, HostState>,
    key_ptr: i32,
    key_len: i32,
) -> wasmtime::Result<i32> {
    const NAME: &str = "store_delete";
    let Some(key_len) = CappedLen::within(key_len, ..=MAX_STORE_KEY) else {
        return Ok(status::ERR_TOO_LARGE);
    };
    let key = read_guest(&mut caller, NAME, key_ptr, key_len)?;
    match caller.data().services().and_then(|s| s.store_delete(&key)) {
        Ok(true) => Ok(0),
        Ok(false) => Ok(status::ERR_NOT_FOUND),
        Err(refused) => Ok(refused.status()?),
    }
}

/// Checks an output buffer against memory before any work is done for it.
fn check_out(
    caller: &mut Caller<'_, HostState>,
    function: &'static str,
    ptr: i32,
    cap: i32,
) -> Result<(), GuestFault> {
    let memory = memory(caller)?;
    GuestBuf::check(function, ptr, cap, memory.data_size(&*caller)).map(drop)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::panic,
        reason = "test code: a panic is a failing test"
    )]
    use super::*;

    #[test]
    fn guest_buffers_are_bounds_checked() {
        assert!(GuestBuf::check("f", 0, 10, 10).is_ok());
        assert!(GuestBuf::check("f", 10, 0, 10).is_ok());
        assert!(GuestBuf::check("f", 10, 1, 10).is_err());
        assert!(GuestBuf::check("f", 11, 0, 10).is_err());
        // Negative as i32 = huge as u32.
        assert!(GuestBuf::check("f", -16, 64, 1 << 20).is_err());
        assert_eq!(
            GuestBuf::check("f", 16, -1, 1 << 30).err(),
            Some(GuestFault::OutOfBounds {
                function: "f",
                ptr: 16,
                len: u32::MAX
            })
        );
    }

    /// A guest that calls `function` (of type `params -> result`) with `args` and traps unless
    /// it returns `expected`.
    fn caller_of(
        function: &str,
        params: &str,
        result: &str,
        args: &[i64],
        expected: i64,
    ) -> String {
        let ty = if result == "i64" { "i64" } else { "i32" };
        let args: String = args.iter().map(|a| format!("(i32.const {a}) ")).collect();
        format!(
            r#"(module
                (import "enclave_v1" "{function}" (func $f (param {params}) (result {result})))
                (memory (export "memory") 1)
                (func (export "enclave_main")
                    (if ({ty}.ne (call $f {args}) ({ty}.const {expected})) (then unreachable))))"#
        )
    }

    fn run(wat: &str) -> Result<(), crate::RunError> {
        run_on(wat, None)
    }

    fn run_on(
        wat: &str,
        services: Option<std::sync::Arc<dyn crate::ReportIssuer>>,
    ) -> Result<(), crate::RunError> {
        let manifest = attest::Manifest::from_toml(
            "product_id = 1\nsvn = 1\ndebug = false\ncapabilities = [\"seal\", \"store\"]\n",
        )
        .unwrap();
        let module = wat::parse_str(wat).unwrap();
        let key = attest::AuthorKey::generate().unwrap();
        let bundle = attest::bundle::sign(&key, &manifest, &module).unwrap();
        let enclave = crate::Enclave::load(&bundle, crate::Signers::Any).unwrap();
        enclave
            .run(crate::Input::from_bytes(Vec::new()), Vec::new(), services)
            .map(drop)
    }

    /// A platform at TCB [`AtTcb2::LEVEL`] whose blobs are `sealed_len` copies of the level
    /// they were sealed at, so a guest's `seal_at` can be told from its `seal`.
    struct AtTcb2;

    impl AtTcb2 {
        const LEVEL: u32 = 2;

        fn blob(tcb: u32, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
            vec![tcb as u8; sealer::blob::sealed_len(aad.len(), plaintext.len())]
        }
    }

    impl crate::PlatformServices for AtTcb2 {
        fn seal(
            &self,
            _policy: SealPolicy,
            aad: &[u8],
            plaintext: &[u8],
        ) -> Result<Vec<u8>, crate::ServiceRefused> {
            Ok(Self::blob(Self::LEVEL, aad, plaintext))
        }

        fn seal_at(
            &self,
            _policy: SealPolicy,
            tcb: u32,
            aad: &[u8],
            plaintext: &[u8],
        ) -> Result<Vec<u8>, crate::ServiceRefused> {
            if tcb > Self::LEVEL {
                return Err(crate::ServiceRefused::Policy);
            }
            Ok(Self::blob(tcb, aad, plaintext))
        }

        fn tcb_level(&self) -> Result<u32, crate::ServiceRefused> {
            Ok(Self::LEVEL)
        }
    }

    #[test]
    fn seal_and_store_check_caps_then_every_buffer() {
        const SEAL: &str = "i32 i32 i32 i32 i32 i32 i32";
        const UNSEAL: &str = "i32 i32 i32 i32 i32 i32";
        let page = 65536;
        let out_of_bounds = |wat: &str, function: &str| match run(wat) {
            Err(crate::RunError::Fault(GuestFault::OutOfBounds { function: f, .. })) => {
                assert_eq!(f, function)
            }
            other => panic!("{function}: expected an out-of-bounds fault, got {other:?}"),
        };
        // Over a cap: a status, whatever the pointer.
        let too_large = i64::from(status::ERR_TOO_LARGE);
        for wat in [
            caller_of("seal", SEAL, "i32", &[0, -1, 65537, 0, 0, 0, 0], too_large),
            caller_of(
                "seal",
                SEAL,
                "i32",
                &[0, 0, 0, -1, 1048577, 0, 0],
                too_large,
            ),
            caller_of("unseal", UNSEAL, "i64", &[-1, -1, 0, 0, 0, 0], too_large),
            caller_of(
                "store_get",
                "i32 i32 i32 i32",
                "i32",
                &[-1, 257, 0, 0],
                too_large,
            ),
            caller_of(
                "store_put",
                "i32 i32 i32 i32",
                "i32",
                &[0, 0, -1, 65537],
                too_large,
            ),
            caller_of("store_delete", "i32 i32", "i32", &[-1, -1], too_large),
        ] {
            run(&wat).unwrap();
        }
        // Within the caps, every buffer is checked, output buffers included, before any work.
        out_of_bounds(
            &caller_of("seal", SEAL, "i32", &[0, page - 1, 2, 0, 0, 0, 0], 0),
            "seal",
        );
        out_of_bounds(
            &caller_of("seal", SEAL, "i32", &[0, 0, 0, 0, 0, page, 1], 0),
            "seal",
        );
        out_of_bounds(
            &caller_of("seal", SEAL, "i32", &[7, 0, 0, 0, 0, -16, 64], 0),
            "seal",
        );
        out_of_bounds(
            &caller_of("unseal", UNSEAL, "i64", &[page, 1, 0, 0, 0, 0], 0),
            "unseal",
        );
        out_of_bounds(
            &caller_of("unseal", UNSEAL, "i64", &[0, 0, 0, 0, page - 8, 9], 0),
            "unseal",
        );
        out_of_bounds(
            &caller_of("store_get", "i32 i32 i32 i32", "i32", &[0, 1, page, 1], 0),
            "store_get",
        );
        out_of_bounds(
            &caller_of("store_put", "i32 i32 i32 i32", "i32", &[0, 1, page, 1], 0),
            "store_put",
        );
        out_of_bounds(
            &caller_of("store_delete", "i32 i32", "i32", &[page, 1], 0),
            "store_delete",
        );
        // In bounds, an unknown policy is refused, and without platform services everything
        // else fails cleanly.
        let policy = i64::from(status::ERR_POLICY);
        run(&caller_of(
            "seal",
            SEAL,
            "i32",
            &[2, 0, 0, 0, 0, 0, 0],
            policy,
        ))
        .unwrap();
        run(&caller_of(
            "seal",
            SEAL,
            "i32",
            &[0x20000, 0, 0, 0, 0, 0, 0],
            policy,
        ))
        .unwrap();
        // An empty blob is exactly its overhead: one byte less is too small; with room for it,
        // the call reaches the (absent) sealing service.
        let empty = i64::try_from(sealer::blob::sealed_len(0, 0)).unwrap();
        let small = i64::from(status::ERR_BUFFER_TOO_SMALL);
        run(&caller_of(
            "seal",
            SEAL,
            "i32",
            &[0, 0, 0, 0, 0, 0, empty - 1],
            small,
        ))
        .unwrap();
        let failed = i64::from(status::ERR_FAILED);
        run(&caller_of(
            "seal",
            SEAL,
            "i32",
            &[0, 0, 0, 0, 0, 0, empty],
            failed,
        ))
        .unwrap();
        run(&caller_of(
            "store_get",
            "i32 i32 i32 i32",
            "i32",
            &[0, 1, 0, 0],
            failed,
        ))
        .unwrap();
    }

    const SEAL_AT: &str = "i32 i32 i32 i32 i32 i32 i32 i32";

    #[test]
    fn seal_at_checks_caps_then_every_buffer_then_the_policy() {
        let out_of_bounds = |args: &[i64]| match run(&caller_of("seal_at", SEAL_AT, "i32", args, 0))
        {
            Err(crate::RunError::Fault(GuestFault::OutOfBounds { function, .. })) => {
                assert_eq!(function, "seal_at", "{args:?}")
            }
            other => panic!("{args:?}: expected an out-of-bounds fault, got {other:?}"),
        };
        let returns = |args: &[i64], expected: i32| {
            run(&caller_of("seal_at", SEAL_AT, "i32", args, expected.into()))
                .unwrap_or_else(|e| panic!("{args:?}: {e:?}"))
        };
        let page = 65536;
        // Over a cap: a status, whatever the pointer (and the level).
        returns(&[0, 1, -1, 65537, 0, 0, 0, 0], status::ERR_TOO_LARGE);
        returns(&[0, 9, 0, 0, -1, 1048577, 0, 0], status::ERR_TOO_LARGE);
        // Within the caps, every buffer is checked, the output included, before any work.
        out_of_bounds(&[0, 1, page - 1, 2, 0, 0, 0, 0]);
        out_of_bounds(&[0, 1, 0, 0, page, 1, 0, 0]);
        out_of_bounds(&[0, 1, 0, 0, 0, 0, page, 1]);
        out_of_bounds(&[7, 1, 0, 0, 0, 0, -16, 64]);
        // In bounds: an unknown policy, then a buffer too small, then the (absent) platform.
        returns(&[2, 1, 0, 0, 0, 0, 0, 0], status::ERR_POLICY);
        let empty = i64::try_from(sealer::blob::sealed_len(0, 0)).unwrap();
        returns(
            &[0, 1, 0, 0, 0, 0, 0, empty - 1],
            status::ERR_BUFFER_TOO_SMALL,
        );
        returns(&[0, 1, 0, 0, 0, 0, 0, empty], status::ERR_FAILED);
        // Without a platform there is no level to report.
        run(&caller_of(
            "tcb_level",
            "",
            "i64",
            &[],
            status::ERR_FAILED.into(),
        ))
        .unwrap();
    }

    /// A guest that calls `seal_at(0, tcb)` with an empty AAD and plaintext into memory at 0
    /// and traps unless it returns `expected` and, on success, the blob's first byte is
    /// `first_byte` (the level [`AtTcb2`] sealed at).
    fn seal_at_level(tcb: i64, expected: i32, first_byte: i32) -> String {
        let empty = sealer::blob::sealed_len(0, 0);
        format!(
            r#"(module
                (import "enclave_v1" "seal_at"
                    (func $seal_at (param {SEAL_AT}) (result i32)))
                (memory (export "memory") 1)
                (func (export "enclave_main")
                    (if (i32.ne (call $seal_at (i32.const 0) (i32.const {tcb}) (i32.const 0)
                            (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
                            (i32.const {empty}))
                        (i32.const {expected}))
                        (then unreachable))
                    (if (i32.ne (i32.load8_u (i32.const 0)) (i32.const {first_byte}))
                        (then unreachable))))"#
        )
    }

    #[test]
    fn seal_at_passes_the_level_and_the_platform_refuses_a_newer_one() {
        let platform = || Some(std::sync::Arc::new(AtTcb2) as std::sync::Arc<_>);
        let empty = i32::try_from(sealer::blob::sealed_len(0, 0)).unwrap();
        run_on(&caller_of("tcb_level", "", "i64", &[], 2), platform()).unwrap();
        for (tcb, first_byte) in [(0, 0), (1, 1), (2, 2)] {
            run_on(&seal_at_level(tcb, empty, first_byte), platform())
                .unwrap_or_else(|e| panic!("seal_at({tcb}): {e:?}"));
        }
        // Above the platform's level, and a "negative" level (read as unsigned, 2^32 - 1):
        // ERR_POLICY, nothing written.
        for tcb in [3, 1024, -1] {
            run_on(&seal_at_level(tcb, status::ERR_POLICY, 0), platform())
                .unwrap_or_else(|e| panic!("seal_at({tcb}): {e:?}"));
        }
    }

    #[test]
    fn input_source_checks_its_buffer_and_says_plaintext() {
        let page = 65536;
        // A plaintext input: 0, nothing written, whatever the capacity.
        run(&caller_of("input_source", "i32 i32", "i32", &[0, 64], 0)).unwrap();
        run(&caller_of("input_source", "i32 i32", "i32", &[0, 0], 0)).unwrap();
        // The buffer is checked against memory first.
        match run(&caller_of(
            "input_source",
            "i32 i32",
            "i32",
            &[page - 8, 64],
            0,
        )) {
            Err(crate::RunError::Fault(GuestFault::OutOfBounds { function, .. })) => {
                assert_eq!(function, "input_source")
            }
            other => panic!("expected an out-of-bounds fault, got {other:?}"),
        }
    }

    #[test]
    fn seal_policies_decode() {
        assert_eq!(SealPolicy::from_abi(0), Some(SealPolicy::Measurement));
        assert_eq!(SealPolicy::from_abi(1), Some(SealPolicy::Signer));
        assert_eq!(
            SealPolicy::from_abi(0x1_0005),
            Some(SealPolicy::SignerAt(attest::Svn(5)))
        );
        assert_eq!(
            SealPolicy::from_abi(0x1_ffff),
            Some(SealPolicy::SignerAt(attest::Svn(0xffff)))
        );
        for bad in [2, 0xffff, 0x2_0000, -1, i32::MIN] {
            assert_eq!(SealPolicy::from_abi(bad), None, "{bad:#x}");
        }
    }
}

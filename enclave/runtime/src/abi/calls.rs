//! The host functions of ABI v1, one per import (`docs/abi.md`): each checks its lengths against
//! their caps and its buffers against memory before it reads or writes, and forwards the
//! platform's services.

use wasmtime::Caller;

use crate::error::{GuestFault, GuestMessage};
use crate::host::{HostState, InputOrigin};
use crate::services::SealPolicy;

use super::limits::*;
use super::memory::*;
use crate::services::status;

pub(super) fn read_input(
    mut caller: Caller<'_, HostState>,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<i32> {
    let memory = memory(&mut caller)?;
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let buf = GuestBuf::check("read_input", ptr, len, data.len())?;
    let dest = data.get_mut(buf.start..buf.end).unwrap_or_default();
    let n = state.read_input(dest)?;
    // `n <= len <= u32::MAX`, and the guest reads the result as an unsigned count below 2^31
    // whenever it asked for less than 2 GiB.
    Ok(i32::try_from(n).unwrap_or(i32::MAX))
}

pub(super) fn write_output(
    mut caller: Caller<'_, HostState>,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<i32> {
    let memory = memory(&mut caller)?;
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let buf = GuestBuf::check("write_output", ptr, len, data.len())?;
    state.write_output(data.get(buf.start..buf.end).unwrap_or_default())?;
    Ok(0)
}

pub(super) fn abort(mut caller: Caller<'_, HostState>, ptr: i32, len: i32) -> wasmtime::Result<()> {
    let memory = memory(&mut caller)?;
    let data = memory.data(&caller);
    let buf = GuestBuf::check("abort", ptr, len, data.len())?;
    let shown = buf.len().min(MAX_ABORT_MESSAGE);
    let bytes = data.get(buf.start..buf.start + shown).unwrap_or_default();
    Err(GuestFault::Aborted(GuestMessage::from_guest_bytes(bytes)).into())
}

/// `input_source(out) -> flags`: see `docs/abi.md`, "Input origin". The output buffer is
/// checked against memory first; a plaintext input writes nothing and returns 0.
pub(super) fn input_source(
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

pub(super) fn random(
    mut caller: Caller<'_, HostState>,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<i32> {
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

pub(super) fn log(mut caller: Caller<'_, HostState>, ptr: i32, len: i32) -> wasmtime::Result<i32> {
    let memory = memory(&mut caller)?;
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let buf = GuestBuf::check("log", ptr, len, data.len())?;
    state.log(data.get(buf.start..buf.end).unwrap_or_default());
    Ok(0)
}

/// `report(nonce, report_data) -> evidence`: see `docs/abi.md`. Both lengths are checked
/// against their caps before any guest memory is read, and every buffer, the output included,
/// against memory before the platform does any work.
pub(super) fn report(
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
pub(super) fn capacity(cap: i32) -> usize {
    usize::try_from(cap as u32).unwrap_or(usize::MAX)
}

/// `seal(policy, aad, plaintext) -> blob`: see `docs/abi.md`.
#[allow(
    clippy::too_many_arguments,
    reason = "the ABI passes each buffer as a pointer and a length"
)]
pub(super) fn seal(
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
pub(super) fn seal_at(
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
pub(super) struct SealRequest {
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
    pub(super) fn serve(self, mut caller: Caller<'_, HostState>) -> wasmtime::Result<i32> {
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
pub(super) fn tcb_level(caller: Caller<'_, HostState>) -> wasmtime::Result<i64> {
    match caller.data().services().and_then(|s| s.tcb_level()) {
        Ok(level) => Ok(level.into()),
        Err(refused) => Ok(refused.status()?.into()),
    }
}

/// `unseal(blob) -> (aad, plaintext)`: see `docs/abi.md`. Returns `aad_len << 32 | pt_len`.
pub(super) fn unseal(
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

pub(super) fn store_get(
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

pub(super) fn store_put(
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

pub(super) fn store_delete(
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
pub(super) fn check_out(
    caller: &mut Caller<'_, HostState>,
    function: &'static str,
    ptr: i32,
    cap: i32,
) -> Result<(), GuestFault> {
    let memory = memory(caller)?;
    GuestBuf::check(function, ptr, cap, memory.data_size(&*caller)).map(drop)
}

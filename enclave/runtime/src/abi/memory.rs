//! Guest memory as the host functions touch it: every buffer checked against the memory's size,
//! and a length copied out only once it is within its documented cap ([`CappedLen`]).

use std::ops::RangeBounds;

use wasmtime::{Caller, Extern, Memory};

use crate::error::GuestFault;
use crate::host::HostState;

/// A guest buffer, checked against the memory's current size.
#[derive(Clone, Copy)]
pub(super) struct GuestBuf {
    pub(super) start: usize,
    pub(super) end: usize,
}

impl GuestBuf {
    pub(super) fn check(
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

    pub(super) fn len(self) -> usize {
        self.end - self.start
    }
}

pub(super) fn memory(caller: &mut Caller<'_, HostState>) -> Result<Memory, GuestFault> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => Err(GuestFault::NoMemory),
    }
}

/// A guest-supplied length within its documented cap: the only kind of length [`read_guest`]
/// copies, so a copy sized by an unchecked guest value does not compile.
#[derive(Clone, Copy, Debug)]
pub(super) struct CappedLen(pub(super) i32);

impl CappedLen {
    /// `len`, read as unsigned 32-bit, if `allowed` contains it; `None` is the guest's
    /// [`status::ERR_TOO_LARGE`]. Nothing of the guest's memory is touched.
    pub(super) fn within(len: i32, allowed: impl RangeBounds<usize>) -> Option<Self> {
        let n = usize::try_from(len as u32).ok()?;
        allowed.contains(&n).then_some(Self(len))
    }
}

/// Copies a guest buffer, of a length already checked against its cap, out of memory.
pub(super) fn read_guest(
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
pub(super) fn write_guest(
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

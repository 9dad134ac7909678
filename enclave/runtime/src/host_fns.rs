//! Host functions an embedder grants to plugins: named functions taking bytes and returning
//! bytes, imported by a native guest from [`MODULE`] (`docs/abi.md`, "Host functions").
//!
//! A guest may import only the functions its host granted ([`crate::embed::Loader`]); anything
//! else in [`MODULE`] is refused at load, with the other forbidden imports. The imports are part
//! of the module, so the measurement covers which host functions a plugin can call. As with
//! every ABI call, the input length is checked against the function's cap and both buffers
//! against the guest's memory before the host copies anything or calls the embedder.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::{Caller, Extern, ExternType, Linker, Module};

use crate::abi::{signature_matches, status, Num};
use crate::error::GuestFault;
use crate::host::HostState;

/// The import module of host functions.
pub const MODULE: &str = crate::abi::HOST_MODULE;
/// The default cap on a host function's input: 64 KiB.
pub const DEFAULT_MAX_INPUT: u32 = 64 << 10;
/// Every host function's wasm signature: `(in_ptr, in_len, out_ptr, out_cap) -> i64`.
const PARAMS: &[Num] = &[Num::I32, Num::I32, Num::I32, Num::I32];
const RESULTS: &[Num] = &[Num::I64];

/// The embedder's function refused the call; the guest sees [`status::ERR_FAILED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the host function refused the call")]
pub struct HostCallRefused;

/// The body of a host function: the guest's input bytes in, the result's bytes out.
type Body = dyn Fn(&[u8]) -> Result<Vec<u8>, HostCallRefused> + Send + Sync;

#[derive(Clone)]
struct HostFunction {
    name: Arc<str>,
    max_input: u32,
    body: Arc<Body>,
}

/// The host functions a [`crate::embed::Loader`] grants, by name.
#[derive(Clone, Default)]
pub struct HostFunctions {
    functions: BTreeMap<String, HostFunction>,
}

impl std::fmt::Debug for HostFunctions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.functions.keys()).finish()
    }
}

impl HostFunctions {
    /// No host functions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Grants `name`, taking at most [`DEFAULT_MAX_INPUT`] bytes, run by `body` (on the guest's
    /// thread, while the guest waits; its time counts against the run's deadline only once it
    /// returns). A later definition of the same name replaces the earlier one.
    #[must_use]
    pub fn define(
        self,
        name: &str,
        body: impl Fn(&[u8]) -> Result<Vec<u8>, HostCallRefused> + Send + Sync + 'static,
    ) -> Self {
        self.define_capped(name, DEFAULT_MAX_INPUT, body)
    }

    /// As [`HostFunctions::define`], with inputs up to `max_input` bytes (a longer one is the
    /// guest's [`status::ERR_TOO_LARGE`], and nothing is copied).
    #[must_use]
    pub fn define_capped(
        mut self,
        name: &str,
        max_input: u32,
        body: impl Fn(&[u8]) -> Result<Vec<u8>, HostCallRefused> + Send + Sync + 'static,
    ) -> Self {
        let function = HostFunction {
            name: Arc::from(name),
            max_input,
            body: Arc::new(body),
        };
        self.functions.insert(name.to_owned(), function);
        self
    }

    /// The granted names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.functions.keys().map(String::as_str)
    }

    /// Problems with `module`'s imports from [`MODULE`]: not granted, or the wrong signature.
    pub(crate) fn check_module(&self, module: &Module) -> Vec<String> {
        module
            .imports()
            .filter(|import| import.module() == MODULE)
            .filter_map(|import| {
                self.check_import(import.name(), &import.ty())
                    .err()
                    .map(|why| format!("{MODULE}.{}: {why}", import.name()))
            })
            .collect()
    }

    fn check_import(&self, name: &str, ty: &ExternType) -> Result<(), String> {
        if !self.functions.contains_key(name) {
            return Err("not a host function this host grants".into());
        }
        match ty {
            ExternType::Func(func) if signature_matches(func, PARAMS, RESULTS) => Ok(()),
            ExternType::Func(func) => Err(format!(
                "wrong signature: expected (i32, i32, i32, i32) -> (i64), found {}",
                crate::abi::render_func(func)
            )),
            _ => Err("imported as a non-function".into()),
        }
    }

    /// Defines every granted function in `linker` (imports were checked by
    /// [`HostFunctions::check_module`]).
    pub(crate) fn define_in(&self, linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
        for (name, function) in &self.functions {
            let function = function.clone();
            linker.func_wrap(
                MODULE,
                name,
                move |caller: Caller<'_, HostState>,
                      in_ptr: i32,
                      in_len: i32,
                      out_ptr: i32,
                      out_cap: i32| {
                    call(
                        caller,
                        &function,
                        Buffer(in_ptr, in_len),
                        Buffer(out_ptr, out_cap),
                    )
                },
            )?;
        }
        Ok(())
    }
}

/// A guest's `(ptr, len)`, unchecked.
#[derive(Clone, Copy)]
struct Buffer(i32, i32);

impl Buffer {
    /// The byte range in a memory of `memory_len` bytes, or the fault that ends the run.
    fn range(
        self,
        function: &str,
        memory_len: usize,
    ) -> Result<std::ops::Range<usize>, GuestFault> {
        // The ABI takes both as unsigned 32-bit values.
        let (ptr, len) = (self.0 as u32, self.1 as u32);
        let fault = GuestFault::HostFunctionOutOfBounds {
            function: function.to_owned(),
            ptr,
            len,
        };
        let start = usize::try_from(ptr).map_err(|_| fault.clone())?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| start.checked_add(len))
            .ok_or(fault.clone())?;
        if end > memory_len {
            return Err(fault);
        }
        Ok(start..end)
    }
}

/// One guest call of `function`: caps and bounds first, then the embedder's body, then the copy
/// of its result into the guest's buffer.
fn call(
    mut caller: Caller<'_, HostState>,
    function: &HostFunction,
    input: Buffer,
    output: Buffer,
) -> wasmtime::Result<i64> {
    if input.1 as u32 > function.max_input {
        return Ok(i64::from(status::ERR_TOO_LARGE));
    }
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return Err(GuestFault::NoMemory.into());
    };
    let data = memory.data(&caller);
    let name = &function.name;
    let (input, output) = (
        input.range(name, data.len())?,
        output.range(name, data.len())?,
    );
    let bytes = data.get(input).map(<[u8]>::to_vec).unwrap_or_default();
    let Ok(result) = (function.body)(&bytes) else {
        return Ok(i64::from(status::ERR_FAILED));
    };
    if result.len() > output.len() {
        return Ok(i64::from(status::ERR_BUFFER_TOO_SMALL));
    }
    let start = output.start;
    let end = start.saturating_add(result.len());
    if let Some(dest) = memory.data_mut(&mut caller).get_mut(start..end) {
        dest.copy_from_slice(&result);
    }
    Ok(i64::try_from(result.len()).unwrap_or(i64::MAX))
}

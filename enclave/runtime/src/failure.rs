//! What ended a run: wasmtime's error, mapped to the [`RunError`] a user can act on. Shared by
//! the runs of core modules (`runner.rs`) and the requests of components (`component.rs`).

use wasmtime::Trap;

use crate::error::{GuestFault, RunError};
use crate::host::{InputFailure, MemoryLimitHit, OutputFailure};

/// The embedder cancelled the run (`crate::policy::CancelHandle`); carried through wasmtime as the cause.
#[derive(Debug, thiserror::Error)]
#[error("run cancelled by the host")]
pub(crate) struct Cancelled;

/// Maps what ended a run to the error a user can act on.
pub(crate) fn classify(
    error: wasmtime::Error,
    limits: &attest::Limits,
    instantiating: bool,
) -> RunError {
    if error.is::<Cancelled>() {
        return RunError::Cancelled;
    }
    if let Some(fault) = error.downcast_ref::<GuestFault>() {
        return RunError::Fault(fault.clone());
    }
    if let Some(hit) = error.downcast_ref::<MemoryLimitHit>() {
        return RunError::MemoryLimit {
            limit: hit.limit,
            requested: hit.requested,
        };
    }
    let error = match error.downcast::<InputFailure>() {
        Ok(InputFailure(io)) => return RunError::Input(io),
        Err(error) => error,
    };
    let error = match error.downcast::<OutputFailure>() {
        Ok(OutputFailure(io)) => return RunError::Output(io),
        Err(error) => error,
    };
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => RunError::FuelExhausted { fuel: limits.fuel },
        Some(Trap::Interrupt) => RunError::Timeout {
            timeout_ms: limits.timeout_ms,
        },
        Some(Trap::StackOverflow) => RunError::StackOverflow {
            limit: limits.stack_bytes,
        },
        Some(trap) => {
            let text = trap.to_string();
            RunError::Trap(text.strip_prefix("wasm trap: ").unwrap_or(&text).to_owned())
        }
        None if instantiating => RunError::Instantiate(format!("{error:#}")),
        None => RunError::Trap(format!("{error:#}")),
    }
}

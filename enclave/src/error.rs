//! Errors of loading and running an enclave.

use attest::{BundleError, ManifestError};

/// Why a bundle could not be loaded.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bundle failed verification (signature, format, manifest, trusted signer).
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The module bytes are not a valid wasm module for this runtime's feature set.
    #[error("invalid wasm module: {0}")]
    InvalidModule(String),
    /// The module imports something outside the granted ABI; every offending import is listed.
    #[error("module imports outside the granted ABI: {}", .0.join("; "))]
    ForbiddenImports(Vec<String>),
    /// The module lacks a required export.
    #[error("module does not export {0}")]
    MissingExport(&'static str),
    /// The wasm engine could not be set up.
    #[error("runtime setup failed: {0}")]
    Engine(String),
}

/// Why a run ended without a result. No output may be released after any of these.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The input is larger than the manifest's `max_input_bytes`.
    #[error("input is {size} bytes, larger than the manifest's max_input_bytes = {limit}")]
    InputTooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The guest used up its fuel.
    #[error("fuel budget of {fuel} exhausted")]
    FuelExhausted {
        /// The budget.
        fuel: u64,
    },
    /// The guest ran past the wall-clock limit.
    #[error("wall-clock limit of {timeout_ms} ms exceeded")]
    Timeout {
        /// The limit.
        timeout_ms: u64,
    },
    /// The guest tried to grow memory past the limit.
    #[error("memory limit of {limit} bytes exceeded (guest asked for {requested} bytes)")]
    MemoryLimit {
        /// The limit.
        limit: u64,
        /// What was asked for.
        requested: u64,
    },
    /// The guest exhausted its wasm stack.
    #[error("wasm stack overflow (limit {limit} bytes)")]
    StackOverflow {
        /// The limit.
        limit: u64,
    },
    /// The guest did something the host refuses (see [`GuestFault`]).
    #[error(transparent)]
    Fault(#[from] GuestFault),
    /// The guest trapped. For a debug WASI guest, the message ends with the tail of its stderr.
    #[error("guest trapped: {0}")]
    Trap(String),
    /// A WASI guest called `proc_exit` with a nonzero code.
    #[error("guest exited with code {code}{}", diagnostics_suffix(.stderr))]
    Exited {
        /// The exit code (1..=125).
        code: i32,
        /// The tail of the guest's stderr, escaped, for debug enclaves; empty otherwise.
        stderr: String,
    },
    /// Reading the input failed; for sealed input this is where forgery is detected.
    #[error("reading input: {0}")]
    Input(std::io::Error),
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Output(std::io::Error),
    /// Instantiation failed for a reason other than a limit.
    #[error("instantiation failed: {0}")]
    Instantiate(String),
    /// The host could not run the guest (thread creation and the like).
    #[error("runtime failure: {0}")]
    Host(String),
}

fn diagnostics_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(" (stderr: {stderr})")
    }
}

/// A guest did something that ends its run.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuestFault {
    /// A pointer/length pair outside linear memory, or whose sum overflows.
    #[error("guest passed an out-of-bounds buffer to enclave_v1.{function} (ptr={ptr:#x}, len={len:#x})")]
    OutOfBounds {
        /// The host function.
        function: &'static str,
        /// The pointer, as unsigned.
        ptr: u32,
        /// The length, as unsigned.
        len: u32,
    },
    /// The guest wrote more than `max_output_bytes`.
    #[error("output limit of {limit} bytes exceeded")]
    OutputLimit {
        /// The limit.
        limit: u64,
    },
    /// The guest called `abort`, or panicked.
    #[error("guest aborted: {0}")]
    Aborted(String),
    /// The guest exports no memory (checked at load; kept for defence in depth).
    #[error("guest has no exported memory")]
    NoMemory,
    /// The host's random number generator failed.
    #[error("the host random number generator failed")]
    HostRandomFailed,
    /// The guest's sealed store cannot be trusted or written: tampered, rolled back, sealed by a
    /// newer enclave version, or an I/O failure. The guest must not carry on without its state.
    #[error("sealed store: {0}")]
    Store(crate::store::StoreError),
}

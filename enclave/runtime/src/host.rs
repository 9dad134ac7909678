//! Per-run host state: the guest's input and output, its limits, and the services it was
//! granted. One `HostState` (or, for a WASI guest, one `WasiState` (`crate::wasi`)) lives in one
//! wasmtime `Store` for one run and is then dropped. `GuestIo` is the I/O both kinds share.

use std::io::{Read, Write};
use std::sync::Arc;

use wasmtime::ResourceLimiter;

use crate::error::GuestFault;
use crate::services::status;
use crate::services::{PlatformServices, ReportIssuer, ReportRefused, ServiceRefused};

/// Most log bytes kept per run for a debug enclave.
pub const MAX_LOG_BYTES: usize = 64 << 10;
/// Most bytes of a WASI guest's stderr kept as its own words: the last this many, for every
/// enclave (`docs/wasi.md`, "Stderr").
pub const MAX_STDERR_WORDS: usize = 1024;
/// Most table elements a guest may have (function pointers; Rust guests use a few hundred).
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

/// The input a run reads: a stream and its exact length, known up front, and how it reached
/// the enclave ([`InputOrigin`]).
pub struct Input {
    reader: Box<dyn Read + Send>,
    len: u64,
    origin: InputOrigin,
}

/// How a run's input reached the enclave: what a guest learns from `enclave_v1.input_source`
/// (`docs/abi.md`, "Input origin"). Only the runtime's confidential path
/// ([`crate::Enclave::run_sealed`]) makes a [`InputOrigin::Sealed`] input; every input an
/// embedder builds is [`InputOrigin::Plaintext`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputOrigin {
    /// Handed over in plaintext by whoever runs the enclave (the operator): `enclave run` on a
    /// plain file, `POST /v1/run` with plaintext, an embedder's [`Input::new`].
    Plaintext,
    /// Opened inside the runtime from a sealed input a client made for this enclave.
    Sealed(SealedOrigin),
}

/// What the runtime knows of a sealed input's client, given to the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealedOrigin {
    /// The request id: the sealed input's HPKE `enc`, fresh for every sealed input, which the
    /// client keeps in its context and the receipt names as its request nonce. A replayed input
    /// has the same request id.
    pub request_id: [u8; 32],
    /// SHA-256 of the attestation evidence the client verified before sealing (the header's
    /// evidence digest; authenticated, as it is in the HPKE `info`).
    pub evidence_digest: [u8; 32],
    /// Whether the platform checked that this request id had not run in the enclave's replay
    /// window (manifest `inputs.refuse_replays`); without it a replay runs again.
    pub replay_checked: bool,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("len", &self.len)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Input {
    /// An input of exactly `len` bytes read from `reader`; a reader that ends early or runs long
    /// ends the run with an error.
    pub fn new(reader: impl Read + Send + 'static, len: u64) -> Self {
        Self {
            reader: Box::new(reader),
            len,
            origin: InputOrigin::Plaintext,
        }
    }

    /// An input opened from a sealed one, inside the runtime.
    pub(crate) fn sealed(
        reader: impl Read + Send + 'static,
        len: u64,
        origin: SealedOrigin,
    ) -> Self {
        Self {
            origin: InputOrigin::Sealed(origin),
            ..Self::new(reader, len)
        }
    }

    /// How the input reached the enclave.
    pub fn origin(&self) -> InputOrigin {
        self.origin
    }

    /// An input held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        let len = bytes.len() as u64;
        Self::new(std::io::Cursor::new(bytes), len)
    }

    /// The declared length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the input is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// An input read failed; carried through wasmtime as the trap's cause.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct InputFailure(pub std::io::Error);

/// An output write failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct OutputFailure(pub std::io::Error);

/// The guest tried to grow memory past its limit.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded (guest asked for {requested} bytes)")]
pub(crate) struct MemoryLimitHit {
    pub limit: u64,
    pub requested: u64,
}

/// The guest's output writer, type-erased inside the store and recovered after the run.
pub(crate) trait OutputSink: Write + Send {
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send>;
}

impl<T: Write + Send + 'static> OutputSink for T {
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self
    }
}

/// Everything a running native guest can reach.
pub struct HostState {
    limiter: Limiter,
    io: GuestIo,
    origin: InputOrigin,
    reporter: Option<Arc<dyn ReportIssuer>>,
}

impl std::fmt::Debug for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostState")
            .field("io", &self.io)
            .finish_non_exhaustive()
    }
}

impl HostState {
    pub(crate) fn new(
        io: GuestIo,
        origin: InputOrigin,
        limits: &attest::Limits,
        reporter: Option<Arc<dyn ReportIssuer>>,
    ) -> Self {
        Self {
            limiter: Limiter::new(limits),
            io,
            origin,
            reporter,
        }
    }

    /// How the run's input reached the enclave.
    pub(crate) fn origin(&self) -> InputOrigin {
        self.origin
    }

    pub(crate) fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limiter
    }

    /// Input bytes not yet read.
    pub(crate) fn input_remaining(&self) -> u64 {
        self.io.input_remaining()
    }

    /// See [`GuestIo::read_input`].
    pub(crate) fn read_input(&mut self, dest: &mut [u8]) -> Result<usize, InputFailure> {
        self.io.read_input(dest)
    }

    /// See [`GuestIo::write_output`].
    pub(crate) fn write_output(&mut self, bytes: &[u8]) -> wasmtime::Result<()> {
        self.io.write_output(bytes)
    }

    /// See [`GuestIo::log`].
    pub(crate) fn log(&mut self, bytes: &[u8]) {
        self.io.log(bytes);
    }

    pub(crate) fn report(&self, nonce: &[u8], data: &[u8]) -> Result<Vec<u8>, i32> {
        let reporter = self.reporter.as_ref().ok_or(status::ERR_FAILED)?;
        reporter.issue(nonce, data).map_err(|e| match e {
            ReportRefused::BadSize => status::ERR_TOO_LARGE,
            ReportRefused::Failed => status::ERR_FAILED,
        })
    }

    /// The platform services, or a refusal when the run has none.
    pub(crate) fn services(&self) -> Result<&dyn PlatformServices, ServiceRefused> {
        self.reporter.as_deref().ok_or(ServiceRefused::Failed)
    }

    /// The run's I/O, once the guest is done.
    pub(crate) fn into_io(self) -> GuestIo {
        self.io
    }
}

/// A run's input, output and diagnostics, with their limits: the same for every kind of guest.
pub(crate) struct GuestIo {
    input: Box<dyn Read + Send>,
    input_len: u64,
    input_read: u64,
    output: Box<dyn OutputSink>,
    output_written: u64,
    output_limit: u64,
    debug: bool,
    log: Vec<u8>,
    #[cfg(feature = "wasi")]
    stderr_tail: zeroize::Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for GuestIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestIo")
            .field("input_read", &self.input_read)
            .field("output_written", &self.output_written)
            .finish_non_exhaustive()
    }
}

/// What a finished run's I/O amounted to.
pub(crate) struct IoSummary {
    pub output: Box<dyn OutputSink>,
    pub input_bytes: u64,
    pub output_bytes: u64,
    pub log: Vec<u8>,
}

impl GuestIo {
    pub(crate) fn new(
        input: Input,
        output: Box<dyn OutputSink>,
        limits: &attest::Limits,
        debug: bool,
    ) -> Self {
        Self {
            input: input.reader,
            input_len: input.len,
            input_read: 0,
            output,
            output_written: 0,
            output_limit: limits.max_output_bytes,
            debug,
            log: Vec::new(),
            #[cfg(feature = "wasi")]
            stderr_tail: zeroize::Zeroizing::new(Vec::new()),
        }
    }

    /// Input bytes not yet read.
    pub(crate) fn input_remaining(&self) -> u64 {
        self.input_len - self.input_read
    }

    /// Fills as much of `dest` as the input allows; `Ok(0)` only at the declared end.
    pub(crate) fn read_input(&mut self, dest: &mut [u8]) -> Result<usize, InputFailure> {
        let want = usize::try_from(self.input_remaining())
            .unwrap_or(usize::MAX)
            .min(dest.len());
        let Some(dest) = dest.get_mut(..want) else {
            return Ok(0);
        };
        let mut filled = 0;
        while filled < dest.len() {
            match self.input.read(dest.get_mut(filled..).unwrap_or_default()) {
                Ok(0) => {
                    return Err(InputFailure(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!(
                            "input ended after {} of {} bytes",
                            self.input_read, self.input_len
                        ),
                    )))
                }
                Ok(n) => {
                    filled += n;
                    self.input_read += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(InputFailure(e)),
            }
        }
        Ok(filled)
    }

    /// Reads whatever the guest left unread, so that a sealed input is authenticated to its end
    /// (and trailing data detected) even if the guest stopped early.
    pub(crate) fn drain_input(&mut self) -> Result<(), InputFailure> {
        let mut sink = [0u8; 8192];
        while self.input_remaining() > 0 {
            self.read_input(&mut sink)?;
        }
        match self.input.read(&mut sink) {
            Ok(0) => Ok(()),
            Ok(_) => Err(InputFailure(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("input is longer than its declared {} bytes", self.input_len),
            ))),
            Err(e) => Err(InputFailure(e)),
        }
    }

    /// Appends to the output; past `max_output_bytes` nothing more is written and the run ends
    /// with [`GuestFault::OutputLimit`].
    pub(crate) fn write_output(&mut self, bytes: &[u8]) -> wasmtime::Result<()> {
        let total = self.output_written.saturating_add(bytes.len() as u64);
        if total > self.output_limit {
            return Err(GuestFault::OutputLimit {
                limit: self.output_limit,
            }
            .into());
        }
        self.output.write_all(bytes).map_err(OutputFailure)?;
        self.output_written = total;
        Ok(())
    }

    /// A debug log line (a newline is added when missing); dropped for production enclaves.
    pub(crate) fn log(&mut self, bytes: &[u8]) {
        self.diagnostics(bytes);
        if self.debug && !bytes.ends_with(b"\n") && self.log.len() < MAX_LOG_BYTES {
            self.log.push(b'\n');
        }
    }

    /// Raw diagnostic bytes (a WASI guest's stderr), kept up to [`MAX_LOG_BYTES`] for debug
    /// enclaves and dropped for production ones.
    pub(crate) fn diagnostics(&mut self, bytes: &[u8]) {
        if !self.debug {
            return;
        }
        let room = MAX_LOG_BYTES.saturating_sub(self.log.len());
        self.log
            .extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
    }

    /// A WASI guest's stderr: its diagnostics ([`GuestIo::diagnostics`]), and for every enclave
    /// the last [`MAX_STDERR_WORDS`] bytes, the guest's own words should it trap.
    #[cfg(feature = "wasi")]
    pub(crate) fn stderr(&mut self, bytes: &[u8]) {
        self.diagnostics(bytes);
        let keep = bytes
            .get(bytes.len().saturating_sub(MAX_STDERR_WORDS)..)
            .unwrap_or_default();
        // Room for the kept words and one more batch, so the buffer never moves (and leaves no
        // copy of the words behind to be zeroized).
        if self.stderr_tail.capacity() == 0 {
            self.stderr_tail.reserve_exact(2 * MAX_STDERR_WORDS);
        }
        self.stderr_tail.extend_from_slice(keep);
        let excess = self.stderr_tail.len().saturating_sub(MAX_STDERR_WORDS);
        self.stderr_tail.drain(..excess);
    }

    /// The last [`MAX_STDERR_WORDS`] bytes of a WASI guest's stderr.
    #[cfg(feature = "wasi")]
    pub(crate) fn stderr_words(&self) -> &[u8] {
        &self.stderr_tail
    }

    pub(crate) fn finish(self) -> IoSummary {
        IoSummary {
            output: self.output,
            input_bytes: self.input_read,
            output_bytes: self.output_written,
            log: self.log,
        }
    }
}

/// Enforces the manifest's memory limit and bounds tables and instances.
pub(crate) struct Limiter {
    memory_bytes: u64,
}

impl Limiter {
    pub(crate) fn new(limits: &attest::Limits) -> Self {
        Self {
            memory_bytes: limits.memory_bytes,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let requested = desired as u64;
        if requested > self.memory_bytes {
            return Err(MemoryLimitHit {
                limit: self.memory_bytes,
                requested,
            }
            .into());
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        4
    }

    fn memories(&self) -> usize {
        1
    }
}

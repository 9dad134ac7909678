//! The stdio of a WASI run as wasmtime-wasi streams: stdin reads the run's input, stdout writes
//! the run's output, stderr feeds the bounded diagnostics and keeps its tail as the guest's own
//! words for a failure report. All three go through the same
//! [`GuestIo`] as a native guest's `read_input`, `write_output` and `log`, so the limits and the
//! errors are the same: writing past `max_output_bytes`, or an input that fails to read (a
//! forged sealed chunk), ends the run with the error a native guest would get.
//!
//! The streams are synchronous: each call locks the shared [`GuestIo`], does its work and
//! returns. Nothing is buffered or done in the background, so nothing runs after the guest
//! stops, and the runner gets the output writer back once the store is dropped.

use std::sync::{MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use wasmtime_wasi::cli::{IsTerminal, StdinStream, StdoutStream};
use wasmtime_wasi::p2::pipe::{ClosedInputStream, ClosedOutputStream};
use wasmtime_wasi::p2::{InputStream, OutputStream, Pollable, StreamError, StreamResult};

use super::SharedIo;
use crate::host::GuestIo;

/// Most bytes one stdin read hands over, and the write permit of stdout and stderr (wasmtime-wasi
/// itself writes at most 4 KiB at a time).
const CHUNK: usize = 64 << 10;

fn lock(io: &SharedIo) -> MutexGuard<'_, GuestIo> {
    // A panic while holding the lock is a bug that already ended the run; the data is still
    // consistent (each operation updates its counters last).
    io.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The guest's stdin: the run's input, read sequentially once.
pub(crate) struct Stdin(SharedIo);

/// The guest's stdout: the run's output.
pub(crate) struct Stdout(SharedIo);

/// The guest's stderr: diagnostics, kept for debug enclaves only, and its last words, kept for a
/// trap's failure report (`docs/wasi.md`, "Stderr").
pub(crate) struct Stderr(SharedIo);

impl Stdin {
    pub(crate) fn new(io: &SharedIo) -> Self {
        Self(io.clone())
    }
}

impl Stdout {
    pub(crate) fn new(io: &SharedIo) -> Self {
        Self(io.clone())
    }
}

impl Stderr {
    pub(crate) fn new(io: &SharedIo) -> Self {
        Self(io.clone())
    }
}

impl IsTerminal for Stdin {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl IsTerminal for Stdout {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl IsTerminal for Stderr {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdinStream for Stdin {
    fn p2_stream(&self) -> Box<dyn InputStream> {
        Box::new(InputReader(self.0.clone()))
    }

    /// Only WASI preview 3 uses this, and it is not compiled in: a closed stream.
    fn async_stream(&self) -> Box<dyn AsyncRead + Send + Sync> {
        ClosedInputStream.async_stream()
    }
}

impl StdoutStream for Stdout {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(OutputWriter(self.0.clone()))
    }

    /// Only WASI preview 3 uses this, and it is not compiled in: a closed stream.
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        ClosedOutputStream.async_stream()
    }
}

impl StdoutStream for Stderr {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(DiagnosticsWriter(self.0.clone()))
    }

    /// Only WASI preview 3 uses this, and it is not compiled in: a closed stream.
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        ClosedOutputStream.async_stream()
    }
}

struct InputReader(SharedIo);

#[wasmtime_wasi::async_trait]
impl Pollable for InputReader {
    /// The input is always ready: reads block on the input itself, as native `read_input` does.
    async fn ready(&mut self) {}
}

#[wasmtime_wasi::async_trait]
impl InputStream for InputReader {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        let mut buf = vec![0; size.min(CHUNK)];
        let n = lock(&self.0)
            .read_input(&mut buf)
            .map_err(|failure| StreamError::Trap(failure.into()))?;
        if n == 0 && size > 0 {
            return Err(StreamError::Closed);
        }
        buf.truncate(n);
        Ok(Bytes::from(buf))
    }
}

struct OutputWriter(SharedIo);

#[wasmtime_wasi::async_trait]
impl Pollable for OutputWriter {
    async fn ready(&mut self) {}
}

#[wasmtime_wasi::async_trait]
impl OutputStream for OutputWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        lock(&self.0)
            .write_output(&bytes)
            .map_err(StreamError::Trap)
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(CHUNK)
    }
}

struct DiagnosticsWriter(SharedIo);

#[wasmtime_wasi::async_trait]
impl Pollable for DiagnosticsWriter {
    async fn ready(&mut self) {}
}

#[wasmtime_wasi::async_trait]
impl OutputStream for DiagnosticsWriter {
    /// Always succeeds: past the cap, or in a production enclave, the bytes are dropped from
    /// the log; the last [`crate::host::MAX_STDERR_WORDS`] are kept as the guest's words.
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        lock(&self.0).stderr(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(CHUNK)
    }
}

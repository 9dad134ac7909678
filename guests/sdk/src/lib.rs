//! The guest side of the enclave host ABI v1 (`docs/abi.md`).
//!
//! A workload is a `cdylib` for `wasm32-unknown-unknown` whose entry point is declared with
//! [`entry!`]:
//!
//! ```ignore
//! use std::io::{Read, Write};
//!
//! fn main() -> Result<(), String> {
//!     let mut text = String::new();
//!     enclave_guest::Input.read_to_string(&mut text).map_err(|e| e.to_string())?;
//!     write!(enclave_guest::Output, "{} bytes", text.len()).map_err(|e| e.to_string())
//! }
//!
//! enclave_guest::entry!(main);
//! ```
//!
//! Only the host functions a guest actually calls become imports of its module, so a guest that
//! never calls [`random`] does not need the `random` capability in its manifest.
//!
//! Features: `std` (default) adds `std::io` impls and a panic hook that ends the run with the panic
//! message; `alloc` adds `Vec`-returning helpers; `panic-handler` provides the `#[panic_handler]`
//! a `#![no_std]` guest needs.
#![no_std]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

use core::fmt;

/// The raw imports. Prefer the safe wrappers; these exist for tests that need to pass the host
/// arguments no safe wrapper would produce.
pub mod sys {
    #[link(wasm_import_module = "enclave_v1")]
    extern "C" {
        /// Total input length in bytes.
        pub fn input_len() -> i64;
        /// Copies up to `len` next input bytes to `ptr`; returns the count (0 at the end).
        pub fn read_input(ptr: *mut u8, len: usize) -> i32;
        /// Appends `len` bytes at `ptr` to the output.
        pub fn write_output(ptr: *const u8, len: usize) -> i32;
        /// Ends the run with a UTF-8 message. Never returns.
        pub fn abort(ptr: *const u8, len: usize) -> !;
        /// Fills the buffer from the host CSPRNG (capability `random`).
        pub fn random(ptr: *mut u8, len: usize) -> i32;
        /// A debug log line (capability `log`).
        pub fn log(ptr: *const u8, len: usize) -> i32;
        /// Attestation evidence over the nonce and report data (capability `report`).
        pub fn report(
            nonce_ptr: *const u8,
            nonce_len: usize,
            data_ptr: *const u8,
            data_len: usize,
            out_ptr: *mut u8,
            out_cap: usize,
        ) -> i32;
    }
}

/// An error status the host returned (`docs/abi.md`, "Conventions").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// An argument exceeds its documented cap.
    TooLarge,
    /// The output buffer cannot hold the result.
    BufferTooSmall,
    /// The operation failed.
    Failed,
    /// No such entry.
    NotFound,
    /// A status this SDK does not know (a newer host).
    Other(i32),
}

impl Error {
    fn check(status: i32) -> Result<u32, Error> {
        match status {
            0.. => Ok(status.unsigned_abs()),
            -1 => Err(Error::TooLarge),
            -2 => Err(Error::BufferTooSmall),
            -3 => Err(Error::Failed),
            -4 => Err(Error::NotFound),
            other => Err(Error::Other(other)),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooLarge => f.write_str("argument too large"),
            Error::BufferTooSmall => f.write_str("buffer too small"),
            Error::Failed => f.write_str("operation failed"),
            Error::NotFound => f.write_str("not found"),
            Error::Other(code) => write!(f, "host status {code}"),
        }
    }
}

/// Total length of the input in bytes, whether or not it has been read.
pub fn input_len() -> u64 {
    // SAFETY: no arguments; the host returns a length.
    let len = unsafe { sys::input_len() };
    u64::try_from(len).unwrap_or(0)
}

/// Reads the next input bytes into `buf`; returns how many, 0 at the end of the input.
pub fn read_input(buf: &mut [u8]) -> usize {
    // SAFETY: the pointer and length describe `buf`, which the host may write in full.
    let n = unsafe { sys::read_input(buf.as_mut_ptr(), buf.len()) };
    // The host never returns an error here: a bad buffer ends the run instead.
    usize::try_from(n).unwrap_or(0)
}

/// Appends `bytes` to the output. Past the manifest's `max_output_bytes` the host ends the run.
pub fn write_output(bytes: &[u8]) {
    // SAFETY: the pointer and length describe `bytes`, which the host only reads.
    unsafe { sys::write_output(bytes.as_ptr(), bytes.len()) };
}

/// Ends the run with `message` as the error. No output is released.
pub fn abort(message: &str) -> ! {
    // SAFETY: the pointer and length describe `message`; the host does not return.
    unsafe { sys::abort(message.as_ptr(), message.len()) }
}

/// Fills `buf` from the host's CSPRNG. Needs the `random` capability; at most 65536 bytes per call
/// (larger buffers are filled in several calls).
pub fn random(buf: &mut [u8]) -> Result<(), Error> {
    for chunk in buf.chunks_mut(65_536) {
        // SAFETY: the pointer and length describe `chunk`, which the host may write in full.
        Error::check(unsafe { sys::random(chunk.as_mut_ptr(), chunk.len()) })?;
    }
    Ok(())
}

/// A debug log line. Needs the `log` capability; shown only when the enclave is signed with
/// `debug = true`, discarded otherwise.
pub fn log(message: &str) {
    // SAFETY: the pointer and length describe `message`, which the host only reads.
    unsafe { sys::log(message.as_ptr(), message.len()) };
}

/// Attestation evidence (a COSE_Sign1, `docs/formats.md`) over this enclave's identity, `nonce`
/// (8–64 bytes) and `data` (≤ 64 bytes), written to `out`; returns its length. Needs the `report`
/// capability.
pub fn report_into(nonce: &[u8], data: &[u8], out: &mut [u8]) -> Result<usize, Error> {
    // SAFETY: each pointer and length pair describes one of the slices; only `out` is written.
    let status = unsafe {
        sys::report(
            nonce.as_ptr(),
            nonce.len(),
            data.as_ptr(),
            data.len(),
            out.as_mut_ptr(),
            out.len(),
        )
    };
    Error::check(status).map(|n| n as usize)
}

/// [`report_into`] with a buffer that grows until the evidence fits.
#[cfg(feature = "alloc")]
pub fn report(nonce: &[u8], data: &[u8]) -> Result<alloc::vec::Vec<u8>, Error> {
    let mut out = alloc::vec![0u8; 4096];
    loop {
        match report_into(nonce, data, &mut out) {
            Ok(n) => {
                out.truncate(n);
                return Ok(out);
            }
            Err(Error::BufferTooSmall) if out.len() < 1 << 20 => out.resize(out.len() * 2, 0),
            Err(e) => return Err(e),
        }
    }
}

/// The whole remaining input.
#[cfg(feature = "alloc")]
pub fn read_all() -> alloc::vec::Vec<u8> {
    // The hint comes from the host; cap what we reserve on its word.
    let hint = usize::try_from(input_len().min(1 << 26)).unwrap_or(0);
    let mut out = alloc::vec::Vec::with_capacity(hint);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = read_input(&mut chunk);
        match chunk.get(..n) {
            Some(read) if n > 0 => out.extend_from_slice(read),
            _ => return out,
        }
    }
}

/// The whole input, read once: the short form for workloads that fit their input in memory.
#[cfg(feature = "alloc")]
pub fn input() -> alloc::vec::Vec<u8> {
    read_all()
}

/// Appends `bytes` to the output: the short form of [`write_output`].
pub fn output(bytes: &[u8]) {
    write_output(bytes)
}

/// The input, as a reader (`std::io::Read` with the `std` feature).
#[derive(Clone, Copy, Debug, Default)]
pub struct Input;

/// The output, as a writer (`core::fmt::Write`, and `std::io::Write` with the `std` feature).
/// Unbuffered: each write is one host call, so wrap it in a `BufWriter` for many small writes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Output;

impl fmt::Write for Output {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_output(s.as_bytes());
        Ok(())
    }
}

#[cfg(feature = "std")]
impl std::io::Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        Ok(read_input(buf))
    }
}

#[cfg(feature = "std")]
impl std::io::Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write_output(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a guest's main function may return: `()`, or a `Result` whose error ends the run.
pub trait MainResult {
    /// Ends the run with the error, if there is one.
    fn finish(self);
}

impl MainResult for () {
    fn finish(self) {}
}

impl<E: fmt::Display> MainResult for Result<(), E> {
    fn finish(self) {
        if let Err(e) = self {
            let mut buf = MessageBuf::new();
            let _ = fmt::write(&mut buf, format_args!("{e}"));
            abort(buf.as_str())
        }
    }
}

/// A fixed buffer for abort messages, so reporting an error needs no allocation. The host shows
/// at most 1024 bytes; longer messages are cut at a character boundary.
struct MessageBuf {
    bytes: [u8; 1024],
    len: usize,
}

impl MessageBuf {
    fn new() -> Self {
        MessageBuf {
            bytes: [0; 1024],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        let bytes = self.bytes.get(..self.len).unwrap_or_default();
        core::str::from_utf8(bytes).unwrap_or("(message is not UTF-8)")
    }
}

impl fmt::Write for MessageBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let mut utf8 = [0; 4];
            let encoded = c.encode_utf8(&mut utf8).as_bytes();
            let end = self.len + encoded.len();
            let Some(slot) = self.bytes.get_mut(self.len..end) else {
                return Err(fmt::Error);
            };
            slot.copy_from_slice(encoded);
            self.len = end;
        }
        Ok(())
    }
}

/// Ends the run with a panic's message (what the hook and the panic handler call).
#[doc(hidden)]
pub fn abort_with_panic(info: &dyn fmt::Display) -> ! {
    let mut buf = MessageBuf::new();
    let _ = fmt::write(&mut buf, format_args!("{info}"));
    abort(buf.as_str())
}

#[doc(hidden)]
pub mod __private {
    /// Called first in the generated `enclave_main`.
    pub fn init() {
        #[cfg(feature = "std")]
        std::panic::set_hook(std::boxed::Box::new(|info| super::abort_with_panic(&info)));
    }
}

#[cfg(all(feature = "panic-handler", not(feature = "std")))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    abort_with_panic(info)
}

/// Declares the guest's entry point: `entry!(main)` exports `enclave_main`, which installs the
/// panic hook and calls `main`. `main` returns `()` or `Result<(), impl Display>`; an error ends
/// the run with its message.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[no_mangle]
        pub extern "C" fn enclave_main() {
            $crate::__private::init();
            $crate::MainResult::finish($main());
        }
    };
}

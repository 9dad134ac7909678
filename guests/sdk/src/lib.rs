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
        /// How the input arrived: 0 plaintext; otherwise bit 0 (sealed) and bit 1 (replay
        /// checked) set, and the request id and evidence digest (64 bytes) written to the buffer.
        pub fn input_source(out_ptr: *mut u8, out_cap: usize) -> i32;
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
        /// Seals the plaintext with the AAD to this enclave's identity (capability `seal`).
        pub fn seal(
            policy: i32,
            aad_ptr: *const u8,
            aad_len: usize,
            pt_ptr: *const u8,
            pt_len: usize,
            out_ptr: *mut u8,
            out_cap: usize,
        ) -> i32;
        /// As `seal`, at the platform TCB level `tcb`, which must not be above the platform's
        /// (capability `seal`).
        pub fn seal_at(
            policy: i32,
            tcb: u32,
            aad_ptr: *const u8,
            aad_len: usize,
            pt_ptr: *const u8,
            pt_len: usize,
            out_ptr: *mut u8,
            out_cap: usize,
        ) -> i32;
        /// The platform's current TCB level (capability `seal`).
        pub fn tcb_level() -> i64;
        /// Opens a sealed blob; returns `aad_len << 32 | pt_len` (capability `seal`).
        pub fn unseal(
            blob_ptr: *const u8,
            blob_len: usize,
            aad_ptr: *mut u8,
            aad_cap: usize,
            pt_ptr: *mut u8,
            pt_cap: usize,
        ) -> i64;
        /// Copies the value under the key to the buffer; returns its length (capability
        /// `store`).
        pub fn store_get(
            key_ptr: *const u8,
            key_len: usize,
            out_ptr: *mut u8,
            out_cap: usize,
        ) -> i32;
        /// Stores the value under the key, durably (capability `store`).
        pub fn store_put(
            key_ptr: *const u8,
            key_len: usize,
            value_ptr: *const u8,
            value_len: usize,
        ) -> i32;
        /// Removes the key, durably (capability `store`).
        pub fn store_delete(key_ptr: *const u8, key_len: usize) -> i32;
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
    /// The key policy is not one this enclave may use (a newer svn, another enclave's data).
    Policy,
    /// A status this SDK does not know (a newer host).
    Other(i32),
}

impl Error {
    fn check(status: i32) -> Result<u32, Error> {
        match status {
            0.. => Ok(status.unsigned_abs()),
            negative => Err(Error::from_status(negative.into())),
        }
    }

    fn from_status(status: i64) -> Error {
        match status {
            -1 => Error::TooLarge,
            -2 => Error::BufferTooSmall,
            -3 => Error::Failed,
            -4 => Error::NotFound,
            -5 => Error::Policy,
            other => Error::Other(i32::try_from(other).unwrap_or(i32::MIN)),
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
            Error::Policy => f.write_str("key policy refused"),
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

/// How this run's input reached the enclave (`docs/abi.md`, "Input origin"): what a guest
/// checks before it lets an input change its state, since the operator can hand any enclave
/// that does not require sealed inputs (`[inputs] sealed_only`) a plaintext of their choosing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputSource {
    /// Given in plaintext by whoever runs the enclave (the operator).
    Plaintext,
    /// Opened from a sealed input a client made for this enclave.
    Sealed {
        /// The request id (the sealed input's HPKE `enc`): the same for a replay of the same
        /// sealed input, so a guest can refuse to count a request twice.
        request_id: [u8; 32],
        /// SHA-256 of the evidence the client verified before sealing.
        evidence_digest: [u8; 32],
        /// Whether the platform refused replays of this request id for the manifest's replay
        /// window (`[inputs] refuse_replays`).
        replay_checked: bool,
    },
}

/// How this run's input reached the enclave. No capability needed.
pub fn input_source() -> Result<InputSource, Error> {
    let mut record = [0u8; 64];
    // SAFETY: the buffer is valid for writes of its length.
    let flags = Error::check(unsafe { sys::input_source(record.as_mut_ptr(), record.len()) })?;
    if flags & 1 == 0 {
        return Ok(InputSource::Plaintext);
    }
    let (mut request_id, mut evidence_digest) = ([0u8; 32], [0u8; 32]);
    let (first, second) = record.split_at(32);
    request_id.copy_from_slice(first);
    evidence_digest.copy_from_slice(second);
    Ok(InputSource::Sealed {
        request_id,
        evidence_digest,
        replay_checked: flags & 2 != 0,
    })
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

/// Which key [`seal`] uses, as SGX key policies do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealPolicy {
    /// Only this exact enclave (same measurement) can unseal (MRENCLAVE).
    Measurement,
    /// This signer's product at this enclave's security version or newer can unseal (MRSIGNER):
    /// upgrades keep reading the data.
    Signer,
    /// As [`SealPolicy::Signer`] at an older security version, so that enclaves back to that
    /// version can still unseal. Must not exceed this enclave's own svn.
    SignerAt(u16),
}

impl SealPolicy {
    /// The ABI encoding (`docs/abi.md`).
    pub const fn to_abi(self) -> i32 {
        match self {
            SealPolicy::Measurement => 0,
            SealPolicy::Signer => 1,
            SealPolicy::SignerAt(svn) => 0x1_0000 | svn as i32,
        }
    }
}

/// Largest plaintext [`seal`] takes: 1 MiB.
pub const MAX_SEAL_PLAINTEXT: usize = 1 << 20;
/// Largest AAD [`seal`] takes: 64 KiB.
pub const MAX_SEAL_AAD: usize = 64 << 10;
/// Largest store key: 256 bytes.
pub const MAX_STORE_KEY: usize = 256;
/// Largest store value: 64 KiB.
pub const MAX_STORE_VALUE: usize = 64 << 10;

/// The size of the blob that seals `aad_len` bytes of AAD and `plaintext_len` bytes
/// (`docs/formats.md`, "Sealed blob").
pub const fn sealed_len(aad_len: usize, plaintext_len: usize) -> usize {
    104 + aad_len + plaintext_len
}

/// Seals `plaintext` with `aad` (authenticated, kept in clear) to this enclave under `policy`,
/// into `out`; returns the blob's length. Needs the `seal` capability.
pub fn seal_into(
    policy: SealPolicy,
    aad: &[u8],
    plaintext: &[u8],
    out: &mut [u8],
) -> Result<usize, Error> {
    // SAFETY: each pointer and length pair describes one of the slices; only `out` is written.
    let status = unsafe {
        sys::seal(
            policy.to_abi(),
            aad.as_ptr(),
            aad.len(),
            plaintext.as_ptr(),
            plaintext.len(),
            out.as_mut_ptr(),
            out.len(),
        )
    };
    Error::check(status).map(|n| n as usize)
}

/// [`seal_into`] a new buffer of the right size.
#[cfg(feature = "alloc")]
pub fn seal(
    policy: SealPolicy,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<alloc::vec::Vec<u8>, Error> {
    let mut out = alloc::vec![0u8; sealed_len(aad.len(), plaintext.len())];
    let n = seal_into(policy, aad, plaintext, &mut out)?;
    out.truncate(n);
    Ok(out)
}

/// As [`seal_into`], at the platform TCB level `tcb` instead of the platform's current one
/// ([`tcb_level`]): data that a platform not yet upgraded to the current level (or this one,
/// restored from a backup taken before its upgrade) can still unseal. [`Error::Policy`] for a
/// level above the platform's. Needs the `seal` capability.
pub fn seal_at_into(
    policy: SealPolicy,
    tcb: u32,
    aad: &[u8],
    plaintext: &[u8],
    out: &mut [u8],
) -> Result<usize, Error> {
    // SAFETY: each pointer and length pair describes one of the slices; only `out` is written.
    let status = unsafe {
        sys::seal_at(
            policy.to_abi(),
            tcb,
            aad.as_ptr(),
            aad.len(),
            plaintext.as_ptr(),
            plaintext.len(),
            out.as_mut_ptr(),
            out.len(),
        )
    };
    Error::check(status).map(|n| n as usize)
}

/// [`seal_at_into`] a new buffer of the right size.
#[cfg(feature = "alloc")]
pub fn seal_at(
    policy: SealPolicy,
    tcb: u32,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<alloc::vec::Vec<u8>, Error> {
    let mut out = alloc::vec![0u8; sealed_len(aad.len(), plaintext.len())];
    let n = seal_at_into(policy, tcb, aad, plaintext, &mut out)?;
    out.truncate(n);
    Ok(out)
}

/// The platform's current TCB level: what [`seal`] seals at, and the highest level
/// [`seal_at`] and [`unseal`] accept. Compare it with [`sealed_blob_tcb`] to decide whether to
/// migrate a blob (unseal it and seal it again). Needs the `seal` capability.
pub fn tcb_level() -> Result<u32, Error> {
    // SAFETY: no arguments; the host reads and writes no guest memory.
    let level = unsafe { sys::tcb_level() };
    match u32::try_from(level) {
        Ok(level) => Ok(level),
        Err(_) => Err(Error::from_status(level)),
    }
}

/// A byte string that is not a guest's sealed blob (`docs/formats.md`, "Sealed blob").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotASealedBlob;

impl fmt::Display for NotASealedBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a sealed blob (version 2)")
    }
}

/// The TCB level a sealed blob names (`docs/formats.md`, "Sealed blob": a u32 BE at offset
/// 10), read without a key or a host call. Nothing is authenticated yet: [`unseal`] checks it.
/// [`NotASealedBlob`] for bytes shorter than an empty blob, without the magic `ENCLBLOB`, or
/// of a version other than 2.
pub fn sealed_blob_tcb(blob: &[u8]) -> Result<u32, NotASealedBlob> {
    if blob.len() < sealed_len(0, 0) || !blob.starts_with(b"ENCLBLOB") {
        return Err(NotASealedBlob);
    }
    match (blob.get(8..10), blob.get(10..14)) {
        (Some([0, 2]), Some(&[a, b, c, d])) => Ok(u32::from_be_bytes([a, b, c, d])),
        _ => Err(NotASealedBlob),
    }
}

/// Opens `blob` into `aad_out` and `plaintext_out`; returns `(aad length, plaintext length)`.
/// A buffer of `blob.len()` bytes is always large enough for either. Needs the `seal`
/// capability; [`Error::Policy`] when the blob is for another enclave or a newer version,
/// [`Error::Failed`] when it does not authenticate.
pub fn unseal_into(
    blob: &[u8],
    aad_out: &mut [u8],
    plaintext_out: &mut [u8],
) -> Result<(usize, usize), Error> {
    // SAFETY: each pointer and length pair describes one of the slices; the host writes only
    // `aad_out` and `plaintext_out`.
    let result = unsafe {
        sys::unseal(
            blob.as_ptr(),
            blob.len(),
            aad_out.as_mut_ptr(),
            aad_out.len(),
            plaintext_out.as_mut_ptr(),
            plaintext_out.len(),
        )
    };
    if result < 0 {
        return Err(Error::from_status(result));
    }
    Ok(((result >> 32) as usize, (result & 0xffff_ffff) as usize))
}

/// An opened blob.
#[cfg(feature = "alloc")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsealed {
    /// The additional data, authenticated.
    pub aad: alloc::vec::Vec<u8>,
    /// The plaintext.
    pub plaintext: alloc::vec::Vec<u8>,
}

/// [`unseal_into`] new buffers.
#[cfg(feature = "alloc")]
pub fn unseal(blob: &[u8]) -> Result<Unsealed, Error> {
    let mut aad = alloc::vec![0u8; blob.len()];
    let mut plaintext = alloc::vec![0u8; blob.len()];
    let (aad_len, plaintext_len) = unseal_into(blob, &mut aad, &mut plaintext)?;
    aad.truncate(aad_len);
    plaintext.truncate(plaintext_len);
    Ok(Unsealed { aad, plaintext })
}

/// Copies the value stored under `key` into `out`; returns its length, [`Error::NotFound`] if
/// there is none, [`Error::BufferTooSmall`] if it does not fit. Needs the `store` capability.
pub fn store_get_into(key: &[u8], out: &mut [u8]) -> Result<usize, Error> {
    // SAFETY: each pointer and length pair describes one of the slices; only `out` is written.
    let status = unsafe { sys::store_get(key.as_ptr(), key.len(), out.as_mut_ptr(), out.len()) };
    Error::check(status).map(|n| n as usize)
}

/// The value stored under `key` (at most 256 bytes), `None` if there is none. Needs the
/// `store` capability.
#[cfg(feature = "alloc")]
pub fn store_get(key: &[u8]) -> Result<Option<alloc::vec::Vec<u8>>, Error> {
    let mut out = alloc::vec![0u8; 256];
    loop {
        match store_get_into(key, &mut out) {
            Ok(n) => {
                out.truncate(n);
                return Ok(Some(out));
            }
            Err(Error::NotFound) => return Ok(None),
            Err(Error::BufferTooSmall) if out.len() < MAX_STORE_VALUE => {
                out.resize(MAX_STORE_VALUE, 0)
            }
            Err(e) => return Err(e),
        }
    }
}

/// Stores `value` (at most 64 KiB) under `key` (at most 256 bytes). When this returns `Ok`, the
/// update is durable and protected against rollback. Needs the `store` capability.
pub fn store_put(key: &[u8], value: &[u8]) -> Result<(), Error> {
    // SAFETY: each pointer and length pair describes one of the slices, which the host reads.
    Error::check(unsafe { sys::store_put(key.as_ptr(), key.len(), value.as_ptr(), value.len()) })
        .map(drop)
}

/// Removes `key`; `false` if it was absent. Durable when it returns. Needs the `store`
/// capability.
pub fn store_delete(key: &[u8]) -> Result<bool, Error> {
    // SAFETY: the pointer and length describe `key`, which the host only reads.
    match Error::check(unsafe { sys::store_delete(key.as_ptr(), key.len()) }) {
        Ok(_) => Ok(true),
        Err(Error::NotFound) => Ok(false),
        Err(e) => Err(e),
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

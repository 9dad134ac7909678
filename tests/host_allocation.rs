//! The host's own memory under hostile lengths. Every host function that takes a guest buffer,
//! native and WASI, is called by a guest with 256 MiB of memory and a length of about all of it,
//! and the host's heap may not grow by more than [`BOUND`] during the run: a length is checked
//! against its documented cap before guest memory is read, and whatever the host copies or
//! buffers is bounded by the host, never sized by what the guest asked for.
//!
//! Linear memory is mmap'ed by wasmtime, not taken from the global allocator, so the counting
//! allocator below sees only the host's own allocations: a copy of a guest buffer shows as
//! hundreds of MiB, no copy as a few KiB. Nothing here depends on the machine's speed (the runs
//! have a generous wall-clock limit and nothing is timed).
#![allow(
    unsafe_code,
    reason = "a counting global allocator; each unsafe block forwards to `System` unchanged"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is a failing test"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use enclave_platform::{InitOptions, Platform, PlatformReporter};
use enclave_runtime::{Enclave, GuestFault, Input, ReportIssuer, RunError, RunReport};

/// The guest's memory: every test guest declares all of it up front.
const GUEST_MEMORY: i64 = 256 << 20;
/// Half of it, for functions that take two large buffers.
const HALF: i64 = GUEST_MEMORY / 2;
/// How much the host's heap may grow during one run: room for the instance, the runtime's own
/// bookkeeping and its fixed-size buffers (64 KiB stdin chunks, 64 KiB of log), and two orders
/// of magnitude below a copy of any guest buffer here.
const BOUND: usize = 4 << 20;
/// Where a guest stores its results (one `i64` each) before writing them to its output.
const RESULTS: i64 = GUEST_MEMORY - 1024;
/// Scratch space for WASI iovecs and result pointers, below the results.
const SCRATCH: i64 = GUEST_MEMORY - 4096;

// ---------------------------------------------------------------------------------------------
// The counting allocator.

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes allocated now, and the most allocated at once since [`Counting::reset_peak`].
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// Tests in this binary measure one process-wide heap, so they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

struct Counting;

impl Counting {
    fn grew(by: usize) {
        let now = CURRENT.fetch_add(by, Ordering::SeqCst) + by;
        PEAK.fetch_max(now, Ordering::SeqCst);
    }

    fn shrank(by: usize) {
        CURRENT.fetch_sub(by, Ordering::SeqCst);
    }

    /// Starts a measurement: the peak is where the heap stands now, which is returned.
    fn reset_peak() -> usize {
        let now = CURRENT.load(Ordering::SeqCst);
        PEAK.store(now, Ordering::SeqCst);
        now
    }

    fn peak() -> usize {
        PEAK.load(Ordering::SeqCst)
    }
}

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counters are only updated, never used to decide anything.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is `System.alloc`'s.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            Self::grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            Self::grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (every allocation here is) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        Self::shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and the caller's contract for `new_size` is `System`'s.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            if new_size > layout.size() {
                Self::grew(new_size - layout.size());
            } else {
                Self::shrank(layout.size() - new_size);
            }
        }
        new
    }
}

// ---------------------------------------------------------------------------------------------
// Running guests.

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An output that keeps only its last bytes: the results a guest writes at its end, after up to
/// hundreds of MiB the test has no use for (and must not hold, or the heap would grow by them).
#[derive(Debug, Default)]
struct Tail(Vec<u8>);

impl Tail {
    const KEEP: usize = 4096;
}

impl Write for Tail {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .extend_from_slice(&buf[buf.len().saturating_sub(Self::KEEP)..]);
        let excess = self.0.len().saturating_sub(Self::KEEP);
        self.0.drain(..excess);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What one measured run did.
struct Measured {
    result: Result<RunReport<Tail>, RunError>,
    /// The most the host's heap grew above where it stood when the run began.
    growth: usize,
}

impl Measured {
    /// The `i64` results the guest wrote last, `count` of them; the run must have succeeded.
    fn results(&self, count: usize) -> Vec<i64> {
        let report = self.result.as_ref().expect("the run succeeds");
        let tail = &report.output.0;
        assert!(tail.len() >= count * 8, "{} output bytes", tail.len());
        tail[tail.len() - count * 8..]
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }

    fn within_bound(&self, what: &str) -> &Self {
        eprintln!("{what}: the host's heap grew by {} bytes", self.growth);
        assert!(
            self.growth < BOUND,
            "{what}: the host's heap grew by {} bytes (bound {BOUND}): a guest-sized copy",
            self.growth
        );
        self
    }
}

/// The manifest of a test guest: its memory limit raised to hold [`GUEST_MEMORY`], and a
/// wall-clock limit no machine comes near. `extra` adds top-level keys.
fn manifest(debug: bool, extra: &str) -> String {
    format!(
        "product_id = 1\nsvn = 1\ndebug = {debug}\n{extra}\n[limits]\n\
         memory_bytes = {GUEST_MEMORY}\ntimeout_ms = 600000\nmax_output_bytes = {}\n",
        GUEST_MEMORY + 65536
    )
}

fn load(wat: &str, manifest: &str) -> Enclave {
    let module = wat::parse_str(wat).unwrap();
    let manifest = attest::Manifest::from_toml(manifest).unwrap();
    let key = attest::AuthorKey::generate().unwrap();
    let bundle = attest::bundle::sign(&key, &manifest, &module).unwrap();
    Enclave::load(&bundle, enclave_runtime::Signers::Any).unwrap()
}

/// Runs `enclave` on `input`, measuring the host's heap from just before the run to its end.
fn measure(enclave: &Enclave, input: Vec<u8>, services: Option<Arc<dyn ReportIssuer>>) -> Measured {
    let input = Input::from_bytes(input);
    let output = Tail(Vec::with_capacity(2 * Tail::KEEP));
    let start = Counting::reset_peak();
    let result = enclave.run(input, output, services);
    let growth = Counting::peak().saturating_sub(start);
    Measured { result, growth }
}

/// A platform in a temporary directory, and the services it gives `enclave`.
struct ThrowAwayPlatform {
    _dir: tempfile::TempDir,
    platform: Arc<Platform>,
}

impl ThrowAwayPlatform {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let options = InitOptions {
            name: "host-allocation".into(),
            tcb: 1,
            vendor: None,
        };
        let platform =
            Platform::init(&dir.path().join("platform"), options, SystemTime::now()).unwrap();
        Self {
            _dir: dir,
            platform: Arc::new(platform),
        }
    }

    fn services(&self, enclave: &Enclave) -> Option<Arc<dyn ReportIssuer>> {
        Some(Arc::new(PlatformReporter::new(
            self.platform.clone(),
            enclave,
            SystemTime::now,
        )))
    }
}

/// `(i64.extend_i32_s (call $f (i32.const a) …))`: an `i32` result as one of a guest's results.
fn call(function: &str, args: &[i64]) -> String {
    format!("(i64.extend_i32_s {})", call_raw(function, args))
}

/// `(call $f (i32.const a) …)`.
fn call_raw(function: &str, args: &[i64]) -> String {
    let args: String = args.iter().map(|a| format!(" (i32.const {a})")).collect();
    format!("(call ${function}{args})")
}

/// The statements that store each of `results` (i64 expressions) at [`RESULTS`], in order.
fn store_results(results: &[String]) -> String {
    assert!(results.len() * 8 <= 1024);
    results
        .iter()
        .enumerate()
        .map(|(i, r)| format!("(i64.store (i32.const {}) {r})\n", RESULTS + 8 * i as i64))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Native guests (`docs/abi.md`).

mod native {
    use super::*;

    const STATUS_TOO_LARGE: i64 = enclave_runtime::abi::status::ERR_TOO_LARGE as i64;
    const STATUS_FAILED: i64 = enclave_runtime::abi::status::ERR_FAILED as i64;
    const STATUS_NOT_FOUND: i64 = enclave_runtime::abi::status::ERR_NOT_FOUND as i64;

    /// The `enclave_v1` import of `function`.
    fn import(function: &str) -> String {
        let (params, result) = match function {
            "read_input" | "write_output" | "random" | "log" | "store_delete" | "input_source" => {
                (2, "i32")
            }
            "abort" => (2, ""),
            "report" => (6, "i32"),
            "seal" => (7, "i32"),
            "seal_at" => (8, "i32"),
            "unseal" => (6, "i64"),
            "store_get" | "store_put" => (4, "i32"),
            other => panic!("no such function {other}"),
        };
        let params = vec!["i32"; params].join(" ");
        let result = if result.is_empty() {
            String::new()
        } else {
            format!(" (result {result})")
        };
        format!(r#"(import "enclave_v1" "{function}" (func ${function} (param {params}){result}))"#)
    }

    /// A native guest that imports `functions`, evaluates `results` in order and writes them to
    /// its output (8 bytes each, little endian). `$n` is an `i32` local for results that feed
    /// later calls.
    fn guest(functions: &[&str], results: &[String]) -> String {
        let mut imports: Vec<String> = functions.iter().map(|f| import(f)).collect();
        if !functions.contains(&"write_output") {
            imports.push(import("write_output"));
        }
        format!(
            r#"(module {imports}
                (memory (export "memory") {pages})
                (func (export "enclave_main") (local $n i32)
                    {stores}
                    (drop (call $write_output (i32.const {RESULTS}) (i32.const {len})))))"#,
            imports = imports.join("\n"),
            pages = GUEST_MEMORY / 65536,
            stores = store_results(results),
            len = results.len() * 8,
        )
    }

    /// Loads `guest` with `capabilities`, runs it with `input`, and returns its results.
    fn results_of(
        functions: &[&str],
        results: &[String],
        capabilities: &str,
        input: Vec<u8>,
        what: &str,
    ) -> Vec<i64> {
        let enclave = load(
            &guest(functions, results),
            &manifest(false, &format!("capabilities = [{capabilities}]")),
        );
        let platform = ThrowAwayPlatform::new();
        let services = platform.services(&enclave);
        measure(&enclave, input, services)
            .within_bound(what)
            .results(results.len())
    }

    #[test]
    fn read_input_fills_guest_memory_in_place() {
        let _serial = serial();
        let input = vec![7u8; 100 << 10];
        let results = results_of(
            &["read_input"],
            &[
                call("read_input", &[0, GUEST_MEMORY]),
                call("read_input", &[0, GUEST_MEMORY]),
            ],
            "",
            input,
            "read_input",
        );
        assert_eq!(results, [100 << 10, 0]);
    }

    #[test]
    fn write_output_passes_guest_memory_through() {
        let _serial = serial();
        let wat = guest(
            &["write_output"],
            &[call("write_output", &[0, GUEST_MEMORY])],
        );
        let measured = measure(&load(&wat, &manifest(false, "")), Vec::new(), None);
        measured.within_bound("write_output");
        assert_eq!(measured.results(1), [0]);
        let report = measured.result.as_ref().unwrap();
        assert_eq!(report.output_bytes, GUEST_MEMORY as u64 + 8);

        // Past `max_output_bytes` nothing is written and the run ends.
        let limited = manifest(false, "").replace(
            &format!("max_output_bytes = {}", GUEST_MEMORY + 65536),
            "max_output_bytes = 1048576",
        );
        let measured = measure(&load(&wat, &limited), Vec::new(), None);
        measured.within_bound("write_output past the limit");
        assert!(
            matches!(
                measured.result,
                Err(RunError::Fault(GuestFault::OutputLimit { limit: 1048576 }))
            ),
            "{:?}",
            measured.result.as_ref().err()
        );
    }

    #[test]
    fn abort_keeps_at_most_its_cap() {
        let _serial = serial();
        let wat = format!(
            r#"(module {}
                (memory (export "memory") {})
                (func (export "enclave_main") {}))"#,
            import("abort"),
            GUEST_MEMORY / 65536,
            call_raw("abort", &[0, GUEST_MEMORY]),
        );
        let measured = measure(&load(&wat, &manifest(false, "")), Vec::new(), None);
        measured.within_bound("abort");
        assert!(
            matches!(
                measured.result,
                Err(RunError::Fault(GuestFault::Aborted(_)))
            ),
            "{:?}",
            measured.result.as_ref().err()
        );
    }

    #[test]
    fn random_refuses_a_huge_length() {
        let _serial = serial();
        let results = results_of(
            &["random"],
            &[call("random", &[0, GUEST_MEMORY])],
            "\"random\"",
            Vec::new(),
            "random",
        );
        assert_eq!(results, [STATUS_TOO_LARGE]);
    }

    #[test]
    fn log_keeps_at_most_its_cap() {
        let _serial = serial();
        let wat = guest(&["log"], &[call("log", &[0, GUEST_MEMORY])]);
        let debug = manifest(true, "capabilities = [\"log\"]");
        let measured = measure(&load(&wat, &debug), Vec::new(), None);
        measured.within_bound("log");
        assert_eq!(measured.results(1), [0]);
        let report = measured.result.as_ref().unwrap();
        assert_eq!(report.log.len(), enclave_runtime::host::MAX_LOG_BYTES);
    }

    /// The bug this file was written for: `report` copied the nonce and the report data (here
    /// 128 MiB each) before the platform refused them as too large.
    #[test]
    fn report_checks_sizes_before_reading_guest_memory() {
        let _serial = serial();
        // Within the caps, with an output buffer of all of memory: evidence of a few KiB.
        let fits = call("report", &[0, 16, 16, 64, 4096, GUEST_MEMORY - 4096 - 1024]);
        let results = results_of(
            &["report"],
            &[
                call("report", &[0, HALF, HALF, HALF, 0, 0]),
                call("report", &[0, GUEST_MEMORY, 0, 0, 0, 0]),
                call("report", &[0, 16, 0, GUEST_MEMORY, 0, 0]),
                call("report", &[0, 7, 0, 0, 0, 0]),
                call("report", &[0, 65, 0, 0, 0, 0]),
                call("report", &[0, 16, 0, 65, 0, 0]),
                fits,
            ],
            "\"report\"",
            Vec::new(),
            "report",
        );
        assert_eq!(results[..6], [STATUS_TOO_LARGE; 6]);
        assert!(results[6] > 0, "evidence length {}", results[6]);
    }

    #[test]
    fn seal_checks_sizes_before_reading_guest_memory() {
        let _serial = serial();
        let results = results_of(
            &["seal"],
            &[
                call("seal", &[0, 0, GUEST_MEMORY, 0, 0, 0, 0]),
                call("seal", &[0, 0, 0, 0, GUEST_MEMORY, 0, 0]),
                call("seal", &[0, 0, HALF, HALF, HALF, 0, 0]),
                // Within the caps, with an output buffer of half of memory: a blob of 120 bytes.
                call("seal", &[0, 0, 0, 0, 16, HALF, HALF - 4096]),
            ],
            "\"seal\"",
            Vec::new(),
            "seal",
        );
        assert_eq!(
            results,
            [STATUS_TOO_LARGE, STATUS_TOO_LARGE, STATUS_TOO_LARGE, 120]
        );
    }

    #[test]
    fn seal_at_checks_sizes_before_reading_guest_memory() {
        let _serial = serial();
        let results = results_of(
            &["seal_at"],
            &[
                call("seal_at", &[0, 1, 0, GUEST_MEMORY, 0, 0, 0, 0]),
                call("seal_at", &[0, 1, 0, 0, 0, GUEST_MEMORY, 0, 0]),
                call("seal_at", &[0, 1, 0, HALF, HALF, HALF, 0, 0]),
                // Within the caps, at the platform's level 1, with an output buffer of half of
                // memory: a blob of 120 bytes.
                call("seal_at", &[0, 1, 0, 0, 0, 16, HALF, HALF - 4096]),
            ],
            "\"seal\"",
            Vec::new(),
            "seal_at",
        );
        assert_eq!(
            results,
            [STATUS_TOO_LARGE, STATUS_TOO_LARGE, STATUS_TOO_LARGE, 120]
        );
    }

    #[test]
    fn unseal_checks_sizes_before_reading_guest_memory() {
        let _serial = serial();
        let seal = format!(
            "(i64.extend_i32_s (local.tee $n {}))",
            call_raw("seal", &[0, 0, 3, 0, 16, HALF, 4096])
        );
        // Opens that blob into output buffers of (almost) half of memory each.
        let unseal = format!(
            "(call $unseal (i32.const {HALF}) (local.get $n) (i32.const 0) (i32.const {big}) \
             (i32.const {big}) (i32.const {big}))",
            big = HALF - 4096,
        );
        let results = results_of(
            &["seal", "unseal"],
            &[
                format!(
                    "(call $unseal (i32.const 0) (i32.const {GUEST_MEMORY}) (i32.const 0) \
                     (i32.const 0) (i32.const 0) (i32.const 0))"
                ),
                format!(
                    "(call $unseal (i32.const 0) (i32.const {HALF}) (i32.const {HALF}) \
                     (i32.const {HALF}) (i32.const 0) (i32.const 0))"
                ),
                // Garbage within the cap, into huge buffers: it does not authenticate.
                format!(
                    "(call $unseal (i32.const 0) (i32.const 200) (i32.const 0) \
                     (i32.const {HALF}) (i32.const {HALF}) (i32.const {HALF}))"
                ),
                seal,
                unseal,
            ],
            "\"seal\"",
            Vec::new(),
            "unseal",
        );
        assert_eq!(
            results,
            [
                STATUS_TOO_LARGE,
                STATUS_TOO_LARGE,
                STATUS_FAILED,
                104 + 3 + 16,
                (3 << 32) | 16
            ]
        );
    }

    #[test]
    fn store_get_checks_sizes_before_reading_guest_memory() {
        let _serial = serial();
        let results = results_of(
            &["store_get"],
            &[
                call("store_get", &[0, GUEST_MEMORY, 0, 0]),
                call("store_get", &[0, HALF, HALF, HALF]),
                // A key within the cap, with an output buffer of all of memory.
                call("store_get", &[0, 8, 0, GUEST_MEMORY - 1024]),
            ],
            "\"store\"",
            Vec::new(),
            "store_get",
        );
        assert_eq!(
            results,
            [STATUS_TOO_LARGE, STATUS_TOO_LARGE, STATUS_NOT_FOUND]
        );
    }

    #[test]
    fn store_put_checks_sizes_before_reading_guest_memory() {
        let _serial = serial();
        let results = results_of(
            &["store_put"],
            &[
                call("store_put", &[0, GUEST_MEMORY, 0, 0]),
                call("store_put", &[0, 8, 0, GUEST_MEMORY]),
                call("store_put", &[0, HALF, HALF, HALF]),
            ],
            "\"store\"",
            Vec::new(),
            "store_put",
        );
        assert_eq!(results, [STATUS_TOO_LARGE; 3]);
    }

    #[test]
    fn input_source_writes_a_fixed_record_whatever_the_buffer() {
        let _serial = serial();
        let results = results_of(
            &["input_source"],
            &[call("input_source", &[0, GUEST_MEMORY])],
            "",
            Vec::new(),
            "input_source",
        );
        // A plaintext input: nothing written, whatever room the guest offers.
        assert_eq!(results, [0]);
    }

    #[test]
    fn store_delete_checks_sizes_before_reading_guest_memory() {
        let _serial = serial();
        let results = results_of(
            &["store_delete"],
            &[
                call("store_delete", &[0, GUEST_MEMORY]),
                call("store_delete", &[0, 8]),
            ],
            "\"store\"",
            Vec::new(),
            "store_delete",
        );
        assert_eq!(results, [STATUS_TOO_LARGE, STATUS_NOT_FOUND]);
    }
}

// ---------------------------------------------------------------------------------------------
// WASI guests (`docs/wasi.md`).

mod wasi {
    use super::*;

    const SUCCESS: i64 = 0;
    const EBADF: i64 = 8;
    const ENOMEM: i64 = 48;
    const ENOTCAPABLE: i64 = 76;
    /// wasmtime's per-call budget of guest bytes a host function may take (its "hostcall
    /// fuel"): a larger `fd_read` or `fd_write` buffer gets `ENOMEM`.
    const HOSTCALL_BUDGET: i64 = 128 << 20;
    /// Below the budget, and far above anything the host may buffer.
    const LARGE: i64 = HOSTCALL_BUDGET - 4096;

    /// The `wasi_snapshot_preview1` import of `function`, with its preview-1 signature.
    fn import(function: &str) -> String {
        let params = match function {
            "fd_write" | "fd_read" => "i32 i32 i32 i32",
            "random_get" | "args_get" | "args_sizes_get" | "environ_get" | "environ_sizes_get"
            | "clock_res_get" | "fd_fdstat_get" => "i32 i32",
            "clock_time_get" => "i32 i64 i32",
            "fd_prestat_dir_name" => "i32 i32 i32",
            "fd_pread" | "fd_pwrite" | "fd_readdir" => "i32 i32 i32 i64 i32",
            "path_open" => "i32 i32 i32 i32 i32 i64 i64 i32 i32",
            "path_readlink" => "i32 i32 i32 i32 i32 i32",
            "poll_oneoff" => "i32 i32 i32 i32",
            "sock_recv" => "i32 i32 i32 i32 i32 i32",
            "sock_send" => "i32 i32 i32 i32 i32",
            other => panic!("no such function {other}"),
        };
        format!(
            r#"(import "wasi_snapshot_preview1" "{function}" (func ${function} (param {params}) (result i32)))"#
        )
    }

    /// A WASI command that imports `functions`, runs `setup`, evaluates `results` in order and
    /// writes them to stdout (8 bytes each, little endian).
    fn guest(functions: &[&str], setup: &str, results: &[String]) -> String {
        let mut imports: Vec<String> = functions.iter().map(|f| import(f)).collect();
        if !functions.contains(&"fd_write") {
            imports.push(import("fd_write"));
        }
        let iovec = RESULTS - 16;
        format!(
            r#"(module {imports}
                (memory (export "memory") {pages})
                (func (export "_start")
                    {setup}
                    {stores}
                    (i32.store (i32.const {iovec}) (i32.const {RESULTS}))
                    (i32.store (i32.const {len_at}) (i32.const {len}))
                    (if (call $fd_write (i32.const 1) (i32.const {iovec}) (i32.const 1)
                            (i32.const {written}))
                        (then unreachable))))"#,
            imports = imports.join("\n"),
            pages = GUEST_MEMORY / 65536,
            stores = store_results(results),
            len_at = iovec + 4,
            len = results.len() * 8,
            written = iovec + 8,
        )
    }

    /// `(i32.store (i32.const at) (i32.const ptr)) (i32.store (i32.const at+4) (i32.const len))`:
    /// one iovec.
    fn iovec(at: i64, ptr: i64, len: i64) -> String {
        format!(
            "(i32.store (i32.const {at}) (i32.const {ptr})) \
             (i32.store (i32.const {}) (i32.const {len}))\n",
            at + 4
        )
    }

    /// The `u32` a guest call left at `at`, as a result.
    fn load_u32(at: i64) -> String {
        format!("(i64.load32_u (i32.const {at}))")
    }

    fn run(wat: &str, debug: bool, extra: &str, input: Vec<u8>, what: &str) -> Measured {
        let enclave = load(wat, &manifest(debug, &format!("kind = \"wasi\"\n{extra}")));
        let measured = measure(&enclave, input, None);
        measured.within_bound(what);
        measured
    }

    #[test]
    fn fd_write_streams_from_guest_memory() {
        let _serial = serial();
        let stdout = SCRATCH;
        let stderr = SCRATCH + 8;
        let too_big = SCRATCH + 16;
        let written = SCRATCH + 32;
        let setup = [
            iovec(stdout, 0, LARGE),
            iovec(stderr, 0, LARGE),
            iovec(too_big, 0, GUEST_MEMORY - 8192),
        ]
        .concat();
        let wat = guest(
            &["fd_write"],
            &setup,
            &[
                call("fd_write", &[1, stdout, 1, written]),
                load_u32(written),
                call("fd_write", &[2, stderr, 1, written]),
                load_u32(written),
                call("fd_write", &[1, too_big, 1, written]),
            ],
        );
        let measured = run(&wat, true, "", Vec::new(), "fd_write");
        assert_eq!(
            measured.results(5),
            [SUCCESS, LARGE, SUCCESS, LARGE, ENOMEM]
        );
        let report = measured.result.as_ref().unwrap();
        assert_eq!(report.output_bytes, LARGE as u64 + 5 * 8);
        assert_eq!(report.log.len(), enclave_runtime::host::MAX_LOG_BYTES);
    }

    #[test]
    fn fd_read_reads_in_bounded_chunks() {
        let _serial = serial();
        let large = SCRATCH;
        let too_big = SCRATCH + 8;
        let read = SCRATCH + 16;
        let setup = [
            iovec(large, 0, LARGE),
            iovec(too_big, 0, GUEST_MEMORY - 8192),
        ]
        .concat();
        let wat = guest(
            &["fd_read"],
            &setup,
            &[
                call("fd_read", &[0, too_big, 1, read]),
                call("fd_read", &[0, large, 1, read]),
                load_u32(read),
            ],
        );
        let input = vec![7u8; 1 << 20];
        let measured = run(&wat, false, "", input, "fd_read");
        let results = measured.results(3);
        assert_eq!(results[..2], [ENOMEM, SUCCESS]);
        assert!(
            (1..=1 << 20).contains(&results[2]),
            "read {} bytes",
            results[2]
        );
    }

    #[test]
    fn random_get_fills_guest_memory_in_place() {
        let _serial = serial();
        let wat = guest(
            &["random_get"],
            "",
            &[call("random_get", &[0, GUEST_MEMORY - 1024])],
        );
        let measured = run(
            &wat,
            false,
            "capabilities = [\"random\"]",
            Vec::new(),
            "random_get",
        );
        assert_eq!(measured.results(1), [SUCCESS]);
    }

    /// Arguments and the environment are written to guest buffers the guest does not size: what
    /// the host copies is the manifest's (at most 256 arguments of 4 KiB).
    #[test]
    fn args_and_environ_are_sized_by_the_manifest() {
        let _serial = serial();
        let wat = guest(
            &[
                "args_get",
                "args_sizes_get",
                "environ_get",
                "environ_sizes_get",
            ],
            "",
            &[
                call("args_sizes_get", &[SCRATCH, SCRATCH + 4]),
                load_u32(SCRATCH),
                call("args_get", &[SCRATCH + 8, 0]),
                call("environ_sizes_get", &[SCRATCH, SCRATCH + 4]),
                load_u32(SCRATCH),
                call("environ_get", &[SCRATCH + 8, 0]),
            ],
        );
        let measured = run(
            &wat,
            false,
            "args = [\"a\", \"b\"]",
            Vec::new(),
            "args and environ",
        );
        assert_eq!(
            measured.results(6),
            [SUCCESS, 3, SUCCESS, SUCCESS, 0, SUCCESS]
        );
    }

    /// Results of a fixed size, written at the very end of memory.
    #[test]
    fn fixed_size_results() {
        let _serial = serial();
        let end = GUEST_MEMORY - 1024 - 64;
        let wat = guest(
            &["clock_time_get", "clock_res_get", "fd_fdstat_get"],
            "",
            &[
                format!(
                    "(i64.extend_i32_s (call $clock_time_get (i32.const 1) (i64.const 1) \
                     (i32.const {end})))"
                ),
                call("clock_res_get", &[1, end]),
                call("fd_fdstat_get", &[1, end]),
            ],
        );
        let measured = run(
            &wat,
            false,
            "capabilities = [\"clock-monotonic\"]",
            Vec::new(),
            "fixed-size results",
        );
        assert_eq!(measured.results(3), [SUCCESS; 3]);
    }

    /// Refused functions return their errno without looking at their (huge) buffers.
    #[test]
    fn refused_calls_never_touch_their_buffers() {
        let _serial = serial();
        let all = GUEST_MEMORY;
        let iov = SCRATCH;
        let wat = guest(
            &[
                "fd_prestat_dir_name",
                "fd_pread",
                "fd_pwrite",
                "fd_readdir",
                "path_open",
                "path_readlink",
                "poll_oneoff",
                "sock_recv",
                "sock_send",
            ],
            &iovec(iov, 0, all),
            &[
                call("fd_prestat_dir_name", &[3, 0, all]),
                format!(
                    "(i64.extend_i32_s (call $fd_pread (i32.const 0) (i32.const {iov}) \
                     (i32.const 1) (i64.const 0) (i32.const {SCRATCH})))"
                ),
                format!(
                    "(i64.extend_i32_s (call $fd_pwrite (i32.const 1) (i32.const {iov}) \
                     (i32.const 1) (i64.const 0) (i32.const {SCRATCH})))"
                ),
                format!(
                    "(i64.extend_i32_s (call $fd_readdir (i32.const 3) (i32.const 0) \
                     (i32.const {all}) (i64.const 0) (i32.const {SCRATCH})))"
                ),
                format!(
                    "(i64.extend_i32_s (call $path_open (i32.const 3) (i32.const 0) \
                     (i32.const 0) (i32.const {all}) (i32.const 0) (i64.const -1) \
                     (i64.const -1) (i32.const 0) (i32.const {SCRATCH})))"
                ),
                call("path_readlink", &[3, 0, HALF, HALF, HALF, SCRATCH]),
                call("poll_oneoff", &[0, 0, 1 << 22, SCRATCH]),
                call("sock_recv", &[3, iov, 1, 0, SCRATCH, SCRATCH + 4]),
                call("sock_send", &[3, iov, 1, 0, SCRATCH]),
            ],
        );
        let measured = run(&wat, false, "", Vec::new(), "refused calls");
        let mut expected = [ENOTCAPABLE; 9];
        expected[0] = EBADF;
        assert_eq!(measured.results(9), expected);
    }
}

//! WASI runtime tests on hand-written WAT guests: the import policy, the function table against
//! wasmtime-wasi and the docs, stdio limits, exit codes and the errno of refused calls.

use attest::{AuthorKey, Manifest};
use wasmtime::{Engine, Store};

use super::*;
use crate::host::Input;
use crate::{Enclave, RunError};

const BASE: &str = "product_id = 1\nsvn = 1\ndebug = false\nkind = \"wasi\"\n";

fn sign(wat: &str, manifest: &str) -> Vec<u8> {
    let module = wat::parse_str(wat).unwrap();
    let manifest = Manifest::from_toml(manifest).unwrap();
    attest::bundle::sign(&AuthorKey::generate().unwrap(), &manifest, &module).unwrap()
}

fn load(wat: &str, manifest: &str) -> Result<Enclave, LoadError> {
    Enclave::load(
        &sign(wat, &format!("{BASE}{manifest}")),
        crate::Signers::Any,
    )
}

fn run(enclave: &Enclave, input: &[u8]) -> Result<Vec<u8>, RunError> {
    Ok(enclave
        .run(Input::from_bytes(input.to_vec()), Vec::new(), None)?
        .output)
}

const FD_WRITE: &str = r#"(import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))"#;

/// Copies stdin to stdout through 4 KiB of memory, then exits with the first input byte minus
/// `'0'` if it is a digit (`proc_exit(0)` included).
const ECHO: &str = r#"(module
    (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (func (export "_start")
        (local $first i32)
        (local.set $first (i32.const -1))
        (i32.store (i32.const 0) (i32.const 1024))
        (loop $more
            (i32.store (i32.const 4) (i32.const 4096))
            (if (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16))
                (then unreachable))
            (if (i32.load (i32.const 16)) (then
                (if (i32.lt_s (local.get $first) (i32.const 0))
                    (then (local.set $first (i32.load8_u (i32.const 1024)))))
                (i32.store (i32.const 4) (i32.load (i32.const 16)))
                (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 20)))
                (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 20)))
                (br $more))))
        (if (i32.and (i32.ge_s (local.get $first) (i32.const 48))
                     (i32.le_s (local.get $first) (i32.const 57)))
            (then (call $exit (i32.sub (local.get $first) (i32.const 48)))))))"#;

/// A guest that calls one imported function and writes its i32 result (4 bytes, little endian)
/// to stdout.
fn errno_of(import: &str, call: &str, manifest: &str) -> i32 {
    let wat = format!(
        r#"(module {FD_WRITE} {import}
            (memory (export "memory") 1)
            (func (export "_start")
                (i32.store (i32.const 100) {call})
                (i32.store (i32.const 0) (i32.const 100))
                (i32.store (i32.const 4) (i32.const 4))
                (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#
    );
    let output = run(&load(&wat, manifest).unwrap(), b"").unwrap();
    i32::from_le_bytes(output.try_into().unwrap())
}

#[test]
fn stdin_to_stdout_and_stderr_to_the_debug_log() {
    let enclave = load(ECHO, "").unwrap();
    assert_eq!(run(&enclave, b"hello wasi").unwrap(), b"hello wasi");
    assert_eq!(run(&enclave, b"").unwrap(), b"");
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let report = enclave
        .run(Input::from_bytes(big.clone()), Vec::new(), None)
        .unwrap();
    assert_eq!(report.output, big);
    assert_eq!(
        (report.input_bytes, report.output_bytes),
        (100_000, 100_000)
    );
    assert_eq!(report.exit_code, Some(0));
    assert!(report.log.is_empty(), "production enclaves drop stderr");

    let debug_manifest = BASE.replace("debug = false", "debug = true");
    let debug = Enclave::load(&sign(ECHO, &debug_manifest), crate::Signers::Any).unwrap();
    let report = debug
        .run(Input::from_bytes(big.clone()), Vec::new(), None)
        .unwrap();
    assert_eq!(report.log.len(), crate::host::MAX_LOG_BYTES);
    assert_eq!(report.log, big[..crate::host::MAX_LOG_BYTES]);
}

#[test]
fn output_limit_is_exact() {
    let enclave = load(ECHO, "[limits]\nmax_output_bytes = 10000\n").unwrap();
    assert_eq!(run(&enclave, &[b'a'; 10_000]).unwrap().len(), 10_000);
    assert!(matches!(
        run(&enclave, &[b'a'; 10_001]),
        Err(RunError::Fault(GuestFault::OutputLimit { limit: 10_000 }))
    ));
}

#[test]
fn input_failures_end_the_run_as_for_native_guests() {
    // A reader that ends before its declared length (a truncated sealed input, say).
    let enclave = load(ECHO, "").unwrap();
    let short = Input::new(std::io::Cursor::new(b"short".to_vec()), 10);
    let err = enclave.run(short, Vec::new(), None).unwrap_err();
    assert!(
        matches!(&err, RunError::Input(e) if e.to_string() == "input ended after 5 of 10 bytes"),
        "{err:?}"
    );
    // One that runs past it is caught after the guest finished.
    let long = Input::new(std::io::Cursor::new(b"longer".to_vec()), 4);
    let err = enclave.run(long, Vec::new(), None).unwrap_err();
    assert!(matches!(&err, RunError::Input(_)), "{err:?}");
}

#[test]
fn proc_exit_codes() {
    let enclave = load(ECHO, "").unwrap();
    let report = enclave
        .run(Input::from_bytes(b"0 ok".to_vec()), Vec::new(), None)
        .unwrap();
    assert_eq!(
        (report.output, report.exit_code),
        (b"0 ok".to_vec(), Some(0))
    );
    // A nonzero exit is a completed run: its output is released with its code.
    let report = enclave
        .run(Input::from_bytes(b"3 failed".to_vec()), Vec::new(), None)
        .unwrap();
    assert_eq!(
        (report.output, report.exit_code),
        (b"3 failed".to_vec(), Some(3))
    );
}

/// Rust std panics (an `unreachable` trap) when `random_get` or a clock is refused: the trap
/// names the refused call and the capability that grants it.
#[test]
fn a_trap_after_a_refused_call_names_it() {
    let random = r#"(import "wasi_snapshot_preview1" "random_get"
        (func $f (param i32 i32) (result i32)))"#;
    let clock = r#"(import "wasi_snapshot_preview1" "clock_time_get"
        (func $f (param i32 i64 i32) (result i32)))"#;
    let path_open = r#"(import "wasi_snapshot_preview1" "path_open"
        (func $f (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))"#;
    let trap_after = |import: &str, call: &str| {
        let wat = format!(
            r#"(module {import} (memory (export "memory") 1)
                (func (export "_start") (drop {call}) unreachable))"#
        );
        run(&load(&wat, "").unwrap(), b"").unwrap_err().to_string()
    };
    assert_eq!(
        trap_after(random, "(call $f (i32.const 0) (i32.const 16))"),
        "guest trapped: wasm `unreachable` instruction executed (after the enclave refused \
         wasi_snapshot_preview1.random_get: grant it with capabilities = [\"random\"] in the \
         manifest (Rust std's HashMap needs it))"
    );
    assert_eq!(
        trap_after(clock, "(call $f (i32.const 1) (i64.const 1) (i32.const 0))"),
        "guest trapped: wasm `unreachable` instruction executed (after the enclave refused \
         wasi_snapshot_preview1.clock_time_get: grant it with capabilities = \
         [\"clock-monotonic\"] in the manifest)"
    );
    let open = "(call $f (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) \
                (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 0))";
    assert_eq!(
        trap_after(path_open, open),
        "guest trapped: wasm `unreachable` instruction executed (after the enclave refused \
         wasi_snapshot_preview1.path_open, which no capability grants (docs/wasi.md))"
    );
    // A trap with no refused call is reported as it is.
    let wat = r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#;
    assert_eq!(
        run(&load(wat, "").unwrap(), b"").unwrap_err().to_string(),
        "guest trapped: wasm `unreachable` instruction executed"
    );
}

#[test]
fn refused_calls_return_their_errno() {
    let path_open = r#"(import "wasi_snapshot_preview1" "path_open"
        (func $f (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))"#;
    let open_call = "(call $f (i32.const 3) (i32.const 0) (i32.const 200) (i32.const 11) \
                     (i32.const 0) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 300))";
    assert_eq!(errno_of(path_open, open_call, ""), 76);
    let prestat = r#"(import "wasi_snapshot_preview1" "fd_prestat_get"
        (func $f (param i32 i32) (result i32)))"#;
    assert_eq!(
        errno_of(prestat, "(call $f (i32.const 3) (i32.const 200))", ""),
        8
    );
    let sock = r#"(import "wasi_snapshot_preview1" "sock_accept"
        (func $f (param i32 i32 i32) (result i32)))"#;
    assert_eq!(
        errno_of(
            sock,
            "(call $f (i32.const 3) (i32.const 0) (i32.const 200))",
            ""
        ),
        76
    );
    let fd_read = r#"(import "wasi_snapshot_preview1" "fd_read"
        (func $f (param i32 i32 i32 i32) (result i32)))"#;
    let read_call = "(call $f (i32.const 4) (i32.const 0) (i32.const 1) (i32.const 200))";
    assert_eq!(
        errno_of(fd_read, read_call, ""),
        8,
        "no descriptor but stdio"
    );
}

#[test]
fn clocks_and_randomness_only_when_granted() {
    let clock = r#"(import "wasi_snapshot_preview1" "clock_time_get"
        (func $f (param i32 i64 i32) (result i32)))"#;
    let wall = "(call $f (i32.const 0) (i64.const 1) (i32.const 200))";
    let monotonic = "(call $f (i32.const 1) (i64.const 1) (i32.const 200))";
    assert_eq!(errno_of(clock, wall, ""), 76);
    assert_eq!(errno_of(clock, monotonic, ""), 76);
    let wall_only = "capabilities = [\"clock-wall\"]\n";
    assert_eq!(errno_of(clock, wall, wall_only), 0);
    assert_eq!(errno_of(clock, monotonic, wall_only), 76);
    let monotonic_only = "capabilities = [\"clock-monotonic\"]\n";
    assert_eq!(errno_of(clock, monotonic, monotonic_only), 0);
    let cputime = "(call $f (i32.const 2) (i64.const 1) (i32.const 200))";
    let unknown = "(call $f (i32.const 9) (i64.const 1) (i32.const 200))";
    assert_eq!(errno_of(clock, cputime, monotonic_only), 76);
    assert_eq!(errno_of(clock, unknown, monotonic_only), 28);

    let random = r#"(import "wasi_snapshot_preview1" "random_get"
        (func $f (param i32 i32) (result i32)))"#;
    let call = "(call $f (i32.const 200) (i32.const 32))";
    assert_eq!(errno_of(random, call, ""), 76);
    assert_eq!(errno_of(random, call, "capabilities = [\"random\"]\n"), 0);
}

/// A buffer outside memory ends the run, whichever function is given it: WASI says such a call
/// traps, wasmtime-wasi's functions do, and the runtime's own do the same.
#[test]
fn out_of_bounds_buffers_trap() {
    let granted = "capabilities = [\"random\", \"clock-monotonic\"]\n";
    let trap = |import: &str, setup: &str, call: &str| {
        let wat = format!(
            r#"(module {import}
                (memory (export "memory") 1)
                (func (export "_start") {setup} (drop {call})))"#
        );
        match run(&load(&wat, granted).unwrap(), b"input") {
            Err(RunError::Trap(message)) => message,
            other => panic!("{call}: expected a trap, got {other:?}"),
        }
    };
    let f = |name: &str, params: &str| {
        format!(
            r#"(import "wasi_snapshot_preview1" "{name}" (func $f (param {params}) (result i32)))"#
        )
    };
    // fd_write needs all of a buffer; fd_read only as much as it read (5 bytes), so that part
    // must be outside memory.
    let iovec_past_end = "(i32.store (i32.const 0) (i32.const 65530)) \
                          (i32.store (i32.const 4) (i32.const 32))";
    let iovec_outside = "(i32.store (i32.const 0) (i32.const 65536)) \
                         (i32.store (i32.const 4) (i32.const 32))";
    let cases = [
        (
            f("fd_write", "i32 i32 i32 i32"),
            iovec_past_end,
            "(call $f (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))",
        ),
        (
            f("fd_write", "i32 i32 i32 i32"),
            "",
            "(call $f (i32.const 1) (i32.const 65535) (i32.const 1) (i32.const 8))",
        ),
        (
            f("fd_read", "i32 i32 i32 i32"),
            iovec_outside,
            "(call $f (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8))",
        ),
        (
            f("environ_sizes_get", "i32 i32"),
            "",
            "(call $f (i32.const 0) (i32.const 65534))",
        ),
        (
            f("args_sizes_get", "i32 i32"),
            "",
            "(call $f (i32.const 65534) (i32.const 0))",
        ),
        (
            f("args_get", "i32 i32"),
            "",
            "(call $f (i32.const 0) (i32.const 65535))",
        ),
        (
            f("fd_fdstat_get", "i32 i32"),
            "",
            "(call $f (i32.const 1) (i32.const 65530))",
        ),
    ];
    for (import, setup, call) in &cases {
        let message = trap(import, setup, call);
        assert!(message.contains("out of bounds"), "{call}: {message}");
    }
    let clock = f("clock_time_get", "i32 i64 i32");
    let message = trap(
        &clock,
        "",
        "(call $f (i32.const 1) (i64.const 1) (i32.const 65532))",
    );
    assert_eq!(
        message,
        "guest passed an out-of-bounds buffer to wasi_snapshot_preview1.clock_time_get \
         (ptr=0xfffc, len=0x8)"
    );
    let resolution = f("clock_res_get", "i32 i32");
    let message = trap(&resolution, "", "(call $f (i32.const 1) (i32.const -1))");
    assert!(
        message.contains("clock_res_get (ptr=0xffffffff, len=0x8)"),
        "{message}"
    );
    let random = f("random_get", "i32 i32");
    let message = trap(&random, "", "(call $f (i32.const 65530) (i32.const 32))");
    assert!(
        message.contains("random_get (ptr=0xfffa, len=0x20)"),
        "{message}"
    );
    let message = trap(&random, "", "(call $f (i32.const 16) (i32.const -1))");
    assert!(
        message.contains("random_get (ptr=0x10, len=0xffffffff)"),
        "{message}"
    );
}

#[test]
fn forbidden_imports_are_all_listed() {
    let wat = r#"(module
        (import "enclave_v1" "write_output" (func (param i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "no_such" (func))
        (import "wasi_snapshot_preview1" "fd_read" (global i32))
        (import "wasi_unstable" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "_start")))"#;
    let err = load(wat, "").unwrap_err();
    let LoadError::ForbiddenImports(list) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        list,
        &[
            "enclave_v1.write_output: not part of WASI preview 1 (a WASI guest may import only from wasi_snapshot_preview1)",
            "wasi_snapshot_preview1.fd_write: wrong signature: expected (i32, i32, i32, i32) -> (i32), found (i32, i32) -> (i32)",
            "wasi_snapshot_preview1.no_such: no such function in wasi_snapshot_preview1",
            "wasi_snapshot_preview1.fd_read: imported as a non-function",
            "wasi_unstable.fd_write: not part of WASI preview 1 (a WASI guest may import only from wasi_snapshot_preview1)",
        ]
    );
}

#[test]
fn a_command_needs_start_and_memory() {
    let err = load(r#"(module (memory (export "memory") 1))"#, "").unwrap_err();
    assert_eq!(
        err.to_string(),
        "module does not export function `_start: [] -> []`"
    );
    let err = load(r#"(module (func (export "_start")))"#, "").unwrap_err();
    assert_eq!(err.to_string(), "module does not export memory `memory`");
}

#[test]
fn native_guests_still_cannot_import_wasi() {
    let wat = format!(
        r#"(module {FD_WRITE} (memory (export "memory") 1) (func (export "enclave_main")))"#
    );
    let module = wat::parse_str(wat).unwrap();
    let manifest = Manifest::from_toml("product_id = 1\nsvn = 1\ndebug = false\n").unwrap();
    let bytes = attest::bundle::sign(&AuthorKey::generate().unwrap(), &manifest, &module).unwrap();
    let err = Enclave::load(&bytes, crate::Signers::Any).unwrap_err();
    assert_eq!(
        err.to_string(),
        "module imports wasi_snapshot_preview1.fd_write but the manifest says kind = \"enclave\": \
         a WASI program (wasm32-wasip1) needs kind = \"wasi\" in the manifest (docs/wasi.md)"
    );
    // And the other way round: an SDK guest under kind = "wasi".
    let sdk = r#"(module (import "enclave_v1" "read_input" (func (param i32 i32) (result i32)))
        (memory (export "memory") 1) (func (export "_start")))"#;
    let err = load(sdk, "").unwrap_err();
    assert_eq!(
        err.to_string(),
        "module imports enclave_v1.read_input but the manifest says kind = \"wasi\": an SDK \
         guest (wasm32-unknown-unknown) needs kind = \"enclave\", the default (docs/abi.md)"
    );
}

/// The table names every function wasmtime-wasi defines, with the same signature, and nothing
/// else: a preview-1 function added upstream would otherwise reach the guest unreviewed.
#[test]
fn the_table_matches_wasmtime_wasi() {
    let engine = Engine::default();
    let mut linker: Linker<WasiState> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut WasiState| &mut s.ctx).unwrap();
    let manifest = Manifest::from_toml(BASE).unwrap();
    let io = GuestIo::new(
        Input::from_bytes(Vec::new()),
        Box::new(Vec::new()),
        &manifest.limits,
        false,
    );
    let io: SharedIo = Arc::new(Mutex::new(io));
    let mut store = Store::new(
        &engine,
        WasiState::new(&io, &manifest, LastRefusal::default()),
    );
    let items: Vec<(String, Extern)> = linker
        .iter(&mut store)
        .map(|(module, name, item)| {
            assert_eq!(module, MODULE);
            (name.to_owned(), item)
        })
        .collect();
    let defined: Vec<(String, wasmtime::FuncType)> = items
        .into_iter()
        .map(|(name, item)| {
            let Extern::Func(func) = item else {
                panic!("{name} is not a function")
            };
            (name, func.ty(&store))
        })
        .collect();
    assert_eq!(defined.len(), FUNCTIONS.len());
    for (name, ty) in &defined {
        let function = functions::find(name).unwrap_or_else(|| panic!("{name} not in the table"));
        assert!(
            abi::signature_matches(ty, function.params, function.results),
            "{name}: table says {}, wasmtime-wasi {}",
            abi::signature(function.params, function.results),
            abi::render_func(ty)
        );
    }
}

/// `docs/wasi.md` lists every function with what it does, as the table says.
#[test]
fn the_docs_list_every_function() {
    let docs = include_str!("../../../../docs/wasi.md");
    for function in FUNCTIONS {
        let row = format!("| `{}` |", function.name);
        let line = docs
            .lines()
            .find(|line| line.starts_with(&row))
            .unwrap_or_else(|| panic!("docs/wasi.md has no row for {}", function.name));
        let errno = match function.behaviour {
            Behaviour::Fails(errno) => Some(errno),
            _ => None,
        };
        if let Some(errno) = errno {
            assert!(
                line.contains(&format!("`{}` ({})", errno.name(), errno.code())),
                "docs/wasi.md: {} should say it returns {}: {line}",
                function.name,
                errno.name()
            );
        }
    }
}

/// Writes its input to stderr, in two halves, then executes `unreachable`: what a Rust program
/// does when it panics on its input.
const PANICS_WITH_INPUT: &str = r#"(module
    (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "_start")
        (local $n i32)
        (i32.store (i32.const 0) (i32.const 1024))
        (i32.store (i32.const 4) (i32.const 8192))
        (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)))
        (local.set $n (i32.load (i32.const 16)))
        (i32.store (i32.const 4) (i32.div_u (local.get $n) (i32.const 2)))
        (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 20)))
        (i32.store (i32.const 0) (i32.add (i32.const 1024) (i32.div_u (local.get $n) (i32.const 2))))
        (i32.store (i32.const 4) (i32.sub (local.get $n) (i32.div_u (local.get $n) (i32.const 2))))
        (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 20)))
        unreachable))"#;

#[test]
fn stderr_before_a_trap_is_the_guest_s_words_withheld_from_a_production_operator() {
    let enclave = load(PANICS_WITH_INPUT, "").unwrap();
    let err = run(
        &enclave,
        b"panicked at src/main.rs:3:5:\nbad salary \"abc\"\n",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "guest trapped: wasm `unreachable` instruction executed (stderr: {})",
            crate::error::WITHHELD
        )
    );
    assert_eq!(
        err.to_requester_string(),
        "guest trapped: wasm `unreachable` instruction executed (stderr: panicked at \
         src/main.rs:3:5:\\nbad salary \"abc\")"
    );
    let words = err.guest_message().unwrap();
    assert!(!words.is_disclosed());

    let debug = Enclave::load(
        &sign(
            PANICS_WITH_INPUT,
            &BASE.replace("debug = false", "debug = true"),
        ),
        crate::Signers::Any,
    )
    .unwrap();
    let err = run(&debug, b"bad \"x\"\t1").unwrap_err();
    assert_eq!(
        err.to_string(),
        "guest trapped: wasm `unreachable` instruction executed (stderr: bad \"x\"\\t1)"
    );
    assert_eq!(err.to_string(), err.to_requester_string());
}

#[test]
fn only_the_last_kilobyte_of_stderr_is_kept_as_words() {
    let enclave = load(PANICS_WITH_INPUT, "").unwrap();
    let mut input = vec![b'a'; 5000];
    input.extend_from_slice(b"the end");
    let err = run(&enclave, &input).unwrap_err();
    let words = err.guest_message().unwrap().text();
    assert_eq!(words.len(), crate::host::MAX_STDERR_WORDS);
    assert!(words.ends_with("aaathe end"), "{words}");
}

#[test]
fn a_trap_without_stderr_is_a_plain_trap() {
    let enclave = load(PANICS_WITH_INPUT, "").unwrap();
    let err = run(&enclave, b"").unwrap_err();
    assert!(matches!(err, RunError::Trap(_)), "{err:?}");
    assert!(err.guest_message().is_none());
}

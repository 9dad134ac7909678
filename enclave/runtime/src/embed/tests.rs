//! The embedder's API on hand-written WAT guests: host caps, cancellation, calls by name, host
//! functions and shared engines, every refusal asserted exactly.
//!
//! As in the runner's tests, a test about another limit than the wall clock sets its deadline
//! out of reach (10 minutes), so a loaded machine cannot make the deadline fire first.

use std::sync::mpsc;

use attest::{bundle, AuthorKey, Manifest};

use super::*;
use crate::error::{GuestFault, RunError};
use crate::host_fns::{HostCallRefused, HostFunctions};
use crate::Input;

const BASE: &str = "product_id = 1\nsvn = 1\ndebug = false\n";
/// Limits that only the host's caps can bring within reach.
const FAR: &str = "[limits]\nfuel = 1000000000000\ntimeout_ms = 600000\n";

fn sign(wat: &str, manifest: &str) -> (AuthorKey, Vec<u8>) {
    let module = wat::parse_str(wat).unwrap();
    let manifest = Manifest::from_toml(&format!("{BASE}{manifest}")).unwrap();
    let key = AuthorKey::generate().unwrap();
    let bytes = bundle::sign(&key, &manifest, &module).unwrap();
    (key, bytes)
}

fn load(loader: &Loader, wat: &str, manifest: &str) -> Result<Enclave, LoadError> {
    loader.load(&sign(wat, manifest).1)
}

fn run(enclave: &Enclave, input: &[u8], options: &RunOptions) -> Result<Vec<u8>, RunError> {
    let input = Input::from_bytes(input.to_vec());
    Ok(enclave.run_with(input, Vec::new(), None, options)?.output)
}

/// A native guest with the basic imports, `extra` imports, one page and `body` as entry point.
fn guest(extra: &str, body: &str) -> String {
    format!(
        r#"(module
            (import "enclave_v1" "read_input" (func $read (param i32 i32) (result i32)))
            (import "enclave_v1" "write_output" (func $write (param i32 i32) (result i32)))
            {extra}
            (memory (export "memory") 1)
            (func (export "enclave_main") {body})
            (func (export "shout") (local $n i32) (local $i i32)
                (local.set $n (call $read (i32.const 0) (i32.const 1024)))
                (block $done (loop $next
                    (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
                    (i32.store8 (local.get $i)
                        (i32.sub (i32.load8_u (local.get $i)) (i32.const 32)))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br $next)))
                (drop (call $write (i32.const 0) (local.get $n)))))"#
    )
}

const ECHO: &str = r#"(local $n i32)
    (local.set $n (call $read (i32.const 1024) (i32.const 4096)))
    (drop (call $write (i32.const 1024) (local.get $n)))"#;

fn any() -> Loader {
    Loader::new(Signers::Any)
}

#[test]
fn host_caps_lower_the_authors_limits() {
    let capped = |policy: HostPolicy, body: &str, input: &[u8]| {
        let enclave = load(&any().policy(policy), &guest("", body), FAR).unwrap();
        run(&enclave, input, &RunOptions::new()).unwrap_err()
    };
    let error = capped(HostPolicy::new().fuel(1000), "(loop (br 0))", b"");
    assert!(
        matches!(error, RunError::FuelExhausted { fuel: 1000 }),
        "{error}"
    );
    let error = capped(HostPolicy::new().max_output_bytes(3), ECHO, b"four");
    assert!(
        matches!(error, RunError::Fault(GuestFault::OutputLimit { limit: 3 })),
        "{error}"
    );
    let error = capped(HostPolicy::new().max_input_bytes(3), ECHO, b"four");
    assert!(
        matches!(error, RunError::InputTooLarge { size: 4, limit: 3 }),
        "{error}"
    );
    let grow = "(drop (memory.grow (i32.const 1)))";
    let error = capped(HostPolicy::new().memory_bytes(65536), grow, b"");
    assert!(
        matches!(
            error,
            RunError::MemoryLimit {
                limit: 65536,
                requested: 131072
            }
        ),
        "{error}"
    );
}

#[test]
fn a_host_timeout_caps_an_unmetered_run() {
    let policy = HostPolicy::new().timeout_ms(50);
    let manifest = "[limits]\nfuel = 0\ntimeout_ms = 600000\n";
    let enclave = load(&any().policy(policy), &guest("", "(loop (br 0))"), manifest).unwrap();
    assert_eq!(enclave.limits().timeout_ms, 50);
    let error = run(&enclave, b"", &RunOptions::new()).unwrap_err();
    assert!(
        matches!(error, RunError::Timeout { timeout_ms: 50 }),
        "{error}"
    );
}

#[test]
fn a_looser_host_policy_changes_nothing() {
    let policy = HostPolicy::new().fuel(u64::MAX).timeout_ms(u64::MAX);
    let enclave = load(&any().policy(policy), &guest("", ECHO), "").unwrap();
    assert_eq!(enclave.limits(), &attest::Limits::default());
}

/// A guest that calls the host's `started` and then loops forever (no fuel, no near deadline).
fn looper(started: mpsc::Sender<()>) -> Enclave {
    let import =
        r#"(import "enclave_host" "started" (func $started (param i32 i32 i32 i32) (result i64)))"#;
    let body = "(drop (call $started (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))) (loop (br 0))";
    let started = std::sync::Mutex::new(started);
    let host = HostFunctions::new().define("started", move |_| {
        let _ = started.lock().unwrap().send(());
        Ok(Vec::new())
    });
    let manifest = "[limits]\nfuel = 0\ntimeout_ms = 600000\n";
    load(&any().host_functions(host), &guest(import, body), manifest).unwrap()
}

#[test]
fn a_cancel_handle_stops_a_running_guest() {
    let (tx, rx) = mpsc::channel();
    let enclave = looper(tx);
    let cancel = CancelHandle::new();
    let options = RunOptions::new().cancel(&cancel);
    std::thread::scope(|scope| {
        let run = scope.spawn(|| run(&enclave, b"", &options));
        // The guest is past its host call, in its loop, when the handle is cancelled.
        rx.recv().unwrap();
        cancel.cancel();
        let error = run.join().unwrap().unwrap_err();
        assert!(matches!(error, RunError::Cancelled), "{error}");
        assert_eq!(error.to_string(), "run cancelled by the host");
    });
    assert_eq!(enclave.free_instance_slots(), engine::POOL_INSTANCES);
}

#[test]
fn a_cancelled_handle_stops_a_run_before_it_starts() {
    let (tx, rx) = mpsc::channel();
    let enclave = looper(tx);
    let cancel = CancelHandle::new();
    cancel.cancel();
    let error = run(&enclave, b"", &RunOptions::new().cancel(&cancel)).unwrap_err();
    assert!(matches!(error, RunError::Cancelled), "{error}");
    assert!(rx.try_recv().is_err(), "the guest ran");
}

#[test]
fn exports_are_called_by_name() {
    let enclave = load(&any(), &guest("", ECHO), "").unwrap();
    let options = RunOptions::new();
    assert_eq!(
        enclave.call("shout", b"abc", None, &options).unwrap(),
        b"ABC"
    );
    assert_eq!(
        enclave
            .call("enclave_main", b"abc", None, &options)
            .unwrap(),
        b"abc"
    );
    let error = enclave.call("whisper", b"abc", None, &options).unwrap_err();
    assert!(
        matches!(&error, RunError::NoSuchExport(name) if name == "whisper"),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "the module exports no function `whisper: [] -> []`"
    );
}

/// A guest that passes its input to the host's `greet` with an output buffer of `out_cap`
/// bytes, and writes the result, or the negative status as 8 little-endian bytes.
fn greeter(out_cap: u32) -> String {
    let import =
        r#"(import "enclave_host" "greet" (func $greet (param i32 i32 i32 i32) (result i64)))"#;
    let body = format!(
        r#"(local $n i32) (local $r i64)
        (local.set $n (call $read (i32.const 0) (i32.const 1024)))
        (local.set $r (call $greet (i32.const 0) (local.get $n) (i32.const 2048) (i32.const {out_cap})))
        (if (i64.lt_s (local.get $r) (i64.const 0))
            (then (i64.store (i32.const 4000) (local.get $r))
                  (drop (call $write (i32.const 4000) (i32.const 8))))
            (else (drop (call $write (i32.const 2048) (i32.wrap_i64 (local.get $r))))))"#
    );
    guest(import, &body)
}

fn greet_host() -> HostFunctions {
    HostFunctions::new().define_capped("greet", 8, |name| {
        if name == b"nobody" {
            return Err(HostCallRefused);
        }
        Ok([b"hello, ", name].concat())
    })
}

fn status(code: i32) -> Vec<u8> {
    i64::from(code).to_le_bytes().to_vec()
}

#[test]
fn a_granted_host_function_is_called_with_bytes_in_and_out() {
    let loader = any().host_functions(greet_host());
    let enclave = load(&loader, &greeter(64), "").unwrap();
    let options = RunOptions::new();
    assert_eq!(
        run(&enclave, b"plugin", &options).unwrap(),
        b"hello, plugin"
    );
    // Over the function's input cap of 8 bytes: refused before anything is copied.
    assert_eq!(
        run(&enclave, b"123456789", &options).unwrap(),
        status(crate::services::status::ERR_TOO_LARGE)
    );
    assert_eq!(
        run(&enclave, b"nobody", &options).unwrap(),
        status(crate::services::status::ERR_FAILED)
    );
    let small = load(&loader, &greeter(4), "").unwrap();
    assert_eq!(
        run(&small, b"plugin", &options).unwrap(),
        status(crate::services::status::ERR_BUFFER_TOO_SMALL)
    );
}

#[test]
fn a_host_function_buffer_outside_memory_ends_the_run() {
    let loader = any().host_functions(greet_host());
    let import =
        r#"(import "enclave_host" "greet" (func $greet (param i32 i32 i32 i32) (result i64)))"#;
    let body = "(drop (call $greet (i32.const 0) (i32.const 1) (i32.const 65530) (i32.const 64)))";
    let enclave = load(&loader, &guest(import, body), "").unwrap();
    let error = run(&enclave, b"", &RunOptions::new()).unwrap_err();
    assert!(
        matches!(
            error,
            RunError::Fault(GuestFault::HostFunctionOutOfBounds {
                ptr: 65530,
                len: 64,
                ..
            })
        ),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "guest passed an out-of-bounds buffer to enclave_host.greet (ptr=0xfffa, len=0x40)"
    );
}

#[test]
fn host_functions_the_host_does_not_grant_are_refused_at_load() {
    let error = load(&any(), &greeter(64), "").unwrap_err();
    assert_eq!(
        error.to_string(),
        "module imports outside the granted ABI: enclave_host.greet: not a host function this \
         host grants"
    );
    let wrong = r#"(import "enclave_host" "greet" (func $greet (param i32) (result i64)))"#;
    let loader = any().host_functions(greet_host());
    let error = load(&loader, &guest(wrong, ""), "").unwrap_err();
    assert_eq!(
        error.to_string(),
        "module imports outside the granted ABI: enclave_host.greet: wrong signature: expected \
         (i32, i32, i32, i32) -> (i64), found (i32) -> (i64)"
    );
}

#[test]
fn the_loader_checks_its_allow_list() {
    let (key, bytes) = sign(&guest("", ECHO), "");
    let other = AuthorKey::generate().unwrap().public_key().signer_id();
    let error = Loader::new(&[other]).load(&bytes).unwrap_err();
    assert!(
        matches!(
            error,
            LoadError::Bundle(attest::BundleError::UntrustedSigner { .. })
        ),
        "{error}"
    );
    let error = Loader::default().load(&bytes).unwrap_err();
    assert!(
        matches!(
            error,
            LoadError::Bundle(attest::BundleError::NoTrustedSigners)
        ),
        "{error}"
    );
    Loader::new(&[key.public_key().signer_id()])
        .load(&bytes)
        .unwrap();
}

fn small_engine(fuel: bool) -> SharedEngine {
    SharedEngine::new(EngineConfig {
        pool_slots: 2,
        slot_memory_bytes: 16 << 20,
        fuel,
        ..EngineConfig::default()
    })
    .unwrap()
}

#[test]
fn many_enclaves_share_one_engine() {
    let engine = small_engine(true);
    let loader = any().engine(&engine);
    let enclaves: Vec<Enclave> = (0..4)
        .map(|_| load(&loader, &guest("", ECHO), "").unwrap())
        .collect();
    for enclave in &enclaves {
        assert_eq!(
            run(enclave, b"shared", &RunOptions::new()).unwrap(),
            b"shared"
        );
        // The slot size caps the manifest's 64 MiB.
        assert_eq!(enclave.limits().memory_bytes, 16 << 20);
    }
    assert_eq!(engine.free_instance_slots(), 2);
    // An unmetered enclave runs on a fuel-counting engine, bounded by time alone.
    let unmetered = load(&loader, &guest("", ECHO), "[limits]\nfuel = 0\n").unwrap();
    assert_eq!(run(&unmetered, b"x", &RunOptions::new()).unwrap(), b"x");
}

#[test]
fn a_shared_engine_refuses_what_it_cannot_honour() {
    let engine = small_engine(false);
    let loader = any().engine(&engine);
    let error = load(
        &loader,
        &guest("", ECHO),
        "[limits]\nstack_bytes = 1048576\n",
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the manifest's stack_bytes = 1048576 exceeds the engine's limit of 524288"
    );
    let error = load(&loader, &guest("", ECHO), "").unwrap_err();
    assert_eq!(
        error.to_string(),
        "runtime setup failed: the enclave has a fuel budget but the shared engine counts no fuel"
    );
    let unmetered = load(&loader, &guest("", ECHO), "[limits]\nfuel = 0\n").unwrap();
    assert_eq!(run(&unmetered, b"y", &RunOptions::new()).unwrap(), b"y");
}

#[test]
fn an_embedders_thread_becomes_a_guest_thread() {
    let enclave = load(&any(), &guest("", ECHO), "").unwrap();
    let stack = enclave.guest_stack_bytes();
    let worker = std::thread::Builder::new().stack_size(stack).spawn(move || {
        let here = std::thread::current().id();
        let _guest = GuestThread::enter(stack);
        // The run executes on this thread: a host function sees the same thread id.
        let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
        let record = std::sync::Arc::clone(&seen);
        let host = HostFunctions::new().define("where", move |_| {
            *record.lock().unwrap() = Some(std::thread::current().id());
            Ok(Vec::new())
        });
        let import = r#"(import "enclave_host" "where" (func $where (param i32 i32 i32 i32) (result i64)))"#;
        let body = "(drop (call $where (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))";
        let enclave = load(&any().host_functions(host), &guest(import, body), "").unwrap();
        run(&enclave, b"", &RunOptions::new()).unwrap();
        let on_guest = *seen.lock().unwrap() == Some(here);
        drop(_guest);
        run(&enclave, b"", &RunOptions::new()).unwrap();
        let after = *seen.lock().unwrap() == Some(here);
        (on_guest, after)
    });
    assert_eq!(worker.unwrap().join().unwrap(), (true, false));
}

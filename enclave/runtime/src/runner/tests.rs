//! Runtime tests on hand-written WAT guests: every limit and refusal, asserted exactly.
//!
//! A test about another limit than the wall clock sets a deadline out of reach (`timeout_ms =
//! 600000`, 10 minutes), so that a loaded machine cannot make the deadline fire first; only
//! `infinite_loop_hits_the_wall_clock_limit` is about the deadline.

use attest::{AuthorKey, Manifest};

use super::*;
use crate::error::GuestFault;

const BASE: &str = "product_id = 1\nsvn = 1\ndebug = false\n";

fn load(wat: &str, manifest: &str) -> Result<Enclave, LoadError> {
    let module = wat::parse_str(wat).unwrap();
    let manifest = Manifest::from_toml(&format!("{BASE}{manifest}")).unwrap();
    let bytes = bundle::sign(&AuthorKey::generate().unwrap(), &manifest, &module).unwrap();
    Enclave::load(&bytes, crate::Signers::Any)
}

fn run(enclave: &Enclave, input: &[u8]) -> Result<Vec<u8>, RunError> {
    let report = enclave.run(Input::from_bytes(input.to_vec()), Vec::new(), None)?;
    Ok(report.output)
}

/// A guest whose `enclave_main` body is `body`, with one page of memory and the basic imports.
fn guest(body: &str) -> String {
    format!(
        r#"(module
            (import "enclave_v1" "read_input" (func $read (param i32 i32) (result i32)))
            (import "enclave_v1" "write_output" (func $write (param i32 i32) (result i32)))
            (import "enclave_v1" "abort" (func $abort (param i32 i32)))
            (memory (export "memory") 1)
            (data (i32.const 0) "hostile abort")
            (func $recurse (param i32) (result i32)
                (call $recurse (i32.add (local.get 0) (i32.const 1))))
            (func (export "enclave_main") {body}))"#
    )
}

const ECHO: &str = r#"(local $n i32)
    (local.set $n (call $read (i32.const 1024) (i32.const 4096)))
    (drop (call $write (i32.const 1024) (local.get $n)))"#;

#[test]
fn echo_round_trip() {
    let enclave = load(&guest(ECHO), "").unwrap();
    assert_eq!(run(&enclave, b"hello enclave").unwrap(), b"hello enclave");
    assert_eq!(run(&enclave, b"").unwrap(), b"");
}

#[test]
fn each_run_gets_a_fresh_store() {
    // Increments a counter in memory and outputs it: always 1 if no state survives a run.
    let body = r#"(i32.store8 (i32.const 100) (i32.add (i32.load8_u (i32.const 100)) (i32.const 1)))
        (drop (call $write (i32.const 100) (i32.const 1)))"#;
    let enclave = load(&guest(body), "").unwrap();
    for _ in 0..3 {
        assert_eq!(run(&enclave, b"").unwrap(), [1]);
    }
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    let enclave = load(
        &guest("(loop (br 0))"),
        "[limits]\nfuel = 1000000\ntimeout_ms = 600000\n",
    )
    .unwrap();
    assert!(matches!(
        run(&enclave, b""),
        Err(RunError::FuelExhausted { fuel: 1_000_000 })
    ));
}

#[test]
fn infinite_loop_hits_the_wall_clock_limit() {
    // Fuel out of reach and a loop that never ends: the deadline is the only way out. No upper
    // bound on how long it took; a loaded machine only makes it later.
    let enclave = load(
        &guest("(loop (br 0))"),
        "[limits]\nfuel = 9223372036854775807\ntimeout_ms = 50\n",
    )
    .unwrap();
    assert!(matches!(
        run(&enclave, b""),
        Err(RunError::Timeout { timeout_ms: 50 })
    ));
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    let body = "(loop (br_if 0 (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))";
    let enclave = load(
        &guest(body),
        "[limits]\nmemory_bytes = 1048576\ntimeout_ms = 600000\n",
    )
    .unwrap();
    match run(&enclave, b"") {
        Err(RunError::MemoryLimit {
            limit: 1_048_576,
            requested,
        }) => {
            assert_eq!(requested, 1_048_576 + 65_536)
        }
        other => panic!("{other:?}"),
    }
}

/// A module whose memory starts above `memory_bytes` could never run: it is refused at load
/// (and so by `enclave sign`), naming both sizes.
#[test]
fn oversized_initial_memory_is_refused_at_load() {
    let wat = guest(ECHO).replace(
        "(memory (export \"memory\") 1)",
        "(memory (export \"memory\") 32)",
    );
    let err = load(&wat, "[limits]\nmemory_bytes = 1048576\n").unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::MemoryBelowMinimum {
                minimum: 2_097_152,
                limit: 1_048_576
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the module's memory starts at 2097152 bytes, more than the manifest's \
         limits.memory_bytes = 1048576: raise memory_bytes to at least 2097152"
    );
    // Exactly at the limit it loads and runs.
    let enclave = load(&wat, "[limits]\nmemory_bytes = 2097152\n").unwrap();
    assert_eq!(run(&enclave, b"ok").unwrap(), b"ok");
}

#[test]
fn deep_recursion_overflows_the_stack() {
    let enclave = load(
        &guest("(drop (call $recurse (i32.const 0)))"),
        "[limits]\ntimeout_ms = 600000\n",
    )
    .unwrap();
    assert!(matches!(
        run(&enclave, b""),
        Err(RunError::StackOverflow { limit: 524_288 })
    ));
}

#[test]
fn out_of_bounds_buffers_end_the_run() {
    let cases = [
        (
            "(drop (call $read (i32.const 65530) (i32.const 64)))",
            "read_input",
            65530,
            64,
        ),
        (
            "(drop (call $write (i32.const -16) (i32.const 64)))",
            "write_output",
            0xffff_fff0,
            64,
        ),
        (
            "(drop (call $write (i32.const 16) (i32.const -1)))",
            "write_output",
            16,
            u32::MAX,
        ),
        (
            "(call $abort (i32.const 65536) (i32.const 1))",
            "abort",
            65536,
            1,
        ),
    ];
    let enclave_for = |body| load(&guest(body), "").unwrap();
    for (body, function, ptr, len) in cases {
        let err = run(&enclave_for(body), b"input").unwrap_err();
        assert!(
            matches!(&err, RunError::Fault(GuestFault::OutOfBounds { function: f, ptr: p, len: l })
                if *f == function && *p == ptr && *l == len),
            "{body}: {err:?}"
        );
    }
}

#[test]
fn output_past_the_limit_ends_the_run() {
    let body = "(loop (drop (call $write (i32.const 0) (i32.const 4096))) (br 0))";
    let enclave = load(
        &guest(body),
        "[limits]\nmax_output_bytes = 10000\ntimeout_ms = 600000\n",
    )
    .unwrap();
    assert_eq!(
        run(&enclave, b"").unwrap_err().to_string(),
        "output limit of 10000 bytes exceeded"
    );
}

#[test]
fn input_past_the_limit_is_refused_before_running() {
    let enclave = load(&guest(ECHO), "[limits]\nmax_input_bytes = 4\n").unwrap();
    assert!(matches!(
        run(&enclave, b"hello"),
        Err(RunError::InputTooLarge { size: 5, limit: 4 })
    ));
}

#[test]
fn abort_and_traps_name_their_cause() {
    let enclave = load(&guest("(call $abort (i32.const 0) (i32.const 13))"), "").unwrap();
    let error = run(&enclave, b"").unwrap_err();
    assert_eq!(error.to_requester_string(), "guest aborted: hostile abort");
    // A production guest's words are confidential: the operator's view withholds them.
    assert_eq!(
        error.to_string(),
        format!("guest aborted: {}", crate::error::WITHHELD)
    );
    assert_eq!(
        error.guest_message().map(|m| (m.text(), m.is_disclosed())),
        Some(("hostile abort", false))
    );
    assert!(!format!("{error:?}").contains("hostile abort"));
    // A debug enclave's operator sees them.
    let module = wat::parse_str(guest("(call $abort (i32.const 0) (i32.const 13))")).unwrap();
    let manifest = Manifest::from_toml("product_id = 1\nsvn = 1\ndebug = true\n").unwrap();
    let bytes = bundle::sign(&AuthorKey::generate().unwrap(), &manifest, &module).unwrap();
    let error = run(&Enclave::load(&bytes, crate::Signers::Any).unwrap(), b"").unwrap_err();
    assert_eq!(error.to_string(), "guest aborted: hostile abort");
    let enclave = load(&guest("unreachable"), "").unwrap();
    assert_eq!(
        run(&enclave, b"").unwrap_err().to_string(),
        "guest trapped: wasm `unreachable` instruction executed"
    );
    let enclave = load(&guest("(drop (i32.div_u (i32.const 1) (i32.const 0)))"), "").unwrap();
    assert_eq!(
        run(&enclave, b"").unwrap_err().to_string(),
        "guest trapped: integer divide by zero"
    );
}

#[test]
fn forbidden_and_ungranted_imports_are_all_listed() {
    let wat = r#"(module
        (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
        (import "enclave_v1" "random" (func (param i32 i32) (result i32)))
        (import "enclave_v1" "read_input" (func (param i64) (result i32)))
        (import "enclave_v1" "no_such" (func))
        (import "enclave_v1" "write_output" (global i32))
        (memory (export "memory") 1)
        (func (export "enclave_main")))"#;
    let err = load(wat, "").unwrap_err();
    let LoadError::ForbiddenImports(list) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        list,
        &[
            "wasi_snapshot_preview1.fd_write: not part of the enclave ABI (no ambient capabilities)",
            "enclave_v1.random: capability `random` is not granted by the manifest",
            "enclave_v1.read_input: wrong signature: expected (i32, i32) -> (i32), found (i64) -> (i32)",
            "enclave_v1.no_such: no such function in enclave_v1",
            "enclave_v1.write_output: imported as a non-function",
        ]
    );
    // Granting the capability admits `random` (and only it).
    let wat = r#"(module
        (import "enclave_v1" "random" (func $random (param i32 i32) (result i32)))
        (import "enclave_v1" "write_output" (func $write (param i32 i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "enclave_main")
            (drop (call $random (i32.const 0) (i32.const 32)))
            (drop (call $write (i32.const 0) (i32.const 32)))))"#;
    let enclave = load(wat, "capabilities = [\"random\"]\n").unwrap();
    let (a, b) = (run(&enclave, b"").unwrap(), run(&enclave, b"").unwrap());
    assert_eq!(a.len(), 32);
    assert_ne!(a, b);
}

#[test]
fn missing_exports_are_refused() {
    let err = load("(module (memory (export \"memory\") 1))", "").unwrap_err();
    assert_eq!(
        err.to_string(),
        "module does not export function `enclave_main: [] -> []`"
    );
    let err = load("(module (func (export \"enclave_main\")))", "").unwrap_err();
    assert_eq!(err.to_string(), "module does not export memory `memory`");
}

#[test]
fn invalid_wasm_is_refused() {
    let manifest = Manifest::from_toml(BASE).unwrap();
    let bytes = bundle::sign(&AuthorKey::generate().unwrap(), &manifest, b"\0asm garbage").unwrap();
    assert!(matches!(
        Enclave::load(&bytes, crate::Signers::Any),
        Err(LoadError::InvalidModule(_))
    ));
}

#[test]
fn untrusted_signer_is_refused() {
    let manifest = Manifest::from_toml(BASE).unwrap();
    let module = wat::parse_str(guest(ECHO)).unwrap();
    let key = AuthorKey::generate().unwrap();
    let bytes = bundle::sign(&key, &manifest, &module).unwrap();
    let other = AuthorKey::generate().unwrap().public_key().signer_id();
    assert!(matches!(
        Enclave::load(&bytes, &[other]),
        Err(LoadError::Bundle(
            attest::BundleError::UntrustedSigner { .. }
        ))
    ));
    Enclave::load(&bytes, &[other, key.public_key().signer_id()]).unwrap();
}

#[test]
fn an_empty_allow_list_trusts_no_one() {
    let manifest = Manifest::from_toml(BASE).unwrap();
    let module = wat::parse_str(guest(ECHO)).unwrap();
    let key = AuthorKey::generate().unwrap();
    let bytes = bundle::sign(&key, &manifest, &module).unwrap();
    let error = Enclave::load(&bytes, &[]).unwrap_err();
    assert!(
        matches!(
            error,
            LoadError::Bundle(attest::BundleError::NoTrustedSigners)
        ),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "no signer is trusted: the allow-list of signers is empty"
    );
    Enclave::load(&bytes, crate::Signers::Any).unwrap();
}

#[test]
fn the_host_keeps_serving_after_hostile_runs() {
    let bomb = load(&guest("(loop (br 0))"), "[limits]\nfuel = 100000\n").unwrap();
    let echo = load(&guest(ECHO), "").unwrap();
    for _ in 0..5 {
        assert!(run(&bomb, b"").is_err());
        assert_eq!(run(&echo, b"ok").unwrap(), b"ok");
    }
}

/// A guest that, on input "w", writes markers into its initial page and into a page it grows;
/// on any other input it grows the same page and outputs what it finds at both places.
const SNOOP: &str = r#"(local $n i32)
    (local.set $n (call $read (i32.const 1024) (i32.const 1)))
    (drop (memory.grow (i32.const 1)))
    (if (i32.eq (i32.load8_u (i32.const 1024)) (i32.const 119))
        (then
            (i32.store (i32.const 40000) (i32.const 0x5ec2e75))
            (i32.store (i32.const 70000) (i32.const 0x5ec2e75)))
        (else
            (i32.store (i32.const 2000) (i32.load (i32.const 40000)))
            (i32.store (i32.const 2004) (i32.load (i32.const 70000)))
            (drop (call $write (i32.const 2000) (i32.const 8)))))"#;

#[test]
fn no_memory_survives_into_the_next_run() {
    let enclave = load(&guest(SNOOP), "").unwrap();
    // Pool slots are reused: many writes, then many reads, on the same pool.
    for _ in 0..3 {
        assert_eq!(run(&enclave, b"w").unwrap(), b"");
        assert_eq!(run(&enclave, b"r").unwrap(), [0; 8]);
    }
    enclave
        .on_guest_thread(|| {
            for _ in 0..3 {
                assert_eq!(run(&enclave, b"w").unwrap(), b"");
                assert_eq!(run(&enclave, b"r").unwrap(), [0; 8]);
            }
        })
        .unwrap();
}

#[test]
fn runs_on_a_guest_thread_keep_every_limit() {
    let echo = load(&guest(ECHO), "").unwrap();
    let deep = load(
        &guest("(drop (call $recurse (i32.const 0)))"),
        "[limits]\ntimeout_ms = 600000\n",
    )
    .unwrap();
    let bomb = load(
        &guest("(loop (br 0))"),
        "[limits]\nfuel = 100000\ntimeout_ms = 600000\n",
    )
    .unwrap();
    echo.on_guest_thread(|| {
        for _ in 0..3 {
            assert_eq!(run(&echo, b"hi").unwrap(), b"hi");
            assert!(matches!(
                run(&deep, b""),
                Err(RunError::StackOverflow { .. })
            ));
            assert!(matches!(
                run(&bomb, b""),
                Err(RunError::FuelExhausted { .. })
            ));
        }
    })
    .unwrap();
}

#[test]
fn a_guest_thread_too_small_for_a_bigger_stack_is_not_used() {
    let small = load(&guest(ECHO), "[limits]\nstack_bytes = 65536\n").unwrap();
    let big = load(
        &guest("(drop (call $recurse (i32.const 0)))"),
        "[limits]\nstack_bytes = 8388608\ntimeout_ms = 600000\n",
    )
    .unwrap();
    // `big` needs more native stack than `small`'s thread has: it gets a thread of its own,
    // and its overflow is still the wasm limit's trap.
    small
        .on_guest_thread(|| {
            assert!(matches!(
                run(&big, b""),
                Err(RunError::StackOverflow { limit: 8388608 })
            ));
        })
        .unwrap();
}

#[test]
fn more_concurrent_runs_than_pool_slots_wait_for_a_slot() {
    let enclave = load(&guest(ECHO), "").unwrap();
    let threads = usize::try_from(engine::POOL_INSTANCES).unwrap() * 2;
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..threads)
            .map(|i| {
                let enclave = &enclave;
                scope.spawn(move || {
                    let input = format!("run {i}");
                    (0..5).all(|_| run(enclave, input.as_bytes()).unwrap() == input.as_bytes())
                })
            })
            .collect();
        for run in runs {
            assert!(run.join().unwrap());
        }
    });
}

#[test]
fn cached_load_runs_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let cache = CodeCache::new(dir.path().to_owned(), &[1; 32]);
    let module = wat::parse_str(guest(ECHO)).unwrap();
    let manifest = Manifest::from_toml(BASE).unwrap();
    let bytes = bundle::sign(&AuthorKey::generate().unwrap(), &manifest, &module).unwrap();
    let first = Enclave::load_cached(&bytes, crate::Signers::Any, Some(&cache)).unwrap();
    let second = Enclave::load_cached(&bytes, crate::Signers::Any, Some(&cache)).unwrap();
    assert_eq!(first.cache_outcome(), Some(CacheOutcome::Miss));
    assert_eq!(second.cache_outcome(), Some(CacheOutcome::Hit));
    assert_eq!(
        Enclave::load(&bytes, crate::Signers::Any)
            .unwrap()
            .cache_outcome(),
        None
    );
    assert_eq!(second.measurement(), first.measurement());
    assert_eq!(run(&second, b"cached").unwrap(), b"cached");
    // The signature is checked before the cache is consulted.
    let mut evil = bytes.clone();
    let last = evil.len() - 1;
    evil[last] ^= 1;
    assert!(Enclave::load_cached(&evil, crate::Signers::Any, Some(&cache)).is_err());
}

/// Exact fuel tells the operator which way the guest decided: only a debug enclave reports it.
#[test]
fn fuel_is_reported_for_debug_enclaves_only() {
    let fuel_of = |debug: bool, limits: &str| {
        let module = wat::parse_str(guest(ECHO)).unwrap();
        let toml = format!(
            "{}{limits}",
            BASE.replace("debug = false", &format!("debug = {debug}"))
        );
        let manifest = Manifest::from_toml(&toml).unwrap();
        let bytes = bundle::sign(&AuthorKey::generate().unwrap(), &manifest, &module).unwrap();
        let enclave = Enclave::load(&bytes, crate::Signers::Any).unwrap();
        let input = Input::from_bytes(b"decline".to_vec());
        enclave.run(input, Vec::new(), None).unwrap().fuel_used
    };
    assert_eq!(fuel_of(false, ""), None);
    assert!(fuel_of(true, "").is_some_and(|fuel| fuel > 0));
    assert_eq!(fuel_of(true, "[limits]\nfuel = 0\n"), Some(0));
    assert_eq!(fuel_of(false, "[limits]\nfuel = 0\n"), None);
}

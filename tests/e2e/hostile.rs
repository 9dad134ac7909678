//! The hostile guest: every attack ends its own run with a clear error, and the host keeps
//! serving.

use enclave_runtime::{GuestFault, RunError};
use enclave_tests::guests::{FORBIDDEN, HOSTILE, WORDCOUNT};

use crate::{load, run};

/// Every limit but the wall clock is small enough to decide its attack; the deadline (10 minutes)
/// is out of reach, so which limit fires does not depend on how loaded the machine is.
const LIMITS: &str = "[limits]\nmemory_bytes = 16777216\nfuel = 2000000000\ntimeout_ms = 600000\n\
                      max_output_bytes = 1048576\n";

#[test]
fn every_attack_is_contained() {
    let hostile = load(HOSTILE, LIMITS);
    let honest = load(WORDCOUNT, "");
    let check = |attack: &str, expect: &dyn Fn(&RunError) -> bool| {
        let err = run(&hostile, attack.as_bytes()).unwrap_err();
        assert!(expect(&err), "{attack}: unexpected {err:?}");
        // The host survives and serves the next request.
        assert_eq!(run(&honest, b"still here").unwrap(), b"here\t1\nstill\t1\n");
    };
    check("loop", &|e| {
        matches!(
            e,
            RunError::FuelExhausted {
                fuel: 2_000_000_000
            }
        )
    });
    check("memory", &|e| {
        matches!(
            e,
            RunError::MemoryLimit {
                limit: 16_777_216,
                ..
            }
        )
    });
    check("recurse", &|e| matches!(e, RunError::StackOverflow { .. }));
    check("trap", &|e| {
        e.to_string() == "guest trapped: wasm `unreachable` instruction executed"
    });
    check("panic", &|e| {
        // A production guest's words: withheld from `Display`, kept for the requester.
        e.to_string()
            .starts_with("guest aborted: <message withheld")
            && e.to_requester_string().contains("hostile panic")
    });
    check("abort", &|e| {
        e.to_requester_string() == "guest aborted: hostile abort"
    });
    check("huge-output", &|e| {
        matches!(
            e,
            RunError::Fault(GuestFault::OutputLimit { limit: 1_048_576 })
        )
    });
    check("oob-read", &|e| {
        matches!(
            e,
            RunError::Fault(GuestFault::OutOfBounds {
                function: "read_input",
                ptr: 0xffff_fff0,
                len: 64
            })
        )
    });
    check("oob-write", &|e| {
        matches!(
            e,
            RunError::Fault(GuestFault::OutOfBounds {
                function: "write_output",
                ptr: 0xffff_fff0,
                len: 64
            })
        )
    });
    check("overflow-len", &|e| {
        matches!(
            e,
            RunError::Fault(GuestFault::OutOfBounds {
                ptr: 16,
                len: u32::MAX,
                ..
            })
        )
    });
}

#[test]
fn wall_clock_limit_stops_a_loop_with_unlimited_fuel() {
    let hostile = load(
        HOSTILE,
        "[limits]\nfuel = 9223372036854775807\ntimeout_ms = 100\n",
    );
    assert!(matches!(
        run(&hostile, b"loop"),
        Err(RunError::Timeout { timeout_ms: 100 })
    ));
}

#[test]
fn unmetered_guests_are_stopped_by_the_wall_clock() {
    // fuel = 0: no instruction counting, so the deadline is the only bound on a guest that never
    // ends. No upper bound on how long it took: a loaded machine only makes it later.
    let hostile = load(HOSTILE, "[limits]\nfuel = 0\ntimeout_ms = 100\n");
    assert!(matches!(
        run(&hostile, b"loop"),
        Err(RunError::Timeout { timeout_ms: 100 })
    ));
}

#[test]
fn unmetered_guests_keep_the_memory_and_stack_limits() {
    // No fuel and a deadline out of reach: only the memory limit stops the bomb and only the
    // stack limit stops the recursion, however slowly they run.
    let hostile = load(
        HOSTILE,
        "[limits]\nfuel = 0\nmemory_bytes = 16777216\ntimeout_ms = 600000\n",
    );
    assert!(matches!(
        run(&hostile, b"memory"),
        Err(RunError::MemoryLimit {
            limit: 16_777_216,
            ..
        })
    ));
    assert!(matches!(
        run(&hostile, b"recurse"),
        Err(RunError::StackOverflow { limit: 524_288 })
    ));
    // Same output as metered, reported fuel 0, another measurement.
    let unmetered = load(WORDCOUNT, "[limits]\nfuel = 0\n");
    let metered = load(WORDCOUNT, "");
    let input = enclave_runtime::Input::from_bytes(b"b a b".to_vec());
    let report = unmetered.run(input, Vec::new(), None).unwrap();
    assert_eq!(report.output, b"b\t2\na\t1\n");
    // A production enclave's fuel is withheld (docs/threat-model.md).
    assert_eq!(report.fuel_used, None);
    assert_eq!(run(&metered, b"b a b").unwrap(), report.output);
    assert_ne!(unmetered.measurement(), metered.measurement());
}

#[test]
fn forbidden_imports_are_refused_at_load() {
    let err =
        enclave_runtime::Enclave::load(&crate::sign(FORBIDDEN, ""), enclave_runtime::Signers::Any)
            .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("module imports outside the granted ABI: "),
        "{text}"
    );
    assert!(
        text.contains("not part of the enclave ABI (no ambient capabilities)"),
        "{text}"
    );
}

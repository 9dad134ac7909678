//! How a child's end is read, and the budget's bounds. The child processes themselves are
//! exercised through the `enclave` binary (enclave/cli/tests/compile_budget.rs).

use super::*;

fn compiler() -> ChildCompiler {
    let budget = CompileBudget::new(2, 512 << 20).unwrap();
    ChildCompiler::new(PathBuf::from("enclave"), Vec::new(), budget, None)
}

fn usage(end: End, cpu_ms: u64) -> Usage {
    Usage {
        end,
        cpu_ms,
        max_rss_kib: 1024,
    }
}

#[test]
fn budgets_below_the_minimum_are_refused() {
    assert_eq!(
        CompileBudget::new(0, DEFAULT_MEMORY_BYTES),
        Err(BudgetError::ZeroCpu)
    );
    assert_eq!(
        CompileBudget::new(1, MIN_MEMORY_BYTES - 1),
        Err(BudgetError::MemoryTooSmall(MIN_MEMORY_BYTES - 1))
    );
    let budget = CompileBudget::new(1, MIN_MEMORY_BYTES).unwrap();
    assert_eq!(
        (budget.cpu_seconds(), budget.memory_bytes()),
        (1, MIN_MEMORY_BYTES)
    );
    assert_eq!(
        CompileBudget::default(),
        CompileBudget::new(30, 2 << 30).unwrap()
    );
}

#[test]
fn a_clean_exit_is_the_reply() {
    let reply = compiler().judge(&usage(End::Exited(0), 10), b"reply".to_vec(), b"");
    assert_eq!(reply, Ok(b"reply".to_vec()));
}

#[test]
fn a_refusal_carries_the_childs_reason() {
    let end = usage(End::Exited(EXIT_REFUSED), 10);
    let refused = compiler().judge(&end, Vec::new(), b"type mismatch\n");
    assert_eq!(refused, Err(SandboxError::Refused("type mismatch".into())));
}

#[test]
fn sigxcpu_and_a_kill_past_the_budget_are_the_cpu_budget() {
    for (end, cpu_ms) in [
        (End::Signal(libc::SIGXCPU), 2_000),
        (End::Signal(libc::SIGKILL), 3_000),
    ] {
        let err = compiler().judge(&usage(end, cpu_ms), Vec::new(), b"");
        let Err(SandboxError::Budget(budget)) = err else {
            panic!("{err:?}");
        };
        assert_eq!(
            (budget.resource, budget.budget, budget.cpu_ms),
            (BudgetResource::Cpu, 2, cpu_ms)
        );
    }
}

#[test]
fn an_abort_is_the_memory_budget() {
    let err = compiler().judge(&usage(End::Signal(libc::SIGABRT), 100), Vec::new(), b"");
    let Err(SandboxError::Budget(budget)) = err else {
        panic!("{err:?}");
    };
    assert_eq!(
        (budget.resource, budget.budget),
        (BudgetResource::Memory, 512 << 20)
    );
}

#[test]
fn other_ends_are_sandbox_failures() {
    let cases = [
        (
            End::Signal(libc::SIGKILL),
            100,
            "the compile sandbox failed: the child was killed by signal 9",
        ),
        (
            End::Signal(libc::SIGSEGV),
            100,
            "the compile sandbox failed: the child was killed by signal 11",
        ),
        (
            End::Exited(1),
            100,
            "the compile sandbox failed: the child exited with 1: boom",
        ),
    ];
    for (end, cpu_ms, message) in cases {
        let err = compiler()
            .judge(&usage(end, cpu_ms), Vec::new(), b"boom")
            .unwrap_err();
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn times_add_up_in_milliseconds() {
    let time = libc::timeval {
        tv_sec: 2,
        tv_usec: 345_678,
    };
    assert_eq!(millis(time), 2_345);
}

#[test]
fn a_turn_holds_the_platform_lock_until_dropped() {
    use std::os::unix::fs::PermissionsExt as _;
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join(LOCK_FILE);
    let turn = CompileTurn::take(Some(&path)).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Another process (or another open of the file in this one) cannot take it meanwhile.
    let other = File::open(&path).unwrap();
    assert!(matches!(
        other.try_lock(),
        Err(std::fs::TryLockError::WouldBlock)
    ));
    drop(turn);
    other.try_lock().unwrap();
}

#[test]
fn without_a_home_turns_are_per_process() {
    let turn = CompileTurn::take(None).unwrap();
    assert!(PROCESS_TURN.try_lock().is_err());
    drop(turn);
    assert!(PROCESS_TURN.try_lock().is_ok());
}

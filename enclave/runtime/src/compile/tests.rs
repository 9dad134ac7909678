//! The isolated path with sandboxes that run `serve` in this process: what the runtime accepts
//! from a sandbox, what it refuses, and how a budget stop reaches the caller.

use attest::Limits;

use super::*;

fn wasm(answer: i32) -> Vec<u8> {
    wat::parse_str(format!(
        "(module (func (export \"answer\") (result i32) i32.const {answer}))"
    ))
    .unwrap()
}

/// What the sandbox does with a request.
#[derive(Debug)]
enum Behaviour {
    /// Runs `serve`, as a child process would.
    Serve,
    /// Answers with `serve`'s reply to another module.
    AnswerFor(Vec<u8>),
    /// Changes one byte of the reply at this offset.
    Flip(usize),
    /// Stops at a budget.
    Stop(BudgetExceeded),
}

#[derive(Debug)]
struct InProcessSandbox(Behaviour);

// SAFETY: every reply is `serve`'s own output (or, in the tests of refusals, a corruption of it
// that the runtime must refuse before loading).
#[allow(unsafe_code, reason = "a test sandbox")]
unsafe impl Sandbox for InProcessSandbox {
    fn compile(&self, request: &CompileRequest) -> Result<Vec<u8>, SandboxError> {
        let serve = |request: &[u8]| serve(request).map_err(|e| SandboxError::Refused(e.refusal()));
        match &self.0 {
            Behaviour::Serve => serve(request.as_bytes()),
            Behaviour::AnswerFor(other) => {
                let header = &request.as_bytes()[..REQUEST_HEADER];
                serve(&[header, other].concat())
            }
            Behaviour::Flip(at) => {
                let mut reply = serve(request.as_bytes())?;
                reply[*at] ^= 1;
                Ok(reply)
            }
            Behaviour::Stop(budget) => Err(SandboxError::Budget(*budget)),
        }
    }
}

fn answer(engine: &Engine, module: &Module) -> i32 {
    let mut store = wasmtime::Store::new(engine, ());
    // Unmetered engines have no fuel to set.
    let _ = store.set_fuel(1_000_000);
    store.set_epoch_deadline(1_000_000);
    let instance = wasmtime::Instance::new(&mut store, module, &[]).unwrap();
    let answer = instance
        .get_typed_func::<(), i32>(&mut store, "answer")
        .unwrap();
    answer.call(&mut store, ()).unwrap()
}

fn compile_in(behaviour: Behaviour, limits: &Limits, wasm: &[u8]) -> Result<i32, LoadError> {
    let engine = engine::build_pooled(limits).unwrap();
    let target = Target {
        engine: &engine,
        settings: engine::settings_of(limits),
    };
    let sandbox = InProcessSandbox(behaviour);
    let compiled = compile(Compilation::Isolated(&sandbox), &target, wasm)?;
    assert!(compiled.serialized.is_some());
    Ok(answer(&engine, compiled.code.module().unwrap()))
}

#[test]
fn the_sandbox_engine_compiles_for_the_pooled_engine() {
    for limits in [
        Limits::default(),
        Limits {
            fuel: 0,
            stack_bytes: 1 << 20,
            ..Limits::default()
        },
    ] {
        let pooled = engine::build_pooled(&limits).unwrap();
        let settings = engine::settings_of(&limits);
        let sandboxed = engine::build_for(settings).unwrap();
        assert_eq!(
            EngineFingerprint::of(&pooled, limits.stack_bytes),
            EngineFingerprint::of(&sandboxed, limits.stack_bytes)
        );
    }
}

#[test]
fn a_served_reply_loads_and_runs() {
    assert_eq!(
        compile_in(Behaviour::Serve, &Limits::default(), &wasm(42)).unwrap(),
        42
    );
    let unmetered = Limits {
        fuel: 0,
        ..Limits::default()
    };
    assert_eq!(
        compile_in(Behaviour::Serve, &unmetered, &wasm(7)).unwrap(),
        7
    );
}

#[test]
fn a_reply_for_another_module_is_refused() {
    let err = compile_in(Behaviour::AnswerFor(wasm(1)), &Limits::default(), &wasm(2)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "runtime setup failed: the compile sandbox answered for another module"
    );
}

#[test]
fn a_changed_reply_header_is_refused() {
    let cases = [
        (0, "something that is not a reply"),
        (REPLY_MAGIC.len(), "for another module"),
        (
            REPLY_MAGIC.len() + DIGEST_LEN,
            "for another engine configuration",
        ),
    ];
    for (at, what) in cases {
        let err = compile_in(Behaviour::Flip(at), &Limits::default(), &wasm(3)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("runtime setup failed: the compile sandbox answered {what}")
        );
    }
}

#[test]
fn a_changed_artifact_does_not_load() {
    // wasmtime's own header check refuses a changed artifact header.
    let err = compile_in(Behaviour::Flip(REPLY_HEADER), &Limits::default(), &wasm(3)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("runtime setup failed: the compile sandbox's code does not load"),
        "{err}"
    );
}

#[test]
fn a_budget_stop_is_a_compile_budget_error() {
    let budget = BudgetExceeded {
        resource: BudgetResource::Cpu,
        budget: 2,
        cpu_ms: 2_010,
        max_rss_kib: 51_200,
    };
    let err = compile_in(Behaviour::Stop(budget), &Limits::default(), &wasm(3)).unwrap_err();
    assert!(matches!(err, LoadError::CompileBudget(b) if b == budget));
    assert_eq!(
        err.to_string(),
        "compilation stopped at its cpu budget of 2 CPU-seconds: the module costs more to \
         compile than this platform allows (used 2010 CPU-ms, peak 51200 KiB resident)"
    );
}

#[test]
fn an_invalid_module_is_refused_by_the_parent_before_the_sandbox() {
    let err = compile_in(Behaviour::Flip(0), &Limits::default(), b"\0asm garbage").unwrap_err();
    assert!(matches!(err, LoadError::InvalidModule(_)), "{err}");
}

#[test]
fn serve_refuses_a_malformed_request() {
    for request in [
        &b""[..],
        b"ENCLCRv2",
        b"ENCLCRv1\0\0\0\0\0\0\0\0\0\0",
        b"ENCLCRv3\0\0\0\0\0\0\0\0\0\0",
        b"ENCLCRv2\0\0\0\0\0\0\0\0\0",
        b"ENCLCRv2\0\0\0\0\0\0\0\0\x02\0",
        b"ENCLCRv2\0\0\0\0\0\0\0\0\0\x02",
    ] {
        assert!(
            matches!(serve(request), Err(ServeError::Malformed)),
            "{request:?}"
        );
    }
}

#[test]
fn serve_reports_an_invalid_module_without_the_prefix() {
    let request = CompileRequest::new(
        engine::settings_of(&Limits::default()),
        b"\0asm\x01\0\0\0\x99",
    );
    let err = serve(request.as_bytes()).unwrap_err();
    assert_eq!(err.refusal(), "malformed section id (at offset 0x8)");
}

//! One generated module per limit: at the cap it passes, one past it is refused with the exact
//! error. The issue's hostile modules (issue 12, item 3), scaled to the limits, are refused before
//! anything compiles.

use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, CustomSection, DataSection, ElementSection, Elements,
    EntityType, ExportKind, ExportSection, Function, FunctionSection, GlobalSection, GlobalType,
    ImportSection, MemorySection, MemoryType, Module, TypeSection, ValType,
};

use super::*;

/// What a generated module holds besides one type `() -> ()` and one memory.
#[derive(Default)]
struct Spec {
    extra_types: u32,
    imports: u32,
    globals: u32,
    exports: u32,
    element_segments: u32,
    data_segments: u32,
    bodies: Vec<Function>,
    /// A trailing custom section of this many payload bytes.
    padding: Option<usize>,
}

impl Spec {
    fn with_bodies(bodies: impl IntoIterator<Item = Function>) -> Self {
        Self {
            bodies: bodies.into_iter().collect(),
            ..Self::default()
        }
    }

    fn build(&self) -> Vec<u8> {
        let mut module = Module::new();
        let mut types = TypeSection::new();
        for _ in 0..=self.extra_types {
            types.ty().function([], []);
        }
        module.section(&types);
        let mut imports = ImportSection::new();
        for i in 0..self.imports {
            imports.import("env", &format!("f{i}"), EntityType::Function(0));
        }
        module.section(&imports);
        let mut functions = FunctionSection::new();
        self.bodies.iter().for_each(|_| {
            functions.function(0);
        });
        module.section(&functions);
        let mut memories = MemorySection::new();
        memories.memory(MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        module.section(&memories);
        let mut globals = GlobalSection::new();
        for _ in 0..self.globals {
            let ty = GlobalType {
                val_type: ValType::I32,
                mutable: false,
                shared: false,
            };
            globals.global(ty, &ConstExpr::i32_const(0));
        }
        module.section(&globals);
        let mut exports = ExportSection::new();
        for i in 0..self.exports {
            exports.export(&format!("m{i}"), ExportKind::Memory, 0);
        }
        module.section(&exports);
        let mut elements = ElementSection::new();
        for _ in 0..self.element_segments {
            elements.passive(Elements::Functions([].as_slice().into()));
        }
        module.section(&elements);
        let mut code = CodeSection::new();
        self.bodies.iter().for_each(|body| {
            code.function(body);
        });
        module.section(&code);
        let mut data = DataSection::new();
        for _ in 0..self.data_segments {
            data.passive([]);
        }
        module.section(&data);
        if let Some(bytes) = self.padding {
            let data = vec![0; bytes];
            module.section(&CustomSection {
                name: "padding".into(),
                data: data.as_slice().into(),
            });
        }
        module.finish()
    }
}

fn empty() -> Function {
    with_locals(&[])
}

fn with_locals(groups: &[(u32, ValType)]) -> Function {
    let mut function = Function::new(groups.iter().copied());
    function.instructions().end();
    function
}

/// `depth` nested `block`s and `if`s in turn.
fn nested(depth: u64) -> Function {
    let mut function = Function::new([]);
    let mut code = function.instructions();
    for level in 0..depth {
        match level % 2 {
            0 => code.block(BlockType::Empty),
            _ => code.i32_const(1).if_(BlockType::Empty),
        };
    }
    for _ in 0..depth {
        code.end();
    }
    code.end();
    function
}

/// `depth` nested `loop`s, each inside a `block`.
fn nested_loops(depth: u64) -> Function {
    let mut function = Function::new([]);
    let mut code = function.instructions();
    for _ in 0..depth {
        code.block(BlockType::Empty).loop_(BlockType::Empty);
    }
    for _ in 0..depth {
        code.end().end();
    }
    code.end();
    function
}

/// `locals` i64 locals and `branches` empty blocks in a row.
fn branches(locals: u32, branches: u64) -> Function {
    let mut function = Function::new([(locals, ValType::I64)]);
    let mut code = function.instructions();
    for _ in 0..branches {
        code.block(BlockType::Empty).end();
    }
    code.end();
    function
}

/// `n` empty loops in a row.
fn loops(n: u64) -> Function {
    let mut function = Function::new([]);
    let mut code = function.instructions();
    for _ in 0..n {
        code.loop_(BlockType::Empty).end();
    }
    code.end();
    function
}

/// `n` calls of function 0 (`() -> ()`).
fn calls(n: u64) -> Function {
    let mut function = Function::new([]);
    let mut code = function.instructions();
    for _ in 0..n {
        code.call(0);
    }
    code.end();
    function
}

fn br_table(targets: u64) -> Function {
    let mut function = Function::new([]);
    let targets = std::iter::repeat_n(0, usize::try_from(targets).unwrap());
    function
        .instructions()
        .block(BlockType::Empty)
        .i32_const(0)
        .br_table(targets, 0)
        .end()
        .end();
    function
}

/// A body of exactly `bytes` bytes (at least 16), made of `v128.const; drop` and `nop`s so that
/// it validates quickly.
fn body_of(bytes: u64) -> Function {
    const V128_CONST_DROP: u64 = 19;
    let mut function = Function::new([]);
    let mut code = function.instructions();
    // The local declaration count (1 byte) and the final `end`.
    let mut left = bytes - 2;
    while left >= V128_CONST_DROP {
        code.v128_const(-1).drop();
        left -= V128_CONST_DROP;
    }
    (0..left).for_each(|_| {
        code.nop();
    });
    code.end();
    assert_eq!(function.byte_len() as u64, bytes);
    function
}

/// Bodies whose code section's contents are exactly `bytes` bytes long.
fn bodies_totalling(bytes: u64) -> Vec<Function> {
    let leb_len = |n: u64| (64 - n.leading_zeros()).div_ceil(7).max(1) as u64;
    let entry = |size: u64| leb_len(size) + size;
    // The function count takes one byte.
    let full = (bytes - 1) / entry(MAX_BODY_BYTES);
    let rest = bytes - 1 - full * entry(MAX_BODY_BYTES);
    let mut bodies: Vec<_> = (0..full).map(|_| body_of(MAX_BODY_BYTES)).collect();
    let last = (1..=4).map(|n| rest - n).find(|&size| entry(size) == rest);
    bodies.push(body_of(last.unwrap()));
    bodies
}

#[track_caller]
fn assert_exceeds(wasm: &[u8], limit: Limit, index: Option<u32>, value: u64) {
    let expected = LimitExceeded {
        limit,
        index,
        value,
        cap: limit.cap(),
    };
    assert_eq!(
        check(wasm).map(|m| m.bytes().len()),
        Err(ModuleLimitError::Exceeded(expected))
    );
}

#[track_caller]
fn assert_passes(wasm: &[u8]) {
    if let Err(e) = check(wasm) {
        panic!("refused: {e}");
    }
}

#[test]
fn the_error_names_the_function_the_value_and_the_cap() {
    let wasm = Spec::with_bodies([with_locals(&[(49_999, ValType::I64)])]).build();
    let err = check(&wasm).unwrap_err();
    assert_eq!(
        err.to_string(),
        "function 0 declares 49999 locals (parameters included), more than the limit of 40000"
    );
}

#[test]
fn module_bytes() {
    // The module without padding, then a custom section whose size field takes 4 bytes.
    let base = Spec::default().build().len() as u64;
    let header = 1 + 4 + 1 + "padding".len() as u64;
    let padding = |total: u64| Spec {
        padding: Some((total - base - header) as usize),
        ..Spec::default()
    };
    let at_cap = padding(MAX_MODULE_BYTES).build();
    assert_eq!(at_cap.len() as u64, MAX_MODULE_BYTES);
    assert_passes(&at_cap);
    let over = padding(MAX_MODULE_BYTES + 1).build();
    assert_exceeds(&over, Limit::ModuleBytes, None, MAX_MODULE_BYTES + 1);
}

#[test]
fn code_bytes() {
    assert_passes(&Spec::with_bodies(bodies_totalling(MAX_CODE_BYTES)).build());
    let over = Spec::with_bodies(bodies_totalling(MAX_CODE_BYTES + 1)).build();
    assert_exceeds(&over, Limit::CodeBytes, None, MAX_CODE_BYTES + 1);
}

#[test]
fn body_bytes() {
    let wasm = |bytes| Spec::with_bodies([empty(), body_of(bytes)]).build();
    assert_passes(&wasm(MAX_BODY_BYTES));
    assert_exceeds(
        &wasm(MAX_BODY_BYTES + 1),
        Limit::BodyBytes,
        Some(1),
        MAX_BODY_BYTES + 1,
    );
}

#[test]
fn functions() {
    let wasm = |n| Spec::with_bodies((0..n).map(|_| empty())).build();
    assert_passes(&wasm(MAX_FUNCTIONS));
    assert_exceeds(
        &wasm(MAX_FUNCTIONS + 1),
        Limit::Functions,
        None,
        MAX_FUNCTIONS + 1,
    );
}

#[test]
fn many_functions_from_the_issue_pass_the_sanity_bound() {
    // 100 k trivial functions took 18.5 s and 640 MB to compile: the compile budget stops such
    // a module now (enclave/cli/tests/compile_budget.rs); the static bound only keeps out more.
    let wasm = Spec::with_bodies((0..100_000).map(|_| empty())).build();
    assert_passes(&wasm);
}

#[test]
fn module_counts() {
    type Set = fn(&mut Spec, u32);
    let cases: [(Limit, Set); 6] = [
        (Limit::Types, |s, n| s.extra_types = n - 1),
        (Limit::Imports, |s, n| s.imports = n),
        (Limit::Globals, |s, n| s.globals = n),
        (Limit::Exports, |s, n| s.exports = n),
        (Limit::ElementSegments, |s, n| s.element_segments = n),
        (Limit::DataSegments, |s, n| s.data_segments = n),
    ];
    for (limit, set) in cases {
        let wasm = |n: u64| {
            let mut spec = Spec::default();
            set(&mut spec, u32::try_from(n).unwrap());
            spec.build()
        };
        assert_passes(&wasm(limit.cap()));
        assert_exceeds(&wasm(limit.cap() + 1), limit, None, limit.cap() + 1);
    }
}

#[test]
fn locals() {
    let cap = u32::try_from(MAX_LOCALS).unwrap();
    // Parameters count: a function of 3 parameters may declare `cap - 3` more.
    let wasm = |declared: u32| {
        let mut types = TypeSection::new();
        types.ty().function([ValType::I64; 3], []);
        let mut functions = FunctionSection::new();
        functions.function(0).function(0);
        let mut code = CodeSection::new();
        code.function(&empty());
        code.function(&with_locals(&[
            (declared - 7, ValType::I64),
            (7, ValType::F32),
        ]));
        let mut module = Module::new();
        module.section(&types).section(&functions).section(&code);
        module.finish()
    };
    assert_passes(&wasm(cap - 3));
    assert_exceeds(&wasm(cap - 2), Limit::Locals, Some(1), MAX_LOCALS + 1);
}

#[test]
fn many_locals_from_the_issue() {
    // One function of 49,999 i64 locals (under wasmparser's own 50,000) took 209 s to compile.
    let wasm = Spec::with_bodies([with_locals(&[(49_999, ValType::I64)])]).build();
    assert_exceeds(&wasm, Limit::Locals, Some(0), 49_999);
    // Past wasmparser's own ceiling, and past u32 in sum: still this limit, counted exactly.
    let groups = [(u32::MAX, ValType::I64), (u32::MAX, ValType::I32)];
    let wasm = Spec::with_bodies([with_locals(&groups)]).build();
    assert_exceeds(&wasm, Limit::Locals, Some(0), 2 * u64::from(u32::MAX));
}

#[test]
fn the_function_index_counts_imports() {
    let wasm = Spec {
        imports: 2,
        ..Spec::with_bodies([empty(), with_locals(&[(45_000, ValType::I32)])])
    }
    .build();
    assert_exceeds(&wasm, Limit::Locals, Some(3), 45_000);
}

#[test]
fn nesting() {
    let wasm = |depth| Spec::with_bodies([empty(), empty(), nested(depth)]).build();
    assert_passes(&wasm(MAX_NESTING));
    assert_exceeds(
        &wasm(MAX_NESTING + 1),
        Limit::Nesting,
        Some(2),
        MAX_NESTING + 1,
    );
}

#[test]
fn deep_nesting_from_the_issue() {
    // 4 functions of 2.5 M nested blocks took 47 s and 4.5 GB; here one function of 20 k,
    // refused at the first block past the cap.
    let wasm = Spec::with_bodies([nested(20_000)]).build();
    assert_exceeds(&wasm, Limit::Nesting, Some(0), MAX_NESTING + 1);
}

#[test]
fn loop_nesting() {
    let wasm = |depth| Spec::with_bodies([nested_loops(depth)]).build();
    assert_passes(&wasm(MAX_LOOP_NESTING));
    assert_exceeds(
        &wasm(MAX_LOOP_NESTING + 1),
        Limit::LoopNesting,
        Some(0),
        MAX_LOOP_NESTING + 1,
    );
}

#[test]
fn loops_in_a_row_do_not_nest() {
    let mut function = Function::new([]);
    let mut code = function.instructions();
    for _ in 0..MAX_LOOP_NESTING * 2 {
        code.loop_(BlockType::Empty).end();
    }
    code.end();
    assert_passes(&Spec::with_bodies([function]).build());
}

#[test]
fn branches_per_function() {
    let wasm = |n| Spec::with_bodies([empty(), branches(0, n)]).build();
    assert_passes(&wasm(MAX_BRANCHES));
    assert_exceeds(
        &wasm(MAX_BRANCHES + 1),
        Limit::Branches,
        Some(1),
        MAX_BRANCHES + 1,
    );
}

#[test]
fn branches_per_module() {
    let full = MAX_MODULE_BRANCHES / MAX_BRANCHES;
    let wasm = |extra| {
        let bodies = (0..full).map(|_| branches(0, MAX_BRANCHES));
        Spec::with_bodies(bodies.chain([branches(0, extra)])).build()
    };
    assert_passes(&wasm(MAX_MODULE_BRANCHES - full * MAX_BRANCHES));
    let over = MAX_MODULE_BRANCHES - full * MAX_BRANCHES + 1;
    assert_exceeds(
        &wasm(over),
        Limit::ModuleBranches,
        None,
        MAX_MODULE_BRANCHES + 1,
    );
}

#[test]
fn locals_times_branches() {
    // Two functions at the locals cap and one of a single local share the product exactly; one
    // more branch anywhere is over.
    let locals = u32::try_from(MAX_LOCALS).unwrap();
    let at_locals_cap = MAX_LOCAL_BRANCH_PRODUCT / MAX_LOCALS;
    let (first, second) = (at_locals_cap / 2, at_locals_cap - at_locals_cap / 2);
    let rest = MAX_LOCAL_BRANCH_PRODUCT - at_locals_cap * MAX_LOCALS;
    assert!(second <= MAX_BRANCHES && rest < MAX_BRANCHES);
    let wasm = |extra| {
        let bodies = [
            branches(locals, first),
            branches(locals, second),
            branches(1, rest + extra),
        ];
        Spec::with_bodies(bodies).build()
    };
    assert_passes(&wasm(0));
    assert_exceeds(
        &wasm(1),
        Limit::LocalBranchProduct,
        None,
        MAX_LOCAL_BRANCH_PRODUCT + 1,
    );
}

#[test]
fn loops_per_module() {
    let per_function = MAX_BRANCHES;
    let full = MAX_MODULE_LOOPS / per_function;
    let wasm = |extra| {
        let bodies = (0..full).map(|_| loops(per_function));
        Spec::with_bodies(bodies.chain([loops(extra)])).build()
    };
    assert_passes(&wasm(MAX_MODULE_LOOPS - full * per_function));
    let over = MAX_MODULE_LOOPS - full * per_function + 1;
    assert_exceeds(&wasm(over), Limit::ModuleLoops, None, MAX_MODULE_LOOPS + 1);
}

#[test]
fn calls_per_module() {
    // Each `call 0` takes two bytes: spread over functions that fit the body limit.
    let per_function = MAX_BODY_BYTES / 4;
    let full = MAX_MODULE_CALLS / per_function;
    let wasm = |extra| {
        let bodies = (0..full).map(|_| calls(per_function));
        Spec::with_bodies(bodies.chain([calls(extra)])).build()
    };
    assert_passes(&wasm(MAX_MODULE_CALLS - full * per_function));
    let over = MAX_MODULE_CALLS - full * per_function + 1;
    assert_exceeds(&wasm(over), Limit::ModuleCalls, None, MAX_MODULE_CALLS + 1);
}

#[test]
fn type_values() {
    let cap = usize::try_from(MAX_TYPE_VALUES).unwrap();
    let wasm = |params: usize, results: usize| {
        let mut types = TypeSection::new();
        types.ty().function([], []);
        types
            .ty()
            .function(vec![ValType::I32; params], vec![ValType::F64; results]);
        let mut module = Module::new();
        module.section(&types);
        module.finish()
    };
    assert_passes(&wasm(cap - 1, 1));
    assert_passes(&wasm(cap, 0));
    assert_exceeds(
        &wasm(cap, 1),
        Limit::TypeValues,
        Some(1),
        MAX_TYPE_VALUES + 1,
    );
    assert_exceeds(&wasm(1000, 0), Limit::TypeValues, Some(1), 1000);
}

/// `depth` nested blocks of type `ty` (either empty or `() -> (i32 × results)`), in a function
/// of `locals` locals.
fn nested_in(locals: u32, depth: u64, ty: BlockType, results: u32) -> Function {
    let mut function = Function::new([(locals, ValType::I64)]);
    let mut code = function.instructions();
    for _ in 0..depth {
        code.block(ty);
    }
    (0..results).for_each(|_| {
        code.i32_const(0);
    });
    for _ in 0..depth {
        code.end();
    }
    (0..results).for_each(|_| {
        code.drop();
    });
    code.end();
    function
}

#[test]
fn locals_times_nesting() {
    let wasm = |depth| Spec::with_bodies([nested_in(4096, depth, BlockType::Empty, 0)]).build();
    let at_cap = MAX_LOCAL_NESTING_PRODUCT / 4096;
    assert_passes(&wasm(at_cap));
    assert_exceeds(
        &wasm(at_cap + 1),
        Limit::LocalNestingProduct,
        Some(0),
        (at_cap + 1) * 4096,
    );
}

#[test]
fn block_values_count_as_locals() {
    // Blocks of the widest type `() -> (i32 × n)`: n values more per level than the locals.
    let results = u32::try_from(MAX_TYPE_VALUES).unwrap();
    let wasm = |depth| {
        let mut types = TypeSection::new();
        types.ty().function([], []);
        types
            .ty()
            .function([], vec![ValType::I32; results as usize]);
        let mut functions = FunctionSection::new();
        functions.function(0);
        let mut code = CodeSection::new();
        let ty = BlockType::FunctionType(1);
        code.function(&nested_in(4096 - results, depth, ty, results));
        let mut module = Module::new();
        module.section(&types).section(&functions).section(&code);
        module.finish()
    };
    let at_cap = MAX_LOCAL_NESTING_PRODUCT / 4096;
    assert_passes(&wasm(at_cap));
    let over = at_cap + 1;
    assert_exceeds(
        &wasm(over),
        Limit::LocalNestingProduct,
        Some(0),
        over * 4096,
    );
}

#[test]
fn locals_times_nesting_per_module() {
    // Functions at the per-function cap spend the module's; one more level is over.
    let per_function = MAX_LOCAL_NESTING_PRODUCT / 4096;
    let full = MAX_MODULE_LOCAL_NESTING_PRODUCT / MAX_LOCAL_NESTING_PRODUCT;
    let wasm = |extra| {
        let bodies = (0..full).map(|_| nested_in(4096, per_function, BlockType::Empty, 0));
        Spec::with_bodies(bodies.chain([nested_in(1, extra, BlockType::Empty, 0)])).build()
    };
    assert_passes(&wasm(0));
    assert_exceeds(
        &wasm(1),
        Limit::ModuleLocalNestingProduct,
        None,
        MAX_MODULE_LOCAL_NESTING_PRODUCT + 1,
    );
}

#[test]
fn br_table_targets() {
    let wasm = |targets| Spec::with_bodies([br_table(targets)]).build();
    assert_passes(&wasm(MAX_BR_TABLE_TARGETS));
    assert_exceeds(
        &wasm(MAX_BR_TABLE_TARGETS + 1),
        Limit::BrTableTargets,
        Some(0),
        MAX_BR_TABLE_TARGETS + 1,
    );
}

#[test]
fn invalid_modules_are_refused_with_the_validators_message() {
    let refused = |wat: &str| check(&wat::parse_str(wat).unwrap()).unwrap_err();
    let err = refused(r#"(module (func (result i32) i64.const 0))"#);
    assert!(
        matches!(&err, ModuleLimitError::Invalid(m) if m.contains("type mismatch")),
        "{err}"
    );
    assert!(matches!(
        check(b"\0asm\x01\0\0\0\x01"),
        Err(ModuleLimitError::Invalid(_))
    ));
    assert!(matches!(check(b"ELF"), Err(ModuleLimitError::Invalid(_))));
    assert_eq!(
        refused("(component)").to_string(),
        "a wasm component, not a core module: a wasi:http component needs kind = \"http\" \
         (docs/abi.md, \"Components\")"
    );
}

#[test]
fn the_validator_accepts_what_the_engine_accepts() {
    // One module per proposal: those the engine compiles, and those it leaves out.
    let engine = crate::engine::build(1 << 20).unwrap();
    let modules = [
        ("mvp", "(module (func (result i32) i32.const 1))"),
        ("simd", "(module (func (result v128) v128.const i64x2 0 0))"),
        (
            "relaxed simd",
            "(module (func (param v128 v128 v128) (result v128)
               local.get 0 local.get 1 local.get 2 f32x4.relaxed_madd))",
        ),
        ("tail calls", "(module (func $f return_call $f))"),
        (
            "multi-value",
            "(module (func (result i32 i64) i32.const 0 i64.const 0))",
        ),
        (
            "bulk memory",
            "(module (memory 1) (func i32.const 0 i32.const 0 i32.const 0 memory.fill))",
        ),
        (
            "reference types",
            "(module (table 1 externref) (func (result externref) i32.const 0 table.get 0))",
        ),
        (
            "extended const",
            "(module (global i32 (i32.add (i32.const 1) (i32.const 2))))",
        ),
        (
            "function references",
            "(module (type $t (func)) (func (param (ref $t)) local.get 0 call_ref $t))",
        ),
        ("memory64", "(module (memory i64 1))"),
        ("multi-memory", "(module (memory 1) (memory 1))"),
        ("threads", "(module (memory 1 1 shared))"),
        ("gc", "(module (type (struct (field i32))))"),
        ("exceptions", "(module (tag) (func throw 0))"),
    ];
    for (name, wat) in modules {
        let wasm = wat::parse_str(wat).unwrap();
        let engine_accepts = wasmtime::Module::validate(&engine, &wasm).is_ok();
        assert_eq!(check(&wasm).is_ok(), engine_accepts, "{name}");
    }
}

/// A component whose second core module has a function of `params` parameters.
fn component_with(params: usize) -> Vec<u8> {
    let params = "i32 ".repeat(params);
    wat::parse_str(format!(
        r#"(component
             (core module (func (export "a")))
             (core module (func (export "b") (param {params})))
           )"#
    ))
    .unwrap()
}

#[test]
fn every_core_module_of_a_component_is_checked() {
    assert_eq!(
        check_component(&component_with(2)).unwrap().bytes(),
        &component_with(2)[..]
    );
    let over = usize::try_from(MAX_TYPE_VALUES).unwrap() + 1;
    let err = check_component(&component_with(over)).unwrap_err();
    let ModuleLimitError::InComponent { index, error } = &err else {
        panic!("{err}")
    };
    assert_eq!(*index, 1);
    assert!(
        matches!(
            **error,
            ModuleLimitError::Exceeded(LimitExceeded {
                limit: Limit::TypeValues,
                ..
            })
        ),
        "{error}"
    );
    assert!(
        err.to_string()
            .starts_with("core module 1 of the component: "),
        "{err}"
    );
}

#[test]
fn a_core_module_is_not_a_component_and_the_reverse() {
    let module = wat::parse_str("(module)").unwrap();
    let err = check_component(&module).unwrap_err();
    assert!(matches!(err, ModuleLimitError::NotComponent), "{err}");
    assert!(
        err.to_string()
            .starts_with("a core wasm module, not a component: kind = \"http\""),
        "{err}"
    );
    let err = check(&component_with(0)).unwrap_err();
    assert!(matches!(err, ModuleLimitError::Component), "{err}");
}

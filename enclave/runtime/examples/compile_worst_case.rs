//! Compiles the costliest modules known to pass `enclave_runtime::module_limits`, with the engine the
//! runtime compiles with (fuel metering on, the default), in this process and without a budget,
//! and prints each compile time. Since the static limits became sanity bounds (issue 28), most
//! cases spend far more than the default compile budget of 30 CPU-seconds and 2 GiB: they are
//! what the budget stops (docs/testing.md, "Compile cost"). Run one case per process under
//! `/usr/bin/time -v` for its peak memory, and under `ulimit -t` to bound it:
//!
//! ```text
//! cargo build --release -p enclave-runtime --example compile_worst_case
//! /usr/bin/time -v target/release/examples/compile_worst_case combined
//! ```
//!
//! Each case spends one group of limits on the construct that cost cranelift the most per unit
//! of that limit when they were chosen: loops (a fuel and an epoch check each) and `br_if`s for
//! the block and branch instructions, locals read across them for the locals-times-branches
//! product, a `br_table` to every enclosing block after every local changed for the
//! locals-times-nesting products, `call`s, `memory.fill` for the calls into the runtime,
//! escaping functions of the widest type (a trampoline each) with the most locals for the
//! function count, `i64.rem_s` for the code bytes left. `combined` spends every limit at once:
//! it is the worst case docs/testing.md reports.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a measuring tool: a failed generation is a panic"
)]

use std::time::Instant;

use enclave_runtime::module_limits::{
    self, MAX_BODY_BYTES, MAX_BRANCHES, MAX_CODE_BYTES, MAX_DATA_SEGMENTS, MAX_ELEMENT_SEGMENTS,
    MAX_EXPORTS, MAX_FUNCTIONS, MAX_GLOBALS, MAX_IMPORTS, MAX_LOCALS, MAX_LOCAL_BRANCH_PRODUCT,
    MAX_LOCAL_NESTING_PRODUCT, MAX_LOOP_NESTING, MAX_MODULE_BRANCHES, MAX_MODULE_BYTES,
    MAX_MODULE_CALLS, MAX_MODULE_LOCAL_NESTING_PRODUCT, MAX_MODULE_LOOPS, MAX_MODULE_RUNTIME_CALLS,
    MAX_NESTING, MAX_TYPE_VALUES,
};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, DataSection, ElementSection, Elements, EntityType,
    ExportKind, ExportSection, Function, FunctionSection, GlobalSection, GlobalType, ImportSection,
    InstructionSink, MemorySection, MemoryType, Module, RefType, TableSection, TableType,
    TypeSection, ValType,
};

/// Makes one case's module.
type Generator = fn() -> Vec<u8>;

fn main() {
    let case = std::env::args().nth(1).unwrap_or_else(|| "combined".into());
    let cases: &[(&str, Generator)] = &[
        ("functions", functions),
        ("loops", loops),
        ("nested-loops", nested_loops),
        ("nested-ifs", nested_ifs),
        ("merges", merges),
        ("calls", calls),
        ("runtime-calls", runtime_calls),
        ("stack", stack),
        ("imports", imports),
        ("data", data),
        ("combined", combined),
        ("call-indirects", call_indirects),
        ("call-indirects-locals", call_indirects_locals),
    ];
    let chosen: Vec<_> = cases
        .iter()
        .filter(|(name, _)| case == "all" || case == *name)
        .collect();
    assert!(!chosen.is_empty(), "unknown case {case}");
    let engine = enclave_runtime::engine::build(attest::Limits::default().stack_bytes).unwrap();
    for (name, generate) in chosen {
        let wasm = generate();
        let started = Instant::now();
        if let Err(e) = module_limits::check(&wasm) {
            panic!("{name}: refused by the limits: {e}");
        }
        let checked = started.elapsed();
        let started = Instant::now();
        wasmtime::Module::new(&engine, &wasm).unwrap();
        println!(
            "{name}: {} bytes, limits checked in {:.3} s, compiled in {:.2} s",
            wasm.len(),
            checked.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
    }
}

/// 65,536 `call_indirect`s in three 128 KiB bodies: each becomes a lazy table-initialisation check
/// in cranelift, a branch and a merge that no static limit counts (40 CPU-s and 0.8 GB, issue 28).
fn call_indirects() -> Vec<u8> {
    call_indirects_with(0)
}

/// As [`call_indirects`], with 1,000 locals per function (54 CPU-s and 1.7 GB).
fn call_indirects_locals() -> Vec<u8> {
    call_indirects_with(1_000)
}

fn call_indirects_with(locals: u32) -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([], []);
    let mut functions = FunctionSection::new();
    let mut code = CodeSection::new();
    for _ in 0..3 {
        functions.function(0);
        let mut function = Function::new([(locals, ValType::I32)]);
        let mut sink = function.instructions();
        for _ in 0..21_845 {
            sink.i32_const(0).call_indirect(0, 0);
        }
        sink.end();
        code.function(&function);
    }
    let mut tables = TableSection::new();
    tables.table(TableType {
        element_type: RefType::FUNCREF,
        table64: false,
        minimum: 1,
        maximum: None,
        shared: false,
    });
    let mut module = Module::new();
    module
        .section(&types)
        .section(&functions)
        .section(&tables)
        .section(&code);
    module.finish()
}

/// The most functions, each with the most locals and escaping (in an element segment), so each
/// also gets a trampoline for its type, which has the most parameters.
fn functions() -> Vec<u8> {
    let mut m = Gen::default();
    add_functions(&mut m, MAX_FUNCTIONS);
    m.escape_all();
    m.build()
}

/// Every loop allowed (a fuel and an epoch check each), then the other block and branch
/// instructions as `br_if`s, and the locals-times-branches product spent on locals that each
/// use walks back through every loop since the local's last use.
fn loops() -> Vec<u8> {
    let mut m = Gen::default();
    add_branches(&mut m, Spent::default());
    m.build()
}

/// Loops nested as deep as allowed, as many times as the loop limits allow.
fn nested_loops() -> Vec<u8> {
    let mut m = Gen::default();
    let per_function = MAX_BRANCHES / (2 * MAX_LOOP_NESTING);
    let nests = MAX_MODULE_LOOPS / MAX_LOOP_NESTING;
    for _ in 0..nests / per_function {
        m.func(body(1, |f| {
            for _ in 0..per_function {
                for _ in 0..MAX_LOOP_NESTING {
                    f.loop_(BlockType::Empty);
                }
                f.local_get(0).local_set(0);
                // Each loop closes with a branch back to itself.
                for _ in 0..MAX_LOOP_NESTING {
                    f.local_get(0).i32_wrap_i64().br_if(0).end();
                }
            }
        }));
    }
    m.build()
}

/// `if`s nested as deep as allowed, as many times as the branch limits allow.
fn nested_ifs() -> Vec<u8> {
    let mut m = Gen::default();
    for _ in 0..MAX_MODULE_BRANCHES / MAX_BRANCHES {
        m.func(body(1, |f| {
            for _ in 0..MAX_BRANCHES / MAX_NESTING {
                for _ in 0..MAX_NESTING {
                    f.local_get(0).i32_wrap_i64().if_(BlockType::Empty);
                }
                for _ in 0..MAX_NESTING {
                    f.end();
                }
            }
        }));
    }
    m.build()
}

/// Functions at the locals × nesting cap, as many as the module's sum allows (see
/// [`add_merges`]).
fn merges() -> Vec<u8> {
    let mut m = Gen::default();
    add_merges(&mut m);
    m.build()
}

/// Every call allowed, in bodies as large as allowed.
fn calls() -> Vec<u8> {
    let mut m = Gen::default();
    add_calls(&mut m, MAX_MODULE_CALLS);
    m.build()
}

/// Every call into the runtime allowed, as `memory.fill` of changing values (the costliest
/// measured).
fn runtime_calls() -> Vec<u8> {
    let mut m = Gen::default();
    add_runtime_calls(&mut m);
    m.build()
}

/// Bodies as large as allowed, each one long run of values live at once on the operand stack.
fn stack() -> Vec<u8> {
    let mut m = Gen::default();
    let values = u32::try_from(MAX_BODY_BYTES / 3 - 2).unwrap();
    for _ in 0..MAX_CODE_BYTES / (MAX_BODY_BYTES + 4) {
        m.func(body(0, |f| {
            for _ in 0..values {
                f.i64_const(0);
            }
            for _ in 1..values {
                f.i64_add();
            }
            f.drop();
        }));
    }
    m.build()
}

/// The most imports, each of its own type with the most parameters and results: a trampoline
/// each.
fn imports() -> Vec<u8> {
    let mut m = Gen::default();
    add_imports(&mut m);
    m.build()
}

/// The largest module, nearly all of it one data segment.
fn data() -> Vec<u8> {
    let mut m = Gen::default();
    m.func(body(0, |_| {}));
    m.data = vec![vec![7; usize::try_from(MAX_MODULE_BYTES).unwrap() - 1024]];
    m.build()
}

/// Every limit spent at once: the costliest module known to pass.
fn combined() -> Vec<u8> {
    let mut m = Gen::default();
    add_imports(&mut m);
    let spent = add_merges(&mut m);
    add_branches(&mut m, spent);
    add_runtime_calls(&mut m);
    // Code bytes left after keeping room for the minimal functions added last (under 8 bytes
    // each).
    let room = |m: &Gen| {
        let reserved = (MAX_FUNCTIONS - m.funcs.len() as u64) * 8;
        MAX_CODE_BYTES - m.code_bytes() - reserved
    };
    let calls = (room(&m) / 3).min(MAX_MODULE_CALLS);
    add_calls(&mut m, calls);
    let rest = room(&m).saturating_sub(1024);
    add_remainders(&mut m, rest);
    let functions_left = MAX_FUNCTIONS - m.funcs.len() as u64;
    add_functions(&mut m, functions_left);
    m.escape_all();
    for i in 0..MAX_EXPORTS - 1 {
        m.exports.push(u32::try_from(MAX_IMPORTS + i).unwrap());
    }
    m.globals = MAX_GLOBALS;
    m.elements = MAX_ELEMENT_SEGMENTS - 1;
    let segments = usize::try_from(MAX_DATA_SEGMENTS).unwrap();
    let room = usize::try_from(MAX_MODULE_BYTES).unwrap() - m.build().len() - segments * 12;
    m.data = (0..segments).map(|_| vec![7; room / segments]).collect();
    m.build()
}

/// `count` functions of the widest type, with the most locals and nothing else.
fn add_functions(m: &mut Gen, count: u64) {
    let ty = m.widest_type();
    let declared = MAX_LOCALS - m.types[usize::try_from(ty - 1).unwrap()].0.len() as u64;
    for _ in 0..count {
        m.func_of_type(ty, body(declared, |_| {}));
    }
}

/// Block and branch instructions, and their product with locals, already spent.
#[derive(Default)]
struct Spent {
    branches: u64,
    product: u64,
}

/// Spends the block and branch instructions, the loops and the locals × branches product left.
fn add_branches(m: &mut Gen, spent: Spent) {
    let functions = (MAX_MODULE_BRANCHES - spent.branches) / MAX_BRANCHES;
    let loops_per_function = MAX_MODULE_LOOPS / functions;
    // The product shared out evenly; within a function, the i-th branch reads local i % locals,
    // so each read walks back through every loop since that local was last read.
    let product = MAX_LOCAL_BRANCH_PRODUCT - spent.product;
    let locals = (product / (functions * MAX_BRANCHES)).min(MAX_LOCALS);
    let locals_u32 = u32::try_from(locals).unwrap();
    for _ in 0..functions {
        m.func(body(locals, |f| {
            for i in 0..u32::try_from(MAX_BRANCHES).unwrap() {
                if u64::from(i) < loops_per_function {
                    f.loop_(BlockType::Empty)
                        .local_get(i % locals_u32)
                        .drop()
                        .end();
                } else {
                    f.local_get(i % locals_u32).i32_wrap_i64().br_if(0);
                }
            }
        }));
    }
}

/// Functions at the locals × nesting cap, as many as the module's sum allows: the most locals,
/// nested blocks, and in the innermost, several times, every local changed then a `br_table` to
/// every enclosing block. Each block then ends with a block parameter per local, all live at
/// once: cranelift's cost grows with the square of their number.
fn add_merges(m: &mut Gen) -> Spent {
    let locals = MAX_LOCALS;
    let depth = u32::try_from(MAX_LOCAL_NESTING_PRODUCT / locals).unwrap();
    let functions = MAX_MODULE_LOCAL_NESTING_PRODUCT / MAX_LOCAL_NESTING_PRODUCT;
    let rounds = 4;
    let locals_u32 = u32::try_from(locals).unwrap();
    for _ in 0..functions {
        m.func(body(locals, |f| {
            for _ in 1..depth {
                f.block(BlockType::Empty);
            }
            for round in 0..rounds {
                f.block(BlockType::Empty);
                for local in 0..locals_u32 {
                    f.local_get(local)
                        .i64_const(round + 1)
                        .i64_add()
                        .local_set(local);
                }
                f.local_get(0).i32_wrap_i64().br_table(1..depth, 0).end();
            }
            for _ in 1..depth {
                f.end();
            }
            for local in 0..locals_u32 {
                f.local_get(local).drop();
            }
        }));
    }
    let branches = u64::from(depth) - 1 + 2 * rounds.unsigned_abs();
    Spent {
        branches: functions * branches,
        product: functions * branches * locals,
    }
}

/// `count` calls of an empty function, in bodies as large as allowed.
fn add_calls(m: &mut Gen, count: u64) {
    let target = m.func(body(0, |_| {}));
    let call_bytes = if target < 128 { 2 } else { 3 };
    let per_body = (MAX_BODY_BYTES - 8) / call_bytes;
    let mut left = count;
    while left > 0 {
        let calls = left.min(per_body);
        m.func(body(0, |f| {
            for _ in 0..calls {
                f.call(target);
            }
        }));
        left -= calls;
    }
}

/// Every `memory.fill` allowed, of a changing address, value and length.
fn add_runtime_calls(m: &mut Gen) {
    let per_function = 1024;
    for _ in 0..MAX_MODULE_RUNTIME_CALLS / per_function {
        m.func(body(1, |f| {
            for _ in 0..per_function {
                for _ in 0..3 {
                    f.local_get(0).i32_wrap_i64();
                }
                f.memory_fill(0)
                    .local_get(0)
                    .i64_const(1)
                    .i64_add()
                    .local_set(0);
            }
        }));
    }
}

/// About `bytes` of code as `i64.rem_s` of a local by itself, kept live.
fn add_remainders(m: &mut Gen, bytes: u64) {
    // `local.get 0` twice (2 bytes each), `i64.rem_s`, `local.set 0` (2 bytes).
    let mut left = bytes;
    while left > 64 {
        let size = left.min(MAX_BODY_BYTES);
        m.func(body(1, |f| {
            for _ in 0..(size - 16) / 7 {
                f.local_get(0).local_get(0).i64_rem_s().local_set(0);
            }
        }));
        left -= size;
    }
}

fn add_imports(m: &mut Gen) {
    for i in 0..MAX_IMPORTS {
        let ty = m.distinct_type(i);
        m.imports.push(ty);
    }
}

fn body(locals: u64, code: impl FnOnce(&mut InstructionSink<'_>)) -> Function {
    let locals = u32::try_from(locals).unwrap();
    let mut function = Function::new([(locals, ValType::I64)]);
    let mut sink = function.instructions();
    code(&mut sink);
    sink.end();
    function
}

/// A module: type 0 is `() -> ()`, then `types` (type index = position + 1); one memory.
#[derive(Default)]
struct Gen {
    types: Vec<(Vec<ValType>, Vec<ValType>)>,
    imports: Vec<u32>,
    funcs: Vec<(u32, Function)>,
    exports: Vec<u32>,
    globals: u64,
    elements: u64,
    escaping: bool,
    data: Vec<Vec<u8>>,
}

impl Gen {
    fn func(&mut self, function: Function) -> u32 {
        self.func_of_type(0, function)
    }

    fn func_of_type(&mut self, ty: u32, function: Function) -> u32 {
        self.funcs.push((ty, function));
        u32::try_from(self.imports.len() + self.funcs.len() - 1).unwrap()
    }

    /// The i-th of a family of different types with the most parameters and results.
    fn distinct_type(&mut self, i: u64) -> u32 {
        let values = usize::try_from(MAX_TYPE_VALUES).unwrap();
        let mut params = vec![ValType::I64; values - 1];
        params[usize::try_from(i).unwrap() % (values - 1)] = ValType::F64;
        let results =
            vec![[ValType::I32, ValType::F32][usize::try_from(i).unwrap() / (values - 1) % 2]];
        self.types.push((params, results));
        u32::try_from(self.types.len()).unwrap()
    }

    /// A type with the most parameters (and no results, so that an empty body is valid).
    fn widest_type(&mut self) -> u32 {
        let values = usize::try_from(MAX_TYPE_VALUES).unwrap();
        self.types.push((vec![ValType::I64; values], vec![]));
        u32::try_from(self.types.len()).unwrap()
    }

    /// Every defined function in one declared element segment: each gets a trampoline.
    fn escape_all(&mut self) {
        self.escaping = true;
    }

    fn code_bytes(&self) -> u64 {
        self.funcs
            .iter()
            .map(|(_, f)| f.byte_len() as u64 + 3)
            .sum()
    }

    fn build(&self) -> Vec<u8> {
        let mut types = TypeSection::new();
        types.ty().function([], []);
        for (params, results) in &self.types {
            types.ty().function(params.clone(), results.clone());
        }
        let mut imports = ImportSection::new();
        for (i, ty) in self.imports.iter().enumerate() {
            imports.import("env", &format!("f{i}"), EntityType::Function(*ty));
        }
        let mut functions = FunctionSection::new();
        let mut code = CodeSection::new();
        for (ty, body) in &self.funcs {
            functions.function(*ty);
            code.function(body);
        }
        let mut memories = MemorySection::new();
        let bytes: usize = self.data.iter().map(Vec::len).sum();
        memories.memory(MemoryType {
            minimum: (bytes as u64).div_ceil(65536).max(1),
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        let mut globals = GlobalSection::new();
        for _ in 0..self.globals {
            let ty = GlobalType {
                val_type: ValType::I64,
                mutable: true,
                shared: false,
            };
            globals.global(ty, &ConstExpr::i64_const(0));
        }
        let mut exports = ExportSection::new();
        exports.export("memory", ExportKind::Memory, 0);
        for (i, index) in self.exports.iter().enumerate() {
            exports.export(&format!("f{i}"), ExportKind::Func, *index);
        }
        let mut elements = ElementSection::new();
        let first = u32::try_from(self.imports.len()).unwrap();
        if self.escaping {
            let all: Vec<u32> = (first..first + u32::try_from(self.funcs.len()).unwrap()).collect();
            elements.declared(Elements::Functions(all.into()));
        }
        for _ in 0..self.elements {
            elements.passive(Elements::Functions([first].as_slice().into()));
        }
        let mut data = DataSection::new();
        let mut offset = 0u32;
        for segment in &self.data {
            data.active(
                0,
                &ConstExpr::i32_const(offset.cast_signed()),
                segment.clone(),
            );
            offset += u32::try_from(segment.len()).unwrap();
        }
        let mut module = Module::new();
        module
            .section(&types)
            .section(&imports)
            .section(&functions)
            .section(&memories)
            .section(&globals)
            .section(&exports)
            .section(&elements)
            .section(&code)
            .section(&data);
        module.finish()
    }
}

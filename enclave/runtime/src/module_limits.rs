//! Static sanity bounds on a wasm module, checked by a validating parse before anything
//! compiles it.
//!
//! These bounds do not bound what compiling costs: no static count can know cranelift's costs
//! (65,536 `call_indirect`s in 128 KiB bodies passed every earlier, tighter limit and compiled for
//! 40 CPU-seconds). That is bounded by the compile budget the operating system enforces on an
//! untrusted module ([`crate::compile`]). What remains here keeps out what no real program looks
//! like, cheaply and with a message that names the function and the count: each bound is far
//! above what the real programs of docs/performance.md ("Compile budget") reach
//! (SQLite at -O2 and -Os, a Rust program at opt-level 3, an interpreter), and inside
//! wasmparser's own ceilings. [`check`] runs wasmparser's validator over the module and counts,
//! before the validator sees them, functions, locals, basic blocks (block and branch
//! instructions) per function and in all, loops, calls, nesting, and the size of function types.
//! Only the [`BoundedModule`] that [`check`] returns can be compiled (see `crate::compile`).
//!
//! `docs/formats.md` ("Module limits") lists the limits; `docs/testing.md` ("Compile cost") the
//! worst cases, which the budget stops, measured with `enclave/runtime/examples/compile_worst_case.rs`.

use wasmparser::{
    BlockType, CompositeInnerType, CompositeType, Encoding, FrameKind, FuncValidator,
    FuncValidatorAllocations, FunctionBody, Operator, OperatorsReader, Parser, Payload, SubType,
    TypeSectionReader, ValType, ValidPayload, Validator, ValidatorResources, WasmFeatures,
    WasmModuleResources,
};

/// Largest module, in bytes. Data segments cost little to compile; code is capped separately.
pub const MAX_MODULE_BYTES: u64 = 64 << 20;
/// Largest code section (the bodies of all defined functions), in bytes.
pub const MAX_CODE_BYTES: u64 = 32 << 20;
/// Most functions a module defines (imports not included).
pub const MAX_FUNCTIONS: u64 = 100_000;
/// Most imports.
pub const MAX_IMPORTS: u64 = 1_000;
/// Most exports.
pub const MAX_EXPORTS: u64 = 50_000;
/// Most entries in the type section.
pub const MAX_TYPES: u64 = 100_000;
/// Most parameters and results, together, of one function type.
pub const MAX_TYPE_VALUES: u64 = 256;
/// Most globals a module defines.
pub const MAX_GLOBALS: u64 = 100_000;
/// Most data segments.
pub const MAX_DATA_SEGMENTS: u64 = 50_000;
/// Most element segments.
pub const MAX_ELEMENT_SEGMENTS: u64 = 50_000;
/// Most block and branch instructions in the whole module (see [`MAX_BRANCHES`]).
pub const MAX_MODULE_BRANCHES: u64 = 1 << 22;
/// Most `loop`s in the whole module (each also counts as a branch instruction).
pub const MAX_MODULE_LOOPS: u64 = 1 << 20;
/// Most call instructions in the whole module: `call`, `call_indirect`, `call_ref` and their
/// `return_` forms.
pub const MAX_MODULE_CALLS: u64 = 1 << 22;
/// Most instructions in the whole module that wasmtime compiles to a call into the runtime,
/// each much costlier to compile than a call: `memory.grow`, the bulk memory and table
/// instructions (`memory.fill`, `memory.copy`, `memory.init`, `data.drop`, `table.get`,
/// `table.set`, `table.grow`, `table.fill`, `table.copy`, `table.init`, `elem.drop`) and
/// `ref.func`.
pub const MAX_MODULE_RUNTIME_CALLS: u64 = 1 << 20;
/// Most locals × block and branch instructions, summed over the module's functions: a bound
/// on the block parameters cranelift's SSA construction may create.
pub const MAX_LOCAL_BRANCH_PRODUCT: u64 = 1 << 34;
/// Most locals × nesting depth ([`MAX_LOCAL_NESTING_PRODUCT`]), summed over the module's
/// functions.
pub const MAX_MODULE_LOCAL_NESTING_PRODUCT: u64 = 1 << 32;
/// Largest function body (its local declarations and code), in bytes.
pub const MAX_BODY_BYTES: u64 = 4 << 20;
/// Most locals in one function, its parameters included.
pub const MAX_LOCALS: u64 = 40_000;
/// Most block and branch instructions in one function: `block`, `loop`, `if`, `else`,
/// `br_if`, `br_table`, `try_table` and the `br_on_*` family, which each start a basic block.
pub const MAX_BRANCHES: u64 = 1 << 18;
/// Deepest nesting of `block`, `loop`, `if` and `try_table` in one function.
pub const MAX_NESTING: u64 = 16_384;
/// Deepest nesting of `loop`s in one function (counted through the other blocks between them).
pub const MAX_LOOP_NESTING: u64 = 1_024;
/// Most locals × nesting depth in one function: a bound on the block parameters one branch can
/// make live at once (cranelift's cost grows with the square of that). The locals here include
/// the parameters and results of the function's widest block type.
pub const MAX_LOCAL_NESTING_PRODUCT: u64 = 1 << 24;
/// Most targets of one `br_table` (its default not counted).
pub const MAX_BR_TABLE_TARGETS: u64 = 1 << 18;

/// The wasm proposals the runtime's engine compiles (`crate::engine`): the wasm 3.0 set without
/// those it leaves out. wasmtime validates again with the engine's own set while compiling, so
/// this only decides which of the two reports a module that uses one of them.
const FEATURES: WasmFeatures = WasmFeatures::WASM3
    // Not compiled into wasmtime here (its `gc` and `threads` cargo features are off).
    .difference(WasmFeatures::GC)
    .difference(WasmFeatures::GC_TYPES)
    .difference(WasmFeatures::EXCEPTIONS)
    .difference(WasmFeatures::THREADS)
    // Switched off in the engine configuration.
    .difference(WasmFeatures::MEMORY64)
    .difference(WasmFeatures::MULTI_MEMORY);

/// A module that passed [`check`]: valid wasm within every limit. Only [`check`] makes one, so
/// code that takes it cannot be handed a module nobody checked.
#[derive(Debug, Clone, Copy)]
pub struct BoundedModule<'a> {
    wasm: &'a [u8],
}

impl<'a> BoundedModule<'a> {
    /// The module's bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.wasm
    }
}

/// Why a module was refused before compilation.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModuleLimitError {
    /// The bytes are not a valid wasm module (wasmparser's message, with its byte offset).
    #[error("invalid wasm module: {0}")]
    Invalid(String),
    /// The bytes are a component; guests are core modules.
    #[error(
        "a wasm component, not a core module: a wasi:http component needs kind = \"http\" (docs/abi.md, \"Components\")"
    )]
    Component,
    /// The bytes are a core module where a component was expected (`kind = "http"`).
    #[error("a core wasm module, not a component: kind = \"http\" takes a WASI 0.2 component (docs/abi.md, \"Components\")")]
    NotComponent,
    /// One of a component's core modules is refused (its index among them, from 0).
    #[error("core module {index} of the component: {}", in_component(error))]
    InComponent {
        /// The module's index among the component's core modules, in the order they appear.
        index: u32,
        /// Why it was refused.
        error: Box<ModuleLimitError>,
    },
    /// The module is valid so far but exceeds a limit.
    #[error(transparent)]
    Exceeded(#[from] LimitExceeded),
}

/// A limit a module exceeds, with its value and the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct LimitExceeded {
    /// Which limit.
    pub limit: Limit,
    /// What it applies to, for the limits that are not module-wide: a function's index in the
    /// function index space (imports first), or for [`Limit::TypeValues`] a type's index.
    pub index: Option<u32>,
    /// The module's value. For the counts kept while the code is read (nesting, block and
    /// branch instructions, loops, calls, the product), the count when it went past the cap.
    pub value: u64,
    /// The cap.
    pub cap: u64,
}

/// The limits [`check`] enforces (see the constants for their values).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// [`MAX_MODULE_BYTES`].
    ModuleBytes,
    /// [`MAX_CODE_BYTES`].
    CodeBytes,
    /// [`MAX_FUNCTIONS`].
    Functions,
    /// [`MAX_IMPORTS`].
    Imports,
    /// [`MAX_EXPORTS`].
    Exports,
    /// [`MAX_TYPES`].
    Types,
    /// [`MAX_TYPE_VALUES`], per type.
    TypeValues,
    /// [`MAX_GLOBALS`].
    Globals,
    /// [`MAX_DATA_SEGMENTS`].
    DataSegments,
    /// [`MAX_ELEMENT_SEGMENTS`].
    ElementSegments,
    /// [`MAX_MODULE_BRANCHES`].
    ModuleBranches,
    /// [`MAX_MODULE_LOOPS`].
    ModuleLoops,
    /// [`MAX_MODULE_CALLS`].
    ModuleCalls,
    /// [`MAX_MODULE_RUNTIME_CALLS`].
    ModuleRuntimeCalls,
    /// [`MAX_LOCAL_BRANCH_PRODUCT`].
    LocalBranchProduct,
    /// [`MAX_MODULE_LOCAL_NESTING_PRODUCT`].
    ModuleLocalNestingProduct,
    /// [`MAX_LOCAL_NESTING_PRODUCT`], per function.
    LocalNestingProduct,
    /// [`MAX_BODY_BYTES`], per function.
    BodyBytes,
    /// [`MAX_LOCALS`], per function.
    Locals,
    /// [`MAX_BRANCHES`], per function.
    Branches,
    /// [`MAX_NESTING`], per function.
    Nesting,
    /// [`MAX_LOOP_NESTING`], per function.
    LoopNesting,
    /// [`MAX_BR_TABLE_TARGETS`], per `br_table`.
    BrTableTargets,
}

impl Limit {
    /// The cap this runtime enforces.
    pub fn cap(self) -> u64 {
        match self {
            Limit::ModuleBytes => MAX_MODULE_BYTES,
            Limit::CodeBytes => MAX_CODE_BYTES,
            Limit::Functions => MAX_FUNCTIONS,
            Limit::Imports => MAX_IMPORTS,
            Limit::Exports => MAX_EXPORTS,
            Limit::Types => MAX_TYPES,
            Limit::TypeValues => MAX_TYPE_VALUES,
            Limit::Globals => MAX_GLOBALS,
            Limit::DataSegments => MAX_DATA_SEGMENTS,
            Limit::ElementSegments => MAX_ELEMENT_SEGMENTS,
            Limit::ModuleBranches => MAX_MODULE_BRANCHES,
            Limit::ModuleLoops => MAX_MODULE_LOOPS,
            Limit::ModuleCalls => MAX_MODULE_CALLS,
            Limit::ModuleRuntimeCalls => MAX_MODULE_RUNTIME_CALLS,
            Limit::LocalBranchProduct => MAX_LOCAL_BRANCH_PRODUCT,
            Limit::ModuleLocalNestingProduct => MAX_MODULE_LOCAL_NESTING_PRODUCT,
            Limit::LocalNestingProduct => MAX_LOCAL_NESTING_PRODUCT,
            Limit::BodyBytes => MAX_BODY_BYTES,
            Limit::Locals => MAX_LOCALS,
            Limit::Branches => MAX_BRANCHES,
            Limit::Nesting => MAX_NESTING,
            Limit::LoopNesting => MAX_LOOP_NESTING,
            Limit::BrTableTargets => MAX_BR_TABLE_TARGETS,
        }
    }

    /// What exceeding it says, after "module", "function N" or "type N".
    fn describe(self, value: u64) -> String {
        match self {
            Limit::ModuleBytes | Limit::BodyBytes => format!("is {value} bytes"),
            Limit::CodeBytes => format!("has {value} bytes of code"),
            Limit::Functions => format!("defines {value} functions"),
            Limit::Imports => format!("has {value} imports"),
            Limit::Exports => format!("has {value} exports"),
            Limit::Types => format!("declares {value} types"),
            Limit::TypeValues => format!("has {value} parameters and results"),
            Limit::Globals => format!("defines {value} globals"),
            Limit::DataSegments => format!("has {value} data segments"),
            Limit::ElementSegments => format!("has {value} element segments"),
            Limit::ModuleBranches | Limit::Branches => {
                format!("has {value} block and branch instructions")
            }
            Limit::ModuleLoops => format!("has {value} loops"),
            Limit::ModuleCalls => format!("has {value} call instructions"),
            Limit::ModuleRuntimeCalls => {
                format!("has {value} instructions that call into the runtime")
            }
            Limit::LocalBranchProduct => format!(
                "has {value} locals × block and branch instructions, summed over its functions"
            ),
            Limit::ModuleLocalNestingProduct => {
                format!("has {value} locals × nesting depth, summed over its functions")
            }
            Limit::LocalNestingProduct => format!("has {value} locals × nesting depth"),
            Limit::Locals => format!("declares {value} locals (parameters included)"),
            Limit::Nesting => format!("nests blocks {value} deep"),
            Limit::LoopNesting => format!("nests loops {value} deep"),
            Limit::BrTableTargets => format!("has a br_table with {value} targets"),
        }
    }

    /// Refuses `value` above the cap; `index` as in [`LimitExceeded::index`].
    fn check(self, index: Option<u32>, value: u64) -> Result<(), LimitExceeded> {
        let cap = self.cap();
        if value <= cap {
            return Ok(());
        }
        Err(LimitExceeded {
            limit: self,
            index,
            value,
            cap,
        })
    }
}

impl LimitExceeded {
    fn describe(&self) -> String {
        let subject = match (self.limit, self.index) {
            (Limit::TypeValues, Some(index)) => format!("type {index}"),
            (_, Some(index)) => format!("function {index}"),
            (_, None) => "module".into(),
        };
        let what = self.limit.describe(self.value);
        format!("{subject} {what}, more than the limit of {}", self.cap)
    }
}

/// Checks `wasm` against every limit with one validating pass, without compiling anything.
///
/// # Errors
/// [`ModuleLimitError::Exceeded`] naming the first limit exceeded, with the value and the cap;
/// [`ModuleLimitError::Invalid`] or [`ModuleLimitError::Component`] for bytes that are not a
/// valid core module.
pub fn check(wasm: &[u8]) -> Result<BoundedModule<'_>, ModuleLimitError> {
    Limit::ModuleBytes.check(None, len(wasm.len()))?;
    let mut validator = Validator::new_with_features(FEATURES);
    let mut totals = ModuleTotals::default();
    let mut allocations = FuncValidatorAllocations::default();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(invalid)?;
        check_section(&payload)?;
        match validator.payload(&payload).map_err(invalid)? {
            ValidPayload::Func(function, body) => {
                let mut function = function.into_validator(allocations);
                let counts = check_function(&mut function, &body)?;
                totals.add(&counts)?;
                allocations = function.into_allocations();
            }
            // A nested module or component: only components have them, refused at the header.
            ValidPayload::Parser(_) => return Err(ModuleLimitError::Component),
            ValidPayload::Ok | ValidPayload::End(_) => {}
        }
        if let Payload::TypeSection(types) = payload {
            check_types(types)?;
        }
    }
    Ok(BoundedModule { wasm })
}

/// Checks a component: its size against [`MAX_MODULE_BYTES`] and every core module in it (at
/// any depth of nesting) against every limit of [`check`]. The component's own sections
/// (types, instances, canonical functions) are validated by wasmtime when it compiles them.
///
/// # Errors
/// [`ModuleLimitError::NotComponent`] for a core module; [`ModuleLimitError::InComponent`]
/// naming the first core module refused; [`ModuleLimitError::Invalid`] for bytes that do not
/// parse.
pub fn check_component(wasm: &[u8]) -> Result<BoundedComponent<'_>, ModuleLimitError> {
    Limit::ModuleBytes.check(None, len(wasm.len()))?;
    let mut index = 0u32;
    // `parse_all` descends into nested modules and components; each core module shows up as
    // one `ModuleSection`, whose bytes are checked whole.
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(invalid)? {
            Payload::Version {
                encoding: Encoding::Module,
                range,
                ..
            } if range.start == 0 => return Err(ModuleLimitError::NotComponent),
            Payload::ModuleSection {
                unchecked_range, ..
            } => {
                let module = wasm
                    .get(unchecked_range)
                    .ok_or_else(|| invalid_text("a core module past the end of the component"))?;
                check(module).map_err(|error| ModuleLimitError::InComponent {
                    index,
                    error: Box::new(error),
                })?;
                index = index.saturating_add(1);
            }
            _ => {}
        }
    }
    Ok(BoundedComponent { wasm })
}

/// What a component's core module was refused for, without the "invalid wasm module" prefix
/// the whole error carries once.
fn in_component(error: &ModuleLimitError) -> String {
    match error {
        ModuleLimitError::Invalid(message) => message.clone(),
        other => other.to_string(),
    }
}

/// A component that passed [`check_component`].
#[derive(Debug, Clone, Copy)]
pub struct BoundedComponent<'a> {
    wasm: &'a [u8],
}

impl<'a> BoundedComponent<'a> {
    /// The component's bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.wasm
    }
}

fn invalid_text(message: &str) -> ModuleLimitError {
    ModuleLimitError::Invalid(message.to_owned())
}

/// The module-wide counts, from each section's header (before the validator reads its entries).
fn check_section(payload: &Payload<'_>) -> Result<(), ModuleLimitError> {
    let (limit, count) = match payload {
        Payload::Version {
            encoding: Encoding::Component,
            ..
        } => return Err(ModuleLimitError::Component),
        Payload::TypeSection(s) => (Limit::Types, s.count().into()),
        Payload::ImportSection(s) => (Limit::Imports, s.count().into()),
        Payload::FunctionSection(s) => (Limit::Functions, s.count().into()),
        Payload::GlobalSection(s) => (Limit::Globals, s.count().into()),
        Payload::ExportSection(s) => (Limit::Exports, s.count().into()),
        Payload::ElementSection(s) => (Limit::ElementSegments, s.count().into()),
        Payload::DataSection(s) => (Limit::DataSegments, s.count().into()),
        Payload::CodeSectionStart { range, .. } => (Limit::CodeBytes, len(range.len())),
        _ => return Ok(()),
    };
    Ok(limit.check(None, count)?)
}

/// The size of each function type, once the validator has accepted the section (so each entry
/// is one function type: without the GC proposal there are no larger recursion groups).
fn check_types(types: TypeSectionReader<'_>) -> Result<(), ModuleLimitError> {
    for (index, ty) in (0u32..).zip(types.into_iter_err_on_gc_types()) {
        let ty = ty.map_err(invalid)?;
        let values = ty.params().len() + ty.results().len();
        Limit::TypeValues.check(Some(index), len(values))?;
    }
    Ok(())
}

/// Validates one function body with the per-function limits: locals counted before the
/// validator allocates them, the rest operator by operator, before the validator sees each.
fn check_function(
    validator: &mut FuncValidator<ValidatorResources>,
    body: &FunctionBody<'_>,
) -> Result<FunctionCounts, ModuleLimitError> {
    let index = validator.index();
    Limit::BodyBytes.check(Some(index), len(body.range().len()))?;
    let locals = u64::from(validator.len_locals()).saturating_add(declared_locals(body)?);
    Limit::Locals.check(Some(index), locals)?;
    let mut reader = body.get_binary_reader();
    validator.read_locals(&mut reader).map_err(invalid)?;
    let mut counts = FunctionCounts::new(index, locals);
    let mut operators = OperatorsReader::new(reader);
    while !operators.eof() {
        let offset = operators.original_position();
        let operator = operators.read().map_err(invalid)?;
        counts.count(validator, &operator)?;
        validator.op(offset, &operator).map_err(invalid)?;
    }
    operators.finish().map_err(invalid)?;
    Ok(counts)
}

/// The locals a body declares, summed without allocating them and without wasmparser's own
/// ceiling (so that a count past it meets this limit, not a parse error).
fn declared_locals(body: &FunctionBody<'_>) -> Result<u64, ModuleLimitError> {
    let mut reader = body.get_binary_reader();
    let mut total = 0u64;
    for _ in 0..reader.read_var_u32().map_err(invalid)? {
        let count = reader.read_var_u32().map_err(invalid)?;
        reader.read::<ValType>().map_err(invalid)?;
        total = total.saturating_add(count.into());
    }
    Ok(total)
}

/// One function's counts, kept while its operators are read.
#[derive(Debug)]
struct FunctionCounts {
    index: u32,
    locals: u64,
    branches: u64,
    loops: u64,
    calls: u64,
    runtime_calls: u64,
    nesting: u64,
    loop_nesting: u64,
    /// The most parameters and results of a block type used so far.
    block_values: u64,
    /// The largest locals × nesting depth so far.
    local_nesting_product: u64,
}

impl FunctionCounts {
    fn new(index: u32, locals: u64) -> Self {
        Self {
            index,
            locals,
            branches: 0,
            loops: 0,
            calls: 0,
            runtime_calls: 0,
            nesting: 0,
            loop_nesting: 0,
            block_values: 0,
            local_nesting_product: 0,
        }
    }

    /// Counts `operator` (not yet given to `validator`) against the per-function limits.
    fn count(
        &mut self,
        validator: &FuncValidator<ValidatorResources>,
        operator: &Operator<'_>,
    ) -> Result<(), LimitExceeded> {
        match operator {
            Operator::Block { blockty } | Operator::If { blockty } => {
                self.open(validator, *blockty, false)
            }
            Operator::TryTable { try_table } => self.open(validator, try_table.ty, false),
            Operator::Loop { blockty } => self.open(validator, *blockty, true),
            Operator::End => {
                self.close(validator);
                Ok(())
            }
            Operator::BrTable { targets } => {
                Limit::BrTableTargets.check(Some(self.index), targets.len().into())?;
                self.branch()
            }
            Operator::Else
            | Operator::BrIf { .. }
            | Operator::BrOnNull { .. }
            | Operator::BrOnNonNull { .. }
            | Operator::BrOnCast { .. }
            | Operator::BrOnCastFail { .. } => self.branch(),
            Operator::Call { .. }
            | Operator::CallIndirect { .. }
            | Operator::CallRef { .. }
            | Operator::ReturnCall { .. }
            | Operator::ReturnCallIndirect { .. }
            | Operator::ReturnCallRef { .. } => {
                self.calls += 1;
                Ok(())
            }
            Operator::MemoryGrow { .. }
            | Operator::MemoryFill { .. }
            | Operator::MemoryCopy { .. }
            | Operator::MemoryInit { .. }
            | Operator::DataDrop { .. }
            | Operator::TableGet { .. }
            | Operator::TableSet { .. }
            | Operator::TableGrow { .. }
            | Operator::TableFill { .. }
            | Operator::TableCopy { .. }
            | Operator::TableInit { .. }
            | Operator::ElemDrop { .. }
            | Operator::RefFunc { .. } => {
                self.runtime_calls += 1;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn branch(&mut self) -> Result<(), LimitExceeded> {
        self.branches += 1;
        Limit::Branches.check(Some(self.index), self.branches)
    }

    fn open(
        &mut self,
        validator: &FuncValidator<ValidatorResources>,
        ty: BlockType,
        is_loop: bool,
    ) -> Result<(), LimitExceeded> {
        self.branch()?;
        self.nesting += 1;
        Limit::Nesting.check(Some(self.index), self.nesting)?;
        self.block_values = self.block_values.max(block_values(validator, ty));
        let product = self
            .nesting
            .saturating_mul(self.locals.saturating_add(self.block_values));
        self.local_nesting_product = self.local_nesting_product.max(product);
        Limit::LocalNestingProduct.check(Some(self.index), product)?;
        if is_loop {
            self.loops += 1;
            self.loop_nesting += 1;
            Limit::LoopNesting.check(Some(self.index), self.loop_nesting)?;
        }
        Ok(())
    }

    /// An `end`: closes the innermost frame (the validator's, as it has not seen the `end` yet;
    /// the function's own frame comes last and is not counted).
    fn close(&mut self, validator: &FuncValidator<ValidatorResources>) {
        if validator.control_stack_height() <= 1 {
            return;
        }
        if validator.get_control_frame(0).map(|frame| frame.kind) == Some(FrameKind::Loop) {
            self.loop_nesting = self.loop_nesting.saturating_sub(1);
        }
        self.nesting = self.nesting.saturating_sub(1);
    }
}

/// The parameters and results of a block type (a block's values are SSA variables too).
fn block_values(validator: &FuncValidator<ValidatorResources>, ty: BlockType) -> u64 {
    match ty {
        BlockType::Empty => 0,
        BlockType::Type(_) => 1,
        BlockType::FuncType(index) => match validator.resources().sub_type_at(index) {
            Some(SubType {
                composite_type:
                    CompositeType {
                        inner: CompositeInnerType::Func(ty),
                        ..
                    },
                ..
            }) => len(ty.params().len() + ty.results().len()),
            // Refused by the validator when it sees the operator.
            _ => 0,
        },
    }
}

/// The running module-wide sums of the per-function counts.
#[derive(Debug, Default)]
struct ModuleTotals {
    branches: u64,
    loops: u64,
    calls: u64,
    runtime_calls: u64,
    local_branch_product: u64,
    local_nesting_product: u64,
}

impl ModuleTotals {
    fn add(&mut self, function: &FunctionCounts) -> Result<(), LimitExceeded> {
        self.branches = self.branches.saturating_add(function.branches);
        Limit::ModuleBranches.check(None, self.branches)?;
        self.loops = self.loops.saturating_add(function.loops);
        Limit::ModuleLoops.check(None, self.loops)?;
        self.calls = self.calls.saturating_add(function.calls);
        Limit::ModuleCalls.check(None, self.calls)?;
        self.runtime_calls = self.runtime_calls.saturating_add(function.runtime_calls);
        Limit::ModuleRuntimeCalls.check(None, self.runtime_calls)?;
        let product = function.locals.saturating_mul(function.branches);
        self.local_branch_product = self.local_branch_product.saturating_add(product);
        Limit::LocalBranchProduct.check(None, self.local_branch_product)?;
        let product = function.local_nesting_product;
        self.local_nesting_product = self.local_nesting_product.saturating_add(product);
        Limit::ModuleLocalNestingProduct.check(None, self.local_nesting_product)
    }
}

fn len(bytes: usize) -> u64 {
    u64::try_from(bytes).unwrap_or(u64::MAX)
}

fn invalid(error: wasmparser::BinaryReaderError) -> ModuleLimitError {
    ModuleLimitError::Invalid(error.to_string())
}

#[cfg(test)]
mod tests;

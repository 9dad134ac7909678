//! Who compiles a module: this process, or a sandbox under a CPU and memory budget.
//!
//! No static count bounds what cranelift spends on a module (`crate::module_limits` only keeps
//! out what no real program looks like), so a module the embedder does not trust is compiled in a
//! [`Sandbox`]: something that runs [`serve`] where the operating system stops it at a budget (the
//! `enclave` command runs it in a child process under `RLIMIT_CPU` and `RLIMIT_AS`). The runtime
//! itself spawns no process: it writes a [`CompileRequest`], the sandbox hands back the bytes
//! [`serve`] wrote, and the runtime checks that they answer this request (module digest, engine
//! fingerprint) before loading them. [`Compilation::InProcess`] is for modules the embedder
//! trusts.
//!
//! | message | bytes |
//! |---------|-------|
//! | request | `"ENCLCRv2"` ‖ stack bytes (u64 LE) ‖ metering (u8: 0 fuel, 1 time only) ‖ flavor (u8: 0 core module, 1 component) ‖ wasm |
//! | reply | `"ENCLCAv2"` ‖ SHA-256(wasm) ‖ engine fingerprint (32 bytes) ‖ serialized code |

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use crate::engine::{self, EngineFingerprint, EngineSettings, Flavor, Metering};
use crate::error::LoadError;
pub use crate::error::{BudgetExceeded, BudgetResource};
use crate::module_limits;

/// The first bytes of a request.
pub const REQUEST_MAGIC: &[u8; 8] = b"ENCLCRv2";
/// The first bytes of a reply.
pub const REPLY_MAGIC: &[u8; 8] = b"ENCLCAv2";
const DIGEST_LEN: usize = 32;
const REQUEST_HEADER: usize = REQUEST_MAGIC.len() + 8 + 1 + 1;
const REPLY_HEADER: usize = REPLY_MAGIC.len() + 2 * DIGEST_LEN;

/// How a module is compiled.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Compilation<'a> {
    /// In this process, bounded only by the static module limits: for modules the embedder
    /// trusts (its own, or a test's).
    InProcess,
    /// In `sandbox`, under its budget: for every module the embedder does not trust.
    Isolated(&'a dyn Sandbox),
}

/// Runs [`serve`] on a request, isolated and under a budget, and returns what it wrote.
///
/// # Safety
/// The runtime loads the bytes an implementation returns as native code once they name the
/// request's module digest and engine fingerprint. An implementation must return only bytes
/// that [`serve`] of this same build of the runtime wrote for `request` (for example, the
/// standard output of a child process of the same executable that ran [`serve`] on it), never
/// bytes anything else can choose.
#[allow(
    unsafe_code,
    reason = "implementing a sandbox is a promise about loaded native code the compiler cannot check"
)]
pub unsafe trait Sandbox: Send + Sync + std::fmt::Debug {
    /// Runs [`serve`] on `request` and returns its output.
    ///
    /// # Errors
    /// [`SandboxError`]: the budget stopped it, the module did not compile, or the sandbox
    /// failed.
    fn compile(&self, request: &CompileRequest) -> Result<Vec<u8>, SandboxError>;
}

/// Why a sandbox returned no code.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    /// The compilation reached the budget and was stopped there.
    #[error(transparent)]
    Budget(#[from] BudgetExceeded),
    /// [`serve`] refused the module (its message: invalid wasm, or a static limit).
    #[error("{0}")]
    Refused(String),
    /// The sandbox itself failed (could not start, ended in an unexpected way).
    #[error("the compile sandbox failed: {0}")]
    Failed(String),
}

/// What a sandbox is asked to compile: the module and the settings of the engine it is for.
#[derive(Debug, Clone)]
pub struct CompileRequest {
    bytes: Vec<u8>,
}

impl CompileRequest {
    fn new(settings: EngineSettings, wasm: &[u8]) -> Self {
        let mut bytes = Vec::with_capacity(REQUEST_HEADER + wasm.len());
        bytes.extend_from_slice(REQUEST_MAGIC);
        bytes.extend_from_slice(&settings.stack_bytes.to_le_bytes());
        bytes.push(match settings.metering {
            Metering::Fuel => 0,
            Metering::TimeOnly => 1,
        });
        bytes.push(match settings.flavor {
            Flavor::Core => 0,
            Flavor::Component => 1,
        });
        bytes.extend_from_slice(wasm);
        Self { bytes }
    }

    /// The request's bytes (see the module docs).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The engine settings in a request's header, if it is one.
fn parse_settings(header: &[u8]) -> Option<EngineSettings> {
    let rest = header.strip_prefix(REQUEST_MAGIC)?;
    let (stack, rest) = rest.split_first_chunk::<8>()?;
    let (metering, flavor) = match rest {
        [0, flavor] => (Metering::Fuel, flavor),
        [1, flavor] => (Metering::TimeOnly, flavor),
        _ => return None,
    };
    let flavor = match flavor {
        0 => Flavor::Core,
        1 => Flavor::Component,
        _ => return None,
    };
    Some(EngineSettings {
        stack_bytes: u64::from_le_bytes(*stack),
        metering,
        flavor,
    })
}

/// Why [`serve`] wrote no reply.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The request is not one (see the module docs).
    #[error("malformed compile request")]
    Malformed,
    /// The module was refused (invalid, over a static limit) or did not compile.
    #[error(transparent)]
    Load(#[from] LoadError),
}

impl ServeError {
    /// What a sandbox reports as [`SandboxError::Refused`]: for an invalid module, the reason
    /// without the "invalid wasm module" prefix the parent adds again.
    pub fn refusal(&self) -> String {
        match self {
            Self::Load(LoadError::InvalidModule(message)) => message.clone(),
            other => other.to_string(),
        }
    }
}

/// Compiles the module of `request` for the engine it names and returns the reply: the sandbox
/// side of [`Compilation::Isolated`]. Builds no instance pool, so its address space is the
/// compiler's.
///
/// # Errors
/// [`ServeError`] for a malformed request or a module that does not compile.
pub fn serve(request: &[u8]) -> Result<Vec<u8>, ServeError> {
    let (header, wasm) = request
        .split_at_checked(REQUEST_HEADER)
        .ok_or(ServeError::Malformed)?;
    let settings = parse_settings(header).ok_or(ServeError::Malformed)?;
    let engine = engine::build_for(settings).map_err(engine_error)?;
    let code = match settings.flavor {
        Flavor::Core => {
            let bounded = module_limits::check(wasm).map_err(LoadError::from)?;
            engine.precompile_module(bounded.bytes())
        }
        Flavor::Component => {
            let bounded = module_limits::check_component(wasm).map_err(LoadError::from)?;
            engine.precompile_component(bounded.bytes())
        }
    }
    .map_err(|e| LoadError::InvalidModule(format!("{e:#}")))?;
    let fingerprint = EngineFingerprint::of(&engine, settings.stack_bytes);
    let mut reply = Vec::with_capacity(REPLY_HEADER + code.len());
    reply.extend_from_slice(REPLY_MAGIC);
    reply.extend_from_slice(&Sha256::digest(wasm));
    reply.extend_from_slice(fingerprint.as_bytes());
    reply.extend_from_slice(&code);
    Ok(reply)
}

/// Compiled code: a module, and the serialized code when it came from a sandbox (the cache
/// stores those bytes as they are).
pub(crate) struct Compiled {
    pub(crate) code: Code,
    pub(crate) serialized: Option<Vec<u8>>,
}

/// Compiled code of either flavor.
#[derive(Clone)]
pub(crate) enum Code {
    /// A core module (native and WASI guests).
    Module(Module),
    /// A component (`http` guests).
    Component(Component),
}

impl Code {
    /// The code as wasmtime serializes it, for the cache.
    pub(crate) fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        match self {
            Self::Module(module) => module.serialize(),
            Self::Component(component) => component.serialize(),
        }
    }

    /// The core module; `None` for a component.
    #[cfg(test)]
    pub(crate) fn module(&self) -> Option<&Module> {
        match self {
            Self::Module(module) => Some(module),
            Self::Component(_) => None,
        }
    }
}

/// Loads serialized code of `flavor` for `engine`.
///
/// # Safety
/// `bytes` must be code that wasmtime serialized (`Module::serialize`, a sandbox's [`serve`]),
/// authenticated as this host's: it is loaded as native code.
#[allow(
    unsafe_code,
    reason = "loading compiled code is unsafe; callers pass only authenticated artifacts"
)]
pub(crate) unsafe fn deserialize(
    engine: &Engine,
    flavor: Flavor,
    bytes: &[u8],
) -> wasmtime::Result<Code> {
    // SAFETY: the caller's promise, above.
    unsafe {
        Ok(match flavor {
            Flavor::Core => Code::Module(Module::deserialize(engine, bytes)?),
            Flavor::Component => Code::Component(Component::deserialize(engine, bytes)?),
        })
    }
}

/// An engine and the settings it was built with: what compiled code is for.
#[derive(Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) engine: &'a Engine,
    pub(crate) settings: EngineSettings,
}

impl Target<'_> {
    /// The fingerprint compiled code for this target carries.
    pub(crate) fn fingerprint(&self) -> EngineFingerprint {
        EngineFingerprint::of(self.engine, self.settings.stack_bytes)
    }
}

/// Checks `wasm` against the static limits, then compiles it as `compilation` says, for
/// `target`. Every compilation in the runtime goes through here.
///
/// # Errors
/// [`LoadError::ModuleLimit`], [`LoadError::InvalidModule`], [`LoadError::CompileBudget`], or
/// [`LoadError::Engine`] when the sandbox fails or answers something else.
pub(crate) fn compile(
    compilation: Compilation<'_>,
    target: &Target<'_>,
    wasm: &[u8],
) -> Result<Compiled, LoadError> {
    let flavor = target.settings.flavor;
    let bounded = match flavor {
        Flavor::Core => module_limits::check(wasm)?.bytes(),
        Flavor::Component => module_limits::check_component(wasm)?.bytes(),
    };
    match compilation {
        Compilation::InProcess => {
            let invalid = |e: wasmtime::Error| LoadError::InvalidModule(format!("{e:#}"));
            let code = match flavor {
                Flavor::Core => Code::Module(Module::new(target.engine, bounded).map_err(invalid)?),
                Flavor::Component => {
                    Code::Component(Component::new(target.engine, bounded).map_err(invalid)?)
                }
            };
            Ok(Compiled {
                code,
                serialized: None,
            })
        }
        Compilation::Isolated(sandbox) => {
            let request = CompileRequest::new(target.settings, bounded);
            let reply = sandbox.compile(&request).map_err(sandbox_error)?;
            let answer = answer_to(&reply, wasm, &target.fingerprint())?;
            let code = load_reply(target.engine, flavor, answer)?;
            let serialized = Some(answer.bytes.to_vec());
            Ok(Compiled { code, serialized })
        }
    }
}

/// Serialized code from a reply that named the request's module and engine.
#[derive(Clone, Copy)]
struct ReplyCode<'a> {
    bytes: &'a [u8],
}

/// The code in `reply` if its header names `wasm`'s digest and `fingerprint`.
fn answer_to<'a>(
    reply: &'a [u8],
    wasm: &[u8],
    fingerprint: &EngineFingerprint,
) -> Result<ReplyCode<'a>, LoadError> {
    let wrong = |what: &str| LoadError::Engine(format!("the compile sandbox answered {what}"));
    let rest = reply
        .strip_prefix(REPLY_MAGIC)
        .ok_or_else(|| wrong("something that is not a reply"))?;
    let (module, rest) = rest
        .split_first_chunk::<DIGEST_LEN>()
        .ok_or_else(|| wrong("a truncated reply"))?;
    let (engine, code) = rest
        .split_first_chunk::<DIGEST_LEN>()
        .ok_or_else(|| wrong("a truncated reply"))?;
    if module[..] != Sha256::digest(wasm)[..] {
        return Err(wrong("for another module"));
    }
    if engine != fingerprint.as_bytes() {
        return Err(wrong("for another engine configuration"));
    }
    Ok(ReplyCode { bytes: code })
}

fn load_reply(engine: &Engine, flavor: Flavor, code: ReplyCode<'_>) -> Result<Code, LoadError> {
    // SAFETY: `Module::deserialize` requires bytes that wasmtime serialized, because they are
    // loaded as native code unchecked. `code` comes from a `Sandbox`, whose (unsafe) contract is
    // to return only what `serve` of this runtime wrote for the request; `answer_to` checked that
    // the reply names this request's module digest and this engine's fingerprint, so it is the
    // answer to this request and for this engine. wasmtime then checks the artifact's version
    // and engine settings again and refuses a mismatch.
    #[allow(
        unsafe_code,
        reason = "loading compiled code is unsafe; this loads only a sandbox's checked reply"
    )]
    let module = unsafe { deserialize(engine, flavor, code.bytes) };
    module
        .map_err(|e| LoadError::Engine(format!("the compile sandbox's code does not load: {e:#}")))
}

fn sandbox_error(error: SandboxError) -> LoadError {
    match error {
        SandboxError::Budget(budget) => LoadError::CompileBudget(budget),
        SandboxError::Refused(message) => LoadError::InvalidModule(message),
        SandboxError::Failed(_) => LoadError::Engine(error.to_string()),
    }
}

fn engine_error(error: wasmtime::Error) -> ServeError {
    ServeError::Load(LoadError::Engine(format!("{error:#}")))
}

#[cfg(test)]
mod tests;

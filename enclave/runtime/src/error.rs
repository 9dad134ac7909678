//! Errors of loading and running an enclave.

use attest::{BundleError, ManifestError};

/// Why a bundle could not be loaded.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bundle failed verification (signature, format, manifest, trusted signer).
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The module bytes are not a valid wasm module for this runtime's feature set.
    #[error("invalid wasm module: {0}")]
    InvalidModule(String),
    /// The module exceeds one of the static limits checked before it is compiled
    /// ([`crate::module_limits`]).
    #[error("module exceeds a static limit: {0}")]
    ModuleLimit(crate::module_limits::LimitExceeded),
    /// Compiling the module reached the platform's compile budget and was stopped there
    /// ([`crate::compile`]).
    #[error(transparent)]
    CompileBudget(BudgetExceeded),
    /// The module imports something outside the granted ABI; every offending import is listed.
    #[error("module imports outside the granted ABI: {}", .0.join("; "))]
    ForbiddenImports(Vec<String>),
    /// The module imports the other kind's host functions: a WASI program under a native
    /// manifest, or an SDK guest under `kind = "wasi"`.
    #[error(
        "module imports {} but the manifest says kind = \"{declared}\": {}",
        list_imports(.imports),
        kind_advice(*.declared)
    )]
    WrongKind {
        /// The manifest's kind.
        declared: attest::GuestKind,
        /// The imports that belong to the other kind (`module.name`).
        imports: Vec<String>,
    },
    /// The module's memory starts larger than the manifest's `memory_bytes`, so no run could
    /// instantiate it.
    #[error(
        "the module's memory starts at {minimum} bytes, more than the manifest's \
         limits.memory_bytes = {limit}: raise memory_bytes to at least {minimum}"
    )]
    MemoryBelowMinimum {
        /// The module's initial memory, in bytes.
        minimum: u64,
        /// The manifest's `memory_bytes`.
        limit: u64,
    },
    /// The module lacks a required export.
    #[error("module does not export {0}")]
    MissingExport(&'static str),
    /// The wasm engine could not be set up.
    #[error("runtime setup failed: {0}")]
    Engine(String),
    /// The manifest says `kind = "wasi"` but this runtime was built without its `wasi` feature.
    #[error("the manifest says kind = \"wasi\" but this runtime was built without WASI (its `wasi` cargo feature)")]
    WasiNotBuilt,
    /// The manifest says `kind = "http"` but this runtime was built without its `http` feature.
    #[error("the manifest says kind = \"http\" but this runtime was built without wasi:http (its `http` cargo feature)")]
    HttpNotBuilt,
    /// An `http` enclave was loaded on a shared engine, which runs core modules only.
    #[error("an http enclave (a component) needs an engine of its own; a shared engine runs core modules only")]
    HttpOnSharedEngine,
    /// The manifest's wasm stack is larger than the shared engine it is loaded on allows
    /// ([`crate::embed::EngineConfig::max_stack_bytes`]).
    #[error("the manifest's stack_bytes = {stack_bytes} exceeds the engine's limit of {limit}")]
    StackAboveEngine {
        /// The manifest's `stack_bytes`.
        stack_bytes: u64,
        /// The engine's limit.
        limit: u64,
    },
}

/// A compilation stopped at its budget. The usage is what the operating system accounted to
/// the compiler (its `rusage`), not a wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "compilation stopped at its {resource} budget of {}: the module costs more to compile \
     than this platform allows (used {} CPU-ms, peak {} KiB resident)",
    resource.describe_budget(*budget), cpu_ms, max_rss_kib
)]
pub struct BudgetExceeded {
    /// Which budget.
    pub resource: BudgetResource,
    /// The budget: CPU seconds or address-space bytes.
    pub budget: u64,
    /// CPU time (user and system) the compiler used, in milliseconds.
    pub cpu_ms: u64,
    /// The compiler's peak resident memory, in KiB.
    pub max_rss_kib: u64,
}

/// The resources a compile budget bounds.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetResource {
    /// CPU time, in seconds.
    Cpu,
    /// Address space, in bytes.
    Memory,
}

impl BudgetResource {
    fn describe_budget(self, budget: u64) -> String {
        match self {
            Self::Cpu => format!("{budget} CPU-seconds"),
            Self::Memory => format!("{} MiB of address space", budget >> 20),
        }
    }
}

impl std::fmt::Display for BudgetResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
        })
    }
}

/// Why a run ended without a result. No output may be released after any of these.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The input is larger than the manifest's `max_input_bytes`.
    #[error("input is {size} bytes, larger than the manifest's max_input_bytes = {limit}")]
    InputTooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The guest used up its fuel.
    #[error("fuel budget of {fuel} exhausted")]
    FuelExhausted {
        /// The budget.
        fuel: u64,
    },
    /// The guest ran past the wall-clock limit.
    #[error("wall-clock limit of {timeout_ms} ms exceeded")]
    Timeout {
        /// The limit.
        timeout_ms: u64,
    },
    /// The guest tried to grow memory past the limit.
    #[error("memory limit of {limit} bytes exceeded (guest asked for {requested} bytes)")]
    MemoryLimit {
        /// The limit.
        limit: u64,
        /// What was asked for.
        requested: u64,
    },
    /// The guest exhausted its wasm stack.
    #[error("wasm stack overflow (limit {limit} bytes)")]
    StackOverflow {
        /// The limit.
        limit: u64,
    },
    /// The guest did something the host refuses (see [`GuestFault`]).
    #[error(transparent)]
    Fault(#[from] GuestFault),
    /// The guest trapped. For a debug WASI guest, the message ends with the tail of its stderr.
    #[error("guest trapped: {0}")]
    Trap(String),
    /// A WASI guest trapped after writing to its stderr (a Rust program prints its panic
    /// message there before it executes `unreachable`). The end of its stderr is the guest's
    /// own words, confidential like an abort message: see [`GuestMessage`].
    #[error("guest trapped: {trap} (stderr: {stderr})")]
    TrapWithStderr {
        /// What trapped, as in [`RunError::Trap`].
        trap: String,
        /// The last [`crate::host::MAX_STDERR_WORDS`] bytes of the guest's stderr, escaped.
        stderr: GuestMessage,
    },
    /// Reading the input failed; for sealed input this is where forgery is detected.
    #[error("reading input: {0}")]
    Input(std::io::Error),
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Output(std::io::Error),
    /// Instantiation failed for a reason other than a limit.
    #[error("instantiation failed: {0}")]
    Instantiate(String),
    /// The host could not run the guest (thread creation and the like).
    #[error("runtime failure: {0}")]
    Host(String),
    /// The embedder cancelled the run through its [`crate::embed::CancelHandle`].
    #[error("run cancelled by the host")]
    Cancelled,
    /// The module has no export of that name callable as `[] -> []` ([`crate::Enclave::call`]).
    #[error("the module exports no function `{0}: [] -> []`")]
    NoSuchExport(String),
    /// A plaintext input for an enclave whose manifest takes sealed inputs only
    /// (`inputs.sealed_only`): nothing ran.
    #[error(
        "plaintext input refused: this enclave takes sealed inputs only (its manifest sets \
         inputs.sealed_only = true); seal the input to the enclave (`enclave seal`, `enclave call`)"
    )]
    PlaintextRefused,
    /// A run asked of an `http` enclave, which answers HTTP requests instead
    /// ([`crate::Enclave::http`]).
    #[error(
        "this is an http enclave (kind = \"http\"): it answers HTTP requests; serve it with `enclave serve` instead of running it"
    )]
    HttpKind,
}

impl RunError {
    /// What the guest itself said about its failure (its abort or panic message), whether or
    /// not [`Display`](std::fmt::Display) shows it. For a confidential run this goes to the
    /// requester, sealed, and nowhere else.
    pub fn guest_message(&self) -> Option<&GuestMessage> {
        match self {
            Self::Fault(GuestFault::Aborted(message))
            | Self::TrapWithStderr {
                stderr: message, ..
            } => Some(message),
            _ => None,
        }
    }

    /// Lets [`Display`](std::fmt::Display) show the guest's own words: for debug enclaves,
    /// whose operator may see everything the guest says.
    pub(crate) fn disclose_guest_message(mut self) -> Self {
        if let Self::Fault(GuestFault::Aborted(message))
        | Self::TrapWithStderr {
            stderr: message, ..
        } = &mut self
        {
            message.disclosed = true;
        }
        self
    }

    /// The failure with the guest's own words in it, for the requester of a confidential run
    /// (never for the operator of a production enclave): one line, the same as a debug
    /// enclave's [`Display`](std::fmt::Display).
    pub fn to_requester_string(&self) -> String {
        match self {
            Self::Fault(GuestFault::Aborted(message)) => {
                format!("guest aborted: {}", message.text())
            }
            Self::TrapWithStderr { trap, stderr } => {
                format!("guest trapped: {trap} (stderr: {})", stderr.text())
            }
            _ => self.to_string(),
        }
    }
}

/// What a guest said when it failed: its `abort` message, or the panic message the SDK passes
/// to `abort`. Guests quote their input in such messages (`bad salary "abc"`), so for a
/// production enclave the text is as confidential as the input: `Display` and `Debug` show it
/// only once the runtime has disclosed it (debug enclaves), and a confidential run seals it to
/// the requester (`docs/threat-model.md`, "What a guest says").
#[derive(Clone, PartialEq, Eq)]
pub struct GuestMessage {
    text: zeroize::Zeroizing<String>,
    disclosed: bool,
}

impl GuestMessage {
    /// A message from the guest, not disclosed to the operator.
    pub(crate) fn confidential(text: String) -> Self {
        Self {
            text: zeroize::Zeroizing::new(text),
            disclosed: false,
        }
    }

    /// The guest's raw `bytes`, escaped by [`escape_guest_text`], not disclosed to the operator.
    pub(crate) fn from_guest_bytes(bytes: &[u8]) -> Self {
        Self::confidential(escape_guest_text(bytes))
    }

    /// The guest's words (escaped, at most 1 KiB of its bytes). Only for the requester, or the operator of
    /// a debug enclave.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether `Display` shows the text (a debug enclave's).
    pub fn is_disclosed(&self) -> bool {
        self.disclosed
    }
}

impl std::fmt::Display for GuestMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.disclosed {
            f.write_str(&self.text)
        } else {
            f.write_str(WITHHELD)
        }
    }
}

impl std::fmt::Debug for GuestMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GuestMessage({self})")
    }
}

/// Why the platform's sealed store failed a run: a type the platform defines (the runtime does
/// not know the store's), carried as it is so that a caller can downcast it
/// ([`StoreFault::downcast_ref`]).
#[derive(Clone)]
pub struct StoreFault(std::sync::Arc<dyn std::error::Error + Send + Sync>);

impl StoreFault {
    /// Carries the platform's `error`.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(error))
    }

    /// The platform's error, if it is a `T`.
    pub fn downcast_ref<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl std::fmt::Display for StoreFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Debug for StoreFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StoreFault").field(&self.0).finish()
    }
}

impl PartialEq for StoreFault {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0) || self.to_string() == other.to_string()
    }
}

impl Eq for StoreFault {}

/// A guest's bytes as one line of failure text, the rule `docs/abi.md` (`abort`) and
/// `docs/formats.md` ("Failed runs") state: invalid UTF-8 becomes U+FFFD; a backslash becomes
/// `\\`; tab, line feed and carriage return become `\t`, `\n`, `\r`; every other control
/// character (U+0000..=U+001F, U+007F..=U+009F) becomes `\u{X}`, X its code point in lowercase
/// hex without leading zeros; everything else, quotes included, is kept as it is. The escaping
/// is reversible, and the result holds no control character.
pub fn escape_guest_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// What the operator and the receipt see instead of a production guest's message.
pub const WITHHELD: &str =
    "<message withheld: a production enclave's words go only to the requester, sealed>";

/// At most three imports by name, then how many more.
fn list_imports(imports: &[String]) -> String {
    const SHOWN: usize = 3;
    let shown = imports.iter().take(SHOWN).cloned().collect::<Vec<_>>();
    match imports.len().saturating_sub(SHOWN) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// What to write in the manifest instead of `declared`.
fn kind_advice(declared: attest::GuestKind) -> &'static str {
    match declared {
        attest::GuestKind::Enclave => {
            "a WASI program (wasm32-wasip1) needs kind = \"wasi\" in the manifest (docs/wasi.md)"
        }
        attest::GuestKind::Wasi => {
            "an SDK guest (wasm32-unknown-unknown) needs kind = \"enclave\", the default \
             (docs/abi.md)"
        }
        attest::GuestKind::Http => {
            "a core module needs kind = \"enclave\" (an SDK guest) or kind = \"wasi\" (a \
             wasm32-wasip1 program); kind = \"http\" takes a component"
        }
    }
}

/// A guest did something that ends its run.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuestFault {
    /// A pointer/length pair outside linear memory, or whose sum overflows.
    #[error("guest passed an out-of-bounds buffer to enclave_v1.{function} (ptr={ptr:#x}, len={len:#x})")]
    OutOfBounds {
        /// The host function.
        function: &'static str,
        /// The pointer, as unsigned.
        ptr: u32,
        /// The length, as unsigned.
        len: u32,
    },
    /// As [`GuestFault::OutOfBounds`], for a host function the embedder granted
    /// ([`crate::host_fns`]).
    #[error("guest passed an out-of-bounds buffer to enclave_host.{function} (ptr={ptr:#x}, len={len:#x})")]
    HostFunctionOutOfBounds {
        /// The host function's name.
        function: String,
        /// The pointer, as unsigned.
        ptr: u32,
        /// The length, as unsigned.
        len: u32,
    },
    /// The guest wrote more than `max_output_bytes`.
    #[error("output limit of {limit} bytes exceeded")]
    OutputLimit {
        /// The limit.
        limit: u64,
    },
    /// The guest called `abort`, or panicked. What it said is confidential for a production
    /// enclave: see [`GuestMessage`].
    #[error("guest aborted: {0}")]
    Aborted(GuestMessage),
    /// The guest exports no memory (checked at load; kept for defence in depth).
    #[error("guest has no exported memory")]
    NoMemory,
    /// The host's random number generator failed.
    #[error("the host random number generator failed")]
    HostRandomFailed,
    /// The guest's sealed store cannot be trusted or written: tampered, rolled back, sealed by a
    /// newer enclave version, or an I/O failure. The guest must not carry on without its state.
    #[error("sealed store: {0}")]
    Store(StoreFault),
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic, reason = "tests: a panic is a failing test")]

    use super::escape_guest_text;

    #[test]
    fn quotes_and_text_are_kept() {
        assert_eq!(
            escape_guest_text(br#"bad salary "abc" (it's 'x')"#),
            r#"bad salary "abc" (it's 'x')"#
        );
        assert_eq!(
            escape_guest_text("gehalt: «zwölf» 💶".as_bytes()),
            "gehalt: «zwölf» 💶"
        );
    }

    #[test]
    fn control_characters_and_backslash_are_escaped() {
        assert_eq!(escape_guest_text(b"a\tb\nc\rd"), r"a\tb\nc\rd");
        assert_eq!(escape_guest_text(b"back\\slash"), r"back\\slash");
        assert_eq!(
            escape_guest_text(b"\0\x1b[31m\x7f"),
            r"\u{0}\u{1b}[31m\u{7f}"
        );
        assert_eq!(
            escape_guest_text("c1:\u{85}\u{9f}".as_bytes()),
            r"c1:\u{85}\u{9f}"
        );
    }

    #[test]
    fn invalid_utf8_becomes_the_replacement_character() {
        assert_eq!(
            escape_guest_text(b"ok \xff\xfe end"),
            "ok \u{fffd}\u{fffd} end"
        );
    }

    #[test]
    fn the_result_has_no_control_character_and_unescapes_to_the_input() {
        let all: Vec<u8> = (0u8..=0x7f).collect();
        let escaped = escape_guest_text(&all);
        assert!(!escaped.chars().any(char::is_control));
        assert_eq!(unescape(&escaped).as_bytes(), all.as_slice());
    }

    /// The inverse of the documented rule, as an independent reader would write it.
    fn unescape(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('\\') => out.push('\\'),
                Some('u') => {
                    let hex: String = chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                    let code = u32::from_str_radix(&hex, 16).unwrap_or(0xfffd);
                    out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                }
                other => panic!("not an escape: {other:?}"),
            }
        }
        out
    }
}

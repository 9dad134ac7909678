//! The compile sandbox: a child process that compiles one module under a CPU and memory budget
//! the operating system enforces.
//!
//! [`ChildCompiler`] is the runtime's [`Sandbox`]: it starts a program (the `enclave` binary's
//! hidden `compile-sandbox` subcommand), writes the runtime's compile request to its standard
//! input and reads the reply from its standard output. The child calls [`serve_child`] first
//! thing, which sets its own `RLIMIT_CPU` (soft at the budget, hard one second later) and
//! `RLIMIT_AS`, then runs [`enclave_runtime::compile::serve`]. The kernel stops it at the
//! budget: `SIGXCPU` (or `SIGKILL`) at the CPU budget, and at the memory budget an allocation
//! fails and the child aborts. The parent reads the child's CPU time and peak memory from
//! `wait4`'s `rusage`, never from a clock.
//!
//! Concurrent cold compilations do not multiply the budget: a compilation holds an exclusive
//! lock on `<platform home>/compile.lock` (or, without a home, a lock of this process) for as
//! long as its child lives, so one platform compiles one untrusted module at a time and the
//! machine spends at most one budget on compilation at once. Others wait their turn.
//!
//! Child exit status: 0 with the reply on standard output; [`EXIT_REFUSED`] with the reason on
//! standard error when the module does not compile; anything else is a failure of the sandbox.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};

use enclave_runtime::compile::{
    self, BudgetExceeded, BudgetResource, CompileRequest, Sandbox, SandboxError, ServeError,
};
use enclave_runtime::LoadError;

/// The default CPU budget of one compilation, in seconds.
pub const DEFAULT_CPU_SECONDS: u64 = 30;
/// The default address-space budget of one compilation, in bytes (2 GiB).
pub const DEFAULT_MEMORY_BYTES: u64 = 2 << 30;
/// The smallest address-space budget accepted: below it even a trivial module cannot compile
/// (the compiler's threads and allocator arenas reserve address space up front).
pub const MIN_MEMORY_BYTES: u64 = 256 << 20;
/// The exit status of a child whose module did not compile.
pub const EXIT_REFUSED: i32 = 3;
/// The lock file in the platform home that serialises compilations.
pub const LOCK_FILE: &str = "compile.lock";
/// Largest reply read from a child: the code cache's largest entry.
const MAX_REPLY_BYTES: u64 = enclave_runtime::cache::MAX_ENTRY_BYTES;
/// Most bytes of a child's standard error kept for a message.
const MAX_STDERR_BYTES: u64 = 16 << 10;

/// The budget of one compilation: what the kernel lets the child spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileBudget {
    cpu_seconds: u64,
    memory_bytes: u64,
}

impl Default for CompileBudget {
    fn default() -> Self {
        Self {
            cpu_seconds: DEFAULT_CPU_SECONDS,
            memory_bytes: DEFAULT_MEMORY_BYTES,
        }
    }
}

/// A budget that cannot be enforced.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// A CPU budget of zero seconds.
    #[error("the compile CPU budget must be at least 1 second")]
    ZeroCpu,
    /// An address-space budget too small for the compiler itself.
    #[error("the compile memory budget of {0} bytes is below the minimum of {MIN_MEMORY_BYTES}")]
    MemoryTooSmall(u64),
}

impl CompileBudget {
    /// A budget of `cpu_seconds` of CPU time and `memory_bytes` of address space.
    ///
    /// # Errors
    /// [`BudgetError`] for a zero CPU budget or a memory budget below [`MIN_MEMORY_BYTES`].
    pub fn new(cpu_seconds: u64, memory_bytes: u64) -> Result<Self, BudgetError> {
        if cpu_seconds == 0 {
            return Err(BudgetError::ZeroCpu);
        }
        if memory_bytes < MIN_MEMORY_BYTES {
            return Err(BudgetError::MemoryTooSmall(memory_bytes));
        }
        Ok(Self {
            cpu_seconds,
            memory_bytes,
        })
    }

    /// The CPU budget, in seconds.
    pub fn cpu_seconds(&self) -> u64 {
        self.cpu_seconds
    }

    /// The address-space budget, in bytes.
    pub fn memory_bytes(&self) -> u64 {
        self.memory_bytes
    }
}

/// Compiles in a child process under a [`CompileBudget`], one at a time per platform home.
#[derive(Debug)]
pub struct ChildCompiler {
    program: PathBuf,
    args: Vec<OsString>,
    budget: CompileBudget,
    lock: Option<PathBuf>,
}

impl ChildCompiler {
    /// A compiler that runs `program` with `args`, then `--cpu-seconds N --memory-bytes M`; the
    /// program must call [`serve_child`] with that budget. With a `home`, compilations of every
    /// process on that platform take turns on its lock file.
    pub fn new(
        program: PathBuf,
        args: Vec<OsString>,
        budget: CompileBudget,
        home: Option<&Path>,
    ) -> Self {
        Self {
            program,
            args,
            budget,
            lock: home.map(|home| home.join(LOCK_FILE)),
        }
    }

    /// The budget each compilation gets.
    pub fn budget(&self) -> CompileBudget {
        self.budget
    }

    fn spawn(&self) -> io::Result<Child> {
        Command::new(&self.program)
            .args(&self.args)
            .arg("--cpu-seconds")
            .arg(self.budget.cpu_seconds.to_string())
            .arg("--memory-bytes")
            .arg(self.budget.memory_bytes.to_string())
            // glibc reserves 64 MiB of address space per malloc arena, up to eight per core:
            // on a large machine that alone would exceed the budget. Two arenas are plenty
            // for a compiler that mostly allocates from its worker threads' short-lived data.
            .env("MALLOC_ARENA_MAX", "2")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    }
}

// SAFETY: the reply is the standard output of a child process this value started, running the
// program the embedder named, which must call `serve_child`, i.e. `compile::serve` of the same
// runtime, on the request written to its standard input; nothing else writes to that pipe.
#[allow(
    unsafe_code,
    reason = "the Sandbox contract: the reply is what `serve` wrote in the child"
)]
unsafe impl Sandbox for ChildCompiler {
    fn compile(&self, request: &CompileRequest) -> Result<Vec<u8>, SandboxError> {
        let _turn = CompileTurn::take(self.lock.as_deref())?;
        let mut child = self
            .spawn()
            .map_err(|e| failed(format!("cannot start {}: {e}", self.program.display())))?;
        let exchanged = exchange(&mut child, request.as_bytes());
        let usage = reap(&child).map_err(|e| failed(format!("cannot wait for the child: {e}")))?;
        let (reply, stderr) = exchanged?;
        self.judge(&usage, reply, &stderr)
    }
}

impl ChildCompiler {
    /// What the child's end means: its reply, a refusal, or the budget.
    fn judge(&self, usage: &Usage, reply: Vec<u8>, stderr: &[u8]) -> Result<Vec<u8>, SandboxError> {
        let message = || String::from_utf8_lossy(stderr).trim().to_owned();
        let budget = |resource, budget| BudgetExceeded {
            resource,
            budget,
            cpu_ms: usage.cpu_ms,
            max_rss_kib: usage.max_rss_kib,
        };
        match usage.end {
            End::Exited(0) => Ok(reply),
            End::Exited(EXIT_REFUSED) => Err(SandboxError::Refused(message())),
            End::Signal(libc::SIGXCPU) => {
                Err(budget(BudgetResource::Cpu, self.budget.cpu_seconds).into())
            }
            // The hard limit, a second past the soft one (rusage's tick-sampled times may read
            // a little under the kernel's exact count, hence the second's slack).
            End::Signal(libc::SIGKILL)
                if usage.cpu_ms.saturating_add(1000)
                    >= self.budget.cpu_seconds.saturating_mul(1000) =>
            {
                Err(budget(BudgetResource::Cpu, self.budget.cpu_seconds).into())
            }
            // An allocation past RLIMIT_AS fails, and Rust aborts on a failed allocation.
            End::Signal(libc::SIGABRT) => {
                Err(budget(BudgetResource::Memory, self.budget.memory_bytes).into())
            }
            End::Exited(code) => Err(failed(format!(
                "the child exited with {code}: {}",
                message()
            ))),
            End::Signal(signal) => Err(failed(format!("the child was killed by signal {signal}"))),
        }
    }
}

fn failed(message: String) -> SandboxError {
    SandboxError::Failed(message)
}

/// Writes the request and reads the reply and standard error, each on its own thread so that
/// no pipe fills while another is waited on. The child's pipes are closed when this returns.
fn exchange(child: &mut Child, request: &[u8]) -> Result<(Vec<u8>, Vec<u8>), SandboxError> {
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(failed("the child's pipes are missing".into()));
    };
    std::thread::scope(|scope| {
        // A child that stops reading (it died) makes the write fail; its end says why.
        scope.spawn(move || stdin.write_all(request));
        let errors = scope.spawn(move || read_capped(stderr, MAX_STDERR_BYTES));
        let reply = read_reply(stdout);
        if reply.is_err() {
            // The child is ours and still running: stop it rather than wait on its budget.
            let _ = child.kill();
        }
        let stderr = errors.join().ok().and_then(Result::ok).unwrap_or_default();
        Ok((reply?, stderr))
    })
}

fn read_reply(stdout: ChildStdout) -> Result<Vec<u8>, SandboxError> {
    let reply = read_capped(stdout, MAX_REPLY_BYTES + 1)
        .map_err(|e| failed(format!("cannot read the child's reply: {e}")))?;
    if reply.len() as u64 > MAX_REPLY_BYTES {
        return Err(failed(format!(
            "the child's reply exceeds {MAX_REPLY_BYTES} bytes"
        )));
    }
    Ok(reply)
}

fn read_capped(reader: impl Read, cap: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(cap).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// How a child ended and what it used, from `wait4`.
#[derive(Debug, Clone, Copy)]
struct Usage {
    end: End,
    cpu_ms: u64,
    max_rss_kib: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Exited(i32),
    Signal(i32),
}

/// Waits for `child` with `wait4`, which returns the child's own resource usage.
fn reap(child: &Child) -> io::Result<Usage> {
    let pid = libc::pid_t::try_from(child.id()).map_err(io::Error::other)?;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero `rusage` is a valid value of that plain C struct.
    #[allow(unsafe_code, reason = "a zeroed C struct for wait4 to fill")]
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own child, not yet waited for (std's `Child::wait` is never
        // called on it), and both pointers are to live locals of the types wait4 writes.
        #[allow(
            unsafe_code,
            reason = "wait4 is the call that returns a child's rusage"
        )]
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
    let end = if libc::WIFEXITED(status) {
        End::Exited(libc::WEXITSTATUS(status))
    } else {
        End::Signal(libc::WTERMSIG(status))
    };
    Ok(Usage {
        end,
        cpu_ms: millis(usage.ru_utime).saturating_add(millis(usage.ru_stime)),
        max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
    })
}

fn millis(time: libc::timeval) -> u64 {
    let seconds = u64::try_from(time.tv_sec).unwrap_or(0);
    let micros = u64::try_from(time.tv_usec).unwrap_or(0);
    seconds.saturating_mul(1000).saturating_add(micros / 1000)
}

/// This process's turn without a platform home.
static PROCESS_TURN: Mutex<()> = Mutex::new(());

/// A held turn to compile: the platform's lock file, or this process's lock. Held only to be
/// dropped when the compilation is over.
enum CompileTurn {
    Platform { _locked: File },
    Process { _guard: MutexGuard<'static, ()> },
}

impl CompileTurn {
    fn take(lock: Option<&Path>) -> Result<Self, SandboxError> {
        let Some(path) = lock else {
            let guard = PROCESS_TURN.lock().unwrap_or_else(PoisonError::into_inner);
            return Ok(Self::Process { _guard: guard });
        };
        let cannot = |e: io::Error| failed(format!("cannot lock {}: {e}", path.display()));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(path)
            .map_err(cannot)?;
        // Released when the file is closed (the turn dropped), also if this process dies.
        file.lock().map_err(cannot)?;
        Ok(Self::Platform { _locked: file })
    }
}

impl std::fmt::Debug for CompileTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Platform { .. } => "CompileTurn::Platform",
            Self::Process { .. } => "CompileTurn::Process",
        })
    }
}

/// Why [`serve_child`] wrote no reply.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    /// The budget could not be set on this process.
    #[error("cannot set the compile budget: {0}")]
    Budget(io::Error),
    /// Reading the request or writing the reply failed.
    #[error("compile sandbox i/o: {0}")]
    Io(#[from] io::Error),
    /// The request was malformed or the module did not compile.
    #[error(transparent)]
    Serve(#[from] ServeError),
}

impl ChildError {
    /// The exit status the child ends with: [`EXIT_REFUSED`] when the module itself was
    /// refused (it does not compile), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Serve(ServeError::Load(
                LoadError::InvalidModule(_) | LoadError::ModuleLimit(_),
            )) => EXIT_REFUSED,
            _ => 1,
        }
    }
}

/// The child's side: limits this process to `budget`, reads a compile request from `input` and
/// writes [`enclave_runtime::compile::serve`]'s reply to `output`.
///
/// # Errors
/// [`ChildError`]; the caller exits with [`EXIT_REFUSED`] for [`ChildError::Serve`].
pub fn serve_child(
    budget: CompileBudget,
    input: impl Read,
    mut output: impl Write,
) -> Result<(), ChildError> {
    limit_self(budget).map_err(ChildError::Budget)?;
    // A request is at most the largest module and its header.
    let cap = enclave_runtime::module_limits::MAX_MODULE_BYTES.saturating_add(64);
    let request = read_capped(input, cap)?;
    let reply = compile::serve(&request)?;
    output.write_all(&reply)?;
    output.flush()?;
    Ok(())
}

fn limit_self(budget: CompileBudget) -> io::Result<()> {
    use rustix::process::{setrlimit, Resource, Rlimit};
    let cpu = Rlimit {
        current: Some(budget.cpu_seconds),
        maximum: Some(budget.cpu_seconds.saturating_add(1)),
    };
    let memory = Rlimit {
        current: Some(budget.memory_bytes),
        maximum: Some(budget.memory_bytes),
    };
    // SIGXCPU's default action dumps core: no core file of a stopped compilation.
    let no_core = Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    setrlimit(Resource::Core, no_core)?;
    setrlimit(Resource::Cpu, cpu)?;
    setrlimit(Resource::As, memory)?;
    Ok(())
}

#[cfg(test)]
mod tests;

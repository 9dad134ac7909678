//! Every WASI preview 1 function, its signature and what a guest gets when it calls it. This
//! table is the policy: `docs/wasi.md` reproduces it (a test keeps the two in step).

use wasmtime::ValType;

use crate::abi::Num::{self, I32, I64};

/// A WASI errno, as a guest sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(u16);

impl Errno {
    /// No error.
    pub const SUCCESS: Errno = Errno(0);
    /// Bad file descriptor: there is no such descriptor.
    pub const BADF: Errno = Errno(8);
    /// An invalid argument (an unknown clock id).
    pub const INVAL: Errno = Errno(28);
    /// "Capabilities insufficient": the call is not permitted in an enclave, or the manifest
    /// does not grant it. The one answer to everything refused.
    pub const NOTCAPABLE: Errno = Errno(76);

    /// The value a function returns.
    pub const fn code(self) -> i32 {
        self.0 as i32
    }

    /// The name WASI gives it.
    pub const fn name(self) -> &'static str {
        match self.0 {
            0 => "SUCCESS",
            8 => "EBADF",
            28 => "EINVAL",
            76 => "ENOTCAPABLE",
            _ => "?",
        }
    }
}

/// What the runtime does when a guest calls a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Behaviour {
    /// wasmtime-wasi's implementation, over a context holding only the stdio streams and the
    /// arguments.
    WasmtimeWasi,
    /// Returns the errno and does nothing else.
    Fails(Errno),
    /// Returns success and does nothing.
    NoOp,
    /// `clock_time_get`, implemented here: only granted clocks.
    ClockTime,
    /// `clock_res_get`, implemented here: only granted clocks.
    ClockResolution,
    /// `random_get`, implemented here: only when granted.
    Random,
}

/// One preview-1 function.
#[derive(Debug)]
pub(crate) struct WasiFunction {
    /// Its name in `wasi_snapshot_preview1`.
    pub name: &'static str,
    /// Core wasm parameter types.
    pub params: &'static [Num],
    /// Core wasm result types.
    pub results: &'static [Num],
    /// What a call does.
    pub behaviour: Behaviour,
}

/// The clock ids of WASI preview 1.
pub(crate) const CLOCK_REALTIME: i32 = 0;
/// The monotonic clock.
pub(crate) const CLOCK_MONOTONIC: i32 = 1;
/// The last clock id (2 and 3 are the process and thread CPU-time clocks: never granted).
pub(crate) const CLOCK_THREAD_CPUTIME: i32 = 3;

const fn f(
    name: &'static str,
    params: &'static [Num],
    results: &'static [Num],
    behaviour: Behaviour,
) -> WasiFunction {
    WasiFunction {
        name,
        params,
        results,
        behaviour,
    }
}

use Behaviour::{ClockResolution, ClockTime, Fails, NoOp, Random, WasmtimeWasi};

const DENIED: Behaviour = Fails(Errno::NOTCAPABLE);
const R: &[Num] = &[I32];

/// All 46 functions of `wasi_snapshot_preview1`, in the order of the witx specification.
pub(crate) const FUNCTIONS: &[WasiFunction] = &[
    f("args_get", &[I32, I32], R, WasmtimeWasi),
    f("args_sizes_get", &[I32, I32], R, WasmtimeWasi),
    f("environ_get", &[I32, I32], R, WasmtimeWasi),
    f("environ_sizes_get", &[I32, I32], R, WasmtimeWasi),
    f("clock_res_get", &[I32, I32], R, ClockResolution),
    f("clock_time_get", &[I32, I64, I32], R, ClockTime),
    f("fd_advise", &[I32, I64, I64, I32], R, DENIED),
    f("fd_allocate", &[I32, I64, I64], R, DENIED),
    f("fd_close", &[I32], R, WasmtimeWasi),
    f("fd_datasync", &[I32], R, DENIED),
    f("fd_fdstat_get", &[I32, I32], R, WasmtimeWasi),
    f("fd_fdstat_set_flags", &[I32, I32], R, DENIED),
    f("fd_fdstat_set_rights", &[I32, I64, I64], R, DENIED),
    f("fd_filestat_get", &[I32, I32], R, DENIED),
    f("fd_filestat_set_size", &[I32, I64], R, DENIED),
    f("fd_filestat_set_times", &[I32, I64, I64, I32], R, DENIED),
    f("fd_pread", &[I32, I32, I32, I64, I32], R, DENIED),
    f("fd_prestat_get", &[I32, I32], R, Fails(Errno::BADF)),
    f(
        "fd_prestat_dir_name",
        &[I32, I32, I32],
        R,
        Fails(Errno::BADF),
    ),
    f("fd_pwrite", &[I32, I32, I32, I64, I32], R, DENIED),
    f("fd_read", &[I32, I32, I32, I32], R, WasmtimeWasi),
    f("fd_readdir", &[I32, I32, I32, I64, I32], R, DENIED),
    f("fd_renumber", &[I32, I32], R, DENIED),
    f("fd_seek", &[I32, I64, I32, I32], R, DENIED),
    f("fd_sync", &[I32], R, DENIED),
    f("fd_tell", &[I32, I32], R, DENIED),
    f("fd_write", &[I32, I32, I32, I32], R, WasmtimeWasi),
    f("path_create_directory", &[I32, I32, I32], R, DENIED),
    f("path_filestat_get", &[I32, I32, I32, I32, I32], R, DENIED),
    f(
        "path_filestat_set_times",
        &[I32, I32, I32, I32, I64, I64, I32],
        R,
        DENIED,
    ),
    f("path_link", &[I32, I32, I32, I32, I32, I32, I32], R, DENIED),
    f(
        "path_open",
        &[I32, I32, I32, I32, I32, I64, I64, I32, I32],
        R,
        DENIED,
    ),
    f("path_readlink", &[I32, I32, I32, I32, I32, I32], R, DENIED),
    f("path_remove_directory", &[I32, I32, I32], R, DENIED),
    f("path_rename", &[I32, I32, I32, I32, I32, I32], R, DENIED),
    f("path_symlink", &[I32, I32, I32, I32, I32], R, DENIED),
    f("path_unlink_file", &[I32, I32, I32], R, DENIED),
    f("poll_oneoff", &[I32, I32, I32, I32], R, DENIED),
    f("proc_exit", &[I32], &[], WasmtimeWasi),
    f("proc_raise", &[I32], R, DENIED),
    f("sched_yield", &[], R, NoOp),
    f("random_get", &[I32, I32], R, Random),
    f("sock_accept", &[I32, I32, I32], R, DENIED),
    f("sock_recv", &[I32, I32, I32, I32, I32, I32], R, DENIED),
    f("sock_send", &[I32, I32, I32, I32, I32], R, DENIED),
    f("sock_shutdown", &[I32, I32], R, DENIED),
];

/// The function called `name`.
pub(crate) fn find(name: &str) -> Option<&'static WasiFunction> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

pub(crate) fn val_type(n: Num) -> ValType {
    match n {
        I32 => ValType::I32,
        I64 => ValType::I64,
    }
}

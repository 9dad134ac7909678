//! Raw WASI preview 1 calls, bypassing Rust std and wasi-libc (which refuse some of these before
//! they reach the runtime), so that the runtime's own answers are tested. Each wrapper returns a
//! line for the report: `errno N`, or `ok …` when the call succeeded.

#![allow(
    unsafe_code,
    reason = "calling the raw WASI imports is the point of this module"
)]

pub const CLOCK_REALTIME: i32 = 0;
pub const CLOCK_MONOTONIC: i32 = 1;
pub const CLOCK_PROCESS_CPUTIME: i32 = 2;

const O_CREAT: i32 = 1;
const ALL_RIGHTS: i64 = 0x1FFF_FFFF;

#[repr(C)]
struct Ciovec {
    buf: *const u8,
    len: usize,
}

#[repr(C)]
struct Iovec {
    buf: *mut u8,
    len: usize,
}

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn path_open(
        fd: i32,
        dirflags: i32,
        path: *const u8,
        path_len: usize,
        oflags: i32,
        fs_rights_base: i64,
        fs_rights_inheriting: i64,
        fdflags: i32,
        opened: *mut i32,
    ) -> i32;
    fn path_filestat_get(
        fd: i32,
        flags: i32,
        path: *const u8,
        path_len: usize,
        buf: *mut u8,
    ) -> i32;
    fn path_create_directory(fd: i32, path: *const u8, path_len: usize) -> i32;
    fn path_unlink_file(fd: i32, path: *const u8, path_len: usize) -> i32;
    fn sock_accept(fd: i32, flags: i32, opened: *mut i32) -> i32;
    fn sock_recv(
        fd: i32,
        ri_data: *const Iovec,
        ri_data_len: usize,
        ri_flags: i32,
        ro_datalen: *mut usize,
        ro_flags: *mut i32,
    ) -> i32;
    fn sock_send(
        fd: i32,
        si_data: *const Ciovec,
        si_data_len: usize,
        si_flags: i32,
        so_datalen: *mut usize,
    ) -> i32;
    fn sock_shutdown(fd: i32, how: i32) -> i32;
    fn clock_time_get(id: i32, precision: i64, time: *mut u64) -> i32;
    fn clock_res_get(id: i32, resolution: *mut u64) -> i32;
    fn random_get(buf: *mut u8, len: usize) -> i32;
    fn fd_prestat_get(fd: i32, buf: *mut u8) -> i32;
    fn fd_write(fd: i32, iovs: *const Ciovec, iovs_len: usize, written: *mut usize) -> i32;
    fn fd_read(fd: i32, iovs: *const Iovec, iovs_len: usize, read: *mut usize) -> i32;
    fn fd_seek(fd: i32, offset: i64, whence: i32, new_offset: *mut u64) -> i32;
    fn fd_filestat_get(fd: i32, buf: *mut u8) -> i32;
    fn fd_fdstat_set_flags(fd: i32, flags: i32) -> i32;
    fn poll_oneoff(subs: *const u8, events: *mut u8, nsubs: usize, nevents: *mut usize) -> i32;
    fn proc_raise(signal: i32) -> i32;
    fn sched_yield() -> i32;
}

fn errno(code: i32) -> String {
    format!("errno {code}")
}

// SAFETY (every `unsafe` block below): the import takes pointers into this module's own memory;
// each points at a live local of the size the function writes, or at a string and its length.

pub fn open(dir: i32, path: &str, create: bool) -> String {
    let mut fd = -1;
    let oflags = if create { O_CREAT } else { 0 };
    let code = unsafe {
        path_open(
            dir,
            0,
            path.as_ptr(),
            path.len(),
            oflags,
            ALL_RIGHTS,
            ALL_RIGHTS,
            0,
            &mut fd,
        )
    };
    if code == 0 {
        format!("ok fd {fd}")
    } else {
        errno(code)
    }
}

pub fn stat(dir: i32, path: &str) -> String {
    let mut buf = [0u8; 64];
    errno(unsafe { path_filestat_get(dir, 0, path.as_ptr(), path.len(), buf.as_mut_ptr()) })
}

pub fn mkdir(dir: i32, path: &str) -> String {
    errno(unsafe { path_create_directory(dir, path.as_ptr(), path.len()) })
}

pub fn unlink(dir: i32, path: &str) -> String {
    errno(unsafe { path_unlink_file(dir, path.as_ptr(), path.len()) })
}

pub fn accept(fd: i32) -> String {
    let mut opened = -1;
    errno(unsafe { sock_accept(fd, 0, &mut opened) })
}

pub fn recv(fd: i32) -> String {
    let mut buf = [0u8; 16];
    let iov = Iovec {
        buf: buf.as_mut_ptr(),
        len: buf.len(),
    };
    let (mut len, mut flags) = (0usize, 0i32);
    errno(unsafe { sock_recv(fd, &iov, 1, 0, &mut len, &mut flags) })
}

pub fn send(fd: i32) -> String {
    let data = b"leak";
    let iov = Ciovec {
        buf: data.as_ptr(),
        len: data.len(),
    };
    let mut len = 0usize;
    errno(unsafe { sock_send(fd, &iov, 1, 0, &mut len) })
}

pub fn shutdown(fd: i32) -> String {
    errno(unsafe { sock_shutdown(fd, 3) })
}

pub fn clock(id: i32) -> String {
    let mut time = 0u64;
    match unsafe { clock_time_get(id, 1, &mut time) } {
        0 if time > 0 || id == CLOCK_MONOTONIC => "ok".into(),
        0 => "ok but zero".into(),
        code => errno(code),
    }
}

pub fn clock_res(id: i32) -> String {
    let mut resolution = 0u64;
    match unsafe { clock_res_get(id, &mut resolution) } {
        0 => format!("ok {resolution}"),
        code => errno(code),
    }
}

pub fn random() -> String {
    let mut buf = [0u8; 32];
    match unsafe { random_get(buf.as_mut_ptr(), buf.len()) } {
        0 if buf.iter().any(|&b| b != 0) => "ok".into(),
        0 => "ok but zeros".into(),
        code => errno(code),
    }
}

pub fn prestat(fd: i32) -> String {
    let mut buf = [0u8; 8];
    errno(unsafe { fd_prestat_get(fd, buf.as_mut_ptr()) })
}

pub fn write(fd: i32, data: &[u8]) -> String {
    let iov = Ciovec {
        buf: data.as_ptr(),
        len: data.len(),
    };
    let mut written = 0usize;
    errno(unsafe { fd_write(fd, &iov, 1, &mut written) })
}

pub fn read(fd: i32) -> String {
    let mut buf = [0u8; 16];
    let iov = Iovec {
        buf: buf.as_mut_ptr(),
        len: buf.len(),
    };
    let mut read = 0usize;
    errno(unsafe { fd_read(fd, &iov, 1, &mut read) })
}

pub fn seek(fd: i32) -> String {
    let mut offset = 0u64;
    errno(unsafe { fd_seek(fd, 0, 0, &mut offset) })
}

pub fn filestat(fd: i32) -> String {
    let mut buf = [0u8; 64];
    errno(unsafe { fd_filestat_get(fd, buf.as_mut_ptr()) })
}

pub fn set_flags(fd: i32) -> String {
    errno(unsafe { fd_fdstat_set_flags(fd, 4) })
}

/// A `subscription` with a relative clock event (48 bytes).
#[repr(C)]
struct ClockSubscription {
    userdata: u64,
    tag: u8,
    clock_id: u32,
    timeout: u64,
    precision: u64,
    flags: u16,
}

/// One relative subscription to the monotonic clock, 1 ms.
pub fn poll() -> String {
    let sub = ClockSubscription {
        userdata: 7,
        tag: 0,
        clock_id: CLOCK_MONOTONIC as u32,
        timeout: 1_000_000,
        precision: 0,
        flags: 0,
    };
    let mut event = [0u8; 32];
    let mut count = 0usize;
    let subs = (&raw const sub).cast::<u8>();
    errno(unsafe { poll_oneoff(subs, event.as_mut_ptr(), 1, &mut count) })
}

pub fn raise() -> String {
    errno(unsafe { proc_raise(9) })
}

pub fn yield_now() -> String {
    errno(unsafe { sched_yield() })
}

//! Imports a WASI function: ambient capabilities an enclave never gets. Loading must fail.

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn fd_write(fd: i32, iovs: *const u8, iovs_len: i32, written: *mut i32) -> i32;
}

fn main() {
    let mut written = 0;
    // SAFETY: never runs; the loader refuses the module. The arguments are valid anyway.
    unsafe { fd_write(1, core::ptr::null(), 0, &mut written) };
    enclave_guest::write_output(b"unreachable");
}

enclave_guest::entry!(main);

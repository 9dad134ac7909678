//! A hostile guest for the host's tests: the input names one attack. Every attack must end this
//! run with a clear error and leave the host serving the next one.

use core::hint::black_box;
use enclave_guest::sys;

/// An address near the top of the 32-bit space: far beyond any memory this guest has.
const FAR: usize = 0xFFFF_FFF0;

fn main() -> Result<(), String> {
    let input = enclave_guest::read_all();
    let attack = core::str::from_utf8(&input)
        .map_err(|e| e.to_string())?
        .trim();
    match attack {
        // Burns fuel (or wall-clock time) forever.
        "loop" => {
            let mut i = 0u64;
            loop {
                i = black_box(i.wrapping_add(1));
            }
        }
        // Grows memory until the limit stops it.
        "memory" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(black_box(vec![0xA5; 1 << 20]));
            }
        }
        // Recurses until the wasm stack overflows.
        "recurse" => {
            black_box(recurse(black_box(1)));
            Ok(())
        }
        "trap" => core::arch::wasm32::unreachable(),
        "panic" => panic!("hostile panic"),
        "abort" => enclave_guest::abort("hostile abort"),
        // Writes without end, past the output limit.
        "huge-output" => {
            let block = [b'x'; 64 * 1024];
            loop {
                enclave_guest::write_output(&block);
            }
        }
        // Buffers the host must refuse to touch.
        "oob-read" => {
            // SAFETY: deliberately invalid; the host checks the range and ends the run.
            unsafe { sys::read_input(FAR as *mut u8, 64) };
            Err("host read into an out-of-bounds buffer".into())
        }
        "oob-write" => {
            // SAFETY: deliberately invalid; the host checks the range and ends the run.
            unsafe { sys::write_output(FAR as *const u8, 64) };
            Err("host wrote from an out-of-bounds buffer".into())
        }
        "overflow-len" => {
            // SAFETY: deliberately invalid: ptr + len overflows 32 bits.
            unsafe { sys::write_output(16 as *const u8, u32::MAX as usize) };
            Err("host accepted an overflowing length".into())
        }
        other => Err(format!("hostile: unknown attack {other:?}")),
    }
}

/// Recursion on scalars only, so every frame lives on the wasm stack (the engine's guarded one),
/// not on the Rust shadow stack in linear memory; non-tail, so it cannot become a loop.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    recurse(depth + 1).rotate_left(3) ^ depth
}

enclave_guest::entry!(main);

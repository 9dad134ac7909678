//! A `#![no_std]` guest without an allocator: 32 random bytes from the host, as 64 hex digits.
#![no_std]

fn main() -> Result<(), enclave_guest::Error> {
    let mut bytes = [0u8; 32];
    enclave_guest::random(&mut bytes)?;
    let mut hex = [0u8; 64];
    let digit = |n: u8| if n < 10 { b'0' + n } else { b'a' + n - 10 };
    for (pair, byte) in hex.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&[digit(byte >> 4), digit(byte & 15)]);
    }
    enclave_guest::write_output(&hex);
    Ok(())
}

enclave_guest::entry!(main);

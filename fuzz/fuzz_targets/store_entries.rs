//! `enclave_platform::store::decode_entries`, the plaintext of sealed store state: whatever decodes is
//! within the caps and re-encodes to exactly the same bytes (the encoding is canonical).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(entries) = enclave_platform::store::decode_entries(data) else {
        return;
    };
    for (key, value) in &entries {
        assert!(key.len() <= enclave_platform::store::MAX_KEY);
        assert!(value.len() <= enclave_platform::store::MAX_VALUE);
    }
    assert_eq!(enclave_platform::store::encode_entries(&entries).as_slice(), data);
});

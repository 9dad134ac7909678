//! `sealer::ClientContext::from_bytes`: whatever decodes re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealer::ClientContext;

fuzz_target!(|data: &[u8]| {
    if let Ok(context) = ClientContext::from_bytes(data) {
        assert_eq!(
            context.to_bytes().as_slice(),
            data,
            "decoding is not canonical"
        );
    }
});

//! `sealer::open_output` with the fixed client context `fixtures/request.ctx`.
//!
//! Seeds are real sealed outputs answering `fixtures/request.sealed`, so mutations reach every
//! STREAM chunk check under the right key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealer::ClientContext;

fuzz_target!(|data: &[u8]| {
    let context = ClientContext::from_bytes(&enclave_fuzz::fixtures().client_context)
        .expect("fixtures/request.ctx decodes");
    let mut plaintext = Vec::new();
    if let Ok(opened) = sealer::open_output(&context, data, &mut plaintext) {
        assert_eq!(opened.plaintext_len, plaintext.len() as u64);
        assert!(plaintext.len() <= data.len());
    }
});

//! A sealed input as the runtime reads it: `SealedInputHeader::read`, `check_binding` against a
//! fixed enclave identity, `open` with the key pair derived for the header's policy from the
//! fixed platform secret, then the whole `OpenReader` and `finish`.
//!
//! Seeds are real sealed inputs to that key pair, so mutations reach the HPKE open and every
//! STREAM chunk check (length, tag, final flag, truncation, trailing data).
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use sealer::{EnclaveKeyPair, OpenError, SealedInputHeader};

fuzz_target!(|data: &[u8]| {
    let mut reader = data;
    let Ok(header) = SealedInputHeader::read(&mut reader) else {
        return;
    };
    let fixtures = enclave_fuzz::fixtures();
    let identity = enclave_fuzz::identity(fixtures.author.public_key().signer_id());
    let _ = header.check_binding(&identity, &fixtures.attestation.platform_id());
    let declared = header.plaintext_len();
    let secret = enclave_fuzz::platform_secret();
    let keypair = EnclaveKeyPair::derive(&secret, header.policy(), header.debug());
    let Ok((mut open, _response)) = header.open(&keypair, reader) else {
        return;
    };
    // Bounded reads: a header may declare any length, the data is what the fuzzer gave.
    let mut plaintext = Vec::new();
    let read = (&mut open)
        .take(data.len() as u64 + 1)
        .read_to_end(&mut plaintext);
    match read {
        Ok(_) => {
            // The reader only ends after the final chunk authenticated and nothing followed it.
            assert_eq!(
                plaintext.len() as u64,
                declared,
                "ended before the declared length"
            );
            open.finish().expect("a fully read input finishes");
        }
        Err(e) => {
            let is_open_error = e
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<OpenError>().is_some());
            assert!(is_open_error, "unexpected error kind: {e:?}");
        }
    }
});

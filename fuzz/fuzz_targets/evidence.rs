//! `attest::verify::verify` with a fixed policy and clock (src/lib.rs).
//!
//! Mode byte even: the rest is evidence as received (seeds: real evidence signed by the fixture
//! platform key). Odd: the rest is a claims map, signed here with the fixture attestation key, so
//! the fuzzer reaches the strict claims decoder and every policy check.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        enclave_fuzz::sign_token(rest)
    };
    let policy = enclave_fuzz::evidence_policy();
    let Ok(evidence) = attest::verify(&bytes, &policy, enclave_fuzz::now()) else {
        return;
    };
    // What verification promises about evidence it accepts.
    let claims = evidence.claims();
    assert_eq!(claims.nonce, enclave_fuzz::NONCE);
    assert_eq!(claims.validate(), Ok(()));
    let fixtures = enclave_fuzz::fixtures();
    assert_eq!(evidence.platform_id(), fixtures.attestation.platform_id());
    assert_eq!(evidence.platform_tcb(), enclave_fuzz::TCB);
    assert_eq!(evidence.signer(), fixtures.author.public_key().signer_id());
    // The claims re-encode to a map that decodes to the same claims.
    let again = enclave_fuzz::sign_token(&claims.to_payload().expect("valid claims encode"));
    let reparsed = attest::verify(&again, &policy, enclave_fuzz::now()).expect("re-encoded");
    assert_eq!(reparsed.claims(), claims);
});

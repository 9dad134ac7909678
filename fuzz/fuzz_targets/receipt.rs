//! `attest::verify_receipt` with the fixture root and a fixed clock.
//!
//! Mode byte even: the rest is a receipt as received. Odd: the rest is a claims map, signed
//! here with the fixture attestation key, so the fuzzer reaches the strict claims decoder.
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
    let fixtures = enclave_fuzz::fixtures();
    let roots = [fixtures.root_der.clone()];
    let Ok(receipt) = attest::verify_receipt(&bytes, &roots, enclave_fuzz::now()) else {
        return;
    };
    assert_eq!(receipt.platform_tcb(), enclave_fuzz::TCB);
    assert_eq!(
        receipt.claims().platform_id,
        fixtures.attestation.platform_id()
    );
    let request = receipt.claims().request_nonce.clone();
    assert!(receipt.check_request_nonce(&request).is_ok());
    // Re-signed with the platform key, the claims verify to the same claims.
    let again = fixtures
        .attestation
        .sign_receipt(receipt.claims())
        .expect("verified claims can be signed again");
    let reparsed = attest::verify_receipt(&again, &roots, enclave_fuzz::now()).expect("re-signed");
    assert_eq!(reparsed.claims(), receipt.claims());
});

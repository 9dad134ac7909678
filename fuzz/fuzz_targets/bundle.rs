//! `attest::bundle::verify` on arbitrary bytes.
//!
//! Mode byte (first byte) even: the rest is a bundle as received. Odd: the rest is a bundle's
//! *manifest* bytes, put in an envelope signed here with the fixture author key, so the fuzzer
//! gets past the signature and the module digest into the strict CBOR decoder, the manifest
//! checks and the measurement.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        enclave_fuzz::sign_bundle_manifest(rest)
    };
    let Ok(bundle) = attest::bundle::verify(&bytes) else {
        return;
    };
    // What verification promises about a bundle it accepts.
    let manifest = bundle.manifest();
    assert_eq!(manifest.validate(), Ok(()), "accepted an invalid manifest");
    assert_eq!(
        bundle.measurement(),
        manifest.measure(&bundle.module_digest()),
        "measurement not recomputed from the module"
    );
    assert_eq!(bundle.signer_id(), bundle.signer().signer_id());
    // Every manifest a bundle can carry can be written as TOML and read back.
    let again = attest::Manifest::from_toml(&manifest.to_toml()).expect("to_toml round trips");
    assert_eq!(&again, manifest);
    if mode & 1 == 1 {
        let author = enclave_fuzz::fixtures().author.public_key().signer_id();
        assert!(bundle.require_signer(&[author]).is_ok());
    }
});

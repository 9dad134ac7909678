//! A real bundle survives no alteration: sampled bit flips across the whole file, truncations
//! and appended bytes are all refused, each with the bundle error.

use attest::BundleError;
use enclave_runtime::{Enclave, LoadError};
use enclave_tests::guests::WORDCOUNT;

#[test]
fn sampled_byte_flips_of_a_real_bundle_are_all_refused() {
    let bytes = crate::sign(WORDCOUNT, "");
    let mut refused = 0;
    // Every header byte, then a stride through the module, then every trailing byte.
    let positions = (0..256)
        .chain((256..bytes.len()).step_by(61))
        .chain(bytes.len() - 80..bytes.len());
    for i in positions {
        for bit in [0x01u8, 0x10, 0x80] {
            let mut evil = bytes.clone();
            evil[i] ^= bit;
            match Enclave::load(&evil, enclave_runtime::Signers::Any) {
                Err(LoadError::Bundle(_)) => refused += 1,
                other => panic!("flip {bit:#x} at {i} of {}: {other:?}", bytes.len()),
            }
        }
    }
    assert!(refused > 1000, "only {refused} flips tried");
    println!("bundle: {refused} sampled bit flips, all refused");
}

#[test]
fn truncated_and_extended_bundles_are_refused() {
    let bytes = crate::sign(WORDCOUNT, "");
    for len in (0..bytes.len()).step_by(97) {
        assert!(matches!(
            Enclave::load(&bytes[..len], enclave_runtime::Signers::Any),
            Err(LoadError::Bundle(BundleError::NotABundle(_)))
        ));
    }
    let mut long = bytes.clone();
    long.extend_from_slice(b"garbage");
    assert!(matches!(
        Enclave::load(&long, enclave_runtime::Signers::Any),
        Err(LoadError::Bundle(BundleError::NotABundle(
            attest::cbor::CborError::TrailingBytes { count: 7, .. }
        )))
    ));
}

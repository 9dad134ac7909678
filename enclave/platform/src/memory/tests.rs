//! The memory platform against the verifier: its evidence verifies with `attest` against its
//! root, its sealed blobs open for the same enclave only, its store keeps and caps entries.

use std::sync::Arc;
use std::time::SystemTime;

use attest::{bundle, AuthorKey, Manifest, VerifierPolicy};
use enclave_runtime::{Enclave, SealPolicy, ServiceRefused, Signers};

use super::*;

fn enclave(svn: u16) -> Enclave {
    let wat = r#"(module
        (import "enclave_v1" "write_output" (func (param i32 i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "enclave_main")))"#;
    let manifest = format!("product_id = 7\nsvn = {svn}\ndebug = false\n");
    let manifest = Manifest::from_toml(&manifest).unwrap();
    let key = AuthorKey::generate().unwrap();
    let bytes = bundle::sign(&key, &manifest, &wat::parse_str(wat).unwrap()).unwrap();
    Enclave::load(&bytes, Signers::Any).unwrap()
}

fn platform() -> Arc<MemoryPlatform> {
    Arc::new(MemoryPlatform::generate("test", 3, SystemTime::now()).unwrap())
}

#[test]
fn evidence_verifies_against_the_platforms_root() {
    let platform = platform();
    let enclave = enclave(1);
    let nonce = b"a fresh nonce".to_vec();
    let policy = VerifierPolicy::from_pem_roots(platform.root_pem())
        .unwrap()
        .measurement(enclave.measurement())
        .nonce(nonce.clone());
    let evidence = platform
        .attest(&enclave, &nonce, b"data", SystemTime::now())
        .unwrap();
    let verified = attest::verify(&evidence, &policy, SystemTime::now()).unwrap();
    assert_eq!(verified.measurement(), enclave.measurement());
    assert_eq!(verified.report_data(), b"data");
    // A guest's report goes through the same key.
    let issued = platform.services(&enclave).issue(&nonce, b"guest").unwrap();
    let verified = attest::verify(&issued, &policy, SystemTime::now()).unwrap();
    assert_eq!(verified.report_data(), b"guest");
    // Another memory platform's root does not vouch for it.
    let other = VerifierPolicy::from_pem_roots(self::platform().root_pem())
        .unwrap()
        .nonce(nonce);
    assert!(attest::verify(&evidence, &other, SystemTime::now()).is_err());
}

#[test]
fn sealed_blobs_open_for_the_same_enclave_only() {
    let platform = platform();
    let (one, two) = (enclave(1), enclave(2));
    let services = platform.services(&one);
    let blob = services
        .seal(SealPolicy::Measurement, b"aad", b"secret")
        .unwrap();
    let opened = services.unseal(&blob).unwrap();
    assert_eq!(opened.plaintext.as_slice(), b"secret");
    assert!(matches!(
        platform.services(&two).unseal(&blob),
        Err(ServiceRefused::Policy | ServiceRefused::Failed)
    ));
    assert_eq!(services.tcb_level().unwrap(), 3);
}

#[test]
fn the_store_keeps_entries_within_its_cap() {
    let platform = platform();
    let services = platform.services(&enclave(1));
    let _run = services.begin_run().unwrap();
    assert!(services.store_get(b"k").unwrap().is_none());
    services.store_put(b"k", b"v1").unwrap();
    services.store_put(b"k", b"v2").unwrap();
    assert_eq!(services.store_get(b"k").unwrap().unwrap().as_slice(), b"v2");
    assert!(services.store_delete(b"k").unwrap());
    assert!(!services.store_delete(b"k").unwrap());
    let big = vec![0u8; 64 << 10];
    let mut stored = 0usize;
    let refused = loop {
        match services.store_put(&stored.to_le_bytes(), &big) {
            Ok(()) => stored += 1,
            Err(refused) => break refused,
        }
    };
    assert!(matches!(refused, ServiceRefused::TooLarge));
    assert_eq!(stored, MAX_MEMORY_STORE_BYTES / (big.len() + 8));
}

#[test]
fn a_plaintext_run_gets_a_receipt_that_verifies() {
    use sha2::{Digest, Sha256};
    let platform = platform();
    let wat = r#"(module
        (import "enclave_v1" "read_input" (func $read (param i32 i32) (result i32)))
        (import "enclave_v1" "write_output" (func $write (param i32 i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "enclave_main") (local $n i32)
            (local.set $n (call $read (i32.const 0) (i32.const 1024)))
            (drop (call $write (i32.const 0) (local.get $n))))
        (func (export "trap") unreachable))"#;
    let manifest = Manifest::from_toml("product_id = 7\nsvn = 1\ndebug = false\n").unwrap();
    let key = AuthorKey::generate().unwrap();
    let bytes = bundle::sign(&key, &manifest, &wat::parse_str(wat).unwrap()).unwrap();
    let enclave = Enclave::load(&bytes, Signers::Any).unwrap();
    let roots = vec![pem::parse(platform.root_pem()).unwrap().into_contents()];
    let options = enclave_runtime::RunOptions::new();
    let run = enclave
        .run_with_receipt(b"input", b"host nonce", platform.as_ref(), None, &options)
        .unwrap();
    assert_eq!(run.result.unwrap().output, b"input");
    let receipt = attest::verify_receipt(&run.receipt, &roots, SystemTime::now()).unwrap();
    let claims = receipt.claims();
    assert_eq!(claims.measurement, enclave.measurement());
    assert_eq!(
        claims.input_digest,
        <[u8; 32]>::from(Sha256::digest(b"input"))
    );
    assert_eq!(
        claims.output_digest,
        <[u8; 32]>::from(Sha256::digest(b"input"))
    );
    assert_eq!(claims.request_nonce, b"host nonce");
    assert_eq!(claims.outcome, attest::Outcome::Success);
    // A failed run is receipted too, with its reason and no output.
    let options = options.export("trap");
    let run = enclave
        .run_with_receipt(b"input", b"", platform.as_ref(), None, &options)
        .unwrap();
    assert!(run.result.is_err());
    let receipt = attest::verify_receipt(&run.receipt, &roots, SystemTime::now()).unwrap();
    assert_eq!(receipt.claims().output_digest, [0; 32]);
    assert!(matches!(
        &receipt.claims().outcome,
        attest::Outcome::Failed { message } if message.contains("unreachable")
    ));
    let error = enclave
        .run_with_receipt(b"", &[0; 65], platform.as_ref(), None, &options)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the receipt nonce is 65 bytes, more than 64"
    );
}

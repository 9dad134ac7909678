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

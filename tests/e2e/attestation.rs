//! Attestation from inside the enclave: a guest asks for evidence over its own report data (the
//! EREPORT analog), and a relying party verifies it with the `attest` library alone.

use std::sync::Arc;
use std::time::SystemTime;

use attest::{VerifierPolicy, VerifyError};
use enclave_platform::{InitOptions, Platform, PlatformReporter};
use enclave_runtime::{Enclave, Input, RunError};
use enclave_tests::guests::ATTESTER;

use crate::load;

const NONCE: &[u8] = b"verifier nonce 0123456789";

fn platform(dir: &tempfile::TempDir) -> Arc<Platform> {
    let options = InitOptions {
        name: "e2e".into(),
        tcb: 2,
        vendor: None,
    };
    Arc::new(Platform::init(&dir.path().join("platform"), options, SystemTime::now()).unwrap())
}

fn attester() -> Enclave {
    load(ATTESTER, "capabilities = [\"report\"]\n")
}

fn run_with(
    enclave: &Enclave,
    platform: Option<&Arc<Platform>>,
    nonce: &[u8],
) -> Result<Vec<u8>, RunError> {
    let reporter = platform.map(|p| {
        Arc::new(PlatformReporter::new(p.clone(), enclave, SystemTime::now))
            as Arc<dyn enclave_runtime::ReportIssuer>
    });
    Ok(enclave
        .run(Input::from_bytes(nonce.to_vec()), Vec::new(), reporter)?
        .output)
}

#[test]
fn a_guest_attests_itself_and_a_relying_party_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let platform = platform(&dir);
    let enclave = attester();
    let evidence = run_with(&enclave, Some(&platform), NONCE).unwrap();

    let root = platform.attestation().chain().last().unwrap().clone();
    let policy = VerifierPolicy::new(vec![root.clone()])
        .measurement(enclave.measurement())
        .nonce(NONCE.to_vec())
        .min_platform_tcb(2);
    let verified = attest::verify(&evidence, &policy, SystemTime::now()).unwrap();
    assert_eq!(verified.report_data(), b"attester guest: hello, verifier");
    assert_eq!(verified.measurement(), enclave.measurement());
    assert_eq!(verified.signer(), enclave.bundle().signer_id());
    assert_eq!(verified.platform_id(), platform.platform_id());
    assert_eq!(verified.capabilities(), ["report"]);

    // Another verifier's nonce does not match: evidence cannot be replayed to it.
    let other = VerifierPolicy::new(vec![root])
        .measurement(enclave.measurement())
        .nonce(b"another verifier's nonce".to_vec());
    assert!(matches!(
        attest::verify(&evidence, &other, SystemTime::now()),
        Err(VerifyError::NonceMismatch { .. })
    ));
}

#[test]
fn report_requests_the_host_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let platform = platform(&dir);
    let enclave = attester();
    // Nonces must be 8 to 64 bytes: the guest sees ERR_TOO_LARGE and reports it.
    let err = run_with(&enclave, Some(&platform), b"short").unwrap_err();
    assert_eq!(
        err.to_requester_string(),
        "guest aborted: report: argument too large"
    );
    let err = run_with(&enclave, Some(&platform), &[7; 65]).unwrap_err();
    assert_eq!(
        err.to_requester_string(),
        "guest aborted: report: argument too large"
    );
    // No platform to report from: ERR_FAILED.
    let err = run_with(&enclave, None, NONCE).unwrap_err();
    assert_eq!(
        err.to_requester_string(),
        "guest aborted: report: operation failed"
    );
}

#[test]
fn report_needs_its_capability() {
    let err = Enclave::load(&crate::sign(ATTESTER, ""), enclave_runtime::Signers::Any).unwrap_err();
    assert_eq!(
        err.to_string(),
        "module imports outside the granted ABI: enclave_v1.report: capability `report` is not \
         granted by the manifest"
    );
}

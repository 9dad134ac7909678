//! Writes a vendor root and a fresh attestation report into a directory, for checks from
//! outside the project (`tests/interop/evidence.py`), without the CLI.
//!
//! Usage: `cargo run -p attest --features platform --example make_evidence -- DIR`
//!
//! Files: `root.pem` (vendor root certificate), `root.key` (its PKCS#8 key), `platform.key` and
//! `platform-chain.pem` (the attestation key and its chain), `report.cbor` (evidence), and
//! `expected.json` (the claims the report carries, for the checker to compare).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use attest::{
    Claims, EnclaveKeys, EnclavePublicKey, Measurement, ModuleDigest, ProductId, SignerId, Svn,
    VendorCa, VerifierPolicy,
};

fn main() -> anyhow::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .context("usage: make_evidence DIR")?;
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir)?;
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let ca = VendorCa::generate("Enclave Simulated Vendor Root", now - day, now + 365 * day)?;
    let key = ca.issue("interop-platform", 3, now - day, now + 30 * day)?;
    let nonce: Vec<u8> = (0u8..32).collect();
    let claims = Claims {
        nonce: nonce.clone(),
        issued_at: now.duration_since(UNIX_EPOCH)?.as_secs(),
        debug: false,
        platform_id: key.platform_id(),
        platform_tcb: key.tcb(),
        measurement: Measurement::from_bytes([0x11; 32]),
        signer: SignerId::from_bytes([0x22; 32]),
        module: ModuleDigest::of(b"\0asm\x01\0\0\0"),
        product_id: ProductId(7),
        svn: Svn(2),
        capabilities: vec!["log".into(), "random".into()],
        report_data: b"interop".to_vec(),
        enclave_keys: Some(EnclaveKeys {
            measurement: EnclavePublicKey::from_bytes([0x33; 32]),
            signer: EnclavePublicKey::from_bytes([0x44; 32]),
        }),
        tls_key: None,
    };
    let report = key.sign_evidence(&claims)?;
    // Our own verifier must accept what we hand to the independent one.
    let policy = VerifierPolicy::new(vec![ca.cert_der().to_vec()])
        .measurement(claims.measurement)
        .nonce(nonce.clone());
    attest::verify(&report, &policy, now)?;

    std::fs::write(dir.join("root.pem"), ca.cert_pem())?;
    std::fs::write(dir.join("root.key"), ca.key_pem().as_bytes())?;
    std::fs::write(dir.join("platform.key"), key.key_pem().as_bytes())?;
    std::fs::write(dir.join("platform-chain.pem"), key.chain_pem())?;
    std::fs::write(dir.join("report.cbor"), &report)?;
    let expected = serde_json::json!({
        "nonce": hex::encode(&nonce),
        "measurement": claims.measurement.to_string(),
        "signer": claims.signer.to_string(),
        "module": claims.module.to_string(),
        "platform_id": claims.platform_id.to_string(),
        "platform_tcb": claims.platform_tcb,
        "product_id": claims.product_id.0,
        "svn": claims.svn.0,
        "capabilities": claims.capabilities,
        "report_data": hex::encode(&claims.report_data),
        "issued_at": claims.issued_at,
    });
    std::fs::write(dir.join("expected.json"), expected.to_string())?;
    Ok(())
}

//! Throughput of the relying party's verifier: one full `verify` (size cap, COSE parse, chain
//! validation to the pinned root, TCB extension, ES256 signature, strict claims, policy) per
//! iteration, on one core. Criterion's "thrpt" line is reports verified per second.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark setup: a panic is a failed run"
)]

use std::time::{Duration, SystemTime};

use attest::{
    verify, verify_receipt, Claims, Measurement, ModuleDigest, Outcome, ProductId, ReceiptClaims,
    SignerId, Svn, VendorCa, VerifierPolicy,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let ca = VendorCa::generate("Bench Root", now - day, now + day).unwrap();
    let key = ca.issue("bench-platform", 1, now - day, now + day).unwrap();
    let nonce = vec![0x42; 32];
    let claims = Claims {
        nonce: nonce.clone(),
        issued_at: now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        debug: false,
        platform_id: key.platform_id(),
        platform_tcb: key.tcb(),
        measurement: Measurement::from_bytes([1; 32]),
        signer: SignerId::from_bytes([2; 32]),
        module: ModuleDigest::from_bytes([3; 32]),
        product_id: ProductId(1),
        svn: Svn(1),
        capabilities: vec!["random".into()],
        report_data: vec![0; 64],
        enclave_keys: None,
        tls_key: None,
    };
    let report = key.sign_evidence(&claims).unwrap();
    let policy = VerifierPolicy::new(vec![ca.cert_der().to_vec()])
        .measurement(claims.measurement)
        .nonce(nonce);
    verify(&report, &policy, now).unwrap();

    let mut group = c.benchmark_group("attest");
    group.throughput(Throughput::Elements(1));
    group.bench_function("verify evidence", |b| {
        b.iter(|| verify(std::hint::black_box(&report), &policy, now).unwrap());
    });
    let receipt = key
        .sign_receipt(&ReceiptClaims {
            issued_at: claims.issued_at,
            platform_id: key.platform_id(),
            measurement: claims.measurement,
            signer: claims.signer,
            product_id: claims.product_id,
            svn: claims.svn,
            debug: false,
            input_digest: [4; 32],
            output_digest: [5; 32],
            request_nonce: vec![6; 16],
            fuel_used: 1,
            outcome: Outcome::Success,
            exit_code: None,
            store: None,
        })
        .unwrap();
    let roots = vec![ca.cert_der().to_vec()];
    group.bench_function("verify receipt", |b| {
        b.iter(|| verify_receipt(std::hint::black_box(&receipt), &roots, now).unwrap());
    });
    group.bench_function("sign evidence", |b| {
        b.iter(|| key.sign_evidence(std::hint::black_box(&claims)).unwrap());
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Execution receipts end to end: signed by a simulated platform, verified structurally, and
//! refusals asserted by their exact error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failing test"
)]

mod common;

use attest::cose::claim;
use attest::{
    verify_receipt, Measurement, Outcome, ProductId, ReceiptClaims, SignerId, Svn, TrustedRoots,
    VendorCa, VerifyError,
};
use ciborium::Value;
use common::{hours, set_claim, Platform, NONCE};

fn receipt_claims(p: &Platform, outcome: Outcome) -> ReceiptClaims {
    let failed = outcome != Outcome::Success;
    ReceiptClaims {
        issued_at: common::secs(p.now),
        platform_id: p.key.platform_id(),
        measurement: Measurement::from_bytes([0x11; 32]),
        signer: SignerId::from_bytes([0x22; 32]),
        product_id: ProductId(4),
        svn: Svn(5),
        debug: false,
        input_digest: [0xaa; 32],
        output_digest: if failed { [0; 32] } else { [0xbb; 32] },
        request_nonce: NONCE.to_vec(),
        fuel_used: 42_000,
        outcome,
        exit_code: failed.then_some(3),
        store: None,
    }
}

fn roots(p: &Platform) -> Vec<Vec<u8>> {
    vec![p.ca.cert_der().to_vec()]
}

#[test]
fn round_trip() {
    let p = Platform::new();
    for outcome in [
        Outcome::Success,
        Outcome::Failed {
            message: "guest trapped: unreachable".into(),
        },
    ] {
        let claims = receipt_claims(&p, outcome);
        let bytes = p.key.sign_receipt(&claims).unwrap();
        let v = verify_receipt(&bytes, &roots(&p), p.now).unwrap();
        assert_eq!(*v.claims(), claims);
        assert_eq!(v.platform_tcb(), 7);
        assert_eq!(
            v.digest(),
            *ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref()
        );
        v.check_measurement(&Measurement::from_bytes([0x11; 32]))
            .unwrap();
        v.check_signer(&SignerId::from_bytes([0x22; 32])).unwrap();
        v.check_request_nonce(&NONCE).unwrap();
        assert_eq!(
            v.check_measurement(&Measurement::from_bytes([0; 32])),
            Err(VerifyError::MeasurementMismatch {
                got: Measurement::from_bytes([0x11; 32])
            })
        );
        assert!(matches!(
            v.check_request_nonce(b"other"),
            Err(VerifyError::NonceMismatch { .. })
        ));
    }
}

#[test]
fn structural_refusals() {
    let p = Platform::new();
    let bytes = p
        .key
        .sign_receipt(&receipt_claims(&p, Outcome::Success))
        .unwrap();
    let roots = roots(&p);
    // Every byte flipped (one bit), every truncation, trailing garbage.
    for i in 0..bytes.len() {
        let mut evil = bytes.clone();
        evil[i] ^= 0x04;
        assert!(
            verify_receipt(&evil, &roots, p.now).is_err(),
            "flip at byte {i}"
        );
    }
    for len in 0..bytes.len() {
        assert!(matches!(
            verify_receipt(&bytes[..len], &roots, p.now),
            Err(VerifyError::Malformed(_))
        ));
    }
    let mut long = bytes.clone();
    long.extend([0xff; 3]);
    assert!(matches!(
        verify_receipt(&long, &roots, p.now),
        Err(VerifyError::Malformed(_))
    ));
    assert_eq!(
        verify_receipt(&bytes, &[], p.now).unwrap_err(),
        VerifyError::PolicyIncomplete("no trusted root certificate")
    );
    let other = VendorCa::generate("Other", p.now - hours(1), p.now + hours(1)).unwrap();
    assert_eq!(
        verify_receipt(&bytes, &[other.cert_der().to_vec()], p.now).unwrap_err(),
        VerifyError::UnknownIssuer
    );
    assert_eq!(
        verify_receipt(&bytes, &roots, p.now + hours(25)).unwrap_err(),
        VerifyError::CertificateExpired
    );
}

#[test]
fn evidence_is_not_a_receipt() {
    let p = Platform::new();
    assert!(matches!(
        verify_receipt(&p.report(), &roots(&p), p.now),
        Err(VerifyError::WrongProfile { .. })
    ));
}

#[test]
fn claims_are_strict() {
    let p = Platform::new();
    let ok = p
        .key
        .sign_receipt(&receipt_claims(&p, Outcome::Success))
        .unwrap();
    // A failure message on a successful run, an unknown key, an outcome out of range.
    let evil = p.resign_claims(&ok, |m| {
        m.push((
            Value::Integer(claim::FAILURE.into()),
            Value::Text("x".into()),
        ));
    });
    assert_eq!(
        verify_receipt(&evil, &roots(&p), p.now).unwrap_err(),
        VerifyError::UnknownClaim(claim::FAILURE)
    );
    let evil = p.resign_claims(&ok, |m| {
        m.push((
            Value::Integer(claim::EAT_NONCE.into()),
            Value::Bytes(vec![0; 8]),
        ));
    });
    assert_eq!(
        verify_receipt(&evil, &roots(&p), p.now).unwrap_err(),
        VerifyError::UnknownClaim(claim::EAT_NONCE)
    );
    let evil = p.resign_claims(&ok, |m| {
        set_claim(m, claim::OUTCOME, Value::Integer(2.into()))
    });
    assert!(matches!(
        verify_receipt(&evil, &roots(&p), p.now),
        Err(VerifyError::MalformedClaims(_))
    ));
    let evil = p.resign_claims(&ok, |m| {
        m.push((
            Value::Integer(claim::FUEL_USED.into()),
            Value::Integer(1.into()),
        ));
    });
    assert_eq!(
        verify_receipt(&evil, &roots(&p), p.now).unwrap_err(),
        VerifyError::DuplicateClaim(claim::FUEL_USED)
    );
    let evil = p.resign_claims(&ok, |m| {
        set_claim(m, claim::PLATFORM_TCB, Value::Integer(6.into()));
    });
    assert_eq!(
        verify_receipt(&evil, &roots(&p), p.now).unwrap_err(),
        VerifyError::TcbMismatch {
            claimed: 6,
            certificate: 7
        }
    );
}

/// A kept `TrustedRoots` reuses a chain's validation only for the same bytes at a time inside
/// the leaf's validity; every other check still runs on every token.
#[test]
fn trusted_roots_reuse_only_what_they_validated() {
    let p = Platform::new();
    let ok = p
        .key
        .sign_receipt(&receipt_claims(&p, Outcome::Success))
        .unwrap();
    let trusted = TrustedRoots::new(roots(&p));
    for _ in 0..3 {
        assert_eq!(
            trusted.verify_receipt(&ok, p.now).unwrap().claims(),
            verify_receipt(&ok, &roots(&p), p.now).unwrap().claims()
        );
    }
    // The chain is cached now; a signature or claims change is still refused, and so is the
    // same chain outside its validity.
    let mut evil = ok.clone();
    let last = evil.len() - 1;
    evil[last] ^= 1;
    assert_eq!(
        trusted.verify_receipt(&evil, p.now).unwrap_err(),
        VerifyError::BadSignature
    );
    let evil = p.resign_claims(&ok, |m| {
        set_claim(m, claim::PLATFORM_TCB, Value::Integer(6.into()));
    });
    assert!(matches!(
        trusted.verify_receipt(&evil, p.now),
        Err(VerifyError::TcbMismatch { .. })
    ));
    assert_eq!(
        trusted.verify_receipt(&ok, p.now + hours(25)).unwrap_err(),
        VerifyError::CertificateExpired
    );
    assert_eq!(
        trusted.verify_receipt(&ok, p.now - hours(2)).unwrap_err(),
        VerifyError::CertificateNotYetValid
    );
    assert!(trusted.verify_receipt(&ok, p.now).is_ok());

    // Another root's trust is its own: the chain this one cached is unknown there.
    let other = VendorCa::generate("Other", p.now - hours(1), p.now + hours(1)).unwrap();
    let elsewhere = TrustedRoots::new(vec![other.cert_der().to_vec()]);
    assert_eq!(
        elsewhere.verify_receipt(&ok, p.now).unwrap_err(),
        VerifyError::UnknownIssuer
    );
    // A platform of another root carries another chain, validated (and refused) in full.
    let stranger = other
        .issue("stranger", 7, p.now - hours(1), p.now + hours(1))
        .unwrap();
    let mut claims = receipt_claims(&p, Outcome::Success);
    claims.platform_id = stranger.platform_id();
    let foreign = stranger.sign_receipt(&claims).unwrap();
    assert_eq!(
        trusted.verify_receipt(&foreign, p.now).unwrap_err(),
        VerifyError::UnknownIssuer
    );
    assert_eq!(
        TrustedRoots::new(vec![vec![1, 2, 3]])
            .verify_receipt(&ok, p.now)
            .unwrap_err(),
        VerifyError::BadRoot
    );
    assert_eq!(
        TrustedRoots::new(vec![])
            .verify_receipt(&ok, p.now)
            .unwrap_err(),
        VerifyError::PolicyIncomplete("no trusted root certificate")
    );
}

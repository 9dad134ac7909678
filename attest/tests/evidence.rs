//! Attestation evidence end to end: signed by a simulated platform, verified by the relying
//! party's library, and every refusal asserted by its exact error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failing test"
)]

mod common;

use std::time::Duration;

use attest::cose::{claim, MAX_TOKEN_BYTES};
use attest::{
    verify, Measurement, ProductId, ReceiptClaims, SignerId, Svn, VendorCa, VerifierPolicy,
    VerifyError,
};
use ciborium::Value;
use common::{hours, set_claim, Platform, NONCE};
use coset::{iana, Label};

#[test]
fn round_trip() {
    let p = Platform::new();
    let report = p.report();
    let v = verify(&report, &p.policy(), p.now).unwrap();
    assert_eq!(*v.claims(), p.claims());
    assert_eq!(v.nonce(), NONCE);
    assert_eq!(v.platform_id(), p.key.platform_id());
    assert_eq!(v.platform_tcb(), 7);
    assert_eq!(v.measurement(), Measurement::from_bytes([0x11; 32]));
    assert_eq!(v.signer(), SignerId::from_bytes([0x22; 32]));
    assert_eq!(v.product_id(), ProductId(4));
    assert_eq!(v.svn(), Svn(5));
    assert_eq!(v.capabilities(), ["log", "random"]);
    assert_eq!(v.report_data(), b"caller data");
    assert!(v.enclave_keys().is_some());
    assert!(!v.debug());
    assert_eq!(v.issued_at(), common::secs(p.now));
    assert_eq!(
        v.digest(),
        *ring::digest::digest(&ring::digest::SHA256, &report).as_ref()
    );
    // Reloading the platform from PEM gives a key that still verifies, and the roots can come
    // from PEM too.
    let reloaded = attest::AttestationKey::from_pem(&p.key.key_pem(), &p.key.chain_pem()).unwrap();
    let again = reloaded.sign_evidence(&p.claims()).unwrap();
    let policy = VerifierPolicy::from_pem_roots(&p.ca.cert_pem())
        .unwrap()
        .signer(SignerId::from_bytes([0x22; 32]))
        .product_id(ProductId(4))
        .min_svn(Svn(5))
        .min_platform_tcb(7)
        .nonce(NONCE.to_vec());
    verify(&again, &policy, p.now).unwrap();
}

#[test]
fn signing_is_deterministic_in_the_payload() {
    let p = Platform::new();
    let a = coset_payload(&p.report());
    let b = coset_payload(&p.report());
    assert_eq!(a, b);
    assert_eq!(a, p.claims().to_payload().unwrap());
}

fn coset_payload(bytes: &[u8]) -> Vec<u8> {
    use coset::TaggedCborSerializable as _;
    coset::CoseSign1::from_tagged_slice(bytes)
        .unwrap()
        .payload
        .unwrap()
}

#[test]
fn wrong_nonce() {
    let p = Platform::new();
    let err = verify(&p.report(), &p.policy().nonce(vec![0; 16]), p.now).unwrap_err();
    assert_eq!(
        err,
        VerifyError::NonceMismatch {
            expected: "00".repeat(16),
            got: "5a".repeat(16)
        }
    );
}

#[test]
fn stale_report() {
    let p = Platform::new();
    let later = p.now + Duration::from_secs(301);
    assert_eq!(
        verify(&p.report(), &p.policy(), later).unwrap_err(),
        VerifyError::Stale {
            age_secs: 301,
            max_age_secs: 300
        }
    );
    // A longer maximum age accepts it.
    let policy = p.policy().max_age(Duration::from_secs(600));
    verify(&p.report(), &policy, later).unwrap();
}

#[test]
fn report_from_the_future() {
    let p = Platform::new();
    let mut claims = p.claims();
    claims.issued_at += 61;
    let report = p.key.sign_evidence(&claims).unwrap();
    assert_eq!(
        verify(&report, &p.policy(), p.now).unwrap_err(),
        VerifyError::FromFuture { ahead_secs: 61 }
    );
    claims.issued_at -= 1;
    let report = p.key.sign_evidence(&claims).unwrap();
    verify(&report, &p.policy(), p.now).unwrap();
}

#[test]
fn different_measurement_or_signer() {
    let p = Platform::new();
    let other = Measurement::from_bytes([0x99; 32]);
    let policy = VerifierPolicy::new(vec![p.ca.cert_der().to_vec()])
        .measurement(other)
        .nonce(NONCE.to_vec());
    assert_eq!(
        verify(&p.report(), &policy, p.now).unwrap_err(),
        VerifyError::MeasurementMismatch {
            got: Measurement::from_bytes([0x11; 32])
        }
    );
    // Any of several measurements.
    verify(
        &p.report(),
        &policy.measurement(Measurement::from_bytes([0x11; 32])),
        p.now,
    )
    .unwrap();
    let policy = p.policy().signer(SignerId::from_bytes([0x98; 32]));
    assert_eq!(
        verify(&p.report(), &policy, p.now).unwrap_err(),
        VerifyError::SignerMismatch {
            got: SignerId::from_bytes([0x22; 32])
        }
    );
}

#[test]
fn lower_svn() {
    let p = Platform::new();
    assert_eq!(
        verify(&p.report(), &p.policy().min_svn(Svn(6)), p.now).unwrap_err(),
        VerifyError::SvnTooLow {
            min: Svn(6),
            got: Svn(5)
        }
    );
    verify(&p.report(), &p.policy().min_svn(Svn(5)), p.now).unwrap();
}

#[test]
fn debug_enclave_refused_by_default() {
    let p = Platform::new();
    let mut claims = p.claims();
    claims.debug = true;
    let report = p.key.sign_evidence(&claims).unwrap();
    assert_eq!(
        verify(&report, &p.policy(), p.now).unwrap_err(),
        VerifyError::DebugNotAllowed
    );
    assert!(verify(&report, &p.policy().allow_debug(true), p.now)
        .unwrap()
        .debug());
}

#[test]
fn different_product() {
    let p = Platform::new();
    assert_eq!(
        verify(&p.report(), &p.policy().product_id(ProductId(9)), p.now).unwrap_err(),
        VerifyError::ProductMismatch {
            expected: ProductId(9),
            got: ProductId(4)
        }
    );
}

#[test]
fn lower_platform_tcb() {
    let p = Platform::new();
    assert_eq!(
        verify(&p.report(), &p.policy().min_platform_tcb(8), p.now).unwrap_err(),
        VerifyError::PlatformTcbTooLow { min: 8, got: 7 }
    );
}

#[test]
fn platform_under_another_root() {
    let p = Platform::new();
    // A rogue root with the very same name, and one with another name.
    let rogue = Platform::new();
    let other = VendorCa::generate("Other Vendor", p.now - hours(1), p.now + hours(1)).unwrap();
    let policy = VerifierPolicy::new(vec![other.cert_der().to_vec()])
        .measurement(Measurement::from_bytes([0x11; 32]))
        .nonce(NONCE.to_vec());
    assert_eq!(
        verify(&p.report(), &policy, p.now).unwrap_err(),
        VerifyError::UnknownIssuer
    );
    let policy = VerifierPolicy::new(vec![rogue.ca.cert_der().to_vec()])
        .measurement(Measurement::from_bytes([0x11; 32]))
        .nonce(NONCE.to_vec());
    assert_eq!(
        verify(&p.report(), &policy, p.now).unwrap_err(),
        VerifyError::UnknownIssuer
    );
    // Both roots pinned: accepted.
    let both = VerifierPolicy::new(vec![rogue.ca.cert_der().to_vec(), p.ca.cert_der().to_vec()])
        .measurement(Measurement::from_bytes([0x11; 32]))
        .nonce(NONCE.to_vec());
    verify(&p.report(), &both, p.now).unwrap();
}

#[test]
fn expired_and_not_yet_valid_certificates() {
    let p = Platform::new();
    let expired =
        p.ca.issue("old", 7, p.now - hours(48), p.now - hours(1))
            .unwrap();
    let future =
        p.ca.issue("new", 7, p.now + hours(1), p.now + hours(48))
            .unwrap();
    for (key, want) in [
        (expired, VerifyError::CertificateExpired),
        (future, VerifyError::CertificateNotYetValid),
    ] {
        let mut claims = p.claims();
        claims.platform_id = key.platform_id();
        let report = key.sign_evidence(&claims).unwrap();
        assert_eq!(verify(&report, &p.policy(), p.now).unwrap_err(), want);
    }
}

#[test]
fn certificate_without_the_attestation_key_usage() {
    use rcgen::{CertificateParams, CustomExtension, IsCa, KeyPair, KeyUsagePurpose};
    let p = Platform::new();
    // A root and leaf made with rcgen directly: the leaf has the TCB extension but no EKU.
    let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut root_params = CertificateParams::new(vec![]).unwrap();
    root_params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let root = root_params.self_signed(&root_key).unwrap();
    let issuer = rcgen::Issuer::new(root_params, root_key);
    let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut leaf_params = CertificateParams::new(vec![]).unwrap();
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.custom_extensions = vec![CustomExtension::from_oid_content(
        attest::platform::OID_PLATFORM_TCB_ARCS,
        vec![0x02, 0x01, 0x07],
    )];
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let key = attest::AttestationKey::from_pem(&leaf_key.serialize_pem(), &leaf.pem()).unwrap();
    let mut claims = p.claims();
    claims.platform_id = key.platform_id();
    let report = key.sign_evidence(&claims).unwrap();
    let policy = VerifierPolicy::new(vec![root.der().to_vec()])
        .measurement(Measurement::from_bytes([0x11; 32]))
        .nonce(NONCE.to_vec());
    // rcgen's default validity (1975 ..= 4096) covers `now`.
    assert_eq!(
        verify(&report, &policy, p.now).unwrap_err(),
        VerifyError::WrongKeyUsage
    );
}

#[test]
fn every_flipped_bit_is_refused() {
    let p = Platform::new();
    let report = p.report();
    let policy = p.policy();
    for i in 0..report.len() {
        for bit in [0x01u8, 0x80] {
            let mut evil = report.clone();
            evil[i] ^= bit;
            assert!(
                verify(&evil, &policy, p.now).is_err(),
                "flip of bit {bit:#x} at byte {i} was accepted"
            );
        }
    }
}

#[test]
fn every_truncation_is_refused() {
    let p = Platform::new();
    let report = p.report();
    for len in 0..report.len() {
        assert!(
            matches!(
                verify(&report[..len], &p.policy(), p.now),
                Err(VerifyError::Malformed(_))
            ),
            "truncation to {len} bytes"
        );
    }
}

#[test]
fn trailing_garbage() {
    let p = Platform::new();
    let mut report = p.report();
    report.push(0);
    assert_eq!(
        verify(&report, &p.policy(), p.now).unwrap_err(),
        VerifyError::Malformed("attestation token has 1 trailing bytes".into())
    );
}

#[test]
fn swapped_algorithm() {
    let p = Platform::new();
    let report = p.report();
    for (alg, name) in [
        (Some(iana::Algorithm::EdDSA), "Assigned(EdDSA)"),
        (Some(iana::Algorithm::ES384), "Assigned(ES384)"),
        (Some(iana::Algorithm::PS256), "Assigned(PS256)"),
        (None, "(none)"),
    ] {
        let evil = p.resign(&report, |s| {
            s.protected.header.alg = alg.map(coset::Algorithm::Assigned);
            s.protected.original_data = None;
        });
        assert_eq!(
            verify(&evil, &p.policy(), p.now).unwrap_err(),
            VerifyError::DisallowedAlgorithm(name.into())
        );
    }
    // Header edited without re-signing: still the algorithm that is refused first.
    let evil = {
        use coset::TaggedCborSerializable as _;
        let mut s = coset::CoseSign1::from_tagged_slice(&report).unwrap();
        s.protected.header.alg = Some(coset::Algorithm::Assigned(iana::Algorithm::ES512));
        s.protected.original_data = None;
        s.to_tagged_vec().unwrap()
    };
    assert_eq!(
        verify(&evil, &p.policy(), p.now).unwrap_err(),
        VerifyError::DisallowedAlgorithm("Assigned(ES512)".into())
    );
}

#[test]
fn header_tampering() {
    let p = Platform::new();
    let report = p.report();
    let evil = p.resign(&report, |s| {
        s.protected.header.content_type = Some(coset::ContentType::Text("application/cwt".into()));
        s.protected.original_data = None;
    });
    assert_eq!(
        verify(&evil, &p.policy(), p.now).unwrap_err(),
        VerifyError::WrongContentType
    );
    let evil = p.resign(&report, |s| {
        s.protected.header.rest.clear();
        s.protected.original_data = None;
    });
    assert_eq!(
        verify(&evil, &p.policy(), p.now).unwrap_err(),
        VerifyError::MissingChain
    );
    let evil = p.resign(&report, |s| {
        s.protected.header.rest = vec![(Label::Int(33), Value::Array(vec![]))];
        s.protected.original_data = None;
    });
    assert_eq!(
        verify(&evil, &p.policy(), p.now).unwrap_err(),
        VerifyError::MissingChain
    );
    let evil = p.resign(&report, |s| {
        s.unprotected.key_id = b"kid".to_vec();
    });
    assert_eq!(
        verify(&evil, &p.policy(), p.now).unwrap_err(),
        VerifyError::UnexpectedHeader
    );
    let evil = p.resign(&report, |s| s.payload = None);
    assert_eq!(
        verify(&evil, &p.policy(), p.now).unwrap_err(),
        VerifyError::MissingPayload
    );
}

#[test]
fn another_platforms_chain_is_a_bad_signature() {
    let p = Platform::new();
    let other =
        p.ca.issue("other", 7, p.now - hours(1), p.now + hours(1))
            .unwrap();
    let evil = {
        use coset::TaggedCborSerializable as _;
        let mut s = coset::CoseSign1::from_tagged_slice(&p.report()).unwrap();
        let chain = other
            .chain()
            .iter()
            .map(|c| Value::Bytes(c.clone()))
            .collect();
        s.protected.header.rest = vec![(Label::Int(33), Value::Array(chain))];
        s.protected.original_data = None;
        s.to_tagged_vec().unwrap()
    };
    assert_eq!(
        verify(&evil, &p.policy(), p.now).unwrap_err(),
        VerifyError::BadSignature
    );
}

#[test]
fn hundred_megabytes_refused_before_parsing() {
    let p = Platform::new();
    let huge = vec![0x5bu8; 100 << 20];
    let started = std::time::Instant::now();
    assert_eq!(
        verify(&huge, &p.policy(), p.now).unwrap_err(),
        VerifyError::TooLarge {
            size: 100 << 20,
            limit: MAX_TOKEN_BYTES
        }
    );
    // Not a timing assertion, just a record: the size cap comes before any work.
    eprintln!("100 MB refused in {:?}", started.elapsed());
}

#[test]
fn cbor_bombs() {
    let p = Platform::new();
    // Deep nesting at the top level, inside the tag, and inside the protected header bstr.
    let mut deep = vec![0x81u8; MAX_TOKEN_BYTES - 1];
    deep.push(0x00);
    let mut tagged = vec![0xd2u8];
    tagged.extend_from_slice(&deep[..MAX_TOKEN_BYTES - 1]);
    for bomb in [deep.clone(), tagged, vec![0xd2; 10_000]] {
        assert!(matches!(
            verify(&bomb, &p.policy(), p.now),
            Err(VerifyError::Malformed(_))
        ));
    }
    let mut nested_header = vec![0xd2, 0x84, 0x59, 0x27, 0x10];
    nested_header.extend(std::iter::repeat_n(0x81, 9_999));
    nested_header.push(0x00);
    nested_header.extend([0xa0, 0x40, 0x40]);
    assert!(matches!(
        verify(&nested_header, &p.policy(), p.now),
        Err(VerifyError::Malformed(_))
    ));
    // A length that claims 4 GiB, and an array that claims 2^32 items.
    for lie in [
        vec![0xd2, 0x84, 0x5a, 0xff, 0xff, 0xff, 0xff, 0x00],
        vec![0xd2, 0x9a, 0xff, 0xff, 0xff, 0xff, 0x40],
    ] {
        assert!(matches!(
            verify(&lie, &p.policy(), p.now),
            Err(VerifyError::Malformed(_))
        ));
    }
}

#[test]
fn unknown_claim() {
    let p = Platform::new();
    let evil = p.resign_claims(&p.report(), |m| {
        m.push((Value::Integer((-70100).into()), Value::Bool(true)));
    });
    assert_eq!(
        verify(&evil, &p.policy(), p.now).unwrap_err(),
        VerifyError::UnknownClaim(-70100)
    );
}

#[test]
fn duplicate_claim() {
    let p = Platform::new();
    let evil = p.resign_claims(&p.report(), |m| {
        m.push((Value::Integer(claim::SVN.into()), Value::Integer(99.into())));
    });
    assert_eq!(
        verify(&evil, &p.policy(), p.now).unwrap_err(),
        VerifyError::DuplicateClaim(claim::SVN)
    );
}

#[test]
fn malformed_claims() {
    let p = Platform::new();
    let report = p.report();
    for (key, value) in [
        (claim::EAT_NONCE, Value::Bytes(vec![0; 7])),
        (claim::IAT, Value::Integer((-1).into())),
        (claim::DBGSTAT, Value::Integer(1.into())),
        (claim::UEID, Value::Bytes(vec![0x02; 33])),
        (claim::MEASUREMENT, Value::Bytes(vec![0; 31])),
        (claim::SVN, Value::Integer(65_536.into())),
        (claim::PLATFORM_TCB, Value::Text("7".into())),
        (claim::REPORT_DATA, Value::Bytes(vec![0; 65])),
        (
            claim::CAPABILITIES,
            Value::Array(vec![Value::Bytes(vec![])]),
        ),
        (
            claim::ENCLAVE_KEYS,
            Value::Array(vec![Value::Bytes(vec![0; 32])]),
        ),
    ] {
        let evil = p.resign_claims(&report, |m| set_claim(m, key, value.clone()));
        assert!(
            matches!(
                verify(&evil, &p.policy(), p.now),
                Err(VerifyError::MalformedClaims(_))
            ),
            "claim {key} = {value:?} accepted"
        );
    }
    let evil = p.resign_claims(&report, |m| {
        m.retain(|(k, _)| *k != Value::Integer(claim::SVN.into()))
    });
    assert!(matches!(
        verify(&evil, &p.policy(), p.now),
        Err(VerifyError::MalformedClaims(_))
    ));
    let evil = p.resign(&report, |s| s.payload = Some(vec![0x80]));
    assert!(matches!(
        verify(&evil, &p.policy(), p.now),
        Err(VerifyError::MalformedClaims(_))
    ));
}

#[test]
fn wrong_profile() {
    let p = Platform::new();
    let evil = p.resign_claims(&p.report(), |m| {
        set_claim(
            m,
            claim::EAT_PROFILE,
            Value::Text("tag:example.com,2026:other".into()),
        );
    });
    assert_eq!(
        verify(&evil, &p.policy(), p.now).unwrap_err(),
        VerifyError::WrongProfile {
            expected: attest::evidence::EVIDENCE_PROFILE,
            got: "tag:example.com,2026:other".into()
        }
    );
    // A receipt is not evidence.
    let receipt = p
        .key
        .sign_receipt(&ReceiptClaims {
            issued_at: common::secs(p.now),
            platform_id: p.key.platform_id(),
            measurement: Measurement::from_bytes([0x11; 32]),
            signer: SignerId::from_bytes([0x22; 32]),
            product_id: ProductId(4),
            svn: Svn(5),
            debug: false,
            input_digest: [1; 32],
            output_digest: [2; 32],
            request_nonce: NONCE.to_vec(),
            fuel_used: 1,
            outcome: attest::Outcome::Success,
            exit_code: None,
            store: None,
        })
        .unwrap();
    assert!(matches!(
        verify(&receipt, &p.policy(), p.now),
        Err(VerifyError::WrongProfile { .. })
    ));
}

#[test]
fn claims_must_match_the_certificate() {
    let p = Platform::new();
    let report = p.report();
    let evil = p.resign_claims(&report, |m| {
        set_claim(m, claim::PLATFORM_TCB, Value::Integer(8.into()));
    });
    assert_eq!(
        verify(&evil, &p.policy(), p.now).unwrap_err(),
        VerifyError::TcbMismatch {
            claimed: 8,
            certificate: 7
        }
    );
    let mut ueid = vec![0x01];
    ueid.extend([0xee; 32]);
    let evil = p.resign_claims(&report, |m| set_claim(m, claim::UEID, Value::Bytes(ueid)));
    assert_eq!(
        verify(&evil, &p.policy(), p.now).unwrap_err(),
        VerifyError::PlatformMismatch {
            claimed: attest::PlatformId::from_bytes([0xee; 32]),
            certificate: p.key.platform_id()
        }
    );
    // The signing side refuses to make such a report in the first place.
    let mut claims = p.claims();
    claims.platform_tcb = 8;
    assert!(matches!(
        p.key.sign_evidence(&claims),
        Err(attest::EvidenceError::PlatformMismatch { .. })
    ));
}

#[test]
fn the_chain_may_omit_the_root() {
    let p = Platform::new();
    let leaf_only = p.resign(&p.report(), |s| {
        s.protected.header.rest = vec![(Label::Int(33), Value::Bytes(p.key.chain()[0].clone()))];
        s.protected.original_data = None;
    });
    verify(&leaf_only, &p.policy(), p.now).unwrap();
}

#[test]
fn a_root_reloaded_from_pem_issues_verifiable_platforms() {
    let p = Platform::new();
    let ca = VendorCa::from_pem(&p.ca.key_pem(), &p.ca.cert_pem()).unwrap();
    let key = ca
        .issue("fleet-2", 7, p.now - hours(1), p.now + hours(1))
        .unwrap();
    let mut claims = p.claims();
    claims.platform_id = key.platform_id();
    verify(&key.sign_evidence(&claims).unwrap(), &p.policy(), p.now).unwrap();
}

#[test]
fn an_external_p384_root_can_issue_platforms() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose};
    let p = Platform::new();
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let mut params = CertificateParams::new(vec![]).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let cert = params.self_signed(&key).unwrap();
    let ca = VendorCa::from_pem(&key.serialize_pem(), &cert.pem()).unwrap();
    let platform = ca
        .issue("p384-fleet", 7, p.now - hours(1), p.now + hours(1))
        .unwrap();
    let mut claims = p.claims();
    claims.platform_id = platform.platform_id();
    let report = platform.sign_evidence(&claims).unwrap();
    let policy = VerifierPolicy::new(vec![cert.der().to_vec()])
        .measurement(claims.measurement)
        .nonce(NONCE.to_vec());
    verify(&report, &policy, p.now).unwrap();
}

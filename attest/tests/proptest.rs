//! Property tests of the encode/decode round trips: manifests through TOML, identities through
//! hex, evidence and receipt claims through their signed encodings.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::collections::BTreeSet;

use attest::manifest::bounds;
use attest::{
    Capability, EnclavePublicKey, GuestKind, Limits, Manifest, Measurement, ModuleDigest,
    PlatformId, ProductId, SignerId, Svn,
};
use proptest::prelude::*;

fn capabilities(kind: GuestKind) -> impl Strategy<Value = BTreeSet<Capability>> {
    let usable: Vec<Capability> = Capability::ALL
        .into_iter()
        .filter(|c| c.applies_to(kind))
        .collect();
    proptest::sample::subsequence(usable.clone(), 0..=usable.len())
        .prop_map(|caps| caps.into_iter().collect())
}

/// WASI arguments: any text without NUL, a few of them (the bounds are checked separately).
fn args() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("[^\0]{0,40}", 0..6)
}

fn limits() -> impl Strategy<Value = Limits> {
    (
        bounds::MIN_MEMORY_BYTES..=bounds::MAX_MEMORY_BYTES,
        1..=bounds::MAX_TOML_INTEGER,
        1..=bounds::MAX_TIMEOUT_MS,
        0..=bounds::MAX_TOML_INTEGER,
        0..=bounds::MAX_TOML_INTEGER,
        bounds::MIN_STACK_BYTES..=bounds::MAX_STACK_BYTES,
    )
        .prop_map(
            |(memory_bytes, fuel, timeout_ms, max_input_bytes, max_output_bytes, stack_bytes)| {
                Limits {
                    memory_bytes,
                    fuel,
                    timeout_ms,
                    max_input_bytes,
                    max_output_bytes,
                    stack_bytes,
                }
            },
        )
}

/// Every valid manifest: limits within bounds, capabilities that suit the kind, arguments only
/// for WASI guests, padding for every kind but http.
fn manifest() -> impl Strategy<Value = Manifest> {
    prop_oneof![
        Just(GuestKind::Enclave),
        Just(GuestKind::Wasi),
        Just(GuestKind::Http)
    ]
    .prop_flat_map(|kind| {
        let args = match kind {
            GuestKind::Wasi => args().boxed(),
            GuestKind::Enclave | GuestKind::Http => Just(Vec::new()).boxed(),
        };
        let pad_output = match kind {
            GuestKind::Http => Just(0u64).boxed(),
            GuestKind::Enclave | GuestKind::Wasi => {
                prop_oneof![Just(0u64), bounds::MIN_PAD_OUTPUT..=bounds::MAX_PAD_OUTPUT].boxed()
            }
        };
        (
            any::<u16>(),
            any::<u16>(),
            any::<bool>(),
            args,
            limits(),
            capabilities(kind),
            pad_output,
        )
            .prop_map(
                move |(product_id, svn, debug, args, limits, capabilities, pad_output)| Manifest {
                    product_id: ProductId(product_id),
                    svn: Svn(svn),
                    debug,
                    kind,
                    args,
                    limits,
                    capabilities,
                    pad_output,
                    inputs: Default::default(),
                },
            )
    })
}

proptest! {
    #[test]
    fn limits_beyond_toml_integers_are_refused(fuel in bounds::MAX_TOML_INTEGER + 1..=u64::MAX) {
        let mut m = Manifest::from_toml("product_id = 1\nsvn = 1\ndebug = false\n").unwrap();
        m.limits.fuel = fuel;
        prop_assert!(m.validate().is_err());
    }

    #[test]
    fn manifest_toml_round_trip(m in manifest()) {
        prop_assert_eq!(m.validate(), Ok(()));
        let text = m.to_toml();
        let back = Manifest::from_toml(&text).unwrap();
        prop_assert_eq!(&back, &m);
        let module = ModuleDigest::from_bytes([0x11; 32]);
        prop_assert_eq!(back.measure(&module), m.measure(&module));
        prop_assert_eq!(back.to_toml(), text);
    }

    #[test]
    fn identities_round_trip_through_hex(bytes in any::<[u8; 32]>()) {
        let text = Measurement::from_bytes(bytes).to_string();
        prop_assert_eq!(text.len(), 64);
        prop_assert!(text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        prop_assert_eq!(Measurement::from_hex(&text).unwrap(), Measurement::from_bytes(bytes));
        prop_assert_eq!(
            Measurement::from_hex(&text.to_uppercase()).unwrap(),
            Measurement::from_bytes(bytes)
        );
        prop_assert_eq!(text.parse::<SignerId>().unwrap(), SignerId::from_bytes(bytes));
        prop_assert_eq!(ModuleDigest::from_hex(&text).unwrap(), ModuleDigest::from_bytes(bytes));
        prop_assert_eq!(PlatformId::from_hex(&text).unwrap(), PlatformId::from_bytes(bytes));
        prop_assert_eq!(
            EnclavePublicKey::from_hex(&text).unwrap(),
            EnclavePublicKey::from_bytes(bytes)
        );
        prop_assert_eq!(format!("{:?}", SignerId::from_bytes(bytes)), format!("SignerId({text})"));
    }

    #[test]
    fn hex_other_than_32_bytes_is_refused(text in "[0-9a-fA-F]{0,70}|.{0,70}") {
        let is_32_bytes = text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit());
        prop_assert_eq!(Measurement::from_hex(&text).is_ok(), is_32_bytes);
    }
}

/// Claims round trips through a real platform key and the verifier (feature `platform`).
#[cfg(feature = "platform")]
mod signed {
    use std::sync::LazyLock;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use attest::receipt::MAX_FAILURE_MESSAGE;
    use attest::{
        verify, verify_receipt, AttestationKey, Claims, EnclaveKeys, EnclavePublicKey, Measurement,
        ModuleDigest, Outcome, ProductId, ReceiptClaims, SignerId, Svn, VendorCa, VerifierPolicy,
    };
    use proptest::prelude::*;

    const NOW: u64 = 1_800_000_000;

    struct Platform {
        root: Vec<u8>,
        key: AttestationKey,
    }

    static PLATFORM: LazyLock<Platform> = LazyLock::new(|| {
        let now = UNIX_EPOCH + Duration::from_secs(NOW);
        let day = Duration::from_secs(86_400);
        let ca = VendorCa::generate("proptest root", now - day, now + day).unwrap();
        let key = ca
            .issue("proptest platform", 9, now - day, now + day)
            .unwrap();
        Platform {
            root: ca.cert_der().to_vec(),
            key,
        }
    });

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    fn bytes32() -> impl Strategy<Value = [u8; 32]> {
        any::<[u8; 32]>()
    }

    /// Every valid claims map for the test platform, issued in the last four minutes.
    fn claims() -> impl Strategy<Value = Claims> {
        let identity = (bytes32(), bytes32(), bytes32(), any::<u16>(), any::<u16>());
        let keys = proptest::option::of((bytes32(), bytes32()));
        (
            proptest::collection::vec(any::<u8>(), 8..=64),
            NOW - 240..=NOW,
            any::<bool>(),
            identity,
            proptest::collection::vec("[a-z-]{0,64}", 0..=32),
            proptest::collection::vec(any::<u8>(), 0..=64),
            keys,
        )
            .prop_map(
                |(nonce, issued_at, debug, id, capabilities, report_data, keys)| {
                    let (measurement, signer, module, product_id, svn) = id;
                    Claims {
                        nonce,
                        issued_at,
                        debug,
                        platform_id: PLATFORM.key.platform_id(),
                        platform_tcb: PLATFORM.key.tcb(),
                        measurement: Measurement::from_bytes(measurement),
                        signer: SignerId::from_bytes(signer),
                        module: ModuleDigest::from_bytes(module),
                        product_id: ProductId(product_id),
                        svn: Svn(svn),
                        capabilities,
                        report_data,
                        enclave_keys: keys.map(|(m, s)| EnclaveKeys {
                            measurement: EnclavePublicKey::from_bytes(m),
                            signer: EnclavePublicKey::from_bytes(s),
                        }),
                        tls_key: None,
                    }
                },
            )
    }

    fn outcome() -> impl Strategy<Value = Outcome> {
        prop_oneof![
            Just(Outcome::Success),
            ".{0,200}"
                .prop_filter("at most the failure cap", |m: &String| m.len()
                    <= MAX_FAILURE_MESSAGE)
                .prop_map(|message| Outcome::Failed { message }),
        ]
    }

    fn receipt_claims() -> impl Strategy<Value = ReceiptClaims> {
        let identity = (
            bytes32(),
            bytes32(),
            any::<u16>(),
            any::<u16>(),
            any::<bool>(),
        );
        (
            any::<u64>(),
            identity,
            (bytes32(), bytes32()),
            proptest::collection::vec(any::<u8>(), 0..=64),
            any::<u64>(),
            outcome(),
            proptest::option::of(any::<i32>()),
        )
            .prop_map(
                |(issued_at, id, digests, request_nonce, fuel_used, outcome, exit_code)| {
                    let (measurement, signer, product_id, svn, debug) = id;
                    ReceiptClaims {
                        issued_at,
                        platform_id: PLATFORM.key.platform_id(),
                        measurement: Measurement::from_bytes(measurement),
                        signer: SignerId::from_bytes(signer),
                        product_id: ProductId(product_id),
                        svn: Svn(svn),
                        debug,
                        input_digest: digests.0,
                        output_digest: digests.1,
                        request_nonce,
                        fuel_used,
                        outcome,
                        exit_code,
                        store: None,
                    }
                },
            )
    }

    proptest! {
        // Each case signs (ECDSA P-256) and validates a certificate chain.
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        #[test]
        fn evidence_claims_round_trip(claims in claims()) {
            let payload = claims.to_payload().unwrap();
            prop_assert_eq!(claims.to_payload().unwrap(), payload, "deterministic encoding");
            let token = PLATFORM.key.sign_evidence(&claims).unwrap();
            let policy = VerifierPolicy::new(vec![PLATFORM.root.clone()])
                .measurement(claims.measurement)
                .nonce(claims.nonce.clone())
                .allow_debug(true);
            let verified = verify(&token, &policy, now()).unwrap();
            prop_assert_eq!(verified.claims(), &claims);
        }

        #[test]
        fn receipt_claims_round_trip(claims in receipt_claims()) {
            let token = PLATFORM.key.sign_receipt(&claims).unwrap();
            let verified = verify_receipt(&token, std::slice::from_ref(&PLATFORM.root), now()).unwrap();
            prop_assert_eq!(verified.claims(), &claims);
            prop_assert_eq!(verified.platform_tcb(), PLATFORM.key.tcb());
        }
    }
}

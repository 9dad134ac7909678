//! The adversarial matrix: for every artifact a party receives, single-bit flips sampled across
//! the whole artifact, truncations, appended garbage, and each field swapped with the same field
//! of another valid artifact. Every variant must be refused with the right class of error; the
//! totals are printed (`cargo test -- --nocapture matrix`).

use std::time::SystemTime;

use ciborium::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

use attest::Capability;
use enclave_platform::store::SealedStore;
use enclave_platform::Platform;
use enclave_runtime::confidential::ConfidentialError;
use enclave_runtime::{Enclave, Input, LoadError, SealPolicy, ServiceRefused};
use enclave_tests::guests::{COUNTER, STATS, WORDCOUNT};
use enclave_tests::harness::{attacks, manifest, ClientError, Harness, SealTo};

#[derive(Default)]
struct Tally {
    flips: usize,
    truncations: usize,
    appends: usize,
    swaps: usize,
}

impl Tally {
    fn print(&self, artifact: &str) {
        println!(
            "matrix: {artifact:<13} {:>5} bit flips, {:>3} truncations, {} appends, {} field swaps: all refused",
            self.flips, self.truncations, self.appends, self.swaps
        );
    }
}

/// Every mutation of `good` but the swaps, each checked by `refused`.
fn mutate(good: &[u8], samples: usize, refused: impl Fn(&[u8]) -> bool) -> Tally {
    let mut tally = Tally::default();
    for i in attacks::positions(good.len(), samples) {
        let evil = attacks::flip(good, i, (i % 8) as u8);
        assert!(refused(&evil), "bit flip at {i} of {} accepted", good.len());
        tally.flips += 1;
    }
    for len in attacks::positions(good.len(), 40) {
        assert!(
            refused(&attacks::truncate(good, len)),
            "truncation to {len} accepted"
        );
        tally.truncations += 1;
    }
    for garbage in [&[0u8][..], &[0xff; 1024][..]] {
        assert!(
            refused(&attacks::append(good, garbage)),
            "appended garbage accepted"
        );
        tally.appends += 1;
    }
    tally
}

/// The four fields of a tagged COSE_Sign1 (protected, unprotected, payload, signature).
fn cose_fields(bytes: &[u8]) -> Vec<Value> {
    match ciborium::from_reader::<Value, _>(bytes).unwrap() {
        Value::Tag(18, inner) => match *inner {
            Value::Array(fields) => fields,
            other => panic!("not an array: {other:?}"),
        },
        other => panic!("not tag 18: {other:?}"),
    }
}

/// `a` with field `i` taken from `b`.
fn cose_swap(a: &[u8], b: &[u8], i: usize) -> Vec<u8> {
    let mut fields = cose_fields(a);
    fields[i] = cose_fields(b)[i].clone();
    let mut out = Vec::new();
    ciborium::into_writer(&Value::Tag(18, Box::new(Value::Array(fields))), &mut out).unwrap();
    out
}

/// Swaps of each COSE field that differs between two valid artifacts.
fn cose_swaps(a: &[u8], b: &[u8], refused: impl Fn(&[u8]) -> bool) -> usize {
    let mut swaps = 0;
    for i in 0..4 {
        if cose_fields(a)[i] != cose_fields(b)[i] {
            assert!(refused(&cose_swap(a, b, i)), "COSE field {i} swap accepted");
            swaps += 1;
        }
    }
    swaps
}

/// The two items of a bundle: the envelope (a tagged COSE_Sign1, as bytes) and the module.
fn bundle_items(bytes: &[u8]) -> [Vec<u8>; 2] {
    match ciborium::from_reader::<Value, _>(bytes).unwrap() {
        Value::Array(items) => match <[Value; 2]>::try_from(items) {
            Ok([Value::Bytes(envelope), Value::Bytes(module)]) => [envelope, module],
            other => panic!("not [envelope, module]: {other:?}"),
        },
        other => panic!("not an array: {other:?}"),
    }
}

fn bundle_of(envelope: Vec<u8>, module: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(
        &Value::Array(vec![Value::Bytes(envelope), Value::Bytes(module)]),
        &mut out,
    )
    .unwrap();
    out
}

/// Swaps between two valid bundles: the module, the whole envelope, and each field of the
/// envelope that differs.
fn bundle_swaps(a: &[u8], b: &[u8], refused: impl Fn(&[u8]) -> bool) -> usize {
    let [a_envelope, a_module] = bundle_items(a);
    let [b_envelope, b_module] = bundle_items(b);
    assert!(
        refused(&bundle_of(a_envelope.clone(), b_module)),
        "module swap accepted"
    );
    assert!(
        refused(&bundle_of(b_envelope.clone(), a_module.clone())),
        "envelope swap accepted"
    );
    let mut swaps = 2;
    for i in 0..4 {
        if cose_fields(&a_envelope)[i] != cose_fields(&b_envelope)[i] {
            let envelope = cose_swap(&a_envelope, &b_envelope, i);
            assert!(
                refused(&bundle_of(envelope, a_module.clone())),
                "envelope field {i} swap accepted"
            );
            swaps += 1;
        }
    }
    swaps
}

#[test]
fn every_artifact_refuses_every_mutation() {
    let h = Harness::new().unwrap();
    let wordcount_bundle = h.sign(WORDCOUNT, &manifest()).unwrap();
    let stats_bundle = h.sign(STATS, &manifest()).unwrap();
    let wordcount = h.load(&wordcount_bundle).unwrap();
    let stats = h.load(&stats_bundle).unwrap();

    // Bundles.
    let bundle_refused = |b: &[u8]| {
        matches!(
            h.load(b),
            Err(enclave_tests::harness::HarnessError::Load(
                LoadError::Bundle(_)
            ))
        )
    };
    let mut tally = mutate(&wordcount_bundle, 400, bundle_refused);
    tally.swaps = bundle_swaps(&wordcount_bundle, &stats_bundle, bundle_refused);
    tally.print("bundle");

    // Evidence.
    let nonce = h.nonce();
    let evidence = h.attest(&wordcount, &nonce).unwrap();
    let other_evidence = h.attest(&stats, &nonce).unwrap();
    let policy = h.policy(&wordcount, &nonce);
    let evidence_refused = |e: &[u8]| attest::verify(e, &policy, SystemTime::now()).is_err();
    assert!(!evidence_refused(&evidence));
    let mut tally = mutate(&evidence, 400, evidence_refused);
    tally.swaps = cose_swaps(&evidence, &other_evidence, evidence_refused);
    tally.print("evidence");

    // Sealed inputs, sealed outputs and receipts of two requests to the same enclave.
    let verified = h.attest_and_verify(&wordcount).unwrap();
    let text = "alpha beta gamma ".repeat(5_000); // 85 kB: two chunks
    let one = h
        .seal(&verified, SealTo::Measurement, text.as_bytes())
        .unwrap();
    let two = h
        .seal(&verified, SealTo::Measurement, text.as_bytes())
        .unwrap();
    let input_refused = |s: &[u8]| {
        matches!(
            h.run_sealed(&wordcount, s),
            Err(ConfidentialError::Input(_))
        )
    };
    let mut tally = mutate(&one.bytes, 300, input_refused);
    // Fields: the header (178 bytes: key binding, enc, key confirmation) and each chunk.
    let header = one.bytes.len() - text.len() - 2 * 16;
    let chunk = sealer::CHUNK_LEN + 16;
    let fields = [
        0..header,
        header..header + chunk,
        header + chunk..one.bytes.len(),
    ];
    for field in fields {
        let mut evil = one.bytes.clone();
        evil[field.clone()].copy_from_slice(&two.bytes[field]);
        assert!(input_refused(&evil), "sealed input field swap accepted");
        tally.swaps += 1;
    }
    tally.print("sealed input");

    let run_one = h.run_sealed(&wordcount, &one.bytes).unwrap();
    let run_two = h.run_sealed(&wordcount, &two.bytes).unwrap();
    let output_refused = |o: &[u8]| {
        matches!(
            h.open(&one.context, &run_one.receipt, o),
            Err(ClientError::Mismatch(_) | ClientError::Open(_))
        )
    };
    assert!(!output_refused(&run_one.output));
    let mut tally = mutate(&run_one.output, 200, output_refused);
    // Fields: magic + version + aead id + response nonce (44 bytes), then the chunks.
    for field in [0..44, 44..run_one.output.len().min(run_two.output.len())] {
        let mut evil = run_one.output.clone();
        evil[field.clone()].copy_from_slice(&run_two.output[field]);
        assert!(output_refused(&evil), "sealed output field swap accepted");
        tally.swaps += 1;
    }
    tally.print("sealed output");

    let receipt_refused = |r: &[u8]| {
        matches!(
            h.open(&one.context, r, &run_one.output),
            Err(ClientError::Receipt(_) | ClientError::Mismatch(_))
        )
    };
    let mut tally = mutate(&run_one.receipt, 300, receipt_refused);
    tally.swaps = cose_swaps(&run_one.receipt, &run_two.receipt, receipt_refused);
    tally.print("receipt");
}

/// The fields of a sealed blob or store state (`docs/formats.md`, "Sealed blob"): TCB level,
/// policy block, key id, additional data, ciphertext, tag.
fn blob_fields(blob: &[u8]) -> [std::ops::Range<usize>; 6] {
    let aad_len = u32::from_be_bytes(blob[84..88].try_into().unwrap()) as usize;
    let end = blob.len();
    [
        10..14,
        14..52,
        52..84,
        88..88 + aad_len,
        88 + aad_len..end - 16,
        end - 16..end,
    ]
}

/// Swaps each field that differs between two blobs of the same layout.
fn blob_swaps(a: &[u8], b: &[u8], refused: impl Fn(&[u8]) -> bool) -> usize {
    assert_eq!(blob_fields(a), blob_fields(b), "same layout");
    let mut swaps = 0;
    for field in blob_fields(a) {
        if a[field.clone()] != b[field.clone()] {
            let mut evil = a.to_vec();
            evil[field.clone()].copy_from_slice(&b[field.clone()]);
            assert!(refused(&evil), "blob field {field:?} swap accepted");
            swaps += 1;
        }
    }
    swaps
}

#[test]
fn sealed_blobs_and_store_files_refuse_every_mutation() {
    let h = Harness::new().unwrap();
    let mut m = manifest();
    m.capabilities = BTreeSet::from([Capability::Seal, Capability::Store]);
    let counter = h.load(&h.sign(COUNTER, &m).unwrap()).unwrap();

    // Sealed blobs, through the host's unseal service (what the guest's `unseal` calls).
    let services = h.reporter(&counter);
    let blob = services
        .seal(SealPolicy::Signer, b"additional data 1", b"plaintext")
        .unwrap();
    let other = services
        .seal(SealPolicy::Measurement, b"additional data 2", b"plaintext")
        .unwrap();
    assert_eq!(
        services.unseal(&blob).unwrap().plaintext.as_slice(),
        b"plaintext"
    );
    let blob_refused = |b: &[u8]| {
        matches!(
            services.unseal(b),
            Err(ServiceRefused::Failed | ServiceRefused::Policy)
        )
    };
    let mut tally = mutate(&blob, 400, blob_refused);
    tally.swaps = blob_swaps(&blob, &other, blob_refused);
    assert_eq!(tally.swaps, 5);
    tally.print("sealed blob");

    // The store file: the current state, against an older state of the same store. It is a
    // redb database with slack (free pages, a second commit slot), so a mutation may change
    // nothing; it must never make the store load another state. Field by field tampering of
    // its records, tree nodes and sealed head is in enclave/platform/src/store/tests.rs.
    let run = |commands: &str| {
        counter
            .run(
                Input::from_bytes(commands.as_bytes().to_vec()),
                Vec::new(),
                Some(h.reporter(&counter)),
            )
            .unwrap()
    };
    let store = |platform: &Arc<Platform>, enclave: &Enclave| {
        SealedStore::new(platform.clone(), platform.identity(enclave))
    };
    run("put a 1\nput b 2");
    let path = store(h.platform(), &counter).paths().state.clone();
    let older = std::fs::read(&path).unwrap();
    run("put a 3");
    let good = std::fs::read(&path).unwrap();
    let store_refused = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        store(h.platform(), &counter).get(b"a").is_err()
    };
    let no_other_state = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        match store(h.platform(), &counter).get(b"a") {
            Ok(value) => value.as_deref().map(Vec::as_slice) == Some(&b"3"[..]),
            Err(_) => true,
        }
    };
    assert!(!store_refused(&good));
    let tally = mutate(&good, 400, no_other_state);
    assert!(
        store_refused(&older),
        "the older state (a rollback) accepted"
    );
    println!(
        "matrix: store file      {:>5} bit flips, {:>3} truncations, {} appends, 1 rollback: \
         none loaded another state",
        tally.flips, tally.truncations, tally.appends
    );
    std::fs::write(&path, &good).unwrap();
    assert_eq!(
        store(h.platform(), &counter)
            .get(b"a")
            .unwrap()
            .unwrap()
            .as_slice(),
        b"3"
    );
}

#[test]
fn attack_helpers_return_the_runtime_errors() {
    let h = Harness::new().unwrap();
    let bundle = h.sign(WORDCOUNT, &manifest()).unwrap();
    let enclave = h.load(&bundle).unwrap();
    assert!(matches!(
        attacks::tamper_bundle(&h, &bundle, bundle.len() / 2),
        Some(LoadError::Bundle(_))
    ));
    // The same length of other code under the original signature.
    let mut other = WORDCOUNT.to_vec();
    other[WORDCOUNT.len() / 2] ^= 1;
    assert!(matches!(
        attacks::swap_module(&h, &bundle, WORDCOUNT, &other),
        Some(LoadError::Bundle(attest::BundleError::ModuleMismatch))
    ));
    let old = h.attest(&enclave, &h.nonce()).unwrap();
    assert!(matches!(
        attacks::replay_report(&h, &enclave, &old, &h.nonce()),
        Some(attest::VerifyError::NonceMismatch { .. })
    ));
    let sealed = h
        .seal(
            &h.attest_and_verify(&enclave).unwrap(),
            SealTo::Measurement,
            b"x",
        )
        .unwrap();
    let debug = h
        .load(&attacks::resign(&h, WORDCOUNT, |m| m.debug = true).unwrap())
        .unwrap();
    assert!(matches!(
        attacks::run_elsewhere(&h, &debug, &sealed.bytes),
        Some(sealer::OpenError::DebugMismatch { .. })
    ));
    // Fuel decides, never the deadline: it is out of reach.
    let starved = h
        .load(
            &attacks::resign(&h, WORDCOUNT, |m| {
                m.limits.fuel = 1000;
                m.limits.timeout_ms = 600_000;
            })
            .unwrap(),
        )
        .unwrap();
    assert!(matches!(
        attacks::exhaust(&h, &starved, b"many words here"),
        Some(enclave_runtime::RunError::FuelExhausted { fuel: 1000 })
    ));
}

//! What an operator can feed an enclave (issue 33 items 1 and 4, issue 27 item 6): a guest learns
//! how its input arrived (`enclave_v1.input_source`); a manifest with `[inputs] sealed_only`
//! makes the runtime refuse plaintext on every surface; with `refuse_replays` the platform runs
//! each sealed request once within the replay window.

use std::collections::BTreeSet;

use attest::{Capability, InputPolicy, Manifest};
use enclave_runtime::{Enclave, RunError};
use enclave_tests::guests::{COUNTER, WASI_CSV, WORDCOUNT};
use enclave_tests::harness::{manifest, Harness, SealTo};

/// The counter guest's manifest (`seal`, `store`) with `inputs`.
fn counter_manifest(inputs: InputPolicy) -> Manifest {
    let mut m = manifest();
    m.capabilities = BTreeSet::from([Capability::Seal, Capability::Store]);
    m.inputs = inputs;
    m
}

fn sealed_only() -> InputPolicy {
    InputPolicy {
        sealed_only: true,
        ..InputPolicy::default()
    }
}

fn counter(h: &Harness, inputs: InputPolicy) -> Enclave {
    h.load(&h.sign(COUNTER, &counter_manifest(inputs)).unwrap())
        .unwrap()
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

#[test]
fn a_guest_learns_how_its_input_arrived() {
    let h = Harness::new().unwrap();
    let enclave = counter(&h, InputPolicy::default());
    let plain = h.run(&enclave, b"source").unwrap();
    assert_eq!(text(plain.output), "plaintext\n");

    let evidence = h.attest_and_verify(&enclave).unwrap();
    let sealed = h.seal(&evidence, SealTo::Measurement, b"source").unwrap();
    let run = h.run_sealed(&enclave, &sealed.bytes).unwrap();
    let (answer, receipt) = h.open(&sealed.context, &run.receipt, &run.output).unwrap();
    let answer = text(answer);
    let request = hex::encode(sealed.context.request_id());
    assert_eq!(receipt.claims().request_nonce, sealed.context.request_id());
    assert!(
        answer.starts_with(&format!("sealed request={request} evidence=")),
        "{answer}"
    );
    assert!(answer.ends_with(" replay-checked=false\n"), "{answer}");
}

#[test]
fn sealed_only_refuses_plaintext_and_runs_sealed() {
    let h = Harness::new().unwrap();
    let enclave = counter(&h, sealed_only());
    // The operator's plaintext never reaches the guest (or its store).
    let refused = h.run(&enclave, b"incr votes").unwrap_err();
    assert!(
        matches!(
            refused,
            enclave_tests::harness::HarnessError::Run(RunError::PlaintextRefused)
        ),
        "{refused:?}"
    );
    assert_eq!(
        RunError::PlaintextRefused.to_string(),
        "plaintext input refused: this enclave takes sealed inputs only (its manifest sets \
         inputs.sealed_only = true); seal the input to the enclave (`enclave seal`, `enclave call`)"
    );
    let out = h.confidential(&enclave, b"incr votes").unwrap();
    assert_eq!(text(out.plaintext), "votes=1\n");
}

#[test]
fn sealed_only_holds_for_wasi_guests() {
    let h = Harness::new().unwrap();
    let mut m = manifest();
    m.kind = attest::GuestKind::Wasi;
    m.inputs = sealed_only();
    let csv = h.load(&h.sign(WASI_CSV, &m).unwrap()).unwrap();
    assert!(matches!(
        h.run(&csv, b"a,b\n1,2\n"),
        Err(enclave_tests::harness::HarnessError::Run(
            RunError::PlaintextRefused
        ))
    ));
    h.confidential(&csv, b"a,b\n1,2\n").unwrap();
}

/// Runs `sealed` on `enclave` and opens the answer: its text and the store state its receipt
/// names.
fn sealed_run(
    h: &Harness,
    enclave: &Enclave,
    sealed: &enclave_tests::harness::Sealed,
) -> (String, Option<attest::StoreVersion>) {
    let run = h.run_sealed(enclave, &sealed.bytes).unwrap();
    let (answer, receipt) = h.open(&sealed.context, &run.receipt, &run.output).unwrap();
    assert_eq!(receipt.claims().store, run.claims.store);
    (text(answer), receipt.claims().store)
}

/// Issue 33 item 4: receipts bind the store's version and head, so a reset-and-replay gives
/// receipts that can be told apart from the originals.
#[test]
fn receipts_bind_the_store_state_and_a_reset_shows() {
    let h = Harness::new().unwrap();
    let enclave = counter(&h, InputPolicy::default());
    let evidence = h.attest_and_verify(&enclave).unwrap();
    let seal = |text: &[u8]| h.seal(&evidence, SealTo::Measurement, text).unwrap();
    let (yes, no, look) = (seal(b"incr yes"), seal(b"incr no"), seal(b"get yes"));
    let (answer, first) = sealed_run(&h, &enclave, &yes);
    assert_eq!(answer, "yes=1\n");
    let first = first.unwrap();
    assert_eq!(first.version, 1);
    let (_, second) = sealed_run(&h, &enclave, &no);
    let second = second.unwrap();
    assert_eq!(second.version, 2);
    assert_ne!(second.head, first.head);
    // A run that changes nothing names the same state.
    let (answer, same) = sealed_run(&h, &enclave, &look);
    assert_eq!((answer.as_str(), same), ("yes=1\n", Some(second)));

    // The operator deletes the store and its counter, then replays only the first ballot: it
    // counts again, with a receipt for version 1 whose head is not the original's.
    let paths = h.platform().home().to_path_buf();
    std::fs::remove_dir_all(paths.join("store")).unwrap();
    std::fs::remove_dir_all(paths.join("counters")).unwrap();
    let (answer, replayed) = sealed_run(&h, &enclave, &yes);
    assert_eq!(answer, "yes=1\n");
    let replayed = replayed.unwrap();
    assert_eq!(replayed.version, first.version);
    assert_ne!(
        replayed.head, first.head,
        "a reset must show in the receipt"
    );

    // A guest without the store: no store claim.
    let plain = h.load(&h.sign(WORDCOUNT, &manifest()).unwrap()).unwrap();
    let out = h.confidential(&plain, b"a b").unwrap();
    assert_eq!(out.receipt.claims().store, None);
}

fn refusing_replays() -> InputPolicy {
    InputPolicy {
        sealed_only: true,
        refuse_replays: true,
        ..InputPolicy::default()
    }
}

/// Issue 27 item 6: by default a replayed sealed input runs again (documented); an enclave that
/// refuses replays runs it once, and its guest sees that the platform checked.
#[test]
fn a_replayed_sealed_input_runs_once_when_the_enclave_refuses_replays() {
    use enclave_runtime::confidential::ConfidentialError;
    use enclave_runtime::{ReplayRefused, RequestId};

    let h = Harness::new().unwrap();
    // Without the opt-in: twice.
    let open = counter(&h, InputPolicy::default());
    let evidence = h.attest_and_verify(&open).unwrap();
    let ballot = h
        .seal(&evidence, SealTo::Measurement, b"incr votes")
        .unwrap();
    assert_eq!(sealed_run(&h, &open, &ballot).0, "votes=1\n");
    assert_eq!(sealed_run(&h, &open, &ballot).0, "votes=2\n");

    // With it: once; the replay is refused before anything runs.
    let h = Harness::new().unwrap();
    let strict = counter(&h, refusing_replays());
    let evidence = h.attest_and_verify(&strict).unwrap();
    let seal = |text: &[u8]| h.seal(&evidence, SealTo::Measurement, text).unwrap();
    let ballot = seal(b"incr votes");
    assert_eq!(sealed_run(&h, &strict, &ballot).0, "votes=1\n");
    match h.run_sealed(&strict, &ballot.bytes) {
        Err(ConfidentialError::Replayed(ReplayRefused::Replayed { request, .. })) => {
            assert_eq!(request, RequestId(ballot.context.request_id()))
        }
        other => panic!("expected a replay refusal, got {other:?}"),
    }
    assert_eq!(sealed_run(&h, &strict, &seal(b"get votes")).0, "votes=1\n");
    let (source, _) = sealed_run(&h, &strict, &seal(b"source"));
    assert!(source.ends_with(" replay-checked=true\n"), "{source}");
}

/// Concurrent copies of one sealed request are the normal case for a server: exactly one runs.
#[test]
fn concurrent_copies_of_a_request_run_once() {
    use enclave_runtime::confidential::ConfidentialError;

    let h = Harness::new().unwrap();
    let strict = counter(&h, refusing_replays());
    let evidence = h.attest_and_verify(&strict).unwrap();
    let ballot = h
        .seal(&evidence, SealTo::Measurement, b"incr votes")
        .unwrap();
    let results: Vec<_> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| h.run_sealed(&strict, &ballot.bytes)))
            .collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });
    let ran = results.iter().filter(|r| r.is_ok()).count();
    let refused = results
        .iter()
        .filter(|r| matches!(r, Err(ConfidentialError::Replayed(_))))
        .count();
    assert_eq!((ran, refused), (1, 3));
    let check = h
        .seal(&evidence, SealTo::Measurement, b"get votes")
        .unwrap();
    assert_eq!(sealed_run(&h, &strict, &check).0, "votes=1\n");
}

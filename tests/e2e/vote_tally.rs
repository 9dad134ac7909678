//! The private vote tally (`guests/vote-tally`) as a security engineer tests it, through
//! `enclave_tests::harness` only — as a workload's own crate would, each attack one call:
//! correctness (sealed ballots, the tally in the sealed store, one vote per voter id), what the
//! operator sees, plaintext from the operator, tampering (fixed and proptest mutations), replay,
//! rollback and reset of the store (and the store version receipts bind), a fault between store
//! operations, the host paths a failure may not carry, other platforms of the fleet, a debug
//! build, stale evidence, and the served enclave over HTTP and attested TLS.

use std::sync::Arc;
use std::time::Duration;

use enclave_tests::guests::VOTE_TALLY;
use enclave_tests::harness::clock::FixedClock;
use enclave_tests::harness::mutations::proptest::prelude::*;
use enclave_tests::harness::serve::ServeConfig;
use enclave_tests::harness::store::store_error;
use enclave_tests::harness::{
    attacks, faults, manifest, mutations, Answer, Capability, ClientError, ConfidentialError,
    Enclave, Exchange, Flow, Harness, HarnessError, OpenError, Outcome, ReplayRefused, RunError,
    SealTo, StoreError, StoreVersion, VerifyError,
};

/// What the operator of a production enclave reads of a guest's refusal (the receipt's failure
/// message, the run's error).
const WITHHELD: &str =
    "guest aborted: <message withheld: a production enclave's words go only to the requester, sealed>";

/// The tally's manifest: production, sealed inputs only, the sealed store and the (debug-only)
/// log granted.
fn ballot_box(h: &Harness) -> Enclave {
    let mut m = manifest();
    m.capabilities.extend([Capability::Store, Capability::Log]);
    m.inputs.sealed_only = true;
    h.load(&h.sign(VOTE_TALLY, &m).unwrap()).unwrap()
}

/// A voter casts a sealed ballot.
fn vote(h: &Harness, enclave: &Enclave, voter: &str, choice: &str) -> Exchange {
    let ballot = format!("vote {voter} {choice}");
    h.exchange(enclave, ballot.as_bytes(), &Flow::new())
        .unwrap()
}

/// The election authority asks for the tally, sealed.
fn tally(h: &Harness, enclave: &Enclave) -> String {
    String::from_utf8(h.confidential(enclave, b"tally").unwrap().plaintext).unwrap()
}

/// The ballot was counted.
fn recorded(exchange: &Exchange) {
    assert_eq!(exchange.output().unwrap(), b"recorded\n");
}

/// The report a refused run's requester opens.
fn refused(exchange: &Exchange) -> &str {
    match &exchange.answer {
        Answer::Refused { report, .. } => report,
        Answer::Output(out) => panic!("ran: {}", String::from_utf8_lossy(out)),
    }
}

#[test]
fn ballots_are_counted_once_per_voter() {
    let h = Harness::new().unwrap();
    let enclave = ballot_box(&h);
    recorded(&vote(&h, &enclave, "alice", "yes"));
    recorded(&vote(&h, &enclave, "bob", "no"));
    recorded(&vote(&h, &enclave, "carol", "yes"));
    let again = vote(&h, &enclave, "alice", "no");
    assert_eq!(
        refused(&again),
        "guest aborted: voter alice has already voted"
    );
    // The receipt says the run failed; the operator's account of it has no words of the guest.
    assert!(matches!(
        &again.receipt.claims().outcome,
        Outcome::Failed { message } if message == WITHHELD
    ));
    assert_eq!(tally(&h, &enclave), "no=1\nyes=2\nvoters=3\n");
    assert_eq!(h.store_version(&enclave).unwrap(), 3);
}

#[test]
fn the_operator_sees_no_ballot() {
    let h = Harness::new().unwrap();
    let enclave = ballot_box(&h);
    let ballots = [("alice", "yes"), ("bob", "no"), ("alice", "no")];
    let exchanges: Vec<Exchange> = ballots
        .iter()
        .map(|(voter, choice)| vote(&h, &enclave, voter, choice))
        .collect();
    let counted = h.confidential(&enclave, b"tally").unwrap();
    let mut view = counted.operator_view(&h);
    for exchange in &exchanges {
        view = view.merge(exchange.operator_view(&h));
    }
    // Each ballot as sent, and as the ballot box records it; the report of the refused one.
    view.assert_no_secrets(&[
        b"vote alice yes",
        b"vote bob no",
        b"vote alice no",
        b"alice yes",
        b"bob no",
        b"already voted",
        &counted.plaintext,
    ]);
}

#[test]
fn a_tampered_ballot_or_receipt_is_refused() {
    let h = Harness::new().unwrap();
    let enclave = ballot_box(&h);
    let sealed = h.attest_and_verify(&enclave).unwrap();
    let ballot = h
        .seal(
            &sealed,
            enclave_tests::harness::SealTo::Measurement,
            b"vote dave yes",
        )
        .unwrap();
    mutations::assert_refused(&ballot.bytes, 48, |bytes| {
        matches!(
            h.run_sealed(&enclave, bytes),
            Err(ConfidentialError::Input(_))
        )
    });
    // None of them was counted.
    assert_eq!(tally(&h, &enclave), "no=0\nyes=0\nvoters=0\n");
    let cast = vote(&h, &enclave, "erin", "no");
    mutations::assert_refused(&cast.receipt_bytes, 48, |receipt| {
        h.open(&cast.context, receipt, &cast.sealed_answer).is_err()
    });
}

#[test]
fn a_replayed_ballot_counts_once() {
    let h = Harness::new().unwrap();
    let enclave = ballot_box(&h);
    let alice = vote(&h, &enclave, "alice", "yes");
    for replay in attacks::replay(&h, &enclave, &alice.sealed_input, 3) {
        match replay {
            Err(HarnessError::Confidential(ConfidentialError::Guest { error, .. })) => {
                assert_eq!(error.to_string(), WITHHELD);
            }
            other => panic!("a replay ran: {other:?}"),
        }
    }
    assert_eq!(tally(&h, &enclave), "no=0\nyes=1\nvoters=1\n");
}

#[test]
fn a_ballot_box_that_refuses_replays_runs_a_ballot_once_even_after_a_reset() {
    let h = Harness::new().unwrap();
    let enclave =
        attacks::variant(&h, &ballot_box(&h), |m| m.inputs.refuse_replays = true).unwrap();
    let alice = vote(&h, &enclave, "alice", "yes");
    recorded(&alice);
    let replayed = |result: &Result<_, HarnessError>| {
        matches!(
            result,
            Err(HarnessError::Confidential(ConfidentialError::Replayed(
                ReplayRefused::Replayed { .. }
            )))
        )
    };
    // The platform refuses the replay before the guest runs.
    assert!(attacks::replay(&h, &enclave, &alice.sealed_input, 2)
        .iter()
        .all(replayed));
    // A reset store does not make the platform forget the request within its window.
    let replays = attacks::reset_and_replay(&h, &enclave, &[&alice.sealed_input]).unwrap();
    assert!(replays.iter().all(replayed), "{replays:?}");
    assert_eq!(tally(&h, &enclave), "no=0\nyes=0\nvoters=0\n");
}

#[test]
fn a_rolled_back_ballot_box_is_refused() {
    let h = Harness::new().unwrap();
    let enclave = ballot_box(&h);
    recorded(&vote(&h, &enclave, "alice", "yes"));
    let after_alice = h.store_snapshot(&enclave).unwrap();
    recorded(&vote(&h, &enclave, "bob", "no"));
    recorded(&vote(&h, &enclave, "carol", "no"));
    // The operator puts the state of one vote back; the platform counter says three.
    let error = attacks::rollback(&h, &enclave, &after_alice, b"tally")
        .unwrap()
        .expect("a rolled-back store ran");
    assert_eq!(
        store_error(&error),
        Some(&StoreError::RolledBack {
            state: 1,
            counter: 3
        })
    );
}

/// The limit of a simulator (`docs/threat-model.md`): its monotonic counter is a file the operator
/// can delete or put back with the state. Deleting both and replaying only chosen ballots turns
/// the result, and every receipt still verifies; but each receipt binds the store's version and
/// head, so two receipts for one version with different heads show the fork.
#[test]
fn a_reset_ballot_box_replayed_selectively_turns_the_result_and_the_receipts_show_it() {
    let h = Harness::new().unwrap();
    let enclave = ballot_box(&h);
    let empty = h.store_snapshot(&enclave).unwrap();
    let ballots: Vec<Exchange> = [("alice", "yes"), ("bob", "yes"), ("carol", "no")]
        .iter()
        .map(|(voter, choice)| vote(&h, &enclave, voter, choice))
        .collect();
    assert_eq!(tally(&h, &enclave), "no=1\nyes=2\nvoters=3\n");
    assert_eq!(h.store_version(&enclave).unwrap(), 3);
    let alices = store_of(&ballots[0]);
    assert_eq!(alices.version, 1);

    // Reset and replay only carol's ballot (the operator cannot read ballots, but can try
    // subsets until the published tally turns).
    let replays = attacks::reset_and_replay(&h, &enclave, &[&ballots[2].sealed_input]).unwrap();
    let carols = replays[0].as_ref().unwrap().receipt.claims().store.unwrap();
    assert_eq!(tally(&h, &enclave), "no=1\nyes=0\nvoters=1\n");
    // The store starts again at version 1, the version alice's ballot produced, with another head.
    assert_eq!(h.store_version(&enclave).unwrap(), 1);
    assert_eq!(carols.version, alices.version);
    assert_ne!(carols.head, alices.head);

    // The same through a full snapshot of the empty box.
    let replays =
        attacks::rollback_and_replay(&h, &enclave, &empty, &[&ballots[0].sealed_input]).unwrap();
    let alices_again = replays[0].as_ref().unwrap().receipt.claims().store.unwrap();
    assert_eq!(tally(&h, &enclave), "no=0\nyes=1\nvoters=1\n");
    assert_eq!(alices_again.version, 1);
    assert_ne!(alices_again.head, alices.head);
    // Every receipt, old and replayed, still verifies against the vendor root.
    for exchange in &ballots {
        h.open(
            &exchange.context,
            &exchange.receipt_bytes,
            &exchange.sealed_answer,
        )
        .unwrap();
    }
}

/// The store version a ballot's receipt binds.
fn store_of(exchange: &Exchange) -> StoreVersion {
    exchange
        .receipt
        .claims()
        .store
        .expect("a store-holding run's receipt names the store")
}

#[test]
fn a_store_fault_between_operations_loses_or_counts_the_whole_ballot() {
    let h = Harness::new().unwrap();
    let enclave = ballot_box(&h);
    recorded(&vote(&h, &enclave, "alice", "yes"));
    let bob = h
        .seal(
            &h.attest_and_verify(&enclave).unwrap(),
            SealTo::Measurement,
            b"vote bob no",
        )
        .unwrap();
    // `vote` reads the box (store call 1) and writes it (store call 2).
    for fail_at in 1..=2 {
        let (result, calls) = h.run_sealed_with_store_fault(&enclave, &bob.bytes, fail_at);
        assert_eq!(calls, fail_at);
        let Err(ConfidentialError::Guest { error, .. }) = result else {
            panic!("fault {fail_at} did not fail the run: {result:?}");
        };
        assert_eq!(
            faults::injected(&error),
            Some(&faults::InjectedFault { call: fail_at })
        );
        assert_eq!(tally(&h, &enclave), "no=0\nyes=1\nvoters=1\n");
    }
    // The same sealed ballot, retried, counts once.
    h.replay(&enclave, &bob.bytes).unwrap();
    assert_eq!(tally(&h, &enclave), "no=1\nyes=1\nvoters=2\n");
}

#[test]
fn the_operator_cannot_stuff_the_ballot_box() {
    let h = Harness::new().unwrap();
    let enclave = ballot_box(&h);
    // The runtime refuses plaintext for a sealed-only enclave before the guest runs.
    assert!(matches!(
        h.run(&enclave, b"vote mallory yes"),
        Err(HarnessError::Run(RunError::PlaintextRefused))
    ));
    // A build signed without `sealed_only`: the guest itself refuses what the operator typed.
    let open = attacks::variant(&h, &enclave, |m| m.inputs.sealed_only = false).unwrap();
    let error = attacks::exhaust(&h, &open, b"vote mallory yes").unwrap();
    assert_eq!(
        error.to_requester_string(),
        "guest aborted: commands must arrive sealed"
    );
    recorded(&vote(&h, &open, "alice", "yes"));
    assert_eq!(tally(&h, &open), "no=0\nyes=1\nvoters=1\n");
}

#[test]
fn another_platform_of_the_fleet_cannot_count_a_ballot() {
    let h = Harness::new().unwrap();
    let enclave = ballot_box(&h);
    let alice = vote(&h, &enclave, "alice", "yes");
    let bundle = h.sign(VOTE_TALLY, enclave.bundle().manifest()).unwrap();
    for other in h.fleet(2).unwrap() {
        let there = other.load(&bundle).unwrap();
        assert_eq!(there.measurement(), enclave.measurement());
        assert!(matches!(
            attacks::run_elsewhere(&other, &there, &alice.sealed_input),
            Some(OpenError::PlatformMismatch { .. })
        ));
        // The same root vouches for every platform; each has its own ballot box.
        assert_eq!(other.root(), h.root());
        recorded(&vote(&other, &there, "bob", "no"));
        assert_eq!(tally(&other, &there), "no=1\nyes=0\nvoters=1\n");
    }
    assert_eq!(tally(&h, &enclave), "no=0\nyes=1\nvoters=1\n");
}

#[test]
fn a_debug_build_is_refused_and_would_give_ballots_away() {
    let h = Harness::new().unwrap();
    let enclave = ballot_box(&h);
    let debug = attacks::variant(&h, &enclave, |m| m.debug = true).unwrap();
    assert_eq!(
        debug.bundle().manifest().capabilities,
        enclave.bundle().manifest().capabilities
    );
    // A voter's verifier refuses it; a production ballot does not open in it.
    assert!(matches!(
        h.attest_and_verify(&debug),
        Err(HarnessError::Verify(VerifyError::DebugNotAllowed))
    ));
    let alice = vote(&h, &enclave, "alice", "yes");
    assert!(matches!(
        attacks::run_elsewhere(&h, &debug, &alice.sealed_input),
        Some(OpenError::DebugMismatch { .. })
    ));
    // A voter who opts in to debug evidence hands the operator the ballot: the debug log.
    let exposed = h
        .exchange(&debug, b"vote bob no", &Flow::new().debug())
        .unwrap();
    recorded(&exposed);
    let leaks = exposed.operator_view(&h).find(b"bob no");
    assert_eq!(
        leaks.iter().map(|l| l.what.as_str()).collect::<Vec<_>>(),
        ["debug log"]
    );
    // The debug build has its own (debug) store: the production tally is untouched.
    h.attest_and_verify_debug(&debug).unwrap();
    let debug_tally = h.confidential_debug(&debug, b"tally").unwrap();
    assert_eq!(debug_tally.plaintext, b"no=1\nyes=0\nvoters=1\n");
    assert_eq!(tally(&h, &enclave), "no=0\nyes=1\nvoters=1\n");
}

#[test]
fn stale_evidence_is_refused() {
    let h = Harness::new().unwrap();
    let enclave = ballot_box(&h);
    assert_eq!(
        attacks::stale_evidence(&h, &enclave, Duration::from_secs(3600)),
        Some(VerifyError::Stale {
            age_secs: 3600,
            max_age_secs: 300
        })
    );
    assert_eq!(
        attacks::stale_evidence(&h, &enclave, Duration::from_secs(10)),
        None
    );
    // A receipt carries its issue time; the verifier's clock is an argument.
    let receipt = h.confidential(&enclave, b"tally").unwrap().receipt_bytes;
    let clock = FixedClock::now_stopped();
    h.verify_receipt_at(&receipt, &clock).unwrap();
    clock.advance(Duration::from_secs(20 * 365 * 24 * 3600));
    assert_eq!(
        h.verify_receipt_at(&receipt, &clock).unwrap_err(),
        VerifyError::CertificateExpired
    );
}

#[test]
fn the_served_tally_counts_once_and_shows_the_operator_nothing() {
    let h = Harness::new().unwrap();
    let enclave = Arc::new(ballot_box(&h));
    let config = ServeConfig {
        workers: 1,
        ..ServeConfig::default()
    };
    let served = h.serve(enclave, config).unwrap();
    let client = served.client().unwrap();
    let alice = client.call(b"vote alice yes").unwrap();
    assert_eq!(alice.output.as_slice(), b"recorded\n");
    match client.call(b"vote alice no") {
        Err(ClientError::GuestFailed { report, .. }) => {
            assert_eq!(report, "guest aborted: voter alice has already voted");
        }
        other => panic!("a second vote was not refused: {other:?}"),
    }
    let counted = client.call(b"tally").unwrap();
    assert_eq!(counted.output.as_slice(), b"no=0\nyes=1\nvoters=1\n");
    // The operator's network saw the sealed request and the sealed answer go by.
    let view = served.operator_view(&h);
    let wire = view.get("network").unwrap();
    assert!(wire
        .windows(alice.sealed_output.len())
        .any(|w| w == alice.sealed_output.as_slice()));
    assert!(served.logs().contains("POST"), "{}", served.logs());
    view.assert_no_secrets(&[b"vote alice yes", b"alice yes", b"already voted", b"yes=1"]);
    served.stop().unwrap();
}

#[test]
fn a_tampered_ballot_box_fails_the_run_without_a_host_path() {
    let h = Harness::new().unwrap();
    let enclave = ballot_box(&h);
    recorded(&vote(&h, &enclave, "alice", "yes"));
    let state = h.store_paths(&enclave).state;
    // Not every byte of the database file matters (free pages); its header does.
    let sealed = std::fs::read(&state).unwrap();
    std::fs::write(&state, attacks::flip(&sealed, 0, 0)).unwrap();
    let x = h.exchange(&enclave, b"tally", &Flow::new()).unwrap();
    let Answer::Refused { error, report, .. } = &x.answer else {
        panic!("a tampered store ran: {:?}", x.answer);
    };
    assert!(store_error(error).is_some(), "{error}");
    // What reaches the requester names no file of the operator's machine.
    let home = h.platform().home().to_str().unwrap();
    enclave_tests::harness::OperatorView::new()
        .with_text("report", report)
        .with("receipt", &x.receipt_bytes)
        .with_text("receipt claims", &format!("{:?}", x.receipt.claims()))
        .assert_no_secret(home.as_bytes());
}

#[test]
fn the_tally_is_served_over_attested_tls() {
    let h = Harness::new().unwrap();
    let config = ServeConfig {
        workers: 1,
        tls: true,
        ..ServeConfig::default()
    };
    let served = h.serve(Arc::new(ballot_box(&h)), config).unwrap();
    assert!(served.url().starts_with("https://"), "{}", served.url());
    let client = served.client().unwrap();
    assert_eq!(
        client.call(b"vote alice no").unwrap().output.as_slice(),
        b"recorded\n"
    );
    assert_eq!(
        client.call(b"tally").unwrap().output.as_slice(),
        b"no=1\nyes=0\nvoters=1\n"
    );
    served.stop().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any mutation of a sealed ballot (shrunk to the smallest on failure) is refused before
    /// anything is counted.
    #[test]
    fn no_mutated_ballot_is_counted(m in mutations::mutation(BALLOT.2.len())) {
        let (h, enclave, ballot) = &*BALLOT;
        let result = h.run_sealed(enclave, &m.apply(ballot));
        prop_assert!(matches!(result, Err(ConfidentialError::Input(_))), "{:?} ran", m);
    }
}

/// One ballot box and a sealed ballot for it, shared by the property's cases.
static BALLOT: std::sync::LazyLock<(Harness, Enclave, Vec<u8>)> = std::sync::LazyLock::new(|| {
    let h = Harness::new().unwrap();
    let enclave = ballot_box(&h);
    let evidence = h.attest_and_verify(&enclave).unwrap();
    let ballot = h
        .seal(&evidence, SealTo::Measurement, b"vote dave yes")
        .unwrap();
    (h, enclave, ballot.bytes)
});

//! Sealing and the persistent sealed store, through the real `counter` guest: key policies and
//! the svn upgrade rule, other platforms, tampering, rollback, and kill -9 during updates.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use attest::{Capability, Manifest, Svn};
use enclave_platform::store::{SealedStore, StoreError};
use enclave_platform::{Platform, PlatformReporter};
use enclave_runtime::{
    Enclave, GuestFault, Input, ReportIssuer, RunError, SealPolicy, ServiceRefused,
};
use enclave_tests::guests::COUNTER;
use enclave_tests::harness::{attacks, manifest, Harness};

/// The counter guest's manifest at `svn`, with `seal` and `store`.
fn counter_manifest(svn: u16) -> Manifest {
    let mut m = manifest();
    m.svn = Svn(svn);
    m.capabilities = BTreeSet::from([Capability::Seal, Capability::Store]);
    m
}

fn counter(h: &Harness, svn: u16) -> Enclave {
    h.load(&h.sign(COUNTER, &counter_manifest(svn)).unwrap())
        .unwrap()
}

/// Runs the counter guest on `commands`; its answers, one per line.
fn run(h: &Harness, enclave: &Enclave, commands: &str) -> Result<Vec<String>, RunError> {
    let report = enclave.run(
        Input::from_bytes(commands.as_bytes().to_vec()),
        Vec::new(),
        Some(h.reporter(enclave)),
    )?;
    Ok(String::from_utf8(report.output)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect())
}

fn one(h: &Harness, enclave: &Enclave, command: &str) -> String {
    let mut lines = run(h, enclave, command).unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines.remove(0)
}

fn store_of(platform: &Arc<Platform>, enclave: &Enclave) -> SealedStore {
    SealedStore::new(platform.clone(), platform.identity(enclave))
}

fn store_error(result: Result<Vec<String>, RunError>) -> StoreError {
    match result {
        Err(RunError::Fault(GuestFault::Store(e))) => {
            e.downcast_ref::<StoreError>().unwrap().clone()
        }
        other => panic!("expected a store fault, got {other:?}"),
    }
}

#[test]
fn sealed_blobs_round_trip_under_each_policy() {
    let h = Harness::new().unwrap();
    let enclave = counter(&h, 3);
    for policy in ["measurement", "signer", "signer:1", "signer:3"] {
        let blob = one(&h, &enclave, &format!("seal {policy} hello {policy}"));
        assert_eq!(
            one(&h, &enclave, &format!("unseal {blob}")),
            format!("aad=counter guest, plaintext=hello {policy}")
        );
    }
    // An enclave may not seal for a version newer than its own.
    assert_eq!(
        one(&h, &enclave, "seal signer:4 x"),
        "error: seal: key policy refused"
    );
}

/// The SDK's `seal_at`, `tcb_level` and `sealed_blob_tcb` through a real guest on a platform at
/// TCB 2 (the migration across a restore to TCB 1 is `enclave/cli/tests/storage.rs`).
#[test]
fn a_guest_sees_the_tcb_level_and_seals_at_an_older_one() {
    let h = Harness::with_tcb(2).unwrap();
    let enclave = counter(&h, 1);
    assert_eq!(one(&h, &enclave, "tcb"), "tcb=2");
    let current = one(&h, &enclave, "seal signer now");
    assert_eq!(one(&h, &enclave, &format!("blob-tcb {current}")), "tcb=2");
    for level in 0..=2 {
        let blob = one(&h, &enclave, &format!("seal-at {level} signer at {level}"));
        assert_eq!(
            one(&h, &enclave, &format!("blob-tcb {blob}")),
            format!("tcb={level}")
        );
        assert_eq!(
            one(&h, &enclave, &format!("unseal {blob}")),
            format!("aad=counter guest, plaintext=at {level}")
        );
    }
    assert_eq!(
        one(&h, &enclave, "seal-at 3 signer x"),
        "error: seal-at: key policy refused"
    );
    assert_eq!(
        one(&h, &enclave, &format!("blob-tcb {}", &current[..26])),
        "error: blob-tcb: not a sealed blob (version 2)"
    );
}

#[test]
fn an_upgrade_reads_its_predecessors_data_never_the_reverse() {
    let h = Harness::new().unwrap();
    let (v1, v2) = (counter(&h, 1), counter(&h, 2));
    let old = one(&h, &v1, "seal signer from v1");
    assert_eq!(
        one(&h, &v2, &format!("unseal {old}")),
        "aad=counter guest, plaintext=from v1"
    );
    let new = one(&h, &v2, "seal signer from v2");
    assert_eq!(
        one(&h, &v1, &format!("unseal {new}")),
        "error: unseal: key policy refused"
    );
    // v2 can still seal for v1 on purpose.
    let shared = one(&h, &v2, "seal signer:1 for v1");
    assert_eq!(
        one(&h, &v1, &format!("unseal {shared}")),
        "aad=counter guest, plaintext=for v1"
    );
}

#[test]
fn the_measurement_policy_refuses_any_other_module() {
    let h = Harness::new().unwrap();
    let enclave = counter(&h, 1);
    let blob = one(&h, &enclave, "seal measurement mine");
    // Same module and signer, another manifest: another measurement.
    let other = h
        .load(
            &attacks::resign(&h, COUNTER, |m| {
                m.capabilities = counter_manifest(1).capabilities;
                m.limits.fuel -= 1;
            })
            .unwrap(),
        )
        .unwrap();
    assert_ne!(other.measurement(), enclave.measurement());
    assert_eq!(
        one(&h, &other, &format!("unseal {blob}")),
        "error: unseal: key policy refused"
    );
    // And a debug build of the same enclave derives other keys, whatever the policy.
    let debug = h
        .load(
            &h.sign(COUNTER, &{
                let mut m = counter_manifest(1);
                m.debug = true;
                m
            })
            .unwrap(),
        )
        .unwrap();
    let signer_blob = one(&h, &enclave, "seal signer mine");
    assert_eq!(
        one(&h, &debug, &format!("unseal {signer_blob}")),
        "error: unseal: key policy refused"
    );
}

#[test]
fn another_platform_cannot_unseal() {
    let (h, other) = (Harness::new().unwrap(), Harness::new().unwrap());
    let bundle = h.sign(COUNTER, &counter_manifest(1)).unwrap();
    let enclave = h.load(&bundle).unwrap();
    let blob = one(&h, &enclave, "seal signer secret");
    let elsewhere = Enclave::load(&bundle, enclave_runtime::Signers::Any).unwrap();
    assert_eq!(
        one(&other, &elsewhere, &format!("unseal {blob}")),
        "error: unseal: operation failed"
    );
}

#[test]
fn every_flipped_bit_of_a_sealed_blob_is_refused() {
    let h = Harness::new().unwrap();
    let enclave = counter(&h, 1);
    let services = h.reporter(&enclave);
    let blob = services
        .seal(SealPolicy::Signer, b"additional data", b"plaintext")
        .unwrap();
    let opened = services.unseal(&blob).unwrap();
    assert_eq!(
        (opened.aad.as_slice(), opened.plaintext.as_slice()),
        (&b"additional data"[..], &b"plaintext"[..])
    );
    for i in 0..blob.len() {
        for bit in 0..8 {
            let refused = services.unseal(&attacks::flip(&blob, i, bit));
            assert!(
                matches!(
                    refused,
                    Err(ServiceRefused::Failed | ServiceRefused::Policy)
                ),
                "byte {i} bit {bit}"
            );
        }
    }
    for len in 0..blob.len() {
        assert!(services.unseal(&attacks::truncate(&blob, len)).is_err());
    }
    assert!(services.unseal(&attacks::append(&blob, b"x")).is_err());
}

#[test]
fn the_store_persists_across_runs() {
    let h = Harness::new().unwrap();
    let enclave = counter(&h, 1);
    for n in 1..=3 {
        assert_eq!(one(&h, &enclave, "incr visits"), format!("visits={n}"));
    }
    assert_eq!(
        run(
            &h,
            &enclave,
            "put colour blue\nget colour\ndel colour\nget colour\ndel colour"
        )
        .unwrap(),
        [
            "ok",
            "colour=blue",
            "deleted",
            "colour not found",
            "colour not found"
        ]
    );
    // A fresh load of the same bundle, and the store state as the host sees it.
    let again = counter(&h, 1);
    assert_eq!(one(&h, &again, "get visits"), "visits=3");
    let mut store = store_of(h.platform(), &enclave);
    let state = store.load().unwrap();
    assert_eq!(state.version, 5);
    assert_eq!(state.entries.len(), 1);
}

#[test]
fn the_store_follows_upgrades_and_refuses_downgrades() {
    let h = Harness::new().unwrap();
    let (v1, v2) = (counter(&h, 1), counter(&h, 2));
    assert_eq!(one(&h, &v1, "incr n"), "n=1");
    assert_eq!(one(&h, &v2, "incr n"), "n=2");
    let error = store_error(run(&h, &v1, "get n"));
    assert!(
        error
            .to_string()
            .contains("sealed to svn 2, enclave is svn 1"),
        "{error}"
    );
    // Another product of the same signer has a store of its own.
    let other = h
        .load(
            &attacks::resign(&h, COUNTER, |m| {
                m.capabilities = counter_manifest(1).capabilities;
                m.product_id = attest::ProductId(2);
            })
            .unwrap(),
        )
        .unwrap();
    assert_eq!(one(&h, &other, "get n"), "n not found");
}

/// The store file is a redb database with slack (free pages, a second commit slot), so a flipped
/// bit there changes nothing; what must never happen is a flip that makes the store load a
/// different state. (Each authenticated byte — record, tree node, sealed head — is flipped bit
/// by bit in `enclave/platform/src/store/tests.rs`.) One bit per sampled byte, across the whole file.
#[test]
fn no_flipped_bit_of_the_store_file_yields_another_state() {
    let h = Harness::new().unwrap();
    let enclave = counter(&h, 1);
    run(&h, &enclave, "put a 1\nput b 2\nput a 3").unwrap();
    let mut store = store_of(h.platform(), &enclave);
    let path = store.paths().state.clone();
    let good = std::fs::read(&path).unwrap();
    let mut refused = 0;
    for i in attacks::positions(good.len(), 500) {
        std::fs::write(&path, attacks::flip(&good, i, (i % 8) as u8)).unwrap();
        let mut fresh = store_of(h.platform(), &enclave);
        match (fresh.get(b"a"), fresh.get(b"b")) {
            (Ok(Some(a)), Ok(Some(b))) => assert_eq!(
                (a.as_slice(), b.as_slice()),
                (&b"3"[..], &b"2"[..]),
                "byte {i}"
            ),
            (Ok(None), _) | (_, Ok(None)) => panic!("byte {i}: an entry vanished"),
            _ => refused += 1,
        }
    }
    assert!(refused > 0, "no flip was refused");
    std::fs::write(&path, &good).unwrap();
    assert_eq!(store.get(b"b").unwrap().unwrap().as_slice(), b"2");
}

#[test]
fn a_rolled_back_store_is_refused() {
    let h = Harness::new().unwrap();
    let enclave = counter(&h, 1);
    run(&h, &enclave, "incr n\nincr n").unwrap();
    let store = store_of(h.platform(), &enclave);
    let paths = store.paths().clone();
    let old_state = std::fs::read(&paths.state).unwrap();
    let old_counter = std::fs::read(&paths.counter).unwrap();
    run(&h, &enclave, "incr n\nincr n").unwrap();

    // The operator puts the old state back.
    let new_state = std::fs::read(&paths.state).unwrap();
    std::fs::write(&paths.state, &old_state).unwrap();
    let error = store_error(run(&h, &enclave, "get n"));
    assert_eq!(
        error,
        StoreError::RolledBack {
            state: 2,
            counter: 4
        }
    );
    assert_eq!(
        error.to_string(),
        "sealed state version 2 is older than the platform counter 4: rolled back"
    );
    // The counter rolled back instead.
    std::fs::write(&paths.state, &new_state).unwrap();
    std::fs::write(&paths.counter, &old_counter).unwrap();
    assert_eq!(
        store_error(run(&h, &enclave, "get n")),
        StoreError::AheadOfCounter {
            state: 4,
            counter: 2
        }
    );
    // The state deleted.
    std::fs::write(&paths.counter, b"4\n").unwrap();
    std::fs::remove_file(&paths.state).unwrap();
    assert_eq!(
        store_error(run(&h, &enclave, "get n")),
        StoreError::Missing { counter: 4 }
    );
    // A crash between the state write and the counter bump: the state is one ahead, and the
    // next load finishes the bump.
    std::fs::write(&paths.state, &new_state).unwrap();
    std::fs::write(&paths.counter, b"3\n").unwrap();
    assert_eq!(one(&h, &enclave, "get n"), "n=4");
    assert_eq!(std::fs::read(&paths.counter).unwrap(), b"4\n");
}

#[test]
fn another_platform_refuses_the_store() {
    let (h, other) = (Harness::new().unwrap(), Harness::new().unwrap());
    let bundle = h.sign(COUNTER, &counter_manifest(1)).unwrap();
    let enclave = h.load(&bundle).unwrap();
    run(&h, &enclave, "incr n").unwrap();
    let elsewhere = Enclave::load(&bundle, enclave_runtime::Signers::Any).unwrap();
    // Copy the store and its counter to the other platform's home, where they land at the same
    // paths (the store id depends on the signer, product and debug bit only).
    let (from, to) = (
        store_of(h.platform(), &enclave).paths().clone(),
        store_of(other.platform(), &elsewhere).paths().clone(),
    );
    std::fs::create_dir_all(&to.dir).unwrap();
    std::fs::create_dir_all(to.counter.parent().unwrap()).unwrap();
    std::fs::copy(&from.state, &to.state).unwrap();
    std::fs::copy(&from.counter, &to.counter).unwrap();
    let error = store_error(run(&other, &elsewhere, "get n"));
    assert!(error.to_string().contains("decryption failed"), "{error}");
}

#[test]
fn store_and_seal_need_their_capabilities() {
    let h = Harness::new().unwrap();
    let error = h.load(&h.sign(COUNTER, &manifest()).unwrap()).unwrap_err();
    let text = error.to_string();
    for function in ["seal", "unseal", "store_get", "store_put", "store_delete"] {
        assert!(
            text.contains(&format!("enclave_v1.{function}: capability")),
            "{text}"
        );
    }
}

/// Set in the child process of the kill -9 test: the directory with its platform and bundle.
const CRASH_CHILD: &str = "ENCLAVE_STORE_CRASH_CHILD";
/// Updates the child attempts per round.
const UPDATES: usize = 1_000;

/// The child of [`kill_9_never_loses_an_acknowledged_update`]: runs the counter guest on 1,000
/// `incr n` commands, its output going straight to standard output, one acknowledged value per
/// line. Does nothing unless started by that test.
#[test]
#[ignore = "run as a child process by kill_9_never_loses_an_acknowledged_update"]
fn crash_child() {
    let Some(dir) = std::env::var_os(CRASH_CHILD).map(PathBuf::from) else {
        return;
    };
    let (enclave, services) = load_child(&dir);
    let input = "incr n\n".repeat(UPDATES);
    enclave
        .run(
            Input::from_bytes(input.into_bytes()),
            std::io::stdout(),
            Some(services),
        )
        .unwrap();
}

/// What a child process of the tests below runs: the counter bundle in `dir` on the platform
/// there, with its services.
fn load_child(dir: &Path) -> (Enclave, Arc<dyn ReportIssuer>) {
    let platform = Arc::new(Platform::open(&dir.join("platform")).unwrap());
    let enclave = Enclave::load(
        &std::fs::read(dir.join("counter.enclave")).unwrap(),
        enclave_runtime::Signers::Any,
    )
    .unwrap();
    let services: Arc<dyn ReportIssuer> =
        Arc::new(PlatformReporter::new(platform, &enclave, SystemTime::now));
    (enclave, services)
}

/// A random number below `bound`, from the standard library's randomly keyed hasher.
fn random_below(bound: u64) -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u64(bound);
    hasher.finish() % bound.max(1)
}

/// Starts the child, lets it acknowledge a random number of updates, waits a random fraction of
/// a millisecond or more, and kills it with SIGKILL. Returns the last value it acknowledged.
fn crash_round(dir: &Path, wait_for: u64) -> Option<u64> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "storage::crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(value) = line.strip_prefix("n=").and_then(|v| v.parse::<u64>().ok()) {
                let _ = tx.send(value);
            }
        }
    });
    // No timeout on the wait: however slowly a loaded machine starts the child, the round waits
    // for its answers. It ends when the child does (its run has a 10-minute deadline), which
    // closes the channel.
    let mut last = None;
    let mut seen = 0;
    while seen < wait_for {
        match rx.recv() {
            Ok(value) => {
                last = Some(value);
                seen += 1;
            }
            Err(_) => break,
        }
    }
    std::thread::sleep(Duration::from_micros(random_below(3_000)));
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    // Every line the child printed before it died was acknowledged.
    while let Ok(value) = rx.try_recv() {
        last = Some(value);
    }
    last
}

#[test]
fn kill_9_never_loses_an_acknowledged_update() {
    let h = Harness::new().unwrap();
    let mut m = counter_manifest(1);
    m.limits.timeout_ms = 600_000;
    let bundle = h.sign(COUNTER, &m).unwrap();
    std::fs::write(h.dir().join("counter.enclave"), &bundle).unwrap();
    let enclave = h.load(&bundle).unwrap();
    let mut floor = 0;
    for round in 0..5 {
        let acknowledged = crash_round(h.dir(), 1 + random_below(300));
        // Load the store fresh, as the next process would.
        let mut store = store_of(h.platform(), &enclave);
        let value = match store.get(b"n") {
            Ok(Some(bytes)) => std::str::from_utf8(&bytes).unwrap().parse::<u64>().unwrap(),
            Ok(None) => 0,
            Err(e) => panic!("round {round}: the store does not load after kill -9: {e}"),
        };
        if let Some(acknowledged) = acknowledged {
            assert!(
                value >= acknowledged,
                "round {round}: acknowledged {acknowledged}, store holds {value}"
            );
            // At most the one update in flight when the child died is there unacknowledged.
            assert!(
                value <= acknowledged + 1,
                "round {round}: {value} > {acknowledged} + 1"
            );
        }
        assert!(
            value >= floor,
            "round {round}: went back from {floor} to {value}"
        );
        floor = value;
    }
    assert!(floor > 0, "no update was ever acknowledged");
    // The state still works through the guest, and no temporary file of a killed write is left.
    assert_eq!(one(&h, &enclave, "incr n"), format!("n={}", floor + 1));
    let dir = store_of(h.platform(), &enclave).paths().dir.clone();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["lock", "state"]);
}

/// Set in the children of [`concurrent_processes_lose_no_update`]: the directory with the
/// platform and the bundle.
const INCREMENT_CHILD: &str = "ENCLAVE_STORE_INCREMENT_CHILD";
/// Runs each concurrent child or thread makes, each one `incr n`: a `store_get` then a
/// `store_put`, the read-modify-write that loses updates unless a run is one transaction.
const INCREMENTS: usize = 30;

/// The child of [`concurrent_processes_lose_no_update`]: [`INCREMENTS`] runs of `incr n`, each
/// its own run. Does nothing unless started by that test.
#[test]
#[ignore = "run as a child process by concurrent_processes_lose_no_update"]
fn increment_child() {
    let Some(dir) = std::env::var_os(INCREMENT_CHILD).map(PathBuf::from) else {
        return;
    };
    let (enclave, services) = load_child(&dir);
    for _ in 0..INCREMENTS {
        let report = enclave
            .run(
                Input::from_bytes(b"incr n\n".to_vec()),
                Vec::new(),
                Some(services.clone()),
            )
            .unwrap();
        assert!(report.output.starts_with(b"n="));
    }
}

fn counter_value(h: &Harness, enclave: &Enclave) -> u64 {
    match store_of(h.platform(), enclave).get(b"n").unwrap() {
        Some(bytes) => std::str::from_utf8(&bytes).unwrap().parse().unwrap(),
        None => 0,
    }
}

#[test]
fn concurrent_processes_lose_no_update() {
    let h = Harness::new().unwrap();
    let mut m = counter_manifest(1);
    // Waiting for the store is not counted against a run's deadline; this only keeps a
    // loaded machine from failing a run that is not about time.
    m.limits.timeout_ms = 600_000;
    let bundle = h.sign(COUNTER, &m).unwrap();
    std::fs::write(h.dir().join("counter.enclave"), &bundle).unwrap();
    let enclave = h.load(&bundle).unwrap();
    assert_eq!(one(&h, &enclave, "incr n"), "n=1");
    let children: Vec<_> = (0..3)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "storage::increment_child",
                    "--exact",
                    "--ignored",
                    "--test-threads=1",
                ])
                .env(INCREMENT_CHILD, h.dir())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(counter_value(&h, &enclave), 1 + 3 * INCREMENTS as u64);
}

#[test]
fn concurrent_runs_in_one_process_lose_no_update() {
    let h = Harness::new().unwrap();
    let mut m = counter_manifest(1);
    m.limits.timeout_ms = 600_000;
    let enclave = h.load(&h.sign(COUNTER, &m).unwrap()).unwrap();
    // One set of services shared by every thread, as a server shares it between requests.
    let services = h.reporter(&enclave);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..INCREMENTS {
                    enclave
                        .run(
                            Input::from_bytes(b"incr n\n".to_vec()),
                            Vec::new(),
                            Some(services.clone()),
                        )
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(counter_value(&h, &enclave), 4 * INCREMENTS as u64);
}

#[test]
fn a_run_holds_the_store_until_it_ends() {
    let h = Harness::new().unwrap();
    let enclave = counter(&h, 1);
    let services = h.reporter(&enclave);
    let first = services.begin_run().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let services = &services;
        scope.spawn(move || {
            let second = services.begin_run().unwrap();
            tx.send(()).unwrap();
            drop(second);
        });
        // Another run of the same store (here on another thread; another process waits on the
        // file lock the same way) cannot begin while the first holds it. A slow machine can
        // only make this more certain.
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            rx.try_recv().is_err(),
            "a second run began inside the first"
        );
        drop(first);
        rx.recv().unwrap();
    });
    // And a run made while nothing holds the store goes through.
    assert_eq!(one(&h, &enclave, "incr n"), "n=1");
}

/// Issue 33 item 2: a tampered store's failure reached the signed receipt and the requester's
/// failure report with the platform's filesystem path in it. Both now name the file by its path
/// inside the platform home.
#[test]
fn a_store_failure_names_no_host_path() {
    use enclave_client::{ClientError, SealTo};
    use enclave_runtime::confidential::ConfidentialError;

    let h = Harness::new().unwrap();
    let enclave = counter(&h, 1);
    run(&h, &enclave, "put a 1").unwrap();
    let store = store_of(h.platform(), &enclave);
    let state = store.paths().state.clone();
    let good = std::fs::read(&state).unwrap();
    let host = h.platform().home().to_string_lossy().into_owned();
    let evidence = h.attest_and_verify(&enclave).unwrap();
    let (mut checked, mut named_by_home_path) = (0, 0);
    // Flip bits until one makes the store refuse the run (most do; some land in free space).
    for i in attacks::positions(good.len(), 200) {
        std::fs::write(&state, attacks::flip(&good, i, (i % 8) as u8)).unwrap();
        let sealed = h.seal(&evidence, SealTo::Measurement, b"get a").unwrap();
        let Err(ConfidentialError::Guest {
            error,
            receipt,
            report,
        }) = h.run_sealed(&enclave, &sealed.bytes)
        else {
            continue;
        };
        assert!(
            matches!(error, RunError::Fault(GuestFault::Store(_))),
            "{error:?}"
        );
        let operator = error.to_string();
        assert!(!operator.contains(&host), "byte {i}: {operator}");
        match h.open(&sealed.context, &receipt, &report) {
            Err(ClientError::GuestFailed {
                category, report, ..
            }) => {
                for text in [&category, &report] {
                    assert!(!text.contains(&host), "byte {i}: {text}");
                    assert!(text.starts_with("sealed store: "), "byte {i}: {text}");
                }
                if category.contains(&format!("store/{}/state", store.id())) {
                    named_by_home_path += 1;
                }
            }
            other => panic!("byte {i}: expected a failure report, got {other:?}"),
        }
        checked += 1;
        if checked == 5 {
            break;
        }
    }
    assert!(checked > 0, "no flip made the store refuse");
    // The failures that name the file name it inside the home.
    assert!(named_by_home_path > 0, "no failure named the state file");
    std::fs::write(&state, &good).unwrap();
}

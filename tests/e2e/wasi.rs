//! WASI guests (`kind = "wasi"`): ordinary `wasm32-wasip1` programs run with stdio as their only
//! capability, under the same limits as native guests (docs/wasi.md).

use attest::receipt::Outcome;

use enclave_runtime::{Enclave, GuestFault, Input, LoadError, RunError};
use enclave_tests::guests::{WASI_CSV, WASI_HOSTILE};
use enclave_tests::harness::{manifest, Harness, SealTo};

use crate::{load, run, sign, BASE};

const WASI: &str = "kind = \"wasi\"\n";

/// `kind = "wasi"`, then `args` (TOML array items) and `extra`.
fn wasi_manifest(args: &[&str], extra: &str) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    format!("{WASI}args = [{}]\n{extra}", args.join(", "))
}

fn hostile(args: &[&str], extra: &str) -> Enclave {
    load(WASI_HOSTILE, &wasi_manifest(args, extra))
}

fn debug(module: &[u8], extra: &str) -> Enclave {
    let manifest = format!("{}{extra}", BASE.replace("debug = false", "debug = true"));
    let manifest = attest::Manifest::from_toml(&manifest).unwrap();
    let bytes =
        attest::bundle::sign(&attest::AuthorKey::generate().unwrap(), &manifest, module).unwrap();
    Enclave::load(&bytes, enclave_runtime::Signers::Any).unwrap()
}

fn text(output: Vec<u8>) -> String {
    String::from_utf8(output).unwrap()
}

const CSV: &str = "category,amount\r\nfood,12.50\nrent,800\n\nfood,-2.25\nbooks,19.99\nfood,0.01\n";
const CSV_REPORT: &str =
    "category,count,sum,mean\nbooks,1,19.99,19.99\nfood,3,10.26,3.42\nrent,1,800.00,800.00\n";

#[test]
fn csv_aggregation() {
    let csv = load(WASI_CSV, WASI);
    let report = csv
        .run(Input::from_bytes(CSV.as_bytes().to_vec()), Vec::new(), None)
        .unwrap();
    assert_eq!(text(report.output), CSV_REPORT);
    assert_eq!(report.exit_code, Some(0));
    assert_eq!(report.input_bytes, CSV.len() as u64);
    assert_eq!(
        text(run(&csv, b"category,amount\n").unwrap()),
        "category,count,sum,mean\n"
    );
}

#[test]
fn confidential_csv_through_seal_run_open() {
    let h = Harness::new().unwrap();
    let mut wasi = manifest();
    wasi.kind = attest::GuestKind::Wasi;
    let csv = h.load(&h.sign(WASI_CSV, &wasi).unwrap()).unwrap();
    let out = h.confidential(&csv, CSV.as_bytes()).unwrap();
    assert_eq!(text(out.plaintext), CSV_REPORT);
    for seen in [&out.sealed_input, &out.sealed_output, &out.receipt_bytes] {
        assert!(!seen.windows(4).any(|w| w == b"rent"), "plaintext visible");
    }
    assert_eq!(out.receipt.claims().outcome, Outcome::Success);
    assert_eq!(out.receipt.claims().measurement, csv.measurement());
    assert_eq!(out.receipt.claims().exit_code, Some(0));

    // A nonzero exit is a completed run: the output (here empty: wasi-csv writes nothing on
    // bad input) is released, and the code is in the signed receipt.
    let evidence = h.attest_and_verify(&csv).unwrap();
    let sealed = h
        .seal(
            &evidence,
            SealTo::Measurement,
            b"category,amount\nfood,twelve\n",
        )
        .unwrap();
    let run = h.run_sealed(&csv, &sealed.bytes).unwrap();
    let (plaintext, receipt) = h.open(&sealed.context, &run.receipt, &run.output).unwrap();
    assert!(plaintext.is_empty());
    assert_eq!(receipt.claims().exit_code, Some(2));
    assert_eq!(receipt.claims().outcome, Outcome::Success);
}

#[test]
fn csv_bad_input_exits_with_code_2() {
    let bad = b"category,amount\nfood,12.50\nfood,twelve\n";
    let exit = |enclave: &Enclave, input: &[u8]| {
        enclave
            .run(Input::from_bytes(input.to_vec()), Vec::new(), None)
            .unwrap()
    };
    let report = exit(&load(WASI_CSV, WASI), bad);
    assert_eq!(report.exit_code, Some(2));
    assert!(report.log.is_empty(), "production enclaves show no stderr");
    // A debug enclave's diagnostics come with the run.
    let report = exit(&debug(WASI_CSV, WASI), bad);
    assert_eq!(report.exit_code, Some(2));
    assert_eq!(
        text(report.log),
        "wasi-csv: line 3: bad amount \"twelve\"\n"
    );
    assert_eq!(
        exit(&load(WASI_CSV, WASI), b"name,value\n").exit_code,
        Some(2)
    );
}

#[test]
fn every_ambient_capability_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "host secret").unwrap();
    let canary = dir.path().join("canary");
    let file = format!("file={}", secret.display());
    let create = format!("create={}", canary.display());
    let attacks = [
        "args", &file, "file", &create, "env", "socket", "clock", "random", "preopen", "fd",
        "poll", "raise", "yield",
    ];
    let output = text(run(&hostile(&attacks, ""), b"").unwrap());
    let expected = format!(
        "args: enclave {}\n\
         file-std: os error 44\nfile-raw: errno 76\nfile-raw-stdin: errno 76\nstat-raw: errno 76\n\
         file-std: os error 44\nfile-raw: errno 76\nfile-raw-stdin: errno 76\nstat-raw: errno 76\n\
         create-std: os error 44\ncreate-raw: errno 76\nmkdir-raw: errno 76\nunlink-raw: errno 76\n\
         env-home: Err(NotPresent)\nenv-count: 0\n\
         socket-std: Unsupported\nsock-accept: errno 76\nsock-recv: errno 76\nsock-send: errno 76\n\
         sock-shutdown: errno 76\n\
         clock-wall: errno 76\nclock-monotonic: errno 76\nclock-process: errno 76\n\
         clock-res-wall: errno 76\nclock-res-monotonic: errno 76\nclock-bad-id: errno 28\n\
         random: errno 76\n\
         preopen: errno 8\n\
         fd-write-3: errno 8\nfd-read-3: errno 8\nfd-write-stdin: errno 8\nfd-seek-stdin: errno 76\n\
         fd-filestat-stdout: errno 76\nfd-set-flags-stdout: errno 76\n\
         poll: errno 76\nraise: errno 76\nyield: errno 0\n",
        attacks.join(" ")
    );
    assert_eq!(output, expected);
    // Nothing on the host was touched.
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "host secret");
    assert!(!canary.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn attacks_can_come_from_stdin() {
    let output = text(run(&hostile(&[], ""), b"env\npreopen\n").unwrap());
    assert_eq!(
        output,
        "env-home: Err(NotPresent)\nenv-count: 0\npreopen: errno 8\n"
    );
}

#[test]
fn granted_clocks_and_randomness_work() {
    let grants = "capabilities = [\"clock-monotonic\", \"clock-wall\", \"random\"]\n";
    let output = text(run(&hostile(&["clock", "random", "hashmap"], grants), b"").unwrap());
    assert_eq!(
        output,
        "clock-wall: ok\nclock-monotonic: ok\nclock-process: errno 76\n\
         clock-res-wall: ok 1000\nclock-res-monotonic: ok 1\nclock-bad-id: errno 28\n\
         random: ok\nhashmap: 1\n"
    );
    // One clock granted is that clock only.
    let output = text(
        run(
            &hostile(&["clock"], "capabilities = [\"clock-monotonic\"]\n"),
            b"",
        )
        .unwrap(),
    );
    assert!(output.starts_with("clock-wall: errno 76\nclock-monotonic: ok\n"));
}

#[test]
fn std_hash_maps_need_the_random_capability() {
    // Rust std seeds every `HashMap` from `random_get` and panics when it fails.
    // The trap names the refused call and the capability that grants it.
    let err = run(&hostile(&["hashmap"], ""), b"").unwrap_err();
    // Rust std also printed its panic message, withheld from this production enclave's operator.
    assert!(matches!(err, RunError::TrapWithStderr { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "guest trapped: wasm `unreachable` instruction executed (after the enclave refused \
             wasi_snapshot_preview1.random_get: grant it with capabilities = [\"random\"] in the \
             manifest (Rust std's HashMap needs it)) (stderr: {})",
            enclave_runtime::error::WITHHELD
        )
    );
    let granted = run(&hostile(&["hashmap"], "capabilities = [\"random\"]\n"), b"").unwrap();
    assert_eq!(text(granted), "hashmap: 1\n");
}

#[test]
fn limits_apply_as_to_native_guests() {
    // The deadline (10 minutes) is out of reach: fuel, memory and output decide, however loaded
    // the machine is.
    let limits = "[limits]\nmemory_bytes = 16777216\nfuel = 200000000\ntimeout_ms = 600000\n\
                  max_output_bytes = 100000\n";
    let check = |attack: &str, expect: &dyn Fn(&RunError) -> bool| {
        let err = run(&hostile(&[attack], limits), b"").unwrap_err();
        assert!(expect(&err), "{attack}: unexpected {err:?}");
    };
    check("loop", &|e| {
        matches!(e, RunError::FuelExhausted { fuel: 200_000_000 })
    });
    check("memory", &|e| {
        matches!(
            e,
            RunError::MemoryLimit {
                limit: 16_777_216,
                ..
            }
        )
    });
    check("flood", &|e| {
        matches!(
            e,
            RunError::Fault(GuestFault::OutputLimit { limit: 100_000 })
        )
    });
    // A Rust panic: its message went to stderr, which is the guest's own words: withheld from
    // the operator of this production enclave, given whole to the requester (docs/wasi.md).
    check("panic", &|e| {
        e.to_string()
            == format!(
                "guest trapped: wasm `unreachable` instruction executed (stderr: {})",
                enclave_runtime::error::WITHHELD
            )
            && e.to_requester_string()
                .starts_with("guest trapped: wasm `unreachable` instruction executed (stderr: ")
            && e.to_requester_string().contains("panicked at")
            && e.to_requester_string().contains("hostile wasi panic")
    });
    // Here the deadline is the subject: fuel out of reach, a loop that never ends, and no upper
    // bound on how long stopping it took.
    let timeout = "[limits]\nfuel = 9223372036854775807\ntimeout_ms = 100\n";
    let err = run(&hostile(&["loop"], timeout), b"").unwrap_err();
    assert!(
        matches!(err, RunError::Timeout { timeout_ms: 100 }),
        "{err:?}"
    );
    let err = run(
        &hostile(&["echo"], "[limits]\nmax_input_bytes = 4\n"),
        b"hello",
    )
    .unwrap_err();
    assert!(matches!(err, RunError::InputTooLarge { size: 5, limit: 4 }));
    // The host keeps serving.
    assert_eq!(
        text(run(&hostile(&["yield"], ""), b"").unwrap()),
        "yield: errno 0\n"
    );
}

#[test]
fn exit_codes_are_reported() {
    let report = hostile(&["exit=7"], "")
        .run(Input::from_bytes(Vec::new()), Vec::new(), None)
        .unwrap();
    assert_eq!(report.exit_code, Some(7));
    let report = hostile(&["args", "exit=0"], "")
        .run(Input::from_bytes(Vec::new()), Vec::new(), None)
        .unwrap();
    assert_eq!(report.exit_code, Some(0));
    assert_eq!(text(report.output), "args: enclave args exit=0\n");
}

#[test]
fn stderr_is_shown_for_debug_enclaves_only() {
    let args = wasi_manifest(&["stderr=diagnostic line", "stderr-flood"], "");
    let report = debug(WASI_HOSTILE, &args)
        .run(Input::from_bytes(Vec::new()), Vec::new(), None)
        .unwrap();
    assert_eq!(text(report.output), "stderr-flood: done\n");
    assert_eq!(report.log.len(), 64 << 10, "stderr is capped at 64 KiB");
    assert!(report.log.starts_with(b"diagnostic line\neee"));
    let report = load(WASI_HOSTILE, &args)
        .run(Input::from_bytes(Vec::new()), Vec::new(), None)
        .unwrap();
    assert!(report.log.is_empty());
    // A debug guest's panic message comes with the trap.
    let err = run(&debug(WASI_HOSTILE, &wasi_manifest(&["panic"], "")), b"").unwrap_err();
    assert!(err.to_string().contains("hostile wasi panic"), "{err}");
}

#[test]
fn the_kind_is_signed_and_checked() {
    // The same WASI module signed as a native enclave is refused at load, with the kind it needs.
    let err = Enclave::load(&sign(WASI_CSV, ""), enclave_runtime::Signers::Any).unwrap_err();
    let LoadError::WrongKind { imports, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(imports
        .iter()
        .all(|import| import.starts_with("wasi_snapshot_preview1.")));
    assert!(imports
        .iter()
        .any(|i| i == "wasi_snapshot_preview1.fd_write"));
    assert!(
        err.to_string().ends_with(
            "a WASI program (wasm32-wasip1) needs kind = \"wasi\" in the manifest (docs/wasi.md)"
        ),
        "{err}"
    );
    // And the kind changes the measurement.
    let wasi = attest::bundle::verify(&sign(WASI_CSV, WASI)).unwrap();
    let native = attest::bundle::verify(&sign(WASI_CSV, "")).unwrap();
    assert_ne!(wasi.measurement(), native.measurement());
}

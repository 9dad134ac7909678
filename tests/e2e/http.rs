//! `http` guests (`kind = "http"`): the example wasi:http components answering requests in the
//! test's process through the harness ([`enclave_tests::harness::http`]): their routes, the
//! manifest's limits per request, the import check at load against the real components, and
//! the sealed store keeping a component's state across requests.

use std::sync::Arc;

use enclave_runtime::component::Scheme;
use enclave_runtime::{Enclave, LoadError, RunError};
use enclave_tests::guests::{HTTP_COUNTER, HTTP_HELLO, WORDCOUNT};
use enclave_tests::harness::http::BodyError;
use enclave_tests::harness::{
    manifest_from_toml, Harness, HarnessError, HttpFailure, Manifest, VerifierPolicy,
};

use crate::{load, BASE};

/// An `http` manifest: `BASE` (production), `kind = "http"`, then `extra`.
fn http_manifest(extra: &str) -> Manifest {
    manifest_from_toml(&format!("{BASE}kind = \"http\"\n{extra}")).unwrap()
}

/// The `http` manifest of the counter: the store and evidence granted.
const COUNTER: &str = "capabilities = [\"store\", \"report\"]\n";

#[test]
fn hello_answers_its_routes_in_process() {
    let h = Harness::new().unwrap();
    let app = h.http(HTTP_HELLO, &http_manifest("")).unwrap();

    let hello = app.get("/").unwrap();
    assert_eq!(hello.status, 200);
    assert_eq!(hello.header("content-type"), Some("text/plain"));
    assert_eq!(hello.text(), "hello from an enclave\n");
    // A production enclave's fuel is withheld.
    assert_eq!(hello.answered.fuel_used, None);

    let mut request = app
        .build(http::Method::PUT, "/echo?x=1", b"put me back".to_vec())
        .unwrap();
    request
        .headers_mut()
        .insert("content-type", "application/x-test".parse().unwrap());
    let echoed = app.request(request).unwrap();
    assert_eq!(
        (echoed.status.as_u16(), echoed.body.as_slice()),
        (200, &b"put me back"[..])
    );
    assert_eq!(echoed.header("x-echo-method"), Some("PUT"));
    assert_eq!(echoed.header("content-type"), Some("application/x-test"));

    let bytes = app.get("/bytes/200000").unwrap();
    assert_eq!(bytes.body.len(), 200_000);
    assert!(bytes
        .body
        .iter()
        .enumerate()
        .all(|(i, b)| *b as usize == i % 251));
    assert_eq!(app.get("/status/418").unwrap().status, 418);
    let missing = app.get("/nope").unwrap();
    assert_eq!(
        (missing.status.as_u16(), missing.text()),
        (404, "not found\n".into())
    );

    // The component sees the request's authority from its Host header; without one (and no
    // authority in the URI) the runtime refuses the request, as the server does with a 400.
    let headers = app.get("/headers").unwrap().text();
    assert!(!headers.contains("host:"), "{headers}");
    let bare = http::Request::get("/").body(Vec::new()).unwrap();
    match app.request(bare) {
        Err(HttpFailure::NoResponse(RunError::Host(message))) => {
            assert!(message.contains("missing authority"), "{message}");
        }
        other => panic!("expected the missing authority refused, got {other:?}"),
    }
}

#[test]
fn a_debug_enclave_reports_its_fuel_and_traps_in_words() {
    let h = Harness::new().unwrap();
    let manifest = manifest_from_toml(&format!(
        "{}kind = \"http\"\n",
        BASE.replace("debug = false", "debug = true")
    ))
    .unwrap();
    let app = h.http(HTTP_HELLO, &manifest).unwrap();
    let hello = app.get("/").unwrap();
    assert!(hello.answered.fuel_used.is_some_and(|fuel| fuel > 0));
    match app.get("/trap") {
        Err(HttpFailure::NoResponse(RunError::Trap(message))) => {
            assert!(message.contains("unreachable"), "{message}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn every_request_is_bounded_by_the_manifest() {
    let h = Harness::new().unwrap();
    // Fuel: the spinning request runs out, and the next one gets a fresh budget.
    let metered = "[limits]\nfuel = 20000000\nmax_input_bytes = 16\nmax_output_bytes = 1000\n";
    let app = h.http(HTTP_HELLO, &http_manifest(metered)).unwrap();
    match app.get("/spin") {
        Err(HttpFailure::NoResponse(RunError::FuelExhausted { fuel })) => {
            assert_eq!(fuel, 20_000_000);
        }
        other => panic!("expected fuel exhausted, got {other:?}"),
    }
    assert_eq!(app.get("/").unwrap().status, 200);

    // The request body: refused before anything runs, as the server refuses it (413).
    match app.post("/echo", vec![b'x'; 17]) {
        Err(HttpFailure::NoResponse(RunError::InputTooLarge { size, limit })) => {
            assert_eq!((size, limit), (17, 16));
        }
        other => panic!("expected the body refused, got {other:?}"),
    }
    assert_eq!(app.post("/echo", vec![b'x'; 16]).unwrap().body.len(), 16);

    // The response body: cut at max_output_bytes, after the head.
    match app.get("/bytes/5000") {
        Err(HttpFailure::BodyFailed {
            status,
            body,
            error: BodyError::TooLarge { limit },
        }) => {
            assert_eq!((status.as_u16(), limit), (200, 1000));
            assert!(body.len() <= 1000, "{}", body.len());
        }
        other => panic!("expected the body cut at its cap, got {other:?}"),
    }
    assert_eq!(app.get("/bytes/1000").unwrap().body.len(), 1000);

    // A production enclave's trap: its words stay in the runtime's error, which the server
    // withholds from the operator.
    assert!(matches!(
        app.get("/trap"),
        Err(HttpFailure::NoResponse(RunError::Trap(_)))
    ));

    // Memory: over all the component's memories, from instantiation on.
    let small = h
        .http(
            HTTP_HELLO,
            &http_manifest("[limits]\nmemory_bytes = 65536\n"),
        )
        .unwrap();
    match small.get("/") {
        Err(HttpFailure::NoResponse(RunError::MemoryLimit { limit, requested })) => {
            assert_eq!(limit, 65536);
            assert!(requested > limit, "{requested}");
        }
        other => panic!("expected the memory limit, got {other:?}"),
    }
}

#[test]
fn the_wall_clock_ends_a_spinning_component() {
    let h = Harness::new().unwrap();
    // Unmetered: only the deadline ends the loop.
    let app = h
        .http(
            HTTP_HELLO,
            &http_manifest("[limits]\nfuel = 0\ntimeout_ms = 200\n"),
        )
        .unwrap();
    match app.get("/spin") {
        Err(HttpFailure::NoResponse(RunError::Timeout { timeout_ms })) => {
            assert_eq!(timeout_ms, 200);
        }
        other => panic!("expected the deadline, got {other:?}"),
    }
    assert_eq!(app.get("/").unwrap().text(), "hello from an enclave\n");
}

#[test]
fn imports_are_checked_against_the_manifest_at_load() {
    // The counter imports the store and attestation interfaces: without their capabilities it
    // is refused, every refused import listed.
    let h = Harness::new().unwrap();
    let refused = h.http(HTTP_COUNTER, &http_manifest("")).unwrap_err();
    let HarnessError::Load(LoadError::ForbiddenImports(lines)) = refused else {
        panic!("expected forbidden imports, got {refused:?}");
    };
    assert_eq!(
        lines,
        [
            "enclave:platform/store@0.1.0: needs the `store` capability: add capabilities = \
             [\"store\"] to the manifest",
            "enclave:platform/attestation@0.1.0: needs the `report` capability: add \
             capabilities = [\"report\"] to the manifest",
        ]
    );
    let only_store = h
        .http(HTTP_COUNTER, &http_manifest("capabilities = [\"store\"]\n"))
        .unwrap_err();
    assert!(
        matches!(&only_store, HarnessError::Load(LoadError::ForbiddenImports(lines))
            if lines.len() == 1 && lines[0].starts_with("enclave:platform/attestation@0.1.0:")),
        "{only_store:?}"
    );
    // Both granted, it loads; the hello component needs no capability at all.
    h.http(HTTP_COUNTER, &http_manifest(COUNTER)).unwrap();
    h.http(HTTP_HELLO, &http_manifest("")).unwrap();

    // A core module under kind = "http", and a component under the native kind.
    let core = wat::parse_str("(module (func (export \"enclave_main\")))").unwrap();
    let err = h.http(&core, &http_manifest("")).unwrap_err().to_string();
    assert!(err.contains("a core wasm module, not a component"), "{err}");
    let err = h
        .http(HTTP_HELLO, &manifest_from_toml(BASE).unwrap())
        .unwrap_err();
    assert!(matches!(err, HarnessError::Load(_)), "{err:?}");
}

#[test]
fn the_sealed_store_keeps_a_components_state_across_requests() {
    let h = Harness::new().unwrap();
    let manifest = http_manifest(COUNTER);
    let app = h.http(HTTP_COUNTER, &manifest).unwrap();
    assert_eq!(app.get("/count").unwrap().text(), "0\n");
    for n in 1..=3 {
        assert_eq!(
            app.post("/count", Vec::new()).unwrap().text(),
            format!("{n}\n")
        );
    }
    // Another load of the same bundle on the same platform: the same store.
    let bundle = h.sign(HTTP_COUNTER, &manifest).unwrap();
    let again = h.http_enclave(Arc::new(h.load(&bundle).unwrap())).unwrap();
    assert_eq!(again.get("/count").unwrap().text(), "3\n");
    let delete = again
        .build(http::Method::DELETE, "/count", Vec::new())
        .unwrap();
    assert_eq!(again.request(delete).unwrap().text(), "deleted\n");
    assert_eq!(app.get("/count").unwrap().text(), "0\n");

    // Evidence through enclave:platform/attestation: it verifies as the enclave's, for the
    // nonce of the query.
    let nonce = h.nonce();
    let report = app
        .get(&format!("/report?nonce={}", hex::encode(&nonce)))
        .unwrap();
    assert_eq!(report.header("content-type"), Some("application/eat+cwt"));
    let policy: VerifierPolicy = h.policy(app.enclave(), &nonce);
    let verified = attest::verify(&report.body, &policy, std::time::SystemTime::now()).unwrap();
    assert_eq!(verified.measurement(), app.enclave().measurement());
}

/// `Enclave::http` of a native enclave: a GET of `/`.
fn ask_native() -> RunError {
    let enclave: Enclave = load(WORDCOUNT, "");
    let request = http::Request::get("http://enclave.test/")
        .body(bytes::Bytes::new())
        .unwrap();
    enclave.http(request, Scheme::Http, None).unwrap_err()
}

#[test]
fn a_request_to_an_enclave_of_another_kind_is_refused() {
    let refused = ask_native();
    assert!(matches!(refused, RunError::Host(_)), "{refused:?}");
    assert!(
        refused
            .to_string()
            .ends_with("only a kind = \"http\" enclave answers HTTP requests"),
        "{refused}"
    );
    // Through the harness: the same refusal, nothing run.
    let h = Harness::new().unwrap();
    let native = h.load(
        &h.sign(WORDCOUNT, &manifest_from_toml(BASE).unwrap())
            .unwrap(),
    );
    let app = h.http_enclave(Arc::new(native.unwrap())).unwrap();
    assert!(
        matches!(
            app.get("/"),
            Err(HttpFailure::NoResponse(RunError::Host(_)))
        ),
        "a native enclave answered a request"
    );
}

#[test]
fn the_refusal_of_another_kind_names_the_kind_in_words() {
    let message = ask_native().to_string();
    assert!(!message.contains("a enclave enclave"), "{message}");
    assert!(message.contains("kind = \"enclave\""), "{message}");
}

#[test]
fn run_refuses_an_http_enclave_before_its_input() {
    let enclave = load(
        HTTP_HELLO,
        "kind = \"http\"\n[limits]\nmax_input_bytes = 1024\n",
    );
    assert!(matches!(crate::run(&enclave, b""), Err(RunError::HttpKind)));
    let long = crate::run(&enclave, &[0; 2048]).unwrap_err();
    assert!(matches!(long, RunError::HttpKind), "{long}");
}

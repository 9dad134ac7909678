//! The routes of the HTTP API (`docs/formats.md`, "HTTP API").

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant as StdInstant, SystemTime};

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use enclave_platform::Platform;
use enclave_runtime::confidential::{ConfidentialError, SealedRun};
use enclave_runtime::{Enclave, Input, RunError, RunReport};
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use sealer::{OpenError, SealedInputHeader};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::body::{self, BodyError, Deadlines};
use crate::pool;
use crate::problem::{Problem, ProblemDetails, PROBLEM_MEDIA_TYPE};
use crate::{
    Config, Shared, EVIDENCE_MEDIA_TYPE, PLAINTEXT_MEDIA_TYPE, RECEIPT_HEADER, REQUEST_ID_HEADER,
    SEALED_INPUT_MEDIA_TYPE, SEALED_OUTPUT_MEDIA_TYPE,
};

type Answer = Response<Full<Bytes>>;

/// Largest `POST /v1/evidence` body.
const MAX_EVIDENCE_REQUEST: usize = 1024;

/// What the request log says of an answer.
struct Outcome {
    answer: Answer,
    /// `ok`, `refused`, `guest_failed`, `busy`, `error`, `disconnected`.
    label: &'static str,
    bytes_in: u64,
}

impl Outcome {
    fn ok(answer: Answer, bytes_in: u64) -> Self {
        Self {
            answer,
            label: "ok",
            bytes_in,
        }
    }
}

pub(crate) async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Answer {
    let started = Instant::now();
    let id = format!(
        "{:016x}",
        shared.next_request.fetch_add(1, Ordering::Relaxed)
    );
    let method = request.method().clone();
    let route = route_name(request.uri().path());
    let outcome = match (request.method(), request.uri().path()) {
        (&Method::GET, "/healthz") => Outcome::ok(text(StatusCode::OK, "ok\n"), 0),
        (&Method::GET, "/readyz") => readyz(&shared),
        (&Method::GET, "/metrics") => metrics(&shared),
        (&Method::GET, "/v1/info") => Outcome::ok(
            bytes(StatusCode::OK, "application/json", shared.info.clone()),
            0,
        ),
        (&Method::POST, "/v1/evidence") => evidence(&shared, request, &id).await,
        (&Method::POST, "/v1/run") => run(&shared, request, &id).await,
        (_, "/healthz" | "/readyz" | "/metrics" | "/v1/info" | "/v1/evidence" | "/v1/run") => {
            refuse(
                &shared,
                &id,
                ProblemDetails::new(
                    Problem::MethodNotAllowed,
                    format!("{method} is not allowed here"),
                ),
                0,
            )
        }
        (_, path) => {
            let detail = format!("no route {}", truncate(path, 128));
            refuse(
                &shared,
                &id,
                ProblemDetails::new(Problem::NotFound, detail),
                0,
            )
        }
    };
    let Outcome {
        mut answer,
        label,
        bytes_in,
    } = outcome;
    if let Ok(value) = HeaderValue::from_str(&id) {
        answer.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let status = answer.status().as_u16();
    let bytes_out = hyper::body::Body::size_hint(answer.body())
        .exact()
        .unwrap_or(0);
    shared.metrics.request(route, label);
    tracing::info!(
        request_id = %id,
        method = %method,
        route,
        status,
        outcome = label,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        bytes_in,
        bytes_out,
        "request"
    );
    answer
}

/// The route's name for logs and metrics: a fixed set, never the client's path.
fn route_name(path: &str) -> &'static str {
    match path {
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        "/v1/info" => "info",
        "/v1/evidence" => "evidence",
        "/v1/run" => "run",
        _ => "other",
    }
}

fn readyz(shared: &Shared) -> Outcome {
    if shared.draining.load(Ordering::SeqCst) {
        Outcome {
            answer: text(StatusCode::SERVICE_UNAVAILABLE, "draining\n"),
            label: "refused",
            bytes_in: 0,
        }
    } else {
        Outcome::ok(text(StatusCode::OK, "ready\n"), 0)
    }
}

fn metrics(shared: &Shared) -> Outcome {
    let m = &shared.metrics;
    m.queue_depth
        .set(i64::try_from(shared.pool.queued()).unwrap_or(i64::MAX));
    m.free_slots
        .set(i64::from(shared.enclave.free_instance_slots()));
    Outcome::ok(
        bytes(
            StatusCode::OK,
            crate::METRICS_MEDIA_TYPE,
            Bytes::from(m.encode()),
        ),
        0,
    )
}

/// `GET /v1/info`: the public facts about what this server runs.
pub(crate) fn info_document(
    enclave: &Enclave,
    platform: &Platform,
    config: &Config,
    max_sealed_input: u64,
) -> Option<Bytes> {
    let bundle = enclave.bundle();
    let manifest = bundle.manifest();
    let root = pem::parse(platform.root_pem()).ok()?;
    let limits = &manifest.limits;
    let doc = serde_json::json!({
        "measurement": enclave.measurement().to_string(),
        "signer_id": bundle.signer_id().to_string(),
        "module_sha256": bundle.module_digest().to_string(),
        "product_id": manifest.product_id.0,
        "svn": manifest.svn.0,
        "debug": manifest.debug,
        "kind": manifest.kind.to_string(),
        "capabilities": manifest.capabilities.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "platform_id": platform.platform_id().to_string(),
        "platform_tcb": platform.tcb(),
        "root_sha256": hex::encode(Sha256::digest(root.contents())),
        "limits": {
            "memory_bytes": limits.memory_bytes,
            "fuel": limits.fuel,
            "timeout_ms": limits.timeout_ms,
            "max_input_bytes": limits.max_input_bytes,
            "max_output_bytes": limits.max_output_bytes,
            "stack_bytes": limits.stack_bytes,
            "max_sealed_input_bytes": max_sealed_input,
        },
        "plaintext_runs": config.allow_plaintext && !manifest.inputs.sealed_only,
        "sealed_only": manifest.inputs.sealed_only,
        "refuse_replays": manifest.inputs.refuse_replays,
    });
    serde_json::to_vec_pretty(&doc).ok().map(Bytes::from)
}

/// The `POST /v1/evidence` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EvidenceRequest {
    /// 8 to 64 bytes, hex.
    nonce: String,
    /// Up to 64 bytes, hex.
    #[serde(default)]
    report_data: String,
}

async fn evidence(shared: &Shared, request: Request<Incoming>, id: &str) -> Outcome {
    if let Some(problem) = media_type_problem(&request, &["application/json"]) {
        return refuse(shared, id, problem, 0);
    }
    let (_, mut incoming) = request.into_parts();
    let mut body = BytesMut::new();
    let mut reservation = shared.bodies.reservation();
    let limits = body::Limits::whole(MAX_EVIDENCE_REQUEST as u64);
    let deadlines = deadlines(&shared.config);
    match body::receive(
        &mut incoming,
        &mut body,
        limits,
        deadlines,
        &mut reservation,
    )
    .await
    {
        Ok(()) => {}
        Err(BodyError::TooLong) => {
            let detail = format!("an evidence request is at most {MAX_EVIDENCE_REQUEST} bytes");
            let problem = ProblemDetails::new(Problem::PayloadTooLarge, detail);
            return refuse(shared, id, problem, body.len() as u64);
        }
        Err(end) => return body_failure(shared, id, end, body.len() as u64),
    }
    let bytes_in = body.len() as u64;
    let (nonce, report_data) = match parse_evidence_request(&body) {
        Ok(parsed) => parsed,
        Err(detail) => {
            return refuse(
                shared,
                id,
                ProblemDetails::new(Problem::BadRequest, detail),
                bytes_in,
            )
        }
    };
    // One ECDSA signature: cheap enough for the executor's thread.
    match shared
        .platform
        .attest(&shared.enclave, &nonce, &report_data, SystemTime::now())
    {
        Ok(evidence) => Outcome::ok(
            bytes(StatusCode::OK, EVIDENCE_MEDIA_TYPE, Bytes::from(evidence)),
            bytes_in,
        ),
        Err(error) => {
            tracing::error!(request_id = %id, %error, "cannot sign evidence");
            let detail = "cannot sign evidence";
            refuse(
                shared,
                id,
                ProblemDetails::new(Problem::Internal, detail),
                bytes_in,
            )
        }
    }
}

/// The nonce and report data of a `POST /v1/evidence` body, or why it is refused.
fn parse_evidence_request(body: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let request = json_object::<EvidenceRequest>(body)
        .map_err(|e| format!("not an evidence request: {e}"))?;
    let nonce = hex::decode(&request.nonce).map_err(|_| "nonce is not hex".to_owned())?;
    let data =
        hex::decode(&request.report_data).map_err(|_| "report_data is not hex".to_owned())?;
    if !(8..=64).contains(&nonce.len()) {
        return Err(format!(
            "the nonce must be 8 to 64 bytes, not {}",
            nonce.len()
        ));
    }
    if data.len() > 64 {
        return Err(format!(
            "report_data must be at most 64 bytes, not {}",
            data.len()
        ));
    }
    Ok((nonce, data))
}

/// `T` from a JSON object and nothing else: serde's derived structs also take a JSON array (its
/// elements as the fields in order), which the API does not.
fn json_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(body).map_err(|e| e.to_string()),
        Some(_) => Err("the body must be a JSON object".to_owned()),
        None => Err("the body is empty".to_owned()),
    }
}

async fn run(shared: &Arc<Shared>, request: Request<Incoming>, id: &str) -> Outcome {
    let sealed = match media_type(&request).as_deref() {
        Some(SEALED_INPUT_MEDIA_TYPE) => true,
        Some(PLAINTEXT_MEDIA_TYPE) => false,
        _ => {
            let detail = format!(
                "POST /v1/run takes {SEALED_INPUT_MEDIA_TYPE} (or {PLAINTEXT_MEDIA_TYPE} when plaintext runs are enabled)"
            );
            return refuse(
                shared,
                id,
                ProblemDetails::new(Problem::UnsupportedMediaType, detail),
                0,
            );
        }
    };
    if !sealed && shared.enclave.bundle().manifest().inputs.sealed_only {
        // The runtime refuses it too (`RunError::PlaintextRefused`); refused here before the
        // body is read.
        let detail = RunError::PlaintextRefused.to_string();
        return refuse(
            shared,
            id,
            ProblemDetails::new(Problem::PlaintextRefused, detail),
            0,
        );
    }
    if !sealed && !shared.config.allow_plaintext {
        let detail =
            "this server runs sealed inputs only (the operator did not pass --allow-plaintext)";
        return refuse(
            shared,
            id,
            ProblemDetails::new(Problem::PlaintextRefused, detail),
            0,
        );
    }
    let declared = content_length(&request);
    let limit = if sealed {
        shared.max_sealed_input
    } else {
        shared.enclave.bundle().manifest().limits.max_input_bytes
    };
    if let Some(len) = declared.filter(|len| *len > limit) {
        let detail = format!("the body of {len} bytes is over this enclave's limit of {limit}");
        return refuse(
            shared,
            id,
            ProblemDetails::new(Problem::PayloadTooLarge, detail),
            0,
        );
    }
    // A full queue refuses before the body is read (and again when the run is submitted).
    if shared.pool.is_full() {
        return busy(shared, id, Busy::Queue);
    }
    if sealed {
        run_sealed(shared, request, declared, id).await
    } else {
        run_plaintext(shared, request, declared, id).await
    }
}

async fn run_sealed(
    shared: &Arc<Shared>,
    request: Request<Incoming>,
    declared: Option<u64>,
    id: &str,
) -> Outcome {
    let deadlines = deadlines(&shared.config);
    let (_, mut incoming) = request.into_parts();
    let mut reservation = shared.bodies.reservation();
    // The fixed-size header first: it names the platform and the enclave, and the exact length
    // of the rest, all checked before the rest is read.
    let mut body = BytesMut::new();
    let header_len = sealer::input::HEADER_LEN as u64;
    let head = body::Limits {
        until: header_len,
        limit: shared.max_sealed_input,
    };
    if let Err(end) =
        body::receive(&mut incoming, &mut body, head, deadlines, &mut reservation).await
    {
        return sealed_body_failure(shared, id, end, body.len() as u64);
    }
    let header_bytes = body
        .get(..body.len().min(sealer::input::HEADER_LEN))
        .unwrap_or_default();
    let header = match SealedInputHeader::read(&mut &header_bytes[..]) {
        Ok(header) => header,
        Err(error) => return input_refused(shared, id, &error, body.len() as u64),
    };
    let identity = shared.enclave.identity();
    if let Err(error) = header.check_binding(&identity, &shared.platform.platform_id()) {
        return input_refused(shared, id, &error, body.len() as u64);
    }
    // Lengths against the cap first (413), then against each other (400).
    let max_input = shared.enclave.bundle().manifest().limits.max_input_bytes;
    if header.plaintext_len() > max_input {
        let detail = format!(
            "the sealed input holds {} bytes; this enclave takes at most {max_input}",
            header.plaintext_len()
        );
        return refuse(
            shared,
            id,
            ProblemDetails::new(Problem::PayloadTooLarge, detail),
            body.len() as u64,
        );
    }
    let total = sealer::sealed_input_len(header.plaintext_len()).unwrap_or(u64::MAX);
    if let Some(len) = declared.filter(|len| *len != total) {
        let detail = format!("the body is {len} bytes but its sealed header declares {total}");
        let problem = ProblemDetails::new(Problem::SealedInputRefused, detail);
        return refuse(shared, id, problem, body.len() as u64);
    }
    if let Err(end) = reservation.cover(total) {
        return sealed_body_failure(shared, id, end, body.len() as u64);
    }
    let rest = body::Limits::whole(total);
    if let Err(end) =
        body::receive(&mut incoming, &mut body, rest, deadlines, &mut reservation).await
    {
        return sealed_body_failure(shared, id, end, body.len() as u64);
    }
    let bytes_in = body.len() as u64;
    if bytes_in > total {
        // The header's first frame may already hold more than the header declares.
        return sealed_body_failure(shared, id, BodyError::TooLong, bytes_in);
    }
    if bytes_in < total {
        let detail =
            format!("the body ended after {bytes_in} bytes; its sealed header declares {total}");
        let problem = ProblemDetails::new(Problem::SealedInputRefused, detail);
        return refuse(shared, id, problem, bytes_in);
    }
    let input = std::io::Cursor::new(body.freeze());
    let (reply, answer) = oneshot::channel();
    let worker = shared.clone();
    let job = Box::new(move || {
        // The body's bytes stay reserved until the run is done with them.
        let _held = reservation;
        let result = measured(&worker, |w| {
            w.enclave.run_sealed_with(
                &w.keys,
                w.platform.as_ref(),
                input,
                Vec::new(),
                Some(w.reporter.clone()),
                SystemTime::now,
            )
        });
        let _ = reply.send(result);
    });
    if let Err(pool::Busy) = shared.pool.submit(job) {
        return busy(shared, id, Busy::Queue);
    }
    match answer.await {
        Err(_) => internal(shared, id, "the run ended without an answer", bytes_in),
        Ok(Ok(run)) => sealed_answer(run, bytes_in),
        Ok(Err(error)) => confidential_failure(shared, id, error, bytes_in),
    }
}

/// A sealed body that could not be received: one longer than its header declares is a sealed
/// input refused (400), as one that is shorter.
fn sealed_body_failure(shared: &Shared, id: &str, end: BodyError, bytes_in: u64) -> Outcome {
    if end == BodyError::TooLong {
        let detail = "the body is longer than its sealed header declares";
        let problem = ProblemDetails::new(Problem::SealedInputRefused, detail);
        return refuse(shared, id, problem, bytes_in);
    }
    body_failure(shared, id, end, bytes_in)
}

fn sealed_answer(run: SealedRun<Vec<u8>>, bytes_in: u64) -> Outcome {
    let receipt = base64::engine::general_purpose::STANDARD.encode(&run.receipt);
    let mut answer = bytes(
        StatusCode::OK,
        SEALED_OUTPUT_MEDIA_TYPE,
        Bytes::from(run.output),
    );
    if let Ok(value) = HeaderValue::from_str(&receipt) {
        answer.headers_mut().insert(RECEIPT_HEADER, value);
    }
    Outcome::ok(answer, bytes_in)
}

fn confidential_failure(
    shared: &Shared,
    id: &str,
    error: ConfidentialError,
    bytes_in: u64,
) -> Outcome {
    match error {
        ConfidentialError::Input(error) => input_refused(shared, id, &error, bytes_in),
        ConfidentialError::Guest {
            error,
            receipt,
            report,
        } => {
            let b64 = base64::engine::general_purpose::STANDARD;
            // The operator's view of the failure: a production guest's words are withheld
            // here; they are only in the sealed report.
            let problem = ProblemDetails::new(Problem::GuestFailed, error.to_string())
                .with("receipt", b64.encode(&receipt))
                .with("report", b64.encode(&report));
            let mut outcome = refuse(shared, id, problem, bytes_in);
            outcome.label = "guest_failed";
            outcome
        }
        ConfidentialError::Replayed(replay @ enclave_runtime::ReplayRefused::Replayed { .. }) => {
            let problem = ProblemDetails::new(Problem::ReplayedRequest, replay.to_string());
            refuse(shared, id, problem, bytes_in)
        }
        other => {
            tracing::error!(request_id = %id, error = %error_chain(&other), "run failed on the host side");
            internal(shared, id, "the host could not finish the run", bytes_in)
        }
    }
}

async fn run_plaintext(
    shared: &Arc<Shared>,
    request: Request<Incoming>,
    declared: Option<u64>,
    id: &str,
) -> Outcome {
    let deadlines = deadlines(&shared.config);
    let (_, mut incoming) = request.into_parts();
    let max_input = shared.enclave.bundle().manifest().limits.max_input_bytes;
    let mut reservation = shared.bodies.reservation();
    // With a length, all of it is reserved at once; without one (chunked), as it comes.
    if let Some(len) = declared {
        if let Err(end) = reservation.cover(len) {
            return body_failure(shared, id, end, 0);
        }
    }
    let mut body = BytesMut::new();
    let limits = body::Limits::whole(declared.unwrap_or(max_input));
    if let Err(end) = body::receive(
        &mut incoming,
        &mut body,
        limits,
        deadlines,
        &mut reservation,
    )
    .await
    {
        return body_failure(shared, id, end, body.len() as u64);
    }
    let len = body.len() as u64;
    let input = Input::new(std::io::Cursor::new(body.freeze()), len);
    let (reply, answer) = oneshot::channel::<Result<RunReport<Vec<u8>>, RunError>>();
    let worker = shared.clone();
    let job = Box::new(move || {
        let _held = reservation;
        let result = measured(&worker, |w| {
            w.enclave.run(input, Vec::new(), Some(w.reporter.clone()))
        });
        let _ = reply.send(result);
    });
    if let Err(pool::Busy) = shared.pool.submit(job) {
        return busy(shared, id, Busy::Queue);
    }
    match answer.await {
        Err(_) => internal(shared, id, "the run ended without an answer", len),
        Ok(Ok(report)) => Outcome::ok(
            bytes(
                StatusCode::OK,
                PLAINTEXT_MEDIA_TYPE,
                Bytes::from(report.output),
            ),
            len,
        ),
        Ok(Err(RunError::PlaintextRefused)) => refuse(
            shared,
            id,
            ProblemDetails::new(
                Problem::PlaintextRefused,
                RunError::PlaintextRefused.to_string(),
            ),
            len,
        ),
        Ok(Err(RunError::Input(error))) => {
            let detail = format!("the input could not be read: {error}");
            refuse(
                shared,
                id,
                ProblemDetails::new(Problem::BadRequest, detail),
                len,
            )
        }
        Ok(Err(error)) => {
            let mut outcome = refuse(
                shared,
                id,
                ProblemDetails::new(Problem::GuestFailed, error.to_string()),
                len,
            );
            outcome.label = "guest_failed";
            outcome
        }
    }
}

/// What a run reports to the metrics: its fuel when it succeeded.
trait Fuel {
    fn fuel(&self) -> u64;
}

impl<T, E> Fuel for Result<SealedRun<T>, E> {
    fn fuel(&self) -> u64 {
        self.as_ref().map_or(0, |run| run.claims.fuel_used)
    }
}

impl<T, E> Fuel for Result<RunReport<T>, E> {
    fn fuel(&self) -> u64 {
        // `None` (withheld) for a production enclave, so its runs add nothing.
        self.as_ref()
            .map_or(0, |report| report.fuel_used.unwrap_or(0))
    }
}

/// Runs `run` on a worker, counted in flight (also if it unwinds) and timed.
fn measured<R: Fuel>(shared: &Shared, run: impl FnOnce(&Shared) -> R) -> R {
    struct InFlight<'a>(&'a Shared);
    impl Drop for InFlight<'_> {
        fn drop(&mut self) {
            self.0.metrics.runs_in_flight.dec();
        }
    }
    let started = StdInstant::now();
    shared.metrics.runs_in_flight.inc();
    let in_flight = InFlight(shared);
    let result = run(shared);
    drop(in_flight);
    shared
        .metrics
        .run(started.elapsed().as_secs_f64(), result.fuel());
    result
}

fn input_refused(shared: &Shared, id: &str, error: &OpenError, bytes_in: u64) -> Outcome {
    let problem = match error {
        OpenError::PlatformMismatch { .. } => Problem::WrongPlatform,
        _ => Problem::SealedInputRefused,
    };
    let mut details = ProblemDetails::new(problem, error_chain(error));
    if problem == Problem::WrongPlatform {
        details = details.with("platform_id", shared.platform.platform_id().to_string());
    }
    refuse(shared, id, details, bytes_in)
}

fn body_failure(shared: &Shared, id: &str, end: BodyError, bytes_in: u64) -> Outcome {
    let problem = match end {
        BodyError::TooLong => ProblemDetails::new(
            Problem::PayloadTooLarge,
            "the body is longer than the enclave takes",
        ),
        BodyError::TimedOut => ProblemDetails::new(
            Problem::RequestTimeout,
            format!(
                "the body must arrive within {} s, with no pause over {} s",
                shared.config.body_timeout.as_secs(),
                shared.config.body_idle_timeout.as_secs()
            ),
        ),
        BodyError::OverBudget => return busy(shared, id, Busy::Memory),
        BodyError::Disconnected => {
            ProblemDetails::new(Problem::BadRequest, "the client went away mid-body")
        }
    };
    let mut outcome = refuse(shared, id, problem, bytes_in);
    if end == BodyError::Disconnected {
        outcome.label = "disconnected";
    }
    outcome
}

/// What is full when a request is refused with 503.
#[derive(Debug, Clone, Copy)]
enum Busy {
    /// Every worker is busy and the queue is full.
    Queue,
    /// The request bodies the server holds reach `--max-body-memory`.
    Memory,
}

fn busy(shared: &Shared, id: &str, why: Busy) -> Outcome {
    let (problem, detail) = match (shared.draining.load(Ordering::SeqCst), why) {
        (true, _) => (Problem::Draining, "the server is shutting down"),
        (false, Busy::Queue) => (Problem::Busy, "every worker is busy and the queue is full"),
        (false, Busy::Memory) => (
            Problem::Busy,
            "the request bodies held in memory reach the server's bound",
        ),
    };
    let retry = shared.config.retry_after;
    let mut outcome = refuse(shared, id, ProblemDetails::new(problem, detail), 0);
    outcome
        .answer
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry));
    outcome.label = "busy";
    outcome
}

fn internal(shared: &Shared, id: &str, detail: &str, bytes_in: u64) -> Outcome {
    let mut outcome = refuse(
        shared,
        id,
        ProblemDetails::new(Problem::Internal, detail),
        bytes_in,
    );
    outcome.label = "error";
    outcome
}

fn refuse(shared: &Shared, id: &str, problem: ProblemDetails, bytes_in: u64) -> Outcome {
    shared.metrics.refusal(problem.problem.slug());
    let body = serde_json::to_vec(&problem.to_json(id)).unwrap_or_default();
    let mut answer = bytes(
        problem.problem.status(),
        PROBLEM_MEDIA_TYPE,
        Bytes::from(body),
    );
    if problem.problem == Problem::MethodNotAllowed {
        answer
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
    }
    Outcome {
        answer,
        label: "refused",
        bytes_in,
    }
}

fn bytes(status: StatusCode, media_type: &'static str, body: Bytes) -> Answer {
    let mut answer = Response::new(Full::new(body));
    *answer.status_mut() = status;
    answer
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    answer
}

fn text(status: StatusCode, body: &'static str) -> Answer {
    bytes(
        status,
        "text/plain; charset=utf-8",
        Bytes::from_static(body.as_bytes()),
    )
}

fn deadlines(config: &Config) -> Deadlines {
    Deadlines {
        idle: config.body_idle_timeout,
        total: Instant::now() + config.body_timeout,
    }
}

/// The request's media type without parameters, lowercased.
fn media_type<B>(request: &Request<B>) -> Option<String> {
    let value = request.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim();
    Some(essence.to_ascii_lowercase())
}

fn media_type_problem<B>(request: &Request<B>, accepted: &[&str]) -> Option<ProblemDetails> {
    match media_type(request) {
        Some(t) if accepted.contains(&t.as_str()) => None,
        _ => Some(ProblemDetails::new(
            Problem::UnsupportedMediaType,
            format!("this route takes {}", accepted.join(" or ")),
        )),
    }
}

fn content_length<B>(request: &Request<B>) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// An error and its sources, as one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

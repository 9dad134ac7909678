//! `POST /v1/run`: a sealed input, or a plaintext one where allowed, received whole, then run on
//! a worker.

use std::sync::Arc;
use std::time::{Instant as StdInstant, SystemTime};

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use enclave_runtime::confidential::{ConfidentialError, SealedRun};
use enclave_runtime::{Input, RunError, RunReport};
use http::header::HeaderValue;
use http::{Request, StatusCode};
use hyper::body::Incoming;
use sealer::SealedInputHeader;
use tokio::sync::oneshot;

use crate::body::{self, BodyError};
use crate::pool;
use crate::problem::{Problem, ProblemDetails};
use crate::{
    Shared, PLAINTEXT_MEDIA_TYPE, RECEIPT_HEADER, SEALED_INPUT_MEDIA_TYPE, SEALED_OUTPUT_MEDIA_TYPE,
};

use super::answer::*;

pub(super) async fn run(shared: &Arc<Shared>, request: Request<Incoming>, id: &str) -> Outcome {
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

pub(super) async fn run_sealed(
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
        if reply.is_closed() {
            // The client went away while the run waited: nobody would read its answer.
            return;
        }
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
pub(super) fn sealed_body_failure(
    shared: &Shared,
    id: &str,
    end: BodyError,
    bytes_in: u64,
) -> Outcome {
    if end == BodyError::TooLong {
        let detail = "the body is longer than its sealed header declares";
        let problem = ProblemDetails::new(Problem::SealedInputRefused, detail);
        return refuse(shared, id, problem, bytes_in);
    }
    body_failure(shared, id, end, bytes_in)
}

pub(super) fn sealed_answer(run: SealedRun<Vec<u8>>, bytes_in: u64) -> Outcome {
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

pub(super) fn confidential_failure(
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

pub(super) async fn run_plaintext(
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
        if reply.is_closed() {
            return;
        }
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

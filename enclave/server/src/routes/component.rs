//! Every request to an `http` enclave outside the server's own routes: answered by a fresh
//! instance of its component (`docs/formats.md`, "HTTP API": "Components").
//!
//! The request body is received whole first, under the same caps, deadlines and memory budget
//! as `POST /v1/run`'s, so a slow client holds no instance; at most the enclave's instance slots
//! run at once and `--queue` more wait, beyond which the answer is 503. The response streams as
//! the component writes it. A component that fails before it sets a response answers a
//! `component-failed` problem naming the category (trap, fuel, deadline, memory), never its
//! words; one that fails after it has sent the head ends the body with an error (HTTP/1.1: the
//! connection closes; HTTP/2: the stream is reset).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use attest::Capability;
use bytes::BytesMut;
use enclave_runtime::component::Scheme;
use enclave_runtime::{GuestFault, RunError};
use http::Request;
use http_body_util::Either;
use hyper::body::Incoming;

use crate::body;
use crate::problem::{Problem, ProblemDetails};
use crate::Shared;

use super::answer::*;

pub(super) async fn forward(shared: &Arc<Shared>, request: Request<Incoming>, id: &str) -> Outcome {
    let max_input = shared.enclave.limits().max_input_bytes;
    let declared = content_length(&request);
    if let Some(len) = declared.filter(|len| *len > max_input) {
        let detail = format!("the body of {len} bytes is over this enclave's limit of {max_input}");
        return refuse(
            shared,
            id,
            ProblemDetails::new(Problem::PayloadTooLarge, detail),
            0,
        );
    }
    let host = request.headers().get(http::header::HOST);
    if request.uri().authority().is_none() && host.is_none_or(|h| h.to_str().is_err()) {
        let detail = "the request names no authority: send a Host header (visible ASCII)";
        return refuse(
            shared,
            id,
            ProblemDetails::new(Problem::BadRequest, detail),
            0,
        );
    }
    // Waiting for an instance slot is the queue: full, the answer is 503 before the body is
    // read.
    let waiting = shared.component_waiting.fetch_add(1, Ordering::SeqCst);
    let slot = if waiting >= shared.config.queue && shared.component_slots.available_permits() == 0
    {
        None
    } else {
        Some(shared.component_slots.clone())
    };
    let Some(slots) = slot else {
        shared.component_waiting.fetch_sub(1, Ordering::SeqCst);
        return busy(shared, id, Busy::Queue);
    };
    let (parts, mut incoming) = request.into_parts();
    let mut reservation = shared.bodies.reservation();
    if let Some(len) = declared {
        if let Err(end) = reservation.cover(len) {
            shared.component_waiting.fetch_sub(1, Ordering::SeqCst);
            return body_failure(shared, id, end, 0);
        }
    }
    let mut received = BytesMut::new();
    let limits = body::Limits::whole(declared.unwrap_or(max_input));
    let deadlines = deadlines(&shared.config);
    if let Err(end) = body::receive(
        &mut incoming,
        &mut received,
        limits,
        deadlines,
        &mut reservation,
    )
    .await
    {
        shared.component_waiting.fetch_sub(1, Ordering::SeqCst);
        return body_failure(shared, id, end, received.len() as u64);
    }
    let permit = slots.acquire_owned().await;
    shared.component_waiting.fetch_sub(1, Ordering::SeqCst);
    let Ok(permit) = permit else {
        return busy(shared, id, Busy::Queue);
    };
    let bytes_in = received.len() as u64;
    let request = Request::from_parts(parts, received.freeze());
    let scheme = if shared.tls.is_some() {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let started = StdInstant::now();
    let services = Some(shared.reporter.clone());
    let exchange = if shared.enclave.bundle().manifest().grants(Capability::Store) {
        // Taking the store's transaction may wait for the request that holds it.
        let worker = shared.clone();
        tokio::task::spawn_blocking(move || worker.enclave.http(request, scheme, services))
            .await
            .unwrap_or_else(|_| Err(RunError::Host("the request's setup panicked".into())))
    } else {
        shared.enclave.http(request, scheme, services)
    };
    let exchange = match exchange {
        Ok(exchange) => exchange,
        Err(error) => return internal(shared, id, &error.to_string(), bytes_in),
    };
    let timeout = Duration::from_millis(shared.enclave.limits().timeout_ms);
    let (done, finished) = tokio::sync::oneshot::channel();
    let runner = shared.clone();
    let in_flight = InFlight::start(shared.clone());
    let mut run = exchange.run;
    let task = tokio::spawn(async move {
        // Released when the run ends, or when the task is aborted (the client went away).
        let _held = (permit, reservation, in_flight);
        // The component's whole life, the body it streams included, is bounded by its timeout;
        // past it the store is dropped and the body ends with an error.
        let result = match tokio::time::timeout(timeout, &mut run).await {
            Ok(result) => result,
            Err(_) => Err(RunError::Timeout {
                timeout_ms: runner.enclave.limits().timeout_ms,
            }),
        };
        let fuel = result.as_ref().map_or(0, |a| a.fuel_used.unwrap_or(0));
        runner.metrics.run(started.elapsed().as_secs_f64(), fuel);
        let _ = done.send(result);
    });
    // Until the response's head goes out, the request's future owns the run: a client that goes
    // away (hyper drops this future) stops its component and frees its slot. Once the head is
    // out, the body does: a client that goes away closes the component's output stream.
    let guard = AbortOnDrop(Some(task.abort_handle()));
    match exchange.response.await {
        Ok(response) if response.status().is_informational() => {
            let status = response.status().as_u16();
            let error = RunError::Trap(format!(
                "the component answered status {status}, which is not a final response"
            ));
            failed(shared, id, &error, bytes_in)
        }
        Ok(response) => {
            guard.disarm();
            Outcome::ok(response.map(Either::Right), bytes_in)
        }
        Err(unset) => {
            // Why there is no response is the run's error, if it failed.
            let error = match finished.await {
                Ok(Err(error)) => error,
                _ => unset,
            };
            failed(shared, id, &error, bytes_in)
        }
    }
}

/// Aborts a component's task when dropped, unless disarmed.
struct AbortOnDrop(Option<tokio::task::AbortHandle>);

impl AbortOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// A component run counted in the in-flight gauge until dropped.
struct InFlight(Arc<Shared>);

impl InFlight {
    fn start(shared: Arc<Shared>) -> Self {
        shared.metrics.runs_in_flight.inc();
        Self(shared)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.metrics.runs_in_flight.dec();
    }
}

/// A component that failed before it answered: the category, and for a debug enclave (whose
/// operator may read everything it says) the details.
fn failed(shared: &Shared, id: &str, error: &RunError, bytes_in: u64) -> Outcome {
    let debug = shared.enclave.bundle().manifest().debug;
    let detail = match error {
        RunError::FuelExhausted { .. }
        | RunError::Timeout { .. }
        | RunError::MemoryLimit { .. }
        | RunError::StackOverflow { .. }
        | RunError::Fault(GuestFault::Store(_)) => error.to_string(),
        _ if debug => error.to_string(),
        RunError::Instantiate(_) => "the component failed to instantiate".to_owned(),
        _ => "the component trapped or returned without a response (the details are withheld: \
              a production enclave's words go to no operator)"
            .to_owned(),
    };
    let mut outcome = refuse(
        shared,
        id,
        ProblemDetails::new(Problem::ComponentFailed, detail),
        bytes_in,
    );
    outcome.label = "guest_failed";
    outcome
}

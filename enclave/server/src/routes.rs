//! The routes of the HTTP API (`docs/formats.md`, "HTTP API").

mod answer;
mod component;
mod evidence;
mod run;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use enclave_platform::Platform;
use enclave_runtime::Enclave;
use http::header::HeaderValue;
use http::{Method, Request, StatusCode};
use hyper::body::Incoming;
use sha2::{Digest as _, Sha256};
use tokio::time::Instant;

use crate::problem::{Problem, ProblemDetails};
use crate::{Config, Shared, REQUEST_ID_HEADER};

pub(crate) use answer::Answer;
use answer::*;

/// The prefix under which the server's own routes are always served (RFC 8615): for an `http`
/// enclave, whose component answers every other path, the only place they are.
pub const WELL_KNOWN: &str = "/.well-known/enclave";

/// The server's own path a request names: under [`WELL_KNOWN`] always, and as it is for an
/// enclave that is not an `http` one. `None`: the component's.
fn own_path<'a>(shared: &Shared, path: &'a str) -> Option<&'a str> {
    match path.strip_prefix(WELL_KNOWN) {
        Some(rest) if rest.starts_with('/') => Some(rest),
        _ if !shared.enclave.is_http() => Some(path),
        _ => None,
    }
}

pub(crate) async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Answer {
    let started = Instant::now();
    let id = format!(
        "{:016x}",
        shared.next_request.fetch_add(1, Ordering::Relaxed)
    );
    let method = request.method().clone();
    let path = own_path(&shared, request.uri().path()).map(str::to_owned);
    let route = path.as_deref().map_or("component", route_name);
    let outcome = match (request.method(), path.as_deref()) {
        (_, None) => component::forward(&shared, request, &id).await,
        (_, Some("/v1/run")) if shared.enclave.is_http() => refuse(
            &shared,
            &id,
            ProblemDetails::new(
                Problem::NotFound,
                "an http enclave has no /v1/run: its component answers every path outside \
                 /.well-known/enclave/",
            ),
            0,
        ),
        (method, Some(path)) => own_route(&shared, method.clone(), path, request, &id).await,
    };
    finish(&shared, outcome, &id, &method, route, started)
}

/// One of the server's own routes.
async fn own_route(
    shared: &Arc<Shared>,
    method: Method,
    path: &str,
    request: Request<Incoming>,
    id: &str,
) -> Outcome {
    match (&method, path) {
        (&Method::GET, "/healthz") => Outcome::ok(text(StatusCode::OK, "ok\n"), 0),
        (&Method::GET, "/readyz") => readyz(shared),
        (&Method::GET, "/metrics") => metrics(shared),
        (&Method::GET, "/v1/info") => Outcome::ok(
            bytes(StatusCode::OK, "application/json", shared.info.clone()),
            0,
        ),
        (&Method::POST, "/v1/evidence") => evidence::evidence(shared, request, id).await,
        (&Method::POST, "/v1/run") => run::run(shared, request, id).await,
        (_, "/healthz" | "/readyz" | "/metrics" | "/v1/info" | "/v1/evidence" | "/v1/run") => {
            refuse(
                shared,
                id,
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
                shared,
                id,
                ProblemDetails::new(Problem::NotFound, detail),
                0,
            )
        }
    }
}

/// Sets the request id, counts and logs the answer.
fn finish(
    shared: &Shared,
    outcome: Outcome,
    id: &str,
    method: &Method,
    route: &'static str,
    started: Instant,
) -> Answer {
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
    // An http enclave's requests wait for and hold the server's component slots instead.
    let (queued, free) = if shared.enclave.is_http() {
        (
            shared.component_waiting.load(Ordering::SeqCst),
            shared.component_slots.available_permits(),
        )
    } else {
        (
            shared.pool.queued(),
            usize::try_from(shared.enclave.free_instance_slots()).unwrap_or(0),
        )
    };
    m.queue_depth.set(i64::try_from(queued).unwrap_or(i64::MAX));
    m.free_slots.set(i64::try_from(free).unwrap_or(i64::MAX));
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

//! What a route answers: the log's view of an answer ([`Outcome`]), refusals as RFC 9457
//! problems, the response builders, and what every route reads of a request.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{Either, Full};
use sealer::OpenError;
use tokio::time::Instant;

use crate::body::{BodyError, Deadlines};
use crate::problem::{Problem, ProblemDetails, PROBLEM_MEDIA_TYPE};
use crate::{Config, Shared};

/// A response: the server's own bytes, or an `http` enclave's component's streaming body.
pub(crate) type Answer = Response<AnswerBody>;

/// The body of an [`Answer`].
pub(crate) type AnswerBody = Either<Full<Bytes>, enclave_runtime::component::ResponseBody>;

/// What the request log says of an answer.
pub(super) struct Outcome {
    pub(super) answer: Answer,
    /// `ok`, `refused`, `guest_failed`, `busy`, `error`, `disconnected`.
    pub(super) label: &'static str,
    pub(super) bytes_in: u64,
}

impl Outcome {
    pub(super) fn ok(answer: Answer, bytes_in: u64) -> Self {
        Self {
            answer,
            label: "ok",
            bytes_in,
        }
    }
}

pub(super) fn input_refused(
    shared: &Shared,
    id: &str,
    error: &OpenError,
    bytes_in: u64,
) -> Outcome {
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

pub(super) fn body_failure(shared: &Shared, id: &str, end: BodyError, bytes_in: u64) -> Outcome {
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
pub(super) enum Busy {
    /// Every worker is busy and the queue is full.
    Queue,
    /// The request bodies the server holds reach `--max-body-memory`.
    Memory,
}

pub(super) fn busy(shared: &Shared, id: &str, why: Busy) -> Outcome {
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

pub(super) fn internal(shared: &Shared, id: &str, detail: &str, bytes_in: u64) -> Outcome {
    let mut outcome = refuse(
        shared,
        id,
        ProblemDetails::new(Problem::Internal, detail),
        bytes_in,
    );
    outcome.label = "error";
    outcome
}

pub(super) fn refuse(shared: &Shared, id: &str, problem: ProblemDetails, bytes_in: u64) -> Outcome {
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

pub(super) fn bytes(status: StatusCode, media_type: &'static str, body: Bytes) -> Answer {
    let mut answer = Response::new(Either::Left(Full::new(body)));
    *answer.status_mut() = status;
    answer
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    answer
}

pub(super) fn text(status: StatusCode, body: &'static str) -> Answer {
    bytes(
        status,
        "text/plain; charset=utf-8",
        Bytes::from_static(body.as_bytes()),
    )
}

pub(super) fn deadlines(config: &Config) -> Deadlines {
    Deadlines {
        idle: config.body_idle_timeout,
        total: Instant::now() + config.body_timeout,
    }
}

/// The request's media type without parameters, lowercased.
pub(super) fn media_type<B>(request: &Request<B>) -> Option<String> {
    let value = request.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim();
    Some(essence.to_ascii_lowercase())
}

pub(super) fn media_type_problem<B>(
    request: &Request<B>,
    accepted: &[&str],
) -> Option<ProblemDetails> {
    match media_type(request) {
        Some(t) if accepted.contains(&t.as_str()) => None,
        _ => Some(ProblemDetails::new(
            Problem::UnsupportedMediaType,
            format!("this route takes {}", accepted.join(" or ")),
        )),
    }
}

pub(super) fn content_length<B>(request: &Request<B>) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// An error and its sources, as one line.
pub(super) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

pub(super) fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

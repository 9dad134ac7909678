//! Refusals as RFC 9457 problem details (`application/problem+json`), one `type` per reason.
//!
//! The types are URIs under [`PROBLEM_BASE`]; each names the same failure class as an exit code
//! of the CLI (`docs/cli.md`, "Exit codes"), so a client maps either to the same error. The
//! table is in `docs/formats.md`, "HTTP API".

use http::StatusCode;
use serde_json::{Map, Value};

/// The prefix of every problem `type` this server sends.
pub const PROBLEM_BASE: &str = "tag:enclave.invalid,2026:problem/";

/// The media type of a problem document.
pub const PROBLEM_MEDIA_TYPE: &str = "application/problem+json";

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Problem {
    /// The sealed input is not for this enclave, or it was altered, truncated or reordered
    /// (CLI exit 7).
    SealedInputRefused,
    /// The sealed input names another platform: re-attest (this instance's evidence) and seal
    /// again, or route by platform id (CLI exit 7).
    WrongPlatform,
    /// The guest failed; the answer carries the signed receipt and the sealed failure report
    /// (CLI exit 5).
    GuestFailed,
    /// A plaintext run on a server started without `--allow-plaintext`, or for an enclave whose
    /// manifest takes sealed inputs only (CLI exit 9).
    PlaintextRefused,
    /// The sealed request already ran within the replay window of an enclave that refuses
    /// replays (CLI exit 9).
    ReplayedRequest,
    /// The body is larger than the enclave accepts.
    PayloadTooLarge,
    /// The body's media type is not one the route takes.
    UnsupportedMediaType,
    /// The request is malformed (e.g. a nonce of the wrong size).
    BadRequest,
    /// The client did not send its body in time.
    RequestTimeout,
    /// Every worker is busy and the queue is full: retry after `Retry-After` seconds.
    Busy,
    /// The server is shutting down.
    Draining,
    /// No such route.
    NotFound,
    /// The route exists, the method does not.
    MethodNotAllowed,
    /// The server failed (signing, sealing the output); nothing about the request.
    Internal,
    /// An `http` enclave's component trapped, hit a limit or set no response before it
    /// answered; the detail names the category, never the component's words (CLI exit 5).
    ComponentFailed,
}

impl Problem {
    /// Every problem, for documentation and tests.
    pub const ALL: [Problem; 15] = [
        Self::SealedInputRefused,
        Self::WrongPlatform,
        Self::GuestFailed,
        Self::PlaintextRefused,
        Self::ReplayedRequest,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::BadRequest,
        Self::RequestTimeout,
        Self::Busy,
        Self::Draining,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::Internal,
        Self::ComponentFailed,
    ];

    /// The last segment of the problem's `type`.
    pub fn slug(self) -> &'static str {
        match self {
            Self::SealedInputRefused => "sealed-input-refused",
            Self::WrongPlatform => "wrong-platform",
            Self::GuestFailed => "guest-failed",
            Self::PlaintextRefused => "plaintext-refused",
            Self::ReplayedRequest => "replayed-request",
            Self::PayloadTooLarge => "payload-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::BadRequest => "bad-request",
            Self::RequestTimeout => "request-timeout",
            Self::Busy => "busy",
            Self::Draining => "draining",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::Internal => "internal",
            Self::ComponentFailed => "component-failed",
        }
    }

    /// The problem's `type` URI.
    pub fn type_uri(self) -> String {
        format!("{PROBLEM_BASE}{}", self.slug())
    }

    /// The problem whose `type` is `uri`.
    pub fn from_type_uri(uri: &str) -> Option<Self> {
        let slug = uri.strip_prefix(PROBLEM_BASE)?;
        Self::ALL.into_iter().find(|p| p.slug() == slug)
    }

    /// The HTTP status it is sent with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::SealedInputRefused | Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::WrongPlatform => StatusCode::MISDIRECTED_REQUEST,
            Self::GuestFailed => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PlaintextRefused => StatusCode::FORBIDDEN,
            Self::ReplayedRequest => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Busy | Self::Draining => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Internal | Self::ComponentFailed => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem's short, fixed summary (RFC 9457 `title`).
    pub fn title(self) -> &'static str {
        match self {
            Self::SealedInputRefused => "sealed input refused",
            Self::WrongPlatform => "sealed to another platform",
            Self::GuestFailed => "the guest failed",
            Self::PlaintextRefused => "plaintext runs are not enabled on this server",
            Self::ReplayedRequest => "the sealed request already ran",
            Self::PayloadTooLarge => "request body too large",
            Self::UnsupportedMediaType => "unsupported media type",
            Self::BadRequest => "malformed request",
            Self::RequestTimeout => "request body not received in time",
            Self::Busy => "all workers busy and the queue full",
            Self::Draining => "the server is shutting down",
            Self::NotFound => "no such resource",
            Self::MethodNotAllowed => "method not allowed",
            Self::Internal => "internal server error",
            Self::ComponentFailed => "the component failed before it answered",
        }
    }
}

/// A problem document: the problem, a `detail` for this occurrence, and extension members.
#[derive(Debug)]
pub struct ProblemDetails {
    /// What kind of refusal.
    pub problem: Problem,
    /// This occurrence, in words (never a payload byte or a production guest's words).
    pub detail: String,
    /// Extension members (RFC 9457 §3.2).
    pub extensions: Map<String, Value>,
}

impl ProblemDetails {
    /// A problem with a detail and no extensions.
    pub fn new(problem: Problem, detail: impl Into<String>) -> Self {
        Self {
            problem,
            detail: detail.into(),
            extensions: Map::new(),
        }
    }

    /// Adds an extension member.
    #[must_use]
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.extensions.insert(name.to_owned(), value.into());
        self
    }

    /// The JSON document, with `instance` set to the request id.
    pub fn to_json(&self, request_id: &str) -> Value {
        let mut doc = Map::new();
        doc.insert("type".into(), self.problem.type_uri().into());
        doc.insert("title".into(), self.problem.title().into());
        doc.insert("status".into(), self.problem.status().as_u16().into());
        doc.insert("detail".into(), self.detail.clone().into());
        doc.insert(
            "instance".into(),
            format!("urn:enclave:request:{request_id}").into(),
        );
        for (name, value) in &self.extensions {
            doc.entry(name.clone()).or_insert_with(|| value.clone());
        }
        Value::Object(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_round_trip_and_are_distinct() {
        let mut slugs = std::collections::HashSet::new();
        for problem in Problem::ALL {
            assert!(slugs.insert(problem.slug()), "{problem:?}");
            assert_eq!(Problem::from_type_uri(&problem.type_uri()), Some(problem));
            assert!(problem.status().is_client_error() || problem.status().is_server_error());
        }
        assert_eq!(Problem::from_type_uri("about:blank"), None);
    }

    #[test]
    fn extensions_do_not_override_the_standard_members() {
        let doc = ProblemDetails::new(Problem::Busy, "queue full")
            .with("type", "spoofed")
            .with("retry_after", 1)
            .to_json("7");
        assert_eq!(doc["type"], Problem::Busy.type_uri());
        assert_eq!(doc["status"], 503);
        assert_eq!(doc["retry_after"], 1);
        assert_eq!(doc["instance"], "urn:enclave:request:7");
    }
}

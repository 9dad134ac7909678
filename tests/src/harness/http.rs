//! HTTP requests to an `http` enclave's component in the test's process, with no server:
//! [`Harness::http`] signs and loads a component, and [`HttpHarness::request`] answers one
//! `http::Request` with a fresh instance through [`Enclave::http`] — the runtime call
//! `enclave serve` makes for every request outside `/.well-known/enclave/`. The component's run
//! and its response are driven together on a small current-thread tokio runtime of the
//! [`HttpHarness`]'s own; the body is collected whole; the whole exchange is bounded by the
//! manifest's `timeout_ms`, as the server bounds it. The platform services are the harness's
//! platform (as [`Harness::run`] gives them to a native guest), so a component using the sealed
//! store keeps its state across requests, one transaction per request.
//!
//! ```
//! use enclave_tests::guests::HTTP_HELLO;
//! use enclave_tests::harness::{manifest, GuestKind, Harness};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let h = Harness::new()?;
//! let mut m = manifest();
//! m.kind = GuestKind::Http;
//! let app = h.http(HTTP_HELLO, &m)?;
//! let answer = app.get("/")?;
//! assert_eq!(answer.status, 200);
//! assert_eq!(answer.body, b"hello from an enclave\n");
//! let echoed = app.post("/echo", b"ping".to_vec())?;
//! assert_eq!(echoed.header("x-echo-method"), Some("POST"));
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use enclave_runtime::component::{Exchange, HttpResponse};
use enclave_runtime::{Enclave, ReportIssuer, RunError};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt as _;

use super::{Harness, HarnessError, Manifest};

// What a test of a component names besides the harness.
pub use enclave_runtime::component::{Answered, BodyError, Scheme};

/// The authority of the requests [`HttpHarness::get`] and [`HttpHarness::post`] make (a
/// component sees it as the request's authority; the server takes it from the Host header).
pub const AUTHORITY: &str = "enclave.test";

/// An `http` enclave on the harness's platform, answering requests in the test's process.
pub struct HttpHarness<'h> {
    /// Keeps the platform's directory alive while requests use it.
    _harness: &'h Harness,
    enclave: Arc<Enclave>,
    services: Arc<dyn ReportIssuer>,
    runtime: tokio::runtime::Runtime,
    scheme: Scheme,
}

impl std::fmt::Debug for HttpHarness<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpHarness")
            .field("measurement", &self.enclave.measurement())
            .finish_non_exhaustive()
    }
}

/// A whole response: the component's status, headers and body, and what its run did.
#[derive(Debug)]
pub struct HttpAnswer {
    /// The status the component set.
    pub status: StatusCode,
    /// The headers the component set.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Vec<u8>,
    /// Fuel used (a debug enclave's only) and the run's duration.
    pub answered: Answered,
}

impl HttpAnswer {
    /// The first value of header `name`, if it is there and is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why a request got no whole response. The server's answer for the same request is named on
/// each variant.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum HttpFailure {
    /// There is no response: the runtime refused the request (not an `http` enclave, no
    /// authority, a body over `max_input_bytes`), or the component failed before it set one
    /// (trap, fuel, deadline, memory, a sealed-store fault), or it returned without setting
    /// one. The server answers 413 for the body, 400 for the authority, and otherwise 500
    /// `component-failed`.
    #[error("no response: {0}")]
    NoResponse(#[source] RunError),
    /// The component set a response, then failed (trap, fuel, deadline, memory) before its
    /// body ended or after; `body` is what came of it. The server has sent the head by then:
    /// the body ends with an error (the connection closes, or the stream is reset).
    #[error("the response ({status}) broke off after {} bytes: {error}", .body.len())]
    RunFailed {
        /// The status the component set.
        status: StatusCode,
        /// The bytes of the body that came.
        body: Vec<u8>,
        /// Why the run failed.
        error: RunError,
    },
    /// The component set a response whose body ended with an error: over the manifest's
    /// `max_output_bytes`, or the component dropped it unfinished.
    #[error("the response ({status}) broke off after {} bytes: {error}", .body.len())]
    BodyFailed {
        /// The status the component set.
        status: StatusCode,
        /// The bytes of the body that came (at most `max_output_bytes`).
        body: Vec<u8>,
        /// Why the body ended.
        error: BodyError,
    },
}

impl Harness {
    /// Signs `component` with `manifest` (which must say `kind = "http"`) under the harness's
    /// author key, loads it, and makes it answer requests on this platform.
    ///
    /// # Errors
    /// [`HarnessError::Bundle`], [`HarnessError::Load`] (a refused import is
    /// [`LoadError::ForbiddenImports`](enclave_runtime::LoadError::ForbiddenImports));
    /// [`HarnessError::Io`] when the runtime cannot start.
    pub fn http(
        &self,
        component: &[u8],
        manifest: &Manifest,
    ) -> Result<HttpHarness<'_>, HarnessError> {
        let enclave = self.load(&self.sign(component, manifest)?)?;
        self.http_enclave(Arc::new(enclave))
    }

    /// Makes a loaded enclave answer requests on this platform. An enclave that is not an
    /// `http` one refuses every request ([`HttpFailure::NoResponse`] with the runtime's
    /// [`RunError::Host`]).
    ///
    /// # Errors
    /// [`HarnessError::Io`] when the runtime cannot start.
    pub fn http_enclave(&self, enclave: Arc<Enclave>) -> Result<HttpHarness<'_>, HarnessError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        Ok(HttpHarness {
            _harness: self,
            services: self.reporter(&enclave),
            enclave,
            runtime,
            scheme: Scheme::Https,
        })
    }
}

impl HttpHarness<'_> {
    /// The enclave answering.
    pub fn enclave(&self) -> &Arc<Enclave> {
        &self.enclave
    }

    /// The scheme the component sees requests arrive with: `https` by default (as behind
    /// `enclave serve --tls`), `http` as behind `--allow-plaintext`.
    #[must_use]
    pub fn with_scheme(mut self, scheme: Scheme) -> Self {
        self.scheme = scheme;
        self
    }

    /// `GET path` (with its query, if any) with a Host header of [`AUTHORITY`].
    ///
    /// # Errors
    /// As [`HttpHarness::request`].
    pub fn get(&self, path: &str) -> Result<HttpAnswer, HttpFailure> {
        self.request(self.build(Method::GET, path, Vec::new())?)
    }

    /// `POST path` with `body` and a Host header of [`AUTHORITY`].
    ///
    /// # Errors
    /// As [`HttpHarness::request`].
    pub fn post(&self, path: &str, body: Vec<u8>) -> Result<HttpAnswer, HttpFailure> {
        self.request(self.build(Method::POST, path, body)?)
    }

    /// A request for `method` and `path` with a Host header of [`AUTHORITY`]; a path that is
    /// not a valid request target is [`HttpFailure::NoResponse`].
    ///
    /// # Errors
    /// [`HttpFailure::NoResponse`] for a malformed path.
    pub fn build(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<Request<Vec<u8>>, HttpFailure> {
        Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, AUTHORITY)
            .body(body)
            .map_err(|e| HttpFailure::NoResponse(RunError::Host(format!("bad request: {e}"))))
    }

    /// Answers `request` with a fresh instance of the component and collects the response.
    /// The request needs an authority in its URI or a Host header, as over the wire; a body
    /// over the manifest's `max_input_bytes` is refused before anything runs, as the server
    /// refuses it. For a component granted `store`, this waits for the request holding the
    /// store (one at a time, as the server serves them).
    ///
    /// # Errors
    /// [`HttpFailure`], carrying the runtime's own errors.
    pub fn request(&self, request: Request<Vec<u8>>) -> Result<HttpAnswer, HttpFailure> {
        let limits = self.enclave.limits();
        let size = request.body().len() as u64;
        if size > limits.max_input_bytes {
            return Err(HttpFailure::NoResponse(RunError::InputTooLarge {
                size,
                limit: limits.max_input_bytes,
            }));
        }
        let timeout_ms = limits.timeout_ms;
        // Taking a store's transaction may block: here, outside the runtime.
        let exchange = self
            .enclave
            .http(
                request.map(Bytes::from),
                self.scheme.clone(),
                Some(self.services.clone()),
            )
            .map_err(HttpFailure::NoResponse)?;
        self.runtime.block_on(async {
            let within = Duration::from_millis(timeout_ms);
            // Past the deadline the exchange (and with it the component's store) is dropped.
            tokio::time::timeout(within, answer(exchange))
                .await
                .unwrap_or(Err(HttpFailure::NoResponse(RunError::Timeout {
                    timeout_ms,
                })))
        })
    }
}

/// Drives the component's run beside its response, in one future: dropping it (at the
/// deadline) drops the component's store.
async fn answer(exchange: Exchange) -> Result<HttpAnswer, HttpFailure> {
    let Exchange { response, run } = exchange;
    let (ran, collected) = tokio::join!(run, collect(response));
    match (collected, ran) {
        // Why there is no response is the run's error, if it failed.
        (Collected::Unset(_), Err(error)) | (Collected::Unset(error), Ok(_)) => {
            Err(HttpFailure::NoResponse(error))
        }
        (Collected::Cut(status, body, error @ BodyError::TooLarge { .. }), _)
        | (Collected::Cut(status, body, error), Ok(_)) => Err(HttpFailure::BodyFailed {
            status,
            body,
            error,
        }),
        (Collected::Cut(status, body, _), Err(error))
        | (Collected::Whole(http::response::Parts { status, .. }, body), Err(error)) => {
            Err(HttpFailure::RunFailed {
                status,
                body,
                error,
            })
        }
        (Collected::Whole(head, body), Ok(answered)) => Ok(HttpAnswer {
            status: head.status,
            headers: head.headers,
            body,
            answered,
        }),
    }
}

/// What came of the response.
enum Collected {
    /// No response was set.
    Unset(RunError),
    /// The head and the whole body.
    Whole(http::response::Parts, Vec<u8>),
    /// The status, the body until it ended with an error, and the error.
    Cut(StatusCode, Vec<u8>, BodyError),
}

/// Waits for the response, then reads its body to the end or to an error. The body is dropped
/// before this returns, so a component still writing sees its stream closed.
async fn collect(
    response: impl std::future::Future<Output = Result<HttpResponse, RunError>>,
) -> Collected {
    let (head, mut body) = match response.await {
        Ok(response) => response.into_parts(),
        Err(unset) => return Collected::Unset(unset),
    };
    let mut bytes = Vec::new();
    loop {
        match body.frame().await {
            None => return Collected::Whole(head, bytes),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    bytes.extend_from_slice(&data);
                }
            }
            Some(Err(error)) => return Collected::Cut(head.status, bytes, error),
        }
    }
}

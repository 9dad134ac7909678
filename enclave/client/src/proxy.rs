//! `enclave proxy`: plain HTTP on loopback in front of one attested TLS server, so that any HTTP
//! client (curl, Python `requests`, a browser) can call an enclave without knowing attestation.
//!
//! Every request that arrives on the loopback listener is sent, path and query unchanged, to the
//! one upstream `https://HOST:PORT` given at start, over TLS 1.3 connections whose certificates
//! [`AttestedServerVerifier`] checks against the relying party's policy (`attest::tls`): a
//! connection whose evidence does not verify carries no request. Connections to the upstream are
//! kept and reused (hyper-util's pool, via hyper-rustls), so one handshake and one evidence check
//! serve many requests. Bodies stream both ways; nothing is buffered whole.
//!
//! The listener must be a loopback address: past the proxy, the traffic is cleartext, and the
//! guarantee the proxy gives ("this answer came from an enclave your policy accepts") holds only
//! for processes on the same machine. A refusal by the proxy itself is an RFC 9457 problem with a
//! `type` under [`PROBLEM_BASE`] (`docs/formats.md`, "enclave proxy").

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use attest::tls::{AttestedServerVerifier, TlsError};
use attest::VerifierPolicy;
use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The prefix of every problem `type` the proxy sends (the server's own prefix: the proxy speaks
/// for the relying party, in the same vocabulary).
pub const PROBLEM_BASE: &str = "tag:enclave.invalid,2026:problem/";

/// The body of an answer: the upstream's, streamed, or the proxy's own problem document.
pub type ProxyBody = Either<Incoming, Full<Bytes>>;

/// How the proxy behaves; [`ProxyConfig::new`] gives the documented defaults.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The longest wait for a TCP connection and attested handshake to the upstream.
    pub connect_timeout: Duration,
    /// The longest wait for the upstream's response head after the request was sent (a guest
    /// run happens in between).
    pub response_timeout: Duration,
    /// The longest a local client may take to send a request's headers.
    pub header_timeout: Duration,
    /// How long an idle upstream connection is kept for reuse.
    pub idle_timeout: Duration,
    /// Local connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
}

impl ProxyConfig {
    /// Defaults: connect 10 s, response 300 s, headers 10 s, idle 30 s, 256 connections.
    pub fn new() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(300),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_connections: 256,
        }
    }
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// Why the proxy could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The upstream is not an `https://HOST:PORT` URL with nothing after the authority.
    #[error(
        "upstream {0:?} is not an https://HOST:PORT URL (the proxy speaks only attested TLS to it)"
    )]
    Upstream(String),
    /// The listen address is not a loopback address.
    #[error(
        "refusing to listen on {0}: past the proxy the traffic is cleartext, so it listens on \
         loopback only (127.0.0.1 or [::1])"
    )]
    NotLoopback(SocketAddr),
    /// Binding or accepting failed.
    #[error("proxy i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS configuration could not be built.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}

/// The one upstream, `https://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream(Authority);

impl Upstream {
    /// Parses `https://HOST:PORT` (a trailing `/` is allowed; a path, query or user info is not).
    ///
    /// # Errors
    /// [`ProxyError::Upstream`].
    pub fn parse(url: &str) -> Result<Self, ProxyError> {
        let refuse = || ProxyError::Upstream(url.to_owned());
        let uri: Uri = url.parse().map_err(|_| refuse())?;
        if uri.scheme() != Some(&Scheme::HTTPS)
            || uri.path_and_query().is_some_and(|p| p.as_str() != "/")
        {
            return Err(refuse());
        }
        let authority = uri.authority().ok_or_else(refuse)?;
        if authority.as_str().contains('@') {
            return Err(refuse());
        }
        Ok(Self(authority.clone()))
    }

    /// `HOST:PORT` (or `HOST`, port 443).
    pub fn authority(&self) -> &Authority {
        &self.0
    }
}

/// A bound proxy, ready to [`run`](Proxy::run).
#[derive(Debug)]
pub struct Proxy {
    listener: TcpListener,
    forwarder: Arc<Forwarder>,
    config: ProxyConfig,
}

impl Proxy {
    /// Binds `listen` (loopback only) for `upstream`, whose certificates must verify under
    /// `policy`.
    ///
    /// # Errors
    /// [`ProxyError::NotLoopback`], [`ProxyError::Io`] if binding fails.
    pub async fn bind(
        listen: SocketAddr,
        upstream: Upstream,
        policy: VerifierPolicy,
        config: ProxyConfig,
    ) -> Result<Self, ProxyError> {
        if !listen.ip().is_loopback() {
            return Err(ProxyError::NotLoopback(listen));
        }
        let forwarder = Arc::new(Forwarder::new(upstream, policy, &config)?);
        let listener = TcpListener::bind(listen).await?;
        Ok(Self {
            listener,
            forwarder,
            config,
        })
    }

    /// The bound address (the kernel's pick for port 0).
    ///
    /// # Errors
    /// As [`TcpListener::local_addr`].
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves; then stops accepting and returns, leaving the
    /// connections in flight to finish on the runtime.
    ///
    /// # Errors
    /// Only if accepting fails in a way that is not about one connection.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ProxyError> {
        let slots = Arc::new(Semaphore::new(self.config.max_connections.max(1)));
        tokio::pin!(shutdown);
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return Ok(());
            };
            let (stream, _) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    // One failed connection (reset before accept) says nothing about the next.
                    Err(error) if is_transient(&error) => continue,
                    Err(error) => return Err(error.into()),
                },
                () = &mut shutdown => return Ok(()),
            };
            let forwarder = self.forwarder.clone();
            let header_timeout = self.config.header_timeout;
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let forwarder = forwarder.clone();
                    async move { Ok::<_, Infallible>(forwarder.forward(request).await) }
                });
                // A failed local connection concerns only its client.
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                drop(permit);
            });
        }
    }
}

fn is_transient(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted};
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionReset | Interrupted
    )
}

/// Sends requests to the upstream over verified, pooled connections.
struct Forwarder {
    upstream: Upstream,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Incoming>,
    response_timeout: Duration,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

impl Forwarder {
    fn new(
        upstream: Upstream,
        policy: VerifierPolicy,
        config: &ProxyConfig,
    ) -> Result<Self, ProxyError> {
        // hyper-rustls offers the ALPN protocols it enables (http/1.1) itself.
        let tls = Arc::new(AttestedServerVerifier::new(policy)).into_client_config(&[])?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(config.connect_timeout));
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(config.idle_timeout)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(Self {
            upstream,
            client,
            response_timeout: config.connect_timeout + config.response_timeout,
        })
    }

    /// One request: rewritten for the upstream, sent, and its answer passed back as it streams,
    /// or the proxy's problem document.
    async fn forward(&self, request: Request<Incoming>) -> Response<ProxyBody> {
        let (mut parts, body) = request.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let uri = Uri::builder()
            .scheme(Scheme::HTTPS)
            .authority(self.upstream.authority().clone())
            .path_and_query(path)
            .build();
        let Ok(uri) = uri else {
            return problem(
                StatusCode::BAD_REQUEST,
                "bad-request",
                "the request target cannot be forwarded".into(),
            );
        };
        parts.uri = uri;
        parts.version = http::Version::HTTP_11;
        strip_hop_by_hop(&mut parts.headers);
        if let Ok(host) = HeaderValue::from_str(self.upstream.authority().as_str()) {
            parts.headers.insert(header::HOST, host);
        }
        let sent = self.client.request(Request::from_parts(parts, body));
        match tokio::time::timeout(self.response_timeout, sent).await {
            Err(_) => problem(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream-timeout",
                format!(
                    "{} did not answer within {} s",
                    self.upstream.authority(),
                    self.response_timeout.as_secs()
                ),
            ),
            Ok(Err(error)) => self.refusal(&error),
            Ok(Ok(response)) => {
                let (mut parts, body) = response.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                Response::from_parts(parts, Either::Left(body))
            }
        }
    }

    /// The problem for a failed upstream exchange: the verifier's reason when the attested
    /// handshake was refused.
    fn refusal(&self, error: &hyper_util::client::legacy::Error) -> Response<ProxyBody> {
        let upstream = self.upstream.authority();
        if let Some(tls) = TlsError::find_in(error) {
            return problem(
                StatusCode::BAD_GATEWAY,
                "attested-tls-refused",
                format!("{upstream}: the attested TLS certificate was refused: {tls}"),
            );
        }
        if error.is_connect() {
            let mut why = String::new();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                why.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            return problem(
                StatusCode::BAD_GATEWAY,
                "upstream-unreachable",
                format!("cannot reach {upstream}{why}"),
            );
        }
        problem(
            StatusCode::BAD_GATEWAY,
            "upstream-failed",
            format!("{upstream} failed mid-exchange"),
        )
    }
}

/// Removes the headers that describe one connection, not the message (RFC 9110 §7.6.1),
/// including those the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    for name in named {
        headers.remove(name.as_str());
    }
    for name in [
        header::CONNECTION,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

/// An RFC 9457 problem document from the proxy itself.
fn problem(status: StatusCode, kind: &str, detail: String) -> Response<ProxyBody> {
    let document = serde_json::json!({
        "type": format!("{PROBLEM_BASE}{kind}"),
        "title": status.canonical_reason().unwrap_or("error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(document.to_string()))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn upstream_must_be_an_https_authority() {
        assert_eq!(
            Upstream::parse("https://127.0.0.1:8443")
                .unwrap()
                .authority()
                .as_str(),
            "127.0.0.1:8443"
        );
        assert!(Upstream::parse("https://enclave.example:8443/").is_ok());
        for bad in [
            "http://127.0.0.1:8443",
            "127.0.0.1:8443",
            "https://127.0.0.1:8443/v1/run",
            "https://user@127.0.0.1:8443",
            "https://",
        ] {
            let error = Upstream::parse(bad).unwrap_err();
            assert!(
                matches!(error, ProxyError::Upstream(ref u) if u == bad),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn hop_by_hop_headers_are_not_forwarded() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret-hop"),
        );
        headers.insert("x-secret-hop", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        strip_hop_by_hop(&mut headers);
        let left: Vec<_> = headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["content-type"]);
    }

    #[test]
    fn problems_are_rfc9457_documents() {
        let response = problem(StatusCode::BAD_GATEWAY, "upstream-unreachable", "x".into());
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
}

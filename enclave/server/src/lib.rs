//! The enclave as a network service: one loaded, checked bundle served over HTTP/1.1 and HTTP/2
//! (hyper on tokio), with the API of `docs/formats.md`, "HTTP API".
//!
//! - Guest runs execute on worker threads started by [`Enclave::on_guest_thread`], never on the
//!   executor; a bounded queue stands in front of them and a full queue answers 503 at once.
//! - A request body is received whole before its run is queued, so a slow client never holds a
//!   guest thread; bodies are bounded by the length a sealed header declares or the manifest's
//!   input cap, by per-frame and whole-body deadlines, and all together by a memory budget.
//! - Every phase of a connection has a deadline (`conn.rs`); connections are capped, and near the
//!   cap the one idle the longest is closed first.
//! - Refusals are RFC 9457 problem documents whose `type` names the reason ([`Problem`]).
//! - [`Server::run`] serves until its shutdown future resolves, then stops accepting, lets the
//!   requests in flight finish within the drain timeout, and returns.
//!
//! Logs are `tracing` events (the embedder installs a subscriber): request id, route, outcome,
//! status, duration and byte counts — never a payload byte, a key or a client context.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use enclave_platform::{Platform, PlatformReporter};
use enclave_runtime::{Enclave, ReportIssuer};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

mod body;
mod conn;
mod metrics;
mod pool;
pub mod problem;
mod routes;
pub mod tls;

pub use metrics::METRICS_MEDIA_TYPE;
pub use problem::{Problem, ProblemDetails, PROBLEM_BASE, PROBLEM_MEDIA_TYPE};

/// Media type of a sealed input (`POST /v1/run` request body).
pub const SEALED_INPUT_MEDIA_TYPE: &str = "application/vnd.enclave.sealed-input";
/// Media type of a sealed output (`POST /v1/run` response body).
pub const SEALED_OUTPUT_MEDIA_TYPE: &str = "application/vnd.enclave.sealed-output";
/// Media type of a plaintext run's input and output.
pub const PLAINTEXT_MEDIA_TYPE: &str = "application/octet-stream";
/// Media type of evidence (an EAT in a COSE_Sign1, RFC 9711).
pub const EVIDENCE_MEDIA_TYPE: &str = "application/eat+cwt";
/// Response header carrying the signed receipt of a sealed run (standard base64, RFC 4648 §4).
pub const RECEIPT_HEADER: &str = "enclave-receipt";
/// Response header carrying the request id the server's logs name.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// How a server runs; every field has a default ([`Config::default`]).
#[derive(Debug, Clone)]
pub struct Config {
    /// Guest threads (runs executing at once).
    pub workers: usize,
    /// Runs that may wait for a worker; beyond, 503.
    pub queue: usize,
    /// Open connections at most; further ones wait in the kernel's backlog. Near the cap the
    /// connection idle the longest is closed to make room.
    pub max_connections: usize,
    /// Whether `POST /v1/run` takes plaintext (`application/octet-stream`) inputs.
    pub allow_plaintext: bool,
    /// How long a client may take to send a request's headers; for a new connection, counted
    /// from the accept (or the end of the TLS handshake) to its first request's headers, whatever
    /// it sends in between.
    pub header_timeout: Duration,
    /// How long a connection may stay open with no request in flight after its first (HTTP/1.1
    /// keep-alive, or HTTP/2 with no open stream, whatever frames it sends).
    pub idle_timeout: Duration,
    /// With [`Config::tls`], how long a TLS handshake may take.
    pub tls_handshake_timeout: Duration,
    /// Bytes of request bodies held at once (being received, queued or running); beyond, 503.
    /// Never less than one largest sealed input.
    pub max_body_memory: u64,
    /// Longest pause between two pieces of a request body.
    pub body_idle_timeout: Duration,
    /// How long a client may take to send a whole request body.
    pub body_timeout: Duration,
    /// On shutdown, how long requests in flight may take to finish.
    pub drain_timeout: Duration,
    /// `Retry-After` of a 503, in seconds.
    pub retry_after: u32,
    /// Serve attested TLS 1.3 ([`tls`]) instead of cleartext HTTP.
    pub tls: bool,
    /// With [`Config::tls`], how often a new key, evidence and certificate replace the current
    /// ones.
    pub tls_refresh: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            queue: 64,
            max_connections: 1024,
            allow_plaintext: false,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            tls_handshake_timeout: Duration::from_secs(10),
            max_body_memory: 512 << 20,
            body_idle_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(30),
            retry_after: 1,
            tls: false,
            tls_refresh: tls::DEFAULT_REFRESH,
        }
    }
}

/// Why a server could not start or stopped uncleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// An `http` enclave in cleartext without [`Config::allow_plaintext`]: its requests and
    /// responses are its inputs and outputs.
    #[error(
        "an http enclave's requests and responses are its inputs and outputs: serve it with \
         --tls (attested TLS), or pass --allow-plaintext to serve them in cleartext"
    )]
    CleartextHttp,
    /// Binding or configuring the listener failed.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The worker threads could not start.
    #[error("cannot start the worker threads")]
    Workers(#[source] std::io::Error),
    /// The platform would not derive the enclave's keys.
    #[error("cannot derive the enclave's keys on this platform")]
    Keys(#[source] sealer::OpenError),
    /// The platform's root certificate is not PEM.
    #[error("the platform's root certificate is malformed")]
    Root,
    /// The attested TLS certificate could not be made.
    #[error("cannot set up attested TLS")]
    Tls(#[source] tls::TlsSetupError),
    /// Shutdown: requests or runs were still in flight when the drain timeout passed.
    #[error("the drain timeout of {timeout:?} passed with {connections} connection(s) and {runs} run(s) still busy")]
    DrainTimeout {
        /// The drain timeout.
        timeout: Duration,
        /// Connections still open.
        connections: usize,
        /// Runs queued or executing.
        runs: usize,
    },
}

/// What the handlers share.
pub(crate) struct Shared {
    enclave: Arc<Enclave>,
    platform: Arc<Platform>,
    reporter: Arc<dyn ReportIssuer>,
    /// The enclave's key pairs on this platform, derived once.
    keys: enclave_runtime::confidential::ConfidentialKeys,
    config: Config,
    pool: pool::Pool,
    metrics: metrics::Metrics,
    /// `GET /v1/info`, built once.
    info: bytes::Bytes,
    /// Largest sealed input `POST /v1/run` reads: the manifest's input cap, sealed.
    max_sealed_input: u64,
    /// Request bodies held in memory, all together.
    bodies: body::BodyBudget,
    /// The open connections, for deadlines and eviction.
    connections: Arc<conn::Registry>,
    draining: AtomicBool,
    next_request: AtomicU64,
    /// With `--tls`: the acceptor and its certificate renewal.
    tls: Option<tls::Attested>,
    /// An `http` enclave's instances that may run at once (its slots).
    component_slots: Arc<Semaphore>,
    /// Requests to an `http` enclave waiting for a slot (or still receiving their body).
    component_waiting: std::sync::atomic::AtomicUsize,
}

/// A server bound to its address, with the enclave loaded and its workers started.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds `addr` and starts the workers for `enclave` on `platform`. Call inside a tokio
    /// runtime.
    ///
    /// # Errors
    /// [`ServeError`].
    pub async fn bind(
        addr: SocketAddr,
        enclave: Arc<Enclave>,
        platform: Arc<Platform>,
        config: Config,
    ) -> Result<Self, ServeError> {
        if enclave.is_http() && !config.tls && !config.allow_plaintext {
            return Err(ServeError::CleartextHttp);
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Listen { addr, source })?;
        let reporter: Arc<dyn ReportIssuer> = Arc::new(PlatformReporter::new(
            platform.clone(),
            &enclave,
            std::time::SystemTime::now,
        ));
        let keys = enclave
            .confidential_keys(platform.as_ref())
            .map_err(ServeError::Keys)?;
        let limits = &enclave.bundle().manifest().limits;
        let max_sealed_input = sealer::sealed_input_len(limits.max_input_bytes).unwrap_or(u64::MAX);
        let info = routes::info_document(&enclave, &platform, &config, max_sealed_input)
            .ok_or(ServeError::Root)?;
        let pool = pool::Pool::start(&enclave, config.workers, config.queue)
            .map_err(ServeError::Workers)?;
        let metrics = metrics::Metrics::new(enclave.free_instance_slots());
        let bodies = body::BodyBudget::new(
            config.max_body_memory.max(max_sealed_input),
            metrics.body_bytes_reserved.clone(),
        );
        let tls = if config.tls {
            let (tls, issued) = tls::Attested::start(&platform, &enclave, config.tls_refresh)
                .map_err(ServeError::Tls)?;
            metrics.tls_certificate_issued.set(issued);
            Some(tls)
        } else {
            None
        };
        Ok(Self {
            listener,
            shared: Arc::new(Shared {
                enclave: enclave.clone(),
                platform,
                reporter,
                keys,
                config,
                pool,
                metrics,
                info,
                max_sealed_input,
                bodies,
                connections: Arc::default(),
                draining: AtomicBool::new(false),
                next_request: AtomicU64::new(1),
                tls,
                component_slots: Arc::new(Semaphore::new(
                    usize::try_from(enclave_runtime::engine::POOL_INSTANCES).unwrap_or(16),
                )),
                component_waiting: std::sync::atomic::AtomicUsize::new(0),
            }),
        })
    }

    /// The address it listens on (useful after binding port 0).
    ///
    /// # Errors
    /// The socket's error.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves; then stops accepting, answers the requests in flight
    /// (each within the drain timeout) and returns.
    ///
    /// # Errors
    /// [`ServeError::DrainTimeout`] when requests were still running at the deadline.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
        let Self { listener, shared } = self;
        let builder = http_builder(&shared.config);
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let cap = shared.config.max_connections.max(1);
        let slots = Arc::new(Semaphore::new(cap));
        // Below this many free slots, each new connection closes the one idle the longest.
        let reserve = (cap / 32).max(1);
        tokio::pin!(shutdown);
        tracing::info!(
            addr = %listener.local_addr().map_or_else(|e| e.to_string(), |a| a.to_string()),
            measurement = %shared.enclave.measurement(),
            workers = shared.config.workers,
            queue = shared.config.queue,
            tls = shared.tls.is_some(),
            "serving"
        );
        let renewal = shared.tls.is_some().then(|| {
            let shared = shared.clone();
            tokio::spawn(async move { renew_certificates(&shared).await })
        });
        loop {
            if slots.available_permits() <= reserve {
                // Counted when the connection closes (it may have become busy and stay).
                shared.connections.evict_oldest_idle();
            }
            let permit = tokio::select! {
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
                // At the cap with nothing idle to close: look again soon, as requests end.
                () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                () = &mut shutdown => break,
            };
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of descriptors and the like: back off rather than spin.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let registered = shared.connections.register(shared.tls.is_some());
            let watcher = graceful.watcher();
            let builder = builder.clone();
            let shared = shared.clone();
            tokio::spawn(async move {
                shared.metrics.connections.inc();
                let timeouts = conn::Timeouts {
                    handshake: shared
                        .tls
                        .is_some()
                        .then_some(shared.config.tls_handshake_timeout),
                    first_request: shared.config.header_timeout,
                    idle: shared.config.idle_timeout,
                };
                let activity = registered.activity.clone();
                let served = serve_connection(&shared, stream, peer, &activity, &builder, watcher);
                // Counted before the connection is dropped (and its peer sees the close).
                let watchdog = async {
                    let closed = activity.watchdog(timeouts).await;
                    if closed == conn::Closed::TlsHandshakeTimeout {
                        shared.metrics.tls_handshake("timeout");
                    }
                    shared.metrics.connection_closed(closed);
                    closed
                };
                tokio::select! {
                    () = served => {}
                    closed = watchdog => {
                        tracing::debug!(%peer, reason = closed.label(), "connection closed");
                    }
                }
                drop(registered);
                shared.metrics.connections.dec();
                drop(permit);
            });
        }
        if let Some(renewal) = renewal {
            renewal.abort();
        }
        shared.draining.store(true, Ordering::SeqCst);
        drop(listener);
        tracing::info!("shutting down: no new connections; finishing requests in flight");
        let deadline = Instant::now() + shared.config.drain_timeout;
        let drained = tokio::time::timeout(shared.config.drain_timeout, graceful.shutdown())
            .await
            .is_ok();
        let workers_done = {
            let shared = shared.clone();
            tokio::task::spawn_blocking(move || shared.pool.close(deadline))
                .await
                .unwrap_or(false)
        };
        if drained && workers_done {
            tracing::info!("stopped");
            return Ok(());
        }
        Err(ServeError::DrainTimeout {
            timeout: shared.config.drain_timeout,
            connections: cap.saturating_sub(slots.available_permits()),
            runs: shared
                .pool
                .queued()
                .saturating_add(usize::try_from(shared.metrics.runs_in_flight.get()).unwrap_or(0)),
        })
    }
}

/// HTTP/1.1 and HTTP/2 as this server speaks them.
fn http_builder(config: &Config) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .keep_alive(true);
    // The server's PINGs find dead peers; a peer's own PINGs keep nothing open (the idle
    // timeout counts requests, not frames).
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(config.header_timeout))
        .keep_alive_timeout(config.header_timeout);
    builder
}

/// Serves one connection: the TLS handshake (with `--tls`, within its deadline) and then HTTP
/// until the client or the graceful shutdown ends it. The caller enforces the other deadlines.
async fn serve_connection(
    shared: &Arc<Shared>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    activity: &Arc<conn::Activity>,
    builder: &auto::Builder<TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let service = {
        let shared = shared.clone();
        let activity = activity.clone();
        service_fn(move |request| {
            let shared = shared.clone();
            let in_flight = activity.request();
            async move {
                let answer = routes::handle(shared, request).await;
                drop(in_flight);
                Ok::<_, std::convert::Infallible>(answer)
            }
        })
    };
    let served = match &shared.tls {
        None => {
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            watcher.watch(connection.into_owned()).await
        }
        Some(tls) => {
            // The handshake's deadline is the watchdog's, as every other phase's.
            match tls.acceptor.accept(stream).await {
                Ok(stream) => {
                    shared.metrics.tls_handshake("ok");
                    activity.handshake_done();
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(connection.into_owned()).await
                }
                Err(error) => {
                    shared.metrics.tls_handshake("failed");
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    Ok(())
                }
            }
        }
    };
    if let Err(error) = served {
        tracing::debug!(%peer, error = %error, "connection ended with an error");
    }
}

/// Renews the attested certificate every refresh interval, on a blocking thread (an ECDSA
/// signature and a key generation), until the task is aborted.
async fn renew_certificates(shared: &Arc<Shared>) {
    let Some(refresh) = shared.tls.as_ref().map(tls::Attested::refresh) else {
        return;
    };
    loop {
        tokio::time::sleep(refresh).await;
        let renewing = shared.clone();
        let renewed = tokio::task::spawn_blocking(move || {
            renewing
                .tls
                .as_ref()
                .map(|tls| tls.renew(&renewing.platform, &renewing.enclave))
        })
        .await;
        match renewed {
            Ok(Some(Ok(issued))) => {
                shared.metrics.tls_renewal("ok");
                shared.metrics.tls_certificate_issued.set(issued);
                tracing::debug!("attested TLS certificate renewed");
            }
            Ok(Some(Err(error))) => {
                shared.metrics.tls_renewal("failed");
                tracing::error!(%error, "cannot renew the attested TLS certificate; the current one will go stale");
            }
            Ok(None) | Err(_) => {}
        }
    }
}

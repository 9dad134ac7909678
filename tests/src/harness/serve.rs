//! A real server on 127.0.0.1 in the test's process: [`Harness::serve`] binds an
//! `enclave_server::Server` for an enclave on the harness's platform (port 0, its own tokio
//! runtime on a thread), captures its `tracing` events (every level) as the operator's logs,
//! puts a recording relay in front of it (the operator's network), and hands back a [`Served`]
//! that makes clients (through the relay), reads `/metrics` and stops it. Dropping it stops the
//! server.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use attest::VerifierPolicy;
use enclave_client::{Client, SealTo};
use enclave_runtime::Enclave;
use enclave_server::{ServeError, Server};

pub use enclave_server::Config as ServeConfig;

use super::logs::{log_dispatch, Captured};
use super::wire::Relay;
use super::{Harness, HarnessError, OperatorView};

/// How long a test waits on the server for something not about time (binding, a response):
/// long enough for a loaded machine.
pub const PATIENCE: Duration = Duration::from_secs(600);

/// Largest `/metrics` answer read.
const MAX_METRICS: u64 = 4 * 1024 * 1024;

/// A server running on 127.0.0.1 for one enclave.
pub struct Served {
    addr: SocketAddr,
    relay: Relay,
    tls: bool,
    policy: VerifierPolicy,
    logs: Captured,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), ServeError>>>,
}

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Served")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl Harness {
    /// Serves `enclave` on this platform at 127.0.0.1 (a free port) with `config`; the relying
    /// party's policy for its clients is this root and the enclave's measurement (debug allowed
    /// when the enclave is a debug enclave).
    ///
    /// # Errors
    /// [`HarnessError::Serve`] when it cannot bind or start; [`HarnessError::Io`] for the
    /// runtime's threads.
    pub fn serve(
        &self,
        enclave: Arc<Enclave>,
        config: ServeConfig,
    ) -> Result<Served, HarnessError> {
        let policy = VerifierPolicy::new(vec![self.root()])
            .measurement(enclave.measurement())
            .allow_debug(enclave.bundle().manifest().debug);
        let logs = Captured::default();
        let dispatch = log_dispatch(&logs);
        let runtime = tokio_runtime(&dispatch)?;
        let platform = self.platform().clone();
        let tls = config.tls;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (bound, addr) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("harness-serve".into())
            .spawn(move || {
                let _guard = tracing::dispatcher::set_default(&dispatch);
                runtime.block_on(async move {
                    let server =
                        Server::bind(([127, 0, 0, 1], 0).into(), enclave, platform, config).await;
                    let server = match server {
                        Ok(server) => server,
                        Err(error) => {
                            let _ = bound.send(None);
                            return Err(error);
                        }
                    };
                    let _ = bound.send(server.local_addr().ok());
                    server
                        .run(async move {
                            let _ = stopped.await;
                        })
                        .await
                })
            })?;
        match addr.recv_timeout(PATIENCE) {
            Ok(Some(addr)) => Ok(Served {
                addr,
                relay: Relay::start(addr)?,
                tls,
                policy,
                logs,
                stop: Some(stop),
                thread: Some(thread),
            }),
            _ => Err(match thread.join() {
                Ok(Err(error)) => HarnessError::Serve(error),
                _ => HarnessError::Io(std::io::Error::other("the server did not start")),
            }),
        }
    }
}

/// A multi-threaded runtime whose threads all log to `dispatch`.
fn tokio_runtime(dispatch: &tracing::Dispatch) -> std::io::Result<tokio::runtime::Runtime> {
    let dispatch = dispatch.clone();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            // The runtime's threads live until it is dropped: keep the default for their life.
            std::mem::forget(tracing::dispatcher::set_default(&dispatch));
        })
        .build()
}

impl Served {
    /// The server's own address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (`https://` with attested TLS) of the operator's relay in front of
    /// the server: what a client connects to, every byte recorded ([`Served::wire`]).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.relay.addr())
    }

    /// Every byte that crossed the relay so far, both directions (requests, responses, headers;
    /// ciphertext with attested TLS).
    pub fn wire(&self) -> Vec<u8> {
        self.relay.recorded()
    }

    /// The relying party's policy its clients use.
    pub fn policy(&self) -> &VerifierPolicy {
        &self.policy
    }

    /// A client of this server (through the relay) sealing to the measurement key, with
    /// [`PATIENCE`] as its timeout.
    ///
    /// # Errors
    /// [`HarnessError::Client`].
    pub fn client(&self) -> Result<Client, HarnessError> {
        self.client_with(self.policy.clone())
    }

    /// A client under another `policy` (e.g. one pinning another measurement).
    ///
    /// # Errors
    /// [`HarnessError::Client`].
    pub fn client_with(&self, policy: VerifierPolicy) -> Result<Client, HarnessError> {
        Ok(Client::new(&self.url(), policy)?
            .seal_to(SealTo::Measurement)
            .timeout(PATIENCE))
    }

    /// The server's log so far (every `tracing` event, plain text).
    pub fn logs(&self) -> String {
        self.logs.text()
    }

    /// `GET /metrics` (Prometheus text), over cleartext HTTP only.
    ///
    /// # Errors
    /// [`HarnessError::Io`], also for a TLS server.
    pub fn metrics(&self) -> Result<String, HarnessError> {
        if self.tls {
            return Err(std::io::Error::other("metrics() reads cleartext servers only").into());
        }
        let mut stream = TcpStream::connect(self.addr)?;
        stream.set_read_timeout(Some(PATIENCE))?;
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")?;
        let mut response = Vec::new();
        stream.take(MAX_METRICS).read_to_end(&mut response)?;
        let text = String::from_utf8_lossy(&response);
        Ok(text
            .split_once("\r\n\r\n")
            .map_or_else(String::new, |(_, body)| body.to_owned()))
    }

    /// What the operator saw of this server: the network traffic of its clients, its log, its
    /// metrics and every file in the platform home of `h`.
    pub fn operator_view(&self, h: &Harness) -> OperatorView {
        OperatorView::new()
            .with("network", &self.wire())
            .with_text("server log", &self.logs())
            .with_text("metrics", &self.metrics().unwrap_or_default())
            .with_home(h)
    }

    /// Stops the server as SIGTERM does (drain, then return).
    ///
    /// # Errors
    /// [`HarnessError::Serve`] when the drain timed out.
    pub fn stop(mut self) -> Result<(), HarnessError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), HarnessError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(Err(error))) => Err(error.into()),
            Some(Err(_)) => Err(std::io::Error::other("the server thread panicked").into()),
            _ => Ok(()),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

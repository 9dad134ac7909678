//! A real server on 127.0.0.1 for the tests, and raw-socket helpers for what a well-behaved
//! client never sends.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use attest::{Manifest, VerifierPolicy};
use enclave_client::{Client, SealTo};
use enclave_server::{Config, ServeError, Server};
use enclave_tests::harness::Harness;

/// The bound for anything a test waits on that is not itself about time: long enough for a
/// machine under any load.
pub const PATIENCE: Duration = Duration::from_secs(600);

pub struct Running {
    pub addr: SocketAddr,
    pub harness: Harness,
    pub measurement: attest::Measurement,
    /// The enclave served (for tests that make their own certificates for it).
    pub enclave: Arc<enclave_runtime::Enclave>,
    tls: bool,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), ServeError>>>,
}

impl Running {
    /// Serves `module` under `manifest` with `config`, on a throw-away platform.
    pub fn start(module: &[u8], manifest: &Manifest, config: Config) -> Self {
        let harness = Harness::new().unwrap();
        let enclave = Arc::new(
            harness
                .load(&harness.sign(module, manifest).unwrap())
                .unwrap(),
        );
        let measurement = enclave.measurement();
        let platform = harness.platform().clone();
        let tls = config.tls;
        let served = enclave.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (bound, addr) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let server =
                    Server::bind("127.0.0.1:0".parse().unwrap(), enclave, platform, config).await?;
                bound.send(server.local_addr().unwrap()).unwrap();
                server
                    .run(async move {
                        let _ = stopped.await;
                    })
                    .await
            })
        });
        let addr = addr.recv_timeout(PATIENCE).expect("server bound");
        Self {
            addr,
            harness,
            measurement,
            enclave: served,
            tls,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn policy(&self) -> VerifierPolicy {
        VerifierPolicy::new(vec![self.harness.root()]).measurement(self.measurement)
    }

    pub fn client(&self) -> Client {
        Client::new(&self.url(), self.policy())
            .unwrap()
            .seal_to(SealTo::Measurement)
            .timeout(PATIENCE)
    }

    /// A sealed input for this server's enclave, sealed against fresh evidence from it.
    pub fn sealed(&self, plaintext: &[u8]) -> (Vec<u8>, sealer::ClientContext) {
        let evidence = self.client().attest().unwrap();
        let target = enclave_client::seal_target(&evidence, SealTo::Measurement).unwrap();
        let mut sealed = Vec::new();
        let context =
            sealer::seal(&target, plaintext, plaintext.len() as u64, &mut sealed).unwrap();
        (sealed, context)
    }

    /// Asks the server to stop, as SIGTERM does, and returns what `run` returned.
    pub fn stop(mut self) -> Result<(), ServeError> {
        self.stop.take().unwrap().send(()).unwrap();
        self.thread.take().unwrap().join().unwrap()
    }

    /// Starts the shutdown without waiting for it.
    pub fn begin_stop(&mut self) -> std::thread::JoinHandle<Result<(), ServeError>> {
        self.stop.take().unwrap().send(()).unwrap();
        self.thread.take().unwrap()
    }

    /// A raw connection to the server: TCP, or TLS (verified against [`Running::policy`]) when
    /// it serves TLS.
    pub fn connect(&self) -> Box<dyn Stream> {
        let socket = TcpStream::connect(self.addr).unwrap();
        socket.set_read_timeout(Some(PATIENCE)).unwrap();
        if !self.tls {
            return Box::new(socket);
        }
        Box::new(self.tls_connect())
    }

    /// A TLS connection with its handshake completed (and nothing sent).
    pub fn tls_connect(&self) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
        let mut socket = TcpStream::connect(self.addr).unwrap();
        socket.set_read_timeout(Some(PATIENCE)).unwrap();
        let verifier = Arc::new(attest::tls::AttestedServerVerifier::new(self.policy()));
        let config = Arc::new(verifier.into_client_config(&[b"http/1.1"]).unwrap());
        let name = rustls::pki_types::ServerName::try_from("enclave.test").unwrap();
        let mut connection = rustls::ClientConnection::new(config, name).unwrap();
        while connection.is_handshaking() {
            connection.complete_io(&mut socket).unwrap();
        }
        rustls::StreamOwned::new(connection, socket)
    }

    /// One request over a fresh connection (TLS when the server speaks it).
    pub fn request(&self, head: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
        let mut stream = self.connect();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        read_response(&mut stream)
    }

    /// The value of one metric line (`name{labels} value`), 0 when absent.
    pub fn metric(&self, line_prefix: &str) -> f64 {
        let head = "GET /metrics HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n";
        let text = self.request(head, b"").2;
        let text = String::from_utf8(text).unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(line_prefix)?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// Waits until `condition` holds (bounded by [`PATIENCE`]).
    pub fn wait_for(&self, what: &str, condition: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !condition(self) {
            assert!(Instant::now() < deadline, "gave up waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A byte stream to the server, plain or TLS.
pub trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// A request head with a body of `len` bytes of `media_type`, closing the connection after.
pub fn post_head(path: &str, media_type: &str, len: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\ncontent-type: {media_type}\r\ncontent-length: {len}\r\n\r\n"
    )
}

/// One request over a fresh connection: `(status, headers, body)`.
pub fn request(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    read_response(&mut stream)
}

pub fn get(addr: SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n"),
        b"",
    )
}

pub fn post(addr: SocketAddr, path: &str, media_type: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    request(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\ncontent-type: {media_type}\r\ncontent-length: {}\r\n\r\n",
            body.len()
        ),
        body,
    )
}

/// Reads one response of a `connection: close` exchange (or up to EOF).
pub fn read_response(stream: &mut (impl Read + ?Sized)) -> (u16, String, Vec<u8>) {
    let mut raw = Vec::new();
    // A TLS peer may close without close_notify after `connection: close`: what was read counts.
    if let Err(error) = stream.read_to_end(&mut raw) {
        assert!(!raw.is_empty(), "no response: {error}");
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let body = raw[split + 4..].to_vec();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    (status, head.to_ascii_lowercase(), body)
}

/// The problem document's type slug and status.
pub fn problem(body: &[u8]) -> (String, u64) {
    let doc: serde_json::Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not a problem document: {}", String::from_utf8_lossy(body)));
    let kind = doc["type"]
        .as_str()
        .unwrap()
        .strip_prefix(enclave_server::PROBLEM_BASE)
        .unwrap()
        .to_owned();
    (kind, doc["status"].as_u64().unwrap())
}

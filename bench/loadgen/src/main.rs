//! Load generator for `enclave serve` (bench/serve.sh, docs/performance.md "Serving").
//!
//! - `loadgen ceiling`: the in-process ceiling — `run_sealed` on pre-sealed distinct 1 KiB
//!   requests on N guest threads, no HTTP — requests per second.
//! - `loadgen http`: pre-seals distinct requests against the server's verified evidence, then
//!   sends them over C kept-alive HTTP/1.1 connections (hyper's client), and reports requests
//!   per second and the latency distribution. Only the server's answer status is checked: the
//!   client's receipt verification and opening are not part of the served figure.
//!
//! - `loadgen handshakes`: full TLS 1.3 handshakes per second against `enclave serve --tls`,
//!   with the attested certificate verified (`attest::tls`), and, as the peer in the same run,
//!   with any certificate accepted: the difference is the cost of attestation.
//!
//! - `loadgen attack`: the hostile clients of issue 27 at once (silent, silent after TLS, idle
//!   h2, slow bodies), each reopened when closed, until killed (bench/attack.sh).
//!
//! - `loadgen plain`: one plain route (any method, a body of fixed size) over C kept-alive
//!   connections for a fixed time, against any HTTP server: an `http` enclave or `wasmtime serve`
//!   (bench/http.sh).
//!
//! `http` takes an `https://` URL too: requests then go over kept-alive attested connections.
//! Each prints one JSON object on standard output.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a benchmark tool: a panic is a failed run"
)]

mod attack;
mod plain;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use attest::verify::VerifierPolicy;
use attest::Measurement;
use bytes::Bytes;
use clap::Parser;
use enclave_client::{seal_target, Client, SealTo};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;

#[derive(Debug, Parser)]
enum Cli {
    /// `run_sealed` in process: the ceiling of what a server can serve.
    Ceiling {
        /// The platform home.
        #[arg(long)]
        home: PathBuf,
        /// The bundle.
        #[arg(long)]
        bundle: PathBuf,
        /// Guest threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Requests in all.
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
        /// Plaintext bytes per request.
        #[arg(long, default_value_t = 1024)]
        size: usize,
    },
    /// Requests over HTTP to a running server.
    Http {
        /// The server, e.g. http://127.0.0.1:8080, or https://… for attested TLS.
        #[arg(long)]
        url: String,
        /// The vendor root (PEM).
        #[arg(long)]
        root: PathBuf,
        /// The expected measurement.
        #[arg(long)]
        measurement: Measurement,
        /// Concurrent connections.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Requests in all (after a warm-up of one per connection).
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
        /// Plaintext bytes per request.
        #[arg(long, default_value_t = 1024)]
        size: usize,
    },
    /// Hostile connections against `enclave serve --tls`, held until killed.
    Attack {
        /// The server, HOST:PORT.
        #[arg(long)]
        addr: String,
        /// Silent TCP connections.
        #[arg(long, default_value_t = 1100)]
        silent: usize,
        /// Connections silent after the TLS handshake.
        #[arg(long, default_value_t = 50)]
        silent_tls: usize,
        /// Idle HTTP/2 connections answering PINGs.
        #[arg(long, default_value_t = 50)]
        idle_h2: usize,
        /// Uploads at one byte a second.
        #[arg(long, default_value_t = 20)]
        slow_body: usize,
    },
    /// One plain route for a fixed time, against any HTTP server.
    Plain(plain::PlainArgs),
    /// TLS handshakes per second against `enclave serve --tls`.
    Handshakes {
        /// The server, HOST:PORT.
        #[arg(long)]
        addr: String,
        /// The vendor root (PEM).
        #[arg(long)]
        root: PathBuf,
        /// The expected measurement.
        #[arg(long)]
        measurement: Measurement,
        /// Handshakes in all, per verification mode.
        #[arg(long, default_value_t = 2_000)]
        handshakes: usize,
        /// Client threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse() {
        Cli::Ceiling {
            home,
            bundle,
            threads,
            requests,
            size,
        } => ceiling(&home, &bundle, threads, requests, size),
        Cli::Http {
            url,
            root,
            measurement,
            connections,
            requests,
            size,
        } => http(&url, &root, measurement, connections, requests, size),
        Cli::Attack {
            addr,
            silent,
            silent_tls,
            idle_h2,
            slow_body,
        } => attack::attack(
            &addr,
            attack::Counts {
                silent,
                silent_tls,
                idle_h2,
                slow_body,
            },
            Arc::new(accept_anything()?),
        ),
        Cli::Plain(args) => plain::plain(&args),
        Cli::Handshakes {
            addr,
            root,
            measurement,
            handshakes: count,
            threads,
        } => handshakes(&addr, &root, measurement, count, threads),
    }
}

/// Accepts any certificate: the peer of the attested verifier, for the cost of attestation.
#[derive(Debug)]
struct AcceptAnything(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        vec![rustls::SignatureScheme::ECDSA_NISTP256_SHA256]
    }
}

/// A TLS 1.3 client config (ALPN http/1.1) that accepts any certificate.
fn accept_anything() -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut anything = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider)))
        .with_no_client_auth();
    anything.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(anything)
}

fn attested_config(policy: VerifierPolicy) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let verifier = Arc::new(attest::tls::AttestedServerVerifier::new(policy));
    Ok(Arc::new(verifier.into_client_config(&[b"http/1.1"])?))
}

fn handshakes(
    addr: &str,
    root: &std::path::Path,
    measurement: Measurement,
    count: usize,
    threads: usize,
) -> anyhow::Result<()> {
    let root_pem = std::fs::read_to_string(root)?;
    let policy = VerifierPolicy::from_pem_roots(&root_pem)?.measurement(measurement);
    let anything = accept_anything()?;
    let configs = [
        ("attested", attested_config(policy)?),
        ("unverified", Arc::new(anything)),
    ];
    let mut report = serde_json::Map::new();
    // Interleaved rounds, so that both modes see the same machine.
    let rounds = 4;
    let mut totals = [Duration::ZERO; 2];
    for _ in 0..rounds {
        for (slot, (_, config)) in configs.iter().enumerate() {
            totals[slot] += handshake_round(addr, config, count / rounds, threads)?;
        }
    }
    for (slot, (name, _)) in configs.iter().enumerate() {
        report.insert(
            format!("{name}_handshakes_per_second"),
            ((count / rounds * rounds) as f64 / totals[slot].as_secs_f64()).into(),
        );
    }
    report.insert("mode".into(), "handshakes".into());
    report.insert("threads".into(), threads.into());
    report.insert("handshakes".into(), (count / rounds * rounds).into());
    println!("{}", serde_json::Value::Object(report));
    Ok(())
}

/// `count` sequential handshakes spread over `threads` threads; the wall time.
fn handshake_round(
    addr: &str,
    config: &Arc<rustls::ClientConfig>,
    count: usize,
    threads: usize,
) -> anyhow::Result<Duration> {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    while next.fetch_add(1, Ordering::Relaxed) < count {
                        let mut socket = std::net::TcpStream::connect(addr)?;
                        socket.set_nodelay(true)?;
                        let name = rustls::pki_types::ServerName::try_from("enclave.test")?;
                        let mut connection = rustls::ClientConnection::new(config.clone(), name)?;
                        while connection.is_handshaking() {
                            connection.complete_io(&mut socket)?;
                        }
                        connection.send_close_notify();
                        let _ = connection.complete_io(&mut socket);
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("handshake thread"))
    })?;
    Ok(started.elapsed())
}

/// A 1 KiB-ish text of words, different for every `i`.
fn plaintext(i: usize, size: usize) -> Vec<u8> {
    let mut text = Vec::with_capacity(size);
    let mut n = i;
    while text.len() < size {
        text.extend_from_slice(format!("w{} ", n % 97).as_bytes());
        n = n.wrapping_mul(31).wrapping_add(7);
    }
    text.truncate(size);
    text
}

/// Seals `count` distinct inputs to verified `evidence`, on all cores.
fn seal_many(
    evidence: &attest::VerifiedEvidence,
    count: usize,
    size: usize,
) -> anyhow::Result<Vec<Bytes>> {
    let target = seal_target(evidence, SealTo::Measurement)?;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunks: Vec<Vec<usize>> = (0..threads)
        .map(|t| (t..count).step_by(threads).collect())
        .collect();
    let sealed = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|indices| {
                scope.spawn(move || {
                    indices
                        .iter()
                        .map(|&i| {
                            let input = plaintext(i, size);
                            let mut out = Vec::with_capacity(size + 256);
                            sealer::seal(&target, input.as_slice(), input.len() as u64, &mut out)
                                .map(|_| Bytes::from(out))
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("sealing thread"))
            .collect::<Result<Vec<_>, _>>()
    })?;
    Ok(sealed.into_iter().flatten().collect())
}

fn ceiling(
    home: &std::path::Path,
    bundle: &std::path::Path,
    threads: usize,
    requests: usize,
    size: usize,
) -> anyhow::Result<()> {
    let platform = enclave_platform::Platform::open(home)?;
    let bytes = std::fs::read(bundle)?;
    let cache = platform.code_cache();
    let enclave =
        enclave_runtime::Enclave::load_cached(&bytes, enclave_runtime::Signers::Any, Some(&cache))?;
    let nonce = [7u8; 16];
    let evidence = platform.attest(&enclave, &nonce, &[], SystemTime::now())?;
    let root = pem::parse(platform.root_pem())?.into_contents();
    let policy = VerifierPolicy::new(vec![root])
        .measurement(enclave.measurement())
        .nonce(nonce.to_vec());
    let verified = attest::verify(&evidence, &policy, SystemTime::now())?;
    let sealed = seal_many(&verified, requests, size)?;
    // As the server does: the enclave's key pairs derived once.
    let keys = enclave.confidential_keys(&platform)?;
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                enclave
                    .on_guest_thread(|| loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(input) = sealed.get(i) else { break };
                        enclave
                            .run_sealed_with(
                                &keys,
                                &platform,
                                std::io::Cursor::new(input.clone()),
                                Vec::new(),
                                None,
                                SystemTime::now,
                            )
                            .expect("run_sealed");
                    })
                    .expect("guest thread");
            });
        }
    });
    let elapsed = started.elapsed();
    println!(
        "{}",
        serde_json::json!({
            "mode": "ceiling",
            "threads": threads,
            "requests": requests,
            "seconds": elapsed.as_secs_f64(),
            "requests_per_second": requests as f64 / elapsed.as_secs_f64(),
        })
    );
    Ok(())
}

fn http(
    url: &str,
    root: &std::path::Path,
    measurement: Measurement,
    connections: usize,
    requests: usize,
    size: usize,
) -> anyhow::Result<()> {
    let root_pem = std::fs::read_to_string(root)?;
    let policy = VerifierPolicy::from_pem_roots(&root_pem)?.measurement(measurement);
    let client = Client::new(url, policy.clone())?;
    let evidence = client.attest().context("attesting the server")?;
    let tls = url
        .starts_with("https://")
        .then(|| attested_config(policy))
        .transpose()?
        .map(tokio_rustls::TlsConnector::from);
    let warmup = connections;
    let sealed = Arc::new(seal_many(&evidence, requests + warmup, size)?);
    let authority = url
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let tls_used = tls.is_some();
    let report = runtime.block_on(async move {
        // Connect and warm up each connection with one request.
        let mut senders = Vec::with_capacity(connections);
        for i in 0..connections {
            let stream = tokio::net::TcpStream::connect(&authority).await?;
            stream.set_nodelay(true)?;
            let mut sender = match &tls {
                None => {
                    let (sender, connection) =
                        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                    tokio::spawn(connection);
                    sender
                }
                Some(connector) => {
                    let name = rustls::pki_types::ServerName::try_from("enclave.test")?;
                    let stream = connector.connect(name, stream).await?;
                    let (sender, connection) =
                        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                    tokio::spawn(connection);
                    sender
                }
            };
            send(&mut sender, &authority, sealed[requests + i].clone()).await?;
            senders.push(sender);
        }
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let tasks: Vec<_> = senders
            .into_iter()
            .map(|mut sender| {
                let next = next.clone();
                let sealed = sealed.clone();
                let authority = authority.clone();
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    let mut failures = 0usize;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= requests {
                            break;
                        }
                        let sent = Instant::now();
                        match send(&mut sender, &authority, sealed[i].clone()).await {
                            Ok(()) => latencies.push(sent.elapsed()),
                            Err(_) => failures += 1,
                        }
                    }
                    (latencies, failures)
                })
            })
            .collect();
        let mut latencies = Vec::with_capacity(requests);
        let mut failures = 0;
        for task in tasks {
            let (l, f) = task.await?;
            latencies.extend(l);
            failures += f;
        }
        let elapsed = started.elapsed();
        anyhow::Ok((latencies, failures, elapsed))
    })?;
    let (mut latencies, failures, elapsed) = report;
    latencies.sort_unstable();
    println!(
        "{}",
        serde_json::json!({
            "mode": if tls_used { "https" } else { "http" },
            "connections": connections,
            "requests": requests,
            "failures": failures,
            "seconds": elapsed.as_secs_f64(),
            "requests_per_second": latencies.len() as f64 / elapsed.as_secs_f64(),
            "latency_ms": latency_summary(&latencies),
        })
    );
    anyhow::ensure!(failures == 0, "{failures} requests failed");
    Ok(())
}

/// p50, p90, p99, p99.9 and max of sorted `latencies`, in milliseconds.
fn latency_summary(latencies: &[Duration]) -> serde_json::Value {
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1000.0
    };
    serde_json::json!({
        "p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "p999": pct(0.999),
        "max": latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    })
}

/// One `POST /v1/run`; the whole answer is read and must be 200.
async fn send(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    authority: &str,
    sealed: Bytes,
) -> anyhow::Result<()> {
    let request = http::Request::post("/v1/run")
        .header(http::header::HOST, authority)
        .header(
            http::header::CONTENT_TYPE,
            "application/vnd.enclave.sealed-input",
        )
        .header(http::header::CONTENT_LENGTH, sealed.len())
        .body(Full::new(sealed))?;
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    anyhow::ensure!(
        status == http::StatusCode::OK,
        "status {status}: {}",
        String::from_utf8_lossy(&body)
    );
    Ok(())
}

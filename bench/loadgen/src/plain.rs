//! `loadgen plain`: one plain HTTP route (any method, an optional body of fixed size) sent over C
//! kept-alive HTTP/1.1 connections for a fixed time, against any server — `enclave serve` of an
//! `http` enclave or `wasmtime serve` (bench/http.sh, issue 31). Every answer must be 200 and
//! is read whole; requests per second and the latency distribution are printed as one JSON
//! object, in the same shape as `loadgen http`'s. An `https://` URL goes over attested TLS
//! (`attest::tls`, the certificate verified against the vendor root and the measurement).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use attest::verify::VerifierPolicy;
use attest::Measurement;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;

/// What to send, where, and for how long.
#[derive(Debug, clap::Args)]
pub struct PlainArgs {
    /// The route, e.g. http://127.0.0.1:8080/echo, or https://… for attested TLS.
    #[arg(long)]
    pub url: String,
    /// The request method.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Request body bytes (sent with content-length; 0 = no body).
    #[arg(long, default_value_t = 0)]
    pub size: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// Seconds of load (after a warm-up of one request per connection).
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// The vendor root (PEM), for https://.
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// The expected measurement, for https://.
    #[arg(long)]
    pub measurement: Option<Measurement>,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// The request every connection sends, again and again.
#[derive(Debug, Clone)]
struct Route {
    method: http::Method,
    authority: String,
    path: String,
    body: Bytes,
}

pub fn plain(args: &PlainArgs) -> anyhow::Result<()> {
    let (tls, rest) = match args.url.strip_prefix("https://") {
        Some(rest) => (Some(tls_connector(args)?), rest),
        None => (
            None,
            args.url
                .strip_prefix("http://")
                .ok_or_else(|| anyhow::anyhow!("the url must start with http:// or https://"))?,
        ),
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let route = Route {
        method: args.method.parse()?,
        authority: authority.to_owned(),
        path: if path.is_empty() {
            "/".into()
        } else {
            path.to_owned()
        },
        body: Bytes::from(super::plaintext(0, args.size)),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let duration = Duration::from_secs_f64(args.seconds);
    let connections = args.connections;
    let (mut latencies, failures, elapsed) =
        runtime.block_on(load(route, tls, connections, duration))?;
    latencies.sort_unstable();
    let report = serde_json::json!({
        "mode": if args.url.starts_with("https://") { "https" } else { "http" },
        "method": args.method,
        "url": args.url,
        "size": args.size,
        "connections": connections,
        "requests": latencies.len(),
        "failures": failures,
        "seconds": elapsed.as_secs_f64(),
        "requests_per_second": latencies.len() as f64 / elapsed.as_secs_f64(),
        "latency_ms": super::latency_summary(&latencies),
    });
    println!("{report}");
    anyhow::ensure!(failures == 0, "{failures} requests failed");
    Ok(())
}

fn tls_connector(args: &PlainArgs) -> anyhow::Result<tokio_rustls::TlsConnector> {
    let (Some(root), Some(measurement)) = (&args.root, args.measurement) else {
        anyhow::bail!("an https:// url needs --root and --measurement");
    };
    let root_pem = std::fs::read_to_string(root)?;
    let policy = VerifierPolicy::from_pem_roots(&root_pem)?.measurement(measurement);
    Ok(tokio_rustls::TlsConnector::from(super::attested_config(
        policy,
    )?))
}

/// Connects, warms each connection up, then sends until `duration` has passed.
async fn load(
    route: Route,
    tls: Option<tokio_rustls::TlsConnector>,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<(Vec<Duration>, usize, Duration)> {
    let mut senders = Vec::with_capacity(connections);
    for _ in 0..connections {
        let mut sender = connect(&route.authority, tls.as_ref()).await?;
        send(&mut sender, &route).await?;
        senders.push(sender);
    }
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|mut sender| {
            let route = route.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0usize;
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    match send(&mut sender, &route).await {
                        Ok(()) => latencies.push(sent.elapsed()),
                        Err(_) => failures += 1,
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut failures = 0;
    for task in tasks {
        let (l, f) = task.await?;
        latencies.extend(l);
        failures += f;
    }
    Ok((latencies, failures, started.elapsed()))
}

async fn connect(
    authority: &str,
    tls: Option<&tokio_rustls::TlsConnector>,
) -> anyhow::Result<Sender> {
    let stream = tokio::net::TcpStream::connect(authority).await?;
    stream.set_nodelay(true)?;
    let sender = match tls {
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
    Ok(sender)
}

/// One request; the whole answer is read and must be 200.
async fn send(sender: &mut Sender, route: &Route) -> anyhow::Result<()> {
    let mut request = http::Request::builder()
        .method(route.method.clone())
        .uri(&route.path)
        .header(http::header::HOST, &route.authority);
    if !route.body.is_empty() {
        request = request
            .header(http::header::CONTENT_TYPE, "text/plain")
            .header(http::header::CONTENT_LENGTH, route.body.len());
    }
    let request = request.body(Full::new(route.body.clone()))?;
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

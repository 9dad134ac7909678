//! `loadgen attack`: the hostile clients of issue 27 at once, against `enclave serve --tls`, each
//! reopened a second after the server closes it (an attacker that holds connections, not one
//! that floods new ones), until killed:
//!
//! - silent TCP connections (no byte sent, so they stall before the TLS handshake);
//! - connections silent after a completed TLS handshake;
//! - idle HTTP/2 connections (ALPN h2) that sent one request and then only answer and send PINGs;
//! - slow uploads: a sealed-input request whose body comes at one byte a second.
//!
//! Every second it prints one JSON line: connections open per kind and reopened so far.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// How many of each kind.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    pub silent: usize,
    pub silent_tls: usize,
    pub idle_h2: usize,
    pub slow_body: usize,
}

#[derive(Default)]
struct Kind {
    open: AtomicUsize,
    reopened: AtomicUsize,
}

pub fn attack(
    addr: &str,
    counts: Counts,
    anything: Arc<rustls::ClientConfig>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let addr: std::net::SocketAddr = addr.parse()?;
    runtime.block_on(async move {
        let kinds: Arc<[Kind; 4]> = Arc::new(Default::default());
        let mut h2 = (*anything).clone();
        h2.alpn_protocols = vec![b"h2".to_vec()];
        let h2 = TlsConnector::from(Arc::new(h2));
        let tls = TlsConnector::from(anything);
        let spawn = |kind: usize, n: usize| {
            for _ in 0..n {
                let kinds = kinds.clone();
                let tls = tls.clone();
                let h2 = h2.clone();
                tokio::spawn(async move {
                    loop {
                        kinds[kind].open.fetch_add(1, Ordering::Relaxed);
                        let _ = match kind {
                            0 => silent(addr).await,
                            1 => silent_tls(addr, &tls).await,
                            2 => idle_h2(addr, &h2).await,
                            _ => slow_body(addr, &tls).await,
                        };
                        kinds[kind].open.fetch_sub(1, Ordering::Relaxed);
                        kinds[kind].reopened.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                });
            }
        };
        spawn(0, counts.silent);
        spawn(1, counts.silent_tls);
        spawn(2, counts.idle_h2);
        spawn(3, counts.slow_body);
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let names = ["silent", "silent_tls", "idle_h2", "slow_body"];
            let mut line = serde_json::Map::new();
            for (name, kind) in names.iter().zip(kinds.iter()) {
                line.insert(
                    (*name).into(),
                    serde_json::json!({
                        "open": kind.open.load(Ordering::Relaxed),
                        "reopened": kind.reopened.load(Ordering::Relaxed),
                    }),
                );
            }
            println!("{}", serde_json::Value::Object(line));
        }
    })
}

fn server_name() -> rustls::pki_types::ServerName<'static> {
    rustls::pki_types::ServerName::try_from("enclave.test").expect("a valid name")
}

/// Reads until the peer closes.
async fn drain(mut stream: impl tokio::io::AsyncRead + Unpin) {
    let mut buf = [0u8; 1024];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            return;
        }
    }
}

async fn silent(addr: std::net::SocketAddr) -> anyhow::Result<()> {
    drain(TcpStream::connect(addr).await?).await;
    Ok(())
}

async fn silent_tls(addr: std::net::SocketAddr, tls: &TlsConnector) -> anyhow::Result<()> {
    let stream = tls
        .connect(server_name(), TcpStream::connect(addr).await?)
        .await?;
    drain(stream).await;
    Ok(())
}

async fn idle_h2(addr: std::net::SocketAddr, tls: &TlsConnector) -> anyhow::Result<()> {
    let stream = tls
        .connect(server_name(), TcpStream::connect(addr).await?)
        .await?;
    let (mut sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(1))
        .keep_alive_while_idle(true)
        .handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
        .await?;
    let connection = tokio::spawn(connection);
    let request = http::Request::get("https://enclave.test/healthz").body(Empty::new())?;
    let _ = sender.send_request(request).await;
    // No stream from here on: only PINGs, until the server closes the connection.
    let _ = connection.await;
    Ok(())
}

async fn slow_body(addr: std::net::SocketAddr, tls: &TlsConnector) -> anyhow::Result<()> {
    let mut stream = tls
        .connect(server_name(), TcpStream::connect(addr).await?)
        .await?;
    stream
        .write_all(
            b"POST /v1/run HTTP/1.1\r\nhost: t\r\ncontent-type: application/vnd.enclave.sealed-input\r\ncontent-length: 100000\r\n\r\n",
        )
        .await?;
    loop {
        stream.write_all(b"\0").await?;
        stream.flush().await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

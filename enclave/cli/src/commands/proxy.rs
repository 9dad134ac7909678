//! `enclave proxy`: plain HTTP on loopback in front of one attested TLS server
//! (`enclave_client::proxy`), so that curl or any HTTP library can call an enclave.

use std::net::SocketAddr;
use std::time::Duration;

use super::attestation::{parse_duration, TrustArgs};
use anyhow::Context as _;
use enclave_client::proxy::{Proxy, ProxyConfig, Upstream};

#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    /// The attested TLS server, https://HOST:PORT (`enclave serve --tls`, or a TCP balancer in
    /// front of a fleet of them). Every connection to it must carry evidence the trust flags
    /// accept.
    #[arg(value_name = "https://HOST:PORT")]
    upstream: String,
    /// The loopback address to serve plain HTTP on (port 0: the kernel picks; the first line on
    /// standard output says which).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    trust: TrustArgs,
    /// How long the upstream may take to answer a request (a guest run happens in between).
    #[arg(long, value_name = "DURATION", default_value = "300s", value_parser = parse_duration)]
    timeout: Duration,
    /// How long a TCP connection and attested handshake to the upstream may take.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    connect_timeout: Duration,
}

pub fn proxy(args: &ProxyArgs) -> anyhow::Result<()> {
    let upstream = Upstream::parse(&args.upstream)?;
    let policy = args.trust.policy()?;
    let config = ProxyConfig {
        response_timeout: args.timeout,
        connect_timeout: args.connect_timeout,
        ..ProxyConfig::new()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let proxy = Proxy::bind(args.listen, upstream, policy, config).await?;
        // The one line on standard output: scripts and tests read the port from it.
        println!("listening on http://{}", proxy.local_addr()?);
        use std::io::Write as _;
        std::io::stdout().flush()?;
        proxy.run(stop_signal()).await?;
        Ok(())
    })
}

/// Resolves on the first SIGTERM or SIGINT: the proxy holds no state worth draining.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

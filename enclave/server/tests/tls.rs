//! `enclave serve --tls` end to end: a real attested TLS server on 127.0.0.1, the client library
//! over `https://`, and handshake-only servers presenting certificates that must be refused
//! (stale evidence, a swapped key, evidence without the TLS key claim). Every refusal is checked
//! for the verifier's own reason, as the caller sees it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use attest::tls::{AttestedServerVerifier, TlsError};
use attest::{Measurement, VerifierPolicy, VerifyError};
use common::{Running, PATIENCE};
use enclave_client::{Client, ClientError};
use enclave_server::tls::AttestedCertificate;
use enclave_server::Config;
use enclave_tests::guests::WORDCOUNT;
use enclave_tests::harness::{manifest, Harness};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest as _, Sha256};

fn tls_config() -> Config {
    Config {
        workers: 2,
        tls: true,
        ..Config::default()
    }
}

fn handshake(
    addr: SocketAddr,
    policy: VerifierPolicy,
) -> Result<attest::VerifiedEvidence, ClientError> {
    enclave_client::verify_tls(&addr.to_string(), policy, PATIENCE)
}

fn refusal(result: Result<attest::VerifiedEvidence, ClientError>) -> TlsError {
    match result {
        Err(ClientError::AttestedTls(reason)) => reason,
        other => panic!("expected an attested TLS refusal, got {other:?}"),
    }
}

#[test]
fn attested_tls_serves_verified_confidential_requests() {
    let server = Running::start(WORDCOUNT, &manifest(), tls_config());
    assert!(server.url().starts_with("https://"));

    let verified = handshake(server.addr, server.policy()).unwrap();
    assert_eq!(verified.measurement(), server.measurement);
    let tls_key = *verified.tls_key().expect("a tls_key claim");
    assert_eq!(verified.report_data(), tls_key);
    assert!(verified.enclave_keys().is_some());

    let client = server.client();
    let info = client.info().unwrap();
    assert_eq!(info["measurement"], server.measurement.to_string());
    let answer = client.call(b"one two three").unwrap();
    assert_eq!(answer.receipt.claims().measurement, server.measurement);
    assert!(!answer.output.is_empty());
    // The connection the call used was attested (its key may differ from the handshake's above
    // if a renewal fell in between, so only the claims are compared).
    let connection = client
        .connection_evidence()
        .expect("an attested connection");
    assert_eq!(connection.measurement(), server.measurement);
    assert!(connection.tls_key().is_some());

    // Plain HTTP to the TLS port is not served.
    let mut plain = TcpStream::connect(server.addr).unwrap();
    plain.set_read_timeout(Some(PATIENCE)).unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/1.1 200"), "cleartext was served");
    server.stop().unwrap();
}

#[test]
fn handshakes_are_refused_with_the_verifiers_reason() {
    let server = Running::start(WORDCOUNT, &manifest(), tls_config());

    // Another measurement.
    let other = Measurement::from_bytes([7; 32]);
    let policy = VerifierPolicy::new(vec![server.harness.root()]).measurement(other);
    let reason = refusal(handshake(server.addr, policy.clone()));
    assert!(
        matches!(reason, TlsError::Evidence(VerifyError::MeasurementMismatch { got }) if got == server.measurement),
        "{reason}"
    );
    // The same reason through the HTTP client, and before any request is sent.
    let error = Client::new(&server.url(), policy)
        .unwrap()
        .timeout(PATIENCE)
        .call(b"x")
        .unwrap_err();
    assert!(
        matches!(
            &error,
            ClientError::AttestedTls(TlsError::Evidence(VerifyError::MeasurementMismatch { .. }))
        ),
        "{error}"
    );
    assert!(
        error.to_string().contains("attested TLS refused"),
        "{error}"
    );

    // Another root: a platform the relying party never pinned.
    let stranger = Harness::new().unwrap();
    let policy = VerifierPolicy::new(vec![stranger.root()]).measurement(server.measurement);
    assert_eq!(
        refusal(handshake(server.addr, policy)),
        TlsError::Evidence(VerifyError::UnknownIssuer)
    );

    // A minimum TCB above the platform's.
    let policy = server.policy().min_platform_tcb(99);
    assert!(matches!(
        refusal(handshake(server.addr, policy)),
        TlsError::Evidence(VerifyError::PlatformTcbTooLow { min: 99, .. })
    ));
    server.stop().unwrap();
}

#[test]
fn a_debug_enclave_is_refused_unless_allowed() {
    let mut debug = manifest();
    debug.debug = true;
    let server = Running::start(WORDCOUNT, &debug, tls_config());
    assert_eq!(
        refusal(handshake(server.addr, server.policy())),
        TlsError::Evidence(VerifyError::DebugNotAllowed)
    );
    let verified = handshake(server.addr, server.policy().allow_debug(true)).unwrap();
    assert!(verified.debug());
    server.stop().unwrap();
}

/// Presents one fixed certificate and key, whatever they are.
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// A server that only completes TLS handshakes with `cert_der` and `key_pkcs8`, for as long as
/// the test runs.
fn handshake_server(cert_der: &[u8], key_pkcs8: &[u8]) -> SocketAddr {
    let provider = rustls::crypto::ring::default_provider();
    let certified = AttestedCertificate::certified_key(cert_der, key_pkcs8, &provider).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Fixed(certified))),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for socket in listener.incoming() {
            let Ok(mut socket) = socket else { continue };
            let _ = socket.set_read_timeout(Some(PATIENCE));
            let mut connection = rustls::ServerConnection::new(config.clone()).unwrap();
            while connection.is_handshaking() {
                if connection.complete_io(&mut socket).is_err() {
                    break;
                }
            }
        }
    });
    addr
}

#[test]
fn stale_swapped_and_unbound_certificates_are_refused() {
    let h = Harness::new().unwrap();
    let enclave = h.load(&h.sign(WORDCOUNT, &manifest()).unwrap()).unwrap();
    let policy = VerifierPolicy::new(vec![h.root()]).measurement(enclave.measurement());
    let platform = h.platform();

    // The control: a certificate made now is accepted by the same policy.
    let fresh = AttestedCertificate::issue(platform, &enclave, SystemTime::now()).unwrap();
    let addr = handshake_server(&fresh.cert_der, &fresh.key_pkcs8);
    handshake(addr, policy.clone()).unwrap();

    // Evidence an hour old: a server that stopped renewing.
    let old = AttestedCertificate::issue(
        platform,
        &enclave,
        SystemTime::now() - Duration::from_secs(3600),
    )
    .unwrap();
    let addr = handshake_server(&old.cert_der, &old.key_pkcs8);
    assert!(matches!(
        refusal(handshake(addr, policy.clone())),
        TlsError::Evidence(VerifyError::Stale { .. })
    ));

    // A certificate for another key carrying the genuine evidence of `fresh`'s key: the
    // attacker's key with a copied extension.
    let attacker = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let swapped =
        AttestedCertificate::certificate(&attacker, &fresh.evidence, SystemTime::now()).unwrap();
    let addr = handshake_server(&swapped, &attacker.serialize_der());
    assert_eq!(
        refusal(handshake(addr, policy.clone())),
        TlsError::KeyNotBound
    );

    // The genuine certificate served with the attacker's key: the handshake signature fails.
    let addr = handshake_server(&fresh.cert_der, &attacker.serialize_der());
    let error = handshake(addr, policy.clone()).unwrap_err();
    assert!(
        matches!(&error, ClientError::Transport(detail) if detail.contains("invalid peer certificate: BadSignature")),
        "{error}"
    );

    // Evidence anyone may ask a server for (`POST /v1/evidence`) with the attacker's key digest
    // as nonce and report data: it lacks the runtime's `tls_key` claim.
    let digest: [u8; 32] =
        Sha256::digest(rcgen::PublicKeyData::subject_public_key_info(&attacker)).into();
    let requested = platform
        .attest(&enclave, &digest, &digest, SystemTime::now())
        .unwrap();
    let forged =
        AttestedCertificate::certificate(&attacker, &requested, SystemTime::now()).unwrap();
    let addr = handshake_server(&forged, &attacker.serialize_der());
    assert_eq!(refusal(handshake(addr, policy)), TlsError::KeyNotBound);
}

#[test]
fn certificates_are_renewed_and_open_connections_survive_it() {
    let config = Config {
        tls_refresh: Duration::from_secs(1),
        ..tls_config()
    };
    let server = Running::start(WORDCOUNT, &manifest(), config);
    let verifier = Arc::new(AttestedServerVerifier::new(server.policy()));
    let client_config = Arc::new(verifier.clone().into_client_config(&[b"http/1.1"]).unwrap());

    // A connection opened before the renewal.
    let socket = TcpStream::connect(server.addr).unwrap();
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    let connection = rustls::ClientConnection::new(
        client_config,
        rustls::pki_types::ServerName::try_from("enclave.test").unwrap(),
    )
    .unwrap();
    let mut stream = rustls::StreamOwned::new(connection, socket);
    let healthz = b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n";
    stream.write_all(healthz).unwrap();
    let mut buf = [0u8; 512];
    let n = stream.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let first = *verifier.last_verified().unwrap().tls_key().unwrap();

    // New handshakes see a new key once the server renewed (bounded, not timed).
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = *handshake(server.addr, server.policy())
            .unwrap()
            .tls_key()
            .unwrap();
        if now != first {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the certificate was never renewed"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The old connection still works, and the metrics say what happened.
    stream.write_all(healthz).unwrap();
    let n = stream.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut metrics = Vec::new();
    let _ = stream.read_to_end(&mut metrics);
    let metrics = String::from_utf8_lossy(&metrics);
    let value = |prefix: &str| -> f64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(prefix)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in {metrics}"))
    };
    assert!(value("enclave_tls_renewals_total{outcome=\"ok\"}") >= 1.0);
    assert!(value("enclave_tls_handshakes_total{outcome=\"ok\"}") >= 2.0);
    assert!(value("enclave_tls_certificate_issued_timestamp_seconds") > 1.7e9);
    server.stop().unwrap();
}

//! Attested TLS for `enclave serve --tls` (`docs/formats.md`, "Attested TLS").
//!
//! At start, and again every refresh interval, the server makes a fresh ECDSA P-256 key (in
//! memory only), has the platform sign evidence whose `tls_key` claim is the SHA-256 of the key's
//! SubjectPublicKeyInfo, and self-signs a certificate for the key carrying that evidence in the
//! `id-pe-cmw` extension. New handshakes get the newest certificate; connections already
//! established keep theirs, since a TLS session does not depend on the certificate after the
//! handshake.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use enclave_platform::Platform;
use enclave_runtime::Enclave;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// Default interval between two certificates: well inside a verifier's default maximum age of
/// evidence (`attest::verify::DEFAULT_MAX_AGE`, 300 s), so a certificate a client receives is
/// never older than this plus the handshake.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(120);

/// ALPN protocols offered, in order of preference.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Why an attested certificate could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsSetupError {
    /// The key could not be generated or loaded.
    #[error("cannot make the TLS key: {0}")]
    Key(String),
    /// The platform would not sign the evidence.
    #[error("cannot sign the TLS key's evidence")]
    Evidence(#[source] attest::EvidenceError),
    /// The certificate could not be built.
    #[error("cannot build the attested certificate: {0}")]
    Certificate(String),
}

/// A certificate for a fresh key, with evidence for that key. The key is in memory only and
/// wiped when this is dropped.
pub struct AttestedCertificate {
    /// The self-signed certificate (DER) carrying the evidence.
    pub cert_der: Vec<u8>,
    /// The key, PKCS#8 DER.
    pub key_pkcs8: Zeroizing<Vec<u8>>,
    /// The evidence in the certificate.
    pub evidence: Vec<u8>,
}

impl std::fmt::Debug for AttestedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestedCertificate")
            .field("cert_der", &self.cert_der.len())
            .finish_non_exhaustive()
    }
}

impl AttestedCertificate {
    /// Makes a fresh key and a certificate for it carrying evidence of `enclave` on `platform`,
    /// dated `now`.
    ///
    /// # Errors
    /// [`TlsSetupError`].
    pub fn issue(
        platform: &Platform,
        enclave: &Enclave,
        now: SystemTime,
    ) -> Result<Self, TlsSetupError> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| TlsSetupError::Key(e.to_string()))?;
        let spki_digest: [u8; 32] =
            Sha256::digest(rcgen::PublicKeyData::subject_public_key_info(&key)).into();
        let evidence = platform
            .attest_tls_key(enclave, spki_digest, now)
            .map_err(TlsSetupError::Evidence)?;
        let cert_der = Self::certificate(&key, &evidence, now)?;
        Ok(Self {
            cert_der,
            key_pkcs8: Zeroizing::new(key.serialize_der()),
            evidence,
        })
    }

    /// A certificate for `key` carrying `evidence` as it is, whatever key the evidence names
    /// (tests use it to build a certificate whose key does not match its evidence).
    ///
    /// # Errors
    /// [`TlsSetupError::Certificate`].
    pub fn certificate(
        key: &rcgen::KeyPair,
        evidence: &[u8],
        now: SystemTime,
    ) -> Result<Vec<u8>, TlsSetupError> {
        let failed = |e: rcgen::Error| TlsSetupError::Certificate(e.to_string());
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "enclave attested TLS");
        // Validity is not where trust comes from (the evidence's `iat` is); it only has to
        // cover the certificate's life, with room for clock skew.
        let now = time::OffsetDateTime::from(now);
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::days(1);
        params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                &attest::tls::OID_CMW_ARCS,
                attest::tls::cmw_extension_value(evidence),
            ));
        Ok(params.self_signed(key).map_err(failed)?.der().to_vec())
    }

    /// Combines a certificate with a key (PKCS#8 DER) for rustls.
    ///
    /// # Errors
    /// [`TlsSetupError::Key`] when the key is not an ECDSA key ring can sign with.
    pub fn certified_key(
        cert_der: &[u8],
        key_pkcs8: &[u8],
        provider: &CryptoProvider,
    ) -> Result<Arc<CertifiedKey>, TlsSetupError> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8.to_vec()));
        let signing = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| TlsSetupError::Key(e.to_string()))?;
        Ok(Arc::new(CertifiedKey::new(
            vec![CertificateDer::from(cert_der.to_vec())],
            signing,
        )))
    }
}

/// Hands every handshake the newest certificate.
#[derive(Debug)]
pub(crate) struct Resolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|current| current.clone())
    }
}

/// The server's attested TLS state: the rustls configuration and what renews its certificate.
pub(crate) struct Attested {
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
    resolver: Arc<Resolver>,
    provider: Arc<CryptoProvider>,
    refresh: Duration,
}

impl Attested {
    /// The first certificate and a TLS 1.3 server configuration around it; also when the
    /// certificate was made (Unix seconds).
    pub(crate) fn start(
        platform: &Platform,
        enclave: &Enclave,
        refresh: Duration,
    ) -> Result<(Self, i64), TlsSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let now = SystemTime::now();
        let first = AttestedCertificate::issue(platform, enclave, now)?;
        let resolver = Arc::new(Resolver {
            current: RwLock::new(AttestedCertificate::certified_key(
                &first.cert_der,
                &first.key_pkcs8,
                &provider,
            )?),
        });
        let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsSetupError::Certificate(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        let attested = Self {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            resolver,
            provider,
            refresh,
        };
        Ok((attested, unix_seconds(now)))
    }

    /// How often [`Attested::renew`] should run.
    pub(crate) fn refresh(&self) -> Duration {
        self.refresh
    }

    /// Replaces the certificate with a new one for a new key, and says when it was made (Unix
    /// seconds). On failure the old one stays (and will go stale: the error is the caller's to
    /// log).
    pub(crate) fn renew(
        &self,
        platform: &Platform,
        enclave: &Enclave,
    ) -> Result<i64, TlsSetupError> {
        let now = SystemTime::now();
        let next = AttestedCertificate::issue(platform, enclave, now)?;
        let key =
            AttestedCertificate::certified_key(&next.cert_der, &next.key_pkcs8, &self.provider)?;
        if let Ok(mut current) = self.resolver.current.write() {
            *current = key;
        }
        Ok(unix_seconds(now))
    }
}

/// Unix seconds as a gauge holds them.
fn unix_seconds(time: SystemTime) -> i64 {
    i64::try_from(enclave_runtime::confidential::unix_seconds(time)).unwrap_or(i64::MAX)
}

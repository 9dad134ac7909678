//! The platform home: creating, opening and using the simulated hardware.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use attest::bundle::VerifiedBundle;
use attest::evidence::{Claims, EnclaveKeys};
use attest::platform::{AttestationKey, VendorCa};
use attest::PlatformId;
use sealer::{
    EnclaveIdentity, EnclaveKeyPair, KeyPolicy, PlatformSecret, TcbRecoveryRoot, TcbSecrets,
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use enclave_runtime::cache::CodeCache;
use enclave_runtime::{ConfidentialPlatform, Enclave};

use crate::files::{write_atomic, Overwrite, Visibility};

/// The file names in a platform home.
pub mod file {
    /// The vendor root certificate.
    pub const ROOT_CERT: &str = "vendor-root.pem";
    /// The vendor root key, when the platform made its own root.
    pub const ROOT_KEY: &str = "vendor-root.key";
    /// The attestation key.
    pub const ATTESTATION_KEY: &str = "attestation.key";
    /// The attestation certificate chain.
    pub const ATTESTATION_CHAIN: &str = "attestation.pem";
    /// The platform's TCB secrets: its level, its own random part and its chain link.
    pub const SECRET: &str = "platform.secret";
    /// Name, TCB and chain id; the completion marker.
    pub const CONFIG: &str = "platform.toml";
}

/// How long a new platform's certificates are valid.
pub const CERT_VALIDITY: Duration = Duration::from_secs(5 * 365 * 24 * 3600);
/// How long a new vendor root is valid.
pub const ROOT_VALIDITY: Duration = Duration::from_secs(20 * 365 * 24 * 3600);
/// Bytes in the platform secret file (`sealer::TcbSecrets::to_bytes`).
pub const SECRET_LEN: usize = sealer::keys::TCB_SECRETS_LEN;
/// Bytes in a platform's TCB chain id.
pub const CHAIN_ID_LEN: usize = 16;

/// Why a platform could not be created or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlatformError {
    /// `init` found a complete platform.
    #[error("a platform already exists in {0} (refusing to overwrite it)")]
    AlreadyExists(PathBuf),
    /// `open` found none.
    #[error("no platform in {0} (create one with `enclave platform init`)")]
    NotFound(PathBuf),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A secret file is readable or writable by others.
    #[error("{path} has mode {mode:04o}: a secret file must not be accessible by group or others (chmod 600)")]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A file has the wrong content.
    #[error("{path} is malformed: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Keys or certificates could not be made or read.
    #[error(transparent)]
    Certificates(#[from] attest::platform::PlatformError),
    /// The system random generator failed.
    #[error("the system random generator failed")]
    Random,
    /// A TCB level out of range, not an upgrade, or a vendor key that did not provision this
    /// platform.
    #[error(transparent)]
    Tcb(#[from] sealer::TcbError),
    /// `upgrade` was given another vendor root than the one that certified the platform.
    #[error("the vendor root given is not the one that certified this platform (root sha256 {home_root} in {home})")]
    ForeignVendor {
        /// The platform home.
        home: PathBuf,
        /// SHA-256 of the home's root certificate, hex.
        home_root: String,
    },
}

/// How to create a platform.
#[derive(Debug)]
pub struct InitOptions {
    /// A name for the platform, put in its certificate's subject.
    pub name: String,
    /// The platform's TCB (firmware security) version, certified in its attestation certificate.
    pub tcb: u32,
    /// The fleet's vendor root to issue the attestation certificate with; `None` makes a new
    /// root for this platform alone (and keeps its key in the home, 0600).
    pub vendor: Option<VendorCa>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    name: String,
    tcb: u32,
    /// The TCB chain id, hex: names the platform's chain to the vendor (not secret).
    chain: String,
}

/// An open platform: its attestation key, certificates and TCB secrets.
pub struct Platform {
    home: PathBuf,
    name: String,
    attestation: AttestationKey,
    root_pem: String,
    secrets: TcbSecrets,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("home", &self.home)
            .field("name", &self.name)
            .field("platform_id", &self.platform_id())
            .field("tcb", &self.tcb())
            .finish_non_exhaustive()
    }
}

impl Platform {
    /// Creates a platform in `home` (made 0700 if missing). Refuses if one exists there already.
    /// A crash part-way leaves no `platform.toml`, so the partial platform is never opened and a
    /// later `init` replaces it.
    ///
    /// # Errors
    /// [`PlatformError::AlreadyExists`], I/O and certificate errors.
    pub fn init(home: &Path, options: InitOptions, now: SystemTime) -> Result<Self, PlatformError> {
        let config_path = home.join(file::CONFIG);
        if config_path.symlink_metadata().is_ok() {
            return Err(PlatformError::AlreadyExists(home.to_owned()));
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(home)
            .map_err(|source| io_error(home, source))?;

        let vendor = match options.vendor {
            Some(vendor) => vendor,
            None => {
                let vendor = VendorCa::generate(
                    &format!("enclave simulated vendor root ({})", options.name),
                    now,
                    now + ROOT_VALIDITY,
                )?;
                write(
                    home,
                    file::ROOT_KEY,
                    vendor.key_pem().as_bytes(),
                    Visibility::Secret,
                )?;
                vendor
            }
        };
        let mut chain = [0u8; CHAIN_ID_LEN];
        let mut part = Zeroizing::new([0u8; 32]);
        let rng = ring::rand::SystemRandom::new();
        ring::rand::SecureRandom::fill(&rng, &mut chain).map_err(|_| PlatformError::Random)?;
        ring::rand::SecureRandom::fill(&rng, part.as_mut()).map_err(|_| PlatformError::Random)?;
        let secrets = recovery_root(&vendor, &chain).provision(options.tcb, *part)?;
        let attestation = vendor.issue(&options.name, options.tcb, now, now + CERT_VALIDITY)?;

        write(
            home,
            file::ROOT_CERT,
            vendor.cert_pem().as_bytes(),
            Visibility::Public,
        )?;
        write_attestation(home, &attestation)?;
        write(
            home,
            file::SECRET,
            secrets.to_bytes().as_ref(),
            Visibility::Secret,
        )?;
        let config = Config {
            name: options.name.clone(),
            tcb: options.tcb,
            chain: hex::encode(chain),
        };
        // Last: its presence says every other file is complete.
        write_config(home, &config, Overwrite::Refuse)?;
        Self::open(home)
    }

    /// Moves the platform in `home` to the higher TCB level `tcb` (a firmware update with TCB
    /// recovery): `vendor`, the root that certified it, supplies the chain link of level `tcb`,
    /// which the platform could not compute, and issues a new attestation key certified at
    /// `tcb` (so the platform id changes). Data sealed at the old levels still opens; data
    /// sealed from now on is sealed at `tcb`, and a copy of the home from before the upgrade
    /// (a platform rolled back to the old firmware) cannot open it.
    ///
    /// The new secrets are written first and `platform.toml` last; an upgrade interrupted in
    /// between leaves a platform that does not open until the same upgrade is run again.
    ///
    /// # Errors
    /// [`PlatformError::ForeignVendor`], [`PlatformError::Tcb`] (not above the current level,
    /// above the highest, or a vendor key that did not provision this platform), I/O and
    /// certificate errors.
    pub fn upgrade(
        home: &Path,
        vendor: &VendorCa,
        tcb: u32,
        now: SystemTime,
    ) -> Result<Self, PlatformError> {
        let config = read_config(home)?;
        let chain = chain_id(home, &config)?;
        let home_root = read_text(&home.join(file::ROOT_CERT))?;
        if home_root != vendor.cert_pem() {
            return Err(PlatformError::ForeignVendor {
                home: home.to_owned(),
                home_root: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
                    home_root.as_bytes(),
                )),
            });
        }
        let secrets = read_secrets(home)?;
        let root = recovery_root(vendor, &chain);
        let upgraded = if secrets.level() == tcb && config.tcb < tcb {
            // An interrupted upgrade to `tcb`: the secrets are there, the certificate is not.
            root.verify(&secrets)?;
            secrets
        } else {
            root.upgrade(&secrets, tcb)?
        };
        let attestation = vendor.issue(&config.name, tcb, now, now + CERT_VALIDITY)?;
        write(
            home,
            file::SECRET,
            upgraded.to_bytes().as_ref(),
            Visibility::Secret,
        )?;
        write_attestation(home, &attestation)?;
        let config = Config { tcb, ..config };
        write_config(home, &config, Overwrite::Allow)?;
        Self::open(home)
    }

    /// Opens the platform in `home`.
    ///
    /// # Errors
    /// [`PlatformError::NotFound`], [`PlatformError::TooOpen`] for a secret others can read,
    /// [`PlatformError::Malformed`], certificate and I/O errors.
    pub fn open(home: &Path) -> Result<Self, PlatformError> {
        let config_path = home.join(file::CONFIG);
        let config = read_config(home)?;
        chain_id(home, &config)?;
        let key_path = home.join(file::ATTESTATION_KEY);
        let key_pem = Zeroizing::new(read_text(&read_secret_path(&key_path)?)?);
        let chain_pem = read_text(&home.join(file::ATTESTATION_CHAIN))?;
        let attestation = AttestationKey::from_pem(&key_pem, &chain_pem)?;
        if attestation.tcb() != config.tcb {
            return Err(PlatformError::Malformed {
                path: config_path,
                reason: format!(
                    "tcb = {} but the attestation certificate certifies {}",
                    config.tcb,
                    attestation.tcb()
                ),
            });
        }
        let root_pem = read_text(&home.join(file::ROOT_CERT))?;
        let secrets = read_secrets(home)?;
        if secrets.level() != config.tcb {
            return Err(PlatformError::Malformed {
                path: home.join(file::SECRET),
                reason: format!(
                    "it holds the secrets of TCB {} but the platform is at TCB {} (an interrupted \
                     `enclave platform upgrade`? run it again)",
                    secrets.level(),
                    config.tcb
                ),
            });
        }
        Ok(Self {
            home: home.to_owned(),
            name: config.name,
            attestation,
            root_pem,
            secrets,
        })
    }

    /// The directory the platform lives in.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The platform's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// SHA-256 of the attestation certificate's public key: the platform's identity (EAT `ueid`).
    pub fn platform_id(&self) -> PlatformId {
        self.attestation.platform_id()
    }

    /// The TCB version certified in the attestation certificate.
    pub fn tcb(&self) -> u32 {
        self.attestation.tcb()
    }

    /// The vendor root certificate, PEM: what a relying party pins.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// The attestation key and its certificate chain.
    pub fn attestation(&self) -> &AttestationKey {
        &self.attestation
    }

    /// The platform's TCB secrets every sealing key derives from: the secret of its own level
    /// and of every level below. Never leaves the runtime.
    pub fn sealing_secrets(&self) -> &TcbSecrets {
        &self.secrets
    }

    /// The secret of the platform's current TCB level: new keys derive from it.
    pub fn sealing_secret(&self) -> &PlatformSecret {
        self.secrets.current()
    }

    /// The compiled-code cache of this platform: `<home>/cache`, keyed from the secret of its
    /// current TCB level, so that only this platform's entries at this level are ever loaded.
    pub fn code_cache(&self) -> CodeCache {
        CodeCache::for_secret(self.home.join(CODE_CACHE_DIR), self.sealing_secret())
    }

    /// The code cache of the platform in `home`, if there is a home with a platform that opens;
    /// otherwise none. Running without a cache is always correct, only slower.
    pub fn find_code_cache(home: Option<PathBuf>) -> Option<CodeCache> {
        home.and_then(|home| Self::open(&home).ok())
            .map(|platform| platform.code_cache())
    }

    /// The identity `enclave` has on this platform, as sealing keys see it.
    pub fn identity(&self, enclave: &Enclave) -> EnclaveIdentity {
        enclave.identity()
    }

    /// The identity the enclave of a verified `bundle` has, as sealing keys see it.
    pub fn bundle_identity(&self, bundle: &VerifiedBundle) -> EnclaveIdentity {
        enclave_runtime::runner::identity_of(bundle)
    }

    /// The enclave's two HPKE public keys on this platform: bound to its measurement, and to its
    /// signer and product id at its svn, from the secret of the platform's current TCB level (a
    /// platform rolled back to an older level cannot derive them). Derived, never stored.
    pub fn enclave_keys(&self, enclave: &Enclave) -> EnclaveKeys {
        enclave_keys(self.sealing_secret(), enclave)
    }

    /// The claims this platform attests for `enclave`, with the caller's nonce and report data.
    pub fn claims(
        &self,
        enclave: &Enclave,
        nonce: &[u8],
        report_data: &[u8],
        now: SystemTime,
    ) -> Claims {
        let mut claims = claims(&self.attestation, self.sealing_secret(), enclave, now);
        claims.nonce = nonce.to_vec();
        claims.report_data = report_data.to_vec();
        claims
    }

    /// Attestation evidence (`docs/formats.md`) for `enclave` on this platform.
    ///
    /// # Errors
    /// A nonce or report data of a size the format does not allow, or a signing failure.
    pub fn attest(
        &self,
        enclave: &Enclave,
        nonce: &[u8],
        report_data: &[u8],
        now: SystemTime,
    ) -> Result<Vec<u8>, attest::evidence::EvidenceError> {
        self.attestation
            .sign_evidence(&self.claims(enclave, nonce, report_data, now))
    }

    /// Evidence for an attested TLS certificate (`docs/formats.md`, "Attested TLS"): vouches
    /// that the runtime made and holds the TLS key whose SubjectPublicKeyInfo hashes (SHA-256)
    /// to `spki_digest`. The digest is the nonce, the report data and the `tls_key` claim.
    ///
    /// # Errors
    /// A signing failure.
    pub fn attest_tls_key(
        &self,
        enclave: &Enclave,
        spki_digest: [u8; 32],
        now: SystemTime,
    ) -> Result<Vec<u8>, attest::evidence::EvidenceError> {
        let claims = Claims {
            tls_key: Some(spki_digest),
            ..self.claims(enclave, &spki_digest, &spki_digest, now)
        };
        self.attestation.sign_evidence(&claims)
    }
}

impl ConfidentialPlatform for Platform {
    fn platform_id(&self) -> PlatformId {
        Platform::platform_id(self)
    }

    fn enclave_keypair(
        &self,
        identity: &EnclaveIdentity,
        policy: &KeyPolicy,
    ) -> Result<EnclaveKeyPair, sealer::OpenError> {
        identity.keypair(self.sealing_secret(), policy)
    }

    fn sign_receipt(
        &self,
        claims: &attest::receipt::ReceiptClaims,
    ) -> Result<Vec<u8>, attest::evidence::EvidenceError> {
        self.attestation.sign_receipt(claims)
    }

    fn admit_request(
        &self,
        identity: &EnclaveIdentity,
        request: &enclave_runtime::RequestId,
        window: std::time::Duration,
        now: SystemTime,
    ) -> Result<(), enclave_runtime::ReplayRefused> {
        crate::replay::admit(self.home(), identity, request, window, now)
    }
}

/// The compiled-code cache's directory inside the platform home.
pub const CODE_CACHE_DIR: &str = "cache";

pub use enclave_runtime::confidential::unix_seconds;

/// The enclave's two HPKE public keys derived from `secret` (see [`Platform::enclave_keys`]).
pub(crate) fn enclave_keys(secret: &PlatformSecret, enclave: &Enclave) -> EnclaveKeys {
    let identity = enclave.identity();
    let public = |policy| EnclaveKeyPair::derive(secret, &policy, identity.debug).public();
    EnclaveKeys {
        measurement: public(identity.measurement_policy()),
        signer: public(identity.signer_policy()),
    }
}

/// The claims a platform with `attestation` and current sealing secret `secret` attests for
/// `enclave` at `now`, with an empty nonce and report data.
pub(crate) fn claims(
    attestation: &AttestationKey,
    secret: &PlatformSecret,
    enclave: &Enclave,
    now: SystemTime,
) -> Claims {
    let bundle = enclave.bundle();
    let manifest = bundle.manifest();
    Claims {
        nonce: Vec::new(),
        issued_at: unix_seconds(now),
        debug: manifest.debug,
        platform_id: attestation.platform_id(),
        platform_tcb: attestation.tcb(),
        measurement: enclave.measurement(),
        signer: bundle.signer_id(),
        module: bundle.module_digest(),
        product_id: manifest.product_id,
        svn: manifest.svn,
        capabilities: manifest
            .capabilities
            .iter()
            .map(|c| c.to_string())
            .collect(),
        report_data: Vec::new(),
        enclave_keys: Some(enclave_keys(secret, enclave)),
        tls_key: None,
    }
}

/// The vendor's chain top for the platform with chain id `chain`.
pub(crate) fn recovery_root(vendor: &VendorCa, chain: &[u8; CHAIN_ID_LEN]) -> TcbRecoveryRoot {
    TcbRecoveryRoot::from_bytes(vendor.tcb_recovery_seed(chain))
}

fn read_config(home: &Path) -> Result<Config, PlatformError> {
    let config_path = home.join(file::CONFIG);
    if config_path.symlink_metadata().is_err() {
        return Err(PlatformError::NotFound(home.to_owned()));
    }
    toml::from_str(&read_text(&config_path)?).map_err(|e| PlatformError::Malformed {
        path: config_path,
        reason: e.message().to_owned(),
    })
}

fn write_config(home: &Path, config: &Config, overwrite: Overwrite) -> Result<(), PlatformError> {
    let config_path = home.join(file::CONFIG);
    let text = toml::to_string(config).map_err(|e| PlatformError::Malformed {
        path: config_path.clone(),
        reason: e.to_string(),
    })?;
    let marker = format!("# An enclave simulated platform. See `enclave platform show`.\n{text}");
    write_atomic(
        &config_path,
        marker.as_bytes(),
        Visibility::Public,
        overwrite,
    )
    .map_err(|source| io_error(&config_path, source))
}

fn chain_id(home: &Path, config: &Config) -> Result<[u8; CHAIN_ID_LEN], PlatformError> {
    let mut chain = [0u8; CHAIN_ID_LEN];
    hex::decode_to_slice(&config.chain, &mut chain).map_err(|_| PlatformError::Malformed {
        path: home.join(file::CONFIG),
        reason: format!("chain is not {} hex digits", 2 * CHAIN_ID_LEN),
    })?;
    Ok(chain)
}

fn read_secrets(home: &Path) -> Result<TcbSecrets, PlatformError> {
    let secret_path = read_secret_path(&home.join(file::SECRET))?;
    let bytes = Zeroizing::new(fs::read(&secret_path).map_err(|e| io_error(&secret_path, e))?);
    let malformed = |reason: String| PlatformError::Malformed {
        path: secret_path.clone(),
        reason,
    };
    if bytes.len() == 32 {
        return Err(malformed(
            "32 bytes: a platform secret from before TCB levels, which no key derives from \
             any more (create a new platform with `enclave platform init`)"
                .into(),
        ));
    }
    TcbSecrets::from_bytes(&bytes).map_err(|e| malformed(e.to_string()))
}

/// The attestation key (secret) and its certificate chain.
fn write_attestation(home: &Path, attestation: &AttestationKey) -> Result<(), PlatformError> {
    write(
        home,
        file::ATTESTATION_KEY,
        attestation.key_pem().as_bytes(),
        Visibility::Secret,
    )?;
    write(
        home,
        file::ATTESTATION_CHAIN,
        attestation.chain_pem().as_bytes(),
        Visibility::Public,
    )
}

fn write(
    home: &Path,
    name: &str,
    bytes: &[u8],
    visibility: Visibility,
) -> Result<(), PlatformError> {
    let path = home.join(name);
    // Overwrite: without `platform.toml` these are leftovers of an interrupted `init`.
    write_atomic(&path, bytes, visibility, Overwrite::Allow).map_err(|e| io_error(&path, e))
}

fn read_text(path: &Path) -> Result<String, PlatformError> {
    let bytes = fs::read(path).map_err(|e| io_error(path, e))?;
    String::from_utf8(bytes).map_err(|_| PlatformError::Malformed {
        path: path.to_owned(),
        reason: "not UTF-8".into(),
    })
}

/// Checks a secret file's permissions before it is read.
fn read_secret_path(path: &Path) -> Result<PathBuf, PlatformError> {
    let mode = fs::metadata(path)
        .map_err(|e| io_error(path, e))?
        .permissions()
        .mode()
        & 0o7777;
    if mode & 0o077 != 0 {
        return Err(PlatformError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(path.to_owned())
}

fn io_error(path: &Path, source: io::Error) -> PlatformError {
    PlatformError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
pub(crate) mod tests;

//! The simulated platform: what TEE hardware provides, kept in a directory (the platform home).
//!
//! | file | mode | what |
//! |------|------|------|
//! | `vendor-root.pem` | 0644 | the vendor root CA certificate, the relying parties' trust anchor |
//! | `vendor-root.key` | 0600 | the vendor root's private key, only when this platform made its own root (not in a fleet) |
//! | `attestation.key` | 0600 | the platform attestation key (ECDSA P-256, PKCS#8) |
//! | `attestation.pem` | 0644 | its certificate chain: the attestation certificate, then the root |
//! | `platform.secret` | 0600 | 32 random bytes every sealing key is derived from |
//! | `platform.toml` | 0644 | name and TCB version; written last, it marks a complete platform |
//!
//! Real hardware fuses its secret and holds its keys where software cannot read them; here they
//! are files, only as safe as the home directory (see `docs/threat-model.md`). Secret files that
//! others can read are refused, as ssh refuses such keys.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use attest::bundle::VerifiedBundle;
use attest::evidence::{Claims, EnclaveKeys};
use attest::platform::{AttestationKey, VendorCa};
use attest::PlatformId;
use sealer::blob::{self, BlobError, BlobKind, Unsealed};
use sealer::{EnclaveIdentity, EnclaveKeyPair, KeyPolicy, PlatformSecret};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::confidential::ConfidentialPlatform;
use crate::error::StoreFault;
use crate::files::{write_atomic, Overwrite, Visibility};
use crate::host::{PlatformServices, ReportRefused, RunScope, SealPolicy, ServiceRefused};
use crate::runner::Enclave;
use crate::store::{SealedStore, StoreError};

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
    /// The platform secret.
    pub const SECRET: &str = "platform.secret";
    /// Name and TCB; the completion marker.
    pub const CONFIG: &str = "platform.toml";
}

/// How long a new platform's certificates are valid.
pub const CERT_VALIDITY: Duration = Duration::from_secs(5 * 365 * 24 * 3600);
/// How long a new vendor root is valid.
pub const ROOT_VALIDITY: Duration = Duration::from_secs(20 * 365 * 24 * 3600);
/// Bytes in the platform secret.
pub const SECRET_LEN: usize = 32;

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
}

/// An open platform: its attestation key, certificates and secret.
pub struct Platform {
    home: PathBuf,
    name: String,
    attestation: AttestationKey,
    root_pem: String,
    secret: PlatformSecret,
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
        let attestation = vendor.issue(&options.name, options.tcb, now, now + CERT_VALIDITY)?;
        let mut secret = Zeroizing::new([0u8; SECRET_LEN]);
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), secret.as_mut())
            .map_err(|_| PlatformError::Random)?;

        write(
            home,
            file::ROOT_CERT,
            vendor.cert_pem().as_bytes(),
            Visibility::Public,
        )?;
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
        )?;
        write(home, file::SECRET, secret.as_ref(), Visibility::Secret)?;
        let config = Config {
            name: options.name.clone(),
            tcb: options.tcb,
        };
        let text = toml::to_string(&config).map_err(|e| PlatformError::Malformed {
            path: config_path.clone(),
            reason: e.to_string(),
        })?;
        // Last: its presence says every other file is complete.
        let marker =
            format!("# An enclave simulated platform. See `enclave platform show`.\n{text}");
        write_atomic(
            &config_path,
            marker.as_bytes(),
            Visibility::Public,
            Overwrite::Refuse,
        )
        .map_err(|source| io_error(&config_path, source))?;
        Self::open(home)
    }

    /// Opens the platform in `home`.
    ///
    /// # Errors
    /// [`PlatformError::NotFound`], [`PlatformError::TooOpen`] for a secret others can read,
    /// [`PlatformError::Malformed`], certificate and I/O errors.
    pub fn open(home: &Path) -> Result<Self, PlatformError> {
        let config_path = home.join(file::CONFIG);
        if config_path.symlink_metadata().is_err() {
            return Err(PlatformError::NotFound(home.to_owned()));
        }
        let config: Config =
            toml::from_str(&read_text(&config_path)?).map_err(|e| PlatformError::Malformed {
                path: config_path.clone(),
                reason: e.message().to_owned(),
            })?;
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

        let secret_path = read_secret_path(&home.join(file::SECRET))?;
        let bytes = Zeroizing::new(fs::read(&secret_path).map_err(|e| io_error(&secret_path, e))?);
        let secret: [u8; SECRET_LEN] =
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| PlatformError::Malformed {
                    path: secret_path.clone(),
                    reason: format!("{} bytes, expected {SECRET_LEN}", bytes.len()),
                })?;
        Ok(Self {
            home: home.to_owned(),
            name: config.name,
            attestation,
            root_pem,
            secret: PlatformSecret::from_bytes(secret),
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

    /// The platform secret every sealing key derives from. Never leaves the runtime.
    pub fn sealing_secret(&self) -> &PlatformSecret {
        &self.secret
    }

    /// The identity `enclave` has on this platform, as sealing keys see it.
    pub fn identity(&self, enclave: &Enclave) -> EnclaveIdentity {
        enclave.identity()
    }

    /// The identity the enclave of a verified `bundle` has, as sealing keys see it.
    pub fn bundle_identity(&self, bundle: &VerifiedBundle) -> EnclaveIdentity {
        crate::runner::identity_of(bundle)
    }

    /// The enclave's two HPKE public keys on this platform: bound to its measurement, and to its
    /// signer and product id at its svn. Derived, never stored.
    pub fn enclave_keys(&self, enclave: &Enclave) -> EnclaveKeys {
        let identity = self.identity(enclave);
        let public =
            |policy| EnclaveKeyPair::derive(&self.secret, &policy, identity.debug).public();
        EnclaveKeys {
            measurement: public(identity.measurement_policy()),
            signer: public(identity.signer_policy()),
        }
    }

    /// The claims this platform attests for `enclave`, with the caller's nonce and report data.
    pub fn claims(
        &self,
        enclave: &Enclave,
        nonce: &[u8],
        report_data: &[u8],
        now: SystemTime,
    ) -> Claims {
        let bundle = enclave.bundle();
        let manifest = bundle.manifest();
        Claims {
            nonce: nonce.to_vec(),
            issued_at: unix_seconds(now),
            debug: manifest.debug,
            platform_id: self.platform_id(),
            platform_tcb: self.tcb(),
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
            report_data: report_data.to_vec(),
            enclave_keys: Some(self.enclave_keys(enclave)),
        }
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
        identity.keypair(&self.secret, policy)
    }

    fn sign_receipt(
        &self,
        claims: &attest::receipt::ReceiptClaims,
    ) -> Result<Vec<u8>, attest::evidence::EvidenceError> {
        self.attestation.sign_receipt(claims)
    }
}

/// Serves a guest's platform services from a platform: `report` (the EREPORT analog, dated by
/// `clock` at each call), `seal` / `unseal` (the EGETKEY seal-key analog) and the persistent
/// sealed store ([`crate::store`]), all for one enclave's identity.
pub struct PlatformReporter {
    platform: Arc<Platform>,
    claims: Claims,
    identity: EnclaveIdentity,
    clock: fn() -> SystemTime,
    store: Arc<Mutex<SealedStore>>,
    /// Lets one run at a time hold the store (its transaction), across this process's threads;
    /// the store's file lock does the same across processes.
    gate: Arc<StoreGate>,
}

impl std::fmt::Debug for PlatformReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformReporter")
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

impl PlatformReporter {
    /// The services for `enclave` on `platform`. No I/O until the guest uses the store.
    pub fn new(platform: Arc<Platform>, enclave: &Enclave, clock: fn() -> SystemTime) -> Self {
        let claims = platform.claims(enclave, &[], &[], clock());
        let identity = platform.identity(enclave);
        let store = Arc::new(Mutex::new(SealedStore::new(platform.clone(), identity)));
        Self {
            platform,
            claims,
            identity,
            clock,
            store,
            gate: Arc::default(),
        }
    }

    /// The key policy a guest's `policy` argument names for this enclave.
    fn policy(&self, policy: SealPolicy) -> KeyPolicy {
        match policy {
            SealPolicy::Measurement => self.identity.measurement_policy(),
            SealPolicy::Signer => self.identity.signer_policy(),
            SealPolicy::SignerAt(svn) => KeyPolicy::Signer {
                signer: self.identity.signer,
                product_id: self.identity.product_id,
                svn,
            },
        }
    }

    fn with_store<T>(
        &self,
        operation: impl FnOnce(&mut SealedStore) -> Result<T, StoreError>,
    ) -> Result<T, ServiceRefused> {
        let mut store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        operation(&mut store).map_err(|e| match e {
            StoreError::TooLarge { .. } => ServiceRefused::TooLarge,
            other => ServiceRefused::Store(StoreFault::new(other)),
        })
    }
}

impl PlatformServices for PlatformReporter {
    fn issue(&self, nonce: &[u8], report_data: &[u8]) -> Result<Vec<u8>, ReportRefused> {
        if !(attest::evidence::NONCE_LEN.contains(&nonce.len()))
            || report_data.len() > attest::evidence::MAX_REPORT_DATA
        {
            return Err(ReportRefused::BadSize);
        }
        let mut claims = self.claims.clone();
        claims.nonce = nonce.to_vec();
        claims.report_data = report_data.to_vec();
        claims.issued_at = unix_seconds((self.clock)());
        self.platform
            .attestation
            .sign_evidence(&claims)
            .map_err(|_| ReportRefused::Failed)
    }

    fn seal(
        &self,
        policy: SealPolicy,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ServiceRefused> {
        blob::seal(
            BlobKind::Sealed,
            &self.platform.secret,
            &self.identity,
            &self.policy(policy),
            aad,
            plaintext,
        )
        .map_err(refusal)
    }

    fn unseal(&self, sealed: &[u8]) -> Result<Unsealed, ServiceRefused> {
        blob::open(
            BlobKind::Sealed,
            &self.platform.secret,
            &self.identity,
            sealed,
        )
        .map_err(|e| {
            match refusal(e) {
                // The blob's own lengths are over the caps: malformed, not a guest argument.
                ServiceRefused::TooLarge => ServiceRefused::Failed,
                other => other,
            }
        })
    }

    fn store_get(&self, key: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>, ServiceRefused> {
        self.with_store(|store| store.get(key))
    }

    fn store_put(&self, key: &[u8], value: &[u8]) -> Result<(), ServiceRefused> {
        self.with_store(|store| store.put(key, value).map(drop))
    }

    fn store_delete(&self, key: &[u8]) -> Result<bool, ServiceRefused> {
        self.with_store(|store| store.delete(key))
    }

    /// Waits for the runs before it to end, then holds the store for this run.
    fn begin_run(&self) -> Result<RunScope, ServiceRefused> {
        let turn = self.gate.enter();
        self.with_store(SealedStore::begin)?;
        Ok(RunScope::holding(StoreTransaction {
            store: self.store.clone(),
            _turn: turn,
        }))
    }
}

/// One run's hold on a store; ends the store's transaction when dropped, then lets the next
/// run in (fields drop in order).
struct StoreTransaction {
    store: Arc<Mutex<SealedStore>>,
    _turn: GateTurn,
}

impl Drop for StoreTransaction {
    fn drop(&mut self) {
        self.store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .end();
    }
}

/// A turnstile: one [`GateTurn`] at a time.
#[derive(Default)]
struct StoreGate {
    busy: Mutex<bool>,
    free: Condvar,
}

impl StoreGate {
    fn enter(self: &Arc<Self>) -> GateTurn {
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        while *busy {
            busy = self.free.wait(busy).unwrap_or_else(PoisonError::into_inner);
        }
        *busy = true;
        GateTurn(self.clone())
    }
}

/// The turn of the run that entered the gate; the next may enter once it is dropped.
struct GateTurn(Arc<StoreGate>);

impl Drop for GateTurn {
    fn drop(&mut self) {
        *self.0.busy.lock().unwrap_or_else(PoisonError::into_inner) = false;
        self.0.free.notify_one();
    }
}

/// What the guest learns of a failed seal or unseal: a status code, no detail.
fn refusal(error: BlobError) -> ServiceRefused {
    match error {
        BlobError::TooLarge { .. } => ServiceRefused::TooLarge,
        BlobError::Policy(sealer::OpenError::MalformedPolicy(_)) => ServiceRefused::Failed,
        BlobError::Policy(_) => ServiceRefused::Policy,
        _ => ServiceRefused::Failed,
    }
}

pub use crate::confidential::unix_seconds;

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

//! [`HarnessError`]: every error the harness passes on, each carrying the library's own error so
//! that a test matches the exact refusal.

use attest::BundleError;
use attest::VerifyError;
use enclave_client::ClientError;
use enclave_platform::PlatformError;
use enclave_runtime::confidential::ConfidentialError;
use enclave_runtime::{LoadError, RunError};
use sealer::SealError;

/// Any error the harness passes on. Each variant carries the library's own error, so a test
/// matches the exact refusal: `Err(HarnessError::Verify(VerifyError::DebugNotAllowed))`,
/// `Err(HarnessError::Confidential(ConfidentialError::Input(OpenError::Decryption)))`,
/// `Err(HarnessError::Client(ClientError::Mismatch(_)))`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// Creating the temporary directory, copying store files or another I/O step failed.
    #[error("harness i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The platform could not be created or opened.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// The author key could not be made.
    #[error(transparent)]
    Key(#[from] attest::KeyError),
    /// Signing failed.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The runtime refused the bundle.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A plain run failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// Evidence could not be made.
    #[error(transparent)]
    Evidence(#[from] attest::EvidenceError),
    /// Evidence or a receipt failed verification.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// Sealing failed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// A confidential run failed. From [`super::Harness::confidential`] a guest failure is
    /// [`ConfidentialError::Guest`] (the operator's view: the run's error, the receipt and the
    /// report still sealed); [`super::Harness::exchange`] opens the report for the client instead.
    #[error(transparent)]
    Confidential(#[from] ConfidentialError),
    /// The client refused the answer.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The server of [`super::Harness::serve`] could not start or stop cleanly.
    #[error(transparent)]
    Serve(#[from] enclave_server::ServeError),
}

impl From<attest::PlatformError> for HarnessError {
    fn from(error: attest::PlatformError) -> Self {
        Self::Platform(PlatformError::Certificates(error))
    }
}

//! The relying party's side of `enclave serve`: one confidential request in one call.
//!
//! [`Client::call`] takes a fresh nonce, fetches evidence for it, verifies the evidence under the
//! caller's [`VerifierPolicy`] (pinned root, measurement or signer, svn, TCB, debug, age), seals
//! the input to the attested enclave key, posts it, verifies the signed receipt and checks that it
//! names this request, this sealed input and the sealed output received, and only then opens the
//! output. No wasmtime; the HTTP API is `docs/formats.md`, "HTTP API".
//!
//! An `https://` URL is served by `enclave serve --tls`: the connection itself is attested. The
//! handshake succeeds only if the certificate's evidence verifies under the same policy and
//! vouches for the certificate's key (`attest::tls`); a refusal is [`ClientError::AttestedTls`]
//! with the verifier's reason. Requests then proceed as over `http://`, end-to-end sealed.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use attest::{Measurement, VerifierPolicy};
//! let policy = VerifierPolicy::from_pem_roots(&std::fs::read_to_string("root.pem")?)?
//!     .measurement(Measurement::from_hex("5f1e…")?);
//! let client = enclave_client::Client::new("http://127.0.0.1:8080", policy)?;
//! let answer = client.call(b"the confidential input")?;
//! println!("{}", String::from_utf8_lossy(&answer.output));
//! # Ok(()) }
//! ```

#[cfg(feature = "proxy")]
pub mod proxy;

use std::io::{Read, Write as _};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use attest::receipt::VerifiedReceipt;
use attest::tls::{AttestedServerVerifier, TlsError};
use attest::verify::{VerifiedEvidence, VerifierPolicy, VerifyError};
use base64::Engine as _;
use sealer::{
    ClientContext, EvidenceDigest, KeyPolicy, OpenError, ReceiptMismatch, SealError, SealTarget,
    SealedOutputDigest,
};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// Media type of a sealed input.
pub const SEALED_INPUT_MEDIA_TYPE: &str = "application/vnd.enclave.sealed-input";
/// Response header carrying the receipt (standard base64).
pub const RECEIPT_HEADER: &str = "enclave-receipt";
/// Request header naming the platform a sealed input is sealed to (advisory: for balancers that
/// route by platform; the server relies on the sealed header).
pub const PLATFORM_ID_HEADER: &str = "enclave-platform-id";
/// The prefix of every problem `type` the server sends.
pub const PROBLEM_BASE: &str = "tag:enclave.invalid,2026:problem/";
/// Largest evidence or receipt accepted (as `attest` caps them).
/// The prefix of the server's own routes (`docs/formats.md`, "HTTP API"): every server serves
/// them there, and an `http` enclave's server only there.
pub const API: &str = "/.well-known/enclave";
const MAX_TOKEN: u64 = attest::cose::MAX_TOKEN_BYTES as u64;
/// Largest problem document read.
const MAX_PROBLEM: u64 = 256 * 1024;
/// Length of the nonce [`Client::attest`] makes.
const NONCE_LEN: usize = 32;

/// Which of the enclave's two attested keys to seal to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SealTo {
    /// Only this exact enclave (its measurement) can open the input.
    #[default]
    Measurement,
    /// Any enclave by this signer and product at this svn or newer can open it.
    Signer,
}

/// A client of one server under one verifier policy.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
    /// With an `https://` URL: the verifier of the attested connections.
    tls: Option<Arc<AttestedServerVerifier>>,
    policy: VerifierPolicy,
    seal_to: SealTo,
    max_output: u64,
}

/// What a successful call returns.
#[derive(Debug)]
pub struct Answer {
    /// The plaintext output, opened only after the receipt checked out.
    pub output: Zeroizing<Vec<u8>>,
    /// The verified receipt.
    pub receipt: VerifiedReceipt,
    /// The receipt as received (COSE_Sign1), to keep.
    pub receipt_bytes: Vec<u8>,
    /// The sealed output as received: with the receipt and the client context it opens again
    /// with `enclave open`.
    pub sealed_output: Vec<u8>,
    /// The evidence the input was sealed against, verified.
    pub evidence: VerifiedEvidence,
    /// The context that opens `sealed_output` (secret).
    pub context: ClientContext,
}

/// What [`Client::call_into`] returns: the output went to its writer.
#[derive(Debug)]
pub struct Streamed {
    /// The verified receipt.
    pub receipt: VerifiedReceipt,
    /// The receipt as received (COSE_Sign1), to keep.
    pub receipt_bytes: Vec<u8>,
    /// The evidence the input was sealed against, verified.
    pub evidence: VerifiedEvidence,
    /// Plaintext bytes written.
    pub output_len: u64,
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL is not `http://` or `https://host[:port][/base]`.
    #[error("{0} is not an http:// or https:// URL")]
    Url(String),
    /// `verify_tls` was given an `http://` URL.
    #[error(
        "{0} is not TLS: verify-tls checks a `serve --tls` server, given as HOST:PORT or \
         https://HOST:PORT"
    )]
    NotTls(String),
    /// The server could not be reached, or the connection failed.
    #[error("cannot reach the server: {0}")]
    Transport(String),
    /// The attested TLS handshake was refused: the server's certificate does not carry evidence
    /// this policy accepts for its key.
    #[error("attested TLS refused: {0}")]
    AttestedTls(TlsError),
    /// The server refused the request (an RFC 9457 problem document, or a bare status).
    #[error("the server refused the request ({status} {problem}): {detail}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The problem `type`'s last segment (e.g. `sealed-input-refused`), or `http-<status>`.
        problem: String,
        /// The server's explanation.
        detail: String,
    },
    /// The answer does not follow the API (a missing receipt, a body over its cap, ...).
    #[error("malformed answer from the server: {0}")]
    Protocol(String),
    /// The evidence did not verify under the policy.
    #[error("the server's evidence was refused")]
    Evidence(#[source] VerifyError),
    /// The evidence carries no enclave keys to seal to.
    #[error("the server's evidence carries no enclave encryption keys")]
    NoEnclaveKeys,
    /// Sealing the input failed.
    #[error("cannot seal the input")]
    Seal(#[source] SealError),
    /// The receipt did not verify.
    #[error("the receipt was refused")]
    Receipt(#[source] VerifyError),
    /// The receipt is valid but not for this request or this output.
    #[error("the receipt does not match the request")]
    Mismatch(#[source] ReceiptMismatch),
    /// The sealed output did not open.
    #[error("the sealed output does not open")]
    Open(#[source] OpenError),
    /// The guest failed; the receipt says so and `report` is its account, sealed to this client
    /// (the one the message shows: `category` is the operator's view, which may withhold the
    /// guest's words).
    #[error("the enclave's run failed: {report}")]
    GuestFailed {
        /// The failure as the receipt states it (the operator's view).
        category: String,
        /// The failure report, opened.
        report: String,
        /// The verified receipt of the failed run.
        receipt: Box<VerifiedReceipt>,
        /// The receipt as received (COSE_Sign1), to keep.
        receipt_bytes: Vec<u8>,
    },
}

impl ClientError {
    /// The problem type's last segment when the server refused, e.g. `wrong-platform` (re-attest
    /// and retry) or `busy` (retry later).
    pub fn problem(&self) -> Option<&str> {
        match self {
            Self::Refused { problem, .. } => Some(problem),
            _ => None,
        }
    }
}

impl Client {
    /// A client of the server at `url` (`http://host:port`, or `https://host:port` for attested
    /// TLS), accepting enclaves that `policy` accepts; the policy's nonce is replaced by a fresh
    /// one for every call.
    ///
    /// # Errors
    /// [`ClientError::Url`].
    pub fn new(url: &str, policy: VerifierPolicy) -> Result<Self, ClientError> {
        let base = url.trim_end_matches('/');
        let scheme_len = if base.starts_with("http://") {
            "http://".len()
        } else if base.starts_with("https://") {
            "https://".len()
        } else {
            return Err(ClientError::Url(url.to_owned()));
        };
        if base.len() <= scheme_len {
            return Err(ClientError::Url(url.to_owned()));
        }
        let tls = (scheme_len == "https://".len())
            .then(|| Arc::new(AttestedServerVerifier::new(policy.clone())));
        let agent = build_agent(tls.as_ref(), Duration::from_secs(300))?;
        Ok(Self {
            base: base.to_owned(),
            agent,
            tls,
            policy,
            seal_to: SealTo::default(),
            max_output: 1 << 30,
        })
    }

    /// Seal to the measurement key (the default) or the signer key.
    #[must_use]
    pub fn seal_to(mut self, seal_to: SealTo) -> Self {
        self.seal_to = seal_to;
        self
    }

    /// The largest sealed output read into memory (default 1 GiB).
    #[must_use]
    pub fn max_output(mut self, bytes: u64) -> Self {
        self.max_output = bytes;
        self
    }

    /// The time a whole request may take (default 300 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        // The TLS configuration was built once in `new`; building it again cannot fail.
        if let Ok(agent) = build_agent(self.tls.as_ref(), timeout) {
            self.agent = agent;
        }
        self
    }

    /// With an `https://` URL: the evidence of the last attested connection this client made,
    /// as verified in its handshake.
    pub fn connection_evidence(&self) -> Option<VerifiedEvidence> {
        self.tls.as_ref().and_then(|tls| tls.last_verified())
    }

    /// `GET /.well-known/enclave/v1/info`: what the server says it runs. Unauthenticated: trust only evidence.
    ///
    /// # Errors
    /// [`ClientError::Transport`], [`ClientError::Refused`], [`ClientError::Protocol`].
    pub fn info(&self) -> Result<serde_json::Value, ClientError> {
        let response = self
            .agent
            .get(&format!("{}{API}/v1/info", self.base))
            .call()
            .map_err(|e| self.refused(e))?;
        let body = read_capped(response, MAX_PROBLEM)?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(format!("info: {e}")))
    }

    /// Fetches evidence for a fresh nonce and verifies it under the policy.
    ///
    /// # Errors
    /// [`ClientError::Evidence`] and the transport errors.
    pub fn attest(&self) -> Result<VerifiedEvidence, ClientError> {
        self.attest_with_aead().map(|(evidence, _)| evidence)
    }

    /// [`Client::attest`], and the AEAD to seal with: this machine's preferred suite among those
    /// the evidence advertises (claim -70017).
    fn attest_with_aead(&self) -> Result<(VerifiedEvidence, sealer::AeadSuite), ClientError> {
        let mut nonce = [0u8; NONCE_LEN];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
            .map_err(|_| ClientError::Seal(SealError::Random))?;
        let request = serde_json::json!({ "nonce": hex::encode(nonce) });
        let response = self
            .agent
            .post(&format!("{}{API}/v1/evidence", self.base))
            .set("content-type", "application/json")
            .send_string(&request.to_string())
            .map_err(|e| self.refused(e))?;
        let evidence = read_capped(response, MAX_TOKEN)?;
        let policy = self.policy.clone().nonce(nonce.to_vec());
        let verified =
            attest::verify(&evidence, &policy, SystemTime::now()).map_err(ClientError::Evidence)?;
        let accepted = verified
            .enclave_aeads(&evidence)
            .map_err(ClientError::Evidence)?;
        let suite = sealer::AeadSuite::preferred(&accepted).ok_or_else(|| {
            ClientError::Protocol(format!(
                "the enclave reads none of the AEADs this client seals with (it lists {accepted:?})"
            ))
        })?;
        Ok((verified, suite))
    }

    /// One confidential request on `input`. Behind a load balancer the evidence and the run
    /// may reach two servers on different platforms; the second refuses the input
    /// (`wrong-platform`), and this re-attests and retries once.
    ///
    /// # Errors
    /// [`ClientError`]: the first step that failed.
    pub fn call(&self, input: &[u8]) -> Result<Answer, ClientError> {
        match self.call_reader(input, input.len() as u64) {
            Err(error) if error.problem() == Some("wrong-platform") => {
                self.call_reader(input, input.len() as u64)
            }
            answer => answer,
        }
    }

    /// One confidential request on `len` bytes from `input`, sealed as they are sent (the input
    /// is never held whole in memory); the answer is held in memory, at most
    /// [`Client::max_output`] bytes. [`Client::call_into`] streams it instead.
    ///
    /// # Errors
    /// [`ClientError`]: the first step that failed.
    pub fn call_reader(&self, input: impl Read + Send, len: u64) -> Result<Answer, ClientError> {
        let (response, context, evidence) = self.post_sealed(input, len)?;
        let mut output = Zeroizing::new(Vec::new());
        let mut sealed_output = Vec::new();
        let (receipt, receipt_bytes, _) = self.stream_answer(
            response,
            &context,
            &evidence,
            &mut *output,
            Some(&mut sealed_output),
        )?;
        Ok(Answer {
            output,
            receipt,
            receipt_bytes,
            sealed_output,
            evidence,
            context,
        })
    }

    /// One confidential request on `len` bytes from `input`, whose answer is streamed into `out`:
    /// the receipt (a response header) is verified and checked against this request before a
    /// byte of the body is read, and the body is opened as it arrives, refused at the first byte
    /// past the sealed output's final chunk (or past the sealed length of
    /// [`Client::max_output`]), and checked against the digest the receipt names. Memory stays
    /// bounded whatever the server sends. The plaintext reaches `out` before the whole output is
    /// authenticated: on error, discard what was written (the CLI writes to a temporary file it
    /// renames only on success).
    ///
    /// # Errors
    /// [`ClientError`]: the first step that failed.
    pub fn call_into(
        &self,
        input: impl Read + Send,
        len: u64,
        out: impl std::io::Write,
    ) -> Result<Streamed, ClientError> {
        let (response, context, evidence) = self.post_sealed(input, len)?;
        let (receipt, receipt_bytes, output_len) =
            self.stream_answer(response, &context, &evidence, out, None)?;
        Ok(Streamed {
            receipt,
            receipt_bytes,
            evidence,
            output_len,
        })
    }

    /// Attests, seals `input` as it is sent, and posts it: the 200 response (body unread), the
    /// context that opens it and the evidence sealed against. A 422 becomes
    /// [`ClientError::GuestFailed`] with its report opened.
    fn post_sealed(
        &self,
        input: impl Read + Send,
        len: u64,
    ) -> Result<(ureq::Response, ClientContext, VerifiedEvidence), ClientError> {
        let (evidence, suite) = self.attest_with_aead()?;
        let target = seal_target(&evidence, self.seal_to)?;
        let options = sealer::SealOptions {
            suite,
            ..sealer::SealOptions::for_len(len)
        };
        let sealed_len = sealer::sealed_input_len(len)
            .ok_or_else(|| ClientError::Protocol("input too large to seal".into()))?;
        let (pipe_reader, mut pipe_writer) =
            std::io::pipe().map_err(|e| ClientError::Transport(e.to_string()))?;
        let (sealed, sent) = std::thread::scope(|scope| {
            let sealing = scope.spawn(move || {
                let result =
                    sealer::seal_with_options(&target, options, input, len, &mut pipe_writer);
                let _ = pipe_writer.flush();
                drop(pipe_writer);
                result
            });
            let sent = self
                .agent
                .post(&format!("{}{API}/v1/run", self.base))
                .set("content-type", SEALED_INPUT_MEDIA_TYPE)
                .set("content-length", &sealed_len.to_string())
                // Advisory, for balancers that route by platform (docs/deploy.md).
                .set(PLATFORM_ID_HEADER, &evidence.platform_id().to_string())
                .send(pipe_reader);
            let sealed = sealing
                .join()
                .unwrap_or(Err(SealError::Io(std::io::ErrorKind::Other.into())));
            (sealed, sent)
        });
        match (sent, sealed) {
            (Ok(response), Ok(context)) => Ok((response, context, evidence)),
            (Err(ureq::Error::Status(422, response)), Ok(context)) => {
                Err(self.guest_failed(response, &context, &evidence))
            }
            // A server that refuses early (busy, too large, another platform) stops reading,
            // which breaks the sealing pipe: its answer is the explanation, not the broken pipe.
            (Err(error @ ureq::Error::Status(..)), _) => Err(refused(error)),
            // The server stopped reading and closed the connection before ureq read its answer
            // (it refuses early what it will not take, e.g. a body over its cap).
            (Err(ureq::Error::Transport(transport)), Err(SealError::Io(io)))
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                Err(ClientError::Transport(format!(
                    "the server closed the connection before the upload ended ({transport}): it \
                     may have refused the request early, e.g. an input over the enclave's \
                     max_input_bytes (GET /v1/info shows the limits)"
                )))
            }
            // A failed upload is explained by the sealing failure that ended it, if any.
            (_, Err(error)) => Err(ClientError::Seal(error)),
            (Err(error), Ok(_)) => Err(self.cut_short(error, len)),
        }
    }

    /// The upload failed after the sealing finished: a server that refuses an input over the
    /// enclave's cap answers 413 from the declared length and closes, and the client may see the
    /// closed connection before the answer. Then the limits the server states (`GET /v1/info`)
    /// say whether that was the reason, worded as the server's own refusal.
    fn cut_short(&self, error: ureq::Error, len: u64) -> ClientError {
        let closed = matches!(
            &error,
            ureq::Error::Transport(t) if t.kind() == ureq::ErrorKind::Io
        );
        let limit = closed.then(|| self.info().ok()).flatten().and_then(|info| {
            info.get("limits")
                .and_then(|limits| limits.get("max_input_bytes"))
                .and_then(serde_json::Value::as_u64)
        });
        match limit {
            Some(limit) if len > limit => ClientError::Refused {
                status: 413,
                problem: "payload-too-large".into(),
                detail: format!(
                    "the input of {len} bytes is over this enclave's limit of {limit} \
                     (the server closed the connection during the upload)"
                ),
            },
            _ => refused(error),
        }
    }

    /// A 200 answer: the receipt header verified and checked against this request before the
    /// body is read, then the body opened into `out` as it arrives (and kept in `keep`), capped
    /// at the sealed length of [`Client::max_output`] bytes and checked against the receipt.
    fn stream_answer(
        &self,
        response: ureq::Response,
        context: &ClientContext,
        evidence: &VerifiedEvidence,
        out: impl std::io::Write,
        keep: Option<&mut Vec<u8>>,
    ) -> Result<(VerifiedReceipt, Vec<u8>, u64), ClientError> {
        let receipt_bytes = response
            .header(RECEIPT_HEADER)
            .ok_or_else(|| ClientError::Protocol("no receipt header".into()))
            .and_then(|text| {
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|_| ClientError::Protocol("the receipt header is not base64".into()))
            })?;
        let receipt =
            attest::verify_receipt(&receipt_bytes, self.policy.roots(), SystemTime::now())
                .map_err(ClientError::Receipt)?;
        if let Some(category) = check_binding(context, &receipt)? {
            return Err(ClientError::Protocol(format!(
                "a 200 answer carries the receipt of a failed run ({category})"
            )));
        }
        same_enclave(&receipt, evidence)?;
        let cap = sealer::sealed_output_len(self.max_output).unwrap_or(u64::MAX);
        let declared = response
            .header("content-length")
            .and_then(|text| text.parse::<u64>().ok());
        if let Some(declared) = declared.filter(|&declared| declared > cap) {
            return Err(ClientError::Protocol(format!(
                "answer longer than {cap} bytes ({declared} declared)"
            )));
        }
        let body = Capped {
            inner: response.into_reader(),
            left: cap,
            keep,
        };
        let output_len = open_checked(context, &receipt, body, out)?;
        Ok((receipt, receipt_bytes, output_len))
    }

    /// A refusal as [`refused`] words it; over `http://`, an answer that is not HTTP from a
    /// server that speaks TLS says to use `https://`.
    fn refused(&self, error: ureq::Error) -> ClientError {
        // Connected, but the answer was not HTTP (ureq words it "Header field didn't end with
        // \n" or a bad status line).
        let garbled = matches!(
            &error,
            ureq::Error::Transport(t) if !matches!(
                t.kind(),
                ureq::ErrorKind::Dns | ureq::ErrorKind::ConnectionFailed
            )
        );
        match self.base.strip_prefix("http://") {
            Some(rest) if garbled && speaks_tls(rest.split('/').next().unwrap_or(rest)) => {
                ClientError::Transport(format!("it speaks TLS (`serve --tls`): use https://{rest}"))
            }
            _ => refused(error),
        }
    }

    /// A 422 answer: the guest failed. The receipt is verified and must name the sealed report;
    /// the report is opened for the caller.
    fn guest_failed(
        &self,
        response: ureq::Response,
        context: &ClientContext,
        evidence: &VerifiedEvidence,
    ) -> ClientError {
        let problem = match read_problem(response) {
            Ok(problem) => problem,
            Err(error) => return error,
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        let member = |name: &str| {
            problem
                .get(name)
                .and_then(serde_json::Value::as_str)
                .and_then(|text| b64.decode(text).ok())
                .ok_or_else(|| ClientError::Protocol(format!("guest-failed without {name}")))
        };
        let (receipt_bytes, report) = match (member("receipt"), member("report")) {
            (Ok(receipt), Ok(report)) => (receipt, report),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        match open_answer(
            context,
            &receipt_bytes,
            &report,
            self.policy.roots(),
            SystemTime::now(),
        ) {
            Err(ClientError::GuestFailed {
                category,
                report,
                receipt,
                receipt_bytes,
            }) => match same_enclave(&receipt, evidence) {
                Ok(()) => ClientError::GuestFailed {
                    category,
                    report,
                    receipt,
                    receipt_bytes,
                },
                Err(mismatch) => mismatch,
            },
            Ok(_) => ClientError::Protocol("guest-failed with a successful receipt".into()),
            Err(other) => other,
        }
    }
}

/// Checks an answer offline, as `enclave open` does: verifies `receipt` (chain to one of `roots`
/// at `now`, signature, claims), checks that it names this client's request (platform, enclave,
/// debug state, sealed input, request id) and `sealed` — the sealed output, or for a failed run
/// the sealed failure report — and only then opens `sealed`.
///
/// # Errors
/// [`ClientError::Receipt`], [`ClientError::Mismatch`], [`ClientError::Open`], and
/// [`ClientError::GuestFailed`] with the opened report when the receipt says the run failed.
pub fn open_answer(
    context: &ClientContext,
    receipt_bytes: &[u8],
    sealed: &[u8],
    roots: &[Vec<u8>],
    now: SystemTime,
) -> Result<(Zeroizing<Vec<u8>>, VerifiedReceipt), ClientError> {
    let receipt =
        attest::verify_receipt(receipt_bytes, roots, now).map_err(ClientError::Receipt)?;
    let digest = SealedOutputDigest::from_bytes(Sha256::digest(sealed).into());
    let failed = match sealer::check_receipt(context, &receipt, &digest) {
        Ok(()) => None,
        Err(ReceiptMismatch::Failed(category)) => Some(category),
        Err(mismatch) => return Err(ClientError::Mismatch(mismatch)),
    };
    let mut opened = Zeroizing::new(Vec::new());
    sealer::open_output(context, sealed, &mut *opened).map_err(ClientError::Open)?;
    match failed {
        None => Ok((opened, receipt)),
        Some(category) => Err(ClientError::GuestFailed {
            category,
            report: String::from_utf8_lossy(&opened).into_owned(),
            receipt: Box::new(receipt),
            receipt_bytes: receipt_bytes.to_vec(),
        }),
    }
}

/// Checks everything a verified receipt says about the request `context` describes (platform,
/// enclave, debug state, sealed input, request id) except the sealed output, which is checked
/// once read ([`open_checked`]): `Some(category)` when the receipt says the run failed.
///
/// # Errors
/// [`ClientError::Mismatch`].
pub fn check_binding(
    context: &ClientContext,
    receipt: &VerifiedReceipt,
) -> Result<Option<String>, ClientError> {
    let named = SealedOutputDigest::from_bytes(receipt.claims().output_digest);
    match sealer::check_receipt(context, receipt, &named) {
        Ok(()) => Ok(None),
        Err(ReceiptMismatch::Failed(category)) => Ok(Some(category)),
        Err(mismatch) => Err(ClientError::Mismatch(mismatch)),
    }
}

/// Opens `sealed` (an output or a failure report, whose receipt passed [`check_binding`]) into
/// `out` as it is read, refusing trailing bytes past its final chunk, and checks that it is the
/// sealed output the receipt names. Returns the plaintext length. Plaintext reaches `out` before
/// the whole is authenticated: on error, discard it.
///
/// # Errors
/// [`ClientError::Open`], and [`ClientError::Mismatch`] for another output than the receipt's.
pub fn open_checked(
    context: &ClientContext,
    receipt: &VerifiedReceipt,
    sealed: impl Read,
    out: impl std::io::Write,
) -> Result<u64, ClientError> {
    let opened = sealer::open_output(context, sealed, out).map_err(ClientError::Open)?;
    let named = SealedOutputDigest::from_bytes(receipt.claims().output_digest);
    if opened.digest != named {
        return Err(ClientError::Mismatch(ReceiptMismatch::Output {
            receipt: named,
            file: opened.digest,
        }));
    }
    Ok(opened.plaintext_len)
}

/// A body read at most `left` bytes (one more is an error), copied into `keep` when given.
struct Capped<'a, R> {
    inner: R,
    left: u64,
    keep: Option<&'a mut Vec<u8>>,
}

impl<R: Read> Read for Capped<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let room = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let Some(window) = buf.get_mut(..buf.len().min(room)) else {
            return Ok(0);
        };
        let n = self.inner.read(window)?;
        if n as u64 > self.left {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the answer is longer than the client's output cap",
            ));
        }
        self.left -= n as u64;
        if let Some(keep) = self.keep.as_deref_mut() {
            keep.extend_from_slice(window.get(..n).unwrap_or_default());
        }
        Ok(n)
    }
}

/// The receipt is for the very enclave whose evidence the input was sealed against (the context
/// already binds platform and key policy).
fn same_enclave(receipt: &VerifiedReceipt, evidence: &VerifiedEvidence) -> Result<(), ClientError> {
    let measurement = receipt.claims().measurement;
    if measurement == evidence.measurement() {
        Ok(())
    } else {
        Err(ClientError::Mismatch(ReceiptMismatch::Measurement {
            receipt: measurement,
            sealed: evidence.measurement(),
        }))
    }
}

/// Where to seal for verified `evidence`: its key for `to`, its platform, its debug bit, its
/// digest.
///
/// # Errors
/// [`ClientError::NoEnclaveKeys`].
pub fn seal_target(evidence: &VerifiedEvidence, to: SealTo) -> Result<SealTarget, ClientError> {
    let claims = evidence.claims();
    let keys = claims
        .enclave_keys
        .as_ref()
        .ok_or(ClientError::NoEnclaveKeys)?;
    let (public_key, policy) = match to {
        SealTo::Measurement => (keys.measurement, KeyPolicy::Measurement(claims.measurement)),
        SealTo::Signer => (
            keys.signer,
            KeyPolicy::Signer {
                signer: claims.signer,
                product_id: claims.product_id,
                svn: claims.svn,
            },
        ),
    };
    Ok(SealTarget {
        public_key,
        policy,
        debug: claims.debug,
        evidence_digest: EvidenceDigest::from_bytes(evidence.digest()),
        platform_id: claims.platform_id,
    })
}

/// A refusal as the caller sees it: the problem document's type and detail when there is one.
fn refused(error: ureq::Error) -> ClientError {
    match error {
        ureq::Error::Status(status, response) => match read_problem(response) {
            Ok(problem) => {
                let kind = problem
                    .get("type")
                    .and_then(serde_json::Value::as_str)
                    .and_then(|t| t.strip_prefix(PROBLEM_BASE))
                    .map_or_else(|| format!("http-{status}"), str::to_owned);
                let detail = problem
                    .get("detail")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                ClientError::Refused {
                    status,
                    problem: kind,
                    detail,
                }
            }
            Err(_) => ClientError::Refused {
                status,
                problem: format!("http-{status}"),
                detail: String::new(),
            },
        },
        ureq::Error::Transport(transport) => match TlsError::find_in(&transport) {
            Some(tls) => ClientError::AttestedTls(tls.clone()),
            None => ClientError::Transport(transport.to_string()),
        },
    }
}

/// Whether the server at `addr` answers a cleartext request with a TLS record (an alert or a
/// handshake), as a TLS server does.
fn speaks_tls(addr: &str) -> bool {
    use std::io::Write as _;
    use std::net::ToSocketAddrs as _;
    let timeout = Duration::from_secs(10);
    let Some(socket_addr) = addr.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        return false;
    };
    let Ok(mut socket) = std::net::TcpStream::connect_timeout(&socket_addr, timeout) else {
        return false;
    };
    let mut first = [0u8; 1];
    socket.set_read_timeout(Some(timeout)).is_ok()
        && socket.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").is_ok()
        && socket.read_exact(&mut first).is_ok()
        // TLS record content types: alert (21), handshake (22).
        && matches!(first[0], 0x15 | 0x16)
}

/// The HTTP agent: with `tls`, TLS 1.3 whose server certificates `tls` verifies (no web PKI).
fn build_agent(
    tls: Option<&Arc<AttestedServerVerifier>>,
    timeout: Duration,
) -> Result<ureq::Agent, ClientError> {
    let mut builder = ureq::AgentBuilder::new()
        .timeout_connect(timeout.min(Duration::from_secs(10)))
        .timeout(timeout);
    if let Some(tls) = tls {
        let config = tls
            .clone()
            .into_client_config(&[b"http/1.1"])
            .map_err(|e| ClientError::Transport(format!("TLS configuration: {e}")))?;
        builder = builder.tls_config(Arc::new(config));
    }
    Ok(builder.build())
}

/// Connects to `addr` (`host:port`, or `https://host:port`), completes an attested TLS handshake under `policy`, and
/// returns the evidence the server's certificate carries, verified. Nothing is sent after the
/// handshake.
///
/// # Errors
/// [`ClientError::AttestedTls`] with the verifier's reason, or [`ClientError::Transport`].
pub fn verify_tls(
    addr: &str,
    policy: VerifierPolicy,
    timeout: Duration,
) -> Result<VerifiedEvidence, ClientError> {
    use std::net::ToSocketAddrs as _;
    if addr.starts_with("http://") {
        return Err(ClientError::NotTls(addr.to_owned()));
    }
    // A URL names the same server: `https://host:port[/…]`.
    let addr = addr
        .strip_prefix("https://")
        .map_or(addr, |rest| rest.split('/').next().unwrap_or(rest));
    let transport = |e: std::io::Error| match TlsError::find_in(&e) {
        Some(tls) => ClientError::AttestedTls(tls.clone()),
        None => ClientError::Transport(format!("{addr}: {e}")),
    };
    let verifier = Arc::new(AttestedServerVerifier::new(policy));
    let config = verifier
        .clone()
        .into_client_config(&[b"http/1.1"])
        .map_err(|e| ClientError::Transport(format!("TLS configuration: {e}")))?;
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    let name = rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
        .map_err(|_| ClientError::Url(addr.to_owned()))?;
    let socket_addr = addr
        .to_socket_addrs()
        .map_err(transport)?
        .next()
        .ok_or_else(|| ClientError::Url(addr.to_owned()))?;
    let mut socket =
        std::net::TcpStream::connect_timeout(&socket_addr, timeout).map_err(transport)?;
    socket.set_read_timeout(Some(timeout)).map_err(transport)?;
    socket.set_write_timeout(Some(timeout)).map_err(transport)?;
    let mut connection = rustls::ClientConnection::new(Arc::new(config), name)
        .map_err(|e| ClientError::Transport(e.to_string()))?;
    while connection.is_handshaking() {
        connection.complete_io(&mut socket).map_err(transport)?;
    }
    connection.send_close_notify();
    let _ = connection.complete_io(&mut socket);
    verifier
        .last_verified()
        .ok_or_else(|| ClientError::Protocol("the handshake ended without a certificate".into()))
}

fn read_problem(response: ureq::Response) -> Result<serde_json::Value, ClientError> {
    let body = read_capped(response, MAX_PROBLEM)?;
    serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(format!("problem: {e}")))
}

fn read_capped(response: ureq::Response, cap: u64) -> Result<Vec<u8>, ClientError> {
    let mut body = Vec::new();
    response
        .into_reader()
        .take(cap.saturating_add(1))
        .read_to_end(&mut body)
        .map_err(|e| ClientError::Transport(e.to_string()))?;
    if body.len() as u64 > cap {
        return Err(ClientError::Protocol(format!(
            "answer longer than {cap} bytes"
        )));
    }
    Ok(body)
}

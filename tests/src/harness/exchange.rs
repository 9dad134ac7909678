//! One confidential request as both parties see it: [`Harness::exchange`] attests, verifies
//! under a [`Flow`]'s policy, seals, runs, verifies the receipt and opens the answer — the output,
//! or for a guest failure the opened failure report ([`Answer::Refused`]) — and keeps every
//! artifact, the client's context and the run's facts for later attacks (a replay with
//! [`Harness::replay`]) and for [`Exchange::operator_view`].

use std::time::{Duration, SystemTime};

use attest::receipt::VerifiedReceipt;
use attest::{VerifiedEvidence, VerifierPolicy};
use enclave_client::{ClientError, SealTo};
use enclave_runtime::confidential::{ConfidentialError, SealedRun};
use enclave_runtime::{Enclave, RunError};
use sealer::ClientContext;

use super::logs::{log_dispatch, Captured};
use super::{Harness, HarnessError, Opened, OperatorView};

/// How the client side of an [`Exchange`] behaves: which key it seals to and whether its
/// verifier accepts a debug enclave (refused by default, as [`Harness::policy`]).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Flow {
    /// The attested key to seal to.
    pub seal_to: SealTo,
    /// Accept evidence of a debug enclave.
    pub allow_debug: bool,
}

impl Flow {
    /// Seal to the measurement key, debug refused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accept a debug enclave's evidence.
    pub fn debug(mut self) -> Self {
        self.allow_debug = true;
        self
    }

    /// Seal to `to` instead of the measurement key.
    pub fn seal_to(mut self, to: SealTo) -> Self {
        self.seal_to = to;
        self
    }

    /// The relying party's policy for `enclave` with `nonce` under this flow.
    pub fn policy(&self, h: &Harness, enclave: &Enclave, nonce: &[u8]) -> VerifierPolicy {
        h.policy(enclave, nonce).allow_debug(self.allow_debug)
    }
}

/// What the client got: the opened output, or the guest's refusal with its opened report (a
/// run has no third outcome, so the enum is exhaustive).
#[derive(Debug)]
pub enum Answer {
    /// The run succeeded; the decrypted output.
    Output(Vec<u8>),
    /// The guest failed (trap, limit, `abort`, a store fault, …).
    Refused {
        /// The run's error as the runtime gave it to the operator.
        error: RunError,
        /// The failure as the signed receipt states it (what the operator sees).
        category: String,
        /// The failure report, opened by the client (the guest's own words for the requester).
        report: String,
    },
}

/// One confidential request, both sides.
#[derive(Debug)]
pub struct Exchange {
    /// The client's answer.
    pub answer: Answer,
    /// The receipt, verified against the vendor root and checked against the request.
    pub receipt: VerifiedReceipt,
    /// The receipt bytes (what the operator sees).
    pub receipt_bytes: Vec<u8>,
    /// The evidence bytes the client verified (what the operator sees).
    pub evidence_bytes: Vec<u8>,
    /// The evidence, as verified.
    pub evidence: VerifiedEvidence,
    /// The sealed input (what the operator sees; replay it with [`Harness::replay`]).
    pub sealed_input: Vec<u8>,
    /// The sealed output, or the sealed failure report (what the operator sees).
    pub sealed_answer: Vec<u8>,
    /// The client's secret context of this request.
    pub context: ClientContext,
    /// What the run looked like from the host: sizes, fuel, duration, debug log.
    pub facts: RunFacts,
}

/// The facts of one run the host sees besides the artifacts.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    /// Plaintext input bytes the guest was given, as the runtime tells the operator: only for a
    /// debug enclave, `None` for a production one and when the run failed.
    pub input_bytes: Option<u64>,
    /// Plaintext output bytes the guest wrote, as `input_bytes`.
    pub output_bytes: Option<u64>,
    /// Fuel the run consumed (from the receipt).
    pub fuel_used: u64,
    /// Wall-clock time of the guest run (zero when the run failed).
    pub duration: Duration,
    /// The debug log (empty unless the enclave is a debug enclave).
    pub log: Vec<u8>,
    /// What the operator's logs would print for a failure (the error's `Display` chain).
    pub operator_error: Option<String>,
    /// The `tracing` events emitted on the test's thread during the run (every level).
    pub events: String,
}

impl Exchange {
    /// The output, or the refusal as an error (for `?` in tests that expect success).
    ///
    /// # Errors
    /// [`HarnessError::Client`] with [`ClientError::GuestFailed`] when the guest failed.
    pub fn output(&self) -> Result<&[u8], HarnessError> {
        match &self.answer {
            Answer::Output(bytes) => Ok(bytes),
            Answer::Refused {
                category, report, ..
            } => Err(HarnessError::Client(ClientError::GuestFailed {
                category: category.clone(),
                report: report.clone(),
                receipt: Box::new(self.receipt.clone()),
                receipt_bytes: self.receipt_bytes.clone(),
            })),
        }
    }

    /// The opened report of a refused run, `None` when it succeeded.
    pub fn report(&self) -> Option<&str> {
        match &self.answer {
            Answer::Refused { report, .. } => Some(report),
            Answer::Output(_) => None,
        }
    }

    /// Everything the operator saw of this exchange: evidence, sealed input, sealed answer,
    /// receipt and its claims, sizes, fuel, duration, the debug log, the operator's error text,
    /// and every file in the platform home.
    pub fn operator_view(&self, h: &Harness) -> OperatorView {
        let facts = &self.facts;
        OperatorView::new()
            .with("evidence", &self.evidence_bytes)
            .with("sealed input", &self.sealed_input)
            .with("sealed answer", &self.sealed_answer)
            .with("receipt", &self.receipt_bytes)
            .with_text("receipt claims", &format!("{:?}", self.receipt.claims()))
            .with_text(
                "run facts",
                &format!(
                    "input {:?} bytes, output {:?} bytes, fuel {}, {:?}",
                    facts.input_bytes, facts.output_bytes, facts.fuel_used, facts.duration
                ),
            )
            .with("debug log", &facts.log)
            .with_text("log events", &facts.events)
            .with_text(
                "operator error",
                facts.operator_error.as_deref().unwrap_or_default(),
            )
            .with_home(h)
    }

    pub(crate) fn into_opened(self) -> Result<Opened, HarnessError> {
        match self.answer {
            Answer::Output(plaintext) => Ok(Opened {
                plaintext,
                receipt: self.receipt,
                sealed_input: self.sealed_input,
                sealed_output: self.sealed_answer,
                receipt_bytes: self.receipt_bytes,
                context: self.context,
                evidence: self.evidence,
            }),
            Answer::Refused { error, .. } => {
                Err(HarnessError::Confidential(ConfidentialError::Guest {
                    error,
                    receipt: self.receipt_bytes,
                    report: self.sealed_answer,
                }))
            }
        }
    }
}

/// A sealed run as the host saw it, before the client opens anything.
struct HostSide {
    receipt: Vec<u8>,
    sealed_answer: Vec<u8>,
    error: Option<RunError>,
    facts: RunFacts,
}

impl HostSide {
    fn from_run(run: Result<SealedRun<Vec<u8>>, ConfidentialError>) -> Result<Self, HarnessError> {
        match run {
            Ok(run) => Ok(Self {
                facts: RunFacts {
                    input_bytes: run.input_bytes,
                    output_bytes: run.output_bytes,
                    fuel_used: run.claims.fuel_used,
                    duration: run.duration,
                    log: run.log,
                    operator_error: None,
                    events: String::new(),
                },
                receipt: run.receipt,
                sealed_answer: run.output,
                error: None,
            }),
            Err(ConfidentialError::Guest {
                error,
                receipt,
                report,
            }) => Ok(Self {
                facts: RunFacts {
                    operator_error: Some(error_chain(&error)),
                    ..RunFacts::default()
                },
                receipt,
                sealed_answer: report,
                error: Some(error),
            }),
            Err(other) => Err(other.into()),
        }
    }
}

/// `error` and its sources, as `{:#}` of anyhow prints them (what the CLI logs).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl Harness {
    /// One confidential request under `flow`, both sides: the client's [`Answer`] (the output,
    /// or a guest failure with its report opened), the verified receipt, the client context,
    /// every artifact the operator saw and the run's facts.
    ///
    /// # Errors
    /// Any step before the answer ([`HarnessError::Verify`], [`HarnessError::Confidential`]
    /// when the runtime refused the sealed input, …), or [`HarnessError::Client`] when the
    /// receipt or the sealed answer does not check out.
    pub fn exchange(
        &self,
        enclave: &Enclave,
        input: &[u8],
        flow: &Flow,
    ) -> Result<Exchange, HarnessError> {
        let (evidence_bytes, evidence) = self.attest_and_verify_with(enclave, flow)?;
        let sealed = self.seal(&evidence, flow.seal_to, input)?;
        let logs = Captured::default();
        let run = tracing::dispatcher::with_default(&log_dispatch(&logs), || {
            self.run_sealed(enclave, &sealed.bytes)
        });
        let host = HostSide::from_run(run)?;
        let (answer, receipt) = self.client_opens(
            &sealed.context,
            &host.receipt,
            &host.sealed_answer,
            host.error,
        )?;
        let mut facts = host.facts;
        facts.fuel_used = receipt.claims().fuel_used;
        facts.events = logs.text();
        Ok(Exchange {
            answer,
            receipt,
            receipt_bytes: host.receipt,
            evidence_bytes,
            evidence,
            sealed_input: sealed.bytes,
            sealed_answer: host.sealed_answer,
            context: sealed.context,
            facts,
        })
    }

    /// [`Harness::open`] with a guest failure as a value.
    fn client_opens(
        &self,
        context: &ClientContext,
        receipt: &[u8],
        sealed: &[u8],
        error: Option<RunError>,
    ) -> Result<(Answer, VerifiedReceipt), HarnessError> {
        match (self.open(context, receipt, sealed), error) {
            (Ok((plaintext, receipt)), None) => Ok((Answer::Output(plaintext), receipt)),
            (
                Err(ClientError::GuestFailed {
                    category,
                    report,
                    receipt,
                    ..
                }),
                Some(error),
            ) => Ok((
                Answer::Refused {
                    error,
                    category,
                    report,
                },
                *receipt,
            )),
            // The runtime and the receipt disagree about the outcome: a finding.
            (Err(ClientError::GuestFailed { .. }), None) => Err(HarnessError::Client(
                ClientError::Protocol("a successful run's receipt says it failed".into()),
            )),
            (Ok(_), Some(error)) => Err(HarnessError::Run(error)),
            (Err(other), _) => Err(other.into()),
        }
    }

    /// Runs `exchange`'s sealed input again, as an operator replaying a recorded request: the
    /// new run's receipt (verified against this root — the client of the original request would
    /// accept it as well formed) and what the host saw, or the runtime's refusal.
    ///
    /// # Errors
    /// [`HarnessError::Confidential`] when the runtime refuses the replay or the guest fails
    /// ([`ConfidentialError::Guest`]); [`HarnessError::Verify`] when the receipt does not verify.
    pub fn replay(&self, enclave: &Enclave, sealed_input: &[u8]) -> Result<Replayed, HarnessError> {
        let run = self.run_sealed(enclave, sealed_input)?;
        let receipt = attest::verify_receipt(&run.receipt, &[self.root()], SystemTime::now())?;
        Ok(Replayed {
            receipt,
            receipt_bytes: run.receipt,
            sealed_output: run.output,
        })
    }
}

/// A replayed sealed input's run, as the operator holds it.
#[derive(Debug)]
pub struct Replayed {
    /// The new receipt, verified against the vendor root.
    pub receipt: VerifiedReceipt,
    /// Its bytes.
    pub receipt_bytes: Vec<u8>,
    /// The new sealed output (the original client could open it with its context).
    pub sealed_output: Vec<u8>,
}

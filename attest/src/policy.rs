//! Verifier policy files: what a relying party requires of evidence, written down once as TOML
//! (`docs/formats.md`, "Verifier policy file") instead of repeated as flags.
//!
//! The document names its root certificates by path, and this crate does no I/O, so parsing is
//! split in two: [`PolicyFile::from_toml`] parses the document, [`PolicyFile::roots`] lists the
//! paths for the caller to read (the `enclave` CLI resolves them relative to the policy file's
//! directory), and [`PolicyFile::into_policy`] takes the certificates read and gives the
//! [`VerifierPolicy`]. [`VerifierPolicy::from_toml`] does both steps for a caller that already
//! holds the roots. The nonce is never part of a policy file: it changes with every request.

use std::time::Duration;

use crate::identity::{Measurement, ProductId, SignerId, Svn};
use crate::manifest::Capability;
use crate::trust::TrustedRoots;
use crate::verify::{VerifierPolicy, DEFAULT_MAX_AGE};

/// Why a policy document was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The TOML does not parse, has an unknown key, or a value of the wrong type; the message
    /// names the key and, when the parser knows it, the line.
    #[error("invalid verifier policy: {0}")]
    Syntax(String),
    /// A value has the right type but is not usable (a measurement that is not 64 hex digits, a
    /// duration without a known unit).
    #[error("invalid verifier policy: {key}: {detail}")]
    BadValue {
        /// The key.
        key: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// A capability is both required and forbidden.
    #[error("invalid verifier policy: capability `{0}` is both required and forbidden")]
    Contradiction(Capability),
}

/// A parsed verifier policy document, its root certificates not yet read.
///
/// Every field is public so that a caller can override what the document says (the CLI's flags
/// do), and every field has the name of its TOML key. Empty lists and `None` mean the document
/// does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyFile {
    /// `roots`: paths of PEM files holding the vendor root certificates to trust, as written.
    pub roots: Vec<String>,
    /// `measurements`: accept any of these measurements.
    pub measurements: Vec<Measurement>,
    /// `signers`: accept enclaves by any of these signers.
    pub signers: Vec<SignerId>,
    /// `product_id`: require this product id.
    pub product_id: Option<ProductId>,
    /// `min_svn`: require at least this security version.
    pub min_svn: Option<Svn>,
    /// `min_tcb`: require at least this platform TCB version.
    pub min_tcb: Option<u32>,
    /// `allow_debug`: accept debug enclaves (default no).
    pub allow_debug: Option<bool>,
    /// `max_age`: refuse evidence older than this (default [`DEFAULT_MAX_AGE`]).
    pub max_age: Option<Duration>,
    /// `require_capabilities`: refuse an enclave not granted every one of these.
    pub require_capabilities: Vec<Capability>,
    /// `forbid_capabilities`: refuse an enclave granted any of these.
    pub forbid_capabilities: Vec<Capability>,
}

/// The document as TOML has it, before the values are checked.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default)]
    roots: Vec<String>,
    #[serde(default)]
    measurements: Vec<String>,
    #[serde(default)]
    signers: Vec<String>,
    product_id: Option<u16>,
    min_svn: Option<u16>,
    min_tcb: Option<u32>,
    allow_debug: Option<bool>,
    max_age: Option<MaxAge>,
    #[serde(default)]
    require_capabilities: Vec<Capability>,
    #[serde(default)]
    forbid_capabilities: Vec<Capability>,
}

/// `max_age = 300` (seconds) or `max_age = "5m"`.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum MaxAge {
    Seconds(u64),
    Text(String),
}

impl PolicyFile {
    /// Parses a policy document. Unknown keys are errors.
    ///
    /// # Errors
    /// [`PolicyError::Syntax`] for bad TOML, unknown keys and mistyped values,
    /// [`PolicyError::BadValue`] for unusable values, [`PolicyError::Contradiction`] for a
    /// capability both required and forbidden.
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        let doc: Document = toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
        let file = Self {
            roots: doc.roots,
            measurements: hex_list("measurements", &doc.measurements, Measurement::from_hex)?,
            signers: hex_list("signers", &doc.signers, SignerId::from_hex)?,
            product_id: doc.product_id.map(ProductId),
            min_svn: doc.min_svn.map(Svn),
            min_tcb: doc.min_tcb,
            allow_debug: doc.allow_debug,
            max_age: doc.max_age.map(MaxAge::duration).transpose()?,
            require_capabilities: doc.require_capabilities,
            forbid_capabilities: doc.forbid_capabilities,
        };
        file.check_capabilities()?;
        Ok(file)
    }

    /// The paths of the root certificate files, exactly as the document writes them.
    pub fn roots(&self) -> &[String] {
        &self.roots
    }

    /// The policy this document describes, trusting `roots` (DER certificates: those the paths
    /// in [`PolicyFile::roots`] hold, or whatever else the caller decided to trust instead).
    ///
    /// # Errors
    /// [`PolicyError::Contradiction`] when a field set after parsing requires and forbids one
    /// capability.
    pub fn into_policy(self, roots: Vec<Vec<u8>>) -> Result<VerifierPolicy, PolicyError> {
        self.into_policy_trusting(TrustedRoots::new(roots))
    }

    /// [`PolicyFile::into_policy`] with roots already parsed (and shared).
    ///
    /// # Errors
    /// As [`PolicyFile::into_policy`].
    pub fn into_policy_trusting(self, roots: TrustedRoots) -> Result<VerifierPolicy, PolicyError> {
        self.check_capabilities()?;
        let mut policy = VerifierPolicy::trusting(roots)
            .allow_debug(self.allow_debug.unwrap_or(false))
            .max_age(self.max_age.unwrap_or(DEFAULT_MAX_AGE));
        for m in self.measurements {
            policy = policy.measurement(m);
        }
        for s in self.signers {
            policy = policy.signer(s);
        }
        if let Some(p) = self.product_id {
            policy = policy.product_id(p);
        }
        if let Some(s) = self.min_svn {
            policy = policy.min_svn(s);
        }
        if let Some(t) = self.min_tcb {
            policy = policy.min_platform_tcb(t);
        }
        for c in self.require_capabilities {
            policy = policy.require_capability(c);
        }
        for c in self.forbid_capabilities {
            policy = policy.forbid_capability(c);
        }
        Ok(policy)
    }

    /// The document as TOML, keys in the order of the format's description; keys the document
    /// does not set are left out. [`PolicyFile::from_toml`] reads it back to an equal value.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        let quoted = |items: Vec<String>| {
            let items: Vec<String> = items.iter().map(|i| toml_string(i)).collect();
            format!("[{}]", items.join(", "))
        };
        let mut line = |key: &str, value: String| out.push_str(&format!("{key} = {value}\n"));
        if !self.roots.is_empty() {
            line("roots", quoted(self.roots.clone()));
        }
        if !self.measurements.is_empty() {
            line("measurements", quoted(strings(&self.measurements)));
        }
        if !self.signers.is_empty() {
            line("signers", quoted(strings(&self.signers)));
        }
        if let Some(p) = self.product_id {
            line("product_id", p.to_string());
        }
        if let Some(s) = self.min_svn {
            line("min_svn", s.to_string());
        }
        if let Some(t) = self.min_tcb {
            line("min_tcb", t.to_string());
        }
        if let Some(d) = self.allow_debug {
            line("allow_debug", d.to_string());
        }
        if let Some(a) = self.max_age {
            line("max_age", a.as_secs().to_string());
        }
        if !self.require_capabilities.is_empty() {
            line(
                "require_capabilities",
                quoted(strings(&self.require_capabilities)),
            );
        }
        if !self.forbid_capabilities.is_empty() {
            line(
                "forbid_capabilities",
                quoted(strings(&self.forbid_capabilities)),
            );
        }
        out
    }

    fn check_capabilities(&self) -> Result<(), PolicyError> {
        match self
            .require_capabilities
            .iter()
            .find(|c| self.forbid_capabilities.contains(c))
        {
            Some(c) => Err(PolicyError::Contradiction(*c)),
            None => Ok(()),
        }
    }
}

impl VerifierPolicy {
    /// The policy a verifier policy document describes (`docs/formats.md`, "Verifier policy
    /// file"), trusting `roots` (DER certificates).
    ///
    /// This crate does no I/O, so the document's `roots` (paths) are not read here: the caller
    /// reads them (see [`PolicyFile::roots`]) and passes the certificates, or passes the roots it
    /// pins some other way. Add the nonce with [`VerifierPolicy::nonce`].
    ///
    /// # Errors
    /// As [`PolicyFile::from_toml`].
    pub fn from_toml(text: &str, roots: Vec<Vec<u8>>) -> Result<Self, PolicyError> {
        PolicyFile::from_toml(text)?.into_policy(roots)
    }
}

impl MaxAge {
    fn duration(self) -> Result<Duration, PolicyError> {
        match self {
            MaxAge::Seconds(s) => Ok(Duration::from_secs(s)),
            MaxAge::Text(text) => parse_duration(&text).map_err(|detail| PolicyError::BadValue {
                key: "max_age",
                detail,
            }),
        }
    }
}

/// `30s`, `5m`, `2h`, `1d`, or plain seconds.
///
/// # Errors
/// A message naming what is wrong with `text`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 5m or 1h"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use s, m, h or d)"
            ))
        }
    };
    n.checked_mul(scale)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

fn hex_list<T, E: std::fmt::Display>(
    key: &'static str,
    items: &[String],
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Vec<T>, PolicyError> {
    items
        .iter()
        .map(|item| {
            parse(item).map_err(|e| PolicyError::BadValue {
                key,
                detail: format!("{item:?}: {e}"),
            })
        })
        .collect()
}

fn strings<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

/// A TOML basic string: quotes, backslashes and control characters escaped.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// The parser's message on one line, after the line and column (from 1) when it knows them, as
/// manifest errors are worded.
fn syntax_error(text: &str, error: &toml::de::Error) -> PolicyError {
    PolicyError::Syntax(crate::manifest::toml_error_text(text, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const S: &str = "2222222222222222222222222222222222222222222222222222222222222222";

    fn full() -> String {
        format!(
            "roots = [\"vendor-root.pem\"]\nmeasurements = [\"{M}\", \"{}\"]\nsigners = [\"{S}\"]\n\
             product_id = 7\nmin_svn = 2\nmin_tcb = 3\nallow_debug = true\nmax_age = \"90s\"\n\
             require_capabilities = [\"seal\"]\nforbid_capabilities = [\"log\"]\n",
            "3".repeat(64)
        )
    }

    #[test]
    fn every_key_parses() {
        let file = PolicyFile::from_toml(&full()).unwrap();
        assert_eq!(file.roots(), ["vendor-root.pem"]);
        assert_eq!(file.measurements.len(), 2);
        assert_eq!(file.measurements[0], Measurement::from_hex(M).unwrap());
        assert_eq!(file.signers, [SignerId::from_hex(S).unwrap()]);
        assert_eq!(file.product_id, Some(ProductId(7)));
        assert_eq!(file.min_svn, Some(Svn(2)));
        assert_eq!(file.min_tcb, Some(3));
        assert_eq!(file.allow_debug, Some(true));
        assert_eq!(file.max_age, Some(Duration::from_secs(90)));
        assert_eq!(file.require_capabilities, [Capability::Seal]);
        assert_eq!(file.forbid_capabilities, [Capability::Log]);
    }

    #[test]
    fn to_toml_round_trips() {
        let file = PolicyFile::from_toml(&full()).unwrap();
        assert_eq!(PolicyFile::from_toml(&file.to_toml()).unwrap(), file);
        assert_eq!(PolicyFile::from_toml("").unwrap(), PolicyFile::default());
        assert_eq!(PolicyFile::default().to_toml(), "");
        let odd = PolicyFile {
            roots: vec!["a \"b\"\\c\n.pem".into()],
            ..PolicyFile::default()
        };
        assert_eq!(PolicyFile::from_toml(&odd.to_toml()).unwrap(), odd);
    }

    #[test]
    fn max_age_in_seconds_or_with_a_unit() {
        for (text, secs) in [("max_age = 300", 300), ("max_age = \"5m\"", 300)] {
            let file = PolicyFile::from_toml(text).unwrap();
            assert_eq!(file.max_age, Some(Duration::from_secs(secs)), "{text}");
        }
        assert_eq!(
            PolicyFile::from_toml("max_age = \"5 minutes\"").unwrap_err(),
            PolicyError::BadValue {
                key: "max_age",
                detail: "\"5 minutes\": unknown unit \" minutes\" (use s, m, h or d)".into()
            }
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = PolicyFile::from_toml("root = [\"a.pem\"]\n").unwrap_err();
        let PolicyError::Syntax(message) = &err else {
            panic!("{err:?}")
        };
        assert!(
            message.starts_with("line 1, column 1: unknown field `root`"),
            "{message}"
        );
        let err = PolicyFile::from_toml("min_svn = 1\nnonce = \"00\"\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid verifier policy: line 2, column 1: unknown field `nonce`"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        assert_eq!(
            PolicyFile::from_toml("measurements = [\"abcd\"]").unwrap_err(),
            PolicyError::BadValue {
                key: "measurements",
                detail: format!("\"abcd\": {}", Measurement::from_hex("abcd").unwrap_err()),
            }
        );
        assert!(matches!(
            PolicyFile::from_toml("signers = [\"zz\"]").unwrap_err(),
            PolicyError::BadValue { key: "signers", .. }
        ));
        let err = PolicyFile::from_toml("forbid_capabilities = [\"telepathy\"]").unwrap_err();
        assert!(
            err.to_string().contains("unknown variant `telepathy`"),
            "{err}"
        );
        let err = PolicyFile::from_toml("product_id = 70000").unwrap_err();
        assert!(matches!(err, PolicyError::Syntax(_)), "{err:?}");
        let err = PolicyFile::from_toml("allow_debug = \"yes\"").unwrap_err();
        assert!(matches!(err, PolicyError::Syntax(_)), "{err:?}");
    }

    #[test]
    fn a_capability_both_required_and_forbidden_is_refused() {
        let text = "require_capabilities = [\"log\"]\nforbid_capabilities = [\"log\"]\n";
        assert_eq!(
            PolicyFile::from_toml(text).unwrap_err(),
            PolicyError::Contradiction(Capability::Log)
        );
        let file = PolicyFile {
            require_capabilities: vec![Capability::Store],
            forbid_capabilities: vec![Capability::Store],
            ..PolicyFile::default()
        };
        assert_eq!(
            file.into_policy(vec![]).unwrap_err(),
            PolicyError::Contradiction(Capability::Store)
        );
    }

    #[test]
    fn from_toml_builds_the_policy() {
        let policy = VerifierPolicy::from_toml(&full(), vec![vec![1, 2, 3]]).unwrap();
        assert_eq!(policy.roots(), [vec![1, 2, 3]]);
        assert_eq!(policy.measurements().len(), 2);
        assert_eq!(policy.signers(), [SignerId::from_hex(S).unwrap()]);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
        assert_eq!(
            parse_duration("99999999999999999d"),
            Err("\"99999999999999999d\" is too long".into())
        );
    }
}

//! An operator's view: everything the operator of a platform can see of a run, collected in one
//! value — artifacts (evidence, sealed input and output, receipt), the receipt's claims, sizes,
//! fuel, outcome, logs, metrics, and every file in the platform home — with
//! [`OperatorView::assert_no_secret`], the property this project exists to keep as one line in
//! a test: no given secret appears in any of it, raw or hex- or base64-encoded.

use std::path::Path;

use base64::Engine as _;

use super::Harness;

/// Largest file of the platform home read into a view; larger ones are listed by name only.
const MAX_FILE: u64 = 64 * 1024 * 1024;

/// One thing the operator saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// What it is ("sealed input", "file store/…/state", "server log", …).
    pub what: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Where a secret turned up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// The item it was found in ([`Seen::what`]).
    pub what: String,
    /// How it was encoded there: `raw`, `hex`, `HEX`, `base64`, `base64url`.
    pub encoding: &'static str,
}

impl std::fmt::Display for Leak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.what, self.encoding)
    }
}

/// Everything an operator saw, item by item.
#[derive(Debug, Clone, Default)]
pub struct OperatorView {
    items: Vec<Seen>,
}

impl OperatorView {
    /// An empty view.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `bytes` seen as `what`.
    pub fn with(mut self, what: &str, bytes: &[u8]) -> Self {
        self.add(what, bytes);
        self
    }

    /// Adds `text` seen as `what`.
    pub fn with_text(self, what: &str, text: &str) -> Self {
        self.with(what, text.as_bytes())
    }

    /// Adds `bytes` seen as `what`.
    pub fn add(&mut self, what: &str, bytes: &[u8]) {
        self.items.push(Seen {
            what: what.to_owned(),
            bytes: bytes.to_vec(),
        });
    }

    /// Adds every file under `h`'s platform home (the sealed store, its counters, the code
    /// cache, keys and certificates), named by its path in the home.
    pub fn with_home(mut self, h: &Harness) -> Self {
        let home = h.platform().home().to_path_buf();
        self.add_tree(&home, &home);
        self
    }

    /// Adds every file under `dir` (at most 64 MiB each; larger ones by name only), named relative
    /// to `base`.
    pub fn add_tree(&mut self, base: &Path, dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = path
                .strip_prefix(base)
                .unwrap_or(&path)
                .display()
                .to_string();
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => self.add_tree(base, &path),
                Ok(meta) if meta.is_file() && meta.len() <= MAX_FILE => {
                    if let Ok(bytes) = std::fs::read(&path) {
                        self.add(&format!("file {name}"), &bytes);
                    }
                }
                _ => self.add(&format!("file {name} (not read)"), &[]),
            }
        }
    }

    /// Everything in `other` as well.
    pub fn merge(mut self, other: OperatorView) -> Self {
        self.items.extend(other.items);
        self
    }

    /// The items seen.
    pub fn items(&self) -> &[Seen] {
        &self.items
    }

    /// The item named `what`, if seen.
    pub fn get(&self, what: &str) -> Option<&[u8]> {
        self.items
            .iter()
            .find(|s| s.what == what)
            .map(|s| s.bytes.as_slice())
    }

    /// Where `secret` appears: raw, as lower- or upper-case hex, or inside standard or URL-safe
    /// base64 at any alignment. Empty when it appears nowhere. A secret shorter than 4 bytes
    /// cannot be told from chance and is looked for raw only.
    pub fn find(&self, secret: &[u8]) -> Vec<Leak> {
        let needles = needles(secret);
        let mut leaks = Vec::new();
        for seen in &self.items {
            if let Some((encoding, _)) = needles
                .iter()
                .find(|(_, needle)| contains(&seen.bytes, needle))
            {
                leaks.push(Leak {
                    what: seen.what.clone(),
                    encoding,
                });
            }
        }
        leaks
    }

    /// Panics (a failing test) naming every item and encoding in which `secret` appears.
    #[allow(clippy::panic, reason = "an assertion for tests: failing is its job")]
    #[track_caller]
    pub fn assert_no_secret(&self, secret: &[u8]) {
        let leaks = self.find(secret);
        if !leaks.is_empty() {
            let names: Vec<String> = leaks.iter().map(Leak::to_string).collect();
            panic!(
                "a secret ({} bytes) is visible in: {}",
                secret.len(),
                names.join(", ")
            );
        }
    }

    /// [`OperatorView::assert_no_secret`] for each of `secrets`.
    #[track_caller]
    pub fn assert_no_secrets(&self, secrets: &[&[u8]]) {
        for secret in secrets {
            self.assert_no_secret(secret);
        }
    }
}

/// The byte strings that betray `secret`, with the name of their encoding.
fn needles(secret: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut out = vec![("raw", secret.to_vec())];
    if secret.len() < 4 {
        return out;
    }
    out.push(("hex", hex::encode(secret).into_bytes()));
    out.push(("HEX", hex::encode_upper(secret).into_bytes()));
    for (name, engine) in [
        ("base64", &base64::engine::general_purpose::STANDARD_NO_PAD),
        (
            "base64url",
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ),
    ] {
        // Inside a longer base64 text the secret starts at one of three offsets modulo 3: drop
        // that many leading bytes and keep whole 3-byte groups, whose encoding is then fixed.
        for skip in 0..3 {
            let rest = secret.get(skip..).unwrap_or_default();
            let whole = rest.len() / 3 * 3;
            if whole >= 3 {
                let group = rest.get(..whole).unwrap_or_default();
                out.push((name, engine.encode(group).into_bytes()));
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_secret_in_every_encoding_at_every_offset() {
        let secret = b"yes alice";
        for prefix in 0..4 {
            let mut blob = vec![b'x'; prefix];
            blob.extend_from_slice(secret);
            blob.extend_from_slice(b"trailer");
            let b64 = base64::engine::general_purpose::STANDARD.encode(&blob);
            let url = base64::engine::general_purpose::URL_SAFE.encode(&blob);
            let view = OperatorView::new()
                .with("b64", b64.as_bytes())
                .with("url", url.as_bytes())
                .with_text("hex", &hex::encode_upper(&blob));
            let found: Vec<_> = view.find(secret).into_iter().map(|l| l.what).collect();
            assert_eq!(found, ["b64", "url", "hex"], "prefix {prefix}");
        }
        assert!(OperatorView::new()
            .with("other", b"no alice")
            .find(secret)
            .is_empty());
    }

    #[test]
    #[should_panic(expected = "a secret (9 bytes) is visible in: log (raw)")]
    fn assert_no_secret_names_the_item() {
        OperatorView::new()
            .with("log", b"voted: yes alice")
            .assert_no_secret(b"yes alice");
    }
}

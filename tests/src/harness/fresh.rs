//! Is the module under test the one its sources build? A workload's tests read a `.wasm` that a
//! separate `cargo build --target wasm32-…` produced; after an edit without a rebuild they
//! silently test the old code. [`read_module`] refuses a module older than any file of its
//! sources. (This repository's own guests cannot go stale: `tests/build.rs` rebuilds them from
//! `guests/` whenever a file there changes, through `cargo:rerun-if-changed`.)

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Why a module was not read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StaleModule {
    /// The module or a source could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A source file changed after the module was built.
    #[error("{module} is older than {source_file}: rebuild it (cargo build --release --target wasm32-unknown-unknown)")]
    Stale {
        /// The module.
        module: PathBuf,
        /// The newer source file.
        source_file: PathBuf,
    },
}

fn modified(path: &Path) -> Result<SystemTime, StaleModule> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|source| StaleModule::Io {
            path: path.to_owned(),
            source,
        })
}

/// The newest file under `path` (a file or a directory, `target` directories skipped) and its
/// modification time.
fn newest(path: &Path) -> Result<Option<(SystemTime, PathBuf)>, StaleModule> {
    if !path.is_dir() {
        return Ok(Some((modified(path)?, path.to_owned())));
    }
    let entries = std::fs::read_dir(path).map_err(|source| StaleModule::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut best: Option<(SystemTime, PathBuf)> = None;
    for entry in entries.flatten() {
        let child = entry.path();
        if child.file_name().is_some_and(|n| n == "target") {
            continue;
        }
        if let Some(found) = newest(&child)? {
            if best.as_ref().is_none_or(|(time, _)| found.0 > *time) {
                best = Some(found);
            }
        }
    }
    Ok(best)
}

/// Reads the module at `wasm` after checking that no file under `sources` (files or
/// directories, e.g. the guest's `src` and `Cargo.toml`) is newer.
///
/// # Errors
/// [`StaleModule::Stale`] naming the newer source; [`StaleModule::Io`].
pub fn read_module(wasm: &Path, sources: &[&Path]) -> Result<Vec<u8>, StaleModule> {
    let built = modified(wasm)?;
    for source in sources {
        if let Some((time, file)) = newest(source)? {
            if time > built {
                return Err(StaleModule::Stale {
                    module: wasm.to_owned(),
                    source_file: file,
                });
            }
        }
    }
    std::fs::read(wasm).map_err(|source| StaleModule::Io {
        path: wasm.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_older_than_its_source_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (wasm, src) = (dir.path().join("m.wasm"), dir.path().join("src"));
        std::fs::create_dir(&src).unwrap();
        std::fs::write(src.join("lib.rs"), "// v1").unwrap();
        std::fs::write(&wasm, b"\0asm").unwrap();
        let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        std::fs::File::options()
            .write(true)
            .open(&wasm)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let error = read_module(&wasm, &[&src]).unwrap_err();
        assert!(
            matches!(&error, StaleModule::Stale { source_file, .. } if source_file.ends_with("src/lib.rs")),
            "{error}"
        );
        std::fs::File::options()
            .write(true)
            .open(&wasm)
            .unwrap()
            .set_modified(SystemTime::now() + std::time::Duration::from_secs(60))
            .unwrap();
        assert_eq!(read_module(&wasm, &[&src]).unwrap(), b"\0asm");
    }
}

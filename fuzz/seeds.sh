#!/bin/sh
# Writes the fuzz fixtures (when missing) and the seed corpora fuzz/corpus/<target>/ from real
# artifacts: bundles, evidence, receipts, sealed inputs and outputs, client contexts, manifests.
# Usage: fuzz/seeds.sh [CORPUS_DIR]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec cargo run --quiet --release --manifest-path "$here/Cargo.toml" --example seeds -- "${1:-$here/corpus}"

#!/usr/bin/env bash
# Interoperability checks: independent Python implementations (cryptography, cbor2, pycose,
# pyhpke), written from docs/formats.md alone, check what the `enclave` CLI produces.
# Needs network access to PyPI for the first run only (a virtualenv under target/).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=$root/target/interop-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet -r "$root/tests/interop/requirements.txt"
fi
py=$venv/bin/python
cargo build --quiet -p enclave-cli --manifest-path "$root/Cargo.toml"
cargo build --quiet --release --target wasm32-unknown-unknown --manifest-path "$root/guests/Cargo.toml" -p wordcount
enclave=${CARGO_TARGET_DIR:-$root/target}/debug/enclave
wasm=${CARGO_TARGET_DIR:-$root/guests/target}/wasm32-unknown-unknown/release/wordcount.wasm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
passed=0 failed=0
check() {
  local name=$1; shift
  if "$@"; then echo "interop: $name ok"; passed=$((passed + 1)); else echo "interop: $name FAILED"; failed=$((failed + 1)); fi
}

"$enclave" keygen --out author.key >/dev/null
"$enclave" sign --key author.key --manifest "$root/examples/wordcount.toml" "$wasm" -o app.enclave >/dev/null
m=$("$enclave" measure "$wasm" --manifest "$root/examples/wordcount.toml")
check "bundle signature and measurement (cryptography + cbor2)" "$py" "$root/tests/interop/bundle.py" app.enclave "$m"
check "author key readable by cryptography" "$py" -c "
from cryptography.hazmat.primitives import serialization as s
s.load_pem_private_key(open('author.key','rb').read(), None)
s.load_pem_public_key(open('author.pub','rb').read())"
check "evidence: x5chain, leaf, COSE signature, claims (cryptography + pycose + cbor2)" bash -c "cargo run --quiet -p attest --features platform --example make_evidence --manifest-path '$root/Cargo.toml' -- ev && '$py' '$root/tests/interop/evidence.py' ev"
check "sealed input and output both ways, key derivation (pyhpke + cryptography)" "$py" "$root/tests/interop/sealed.py" "$root"

echo "interop: $passed passed, $failed failed"
[ "$failed" = 0 ]

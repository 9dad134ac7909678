#!/usr/bin/env bash
# Interoperability checks: independent Python implementations (cryptography, cbor2, pycose,
# pyhpke), written from docs/formats.md alone, check what the `enclave` CLI produces and what
# `enclave serve` answers over HTTP (http.client from the standard library).
# Needs network access to PyPI for the first run only (a virtualenv under target/).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=$root/target/interop-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet -r "$root/tests/interop/requirements.txt"
fi
py=$venv/bin/python
# ENCLAVE (the CLI) and WORDCOUNT_WASM (the word-count guest), when set, are used as they are
# instead of being built here.
if [ -n "${ENCLAVE:-}" ]; then
  enclave=$ENCLAVE
else
  cargo build --quiet -p enclave-cli --manifest-path "$root/Cargo.toml"
  enclave=${CARGO_TARGET_DIR:-$root/target}/debug/enclave
fi
if [ -n "${WORDCOUNT_WASM:-}" ]; then
  wasm=$WORDCOUNT_WASM
else
  cargo build --quiet --release --target wasm32-unknown-unknown --manifest-path "$root/guests/Cargo.toml" -p wordcount
  wasm=${CARGO_TARGET_DIR:-$root/guests/target}/wasm32-unknown-unknown/release/wordcount.wasm
fi
work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
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

# A live `enclave serve`: the Python client (http.client) makes a confidential request, then the
# server must stop cleanly on SIGTERM.
serve() {
  "$enclave" platform init --home home >/dev/null || return 1
  "$enclave" platform export-root --home home -o root.pem || return 1
  "$enclave" serve app.enclave --listen 127.0.0.1:0 --home home >serve.out 2>serve.log &
  server=$!
  local addr= tries=0
  while [ -z "$addr" ]; do
    addr=$(sed -n 's|^listening on http://||p' serve.out)
    if [ -z "$addr" ]; then
      if ! kill -0 "$server" 2>/dev/null || [ $((tries += 1)) -gt 300 ]; then
        echo "serve did not start:" >&2; cat serve.log >&2; return 1
      fi
      sleep 0.1
    fi
  done
  local ok=0 status=0
  "$py" "$root/tests/interop/serve.py" "$addr" root.pem "$m" || ok=1
  kill -TERM "$server"
  wait "$server" || status=$?
  server=
  if [ "$status" != 0 ]; then echo "serve exited with status $status after SIGTERM" >&2; ok=1; fi
  if [ "$ok" != 0 ]; then cat serve.log >&2; fi
  return "$ok"
}
check "HTTP API: evidence, sealed run, receipt, refusal against enclave serve (http.client + the above)" serve

# A live `enclave serve --tls`: the standard library's ssl fetches the certificate, and the
# evidence in it is verified as above and must vouch for the certificate's key.
serve_tls() {
  "$enclave" serve app.enclave --listen 127.0.0.1:0 --home home --tls >tls.out 2>tls.log &
  server=$!
  local addr= tries=0
  while [ -z "$addr" ]; do
    addr=$(sed -n 's|^listening on https://||p' tls.out)
    if [ -z "$addr" ]; then
      if ! kill -0 "$server" 2>/dev/null || [ $((tries += 1)) -gt 300 ]; then
        echo "serve --tls did not start:" >&2; cat tls.log >&2; return 1
      fi
      sleep 0.1
    fi
  done
  local ok=0
  "$py" "$root/tests/interop/tls.py" "$addr" root.pem "$m" || ok=1
  kill -TERM "$server"
  wait "$server" || ok=1
  server=
  if [ "$ok" != 0 ]; then cat tls.log >&2; fi
  return "$ok"
}
check "attested TLS: certificate, CMW extension, evidence bound to the key (ssl + cryptography + pycose)" serve_tls

echo "interop: $passed passed, $failed failed"
[ "$failed" = 0 ]

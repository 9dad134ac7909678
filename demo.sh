#!/usr/bin/env bash
# The whole flow on the built-in word-count guest, in a temporary directory:
#   author:        keygen → measure → sign → inspect → run (plaintext)
#   platform:      platform init → export-root → attest (with the data owner's nonce)
#   data owner:    verify → seal (to the attested key) → [operator: run] → open (checks the receipt)
# and then the refusals: a tampered bundle, a wrong signer, a wrong nonce, a tampered sealed input.
set -euo pipefail
cd "$(dirname "$0")"
root=$PWD

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "build the enclave CLI and the guests (from source)"
# rust-toolchain.toml lists the wasm targets; rustup installs them when it installs the toolchain,
# but not into a toolchain that is already present, so make sure (a no-op when they are there).
rustup target add wasm32-unknown-unknown wasm32-wasip1 >/dev/null 2>&1 || true
cargo build --quiet -p enclave-cli
cargo build --quiet --release --target wasm32-unknown-unknown --manifest-path guests/Cargo.toml -p wordcount
enclave=${CARGO_TARGET_DIR:-$root/target}/debug/enclave
wasm=${CARGO_TARGET_DIR:-$root/guests/target}/wasm32-unknown-unknown/release/wordcount.wasm

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
cp "$root/examples/wordcount.toml" enclave.toml
cp "$root/examples/sample.txt" input.txt

step "keygen: an Ed25519 author key (PKCS#8, 0600) and its public key"
"$enclave" keygen -o author.key
openssl pkey -in author.key -noout && echo "openssl reads author.key"

step "measure: the measurement, computed without any key"
"$enclave" measure "$wasm" --manifest enclave.toml

step "sign: module + manifest + signer key → one COSE_Sign1 bundle"
"$enclave" sign --key author.key --manifest enclave.toml "$wasm" -o app.enclave

step "inspect"
"$enclave" inspect app.enclave

step "run, trusting only our signer"
"$enclave" run app.enclave --trusted-signer author.pub --input input.txt --output counts.txt --json
head -5 counts.txt

step "a tampered bundle is refused (exit code 3)"
cp app.enclave evil.enclave
printf 'X' | dd of=evil.enclave bs=1 seek=200 conv=notrunc status=none
if "$enclave" run evil.enclave --input input.txt; then echo "BUG: accepted"; exit 1; else echo "refused with exit code $?"; fi

step "a bundle by another signer is refused (exit code 3)"
"$enclave" keygen -o mallory.key >/dev/null
if "$enclave" run app.enclave --trusted-signer mallory.pub --input input.txt; then echo "BUG: accepted"; exit 1; else echo "refused with exit code $?"; fi

# The simulated platform lives in the demo's directory, never in the user's data directory.
export ENCLAVE_HOME=$work/platform

step "platform init: a vendor root, an attestation key certified with TCB 1, a platform secret"
"$enclave" platform init --name demo-platform --tcb 1
"$enclave" platform export-root -o root.pem
openssl x509 -in root.pem -noout -subject -fingerprint -sha256

step "attest: evidence for the enclave, bound to the data owner's fresh nonce"
nonce=$(openssl rand -hex 16)
"$enclave" attest app.enclave --nonce "$nonce" -o report.cbor

step "verify: the data owner checks the evidence against the pinned root and the measurement"
measurement=$("$enclave" measure "$wasm" --manifest enclave.toml)
"$enclave" verify report.cbor --root root.pem --measurement "$measurement" --nonce "$nonce"

step "seal: encrypt the input to the attested enclave key (verifying the evidence first)"
"$enclave" seal --evidence report.cbor --root root.pem --measurement "$measurement" --nonce "$nonce" \
    --input input.txt -o input.sealed
if grep -q "foolishness" input.sealed; then echo "BUG: plaintext in the sealed input"; exit 1; fi
echo "the sealed input holds no plaintext"

step "run (the operator): opens the input inside the runtime, seals the output, signs a receipt"
"$enclave" run app.enclave --input input.sealed --output output.sealed --receipt receipt.cbor --json

step "open (the data owner): check the receipt against the request, then decrypt"
"$enclave" open output.sealed --receipt receipt.cbor --context input.sealed.context --root root.pem -o result.txt
cmp result.txt counts.txt && echo "the confidential result equals the plaintext run's"

step "evidence for another nonce is refused (exit code 6)"
if "$enclave" verify report.cbor --root root.pem --measurement "$measurement" --nonce "$(openssl rand -hex 16)"; then
    echo "BUG: accepted"; exit 1; else echo "refused with exit code $?"; fi

step "a tampered sealed input is refused (exit code 7)"
cp input.sealed evil.sealed
printf 'X' | dd of=evil.sealed bs=1 seek=300 conv=notrunc status=none
if "$enclave" run app.enclave --input evil.sealed --output evil.out --receipt evil.receipt; then echo "BUG: accepted"; exit 1; else echo "refused with exit code $?"; fi

printf '\ndemo complete\n'

#!/usr/bin/env bash
# The whole flow on the built-in word-count guest, in a temporary directory:
# keygen → measure → sign → inspect → run, then a tampered bundle and a wrong signer refused.
set -euo pipefail
cd "$(dirname "$0")"
root=$PWD

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "build the enclave CLI and the guests (from source)"
# rust-toolchain.toml lists the wasm targets; rustup installs them when it installs the toolchain,
# but not into a toolchain that is already present, so make sure (a no-op when they are there).
rustup target add wasm32-unknown-unknown wasm32-wasip1 >/dev/null 2>&1 || true
cargo build --quiet -p enclave
cargo build --quiet --release --target wasm32-unknown-unknown --manifest-path guests/Cargo.toml -p wordcount
enclave=$root/target/debug/enclave
wasm=$root/guests/target/wasm32-unknown-unknown/release/wordcount.wasm

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
cp "$root/examples/wordcount.toml" enclave.toml
cp "$root/examples/sample.txt" input.txt

step "keygen: an Ed25519 author key (PKCS#8, 0600) and its public key"
"$enclave" keygen --out author.key
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
"$enclave" keygen --out mallory.key >/dev/null
if "$enclave" run app.enclave --trusted-signer mallory.pub --input input.txt; then echo "BUG: accepted"; exit 1; else echo "refused with exit code $?"; fi

printf '\ndemo complete\n'

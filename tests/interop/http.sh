#!/usr/bin/env bash
# A wasi:http component made by another language's standard toolchain (Python, componentize-py
# from PyPI: guests/http-python/) and one made by Rust's (guests/http-hello, wasm32-wasip2), each
# signed as a production enclave, served over attested TLS (`enclave serve --tls`) and called
# with curl through `enclave proxy`, which verifies the attested certificate of every upstream
# connection against the bundle's measurement. Both must answer the same requests the same way.
# Needs network access to PyPI (componentize-py) and crates.io (the wasip2 WIT) on the first run.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
if [ -n "${ENCLAVE:-}" ]; then
  enclave=$ENCLAVE
else
  cargo build --quiet -p enclave-cli --manifest-path "$root/Cargo.toml"
  enclave=$target/debug/enclave
fi
cargo build --quiet --release --locked --target wasm32-wasip2 --manifest-path "$root/guests/Cargo.toml" \
  --target-dir "$target/guests" -p http-hello
rust_wasm=$target/guests/wasm32-wasip2/release/http_hello.wasm

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
export ENCLAVE_HOME=$work/home
"$root/guests/http-python/build.sh" python.wasm
"$enclave" platform init >/dev/null
"$enclave" platform export-root -o root.pem
"$enclave" keygen --out author.key >/dev/null

# The first line a server or proxy prints is `listening on URL`; waits for it.
listen() {
  local out=$1 tries=0
  until grep -q '^listening on ' "$out" 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -gt 600 ]; then echo "http: no 'listening on' in $out" >&2; cat "$out" >&2; return 1; fi
    sleep 0.2
  done
  sed -n 's/^listening on //p' "$out" | head -n1
}

# sign NAME WASM CAPABILITIES: a production http enclave, served over attested TLS, behind a proxy.
# Prints the proxy's URL. The Python component compiles for several CPU-seconds (an interpreter);
# the budget is raised for a debug build of the CLI.
start() {
  local name=$1 wasm=$2 capabilities=$3
  printf 'product_id = 7\nsvn = 1\ndebug = false\nkind = "http"\ncapabilities = [%s]\n[limits]\nmemory_bytes = 268435456\n' \
    "$capabilities" >"$name.toml"
  "$enclave" sign --key author.key --manifest "$name.toml" "$wasm" -o "$name.enclave" \
    --compile-cpu-seconds 300 >/dev/null
  "$enclave" serve "$name.enclave" --tls --listen 127.0.0.1:0 --compile-cpu-seconds 300 \
    >"$name.serve" 2>"$name.log" &
  pids+=($!)
  local upstream
  upstream=$(listen "$name.serve")
  "$enclave" proxy "$upstream" --listen 127.0.0.1:0 --root root.pem \
    --measurement-from "$name.enclave" >"$name.proxy" 2>"$name.proxy.log" &
  pids+=($!)
  listen "$name.proxy"
}

python_url=$(start python python.wasm '"random", "clock-monotonic", "clock-wall"')
rust_url=$(start rust "$rust_wasm" '')

head -c 1048576 /dev/urandom >mib
passed=0 failed=0
# same NAME CURL-ARGS...: the status line, the body and the content-type of both enclaves' answers
# are identical.
same() {
  local name=$1; shift
  local a b
  a=$(curl -sS --max-time 60 -o "$work/a.body" -w '%{http_code} %{content_type}' "$@" "$python_url${path}")
  b=$(curl -sS --max-time 60 -o "$work/b.body" -w '%{http_code} %{content_type}' "$@" "$rust_url${path}")
  if [ "$a" = "$b" ] && cmp -s "$work/a.body" "$work/b.body" && [ "$a" != "000 " ]; then
    echo "http: $name ok ($a)"; passed=$((passed + 1))
  else
    echo "http: $name FAILED: python '$a', rust '$b'"; failed=$((failed + 1))
  fi
}
path=/ same "GET /"
path=/echo same "POST /echo, 1 MiB" --data-binary @mib -H 'content-type: application/octet-stream'
path=/echo same "POST /echo, chunked" --data-binary @mib -H 'transfer-encoding: chunked'
path=/echo same "PUT /echo, empty" -X PUT --data-binary ''
path=/bytes/300000 same "GET /bytes/300000"
path=/status/418 same "GET /status/418"
path=/nowhere same "GET /nowhere (404)"
path=/trap same "GET /trap (a production component's failure: the problem, its words withheld)"

# What the Python enclave answers is exactly what it should, not only what Rust's does.
greeting=$(curl -sS --max-time 60 "$python_url/")
if [ "$greeting" = "hello from an enclave" ]; then
  echo "http: python greeting ok"; passed=$((passed + 1))
else
  echo "http: python greeting FAILED: '$greeting'"; failed=$((failed + 1))
fi
if curl -sS --max-time 60 --data-binary @mib "$python_url/echo" | cmp -s - mib; then
  echo "http: python echo of 1 MiB ok"; passed=$((passed + 1))
else
  echo "http: python echo of 1 MiB FAILED"; failed=$((failed + 1))
fi

echo "http: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

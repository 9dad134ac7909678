#!/usr/bin/env bash
# `enclave serve` under load, beside its in-process ceiling, in one run on this machine
# (docs/performance.md, "Serving"). Usage:
#
#   bench/serve.sh            # C = 1, 16, 256; 20,000 requests of 1 KiB each
#   bench/serve.sh --quick    # 2,000 requests each
#
# The server (release build, 2 workers = the cores, queue 512) and the load generator share the
# machine's two cores: the served figure includes the client's load. Peak RSS is the server's
# VmHWM after the C = 256 run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
requests=20000
[[ ${1:-} == --quick ]] && requests=2000

rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
target=${CARGO_TARGET_DIR:-$root/target}
cargo build --quiet --release -p enclave-cli -p enclave-loadgen
cargo build --quiet --release --target wasm32-unknown-unknown --manifest-path guests/Cargo.toml -p wordcount
enclave=$target/release/enclave
loadgen=$target/release/enclave-loadgen
wasm=$root/guests/target/wasm32-unknown-unknown/release/wordcount.wasm
[[ -f $wasm ]] || wasm=$target/wasm32-unknown-unknown/release/wordcount.wasm

work=$(mktemp -d)
server=
cleanup() { [[ -n $server ]] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
export ENCLAVE_HOME=$work/platform
"$enclave" platform init >/dev/null
"$enclave" platform export-root -o root.pem
"$enclave" keygen --out author.key >/dev/null
cp "$root/examples/wordcount.toml" enclave.toml
"$enclave" sign --key author.key --manifest enclave.toml "$wasm" -o app.enclave >/dev/null
m=$("$enclave" measure "$wasm" --manifest enclave.toml)

cores=$(nproc)
echo "== in-process ceiling: run_sealed on $cores guest threads, $requests requests of 1 KiB"
"$loadgen" ceiling --home "$ENCLAVE_HOME" --bundle app.enclave --threads "$cores" --requests "$requests" | tee ceiling.json

"$enclave" serve app.enclave --listen 127.0.0.1:0 --workers "$cores" --queue 512 \
    --max-connections 1024 >serve.out 2>serve.log &
server=$!
for _ in $(seq 600); do grep -q listening serve.out 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' serve.out)
for c in 1 16 256; do
    echo "== served: $c connection(s), $requests requests of 1 KiB"
    "$loadgen" http --url "$url" --root root.pem --measurement "$m" --connections "$c" \
        --requests "$requests" | tee "c$c.json"
done
rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
kill -TERM "$server"; wait "$server"; server=

python3 - "$rss_kib" <<'PY'
import json, sys
ceiling = json.load(open("ceiling.json"))["requests_per_second"]
print()
print(f"| connections | requests/s | of ceiling | p50 ms | p99 ms |")
print(f"|---:|---:|---:|---:|---:|")
for c in (1, 16, 256):
    r = json.load(open(f"c{c}.json"))
    print(f"| {c} | {r['requests_per_second']:,.0f} | {r['requests_per_second'] / ceiling:.0%} | "
          f"{r['latency_ms']['p50']:.2f} | {r['latency_ms']['p99']:.2f} |")
print(f"| in-process ceiling | {ceiling:,.0f} | 100% | | |")
print(f"\nserver peak RSS (VmHWM) after C = 256: {int(sys.argv[1]) / 1024:.1f} MiB")
PY

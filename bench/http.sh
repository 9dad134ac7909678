#!/usr/bin/env bash
# `enclave serve` of an `http` enclave beside `wasmtime serve` of the same wasi:http component,
# same wasmtime version (48), same machine, one run (issue 31 item 6; docs/performance.md,
# "wasi:http components"). Usage:
#
#   WASMTIME=/path/to/wasmtime bench/http.sh                  # 10 s per load run, A B A B
#   WASMTIME=/path/to/wasmtime bench/http.sh --quick          # 3 s per load run
#   WASMTIME=… bench/http.sh --wasmtime-only                  # the reference half alone
#   WASMTIME=… COMPONENT=app.wasm bench/http.sh               # another component (same routes)
#
# The reference is the wasmtime CLI 48.0.8 with its `serve` feature (on by default), built
# outside the repository, e.g. (a long build; nothing of it belongs in the repository):
#
#   CARGO_TARGET_DIR=/tmp/wasmtime-cli cargo install wasmtime-cli --version 48.0.8 --locked \
#       --root /tmp/wasmtime-48 --features serve
#   WASMTIME=/tmp/wasmtime-48/bin/wasmtime bench/http.sh
#
# The component defaults to guests/http-hello built for wasm32-wasip2. It is signed as an
# `http` enclave (manifest below) and served twice:
#   - `enclave serve app.enclave --allow-plaintext --listen 127.0.0.1:0 --workers CORES`
#     (and once more with `--tls` for the cost of attested TLS);
#   - `$WASMTIME serve -S cli=y --addr 127.0.0.1:0 component.wasm` (`-S cli=y`: the
#     component may use stdout and stderr, as std's wasm32-wasip2 code imports them).
# Then:
#   1. correctness: bench/http_corpus.py sends its corpus to both and compares the answers byte
#      for byte (status, headers but the connection-level ones and the enclave server's
#      x-request-id, body); the script stops at the first difference;
#   2. throughput and latency: `loadgen plain` (bench/loadgen) sends `GET /` and `POST /echo` of
#      1 KiB over C = 1 and C = 16 kept-alive connections for SECONDS each, the two servers
#      alternating (A B A B) so that drift hits both; req/s and p50/p99 are the means of the
#      rounds; the ratio enclave / wasmtime;
#   3. the cost of `--tls`: the same loads over attested TLS to the `--tls` server (the client
#      verifying the certificate once per connection), in the same alternating rounds (enclave,
#      wasmtime, enclave --tls), beside the cleartext enclave's figures.
# The servers and the load generator share the machine's cores: every figure includes the
# client's load. Extra flags: ENCLAVE_SERVE_FLAGS, WASMTIME_SERVE_FLAGS (e.g. "-W timeout=10s");
# ROUNDS (default 2) alternating rounds per row.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=10 rounds=${ROUNDS:-2} wasmtime_only=false
for arg in "$@"; do
    case $arg in
    --quick) seconds=3 ;;
    --wasmtime-only) wasmtime_only=true ;;
    *) echo "usage: WASMTIME=PATH bench/http.sh [--quick] [--wasmtime-only]" >&2; exit 2 ;;
    esac
done
wasmtime=${WASMTIME:?set WASMTIME to a wasmtime 48 CLI built with the serve feature (see the header)}
"$wasmtime" --version | grep -q '^wasmtime 48\.' || {
    echo "WASMTIME is $("$wasmtime" --version), not wasmtime 48" >&2
    exit 2
}
cores=$(nproc)

target=${CARGO_TARGET_DIR:-$root/target}
cargo build --quiet --release -p enclave-cli -p enclave-loadgen
enclave=$target/release/enclave
loadgen=$target/release/enclave-loadgen
if [[ -z ${COMPONENT:-} ]]; then
    rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
    cargo build --quiet --release --target wasm32-wasip2 --manifest-path guests/Cargo.toml -p http-hello
    COMPONENT=$root/guests/target/wasm32-wasip2/release/http_hello.wasm
    [[ -f $COMPONENT ]] || COMPONENT=$target/wasm32-wasip2/release/http_hello.wasm
fi
component=$(realpath "$COMPONENT")

work=$(mktemp -d)
servers=()
cleanup() {
    for s in "${servers[@]}"; do kill "$s" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
export ENCLAVE_HOME=$work/platform

# Waits for NAME.out to print `listening on URL` (enclave serve) and sets $url.
wait_enclave() {
    local name=$1
    for _ in $(seq 600); do
        url=$(sed -n 's/^listening on //p' "$name.out" 2>/dev/null || true)
        [[ -n $url ]] && return 0
        kill -0 "$server" 2>/dev/null || break
        sleep 0.1
    done
    echo "enclave serve ($name) did not start:" >&2
    cat "$name.log" >&2
    return 1
}

start_enclave() {
    local name=$1
    shift
    # shellcheck disable=SC2086
    "$enclave" serve app.enclave --listen 127.0.0.1:0 --workers "$cores" --queue 512 \
        "$@" ${ENCLAVE_SERVE_FLAGS:-} >"$name.out" 2>"$name.log" &
    server=$!
    servers+=("$server")
    wait_enclave "$name"
}

# `wasmtime serve` prints `Serving HTTP on http://ADDR/` on standard error, the bound port too.
start_wasmtime() {
    # shellcheck disable=SC2086
    "$wasmtime" serve -S cli=y ${WASMTIME_SERVE_FLAGS:-} --addr 127.0.0.1:0 "$component" \
        >wasmtime.out 2>wasmtime.log &
    server=$!
    servers+=("$server")
    for _ in $(seq 600); do
        url=$(sed -n 's|^Serving HTTP on \(http://[^/]*\)/$|\1|p' wasmtime.log 2>/dev/null || true)
        [[ -n $url ]] && return 0
        kill -0 "$server" 2>/dev/null || break
        sleep 0.1
    done
    echo "wasmtime serve did not start:" >&2
    cat wasmtime.log >&2
    return 1
}

start_wasmtime
wasmtime_url=$url wasmtime_pid=$server
echo "== wasmtime serve: $wasmtime_url ($("$wasmtime" --version))"

# The enclave half: an `http` enclave of the same component. Limits large enough for the
# corpus's 1 MiB bodies; fuel 0 (unmetered), as `wasmtime serve` counts no instruction either.
"$enclave" platform init >/dev/null
"$enclave" platform export-root -o root.pem
"$enclave" keygen --out author.key >/dev/null
cat >http.toml <<'TOML'
product_id = 1
svn = 1
debug = false
kind = "http"
capabilities = []

[limits]
memory_bytes = 67108864
fuel = 0
timeout_ms = 10000
max_input_bytes = 16777216
max_output_bytes = 16777216
TOML
enclave_ready=false
if "$enclave" sign --key author.key --manifest http.toml "$component" -o app.enclave >sign.log 2>&1 &&
    m=$("$enclave" measure "$component" --manifest http.toml 2>>sign.log) &&
    start_enclave plain --allow-plaintext; then
    enclave_url=$url enclave_pid=$server enclave_ready=true
    start_enclave tls --tls
    tls_url=$url
    echo "== enclave serve: $enclave_url, --tls: $tls_url (measurement $m)"
elif $wasmtime_only; then
    echo "== enclave half skipped (--wasmtime-only): $(cat sign.log plain.log 2>/dev/null | tail -n 3)"
else
    echo "the http enclave could not be signed or served:" >&2
    cat sign.log plain.log 2>/dev/null >&2
    echo "(--wasmtime-only runs the reference half alone)" >&2
    exit 1
fi

echo "== correctness: bench/http_corpus.py"
if $enclave_ready; then
    # x-request-id: the enclave server's id of each request (in its logs too), not the component's.
    python3 "$root/bench/http_corpus.py" --quiet --ignore-header x-request-id "$enclave_url" "$wasmtime_url"
else
    # The reference against itself: proves the corpus and the routes' promises.
    python3 "$root/bench/http_corpus.py" --quiet "$wasmtime_url" "$wasmtime_url"
fi

servers_to_load=(wasmtime)
$enclave_ready && servers_to_load=(enclave wasmtime tls)
url_of() {
    case $1 in
    enclave) echo "$enclave_url" ;;
    tls) echo "$tls_url" ;;
    *) echo "$wasmtime_url" ;;
    esac
}
# One load run: NAME URL WORKLOAD C ROUND; writes NAME-WORKLOAD-cC-rROUND.json.
load() {
    local name=$1 base=$2 workload=$3 c=$4 round=$5 extra=()
    case $workload in
    get) extra=(--method GET --url "$base/") ;;
    echo) extra=(--method POST --size 1024 --url "$base/echo") ;;
    esac
    [[ $base == https://* ]] && extra+=(--root root.pem --measurement "$m")
    "$loadgen" plain "${extra[@]}" --connections "$c" --seconds "$seconds" \
        >"$name-$workload-c$c-r$round.json"
}
for workload in get echo; do
    for c in 1 16; do
        for round in $(seq "$rounds"); do
            for name in "${servers_to_load[@]}"; do
                echo "== $name: $workload, C = $c, round $round, ${seconds}s"
                load "$name" "$(url_of "$name")" "$workload" "$c" "$round"
            done
        done
    done
done
rss() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
wasmtime_rss=$(rss "$wasmtime_pid") enclave_rss=
$enclave_ready && enclave_rss=$(rss "$enclave_pid")

python3 - "$rounds" "$cores" "$wasmtime_rss" "$enclave_rss" <<'PY'
import json, os, sys
rounds, cores = int(sys.argv[1]), int(sys.argv[2])
wasmtime_rss, enclave_rss = sys.argv[3], sys.argv[4]
names = {"get": "`GET /`", "echo": "`POST /echo` 1 KiB"}

def mean(name, workload, c, rounds):
    runs = [json.load(open(f"{name}-{workload}-c{c}-r{r}.json")) for r in range(1, rounds + 1)]
    avg = lambda f: sum(f(r) for r in runs) / len(runs)
    return {"rps": avg(lambda r: r["requests_per_second"]),
            "p50": avg(lambda r: r["latency_ms"]["p50"]),
            "p99": avg(lambda r: r["latency_ms"]["p99"])}

have_enclave = os.path.exists("enclave-get-c1-r1.json")
print()
print(f"{cores} cores shared by the server and the load generator; means of {rounds} alternating "
      "rounds per row.")
print()
if have_enclave:
    print("| request | C | enclave req/s | wasmtime req/s | enclave / wasmtime | enclave p50 / p99 ms "
          "| wasmtime p50 / p99 ms | p99 enclave / wasmtime |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
else:
    print("| request | C | wasmtime req/s | wasmtime p50 / p99 ms |")
    print("|---|---:|---:|---:|")
met = 0
for workload in ("get", "echo"):
    for c in (1, 16):
        w = mean("wasmtime", workload, c, rounds)
        if have_enclave:
            e = mean("enclave", workload, c, rounds)
            print(f"| {names[workload]} | {c} | {e['rps']:,.0f} | {w['rps']:,.0f} | "
                  f"{e['rps'] / w['rps']:.2f} | {e['p50']:.2f} / {e['p99']:.2f} | "
                  f"{w['p50']:.2f} / {w['p99']:.2f} | {e['p99'] / w['p99']:.2f} |")
            met += e["rps"] >= 0.9 * w["rps"] and e["p99"] <= 1.2 * w["p99"]
        else:
            print(f"| {names[workload]} | {c} | {w['rps']:,.0f} | {w['p50']:.2f} / {w['p99']:.2f} |")
if have_enclave:
    print()
    print(f"goal (issue 31): req/s >= 0.9x and p99 <= 1.2x wasmtime serve's: met in {met} of 4 rows")
    print()
    print("| request | C | cleartext req/s | attested TLS req/s | TLS / cleartext | TLS p50 / p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for workload in ("get", "echo"):
        for c in (1, 16):
            e = mean("enclave", workload, c, rounds)
            t = mean("tls", workload, c, rounds)
            print(f"| {names[workload]} | {c} | {e['rps']:,.0f} | {t['rps']:,.0f} | "
                  f"{t['rps'] / e['rps']:.2f} | {t['p50']:.2f} / {t['p99']:.2f} |")
print()
print(f"peak RSS (VmHWM): wasmtime serve {int(wasmtime_rss) / 1024:.1f} MiB"
      + (f", enclave serve {int(enclave_rss) / 1024:.1f} MiB" if enclave_rss else ""))
PY

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

# shellcheck source=bench/served.sh
source "$root/bench/served.sh"

cores=$(nproc)
echo "== in-process ceiling: run_sealed on $cores guest threads, $requests requests of 1 KiB"
"$loadgen" ceiling --home "$ENCLAVE_HOME" --bundle app.enclave --threads "$cores" --requests "$requests" | tee ceiling.json

start_server serve --workers "$cores" --queue 512 --max-connections 1024
for c in 1 16 256; do
    echo "== served: $c connection(s), $requests requests of 1 KiB"
    "$loadgen" http --url "$url" --root root.pem --measurement "$m" --connections "$c" \
        --requests "$requests" | tee "c$c.json"
done
rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
kill -TERM "$server"; wait "$server"; servers=()

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

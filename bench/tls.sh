#!/usr/bin/env bash
# Attested TLS under load, against the cleartext server in the same run (docs/performance.md,
# "Attested TLS"). Usage:
#
#   bench/tls.sh            # 2,000 handshakes per mode; 10,000 requests of 1 KiB per run
#   bench/tls.sh --quick    # 400 handshakes, 2,000 requests
#
# Two release servers of the same bundle on the same platform, one `--tls`, one cleartext, each
# with 2 workers; the load generator shares the machine's two cores with them.
#   1. TLS 1.3 handshakes per second, the client verifying the attested certificate
#      (attest::tls), and in the same run accepting any certificate: the cost of attestation
#      on the client. The server signs one handshake per connection either way.
#   2. Sealed requests per second over C kept-alive connections, https:// and http:// runs
#      interleaved: the cost of TLS on top of the sealed request.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
handshakes=2000 requests=10000
[[ ${1:-} == --quick ]] && handshakes=400 requests=2000

# shellcheck source=bench/served.sh
source "$root/bench/served.sh"
start_server tls --workers 2 --queue 512 --tls
https_url=$url
start_server plain --workers 2 --queue 512
http_url=$url

echo "== TLS 1.3 handshakes: attested verification vs none, $handshakes each, 2 client threads"
"$loadgen" handshakes --addr "${https_url#https://}" --root root.pem --measurement "$m" \
    --handshakes "$handshakes" --threads 2 | tee handshakes.json
for c in 1 16; do
    for scheme in http https; do
        url=$http_url; [[ $scheme == https ]] && url=$https_url
        echo "== $scheme: $c connection(s), $requests sealed requests of 1 KiB"
        "$loadgen" http --url "$url" --root root.pem --measurement "$m" --connections "$c" \
            --requests "$requests" | tee "$scheme-c$c.json"
    done
done

python3 - <<'PY'
import json
h = json.load(open("handshakes.json"))
a, u = h["attested_handshakes_per_second"], h["unverified_handshakes_per_second"]
print()
print("| TLS 1.3 handshakes (new connection each) | per second |")
print("|---|---:|")
print(f"| client verifies the attested certificate | {a:,.0f} |")
print(f"| client accepts any certificate (peer) | {u:,.0f} |")
print(f"| attested / peer | {a / u:.2f} |")
print()
print("| sealed requests of 1 KiB, kept-alive | http req/s | https req/s | https / http | https p99 ms |")
print("|---:|---:|---:|---:|---:|")
for c in (1, 16):
    p = json.load(open(f"http-c{c}.json"))
    s = json.load(open(f"https-c{c}.json"))
    print(f"| C = {c} | {p['requests_per_second']:,.0f} | {s['requests_per_second']:,.0f} | "
          f"{s['requests_per_second'] / p['requests_per_second']:.2f} | {s['latency_ms']['p99']:.2f} |")
PY

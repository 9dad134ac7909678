#!/usr/bin/env bash
# `enclave serve` under hostile clients (issue 27; docs/performance.md, "Under attack"). Usage:
#
#   bench/attack.sh            # 10,000 honest sealed requests of 1 KiB per run
#   bench/attack.sh --quick    # 2,000
#
# One release server, `--tls` and otherwise the defaults (workers = cores, 1,024 connections),
# and in the same run:
#   1. honest throughput: sealed requests over C = 16 kept-alive attested connections;
#   2. the attacker (`loadgen attack`): 1,100 silent TCP connections, 50 silent after the TLS
#      handshake, 50 idle HTTP/2 connections answering PINGs, 20 uploads at one byte a second,
#      each reopened a second after the server closes it;
#   3. with the attacker holding them: one honest `enclave call` (its whole-process wall time),
#      and the honest throughput again.
# Everything shares the machine's cores: the attacker's own CPU is in the figure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
requests=10000
[[ ${1:-} == --quick ]] && requests=2000
# Each attacker connection is a descriptor in the attacker and, while accepted, in the server.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# shellcheck source=bench/served.sh
source "$root/bench/served.sh"
start_server attacked --tls
addr=${url#https://}
printf 'the honest input, %s\n' "$(date +%s)" >in.txt

metrics() {
    python3 - "$addr" <<'PY'
import socket, ssl, sys
host, port = sys.argv[1].rsplit(":", 1)
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
with socket.create_connection((host, int(port)), timeout=60) as raw, ctx.wrap_socket(raw) as s:
    s.sendall(b"GET /metrics HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
for line in data.decode().splitlines():
    if line.startswith(("enclave_connections ", "enclave_connections_closed_total", "enclave_refusals_total", "enclave_tls_handshakes_total")):
        print(line)
PY
}

echo "== without the attacker: C = 16, $requests sealed requests of 1 KiB"
"$loadgen" http --url "$url" --root root.pem --measurement "$m" --connections 16 \
    --requests "$requests" | tee without.json

echo "== the attacker: 1,100 silent, 50 silent after TLS, 50 idle h2, 20 slow bodies"
"$loadgen" attack --addr "$addr" >attacker.log &
attacker=$!
servers+=("$attacker")
# Let it open its connections, and every kind meet its deadline once (the body timeout, 60 s, is
# the longest): its own ramp, not a measurement.
sleep 65
tail -1 attacker.log
metrics

echo "== one honest enclave call under attack"
started=$(date +%s%N)
"$enclave" call "$url" --root root.pem --measurement "$m" -i in.txt -o out.txt >/dev/null
ended=$(date +%s%N)
grep -q "^honest" out.txt || { echo "the honest call's answer is wrong" >&2; exit 1; }
call_ms=$(( (ended - started) / 1000000 ))
echo "call: ${call_ms} ms"

echo "== with the attacker: C = 16, $requests sealed requests of 1 KiB"
"$loadgen" http --url "$url" --root root.pem --measurement "$m" --connections 16 \
    --requests "$requests" | tee with.json
tail -1 attacker.log
metrics
kill "$attacker"

python3 - "$call_ms" <<'PY'
import json, sys
without = json.load(open("without.json"))
with_ = json.load(open("with.json"))
print()
print("| honest C = 16 | requests/s | p50 ms | p99 ms |")
print("|---|---:|---:|---:|")
for name, r in (("without the attacker", without), ("with the attacker", with_)):
    print(f"| {name} | {r['requests_per_second']:,.0f} | {r['latency_ms']['p50']:.2f} | {r['latency_ms']['p99']:.2f} |")
ratio = with_["requests_per_second"] / without["requests_per_second"]
print(f"\nwith / without: {ratio:.0%}; one honest `enclave call` under attack: {sys.argv[1]} ms")
PY

#!/usr/bin/env bash
# A fleet on loopback, tested: three `enclave serve --tls` instances, each on its own platform
# initialised from one fleet root, behind HAProxy in TCP passthrough mode (deploy/haproxy.cfg).
#
# It checks that
#   1. a client through the balancer verifies the attested certificate of the instance it
#      reaches, and all three instances are reached;
#   2. confidential requests (`enclave call https://…`) through the balancer succeed;
#   3. an instance killed with SIGKILL is taken out of rotation by HAProxy's health check, and
#      every request during and after that still succeeds on the other two;
#   4. an instance sent SIGTERM drains: /readyz turns 503, HAProxy stops sending it work, and it
#      exits 0.
#
# Needs haproxy (Debian: apt-get install -y haproxy). ENCLAVE and WORDCOUNT_WASM override the
# binaries it otherwise builds from source.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

command -v haproxy >/dev/null || {
    echo "fleet: haproxy is not installed (apt-get install -y haproxy)" >&2
    exit 1
}

step() { printf '\n\033[1m== fleet: %s\033[0m\n' "$*"; }
fail() { echo "fleet: FAILED: $*" >&2; exit 1; }

if [[ -z "${ENCLAVE:-}" || -z "${WORDCOUNT_WASM:-}" ]]; then
    step "build the enclave CLI and the word-count guest"
    rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
    cargo build --quiet -p enclave-cli
    cargo build --quiet --release --target wasm32-unknown-unknown --manifest-path guests/Cargo.toml -p wordcount
fi
enclave=${ENCLAVE:-${CARGO_TARGET_DIR:-$root/target}/debug/enclave}
wasm=${WORDCOUNT_WASM:-${CARGO_TARGET_DIR:-$root/guests/target}/wasm32-unknown-unknown/release/wordcount.wasm}

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ -n "${KEEP_FLEET_LOGS:-}" ]]; then echo "fleet: logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
cd "$work"

# A free loopback port (the kernel's pick, released at once).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits (bounded) until `$1` prints something matching `$2`.
wait_for() {
    local what=$1 pattern=$2 file=$3
    for _ in $(seq 1 600); do
        grep -q "$pattern" "$file" 2>/dev/null && return 0
        sleep 0.1
    done
    cat "$file" >&2 || true
    fail "gave up waiting for $what"
}

step "a fleet root, and an author key and bundle"
"$enclave" platform init --home fleet-root --name fleet-root --json > fleet-root.json
root_key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["vendor_root_key"])' fleet-root.json)
"$enclave" platform export-root --home fleet-root -o fleet-root.pem
"$enclave" keygen -o author.key >/dev/null
cp "$root/examples/wordcount.toml" enclave.toml
"$enclave" sign --key author.key --manifest enclave.toml "$wasm" -o app.enclave >/dev/null
cp "$root/examples/sample.txt" input.txt
trust=(--root fleet-root.pem --measurement-from app.enclave)

step "three instances, each its own platform under the fleet root, serving attested TLS"
declare -A platform_of
ports=()
for i in 1 2 3; do
    "$enclave" platform init --home "node$i" --name "node$i" \
        --vendor-key "$root_key" --vendor-cert fleet-root.pem --json > "node$i.json"
    platform_of[$i]=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["platform_id"])' "node$i.json")
    "$enclave" serve app.enclave --home "node$i" --listen 127.0.0.1:0 --tls --workers 1 \
        > "node$i.out" 2> "node$i.log" &
    pids+=($!)
    eval "node${i}_pid=$!"
    wait_for "instance $i" "listening on https://" "node$i.out"
    ports+=("$(sed -n 's|^listening on https://127.0.0.1:||p' "node$i.out")")
    echo "instance $i: platform ${platform_of[$i]:0:16}…, port ${ports[$((i - 1))]}"
done

step "HAProxy in TCP passthrough mode in front of them"
lb_port=$(free_port)
servers=""
for i in 1 2 3; do
    servers+="    server node$i 127.0.0.1:${ports[$((i - 1))]}"$'\n'
done
python3 - "$root/deploy/haproxy.cfg" haproxy.cfg "$work/haproxy.sock" "127.0.0.1:$lb_port" "$servers" <<'PY'
import sys
template, out, sock, listen, servers = sys.argv[1:]
text = open(template).read()
for key, value in (("@STATS_SOCKET@", sock), ("@LISTEN@", listen), ("@SERVERS@", servers)):
    text = text.replace(key, value)
open(out, "w").write(text)
PY
haproxy -c -q -f haproxy.cfg
haproxy -db -f haproxy.cfg > haproxy.log 2>&1 &
pids+=($!)

# The state of each instance as HAProxy sees it: "node1 2" (2 = up), over the stats socket.
server_states() {
    python3 - "$work/haproxy.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"show servers state enclaves\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
for line in data.decode().splitlines():
    f = line.split()
    if len(f) > 5 and f[0].isdigit():
        print(f[3], f[5])
PY
}
# Waits (bounded) until HAProxy reports instance $1 in operational state $2 (0 down, 2 up).
wait_state() {
    for _ in $(seq 1 600); do
        if [[ -S haproxy.sock ]] && server_states 2>/dev/null | grep -qx "node$1 $2"; then return 0; fi
        sleep 0.1
    done
    server_states >&2 || true
    fail "HAProxy never saw node$1 in state $2"
}
for i in 1 2 3; do wait_state "$i" 2; done
echo "HAProxy on 127.0.0.1:$lb_port sees all three instances up"

# Verifies whichever instance a new connection reaches; prints its platform id.
reached() {
    "$enclave" verify-tls "127.0.0.1:$lb_port" "${trust[@]}" --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["platform_id"])'
}

step "clients through the balancer verify the instance they reach"
declare -A seen
for _ in $(seq 1 9); do
    id=$(reached)
    seen[$id]=1
done
for i in 1 2 3; do
    [[ -n "${seen[${platform_of[$i]}]:-}" ]] || fail "instance $i was never reached"
done
echo "all three instances reached and verified (${#seen[@]} distinct platforms)"

step "a client that pins another root is refused in the handshake"
"$enclave" platform init --home stranger --name stranger --json > /dev/null
"$enclave" platform export-root --home stranger -o stranger.pem
if "$enclave" verify-tls "127.0.0.1:$lb_port" --root stranger.pem --measurement-from app.enclave 2> refused.txt; then
    fail "a foreign root was accepted"
fi
grep -q "not issued by a trusted root" refused.txt || { cat refused.txt >&2; fail "wrong reason"; }
echo "refused: $(tail -1 refused.txt)"

step "confidential requests through the balancer"
call() {
    rm -f counts.txt
    "$enclave" call "https://127.0.0.1:$lb_port" "${trust[@]}" --input input.txt --output counts.txt --json \
        > call.json || { cat call.json >&2; return 1; }
    python3 -c 'import json,sys; print(json.load(open("call.json"))["platform_id"])'
}
for _ in $(seq 1 6); do call > /dev/null || fail "a call through the balancer failed"; done
head -3 counts.txt

step "instance 2 is killed (SIGKILL): HAProxy takes it out, requests keep succeeding"
kill -9 "$node2_pid"
for n in $(seq 1 12); do
    id=$(call) || fail "call $n after the kill failed"
    [[ "$id" != "${platform_of[2]}" ]] || fail "call $n was answered by the killed instance"
done
wait_state 2 0
echo "HAProxy marked node2 down; 12 calls succeeded during and after"
unset 'seen'
declare -A seen
for _ in $(seq 1 6); do seen[$(reached)]=1; done
[[ -n "${seen[${platform_of[1]}]:-}" && -n "${seen[${platform_of[3]}]:-}" && ${#seen[@]} -eq 2 ]] ||
    fail "after the kill, expected instances 1 and 3 only"

step "instance 3 gets SIGTERM: it drains, HAProxy stops using it, it exits 0"
kill -TERM "$node3_pid"
wait "$node3_pid" || fail "instance 3 exited with status $? after SIGTERM"
wait_state 3 0
for n in $(seq 1 4); do
    id=$(call) || fail "call $n after the drain failed"
    [[ "$id" == "${platform_of[1]}" ]] || fail "call $n was not answered by instance 1"
done
echo "instance 3 exited 0; requests go to instance 1"

step "passed"

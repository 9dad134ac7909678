# Sourced by bench/serve.sh and bench/tls.sh: release builds of the CLI, the load generator and
# the word-count guest; a temporary directory with a platform (ENCLAVE_HOME), its root
# (root.pem), a signed bundle (app.enclave) and its measurement ($m); and `start_server NAME
# ARGS...`, which runs `enclave serve app.enclave --listen 127.0.0.1:0 ARGS...` in the background
# and sets $url, killing every server it started on exit.
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
target=${CARGO_TARGET_DIR:-$root/target}
cargo build --quiet --release -p enclave-cli -p enclave-loadgen
cargo build --quiet --release --target wasm32-unknown-unknown --manifest-path guests/Cargo.toml -p wordcount
enclave=$target/release/enclave
loadgen=$target/release/enclave-loadgen
wasm=$root/guests/target/wasm32-unknown-unknown/release/wordcount.wasm
[[ -f $wasm ]] || wasm=$target/wasm32-unknown-unknown/release/wordcount.wasm

work=$(mktemp -d)
servers=()
cleanup() {
    for s in "${servers[@]}"; do kill "$s" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
export ENCLAVE_HOME=$work/platform
source "$root/bench/wordcount.sh"

start_server() {
    local name=$1
    shift
    "$enclave" serve app.enclave --listen 127.0.0.1:0 "$@" >"$name.out" 2>"$name.log" &
    servers+=($!)
    server=$!
    for _ in $(seq 600); do
        if grep -q listening "$name.out" 2>/dev/null; then
            url=$(sed -n 's/^listening on //p' "$name.out")
            return
        fi
        sleep 0.1
    done
    cat "$name.log" >&2
    exit 1
}

#!/usr/bin/env bash
# Whole-process benchmarks, side by side with peers in the same run on the same machine, printed
# as a table (docs/performance.md explains each row). Usage:
#
#   bench/run.sh            # everything, including the 1 GiB sealing comparison
#   bench/run.sh --quick    # 1 MiB payloads only (a minute)
#   bench/run.sh --seal     # only the sealing rows (1 MiB and 1 GiB) and their references
#
# Needs: a release build (made here), `age` (installed from Debian's packages if missing), GNU time,
# and the wasmtime CLI 48 as the peer of `enclave run`: $WASMTIME if set, else built once into
# target/bench-tools with `cargo install --locked wasmtime-cli@48.0.8` (a long build, cached
# afterwards; WASMTIME=none skips it). Without it the wasmtime rows say so.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
quick=false
[[ ${1:-} == --quick ]] && quick=true
seal_only=false
[[ ${1:-} == --seal ]] && seal_only=true
$seal_only && WASMTIME=none

rustup target add wasm32-unknown-unknown wasm32-wasip1 >/dev/null 2>&1 || true
if ! command -v age >/dev/null; then
    echo "installing age (Debian package) as the sealing peer" >&2
    if [[ $(id -u) == 0 ]]; then apt-get install -y -qq age >/dev/null; else sudo apt-get install -y -qq age >/dev/null; fi
fi
target=${CARGO_TARGET_DIR:-$root/target}
cargo build --quiet --release -p enclave-cli
cargo build --quiet --release --target wasm32-unknown-unknown --manifest-path guests/Cargo.toml -p wordcount
$seal_only || cargo build --quiet --release --target wasm32-wasip1 --manifest-path guests/Cargo.toml -p wasi-csv
enclave=$target/release/enclave
wasm=${CARGO_TARGET_DIR:-$root/guests/target}/wasm32-unknown-unknown/release/wordcount.wasm
csv_wasm=${CARGO_TARGET_DIR:-$root/guests/target}/wasm32-wasip1/release/wasi-csv.wasm

wasmtime=${WASMTIME:-$root/target/bench-tools/bin/wasmtime}
if [[ ! -x $wasmtime && ${WASMTIME:-} != none ]]; then
    echo "building the wasmtime CLI 48 into target/bench-tools (once; a long build)" >&2
    cargo install --quiet --locked wasmtime-cli@48.0.8 --root "$root/target/bench-tools" >&2 ||
        echo "cannot install wasmtime-cli: the wasmtime rows are left out" >&2
fi

work=$(mktemp -d)
# Streamed sealing writes into memory where there is a tmpfs, so that it measures the CPU.
mem=$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)
trap 'rm -rf "$work" "$mem"' EXIT
cd "$work"
export ENCLAVE_HOME=$work/platform

# One attested enclave to seal to.
source "$root/bench/wordcount.sh"
nonce=$(openssl rand -hex 16)
"$enclave" attest app.enclave --nonce "$nonce" -o report.cbor >/dev/null
age-keygen -o age.key 2>/dev/null
recipient=$(age-keygen -y age.key)

# time_cmd CMD...: the best wall-clock seconds of $REPS runs (default 5; bash's microsecond
# clock, nothing wrapped around the command), then the peak RSS (KiB) of one more run under GNU
# time. Standard input from $stdin (default /dev/null).
time_cmd() {
    local best="" start end secs kib
    for _ in $(seq 1 "${REPS:-5}"); do
        start=$EPOCHREALTIME
        "$@" <"${stdin:-/dev/null}" >/dev/null 2>t.err || { cat t.err >&2; return 1; }
        end=$EPOCHREALTIME
        secs=$(awk "BEGIN{printf \"%.4f\", $end - $start}")
        if [[ -z $best ]] || awk "BEGIN{exit !($secs < $best)}"; then best=$secs; fi
    done
    /usr/bin/time -f "%M" -o t.txt "$@" <"${stdin:-/dev/null}" >/dev/null 2>t.err ||
        { cat t.err >&2; return 1; }
    read -r kib <t.txt
    echo "$best $kib"
}

ratio() { awk "BEGIN{printf \"%.2fx\", $1/($2>0?$2:0.001)}"; }
rows=()
row() { rows+=("$(printf '%-52s %10s %12s %12s' "$1" "$2" "$3" "$4")"); }

# interleaved NAME...: runs the functions NAME... in turn, $REPS rounds (default 5), so every
# one sees the same machine load; sets best[NAME] to its best wall-clock seconds and rss[NAME] to
# the peak RSS (KiB) of one more run under GNU time.
declare -A best rss
interleaved() {
    local name start end secs
    for name in "$@"; do best[$name]=""; done
    for _ in $(seq 1 "${REPS:-5}"); do
        for name in "$@"; do
            start=$EPOCHREALTIME
            "$name" >/dev/null 2>t.err || { cat t.err >&2; return 1; }
            end=$EPOCHREALTIME
            secs=$(awk "BEGIN{printf \"%.4f\", $end - $start}")
            if [[ -z ${best[$name]} ]] || awk "BEGIN{exit !($secs < ${best[$name]})}"; then best[$name]=$secs; fi
        done
    done
    for name in "$@"; do
        /usr/bin/time -f "%M" -o t.txt bash -c "$name" >/dev/null 2>t.err || { cat t.err >&2; return 1; }
        read -r "rss[$name]" <t.txt
    done
}

# raw_cipher EVP: OpenSSL's single-core throughput of EVP on 64 KiB blocks, MiB/s (the physical
# reference: `openssl enc` refuses AEAD modes, `openssl speed` measures them).
raw_cipher() {
    openssl speed -evp "$1" -bytes 65536 -seconds 2 2>/dev/null |
        awk '/k$/ {v=$NF; sub(/k$/, "", v); printf "%.0f MiB/s", v * 1000 / 1048576}'
}

seal_vs_age() {
    local label=$1 bytes=$2
    head -c "$bytes" /dev/urandom >plain.bin
    sealcmd="$enclave seal --report report.cbor --root root.pem --measurement $m --nonce $nonce --max-age 1d --input plain.bin --force"
    export sealcmd recipient mem
    # Streamed to standard output like age -o, into memory (tmpfs): the CPU's work, not the
    # disk's, for both.
    stream_aes() { $sealcmd --aead aes-256-gcm -o - --context stream.context >"$mem/streamed.bin"; }
    stream_chacha() { $sealcmd --aead chacha20-poly1305 -o - --context stream.context >"$mem/streamed.bin"; }
    age_mem() { age -r "$recipient" -o "$mem/aged.bin" plain.bin; }
    # To a file on disk: atomic and durable (fsync before the rename), which age does not do.
    file_aes() { $sealcmd --aead aes-256-gcm -o sealed.bin; }
    file_chacha() { $sealcmd --aead chacha20-poly1305 -o sealed.bin; }
    age_file() { age -r "$recipient" -o aged.bin plain.bin; }
    export -f stream_aes stream_chacha age_mem file_aes file_chacha age_file
    interleaved stream_aes stream_chacha age_mem file_aes file_chacha age_file
    local mib
    mib=$(awk "BEGIN{print $bytes/1048576}")
    rate() { awk "BEGIN{printf \"%.0f MiB/s\", $mib/($1>0?$1:0.001)}"; }
    srow() { row "seal $label: $1" "${best[$2]}s" "$(rate "${best[$2]}")" "$((rss[$2] / 1024)) MiB"; }
    srow "enclave seal -o - >tmpfs, AES-256-GCM" stream_aes
    srow "enclave seal -o - >tmpfs, ChaCha20-Poly1305" stream_chacha
    srow "age -r -o tmpfs (peer)" age_mem
    srow "enclave seal -o FILE (fsync), AES-256-GCM" file_aes
    srow "enclave seal -o FILE (fsync), ChaCha20" file_chacha
    srow "age -r -o FILE (peer, no fsync)" age_file
    row "  ratio streamed AES-256-GCM/age throughput" "" "$(ratio "${best[age_mem]}" "${best[stream_aes]}")" ""
    row "  ratio streamed ChaCha20-Poly1305/age" "" "$(ratio "${best[age_mem]}" "${best[stream_chacha]}")" ""
    row "  ratio to a file AES-256-GCM/age throughput" "" "$(ratio "${best[age_file]}" "${best[file_aes]}")" ""
    row "  ratio to a file ChaCha20-Poly1305/age" "" "$(ratio "${best[age_file]}" "${best[file_chacha]}")" ""
    rm -f plain.bin sealed.bin sealed.bin.context stream.context aged.bin "$mem/streamed.bin" "$mem/aged.bin"
}

seal_vs_age "1 MiB" $((1 << 20))
$quick || REPS=3 seal_vs_age "1 GiB" $((1 << 30))
row "raw cipher, 1 core: openssl speed -evp aes-256-gcm" "" "$(raw_cipher aes-256-gcm)" ""
row "raw cipher, 1 core: openssl speed chacha20-poly1305" "" "$(raw_cipher chacha20-poly1305)" ""
row "raw hash, 1 core: openssl speed -evp sha256" "" "$(raw_cipher sha256)" ""
$quick || row "disk: dd 1 GiB conv=fsync" "$(dd if=/dev/zero of=dd.bin bs=1M count=1024 conv=fsync 2>&1 |
    awk '/copied/ {print $(NF-3) "s"}')" "" ""
rm -f dd.bin

if ! $seal_only; then
# The full confidential path for a small input, one process per step (what a user waits for).
head -c 1024 "$root/examples/sample.txt" >small.txt
full_path() {
    "$enclave" seal --report report.cbor --root root.pem --measurement "$m" --nonce "$nonce" \
        --max-age 1d --input small.txt -o in.sealed --force >/dev/null
    "$enclave" run app.enclave --input in.sealed --output out.sealed --receipt receipt.cbor --force >/dev/null
    "$enclave" open out.sealed --receipt receipt.cbor --context in.sealed.context --root root.pem \
        -o result.txt --force >/dev/null
}
export -f full_path
export enclave m nonce
read -r fs fr < <(time_cmd bash -c full_path)
row "seal -> run -> open, small input (3 processes)" "${fs}s" "" "$((fr / 1024)) MiB"
read -r ps pr < <(time_cmd "$enclave" run app.enclave --input small.txt --output plain.out --force)
row "run, plaintext small input (1 process)" "${ps}s" "" "$((pr / 1024)) MiB"
# 100 small inputs: one process running each in a fresh instance, vs 100 processes.
many=()
for i in $(seq 1 100); do many+=(-i small.txt -o "many$i.out"); done
read -r ms mr < <(time_cmd "$enclave" run app.enclave "${many[@]}" --force)
one_by_one() { for i in $(seq 1 100); do "$enclave" run app.enclave -i small.txt -o "one$i.out" --force; done; }
export -f one_by_one
read -r os _ < <(time_cmd bash -c one_by_one)
row "run 100 small inputs: 1 process" "${ms}s" "$(awk "BEGIN{printf \"%.0f runs/s\", 100/($ms>0?$ms:0.001)}")" "$((mr / 1024)) MiB"
row "run 100 small inputs: 100 processes" "${os}s" "$(awk "BEGIN{printf \"%.0f runs/s\", 100/($os>0?$os:0.001)}")" ""

# The same WASI guest and input in `enclave run` and `wasmtime run`, plaintext stdio: cold (every
# run compiles) and with compiled code cached on both sides (the enclave's authenticated cache
# under the platform home; wasmtime's precompiled module with --allow-precompiled). A run's bounds
# cost guest speed in wasmtime itself, so wasmtime runs three ways: bare (no bound at all: a loop
# runs forever), with -W timeout (epoch interruption, as the enclave's `fuel = 0`), and with
# -W fuel and -W timeout (as the enclave's default manifest).
cat >csv.toml <<'TOML'
product_id = 2
svn = 1
debug = false
kind = "wasi"
TOML
cp csv.toml csv0.toml
printf '[limits]\nfuel = 0\n' >>csv0.toml
"$enclave" sign --key author.key --manifest csv.toml "$csv_wasm" -o csv.enclave >/dev/null
"$enclave" sign --key author.key --manifest csv0.toml "$csv_wasm" -o csv0.enclave >/dev/null
{
    echo category,amount
    awk 'BEGIN{for (i = 0; i < 60000; i++) printf "cat%d,%d.%02d\n", i % 50, i % 997, i % 100}'
} >big.csv
printf 'category,amount\nfood,12.50\nrent,800\n' >small.csv
fuel=10000000000 # the manifest default
wasi_rows() {
    local label=$1 input=$2
    export stdin=$input
    read -r ec er < <(time_cmd env ENCLAVE_HOME="$work/no-platform" "$enclave" run csv.enclave)
    "$enclave" run csv.enclave <"$input" >/dev/null # fills the cache
    "$enclave" run csv0.enclave <"$input" >/dev/null
    read -r eh ehr < <(time_cmd "$enclave" run csv.enclave)
    read -r uh uhr < <(time_cmd "$enclave" run csv0.enclave)
    row "wasi-csv $label: enclave run, cold" "${ec}s" "" "$((er / 1024)) MiB"
    row "wasi-csv $label: enclave run, cached" "${eh}s" "" "$((ehr / 1024)) MiB"
    row "wasi-csv $label: enclave run, cached, fuel = 0" "${uh}s" "" "$((uhr / 1024)) MiB"
    if [[ -x $wasmtime ]]; then
        read -r wc wr < <(time_cmd "$wasmtime" run -C cache=n "$csv_wasm")
        read -r wfc _ < <(time_cmd "$wasmtime" run -C cache=n -W fuel=$fuel -W timeout=10s "$csv_wasm")
        "$wasmtime" compile "$csv_wasm" -o csv.cwasm
        "$wasmtime" compile -W epoch-interruption=y "$csv_wasm" -o csv-t.cwasm
        "$wasmtime" compile -W epoch-interruption=y -W fuel=$fuel "$csv_wasm" -o csv-ft.cwasm
        read -r wh whr < <(time_cmd "$wasmtime" run --allow-precompiled csv.cwasm)
        read -r wth _ < <(time_cmd "$wasmtime" run -W timeout=10s --allow-precompiled csv-t.cwasm)
        read -r wfh _ < <(time_cmd "$wasmtime" run -W fuel=$fuel -W timeout=10s --allow-precompiled csv-ft.cwasm)
        row "wasi-csv $label: wasmtime run, cold" "${wc}s" "" "$((wr / 1024)) MiB"
        row "wasi-csv $label: wasmtime run, cold, fuel+timeout" "${wfc}s" "" ""
        row "wasi-csv $label: wasmtime run, precompiled" "${wh}s" "" "$((whr / 1024)) MiB"
        row "wasi-csv $label: wasmtime, precompiled, timeout" "${wth}s" "" ""
        row "wasi-csv $label: wasmtime, precompiled, fuel+timeout" "${wfh}s" "" ""
        row "  ratio cold: enclave / wasmtime bare" "" "$(ratio "$ec" "$wc")" ""
        row "  ratio cold: enclave / wasmtime fuel+timeout" "" "$(ratio "$ec" "$wfc")" ""
        row "  ratio cached: enclave / wasmtime bare" "" "$(ratio "$eh" "$wh")" ""
        row "  ratio cached: enclave / wasmtime fuel+timeout" "" "$(ratio "$eh" "$wfh")" ""
        row "  ratio cached: fuel = 0 / wasmtime bare" "" "$(ratio "$uh" "$wh")" ""
        row "  ratio cached: fuel = 0 / wasmtime timeout" "" "$(ratio "$uh" "$wth")" ""
    else
        row "wasi-csv $label: wasmtime run" "n/a" "not installed" ""
    fi
    unset stdin
}
wasi_rows "small" small.csv
wasi_rows "$(($(stat -c %s big.csv) / 1024)) KiB" big.csv
fi

printf '\n%-52s %10s %12s %12s\n' "benchmark (best of ${REPS:-5}; 1 GiB: best of 3)" "wall" "throughput" "peak RSS"
printf '%s\n' "${rows[@]}"
printf '\nmachine: %s, %s cores (%s), load %s; %s; %s\n' "$(uname -m)" "$(nproc)" \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" "$(cut -d' ' -f1-3 /proc/loadavg)" \
    "$(age --version 2>/dev/null | sed 's/^/age /')" "$("$wasmtime" --version 2>/dev/null || echo 'no wasmtime')"

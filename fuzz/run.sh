#!/bin/sh
# Seeds the corpora and runs every fuzz target for SECONDS each (default 600), one target at a
# time on one core, then prints executions, exec/s, corpus size and findings per target.
#
# Usage: fuzz/run.sh [SECONDS]      e.g. fuzz/run.sh 30 for a smoke run
#   TARGETS="bundle abi" fuzz/run.sh 60      only some targets
#
# cargo-fuzz passes -Z flags to rustc; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them
# (docs/testing.md, "Fuzzing"). Findings land in fuzz/artifacts/<target>/ (git-ignored); keep a
# minimised copy in fuzz/regressions/<target>/ (committed), which every run replays first.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-600}
targets=${TARGETS:-"bundle evidence receipt sealed_input sealed_output client_context sealed_blob store_entries manifest abi"}
export RUSTC_BOOTSTRAP=1

"$here/seeds.sh" "$here/corpus" >/dev/null
cd "$here"
nice -n 10 cargo fuzz build --release >/dev/null

summary="$here/artifacts/summary.txt"
mkdir -p "$here/artifacts"
printf '%-15s %8s %12s %8s %8s %8s\n' target seconds executions exec/s corpus findings >"$summary"
status=0
for t in $targets; do
    mkdir -p "$here/corpus/$t" "$here/artifacts/$t"
    log="$here/artifacts/$t/run.log"
    extra=""
    if [ -d "$here/regressions/$t" ]; then extra="$here/regressions/$t"; fi
    start=$(date +%s)
    # shellcheck disable=SC2086 # $extra is one path or nothing
    nice -n 10 cargo fuzz run --release "$t" "$here/corpus/$t" $extra -- \
        -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
        >"$log" 2>&1 || status=1
    elapsed=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    corpus=$(find "$here/corpus/$t" -type f | wc -l)
    findings=$(find "$here/artifacts/$t" -type f \( -name 'crash-*' -o -name 'leak-*' \
        -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
    printf '%-15s %8s %12s %8s %8s %8s\n' "$t" "$elapsed" "${execs:-?}" "${rate:-?}" \
        "$corpus" "$findings" >>"$summary"
done
cat "$summary"
exit "$status"

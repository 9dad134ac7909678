#!/usr/bin/env bash
# Builds guests/http-python/app.py into a wasi:http/proxy component with componentize-py:
#
#     guests/http-python/build.sh OUT.wasm
#
# Installs requirements.txt in a throwaway venv, takes the WASI 0.2.12 WIT (wasi:http/proxy) from
# the `wasip2` crate that guests/Cargo.lock pins (fetched by cargo, checksum-verified), and writes
# the component to OUT.wasm atomically. Needs python3 (3.9 or newer) with venv, pip and cargo.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUT.wasm" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
guests=$(dirname "$here")
out_dir=$(cd "$(dirname "$1")" && pwd)
out="$out_dir/$(basename "$1")"

# The caller's Python environment stays out of the build.
unset VIRTUAL_ENV PYTHONPATH PYTHONHOME
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"

# The directory of the locked wasip2 crate: its wit/ holds wasi:http and its dependencies.
wit=$(cargo metadata --locked --format-version 1 --manifest-path "$guests/Cargo.toml" \
    --filter-platform wasm32-wasip2 | python3 -c '
import json, os, sys
packages = json.load(sys.stdin)["packages"]
found = [p["manifest_path"] for p in packages if p["name"] == "wasip2"]
if len(found) != 1:
    sys.exit("guests/Cargo.lock has %d wasip2 packages, expected 1" % len(found))
print(os.path.join(os.path.dirname(found[0]), "wit"))
')

# componentize-py reads the app from its working directory (its default --python-path): a copy,
# so that nothing (bytecode caches) is written into the source tree.
mkdir "$work/app"
cp "$here/app.py" "$work/app/"
cd "$work/app"
tmp="$out_dir/.$(basename "$out").tmp.$$"
trap 'rm -rf "$work" "$tmp"' EXIT
"$work/venv/bin/componentize-py" --wit-path "$wit" --world wasi:http/proxy@0.2.12 \
    componentize app --output "$tmp"
mv "$tmp" "$out"
echo "wrote $out ($(wc -c <"$out") bytes)"

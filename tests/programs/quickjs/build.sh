#!/bin/sh
# Builds the QuickJS fixture of the compile-budget tests: driver.c against QuickJS 2021-03-27, for
# wasm32-wasi with Debian's clang, lld and wasi-libc, at -O2.
#
#   apt-get install -y clang lld wasi-libc libclang-rt-14-dev-wasm32   # once
#   tests/programs/quickjs/build.sh     # writes quickjs-O2.wasm here
#
# The sources come from the PyPI sdist quickjs==1.19.4, which vendors QuickJS 2021-03-27 as
# upstream-quickjs/ (SHA-256 of quickjs.c below); pip fetches it from the registry. QuickJS is
# MIT-licensed (Fabrice Bellard, Charlie Gordon).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
pip3 download --quiet --no-deps --no-binary :all: quickjs==1.19.4 -d .
tar xzf quickjs-1.19.4.tar.gz
src=quickjs-1.19.4/upstream-quickjs
echo "04ebe6847dab4b4739bdfd8d05ec751d26dd997a72ce10b9a7292416d4e7a084  $src/quickjs.c" | sha256sum -c -
# As the Makefile sets the version; EMSCRIPTEN selects QuickJS's portable wasm configuration (no
# Atomics, which need threads; a switch-dispatched interpreter; no native stack check). wasm has
# one rounding mode, so wasi-libc defines no FE_DOWNWARD or FE_UPWARD: given values, QuickJS's
# fesetround calls for them fail and leave round-to-nearest (ties in toFixed may differ from a
# native build; the expected output is recorded from this same module under wasmtime).
clang --target=wasm32-wasi --sysroot=/usr -O2 -D_GNU_SOURCE -DCONFIG_VERSION=\"2021-03-27\" \
    -DEMSCRIPTEN -DFE_DOWNWARD=0x400 -DFE_UPWARD=0x800 -I"$src" -Wl,--strip-all -Wl,-z,stack-size=1048576 \
    -o "$here/quickjs-O2.wasm" "$here/driver.c" "$src/quickjs.c" "$src/libregexp.c" \
    "$src/libunicode.c" "$src/cutils.c" "$src/libbf.c"
ls -l "$here/quickjs-O2.wasm"

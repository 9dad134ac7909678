#!/bin/sh
# Builds the SQLite fixtures of the compile-budget tests: driver.c against the SQLite
# amalgamation, for wasm32-wasi with Debian's clang, lld and wasi-libc, at -O2 and -Os.
#
#   apt-get install -y clang lld wasi-libc libclang-rt-dev-wasm32   # once
#   tests/programs/sqlite/build.sh            # writes sqlite-O2.wasm and sqlite-Os.wasm here
#
# The amalgamation (SQLite 3.54.1) comes from the npm package better-sqlite3@13.2.0, which
# vendors it as deps/sqlite3/sqlite3.c (SHA-256 below); `npm pack` fetches it from the registry.
# SQLite is in the public domain.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent better-sqlite3@13.2.0 >/dev/null
tar xzf better-sqlite3-13.2.0.tgz package/deps/sqlite3
src=package/deps/sqlite3
echo "75a4760a7b9727a4c4c877aec92eacf39e52a8f2921ce00bd33be6d3a8e8e254  $src/sqlite3.c" | sha256sum -c -
# WASI preview 1 has no threads, no mmap of files and no dynamic loading.
defines="-DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_OMIT_WAL \
 -DSQLITE_OMIT_SHARED_CACHE -DSQLITE_DEFAULT_MEMSTATUS=0 -D_WASI_EMULATED_SIGNAL"
for opt in O2 Os; do
    clang --target=wasm32-wasi --sysroot=/usr -"$opt" $defines -I"$src" \
        -Wl,--strip-all -o "$here/sqlite-$opt.wasm" "$here/driver.c" "$src/sqlite3.c"
done
ls -l "$here"/sqlite-*.wasm

"""Runs a WASI preview 1 program under wasmtime (the PyPI package `wasmtime`, wasmtime's own C API
and WASI implementation, as `wasmtime run` uses) with a file as stdin, and prints its stdout:
how the expected outputs beside the real-program fixtures were recorded (docs/testing.md,
"Real programs").

    pip install wasmtime==51.0.0
    python3 tests/programs/reference.py tests/programs/sqlite/sqlite-O2.wasm \
        tests/programs/sqlite/query.sql > tests/programs/sqlite/query.expected
"""
import os
import sys
import tempfile

import wasmtime


def main(wasm, stdin):
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "stdout")
        wasi = wasmtime.WasiConfig()
        wasi.argv = [os.path.basename(wasm)]
        wasi.stdin_file = stdin
        wasi.stdout_file = out
        wasi.inherit_stderr()
        store.set_wasi(wasi)
        instance = linker.instantiate(store, wasmtime.Module.from_file(engine, wasm))
        try:
            instance.exports(store)["_start"](store)
        except wasmtime.ExitTrap as exit:
            if exit.code != 0:
                sys.exit(exit.code)
        with open(out, "rb") as f:
            sys.stdout.buffer.write(f.read())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

# Sourced by bench/run.sh and bench/served.sh in the working directory they made (with
# ENCLAVE_HOME set, and $enclave, $wasm and $root): a platform, its root (root.pem), an author key,
# the word-count guest signed as app.enclave with examples/wordcount.toml, and its measurement $m.
"$enclave" platform init >/dev/null
"$enclave" platform export-root -o root.pem
"$enclave" keygen --out author.key >/dev/null
cp "$root/examples/wordcount.toml" enclave.toml
"$enclave" sign --key author.key --manifest enclave.toml "$wasm" -o app.enclave >/dev/null
m=$("$enclave" measure "$wasm" --manifest enclave.toml)

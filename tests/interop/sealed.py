"""Sealed input / sealed output interop, written from docs/formats.md ("Confidential I/O") alone.

An independent client and an independent enclave (pyhpke for RFC 9180, cryptography for HKDF,
AES-256-GCM, ChaCha20-Poly1305 and SHA-256; the shared parts in formats.py) exchange files with the Rust `sealer` library, driven through
the `interop` example of the sealer crate (`sealer/examples/interop.rs`):

1. key derivation: the enclave public keys derived here equal the library's;
2. Python seals an input (both suites), the library opens it, prints the two-level sealed-input
   digest and seals a response with the input's suite, Python opens the response;
3. the library seals an input (its default suite: AES-256-GCM on a CPU with AES instructions),
   Python opens it as the enclave and responds, the library opens it;
4. a sealed input with one flipped byte is refused by the library.

Usage: sealed.py REPO_ROOT (exit 0 when every check passes).
"""

import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile

from formats import (AES_256_GCM, CHACHA20_POLY1305, CHUNK, INPUT_VERSION, SUITES, TAG,
                     enclave_keypair, open_output, policy_block, seal_input, seal_output,
                     sealed_input_digest, stream_open)

ROOT = sys.argv[1]


def build_interop():
    """Builds the example once; returns the path of its executable."""
    cmd = ["cargo", "build", "--quiet", "--manifest-path", os.path.join(ROOT, "Cargo.toml"),
           "-p", "sealer", "--example", "interop", "--message-format=json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message.get("executable") \
                and message["target"]["name"] == "interop":
            return message["executable"]
    raise AssertionError("cargo did not report the interop example")


INTEROP = build_interop()


def interop(*args):
    return subprocess.run([INTEROP, *args], check=True, capture_output=True, text=True).stdout.strip()


def open_input_as_enclave(secret, sealed):
    bound, enc, confirmation, body = sealed[:130], sealed[130:162], sealed[162:178], sealed[178:]
    version, kem, kdf, aead_id = struct.unpack(">HHHH", bound[8:16])
    assert bound[:8] == b"ENCLSEAL" and (version, kem, kdf) == (INPUT_VERSION, 0x20, 1)
    block = bound[16:54]
    length, chunk = struct.unpack(">QI", bound[118:130])
    assert chunk == CHUNK
    suite = SUITES[aead_id][0]
    ctx = suite.create_recipient_context(enc, enclave_keypair(secret, block).private_key, bound)
    ctx.open(confirmation, b"")
    plaintext = stream_open(ctx.export(b"enclave/v1 sealed-input payload", 32), body, aead_id)
    assert len(plaintext) == length
    assert len(body) == length + TAG * max(1, -(-length // CHUNK))
    return plaintext, enc, ctx.export(b"enclave/v1 sealed-output secret", 32), aead_id


def main():
    work = tempfile.mkdtemp()
    path = lambda name: os.path.join(work, name)  # noqa: E731
    secret, measurement, signer = os.urandom(32), os.urandom(32), os.urandom(32)
    evidence, platform = os.urandom(32), os.urandom(32)
    product, svn = 7, 3
    m_block = policy_block(1, measurement, 0)
    s_block = policy_block(2, signer, 0, product, svn - 1)  # an older svn: still readable

    # 1. Key derivation.
    for block, policy in [(m_block, f"measurement:{measurement.hex()}"),
                          (s_block, f"signer:{signer.hex()}:{product}:{svn - 1}")]:
        ours = enclave_keypair(secret, block).public_key.to_public_bytes()
        assert interop("public-key", secret.hex(), policy, "0") == ours.hex(), policy
    debug_pk = enclave_keypair(secret, policy_block(1, measurement, 1)).public_key.to_public_bytes()
    assert debug_pk != enclave_keypair(secret, m_block).public_key.to_public_bytes()

    # 2. Python client -> Rust enclave -> Python client.
    identity = [measurement.hex(), signer.hex(), str(product), str(svn), "0", platform.hex()]
    for aead_id in [AES_256_GCM, CHACHA20_POLY1305]:
        for size in [0, 1, CHUNK, 2 * CHUNK + 123, 9 * CHUNK + 5]:
            plaintext = os.urandom(size)
            pk = enclave_keypair(secret, s_block).public_key.to_public_bytes()
            sealed, enc, response_secret = seal_input(pk, s_block, evidence, platform, plaintext,
                                                      aead_id)
            answer = os.urandom(size + 5)
            for name, data in [("in.sealed", sealed), ("answer", answer)]:
                open(path(name), "wb").write(data)
            digest = interop("open-input", secret.hex(), *identity, path("in.sealed"),
                             path("plain"), path("answer"), path("out.sealed"))
            assert digest == sealed_input_digest(sealed).hex(), (aead_id, size)
            assert digest != hashlib.sha256(sealed).hexdigest()
            assert open(path("plain"), "rb").read() == plaintext, size
            out = open(path("out.sealed"), "rb").read()
            assert open_output(enc, response_secret, out, aead_id) == answer

    # 3. Rust client -> Python enclave -> Rust client.
    plaintext = os.urandom(CHUNK + 1)
    open(path("plain"), "wb").write(plaintext)
    pk = enclave_keypair(secret, m_block).public_key.to_public_bytes()
    interop("seal", pk.hex(), f"measurement:{measurement.hex()}", "0", evidence.hex(),
            platform.hex(), path("plain"), path("in.sealed"), path("ctx"))
    sealed, context = open(path("in.sealed"), "rb").read(), open(path("ctx"), "rb").read()
    assert sealed[16:54] == m_block and sealed[54:86] == evidence and sealed[86:118] == platform
    opened, enc, response_secret, aead_id = open_input_as_enclave(secret, sealed)
    assert opened == plaintext
    assert aead_id in (AES_256_GCM, CHACHA20_POLY1305)
    assert len(context) == 176 and context[:10] == b"ENCLCTXT\x00\x02"
    assert context[10:48] == m_block and context[48:80] == platform
    assert context[80:112] == sealed_input_digest(sealed)
    assert context[112:144] == enc and context[144:176] == response_secret
    answer = os.urandom(3 * CHUNK)
    open(path("out.sealed"), "wb").write(seal_output(enc, response_secret, answer, aead_id))
    interop("open-output", path("ctx"), path("out.sealed"), path("answer"))
    assert open(path("answer"), "rb").read() == answer

    # 4. A flipped byte is refused.
    pk = enclave_keypair(secret, s_block).public_key.to_public_bytes()
    sealed, _, _ = seal_input(pk, s_block, evidence, platform, b"x" * 100)
    for offset in [60, 140, 170, 200]:
        bad = bytearray(sealed)
        bad[offset] ^= 1
        open(path("in.sealed"), "wb").write(bad)
        try:
            interop("open-input", secret.hex(), *identity, path("in.sealed"), path("plain"),
                    path("answer"), path("out.sealed"))
        except subprocess.CalledProcessError:
            continue
        raise AssertionError(f"flipped byte {offset} accepted")


if __name__ == "__main__":
    main()

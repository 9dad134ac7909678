"""Independent check of an enclave bundle, written only from docs/formats.md.

Usage: python3 bundle.py app.enclave EXPECTED_MEASUREMENT_HEX

Verifies the COSE_Sign1 with Python's `cryptography` (not our Rust code), recomputes the
measurement from the decoded manifest and module, and prints "ok <measurement> <signer id>".
Exits non-zero on any mismatch.
"""

import hashlib
import struct
import sys

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_der_public_key

SPKI_LABEL = -65537
CONTENT_TYPE = "application/vnd.enclave.bundle.v1+cbor"


def measurement(manifest: dict, module: bytes) -> bytes:
    limits = manifest["limits"]
    out = b"enclave-measurement-v1\x00" + hashlib.sha256(module).digest()
    out += bytes([{"enclave": 0, "wasi": 1}[manifest["kind"]]])
    out += struct.pack(">HHB", manifest["product_id"], manifest["svn"], int(manifest["debug"]))
    for field in ("memory_bytes", "fuel", "timeout_ms", "max_input_bytes", "max_output_bytes",
                  "stack_bytes"):
        out += struct.pack(">Q", limits[field])
    for items in (sorted(c.encode() for c in manifest["capabilities"]),
                  [a.encode() for a in manifest["args"]]):
        out += struct.pack(">I", len(items))
        out += b"".join(struct.pack(">I", len(i)) + i for i in items)
    return hashlib.sha256(out).digest()


def main() -> None:
    raw = open(sys.argv[1], "rb").read()
    tagged = cbor2.loads(raw)
    assert isinstance(tagged, cbor2.CBORTag) and tagged.tag == 18, "not a tagged COSE_Sign1"
    protected_bytes, _unprotected, payload, signature = tagged.value
    protected = cbor2.loads(protected_bytes)
    assert protected[1] == -8, f"alg {protected[1]} is not EdDSA"
    assert protected[3] == CONTENT_TYPE, "wrong content type"
    spki = protected[SPKI_LABEL]
    key = load_der_public_key(spki)
    assert isinstance(key, Ed25519PublicKey)
    sig_structure = cbor2.dumps(["Signature1", protected_bytes, b"", payload])
    key.verify(signature, sig_structure)  # raises InvalidSignature
    body = cbor2.loads(payload)
    assert set(body) == {"format", "manifest", "module"} and body["format"] == 1
    m = measurement(body["manifest"], body["module"]).hex()
    assert m == sys.argv[2], f"measurement {m} != expected {sys.argv[2]}"
    print("ok", m, hashlib.sha256(spki).hexdigest())


if __name__ == "__main__":
    main()

"""Independent check of an enclave bundle, written only from docs/formats.md.

Usage: python3 bundle.py app.enclave EXPECTED_MEASUREMENT_HEX

A format-2 bundle is the CBOR array [envelope, module]: the envelope is a COSE_Sign1 hash
envelope over the module's SHA-256 with the manifest in its protected header. Verifies the
envelope's signature with Python's `cryptography` (not our Rust code), checks the module against
the signed digest, recomputes the measurement from the decoded manifest and module, and prints
"ok <measurement> <signer id>". Exits non-zero on any mismatch.
"""

import hashlib
import struct
import sys

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_der_public_key

SPKI_LABEL = -65537
MANIFEST_LABEL = -65538
TYP = "application/vnd.enclave.bundle.v2+cose"


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
    # Optional settings, tagged, present only when not the default (docs/formats.md).
    inputs = manifest.get("inputs")
    if inputs is not None:
        flags = int(inputs["sealed_only"]) | int(inputs["refuse_replays"]) << 1
        out += bytes([0x01, flags]) + struct.pack(">Q", inputs["replay_window_s"])
    return hashlib.sha256(out).digest()


def main() -> None:
    raw = open(sys.argv[1], "rb").read()
    bundle = cbor2.loads(raw)
    assert isinstance(bundle, list) and len(bundle) == 2, "not [envelope, module]"
    envelope, module = bundle
    assert isinstance(envelope, bytes) and isinstance(module, bytes)
    tagged = cbor2.loads(envelope)
    assert isinstance(tagged, cbor2.CBORTag) and tagged.tag == 18, "not a tagged COSE_Sign1"
    protected_bytes, unprotected, payload, signature = tagged.value
    assert unprotected == {}, "unprotected header is not empty"
    protected = cbor2.loads(protected_bytes)
    assert set(protected) == {1, 16, 258, 259, SPKI_LABEL, MANIFEST_LABEL}, sorted(protected)
    assert protected[1] == -8, f"alg {protected[1]} is not EdDSA"
    assert protected[16] == TYP, "wrong typ"
    assert protected[258] == -16, "payload hash algorithm is not SHA-256"
    assert protected[259] == "application/wasm", "preimage is not a wasm module"
    spki = protected[SPKI_LABEL]
    key = load_der_public_key(spki)
    assert isinstance(key, Ed25519PublicKey)
    sig_structure = cbor2.dumps(["Signature1", protected_bytes, b"", payload])
    key.verify(signature, sig_structure)  # raises InvalidSignature
    assert payload == hashlib.sha256(module).digest(), "module does not match the signed digest"
    manifest = cbor2.loads(protected[MANIFEST_LABEL])
    m = measurement(manifest, module).hex()
    assert m == sys.argv[2], f"measurement {m} != expected {sys.argv[2]}"
    print("ok", m, hashlib.sha256(spki).hexdigest())


if __name__ == "__main__":
    main()

"""Independent check of attestation evidence, written only from docs/formats.md.

Usage: python3 evidence.py DIR

DIR holds root.pem (the vendor root certificate: the only thing trusted), report.cbor (the
evidence) and expected.json (the claims the report should carry). The x5chain is parsed and the
leaf certificate checked against the root with `cryptography`, the COSE_Sign1 signature is
checked by `pycose`, and the claims are decoded with `cbor2` and compared. Prints
"ok <measurement> <platform id>"; exits non-zero on any mismatch.
"""

import datetime
import hashlib
import json
import sys
from pathlib import Path

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pycose.headers import Algorithm, ContentType
from pycose.keys import EC2Key
from pycose.keys.curves import P256
from pycose.messages import Sign1Message

X5CHAIN = 33
CONTENT_TYPE = "application/eat+cwt"
PROFILE = "tag:enclave.invalid,2026:evidence/v1"
EKU_ATTESTATION_SIGNING = x509.ObjectIdentifier("1.3.6.1.4.1.32473.1.1")
PLATFORM_TCB_EXTENSION = x509.ObjectIdentifier("1.3.6.1.4.1.32473.1.2")
MAX_BYTES = 64 * 1024

# Claim keys (docs/formats.md, "Attestation evidence").
IAT, EAT_NONCE, UEID, DBGSTAT, EAT_PROFILE = 6, 10, 256, 263, 265
MEASUREMENT, SIGNER, MODULE, PRODUCT_ID, SVN = -70001, -70002, -70003, -70004, -70005
PLATFORM_TCB, CAPABILITIES, REPORT_DATA, ENCLAVE_KEYS = -70006, -70007, -70008, -70009
KNOWN = {IAT, EAT_NONCE, UEID, DBGSTAT, EAT_PROFILE, MEASUREMENT, SIGNER, MODULE, PRODUCT_ID,
         SVN, PLATFORM_TCB, CAPABILITIES, REPORT_DATA, ENCLAVE_KEYS}


def der_u32(value: bytes) -> int:
    """The platform TCB extension: a DER INTEGER, minimal, non-negative, at most 2^32 - 1."""
    assert len(value) >= 3 and value[0] == 0x02 and value[1] == len(value) - 2, "not an INTEGER"
    body = value[2:]
    assert body[0] & 0x80 == 0, "negative"
    assert not (len(body) > 1 and body[0] == 0 and body[1] & 0x80 == 0), "not minimal"
    number = int.from_bytes(body, "big")
    assert number < 2**32
    return number


def check_leaf(leaf: x509.Certificate, root: x509.Certificate) -> int:
    leaf.verify_directly_issued_by(root)  # issuer name and ECDSA signature
    now = datetime.datetime.now(datetime.timezone.utc)
    assert leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc, "leaf not valid now"
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert EKU_ATTESTATION_SIGNING in eku, "no attestation-signing EKU"
    key = leaf.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    tcb = leaf.extensions.get_extension_for_oid(PLATFORM_TCB_EXTENSION)
    assert not tcb.critical
    return der_u32(tcb.value.value)


def main() -> None:
    work = Path(sys.argv[1])
    root = x509.load_pem_x509_certificate((work / "root.pem").read_bytes())
    raw = (work / "report.cbor").read_bytes()
    expected = json.loads((work / "expected.json").read_text())
    assert len(raw) <= MAX_BYTES

    # Structure with cbor2: tagged COSE_Sign1, protected header as documented.
    tagged = cbor2.loads(raw)
    assert isinstance(tagged, cbor2.CBORTag) and tagged.tag == 18, "not a tagged COSE_Sign1"
    protected_bytes, unprotected, payload, signature = tagged.value
    protected = cbor2.loads(protected_bytes)
    assert protected[1] == -7, f"alg {protected[1]} is not ES256"
    assert protected[3] == CONTENT_TYPE
    assert unprotected == {}
    chain = protected[X5CHAIN]
    chain = [chain] if isinstance(chain, bytes) else chain
    leaf = x509.load_der_x509_certificate(chain[0])
    cert_tcb = check_leaf(leaf, root)

    # The COSE signature, by pycose, with the leaf's public key.
    numbers = leaf.public_key().public_numbers()
    # pycose 1.1.0's `decode` expects cbor2 to give a list and a dict, but cbor2 6 gives the
    # content of a tag as immutable tuple and frozendict: hand pycose the decoded array in the
    # types it expects (it keeps the received protected header bytes for the Sig_structure).
    msg = Sign1Message.from_cose_obj([protected_bytes, dict(unprotected), payload, signature],
                                     True)
    assert msg.phdr[Algorithm].identifier == -7
    assert msg.phdr[ContentType] == CONTENT_TYPE
    msg.key = EC2Key(crv=P256, x=numbers.x.to_bytes(32, "big"), y=numbers.y.to_bytes(32, "big"))
    assert msg.verify_signature(), "bad COSE signature"

    # Claims: integer keys, no unknown, deterministic encoding, values as expected.
    claims = cbor2.loads(payload)
    assert set(claims) <= KNOWN, f"unknown claims {set(claims) - KNOWN}"
    assert cbor2.dumps(claims, canonical=True) == payload, "claims not deterministically encoded"
    assert claims[EAT_PROFILE] == PROFILE
    spki = leaf.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    platform_id = hashlib.sha256(spki).hexdigest()
    assert claims[UEID] == b"\x01" + bytes.fromhex(platform_id), "ueid is not the platform id"
    assert claims[PLATFORM_TCB] == cert_tcb == expected["platform_tcb"]
    assert claims[DBGSTAT] == 3, "not a production enclave"
    assert claims[EAT_NONCE].hex() == expected["nonce"]
    assert claims[IAT] == expected["issued_at"]
    assert claims[MEASUREMENT].hex() == expected["measurement"]
    assert claims[SIGNER].hex() == expected["signer"]
    assert claims[MODULE].hex() == expected["module"]
    assert claims[PRODUCT_ID] == expected["product_id"] and claims[SVN] == expected["svn"]
    assert claims[CAPABILITIES] == expected["capabilities"]
    assert claims[REPORT_DATA].hex() == expected["report_data"]
    assert platform_id == expected["platform_id"]
    keys = claims.get(ENCLAVE_KEYS)
    assert keys is None or (len(keys) == 2 and all(len(k) == 32 for k in keys))
    print("ok", claims[MEASUREMENT].hex(), platform_id)


if __name__ == "__main__":
    main()

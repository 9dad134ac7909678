"""Shared helpers of the interop checks, written from docs/formats.md alone.

- the signed EAT envelope that evidence and receipts share ("Attestation evidence",
  "Execution receipt"): tagged COSE_Sign1, ES256, x5chain to a pinned root, strict claims;
- confidential I/O ("Confidential I/O"): key policy blocks, key derivation, HPKE, STREAM chunks,
  sealed input and sealed output.

Imported by evidence.py, sealed.py and serve.py (each run as a script from this directory).
"""

import datetime
import hashlib
import os
import struct

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand
from pycose.headers import Algorithm, ContentType
from pycose.keys import EC2Key
from pycose.keys.curves import P256
from pycose.messages import Sign1Message
from pyhpke import AEADId, CipherSuite, KDFId, KEMId

# --- The signed EAT envelope (evidence and receipts) -------------------------------------------

X5CHAIN = 33
CONTENT_TYPE = "application/eat+cwt"
EVIDENCE_PROFILE = "tag:enclave.invalid,2026:evidence/v1"
RECEIPT_PROFILE = "tag:enclave.invalid,2026:receipt/v1"
EKU_ATTESTATION_SIGNING = x509.ObjectIdentifier("1.3.6.1.4.1.32473.1.1")
PLATFORM_TCB_EXTENSION = x509.ObjectIdentifier("1.3.6.1.4.1.32473.1.2")
MAX_EAT_BYTES = 64 * 1024

# Claim keys (docs/formats.md, "Attestation evidence" and "Execution receipt").
IAT, EAT_NONCE, UEID, DBGSTAT, EAT_PROFILE = 6, 10, 256, 263, 265
MEASUREMENT, SIGNER, MODULE, PRODUCT_ID, SVN = -70001, -70002, -70003, -70004, -70005
PLATFORM_TCB, CAPABILITIES, REPORT_DATA, ENCLAVE_KEYS = -70006, -70007, -70008, -70009
INPUT_DIGEST, OUTPUT_DIGEST, REQUEST_NONCE, FUEL_USED = -70010, -70011, -70012, -70013
OUTCOME, FAILURE, EXIT_CODE = -70014, -70015, -70016
AEADS, TLS_KEY = -70017, -70018
STORE_VERSION, STORE_HEAD = -70030, -70031
EVIDENCE_CLAIMS = {IAT, EAT_NONCE, UEID, DBGSTAT, EAT_PROFILE, MEASUREMENT, SIGNER, MODULE,
                   PRODUCT_ID, SVN, PLATFORM_TCB, CAPABILITIES, REPORT_DATA, ENCLAVE_KEYS, AEADS,
                   TLS_KEY}
RECEIPT_CLAIMS = {IAT, UEID, DBGSTAT, EAT_PROFILE, MEASUREMENT, SIGNER, PRODUCT_ID, SVN,
                  PLATFORM_TCB, INPUT_DIGEST, OUTPUT_DIGEST, REQUEST_NONCE, FUEL_USED, OUTCOME,
                  FAILURE, EXIT_CODE, STORE_VERSION, STORE_HEAD}


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
    """Checks the attestation certificate against the pinned root; returns its platform TCB."""
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


def verify_eat(raw: bytes, root: x509.Certificate, profile: str, known: set) -> tuple:
    """Verifies a signed EAT (evidence or receipt) against the pinned root, structurally.

    Returns (claims, platform id hex). Checks size, tagged COSE_Sign1, the protected header,
    the leaf against the root, the COSE signature (by pycose, with the leaf's key), strict and
    deterministic claims, the profile, ueid = platform id and the TCB claim = the certificate's.
    Comparing the claims with what the caller expects is left to the caller.
    """
    assert len(raw) <= MAX_EAT_BYTES
    tagged = cbor2.loads(raw)  # cbor2.loads refuses trailing bytes
    assert isinstance(tagged, cbor2.CBORTag) and tagged.tag == 18, "not a tagged COSE_Sign1"
    protected_bytes, unprotected, payload, signature = tagged.value
    protected = cbor2.loads(protected_bytes)
    assert set(protected) == {1, 3, X5CHAIN}, f"protected header {set(protected)}"
    assert protected[1] == -7, f"alg {protected[1]} is not ES256"
    assert protected[3] == CONTENT_TYPE
    assert unprotected == {}
    chain = protected[X5CHAIN]
    chain = [chain] if isinstance(chain, bytes) else chain
    assert 1 <= len(chain) <= 4
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

    # Claims: integer keys, no unknown, deterministic encoding, profile, platform binding.
    claims = cbor2.loads(payload)
    assert set(claims) <= known, f"unknown claims {set(claims) - known}"
    assert cbor2.dumps(claims, canonical=True) == payload, "claims not deterministically encoded"
    assert claims[EAT_PROFILE] == profile
    spki = leaf.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    platform_id = hashlib.sha256(spki).hexdigest()
    assert claims[UEID] == b"\x01" + bytes.fromhex(platform_id), "ueid is not the platform id"
    assert claims[PLATFORM_TCB] == cert_tcb, "TCB claim differs from the certificate's"
    return claims, platform_id


# --- Confidential I/O ---------------------------------------------------------------------------

# The two AEADs (HPKE aead_id): the suite of the HPKE context and the STREAM cipher of each.
AES_256_GCM, CHACHA20_POLY1305 = 0x0002, 0x0003
SUITES = {
    AES_256_GCM: (CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256,
                                  AEADId.AES256_GCM), AESGCM),
    CHACHA20_POLY1305: (CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256,
                                        AEADId.CHACHA20_POLY1305), ChaCha20Poly1305),
}
SUITE = SUITES[CHACHA20_POLY1305][0]  # for the KEM alone, which both share
INPUT_VERSION, OUTPUT_VERSION = 2, 2
INPUT_DIGEST_DOMAIN = b"enclave/v2 sealed-input digest"
CHUNK = 65536
TAG = 16
SEALED_HEADER = 178


def policy_block(kind, identity, debug, product=0, svn=0):
    return bytes([kind, debug]) + identity + struct.pack(">HH", product, svn)


def derive(secret, purpose, block):
    info = b"enclave/v1/" + purpose + b"\x00" + block
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def enclave_keypair(secret, block):
    return SUITE.kem.derive_key_pair(derive(secret, b"hpke-enclave-key", block))


def nonce(counter, last):
    return b"\x00\x00\x00" + struct.pack(">Q", counter) + bytes([1 if last else 0])


def stream_seal(key, plaintext, aead_id=CHACHA20_POLY1305):
    aead, out = SUITES[aead_id][1](key), []
    pieces = [plaintext[i:i + CHUNK] for i in range(0, len(plaintext), CHUNK)] or [b""]
    for i, piece in enumerate(pieces):
        out.append(aead.encrypt(nonce(i, i == len(pieces) - 1), piece, b""))
    return b"".join(out)


def stream_open(key, body, aead_id=CHACHA20_POLY1305):
    """Opens chunks whose final one is the one followed by end of data."""
    aead, out, i = SUITES[aead_id][1](key), [], 0
    while True:
        chunk, body = body[:CHUNK + TAG], body[CHUNK + TAG:]
        last = len(body) == 0
        out.append(aead.decrypt(nonce(i, last), chunk, b""))
        if last:
            return b"".join(out)
        i += 1


def response_key(secret, enc, response_nonce):
    salt = enc + response_nonce
    h = hmac.HMAC(salt, hashes.SHA256())
    h.update(secret)
    prk = h.finalize()
    return HKDFExpand(algorithm=hashes.SHA256(), length=32, info=b"key").derive(prk)


def seal_input(pk, block, evidence, platform, plaintext, aead_id=CHACHA20_POLY1305):
    """Returns (sealed input, enc, response secret); `evidence` is the evidence digest."""
    bound = (b"ENCLSEAL" + struct.pack(">HHHH", INPUT_VERSION, 0x20, 1, aead_id) + block + evidence
             + platform + struct.pack(">QI", len(plaintext), CHUNK))
    assert len(bound) == 130
    suite = SUITES[aead_id][0]
    enc, ctx = suite.create_sender_context(suite.kem.deserialize_public_key(pk), bound)
    confirmation = ctx.seal(b"", b"")
    payload_key = ctx.export(b"enclave/v1 sealed-input payload", 32)
    response_secret = ctx.export(b"enclave/v1 sealed-output secret", 32)
    sealed = bound + enc + confirmation + stream_seal(payload_key, plaintext, aead_id)
    assert len(sealed) == SEALED_HEADER + len(plaintext) + TAG * max(1, -(-len(plaintext) // CHUNK))
    return sealed, enc, response_secret


def sealed_input_digest(sealed):
    """The two-level sealed-input digest ("Sealed input digest"): SHA-256 of the domain, the
    header, the chunk count and the SHA-256 of every sealed chunk, in order."""
    header, body = sealed[:SEALED_HEADER], sealed[SEALED_HEADER:]
    (length,) = struct.unpack(">Q", header[118:126])
    count = max(1, -(-length // CHUNK))
    chunks = [body[i:i + CHUNK + TAG] for i in range(0, len(body), CHUNK + TAG)] or [b""]
    assert len(chunks) == count
    outer = hashlib.sha256(INPUT_DIGEST_DOMAIN + header + struct.pack(">Q", count))
    for chunk in chunks:
        outer.update(hashlib.sha256(chunk).digest())
    return outer.digest()


def seal_output(enc, response_secret, plaintext, aead_id=CHACHA20_POLY1305):
    response_nonce = os.urandom(32)
    key = response_key(response_secret, enc, response_nonce)
    return (b"ENCLRESP" + struct.pack(">HH", OUTPUT_VERSION, aead_id) + response_nonce
            + stream_seal(key, plaintext, aead_id))


def open_output(enc, response_secret, sealed, aead_id=None):
    """Opens a sealed output; `aead_id`, when given, is the suite the input was sealed with."""
    version, named = struct.unpack(">HH", sealed[8:12])
    assert sealed[:8] == b"ENCLRESP" and version == OUTPUT_VERSION
    assert aead_id is None or named == aead_id, (named, aead_id)
    return stream_open(response_key(response_secret, enc, sealed[12:44]), sealed[44:], named)

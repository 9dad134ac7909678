"""A confidential request to a live `enclave serve`, written from docs/formats.md alone.

An independent client (http.client from the standard library; cryptography, cbor2, pycose and
pyhpke through formats.py) speaks the HTTP API ("HTTP API", "A confidential request"):

1. GET /v1/info: the measurement is the one `enclave measure` printed;
2. POST /v1/evidence with a fresh random nonce; the evidence is verified against the pinned root
   (x5chain, leaf, COSE signature, strict claims, nonce, measurement, age, production);
3. an input is sealed to the measurement key of the evidence (-70009, first key);
4. POST /v1/run with the sealed input; the body is a sealed output, `enclave-receipt` a receipt;
5. the receipt is verified against the same root and checked against the request (measurement,
   platform, request nonce = enc, input digest, output digest, outcome), then the output opened
   and compared with the word-count guest's answer; steps 3-5 once with one STREAM chunk, once
   with two;
6. refusals: sealed inputs (one chunk, two chunks) with one byte flipped in the last chunk are
   answered 400 `sealed-input-refused` as an RFC 9457 problem document, without a receipt; so is
   a body shorter than its header declares.

Usage: serve.py HOST:PORT ROOT_PEM MEASUREMENT_HEX (exit 0 when every check passes).
"""

import base64
import hashlib
import http.client
import json
import os
import re
import sys
import time

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from formats import (AEADS, AES_256_GCM, CHUNK, DBGSTAT, EAT_NONCE, ENCLAVE_KEYS,
                     EVIDENCE_CLAIMS, EVIDENCE_PROFILE, EXIT_CODE, FAILURE, FUEL_USED, IAT,
                     INPUT_DIGEST, MEASUREMENT, OUTCOME, OUTPUT_DIGEST, PLATFORM_TCB, PRODUCT_ID,
                     RECEIPT_CLAIMS, RECEIPT_PROFILE, REPORT_DATA, REQUEST_NONCE, SEALED_HEADER,
                     SIGNER, SVN, TAG, open_output, policy_block, seal_input, sealed_input_digest,
                     verify_eat)

PROBLEM_PREFIX = "tag:enclave.invalid,2026:problem/"
MAX_AGE, MAX_SKEW = 300, 60  # the verifier defaults of "Attestation evidence"
INPUT = b"to be or not to be"
EXPECTED_OUTPUT = b"be\t2\nto\t2\nnot\t1\nor\t1\n"
RUN_HEADERS = {"content-type": "application/vnd.enclave.sealed-input"}


class Server:
    def __init__(self, address):
        host, port = address.rsplit(":", 1)
        self.host, self.port = host, int(port)

    def request(self, method, path, body=None, headers=None):
        """One request on a fresh HTTP/1.1 connection; returns (status, headers, body)."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            data = response.read()
            request_id = response.getheader("x-request-id")
            assert request_id and re.fullmatch("[0-9a-f]{16}", request_id), \
                f"{method} {path}: x-request-id {request_id!r}"
            return response.status, response, data
        finally:
            connection.close()


def media_type(response):
    """The media type without parameters, lowercased ("compared without parameters,
    case-insensitively")."""
    return (response.getheader("content-type") or "").split(";")[0].strip().lower()


def expect(status, response, data, want_status, want_type):
    assert status == want_status, f"status {status}, wanted {want_status}: {data[:500]!r}"
    assert media_type(response) == want_type, f"content-type {response.getheader('content-type')}"


def check_problem(status, response, data, name, want_status):
    """An RFC 9457 problem document of the given type name (docs/formats.md, "Refusals")."""
    expect(status, response, data, want_status, "application/problem+json")
    problem = json.loads(data)
    assert {"type", "title", "status", "detail", "instance"} <= set(problem), problem
    assert problem["type"] == PROBLEM_PREFIX + name, problem
    assert problem["status"] == want_status, problem
    assert problem["instance"] == "urn:enclave:request:" + response.getheader("x-request-id"), \
        problem
    return problem


def sealed_length(n):
    return SEALED_HEADER + n + TAG * max(1, -(-n // CHUNK))


def seal(attested, plaintext):
    """Seals to the measurement key: (sealed input, enc, response secret)."""
    key, measurement, evidence_digest, platform_id, _ = attested
    block = policy_block(1, measurement, 0)  # production: dbgstat 3
    sealed = seal_input(key, block, evidence_digest, bytes.fromhex(platform_id), plaintext,
                        AES_256_GCM)
    assert len(sealed[0]) == sealed_length(len(plaintext))
    return sealed


def confidential_run(server, root, attested, plaintext):
    """POST /v1/run with a sealed input; checks the receipt, returns the opened output."""
    _, measurement, _, platform_id, claims = attested
    sealed, enc, response_secret = seal(attested, plaintext)
    status, response, body = server.request(
        "POST", "/v1/run", sealed, {**RUN_HEADERS, "content-length": str(len(sealed))})
    expect(status, response, body, 200, "application/vnd.enclave.sealed-output")
    encoded = response.getheader("enclave-receipt")
    assert encoded, "no enclave-receipt header"
    receipt = base64.b64decode(encoded, validate=True)  # standard alphabet, padding required
    assert base64.b64encode(receipt).decode() == encoded, "receipt base64 not canonical"

    # The receipt, against the same root and the request; only then the output.
    receipt_claims, receipt_platform = verify_eat(receipt, root, RECEIPT_PROFILE, RECEIPT_CLAIMS)
    assert receipt_platform == platform_id, "receipt from another platform"
    assert receipt_claims[MEASUREMENT] == measurement, "receipt for another measurement"
    for key in (SIGNER, PRODUCT_ID, SVN, DBGSTAT, PLATFORM_TCB):
        assert receipt_claims[key] == claims[key], f"receipt claim {key} differs from evidence"
    assert receipt_claims[REQUEST_NONCE] == enc, "request nonce is not our enc"
    assert receipt_claims[INPUT_DIGEST] == sealed_input_digest(sealed), "input digest"
    assert receipt_claims[OUTPUT_DIGEST] == hashlib.sha256(body).digest(), "output digest"
    assert receipt_claims[OUTCOME] == 0 and FAILURE not in receipt_claims, "run failed"
    assert EXIT_CODE not in receipt_claims, "exit code for a native guest"
    # A production enclave's exact fuel would tell the operator which branch the guest took: the
    # receipt's fuel claim is 0 (docs/formats.md, "Execution receipt"; docs/threat-model.md).
    assert receipt_claims[DBGSTAT] == 3, "not a production enclave"
    assert receipt_claims[FUEL_USED] == 0, "a production enclave's fuel is in its receipt"
    now = time.time()
    assert now - MAX_AGE <= receipt_claims[IAT] <= now + MAX_SKEW, "receipt iat"
    return open_output(enc, response_secret, body, AES_256_GCM)


def main():
    server = Server(sys.argv[1])
    root_pem = open(sys.argv[2], "rb").read()
    root = x509.load_pem_x509_certificate(root_pem)
    measurement = bytes.fromhex(sys.argv[3])

    # 1. /v1/info: a convenience, unauthenticated; only sanity checks.
    status, response, data = server.request("GET", "/v1/info")
    expect(status, response, data, 200, "application/json")
    info = json.loads(data)
    assert info["measurement"] == measurement.hex(), info
    root_der = root.public_bytes(serialization.Encoding.DER)
    assert info["root_sha256"] == hashlib.sha256(root_der).hexdigest(), info
    assert info["kind"] == "enclave" and info["debug"] is False, info
    assert info["plaintext_runs"] is False, info
    limits = info["limits"]
    assert limits["max_sealed_input_bytes"] == sealed_length(limits["max_input_bytes"]), limits

    # 2. Evidence for a fresh nonce, verified under our policy.
    nonce = os.urandom(32)
    status, response, evidence = server.request(
        "POST", "/v1/evidence", json.dumps({"nonce": nonce.hex()}).encode(),
        {"content-type": "application/json"})
    expect(status, response, evidence, 200, "application/eat+cwt")
    claims, platform_id = verify_eat(evidence, root, EVIDENCE_PROFILE, EVIDENCE_CLAIMS)
    assert claims[EAT_NONCE] == nonce, "evidence for another nonce"
    assert claims[MEASUREMENT] == measurement, "evidence for another measurement"
    now = time.time()
    assert now - MAX_AGE <= claims[IAT] <= now + MAX_SKEW, f"iat {claims[IAT]}, now {now}"
    assert claims[DBGSTAT] == 3, "not a production enclave"
    assert claims[REPORT_DATA] == b""
    assert platform_id == info["platform_id"] and claims[PLATFORM_TCB] == info["platform_tcb"]
    keys = claims[ENCLAVE_KEYS]
    assert len(keys) == 2 and all(len(k) == 32 for k in keys), keys
    assert AES_256_GCM in claims[AEADS], claims[AEADS]  # so the input below is sealed with it

    # 3.-5. A confidential run: one chunk, then several (the body streams to the guest).
    attested = (keys[0], measurement, hashlib.sha256(evidence).digest(), platform_id, claims)
    assert confidential_run(server, root, attested, INPUT) == EXPECTED_OUTPUT
    long_input = b" ".join([INPUT] * 4001)  # 76,075 bytes: two STREAM chunks
    assert CHUNK < len(long_input) < 2 * CHUNK
    long_output = confidential_run(server, root, attested, long_input)
    assert long_output == b"be\t8002\nto\t8002\nnot\t4001\nor\t4001\n", long_output[:200]

    # 6. Refusals: nothing runs, no receipt.
    for plaintext in [INPUT, long_input]:  # the first chunk is the last; the second chunk is
        sealed = seal(attested, plaintext)[0]
        flipped = bytearray(sealed)
        flipped[-TAG - 1] ^= 0x01  # the last plaintext byte's ciphertext, in the last chunk
        status, response, data = server.request(
            "POST", "/v1/run", bytes(flipped), {**RUN_HEADERS, "content-length": str(len(sealed))})
        check_problem(status, response, data, "sealed-input-refused", 400)
        assert response.getheader("enclave-receipt") is None, "a receipt for a refused input"
    truncated = seal(attested, INPUT)[0][:-1]  # shorter than its header declares
    status, response, data = server.request(
        "POST", "/v1/run", truncated, {**RUN_HEADERS, "content-length": str(len(truncated))})
    check_problem(status, response, data, "sealed-input-refused", 400)

    print("ok", measurement.hex(), platform_id)


if __name__ == "__main__":
    main()

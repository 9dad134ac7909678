"""Attested TLS against a live `enclave serve --tls`, written from docs/formats.md alone.

("HTTP API", "Attested TLS".) The standard library's `ssl` fetches the certificate in a TLS 1.3
handshake (OpenSSL checks the handshake's CertificateVerify signature with the certificate's key,
so the server holds it); `cryptography` parses the certificate; cbor2 reads the CMW record of its
id-pe-cmw extension; the evidence is verified as in evidence.py (pycose for the COSE signature)
against the pinned root, and must vouch for the certificate's key: eat_nonce, report data and the
tls key claim (-70018) are all SHA-256 of its SubjectPublicKeyInfo. Then a request over the same
attested connection: GET /v1/info names the attested measurement.

Usage: tls.py HOST:PORT ROOT_PEM MEASUREMENT_HEX (exit 0 when every check passes).
"""

import hashlib
import http.client
import json
import socket
import ssl
import sys
import time

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from formats import (DBGSTAT, EAT_NONCE, EVIDENCE_CLAIMS, EVIDENCE_PROFILE, IAT, MEASUREMENT,
                     REPORT_DATA, TLS_KEY, verify_eat)

ID_PE_CMW = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.35")
MAX_AGE, MAX_SKEW = 300, 60


def der_octet_string(value: bytes) -> bytes:
    """The contents of one DER OCTET STRING that is all of `value`."""
    assert value[0] == 0x04, "not an OCTET STRING"
    first = value[1]
    if first < 0x80:
        length, start = first, 2
    else:
        n = first & 0x7F
        assert 1 <= n <= 4, "bad length"
        length, start = int.from_bytes(value[2:2 + n], "big"), 2 + n
        assert length >= 0x80 and value[2] != 0, "length not minimal"
    assert start + length == len(value), "trailing bytes after the OCTET STRING"
    return value[start:]


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    root = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
    measurement = bytes.fromhex(sys.argv[3])

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    # No web PKI: the evidence, checked below, is what identifies the server.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    with socket.create_connection((host, int(port)), timeout=60) as raw:
        with context.wrap_socket(raw) as tls:
            assert tls.version() == "TLSv1.3", tls.version()
            der = tls.getpeercert(binary_form=True)

            cert = x509.load_der_x509_certificate(der)
            key = cert.public_key()
            assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
            spki = key.public_bytes(serialization.Encoding.DER,
                                    serialization.PublicFormat.SubjectPublicKeyInfo)
            digest = hashlib.sha256(spki).digest()

            extensions = [e for e in cert.extensions if e.oid == ID_PE_CMW]
            assert len(extensions) == 1, f"{len(extensions)} id-pe-cmw extensions"
            assert not extensions[0].critical
            record = cbor2.loads(der_octet_string(extensions[0].value.value))
            assert isinstance(record, list) and len(record) == 3, f"CMW record {record!r}"
            media_type, evidence, indicator = record
            assert media_type == "application/eat+cwt", media_type
            assert indicator == 4, f"indicator {indicator}"

            claims, platform_id = verify_eat(evidence, root, EVIDENCE_PROFILE, EVIDENCE_CLAIMS)
            assert claims[MEASUREMENT] == measurement, "another measurement"
            assert claims[DBGSTAT] == 3, "a debug enclave"
            now = time.time()
            assert now - MAX_AGE <= claims[IAT] <= now + MAX_SKEW, "stale evidence"
            assert claims[EAT_NONCE] == digest, "nonce is not the key's digest"
            assert claims[REPORT_DATA] == digest, "report data is not the key's digest"
            assert claims.get(TLS_KEY) == digest, "no tls key claim for this key"

            # The same attested connection carries the API.
            connection = http.client.HTTPConnection(host, int(port), timeout=60)
            connection.sock = tls
            connection.request("GET", "/v1/info")
            response = connection.getresponse()
            assert response.status == 200, response.status
            info = json.loads(response.read())
            assert info["measurement"] == measurement.hex()
            assert info["platform_id"] == platform_id
    print(f"attested TLS verified: measurement {measurement.hex()[:16]}…, "
          f"platform {platform_id[:16]}…, key {digest.hex()[:16]}…")


if __name__ == "__main__":
    main()

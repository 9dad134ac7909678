"""Independent check of attestation evidence, written only from docs/formats.md.

Usage: python3 evidence.py DIR

DIR holds root.pem (the vendor root certificate: the only thing trusted), report.cbor (the
evidence) and expected.json (the claims the report should carry). The x5chain is parsed and the
leaf certificate checked against the root with `cryptography`, the COSE_Sign1 signature is
checked by `pycose`, and the claims are decoded with `cbor2` and compared (the envelope checks
are in formats.py, shared with serve.py). Prints "ok <measurement> <platform id>"; exits
non-zero on any mismatch.
"""

import json
import sys
from pathlib import Path

from cryptography import x509

from formats import (AEADS, CAPABILITIES, DBGSTAT, EAT_NONCE, ENCLAVE_KEYS, EVIDENCE_CLAIMS,
                     EVIDENCE_PROFILE, IAT, MEASUREMENT, MODULE, PLATFORM_TCB, PRODUCT_ID,
                     REPORT_DATA, SIGNER, SVN, verify_eat)


def main() -> None:
    work = Path(sys.argv[1])
    root = x509.load_pem_x509_certificate((work / "root.pem").read_bytes())
    raw = (work / "report.cbor").read_bytes()
    expected = json.loads((work / "expected.json").read_text())

    # Envelope, chain, signature (pycose), strict claims, ueid and TCB: shared with serve.py.
    claims, platform_id = verify_eat(raw, root, EVIDENCE_PROFILE, EVIDENCE_CLAIMS)
    assert claims[PLATFORM_TCB] == expected["platform_tcb"]
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
    # The AEADs the enclave reads: beside its keys, AES-256-GCM and ChaCha20-Poly1305.
    assert claims.get(AEADS) == (None if keys is None else [0x0002, 0x0003]), claims.get(AEADS)
    print("ok", claims[MEASUREMENT].hex(), platform_id)


if __name__ == "__main__":
    main()

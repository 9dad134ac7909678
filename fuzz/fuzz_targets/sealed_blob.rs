//! Sealed blobs and sealed store state (`sealer::blob`): `read_header` and `open` as the fixed
//! enclave identity on the fixed platform secret.
//!
//! Mode byte even: a sealed blob (`ENCLBLOB`); odd: sealed store state (`ENCLSTAT`). Seeds are
//! real blobs of both kinds under both key policies, so mutations reach AES-GCM and the policy
//! checks. Whatever opens must match its header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealer::blob::{self, BlobKind};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, blob_bytes)) = data.split_first() else {
        return;
    };
    let kind = if mode & 1 == 0 {
        BlobKind::Sealed
    } else {
        BlobKind::StoreState
    };
    let Ok(header) = blob::read_header(kind, blob_bytes) else {
        return;
    };
    assert_eq!(
        blob::sealed_len(header.aad.len(), header.plaintext_len),
        blob_bytes.len()
    );
    let fixtures = enclave_fuzz::fixtures();
    let mut identity = enclave_fuzz::identity(fixtures.author.public_key().signer_id());
    identity.debug = mode & 2 == 2;
    let secret = enclave_fuzz::platform_tcb_secrets();
    if let Ok(opened) = blob::open(kind, &secret, &identity, blob_bytes) {
        assert_eq!(opened.aad, header.aad);
        assert_eq!(opened.plaintext.len(), header.plaintext_len);
        assert_eq!(opened.policy, header.policy);
        assert_eq!(header.debug, identity.debug);
        assert!(identity.check_policy(&opened.policy).is_ok());
    }
});

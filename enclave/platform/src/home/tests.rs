#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]

use std::path::Path;
use std::time::SystemTime;

use attest::{Measurement, ProductId, SignerId, Svn};
use sealer::blob::{self, BlobError, BlobKind};
use sealer::TcbError;

use super::*;

fn init(home: &Path, tcb: u32) -> Platform {
    let options = InitOptions {
        name: "tcb tests".into(),
        tcb,
        vendor: None,
    };
    Platform::init(home, options, SystemTime::now()).unwrap()
}

/// The platform's own vendor root (a platform that made its own root keeps its key at home).
fn own_vendor(home: &Path) -> VendorCa {
    let key = fs::read_to_string(home.join(file::ROOT_KEY)).unwrap();
    let cert = fs::read_to_string(home.join(file::ROOT_CERT)).unwrap();
    VendorCa::from_pem(&key, &cert).unwrap()
}

fn me() -> EnclaveIdentity {
    EnclaveIdentity {
        measurement: Measurement::from_bytes([1; 32]),
        signer: SignerId::from_bytes([2; 32]),
        product_id: ProductId(1),
        svn: Svn(1),
        debug: false,
    }
}

fn seal(platform: &Platform, text: &[u8]) -> Vec<u8> {
    let me = me();
    blob::seal(
        BlobKind::Sealed,
        platform.sealing_secrets(),
        &me,
        &me.signer_policy(),
        b"",
        text,
    )
    .unwrap()
}

fn open(platform: &Platform, sealed: &[u8]) -> Result<Vec<u8>, BlobError> {
    blob::open(BlobKind::Sealed, platform.sealing_secrets(), &me(), sealed)
        .map(|opened| opened.plaintext.to_vec())
}

/// A key derived from the secret of the platform's current level.
fn current_key(platform: &Platform) -> [u8; 32] {
    let policy = me().signer_policy();
    *sealer::derive_key(
        platform.sealing_secret(),
        sealer::KeyPurpose::Store,
        &policy,
        false,
    )
}

/// Copies the regular files of a platform home (a backup, as an operator would take one).
pub(crate) fn copy_home(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_home(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn an_upgrade_keeps_old_data_and_a_restored_home_cannot_read_new_data() {
    let dir = tempfile::tempdir().unwrap();
    let (home, backup) = (dir.path().join("home"), dir.path().join("backup"));
    let at1 = init(&home, 1);
    let sealed_at_1 = seal(&at1, b"sealed at 1");
    let id_at_1 = at1.platform_id();
    let key_at_1 = current_key(&at1);
    copy_home(&home, &backup);

    let at2 = Platform::upgrade(&home, &own_vendor(&home), 2, SystemTime::now()).unwrap();
    assert_eq!(at2.tcb(), 2);
    assert_eq!(at2.attestation().tcb(), 2);
    assert_ne!(at2.platform_id(), id_at_1, "a new attestation key");
    assert_eq!(Platform::open(&home).unwrap().tcb(), 2);
    assert_eq!(open(&at2, &sealed_at_1).unwrap(), b"sealed at 1");
    assert_ne!(
        current_key(&at2),
        key_at_1,
        "new keys derive from TCB 2's secret"
    );
    let sealed_at_2 = seal(&at2, b"sealed at 2");

    // The operator restores the home from before the upgrade: TCB 1's secrets and certificate.
    let restored = Platform::open(&backup).unwrap();
    assert_eq!(restored.tcb(), 1);
    assert_eq!(open(&restored, &sealed_at_1).unwrap(), b"sealed at 1");
    let refused = open(&restored, &sealed_at_2).unwrap_err();
    assert!(matches!(
        refused,
        BlobError::Tcb(TcbError::TooNew {
            sealed: 2,
            platform: 1
        })
    ));
    assert_eq!(
        refused.to_string(),
        "sealed at TCB 2; this platform is at TCB 1"
    );
}

#[test]
fn upgrades_go_up_only_and_only_with_the_platforms_vendor() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    init(&home, 3);
    let vendor = own_vendor(&home);
    for tcb in [2, 3] {
        let error = Platform::upgrade(&home, &vendor, tcb, SystemTime::now()).unwrap_err();
        assert!(
            matches!(
                error,
                PlatformError::Tcb(TcbError::NotAnUpgrade { platform: 3, .. })
            ),
            "{error}"
        );
    }
    let error =
        Platform::upgrade(&home, &vendor, sealer::MAX_TCB + 1, SystemTime::now()).unwrap_err();
    assert!(matches!(error, PlatformError::Tcb(TcbError::OutOfRange(_))));
    let now = SystemTime::now();
    let stranger = VendorCa::generate("another vendor", now, now + ROOT_VALIDITY).unwrap();
    let error = Platform::upgrade(&home, &stranger, 4, now).unwrap_err();
    assert!(
        matches!(error, PlatformError::ForeignVendor { .. }),
        "{error}"
    );
    assert_eq!(Platform::open(&home).unwrap().tcb(), 3, "nothing changed");
}

#[test]
fn a_fleet_platform_upgrades_with_the_fleet_key_it_was_provisioned_with() {
    let dir = tempfile::tempdir().unwrap();
    let now = SystemTime::now();
    let fleet = VendorCa::generate("fleet", now, now + ROOT_VALIDITY).unwrap();
    let reloaded = || VendorCa::from_pem(&fleet.key_pem(), &fleet.cert_pem()).unwrap();
    let home = dir.path().join("home");
    let options = InitOptions {
        name: "fleet member".into(),
        tcb: 1,
        vendor: Some(reloaded()),
    };
    let at1 = Platform::init(&home, options, now).unwrap();
    assert!(!home.join(file::ROOT_KEY).exists());
    let sealed = seal(&at1, b"fleet data");
    let at5 = Platform::upgrade(&home, &fleet, 5, now).unwrap();
    assert_eq!(open(&at5, &sealed).unwrap(), b"fleet data");
    // The same root certificate with another platform's secrets: the chain does not lead there.
    let other = dir.path().join("other");
    let options = InitOptions {
        name: "other".into(),
        tcb: 1,
        vendor: Some(reloaded()),
    };
    Platform::init(&other, options, now).unwrap();
    let config = fs::read_to_string(home.join(file::CONFIG)).unwrap();
    let theirs = fs::read_to_string(other.join(file::CONFIG)).unwrap();
    let chain = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("chain"))
            .unwrap()
            .to_owned()
    };
    fs::write(
        other.join(file::CONFIG),
        theirs.replace(&chain(&theirs), &chain(&config)),
    )
    .unwrap();
    let error = Platform::upgrade(&other, &fleet, 2, now).unwrap_err();
    assert!(
        matches!(error, PlatformError::Tcb(TcbError::WrongRoot)),
        "{error}"
    );
}

#[test]
fn an_interrupted_upgrade_is_refused_until_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let at1 = init(&home, 1);
    let sealed = seal(&at1, b"kept");
    let old_files: Vec<_> = [file::ATTESTATION_KEY, file::ATTESTATION_CHAIN, file::CONFIG]
        .iter()
        .map(|name| (name, fs::read(home.join(name)).unwrap()))
        .collect();
    Platform::upgrade(&home, &own_vendor(&home), 2, SystemTime::now()).unwrap();
    // A crash after the secrets were written: the certificate and platform.toml are TCB 1's.
    for (name, bytes) in &old_files {
        fs::write(home.join(name), bytes).unwrap();
    }
    let error = Platform::open(&home).unwrap_err().to_string();
    assert!(
        error.ends_with(
            "holds the secrets of TCB 2 but the platform is at TCB 1 (an interrupted \
             `enclave platform upgrade`? run it again)"
        ),
        "{error}"
    );
    let at2 = Platform::upgrade(&home, &own_vendor(&home), 2, SystemTime::now()).unwrap();
    assert_eq!(at2.tcb(), 2);
    assert_eq!(open(&at2, &sealed).unwrap(), b"kept");
}

#[test]
fn a_secret_from_before_tcb_levels_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    init(&home, 1);
    fs::write(home.join(file::SECRET), [7u8; 32]).unwrap();
    let error = Platform::open(&home).unwrap_err().to_string();
    assert!(
        error.contains("32 bytes: a platform secret from before TCB levels"),
        "{error}"
    );
}

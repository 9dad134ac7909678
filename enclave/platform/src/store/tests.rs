#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]

use std::time::SystemTime;

use attest::{Measurement, ProductId, SignerId, Svn};
use redb::{ReadableDatabase as _, ReadableTable as _};
use sealer::blob::{self, BlobKind};

use super::database::{BUCKETS, HEADS, HEAD_KEY, NODES};
use super::*;
use crate::InitOptions;

/// A platform in a temporary directory, and the store of one enclave on it.
struct Fixture {
    _dir: tempfile::TempDir,
    platform: Arc<Platform>,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let options = InitOptions {
            name: "store tests".into(),
            tcb: 1,
            vendor: None,
        };
        let platform =
            Platform::init(&dir.path().join("platform"), options, SystemTime::now()).unwrap();
        Self {
            _dir: dir,
            platform: Arc::new(platform),
        }
    }

    fn store(&self) -> SealedStore {
        self.store_at(1)
    }

    fn store_at(&self, svn: u16) -> SealedStore {
        SealedStore::new(
            self.platform.clone(),
            EnclaveIdentity {
                measurement: Measurement::from_bytes([1; 32]),
                signer: SignerId::from_bytes([2; 32]),
                product_id: ProductId(1),
                svn: Svn(svn),
                debug: false,
            },
        )
    }

    /// A fresh store (as the next process would have) reading `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.store().get(key).map(|value| value.map(|v| v.to_vec()))
    }
}

fn integrity_failure(result: Result<Option<Vec<u8>>, StoreError>) -> bool {
    matches!(result, Err(StoreError::Refused { ref reason, .. }) if reason == "integrity check failed")
}

/// The raw bytes of the file's tables, as an attacker holding the file sees them.
struct Raw {
    records: BTreeMap<u16, Vec<u8>>,
    nodes: BTreeMap<u32, Vec<u8>>,
    head: Vec<u8>,
}

fn raw(path: &Path) -> Raw {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    let records = txn.open_table(BUCKETS).unwrap();
    let nodes = txn.open_table(NODES).unwrap();
    let heads = txn.open_table(HEADS).unwrap();
    Raw {
        records: records
            .iter()
            .unwrap()
            .map(|e| {
                let (k, v) = e.unwrap();
                (k.value(), v.value().to_vec())
            })
            .collect(),
        nodes: nodes
            .iter()
            .unwrap()
            .map(|e| {
                let (k, v) = e.unwrap();
                (k.value(), v.value().to_vec())
            })
            .collect(),
        head: heads.get(HEAD_KEY).unwrap().unwrap().value().to_vec(),
    }
}

/// Edits the file's tables directly, committing a well-formed redb transaction: what an
/// attacker with the file and the redb library can do.
fn edit(path: &Path, change: impl FnOnce(&redb::WriteTransaction)) {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    change(&txn);
    txn.commit().unwrap();
}

fn put_record(path: &Path, bucket: u16, record: &[u8]) {
    edit(path, |txn| {
        txn.open_table(BUCKETS)
            .unwrap()
            .insert(bucket, record)
            .unwrap();
    });
}

/// The bucket `key` has in the store.
fn bucket_of(f: &Fixture, key: &[u8]) -> u16 {
    let store = f.store();
    let _lock = store.context.take_lock().unwrap();
    store.context.load().unwrap().keys.bucket(key)
}

#[test]
fn entries_round_trip_and_persist() {
    let f = Fixture::new();
    let mut store = f.store();
    assert_eq!(store.get(b"a").unwrap(), None);
    assert!(!store.delete(b"a").unwrap());
    assert!(
        !f.store().paths().state.exists(),
        "a read or no-op writes nothing"
    );
    assert_eq!(store.put(b"a", b"1").unwrap(), 1);
    assert_eq!(store.put(b"b", b"2").unwrap(), 2);
    assert_eq!(store.put(b"a", b"3").unwrap(), 3);
    assert_eq!(store.put(b"", b"").unwrap(), 4);
    assert_eq!(f.get(b"a").unwrap().unwrap(), b"3");
    assert_eq!(f.get(b"").unwrap().unwrap(), b"");
    assert!(store.delete(b"b").unwrap());
    assert!(!store.delete(b"b").unwrap());
    let state = f.store().load().unwrap();
    assert_eq!(state.version, 5);
    assert_eq!(state.entries, entries(&[(b"a", b"3"), (b"", b"")]));
    assert_eq!(read_counter(&store.paths().counter).unwrap(), 5);
}

#[test]
fn a_transaction_sees_its_own_updates_and_ends_durable() {
    let f = Fixture::new();
    let mut store = f.store();
    store.begin().unwrap();
    for i in 0..300u32 {
        store.put(&i.to_be_bytes(), &i.to_le_bytes()).unwrap();
    }
    for i in (0..300u32).step_by(3) {
        assert!(store.delete(&i.to_be_bytes()).unwrap());
    }
    assert_eq!(
        store.get(&7u32.to_be_bytes()).unwrap().unwrap().as_slice(),
        7u32.to_le_bytes()
    );
    store.end();
    let state = f.store().load().unwrap();
    assert_eq!(state.version, 400);
    assert_eq!(state.entries.len(), 200);
    assert_eq!(f.get(&3u32.to_be_bytes()).unwrap(), None);
    assert_eq!(
        f.get(&4u32.to_be_bytes()).unwrap().unwrap(),
        4u32.to_le_bytes()
    );
}

#[test]
fn the_state_cap_refuses_without_changing_anything() {
    let f = Fixture::new();
    let mut store = f.store();
    store.put(b"k", b"v").unwrap();
    assert!(matches!(
        store.put(&[0; MAX_KEY + 1], b""),
        Err(StoreError::TooLarge { what: "key", .. })
    ));
    assert!(matches!(
        store.put(b"k", &vec![0; MAX_VALUE + 1]),
        Err(StoreError::TooLarge { what: "value", .. })
    ));
    assert_eq!(f.get(b"k").unwrap().unwrap(), b"v");
}

#[test]
fn the_file_holds_no_key_or_value_in_clear() {
    let f = Fixture::new();
    let mut store = f.store();
    store.put(b"a secret key", b"a secret value").unwrap();
    let bytes = std::fs::read(&store.paths().state).unwrap();
    assert!(!bytes.windows(6).any(|w| w == b"secret"));
}

#[test]
fn two_entries_records_swapped_are_refused() {
    let f = Fixture::new();
    let mut store = f.store();
    store.put(b"a", b"1").unwrap();
    store.put(b"b", b"2").unwrap();
    let path = store.paths().state.clone();
    let (a, b) = (bucket_of(&f, b"a"), bucket_of(&f, b"b"));
    assert_ne!(a, b, "the test needs two buckets");
    let raw = raw(&path);
    let (ra, rb) = (raw.records[&a].clone(), raw.records[&b].clone());
    put_record(&path, a, &rb);
    put_record(&path, b, &ra);
    assert!(integrity_failure(f.get(b"a")));
    assert!(integrity_failure(f.get(b"b")));
    put_record(&path, a, &ra);
    put_record(&path, b, &rb);
    assert_eq!(f.get(b"a").unwrap().unwrap(), b"1");
}

#[test]
fn an_old_record_replayed_into_a_newer_state_is_refused() {
    let f = Fixture::new();
    let mut store = f.store();
    for i in 0..50u8 {
        store.put(&[i], b"old").unwrap();
    }
    let path = store.paths().state.clone();
    let a = bucket_of(&f, &[7]);
    let old = raw(&path);
    store.put(&[7], b"new").unwrap();
    store.put(b"elsewhere", b"x").unwrap();
    // The old record alone.
    put_record(&path, a, &old.records[&a]);
    assert!(integrity_failure(f.get(&[7])));
    // The old record with the old nodes of its whole path: the root no longer matches.
    edit(&path, |txn| {
        let mut nodes = txn.open_table(NODES).unwrap();
        for (id, node) in &old.nodes {
            nodes.insert(*id, node.as_slice()).unwrap();
        }
    });
    assert!(integrity_failure(f.get(&[7])));
    // And the old head too: the whole old state, refused by the counter.
    edit(&path, |txn| {
        txn.open_table(HEADS)
            .unwrap()
            .insert(HEAD_KEY, old.head.as_slice())
            .unwrap();
    });
    assert_eq!(
        f.get(&[7]),
        Err(StoreError::RolledBack {
            state: 50,
            counter: 52
        })
    );
}

#[test]
fn a_record_removed_or_added_is_refused() {
    let f = Fixture::new();
    let mut store = f.store();
    store.put(b"a", b"1").unwrap();
    store.put(b"b", b"2").unwrap();
    let path = store.paths().state.clone();
    let a = bucket_of(&f, b"a");
    let record = raw(&path).records[&a].clone();
    edit(&path, |txn| {
        txn.open_table(BUCKETS).unwrap().remove(a).unwrap();
    });
    assert!(integrity_failure(f.get(b"a")));
    put_record(&path, a, &record);
    // A record in a bucket the tree says is empty: a get there, or a full check, refuses it.
    let stranger = (0u32..)
        .map(|i| i.to_be_bytes())
        .find(|k| ![a, bucket_of(&f, b"b")].contains(&bucket_of(&f, k)))
        .unwrap();
    let empty = bucket_of(&f, &stranger);
    put_record(&path, empty, &record);
    assert_eq!(f.get(b"a").unwrap().unwrap(), b"1");
    assert!(integrity_failure(f.get(&stranger)));
    assert!(matches!(f.store().load(), Err(StoreError::Refused { .. })));
}

#[test]
fn every_flipped_bit_of_a_record_node_or_head_is_refused() {
    let f = Fixture::new();
    let mut store = f.store();
    store.put(b"a", b"1").unwrap();
    let path = store.paths().state.clone();
    let a = bucket_of(&f, b"a");
    let good = raw(&path);
    let flip = |bytes: &[u8], i: usize, bit: u8| {
        let mut out = bytes.to_vec();
        out[i] ^= 1 << bit;
        out
    };
    for i in 0..good.records[&a].len() {
        for bit in 0..8 {
            put_record(&path, a, &flip(&good.records[&a], i, bit));
            assert!(f.get(b"a").is_err(), "record byte {i} bit {bit}");
        }
    }
    put_record(&path, a, &good.records[&a]);
    for (id, node) in &good.nodes {
        for i in 0..node.len() {
            let bit = (i % 8) as u8;
            edit(&path, |txn| {
                txn.open_table(NODES)
                    .unwrap()
                    .insert(*id, flip(node, i, bit).as_slice())
                    .unwrap();
            });
            assert!(f.get(b"a").is_err(), "node {id:#x} byte {i}");
        }
        edit(&path, |txn| {
            txn.open_table(NODES)
                .unwrap()
                .insert(*id, node.as_slice())
                .unwrap();
        });
    }
    for i in 0..good.head.len() {
        let bit = (i % 8) as u8;
        edit(&path, |txn| {
            txn.open_table(HEADS)
                .unwrap()
                .insert(HEAD_KEY, flip(&good.head, i, bit).as_slice())
                .unwrap();
        });
        assert!(f.get(b"a").is_err(), "head byte {i}");
    }
    edit(&path, |txn| {
        txn.open_table(HEADS)
            .unwrap()
            .insert(HEAD_KEY, good.head.as_slice())
            .unwrap();
    });
    assert_eq!(f.get(b"a").unwrap().unwrap(), b"1");
}

#[test]
fn the_counter_checks_the_head() {
    let f = Fixture::new();
    let mut store = f.store();
    store.put(b"a", b"1").unwrap();
    store.put(b"a", b"2").unwrap();
    let paths = store.paths().clone();
    // A crash between the commit and the counter write: finished by the next load.
    std::fs::write(&paths.counter, b"1\n").unwrap();
    assert_eq!(f.get(b"a").unwrap().unwrap(), b"2");
    assert_eq!(std::fs::read(&paths.counter).unwrap(), b"2\n");
    std::fs::write(&paths.counter, b"0\n").unwrap();
    assert_eq!(
        f.get(b"a"),
        Err(StoreError::AheadOfCounter {
            state: 2,
            counter: 0
        })
    );
    std::fs::write(&paths.counter, b"3\n").unwrap();
    assert_eq!(
        f.get(b"a"),
        Err(StoreError::RolledBack {
            state: 2,
            counter: 3
        })
    );
    std::fs::remove_file(&paths.state).unwrap();
    assert_eq!(f.get(b"a"), Err(StoreError::Missing { counter: 3 }));
}

#[test]
fn an_upgrade_carries_the_store_on_and_a_downgrade_is_refused() {
    let f = Fixture::new();
    f.store_at(1).put(b"a", b"1").unwrap();
    assert_eq!(f.store_at(2).get(b"a").unwrap().unwrap().as_slice(), b"1");
    f.store_at(2).put(b"b", b"2").unwrap();
    let refused = f.store_at(1).get(b"a").unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("sealed to svn 2, enclave is svn 1"),
        "{refused}"
    );
}

#[test]
fn a_store_in_the_previous_format_is_migrated() {
    let f = Fixture::new();
    let store = f.store();
    let paths = store.paths().clone();
    std::fs::create_dir_all(&paths.dir).unwrap();
    std::fs::create_dir_all(paths.counter.parent().unwrap()).unwrap();
    let old = encode_entries(&entries(&[(b"a", b"1"), (b"b", b"2")]));
    let sealed = blob::seal(
        BlobKind::StoreState,
        f.platform.sealing_secrets(),
        &store.context.identity,
        &store.context.identity.signer_policy(),
        &head::head_aad(&store.id(), 7),
        &old,
    )
    .unwrap();
    std::fs::write(&paths.state, &sealed).unwrap();
    std::fs::write(&paths.counter, b"7\n").unwrap();
    assert_eq!(f.get(b"b").unwrap().unwrap(), b"2");
    assert_eq!(std::fs::read(&paths.counter).unwrap(), b"8\n");
    assert!(!legacy::is_legacy(&paths.state).unwrap());
    let state = f.store().load().unwrap();
    assert_eq!((state.version, state.entries.len()), (8, 2));
    // An old state put back after the migration is rolled back, as any old state.
    std::fs::write(&paths.state, &sealed).unwrap();
    assert_eq!(
        f.get(b"a"),
        Err(StoreError::RolledBack {
            state: 7,
            counter: 8
        })
    );
}

#[test]
fn counters_report_each_store() {
    let f = Fixture::new();
    let mut store = f.store();
    store.put(b"a", b"1").unwrap();
    let status = counters(f.platform.home()).unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].counter, Ok(1));
    assert_eq!(status[0].state_version, Ok(Some(1)));
    assert_eq!(status[0].verdict(), "ok");
}

#[test]
fn the_tree_built_whole_matches_the_tree_updated_path_by_path() {
    let f = Fixture::new();
    let mut store = f.store();
    store.begin().unwrap();
    for i in 0..2000u32 {
        store.put(&i.to_be_bytes(), b"v").unwrap();
    }
    store.end();
    // `load` recomputes the whole tree from the records and compares it with the sealed root
    // the updates left.
    assert_eq!(f.store().load().unwrap().entries.len(), 2000);
}

#[test]
fn nodes_decode_only_their_one_encoding() {
    use tree::Node;
    let mut bytes = vec![0x80, 0x01];
    bytes.extend_from_slice(&[1; 32]);
    bytes.extend_from_slice(&[2; 32]);
    let node = Node::decode(&bytes).unwrap();
    assert_eq!(node.encode().unwrap(), bytes);
    assert!(
        Node::decode(&[0, 0]).is_err(),
        "an empty node is never stored"
    );
    assert!(Node::decode(&bytes[..65]).is_err());
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(Node::decode(&trailing).is_err());
    let mut zero_child = vec![0x00, 0x01];
    zero_child.extend_from_slice(&[0; 32]);
    assert!(
        Node::decode(&zero_child).is_err(),
        "an empty child is never listed"
    );
}

fn entries(pairs: &[(&[u8], &[u8])]) -> BTreeMap<Vec<u8>, Zeroizing<Vec<u8>>> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_vec(), Zeroizing::new(v.to_vec())))
        .collect()
}

#[test]
fn entries_encode_canonically_and_round_trip() {
    let map = entries(&[(b"b", b"2"), (b"a", b""), (b"", b"empty key")]);
    let bytes = encode_entries(&map);
    assert_eq!(&bytes[..4], &[0, 0, 0, 3]);
    // The empty key first: length 0, then its value.
    assert_eq!(&bytes[4..10], &[0, 0, 0, 0, 0, 9]);
    assert_eq!(decode_entries(&bytes).unwrap(), map);
    assert_eq!(&*encode_entries(&BTreeMap::new()), &[0, 0, 0, 0]);
}

#[test]
fn non_canonical_entries_are_refused() {
    let a_then_a = [0, 0, 0, 2, 0, 1, b'a', 0, 0, 0, 0, 0, 1, b'a', 0, 0, 0, 0];
    assert_eq!(
        decode_entries(&a_then_a),
        Err("keys not in strictly ascending order")
    );
    let b_then_a = [0, 0, 0, 2, 0, 1, b'b', 0, 0, 0, 0, 0, 1, b'a', 0, 0, 0, 0];
    assert!(decode_entries(&b_then_a).is_err());
    let good = encode_entries(&entries(&[(b"k", b"v")]));
    let mut trailing = good.to_vec();
    trailing.push(0);
    assert_eq!(
        decode_entries(&trailing),
        Err("trailing bytes after the entries")
    );
    for len in 0..good.len() {
        assert!(decode_entries(&good[..len]).is_err(), "truncated to {len}");
    }
    let long_key = encode_entries(&entries(&[(&[0u8; MAX_KEY + 1], b"")]));
    assert!(decode_entries(&long_key).is_err());
}

#[test]
fn counters_parse_strictly() {
    assert_eq!(parse_counter(b"0\n"), Some(0));
    assert_eq!(parse_counter(b"18446744073709551615\n"), Some(u64::MAX));
    for bad in [
        &b"1"[..],
        b"01\n",
        b"+1\n",
        b" 1\n",
        b"1\n\n",
        b"\n",
        b"-1\n",
        b"x\n",
    ] {
        assert_eq!(parse_counter(bad), None, "{bad:?}");
    }
}

#[test]
fn head_aad_round_trips() {
    let id = StoreId([0xab; 32]);
    let aad = head::head_aad(&id, 42);
    assert_eq!(head::parse_head_aad(&aad), Some((id, 42)));
    assert_eq!(head::parse_head_aad(&aad[..39]), None);
    assert_eq!(StoreId::from_hex(&id.to_string()), Some(id));
    assert_eq!(StoreId::from_hex(&id.to_string().to_uppercase()), None);
}

#[test]
fn counter_verdicts() {
    let status = |counter, state| CounterStatus {
        id: StoreId([0; 32]),
        counter: Ok(counter),
        state_version: Ok(state),
    };
    assert_eq!(status(3, Some(3)).verdict(), "ok");
    assert_eq!(status(3, Some(4)).verdict(), "pending");
    assert_eq!(status(3, Some(2)).verdict(), "rolled back");
    assert_eq!(status(3, Some(5)).verdict(), "ahead");
    assert_eq!(status(0, None).verdict(), "empty");
    assert_eq!(status(1, None).verdict(), "missing");
}

/// The store across a TCB upgrade: what was written at TCB 1 reads at TCB 2, the next write
/// re-seals the head at TCB 2, and the platform's secrets from before the upgrade (its home
/// restored from a backup) then refuse the store by its TCB.
#[test]
fn the_store_follows_a_tcb_upgrade_and_refuses_a_rolled_back_platform() {
    let f = Fixture::new();
    let home = f.platform.home().to_owned();
    f.store().put(b"a", b"at 1").unwrap();
    let backup = home.with_file_name("backup");
    crate::home::tests::copy_home(&home, &backup);
    let head_tcb = |store: &SealedStore| {
        let head = StoreFile::open(&store.paths().state)
            .unwrap()
            .unwrap()
            .head()
            .unwrap()
            .unwrap();
        blob::read_header(BlobKind::StoreState, &head).unwrap().tcb
    };
    assert_eq!(head_tcb(&f.store()), 1);

    let key = std::fs::read_to_string(home.join(crate::file::ROOT_KEY)).unwrap();
    let cert = std::fs::read_to_string(home.join(crate::file::ROOT_CERT)).unwrap();
    let vendor = attest::platform::VendorCa::from_pem(&key, &cert).unwrap();
    let upgraded = Arc::new(Platform::upgrade(&home, &vendor, 2, SystemTime::now()).unwrap());
    let store_on =
        |platform: &Arc<Platform>| SealedStore::new(platform.clone(), f.store().context.identity);
    assert_eq!(
        store_on(&upgraded).get(b"a").unwrap().unwrap().as_slice(),
        b"at 1"
    );
    assert_eq!(head_tcb(&store_on(&upgraded)), 1, "a read writes nothing");
    store_on(&upgraded).put(b"b", b"at 2").unwrap();
    assert_eq!(
        head_tcb(&store_on(&upgraded)),
        2,
        "the next write re-seals the head"
    );

    // The platform's secrets and certificate from the backup, the store and counters of now.
    for name in [
        crate::file::SECRET,
        crate::file::ATTESTATION_KEY,
        crate::file::ATTESTATION_CHAIN,
        crate::file::CONFIG,
    ] {
        std::fs::copy(backup.join(name), home.join(name)).unwrap();
    }
    let restored = Arc::new(Platform::open(&home).unwrap());
    assert_eq!(restored.tcb(), 1);
    let error = store_on(&restored).get(b"a").unwrap_err();
    assert_eq!(
        error,
        StoreError::Refused {
            path: store_on(&restored).paths().state.clone(),
            reason: "sealed at TCB 2; this platform is at TCB 1".into(),
        }
    );
}

#[test]
fn a_store_in_format_2_is_migrated_and_its_old_file_is_then_rolled_back() {
    let f = Fixture::new();
    let store = f.store();
    let paths = store.paths().clone();
    std::fs::create_dir_all(&paths.dir).unwrap();
    std::fs::create_dir_all(paths.counter.parent().unwrap()).unwrap();
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..300u32)
        .map(|i| (i.to_be_bytes().to_vec(), vec![i as u8; 20]))
        .collect();
    let borrowed: Vec<(&[u8], &[u8])> = pairs
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect();
    v2::write_for_test(
        &paths.state,
        &f.platform,
        &store.context.identity,
        store.id(),
        9,
        &borrowed,
    );
    std::fs::write(&paths.counter, b"9\n").unwrap();
    let old = std::fs::read(&paths.state).unwrap();
    assert_eq!(f.get(&7u32.to_be_bytes()).unwrap().unwrap(), vec![7u8; 20]);
    assert_eq!(std::fs::read(&paths.counter).unwrap(), b"10\n");
    let state = f.store().load().unwrap();
    assert_eq!((state.version, state.entries.len()), (10, 300));
    assert!(
        raw(&paths.state).records.len() > 200,
        "one record per bucket"
    );
    std::fs::write(&paths.state, &old).unwrap();
    assert_eq!(
        f.get(b"a"),
        Err(StoreError::RolledBack {
            state: 9,
            counter: 10
        })
    );
}

#[test]
fn a_format_2_store_that_does_not_match_its_root_is_refused_not_migrated() {
    let f = Fixture::new();
    let store = f.store();
    let paths = store.paths().clone();
    std::fs::create_dir_all(&paths.dir).unwrap();
    std::fs::create_dir_all(paths.counter.parent().unwrap()).unwrap();
    v2::write_for_test(
        &paths.state,
        &f.platform,
        &store.context.identity,
        store.id(),
        1,
        &[(b"a", b"1"), (b"b", b"2")],
    );
    std::fs::write(&paths.counter, b"1\n").unwrap();
    edit(&paths.state, |txn| {
        let table: redb::TableDefinition<'_, &[u8; 16], &[u8]> =
            redb::TableDefinition::new("records");
        let mut records = txn.open_table(table).unwrap();
        let first = *records.first().unwrap().unwrap().0.value();
        records.remove(&first).unwrap();
    });
    assert!(integrity_failure(f.get(b"a")));
    assert_eq!(std::fs::read(&paths.counter).unwrap(), b"1\n");
}

#[test]
fn a_bulk_update_equals_the_same_updates_one_by_one() {
    let f = Fixture::new();
    let mut store = f.store();
    let keys: Vec<[u8; 4]> = (0..3000u32).map(u32::to_be_bytes).collect();
    let mut changes: Vec<(&[u8], &[u8])> = keys.iter().map(|k| (&k[..], &b"first"[..])).collect();
    // Later changes of the same key win, as they would one by one.
    changes.extend(keys.iter().step_by(7).map(|k| (&k[..], &b"second"[..])));
    assert_eq!(store.put_all(&changes).unwrap(), 1);
    let state = f.store().load().unwrap();
    assert_eq!(state.entries.len(), 3000);
    assert_eq!(state.entries[&keys[7].to_vec()].as_slice(), b"second");
    assert_eq!(state.entries[&keys[8].to_vec()].as_slice(), b"first");
    assert!(store.delete(&keys[7]).unwrap());
    assert_eq!(f.store().load().unwrap().entries.len(), 2999);
}

/// The head and keys a store has now, as a platform that can open its head sees them (the
/// file closed again).
fn loaded(store: &SealedStore) -> Loaded {
    let _lock = store.context.take_lock().unwrap();
    let mut loaded = store.context.load().unwrap();
    loaded.file = None;
    loaded
}

/// After a TCB upgrade the first write rotates the data key: a platform rolled back to the old
/// level that kept the old head (and so the old data key) cannot read what was written since.
#[test]
fn the_first_write_at_a_new_tcb_rotates_the_data_key() {
    let f = Fixture::new();
    let home = f.platform.home().to_owned();
    let mut store = f.store();
    for i in 0..40u8 {
        store.put(&[i], b"at 1").unwrap();
    }
    let old = loaded(&f.store());
    assert_eq!((old.head.tcb, old.head.sealed), (1, 40));
    let key = std::fs::read_to_string(home.join(crate::file::ROOT_KEY)).unwrap();
    let cert = std::fs::read_to_string(home.join(crate::file::ROOT_CERT)).unwrap();
    let vendor = attest::platform::VendorCa::from_pem(&key, &cert).unwrap();
    let upgraded = Arc::new(Platform::upgrade(&home, &vendor, 2, SystemTime::now()).unwrap());
    let mut store = SealedStore::new(upgraded, f.store().context.identity);
    assert_eq!(store.put(b"after", b"at 2").unwrap(), 41);
    let new = loaded(&store);
    assert_eq!(new.head.tcb, 2);
    assert_ne!(new.head.data_key.0, old.head.data_key.0);
    assert_eq!(new.head.count, 41);
    assert_eq!(
        new.head.sealed,
        raw(&store.paths().state).records.len() as u64
    );
    // Not one record opens under the keys of the old data key.
    for (bucket, record) in raw(&store.paths().state).records {
        assert!(old.keys.open(bucket, &record).is_err());
    }
    assert_eq!(store.load().unwrap().entries.len(), 41);
}

/// After 2^31 records sealed under one data key, the next write rotates it.
#[test]
fn the_data_key_rotates_before_its_nonce_budget_runs_out() {
    let f = Fixture::new();
    let mut store = f.store();
    store.put(b"a", b"1").unwrap();
    store.put(b"b", b"2").unwrap();
    let path = store.paths().state.clone();
    let mut head = loaded(&store).head;
    head.sealed = ROTATE_AFTER;
    let sealed = head
        .seal(&f.platform, &store.context.identity, &store.id())
        .unwrap();
    edit(&path, |txn| {
        txn.open_table(HEADS)
            .unwrap()
            .insert(HEAD_KEY, sealed.as_slice())
            .unwrap();
    });
    store.put(b"c", b"3").unwrap();
    let after = loaded(&store).head;
    assert_ne!(after.data_key.0, head.data_key.0);
    assert!(after.sealed <= 3, "{}", after.sealed);
    assert_eq!(f.get(b"a").unwrap().unwrap(), b"1");
    assert_eq!(f.store().load().unwrap().entries.len(), 3);
}

#[test]
fn compaction_is_due_for_freed_space_not_for_growth() {
    use database::compaction_due;
    const MIB: u64 = 1 << 20;
    // 100 MiB of data, compacted: 160 MiB; redb doubles it to 320 MiB, a hole until written.
    assert!(!compaction_due(160 * MIB, 160 * MIB, 100 * MIB));
    assert!(!compaction_due(320 * MIB, 170 * MIB, 100 * MIB));
    // Pages freed by updates and not reused take space on disk.
    assert!(compaction_due(320 * MIB, 310 * MIB, 100 * MIB));
    // Without holes only the length counts, and doubling a compacted file does not reach 4x.
    assert!(!compaction_due(320 * MIB, 320 * MIB, 100 * MIB));
    assert!(compaction_due(420 * MIB, 420 * MIB, 100 * MIB));
    // Small stores are mostly redb's own structures.
    assert!(!compaction_due(MIB, MIB, 0));
}

#[test]
fn errors_leave_the_platform_without_host_paths() {
    let home = Path::new("/srv/platform");
    let refused = StoreError::Refused {
        path: home.join("store/ab/state"),
        reason: "integrity check failed".into(),
    };
    assert_eq!(
        refused.relative_to(home).to_string(),
        "store/ab/state: sealed state refused: integrity check failed"
    );
    let elsewhere = StoreError::Io {
        path: PathBuf::from("/elsewhere/counters/ab"),
        message: "permission denied".into(),
    };
    assert_eq!(
        elsewhere.relative_to(home).to_string(),
        "ab: permission denied"
    );
    let rolled = StoreError::RolledBack {
        state: 1,
        counter: 2,
    };
    assert_eq!(rolled.clone().relative_to(home), rolled);
}

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]

use super::*;

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
fn state_aad_round_trips() {
    let id = StoreId([0xab; 32]);
    let aad = state_aad(&id, 42);
    assert_eq!(parse_state_aad(&aad), Some((id, 42)));
    assert_eq!(parse_state_aad(&aad[..39]), None);
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

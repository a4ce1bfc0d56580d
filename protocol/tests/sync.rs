//! Range fingerprints: order independent, incrementally updatable, sensitive to every
//! register's state; range splitting covers the range exactly.

mod common;

use argus_protocol::ids::ImageId;
use argus_protocol::sync::{fingerprint_entry, fingerprint_of, split_range, xor_into};
use proptest::prelude::*;

fn entries(n: usize) -> Vec<(ImageId, [u8; 32])> {
    (0..n).map(|i| (ImageId::of_bytes(&i.to_le_bytes()), *blake3::hash(&[i as u8; 3]).as_bytes())).collect()
}

#[test]
fn fingerprint_is_order_independent_and_incremental() {
    let e = entries(10);
    let fp = fingerprint_of(e.iter().map(|(a, b)| (a, b)));
    assert_eq!(fp, fingerprint_of(e.iter().rev().map(|(a, b)| (a, b))));
    assert_eq!(fingerprint_of(std::iter::empty()), [0; 32]);
    // Register 3 changes state: XOR out the old entry, XOR in the new one.
    let mut changed = e.clone();
    changed[3].1[0] ^= 1;
    let mut updated = fp;
    xor_into(&mut updated, &fingerprint_entry(&e[3].0, &e[3].1));
    xor_into(&mut updated, &fingerprint_entry(&changed[3].0, &changed[3].1));
    assert_ne!(updated, fp);
    assert_eq!(updated, fingerprint_of(changed.iter().map(|(a, b)| (a, b))));
    // Entry layout: BLAKE3(image_id || state_hash).
    let mut concat = e[0].0.0.to_vec();
    concat.extend_from_slice(&e[0].1);
    assert_eq!(fingerprint_entry(&e[0].0, &e[0].1), *blake3::hash(&concat).as_bytes());
}

#[test]
fn split_range_examples() {
    assert_eq!(split_range(0, 100, 4), [(0, 25), (25, 50), (50, 75), (75, 100)]);
    assert_eq!(split_range(10, 13, 4), [(10, 10), (10, 11), (11, 12), (12, 13)]);
    assert_eq!(split_range(5, 9, 0), [(5, 9)]);
    assert_eq!(split_range(0, u64::MAX, 2), [(0, u64::MAX / 2), (u64::MAX / 2, u64::MAX)]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn split_range_tiles_the_range(start in any::<u64>(), width in any::<u64>(), parts in 1u16..=64) {
        let end = start.saturating_add(width);
        let p = split_range(start, end, parts);
        prop_assert_eq!(p.len(), usize::from(parts));
        prop_assert_eq!(p[0].0, start);
        prop_assert_eq!(p[p.len() - 1].1, end);
        for w in p.windows(2) {
            prop_assert_eq!(w[0].1, w[1].0);
        }
        for (s, e) in p {
            prop_assert!(s <= e);
        }
    }

    #[test]
    fn removing_or_changing_any_entry_changes_the_fingerprint(n in 1usize..40, which in any::<prop::sample::Index>()) {
        let e = entries(n);
        let fp = fingerprint_of(e.iter().map(|(a, b)| (a, b)));
        let i = which.index(n);
        let without: Vec<_> = e.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, x)| x).collect();
        prop_assert_ne!(fingerprint_of(without.iter().map(|(a, b)| (a, b))), fp);
        let mut changed = e.clone();
        changed[i].1[31] ^= 0x80;
        prop_assert_ne!(fingerprint_of(changed.iter().map(|(a, b)| (a, b))), fp);
    }
}

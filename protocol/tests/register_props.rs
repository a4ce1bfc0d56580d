//! Property tests of the register: merge is a join-semilattice (commutative, associative,
//! idempotent, and equal to inserting everything in one go), the winner never loses when
//! attestations are added to it, the bounds hold, and forged attestations never count.

mod common;

use argus_protocol::attestation::Attestation;
use argus_protocol::limits::{MAX_ATTESTATIONS, MAX_CANDIDATES};
use argus_protocol::register::Register;
use common::{N_KEYS, N_SETS, N_TS, image, pool};
use proptest::prelude::*;
use serde_bytes::ByteBuf;

type Op = (usize, usize, usize);

/// Ops concentrated on a few keys and sets (so candidates collect several votes), mixed with
/// ops over the whole pool (so the candidate bound is reached).
fn ops(max_len: usize) -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![(0..6usize, 0..4usize, 0..N_TS), (0..N_KEYS, 0..N_SETS, 0..N_TS),];
    prop::collection::vec(op, 0..max_len)
}

fn merged(a: &Register, b: &Register) -> Register {
    let mut out = a.clone();
    out.merge(b).expect("same image");
    out
}

fn check_bounds(r: &Register) -> Result<(), TestCaseError> {
    prop_assert!(r.len() <= MAX_CANDIDATES);
    for (_, c) in r.candidates() {
        prop_assert!(c.votes() >= 1);
        prop_assert!(c.votes() <= MAX_ATTESTATIONS);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn merge_is_commutative(a in ops(60), b in ops(60)) {
        let (ra, rb) = (pool().register(&a), pool().register(&b));
        let (ab, ba) = (merged(&ra, &rb), merged(&rb, &ra));
        prop_assert_eq!(ab.state_hash(), ba.state_hash());
        prop_assert_eq!(ab, ba);
    }

    #[test]
    fn merge_is_associative(a in ops(50), b in ops(50), c in ops(50)) {
        let (ra, rb, rc) = (pool().register(&a), pool().register(&b), pool().register(&c));
        let left = merged(&merged(&ra, &rb), &rc);
        let right = merged(&ra, &merged(&rb, &rc));
        prop_assert_eq!(left.state_hash(), right.state_hash());
        prop_assert_eq!(left, right);
    }

    #[test]
    fn merge_is_idempotent(a in ops(80)) {
        let ra = pool().register(&a);
        let mut twice = ra.clone();
        prop_assert!(!twice.merge(&ra).expect("same image"), "merging itself changed it");
        prop_assert_eq!(twice, ra);
    }

    /// Merging two replicas gives what one replica gets by seeing every insert, in any order.
    #[test]
    fn merge_equals_inserting_everything(a in ops(60), b in ops(60)) {
        let all: Vec<Op> = b.iter().chain(a.iter()).copied().collect();
        let (ra, rb) = (pool().register(&a), pool().register(&b));
        prop_assert_eq!(merged(&ra, &rb), pool().register(&all));
    }

    /// Keys are drawn from the first 48 so no candidate reaches `MAX_ATTESTATIONS`: at the cap
    /// an eviction may lower the winner's latest timestamp (documented in `register`).
    #[test]
    fn winner_never_loses_when_attested(a in ops(80), k in 0..48usize, t in 0..N_TS) {
        let p = pool();
        let a: Vec<Op> = a.into_iter().map(|(k, s, t)| (k % 48, s, t)).collect();
        let mut r = p.register(&a);
        let Some((winner, _)) = r.winner() else { return Ok(()) };
        let winner = *winner;
        let set = p.digests.iter().position(|d| *d == winner).expect("pool digest");
        r.insert(&common::model(), &p.sets[set], p.att(k, set, t).clone()).expect("valid");
        prop_assert_eq!(r.winner().map(|(d, _)| *d), Some(winner));
    }

    #[test]
    fn bounds_hold(a in prop::collection::vec((0..N_KEYS, 0..2usize, 0..N_TS), 0..300), b in ops(120)) {
        let (ra, rb) = (pool().register(&a), pool().register(&b));
        check_bounds(&ra)?;
        check_bounds(&rb)?;
        let m = merged(&ra, &rb);
        check_bounds(&m)?;
        // The kept candidates are the smallest digests of everything seen.
        let mut seen: Vec<_> = a.iter().chain(b.iter()).map(|op| pool().digests[op.1]).collect();
        seen.sort();
        seen.dedup();
        seen.truncate(MAX_CANDIDATES);
        let kept: Vec<_> = m.candidates().map(|(d, _)| *d).collect();
        prop_assert_eq!(kept, seen);
    }

    #[test]
    fn forged_attestation_never_counts(a in ops(40), k in 0..N_KEYS, s in 0..N_SETS, t in 0..N_TS,
                                       how in 0..5u8, pos in 0..64usize) {
        let p = pool();
        let honest = p.register(&a);
        let att = p.att(k, s, t);
        let mut wire = att.to_wire();
        let (mut img, mut digest) = (image(), p.digests[s]);
        match how {
            0 => wire.public_key = ByteBuf::from(p.keys[(k + 1) % N_KEYS].public().encode_protobuf()),
            1 => wire.signature[pos] ^= 1 << (pos % 8),
            2 => digest = p.digests[(s + 1) % N_SETS],
            3 => img.0[pos % 32] ^= 1,
            _ => wire.ts = argus_protocol::hlc::HlcTimestamp(wire.ts.0 ^ (1 << (pos % 64))),
        }
        prop_assert!(Attestation::verify(&wire, &img, &digest).is_err());
        // Smuggled into a register's wire form for the attacked digest, it is refused.
        let mut rw = honest.to_wire();
        let target = p.digests.iter().position(|d| *d == digest).unwrap_or(s);
        match rw.candidates.iter_mut().find(|c| c.digest == p.digests[target]) {
            Some(c) if c.attestations.len() < MAX_ATTESTATIONS => c.attestations.push(wire),
            Some(_) => return Ok(()),
            None => rw.candidates.push(argus_protocol::register_wire::CandidateWire {
                digest: p.digests[target],
                model: common::model(),
                detections: p.sets[target].clone(),
                attestations: vec![wire],
            }),
        }
        if rw.candidates.len() > MAX_CANDIDATES {
            return Ok(());
        }
        if how == 3 {
            // A tampered image cannot be placed in this register; it was refused above.
            return Ok(());
        }
        let (back, refused) = Register::from_wire(&rw).expect("within bounds");
        prop_assert_eq!(refused.attestations, 1);
        prop_assert_eq!(back, honest);
    }
}

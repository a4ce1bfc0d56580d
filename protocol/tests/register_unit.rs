//! Register and attestation rules case by case: what `insert` refuses, one vote per node, the
//! attestation bound keeps the smallest node ids, the winner order, what `from_wire` drops and
//! counts, what `state_hash` notices, and that `agreeing` never crosses models or weights.

mod common;

use argus_protocol::attestation::{AttestError, Attestation, SIGNED_PAYLOAD_BYTES, signed_payload};
use argus_protocol::ids::ImageId;
use argus_protocol::limits::{MAX_ATTESTATIONS, MAX_CANDIDATES};
use argus_protocol::register::{Register, RegisterError};
use argus_protocol::result::result_digest;
use common::{N_KEYS, det, image, model, other_model, pool, retrained_model, ts};
use serde_bytes::ByteBuf;

#[test]
fn insert_refuses_wrong_image_digest_and_bad_detections() {
    let p = pool();
    let mut r = Register::new(ImageId::of_bytes(b"another image"), 0);
    assert!(matches!(
        r.insert(&model(), &p.sets[0], p.att(0, 0, 0).clone()),
        Err(RegisterError::WrongImage { .. })
    ));
    let mut r = Register::new(image(), 0);
    assert!(matches!(
        r.insert(&model(), &p.sets[1], p.att(0, 0, 0).clone()),
        Err(RegisterError::DigestMismatch { .. })
    ));
    let bad = vec![det(1, f32::NAN, 0.0, 0.0, 1.0, 1.0)];
    let att = Attestation::sign(&p.keys[0], &image(), &result_digest(&model(), &bad), ts(0)).unwrap();
    assert!(matches!(r.insert(&model(), &bad, att), Err(RegisterError::Detections(_))));
    let badly_named = argus_protocol::ModelRef::new("Shapes", model().weights);
    let digest = result_digest(&badly_named, &p.sets[0]);
    let att = Attestation::sign(&p.keys[0], &image(), &digest, ts(0)).unwrap();
    assert!(matches!(r.insert(&badly_named, &p.sets[0], att), Err(RegisterError::Model(_))));
    // The right detections under another model do not hash to the attested digest.
    assert!(matches!(
        r.insert(&other_model(), &p.sets[0], p.att(0, 0, 0).clone()),
        Err(RegisterError::DigestMismatch { .. })
    ));
    assert!(r.is_empty());
    let mut other = Register::new(ImageId::of_bytes(b"x"), 0);
    assert!(matches!(other.merge(&p.register(&[(0, 0, 0)])), Err(RegisterError::WrongImage { .. })));
}

#[test]
fn one_vote_per_node_keeping_the_latest_signature() {
    let p = pool();
    let mut r = p.register(&[(3, 0, 0)]);
    assert!(r.insert(&model(), &p.sets[0], p.att(3, 0, 2).clone()).unwrap());
    assert!(!r.insert(&model(), &p.sets[0], p.att(3, 0, 1).clone()).unwrap(), "older one replaced the newer");
    assert!(!r.insert(&model(), &p.sets[0], p.att(3, 0, 2).clone()).unwrap(), "duplicate changed it");
    let c = r.candidate(&p.digests[0]).unwrap();
    assert_eq!(c.votes(), 1);
    assert_eq!(c.latest_ts(), ts(2));
    assert!(c.attested_by(&p.nodes[3]));
    assert_eq!(r, p.register(&[(3, 0, 2), (3, 0, 0), (3, 0, 1)]));
}

#[test]
fn attestation_bound_keeps_the_smallest_node_ids() {
    let p = pool();
    let ops: Vec<_> = (0..N_KEYS).rev().map(|k| (k, 0, 0)).collect();
    let r = p.register(&ops);
    let c = r.candidate(&p.digests[0]).unwrap();
    assert_eq!(c.votes(), MAX_ATTESTATIONS);
    let mut nodes = p.nodes.clone();
    nodes.sort();
    let kept: Vec<_> = c.attestations().map(|a| *a.node()).collect();
    assert_eq!(kept, nodes[..MAX_ATTESTATIONS]);
    // Node order is the byte order of the PeerId bytes (docs/PROTOCOL.md).
    let mut by_bytes = p.nodes.clone();
    by_bytes.sort_by_key(|n| n.to_bytes());
    assert_eq!(by_bytes, nodes);
    // A node above the cut does not change a full candidate.
    let mut full = r.clone();
    let largest = p.nodes.iter().position(|n| *n == nodes[N_KEYS - 1]).unwrap();
    assert!(!full.insert(&model(), &p.sets[0], p.att(largest, 0, 1).clone()).unwrap());
}

#[test]
fn candidate_bound_keeps_the_smallest_digests() {
    let p = pool();
    let ops: Vec<_> = (0..p.sets.len()).map(|s| (0, s, 0)).collect();
    let r = p.register(&ops);
    assert_eq!(r.len(), MAX_CANDIDATES);
    let mut digests = p.digests.clone();
    digests.sort();
    let kept: Vec<_> = r.candidates().map(|(d, _)| *d).collect();
    assert_eq!(kept, digests[..MAX_CANDIDATES]);
}

#[test]
fn winner_is_most_votes_then_latest_then_largest_digest() {
    let p = pool();
    let r = p.register(&[(0, 0, 2), (1, 1, 0), (2, 1, 0)]);
    assert_eq!(r.winner().unwrap().0, &p.digests[1], "two votes beat one later vote");
    let r = p.register(&[(0, 0, 2), (1, 1, 1)]);
    assert_eq!(r.winner().unwrap().0, &p.digests[0], "tied votes: later timestamp");
    let r = p.register(&[(0, 0, 1), (1, 1, 1)]);
    let larger = p.digests[0].max(p.digests[1]);
    assert_eq!(r.winner().unwrap().0, &larger, "full tie: larger digest");
    assert!(Register::new(image(), 0).winner().is_none());
}

#[test]
fn from_wire_round_trips_and_counts_what_it_drops() {
    let p = pool();
    let r = p.register(&[(0, 0, 0), (1, 0, 1), (2, 3, 2), (4, 7, 0)]);
    let (back, refused) = Register::from_wire(&r.to_wire()).unwrap();
    assert_eq!(back, r);
    assert!(refused.is_empty());

    let mut w = r.to_wire();
    let two_votes = w.candidates.iter().position(|c| c.digest == p.digests[0]).unwrap();
    w.candidates[two_votes].attestations[0].signature[5] ^= 0x10; // forged vote
    let i = w.candidates.iter().position(|c| c.digest == p.digests[3]).unwrap();
    w.candidates[i].detections.push(det(9, 0.5, 0.0, 0.0, 1.0, 1.0)); // value no longer matches
    let (back, refused) = Register::from_wire(&w).unwrap();
    assert_eq!((refused.attestations, refused.candidates), (1, 1));
    assert_eq!(back.len(), 2);
    assert_eq!(back.candidates().map(|(_, c)| c.votes()).sum::<usize>(), 2);

    let mut only_forged = p.register(&[(5, 9, 0)]).to_wire();
    only_forged.candidates[0].attestations[0].public_key =
        ByteBuf::from(p.keys[6].public().encode_protobuf());
    let (back, refused) = Register::from_wire(&only_forged).unwrap();
    assert!(back.is_empty());
    assert_eq!((refused.attestations, refused.candidates), (1, 1));
}

#[test]
fn from_wire_refuses_registers_over_the_bounds() {
    let p = pool();
    let mut w = p.register(&[(0, 0, 0)]).to_wire();
    let c = w.candidates[0].clone();
    w.candidates = vec![c.clone(); MAX_CANDIDATES + 1];
    assert!(matches!(Register::from_wire(&w), Err(RegisterError::TooManyCandidates { .. })));
    let mut big = c;
    big.attestations = (0..=MAX_ATTESTATIONS).map(|k| p.att(k, 0, 0).to_wire()).collect();
    w.candidates = vec![big];
    assert!(matches!(Register::from_wire(&w), Err(RegisterError::TooManyAttestations { .. })));
}

#[test]
fn state_hash_sees_every_change() {
    let p = pool();
    let r = p.register(&[(0, 0, 0), (1, 2, 0)]);
    assert_eq!(r.state_hash(), p.register(&[(1, 2, 0), (0, 0, 0)]).state_hash());
    let variants = [
        p.register(&[(0, 0, 0), (1, 2, 0), (2, 2, 0)]),
        p.register(&[(0, 0, 1), (1, 2, 0)]),
        p.register(&[(0, 0, 0)]),
        {
            let mut earlier = Register::new(image(), 5);
            earlier.merge(&r).unwrap();
            earlier
        },
    ];
    for v in variants {
        assert_ne!(v.state_hash(), r.state_hash());
    }
    let mut merged = Register::new(image(), u64::MAX);
    merged.merge(&r).unwrap();
    assert_eq!(merged.captured_at_ms(), r.captured_at_ms());
}

#[test]
fn attestation_verification_refuses_bad_keys_and_signatures() {
    let p = pool();
    let a = p.att(0, 0, 0);
    let (img, digest) = (image(), p.digests[0]);
    assert_eq!(Attestation::verify(&a.to_wire(), &img, &digest).unwrap(), *a);
    let mut w = a.to_wire();
    w.public_key = ByteBuf::from(vec![0x08, 0x01, 0x12, 0x03, 1, 2, 3]);
    assert!(matches!(Attestation::verify(&w, &img, &digest), Err(AttestError::BadKey(_))));
    w.public_key = ByteBuf::from(vec![0; 65]);
    assert!(matches!(Attestation::verify(&w, &img, &digest), Err(AttestError::KeyTooLong { .. })));
    let mut w = a.to_wire();
    w.signature.pop();
    assert_eq!(Attestation::verify(&w, &img, &digest), Err(AttestError::SignatureLength { len: 63 }));
    let w = a.to_wire();
    let other = p.nodes[1];
    assert!(matches!(
        Attestation::verify_from(&w, &img, &digest, &other),
        Err(AttestError::WrongSigner { .. })
    ));
    assert_eq!(a.node(), &p.nodes[0]);
}

#[test]
fn signed_payload_layout() {
    let (img, digest) = (image(), pool().digests[0]);
    let payload = signed_payload(&img, &digest, ts(1));
    assert_eq!(payload.len(), SIGNED_PAYLOAD_BYTES);
    assert_eq!(&payload[..15], b"argus/attest/v1");
    assert_eq!(&payload[15..47], img.as_bytes());
    assert_eq!(&payload[47..79], digest.as_bytes());
    assert_eq!(payload[79..], ts(1).0.to_be_bytes());
}

#[test]
fn agreeing_finds_the_candidate_a_near_identical_result_should_vote_for() {
    let p = pool();
    // Set 0 attested by one node, set 4 (another class, other boxes) by two.
    let r = p.register(&[(0, 0, 0), (1, 4, 0), (2, 4, 0)]);
    // Set 0 as another backend computes it: the same boxes and scores but for float rounding.
    let nudged: Vec<_> = p.sets[0]
        .iter()
        .map(|d| {
            let mut d = *d;
            d.score += 1e-6;
            d.bbox.x_min += 1e-4;
            d.bbox.y_max -= 1e-4;
            d
        })
        .collect();
    assert_ne!(
        result_digest(&model(), &nudged),
        p.digests[0],
        "the nudged result must be a different candidate"
    );
    let (digest, c) = r.agreeing(&model(), &nudged).expect("the nudged result agrees with set 0");
    assert_eq!(*digest, p.digests[0]);
    assert_eq!(c.votes(), 1);
    // Set 4's candidate has more votes but does not agree: not chosen.
    assert!(r.agreeing(&model(), &p.sets[4]).is_some_and(|(d, _)| *d == p.digests[4]));
    // A result nothing stored agrees with (another class, other boxes).
    assert!(r.agreeing(&model(), &p.sets[2]).is_none());
    // An empty result agrees only with an empty candidate.
    assert!(r.agreeing(&model(), &[]).is_none());
    // Two agreeing candidates: the one with more votes wins.
    let mut twice = r.clone();
    let att = Attestation::sign(&p.keys[3], &image(), &result_digest(&model(), &nudged), ts(1)).unwrap();
    twice.insert(&model(), &nudged, att).unwrap();
    let att = Attestation::sign(&p.keys[4], &image(), &result_digest(&model(), &nudged), ts(1)).unwrap();
    twice.insert(&model(), &nudged, att).unwrap();
    let (digest, c) = twice.agreeing(&model(), &p.sets[0]).unwrap();
    assert_eq!((*digest, c.votes()), (result_digest(&model(), &nudged), 2));
}

/// A register with set 0 under `model()` (one vote) and the same detections under `other`
/// (two votes, so it would win if models were ignored).
fn with_rival_model(other: &argus_protocol::ModelRef) -> Register {
    let p = pool();
    let mut r = p.register(&[(0, 0, 0)]);
    let digest = result_digest(other, &p.sets[0]);
    for k in [1, 2] {
        let att = Attestation::sign(&p.keys[k], &image(), &digest, ts(1)).unwrap();
        assert!(r.insert(other, &p.sets[0], att).unwrap());
    }
    r
}

#[test]
fn agreeing_ignores_candidates_of_another_model_or_other_weights() {
    let p = pool();
    for other in [other_model(), retrained_model()] {
        let r = with_rival_model(&other);
        assert_eq!(r.len(), 2, "same detections, two models: two candidates");
        let rival = result_digest(&other, &p.sets[0]);
        assert_eq!(r.candidate(&rival).unwrap().model(), &other);
        assert_eq!(r.candidate(&p.digests[0]).unwrap().model(), &model());
        // Identical detections: each model finds only its own candidate.
        let (d, c) = r.agreeing(&model(), &p.sets[0]).unwrap();
        assert_eq!((*d, c.votes()), (p.digests[0], 1));
        let (d, c) = r.agreeing(&other, &p.sets[0]).unwrap();
        assert_eq!((*d, c.votes()), (rival, 2));
        // A third model, or the same name with yet other weights, finds nothing.
        let third = argus_protocol::ModelRef::new("shapes", argus_protocol::WeightsId([9; 32]));
        assert!(r.agreeing(&third, &p.sets[0]).is_none());
        // With ours gone, the rival's identical detections are still not ours to vote for.
        let only_rival = {
            let mut w = r.to_wire();
            w.candidates.retain(|c| c.digest == rival);
            Register::from_wire(&w).unwrap().0
        };
        assert!(only_rival.agreeing(&model(), &p.sets[0]).is_none());
        // `winner` still ranks across models (the node filters before it asks).
        assert_eq!(r.winner().unwrap().0, &rival);
    }
}

#[test]
fn from_wire_refuses_and_counts_candidates_with_a_bad_model() {
    let p = pool();
    let r = with_rival_model(&other_model());
    let rival = result_digest(&other_model(), &p.sets[0]);
    let wire = r.to_wire();
    let i = wire.candidates.iter().position(|c| c.digest == rival).unwrap();
    // Bad name shapes, each with a digest that matches it: refused for the name alone.
    for bad in ["", "Coco", "a b", &"m".repeat(argus_protocol::limits::MAX_MODEL_NAME_LEN + 1)] {
        let mut w = wire.clone();
        w.candidates[i].model.name = bad.into();
        w.candidates[i].digest = result_digest(&w.candidates[i].model, &w.candidates[i].detections);
        let (back, refused) = Register::from_wire(&w).unwrap();
        assert_eq!((refused.candidates, refused.attestations), (1, 0), "{bad:?}");
        assert_eq!(back, p.register(&[(0, 0, 0)]));
        // And the shape check of query and sync responses refuses the whole register.
        let q = argus_protocol::rpc::QueryResponse { register: Some(w) };
        assert!(argus_protocol::encode_wire(&q).is_err(), "{bad:?}");
    }
    // A valid model ref that the digest does not bind (the model was swapped): refused too.
    let mut w = wire.clone();
    w.candidates[i].model = retrained_model();
    let (back, refused) = Register::from_wire(&w).unwrap();
    assert_eq!((refused.candidates, refused.attestations), (1, 0));
    assert_eq!(back.len(), 1);
    // Untouched, it round-trips with its model.
    assert_eq!(Register::from_wire(&wire).unwrap(), (r, Default::default()));
}

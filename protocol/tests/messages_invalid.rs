//! Semantic rejections of each gossip message kind (`CodecError::Invalid`), on encode and on
//! decode, model names and model refs of a bad shape included, and the signer checks of the
//! attestations messages carry.

mod common;

use argus_protocol::codec::{CodecError, Validate, decode_gossip, encode_gossip};
use argus_protocol::ids::WeightsId;
use argus_protocol::limits::*;
use argus_protocol::messages::*;
use argus_protocol::model_ref::{ModelRef, validate_model_name};
use argus_protocol::result::result_digest;
use argus_protocol::sync::RangeFingerprint;
use common::messages::*;
use common::{det, keypair, model, node_of, other_model};
use serde_bytes::ByteBuf;

fn assert_invalid(msg: GossipMessage) {
    let err = encode_gossip(&msg).expect_err("invalid message encoded");
    assert!(matches!(err, CodecError::Invalid(_)), "{err:?}");
    // And a peer that skips validation when encoding is refused on decode.
    let body = argus_protocol::encode(&msg, MAX_GOSSIP_BYTES).unwrap();
    let env = argus_protocol::encode(
        &argus_protocol::Envelope { v: PROTOCOL_VERSION, body: ByteBuf::from(body) },
        MAX_GOSSIP_BYTES,
    )
    .unwrap();
    assert!(matches!(decode_gossip(&env), Err(CodecError::Invalid(_))));
}

#[test]
fn invalid_gossip_messages_are_refused_both_ways() {
    let mut a = announce(true);
    a.source_name = "x".repeat(MAX_NAME_LEN + 1);
    assert_invalid(GossipMessage::Announce(a));
    let mut a = announce(true);
    a.bytes = Some(ByteBuf::from(b"not the announced image bytes!".to_vec()));
    a.size_bytes = a.bytes.as_ref().unwrap().len() as u64;
    assert_invalid(GossipMessage::Announce(a));
    let mut a = announce(false);
    a.width = 0;
    assert_invalid(GossipMessage::Announce(a));
    let mut a = announce(true);
    a.size_bytes += 1;
    assert_invalid(GossipMessage::Announce(a));

    let mut r = result_msg();
    r.detections[0].score = f32::NAN;
    assert_invalid(GossipMessage::Result(r));
    let mut r = result_msg();
    r.detections.pop();
    assert_invalid(GossipMessage::Result(r)); // digest no longer matches
    let mut r = result_msg();
    r.detections = vec![det(1, 0.5, 0.0, 0.0, 1.0, 1.0); MAX_DETECTIONS + 1];
    r.digest = result_digest(&r.model, &r.detections);
    assert_invalid(GossipMessage::Result(r));
    let mut r = result_msg();
    r.attestation.signature.truncate(10);
    assert_invalid(GossipMessage::Result(r));

    let GossipMessage::AuditRequest(req) = all_gossip().swap_remove(5) else { unreachable!() };
    let mut three = req.clone();
    three.auditors.push(node_of(&keypair(7)));
    assert_invalid(GossipMessage::AuditRequest(three));
    let mut selfish = req.clone();
    selfish.auditors[0] = selfish.worker;
    assert_invalid(GossipMessage::AuditRequest(selfish));
    let mut none = req;
    none.auditors.clear();
    assert_invalid(GossipMessage::AuditRequest(none));

    let mut v = verdict(true);
    v.auditor_detections = Some(dets());
    assert_invalid(GossipMessage::AuditVerdict(v));
    let mut v = verdict(false);
    v.auditor_digest = result_digest(&model(), &dets());
    assert_invalid(GossipMessage::AuditVerdict(v));

    let mut overlapping = ranges();
    overlapping[1].start_ms = 500;
    assert_invalid(GossipMessage::Digest(ReplicaDigest { node: node_of(&keypair(6)), ranges: overlapping }));
    let many =
        vec![RangeFingerprint { start_ms: 0, end_ms: 0, count: 0, fingerprint: [0; 32] }; MAX_RANGES + 1];
    assert_invalid(GossipMessage::Digest(ReplicaDigest { node: node_of(&keypair(6)), ranges: many }));

    let mut h = heartbeat();
    h.audit_ratio = f32::INFINITY;
    assert_invalid(GossipMessage::Heartbeat(h));
    let mut h = heartbeat();
    h.http_addr = Some("a".repeat(MAX_HTTP_ADDR_LEN + 1));
    assert_invalid(GossipMessage::Heartbeat(h));
}

#[test]
fn attestations_in_messages_verify_against_their_signer() {
    let r = result_msg();
    assert_eq!(r.verify_attestation().unwrap().node(), &r.worker);
    let mut wrong_worker = r.clone();
    wrong_worker.worker = node_of(&keypair(3));
    assert!(wrong_worker.verify_attestation().is_err());
    let v = verdict(true);
    assert_eq!(v.verify_attestation().unwrap().unwrap().node(), &v.auditor);
    assert!(verdict(false).verify_attestation().is_none());
}

/// Empty, one byte too long, upper case, a space, a slash, non-ASCII.
fn bad_model_names() -> Vec<String> {
    let mut names: Vec<String> = ["", "Coco", "a b", "coco/v2", "cöco"].map(String::from).to_vec();
    names.push("m".repeat(MAX_MODEL_NAME_LEN + 1));
    names
}

#[test]
fn model_names_are_checked_for_shape_only() {
    for ok in ["coco", "shapes", "nanodet-g_1.5", "0"] {
        assert!(validate_model_name(ok).is_ok(), "{ok}");
    }
    assert_eq!(validate_model_name(&"m".repeat(MAX_MODEL_NAME_LEN)), Ok(()));
    assert_eq!("m".repeat(MAX_MODEL_NAME_LEN + 1).len(), 33);
    for bad in bad_model_names() {
        assert!(validate_model_name(&bad).is_err(), "{bad:?}");
        assert!(ModelRef::new(bad.clone(), WeightsId([0; 32])).validate().is_err(), "{bad:?}");
    }
}

#[test]
fn messages_with_a_bad_model_name_are_refused() {
    for bad in bad_model_names() {
        let mut a = announce(true);
        a.model = bad.clone();
        assert!(a.validate().is_err(), "announce {bad:?}");
        assert_invalid(GossipMessage::Announce(a));

        let mut h = heartbeat();
        h.models[1].name = bad.clone();
        assert!(h.validate().is_err(), "heartbeat {bad:?}");
        assert_invalid(GossipMessage::Heartbeat(h));

        // A result whose digest matches its (badly named) model is still refused.
        let mut r = result_msg();
        r.model.name = bad.clone();
        r.digest = result_digest(&r.model, &r.detections);
        assert_invalid(GossipMessage::Result(r));

        let GossipMessage::AuditRequest(mut req) = all_gossip().swap_remove(5) else { unreachable!() };
        req.model.name = bad.clone();
        assert_invalid(GossipMessage::AuditRequest(req));

        for pass in [true, false] {
            let mut v = verdict(pass);
            v.model.name = bad.clone();
            if !pass {
                v.auditor_digest = result_digest(&v.model, v.auditor_detections.as_ref().unwrap());
            }
            assert_invalid(GossipMessage::AuditVerdict(v));
        }
    }
}

#[test]
fn heartbeats_advertise_at_most_max_models() {
    let mut h = heartbeat();
    h.models = (0..MAX_MODELS).map(|i| ModelRef::new(format!("m{i}"), WeightsId([i as u8; 32]))).collect();
    assert_eq!(h.validate(), Ok(()));
    assert!(encode_gossip(&GossipMessage::Heartbeat(h.clone())).is_ok());
    h.models.push(other_model());
    assert!(h.validate().is_err());
    assert_invalid(GossipMessage::Heartbeat(h.clone()));
    // A node that holds no model yet (still loading) may say so.
    h.models.clear();
    assert_eq!(h.validate(), Ok(()));
}

#[test]
fn results_and_verdicts_hash_under_their_own_model() {
    // The digest of the same detections under other weights or another name does not match.
    for wrong in [other_model(), common::retrained_model()] {
        let mut r = result_msg();
        r.model = wrong.clone();
        assert_invalid(GossipMessage::Result(r));
        let mut v = verdict(false);
        v.model = wrong;
        assert_invalid(GossipMessage::AuditVerdict(v));
    }
    // A PASS verdict carries no detections: its model ref is checked for shape only.
    let mut v = verdict(true);
    v.model = other_model();
    assert_eq!(v.validate(), Ok(()));
}

#[test]
fn invalid_steals_and_handoffs_are_refused_both_ways() {
    let (a, b) = (node_of(&keypair(1)), node_of(&keypair(2)));
    let steal = |count: u32, victim, model: &str| Steal {
        thief: a,
        victim,
        model: model.into(),
        count,
        wait_ms: 0,
        per_image_ms: 10,
    };
    encode_gossip(&GossipMessage::Steal(steal(1, b, "shapes"))).expect("a valid steal");
    assert_invalid(GossipMessage::Steal(steal(0, b, "shapes")));
    assert_invalid(GossipMessage::Steal(steal(MAX_HANDOFF_IMAGES as u32 + 1, b, "shapes")));
    assert_invalid(GossipMessage::Steal(steal(1, a, "shapes")));
    assert_invalid(GossipMessage::Steal(steal(1, b, "no spaces allowed")));

    let image = |i: u32| argus_protocol::ids::ImageId::of_bytes(&i.to_le_bytes());
    let handoff = |to, images: Vec<_>| Handoff { from: a, to, images, wait_ms: 100 };
    encode_gossip(&GossipMessage::Handoff(handoff(b, vec![image(1)]))).expect("a valid handoff");
    assert_invalid(GossipMessage::Handoff(handoff(b, vec![])));
    assert_invalid(GossipMessage::Handoff(handoff(b, (0..=MAX_HANDOFF_IMAGES as u32).map(image).collect())));
    assert_invalid(GossipMessage::Handoff(handoff(b, vec![image(1), image(1)])));
    assert_invalid(GossipMessage::Handoff(handoff(a, vec![image(1)])));
}

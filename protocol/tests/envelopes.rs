//! Test vectors for every gossip envelope kind, the register state hash and the range
//! fingerprint, kept in `protocol/tests/data/vectors.txt` (`name hex` per line) and cited by
//! docs/PROTOCOL.md §8. They are built from the same inputs as `vectors.rs` (secret key 32 bytes
//! of 0x01, image "argus", model "shapes" with weights "weights", one detection, timestamp
//! 1,764,000,000,000 ms counter 1). `ARGUS_WRITE_VECTORS=1` rewrites the file after a
//! deliberate wire change (which is a new protocol version, see §2).

use std::collections::BTreeMap;

use argus_protocol::attestation::Attestation;
use argus_protocol::codec::encode_gossip;
use argus_protocol::detection::{BBox, Detection};
use argus_protocol::hlc::HlcTimestamp;
use argus_protocol::ids::{ImageId, NodeId, WeightsId};
use argus_protocol::messages::*;
use argus_protocol::model_ref::ModelRef;
use argus_protocol::register::Register;
use argus_protocol::result::result_digest;
use argus_protocol::sync::{RangeFingerprint, fingerprint_of};
use libp2p_identity::{Keypair, PeerId};
use serde_bytes::ByteBuf;

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/vectors.txt");

fn vectors() -> BTreeMap<&'static str, Vec<u8>> {
    let k = Keypair::ed25519_from_bytes([1u8; 32]).unwrap();
    let auditor_key = Keypair::ed25519_from_bytes([2u8; 32]).unwrap();
    let node = NodeId(PeerId::from_public_key(&k.public()));
    let auditor = NodeId(PeerId::from_public_key(&auditor_key.public()));
    let image = ImageId::of_bytes(b"argus");
    let dets = vec![Detection {
        class: 1,
        score: 0.5,
        bbox: BBox { x_min: 0.0, y_min: 10.0, x_max: 20.0, y_max: 30.0 },
    }];
    let other = vec![Detection {
        class: 2,
        score: 0.75,
        bbox: BBox { x_min: 1.0, y_min: 2.0, x_max: 3.0, y_max: 4.0 },
    }];
    let model = ModelRef::new("shapes", WeightsId::of_bytes(b"weights"));
    let digest = result_digest(&model, &dets);
    let other_digest = result_digest(&model, &other);
    let ts = HlcTimestamp::new(1_764_000_000_000, 1);
    let att = Attestation::sign(&k, &image, &digest, ts).unwrap();
    let audit_att =
        Attestation::sign(&auditor_key, &image, &digest, HlcTimestamp::new(1_764_000_000_500, 0)).unwrap();
    let captured = 1_763_999_999_000;
    let fp = |lo: u64, hi: u64, reg: &Register| RangeFingerprint {
        start_ms: lo,
        end_ms: hi,
        count: 1,
        fingerprint: fingerprint_of([(reg.image_id(), &reg.state_hash())]),
    };
    let mut reg = Register::new(image, captured);
    reg.insert(&model, &dets, att.clone()).unwrap();
    reg.insert(&model, &dets, audit_att.clone()).unwrap();
    reg.join_meta(&argus_protocol::meta::ImageMeta {
        source: "cam-1".into(),
        thumbnail: Some(argus_protocol::meta::Thumbnail {
            width: 640,
            height: 480,
            jpeg: ByteBuf::from(vec![0xff, 0xd8, 0xff, 0xd9]),
        }),
    })
    .unwrap();
    let messages = [
        (
            "envelope_announce",
            GossipMessage::Announce(ImageAnnouncement {
                image_id: image,
                source: node,
                source_name: "cam-1".into(),
                model: "shapes".into(),
                seq: 7,
                captured_at_ms: captured,
                width: 64,
                height: 48,
                size_bytes: 5,
                bytes: Some(ByteBuf::from(b"argus".to_vec())),
            }),
        ),
        (
            "envelope_bid",
            GossipMessage::Bid(Bid { image_id: image, bidder: node, wait_ms: 250, queue_len: 2 }),
        ),
        (
            "envelope_claim",
            GossipMessage::Claim(Claim {
                image_id: image,
                winner: node,
                wait_ms: 250,
                takeover: false,
                bid_ms: 250,
            }),
        ),
        (
            "envelope_result",
            GossipMessage::Result(DetectionResult {
                image_id: image,
                captured_at_ms: captured,
                worker: node,
                backend: "ndarray".into(),
                model: model.clone(),
                inference_ms: 12,
                detections: dets.clone(),
                digest,
                attestation: att.to_wire(),
                meta: argus_protocol::meta::ImageMeta {
                    source: "cam-1".into(),
                    thumbnail: Some(argus_protocol::meta::Thumbnail {
                        width: 640,
                        height: 480,
                        jpeg: ByteBuf::from(vec![0xff, 0xd8, 0xff, 0xd9]),
                    }),
                },
            }),
        ),
        (
            "envelope_audit_request",
            GossipMessage::AuditRequest(AuditRequest {
                image_id: image,
                worker: node,
                digest,
                model: model.clone(),
                auditors: vec![auditor],
            }),
        ),
        (
            "envelope_verdict_pass",
            GossipMessage::AuditVerdict(AuditVerdict {
                image_id: image,
                worker: node,
                auditor,
                worker_digest: digest,
                auditor_digest: digest,
                model: model.clone(),
                pass: true,
                attestation: Some(audit_att.to_wire()),
                auditor_detections: None,
            }),
        ),
        (
            "envelope_verdict_fail",
            GossipMessage::AuditVerdict(AuditVerdict {
                image_id: image,
                worker: node,
                auditor,
                worker_digest: digest,
                auditor_digest: other_digest,
                model: model.clone(),
                pass: false,
                attestation: None,
                auditor_detections: Some(other),
            }),
        ),
        (
            "envelope_digest",
            GossipMessage::Digest(ReplicaDigest { node, ranges: vec![fp(0, 1_764_000_000_000, &reg)] }),
        ),
        (
            "envelope_heartbeat",
            GossipMessage::Heartbeat(Heartbeat {
                node,
                seq: 3,
                uptime_ms: 2_000,
                queue_len: 1,
                avg_inference_ms: 40,
                backend: "ndarray".into(),
                models: vec![model.clone()],
                audit_ratio: 0.125,
                images_processed: 9,
                audits_failed_against: 0,
                http_addr: Some("127.0.0.1:7070".into()),
            }),
        ),
        (
            "envelope_steal",
            GossipMessage::Steal(Steal {
                thief: node,
                victim: auditor,
                model: "shapes".into(),
                count: 8,
                wait_ms: 40,
                per_image_ms: 20,
            }),
        ),
        (
            "envelope_handoff",
            GossipMessage::Handoff(Handoff { from: node, to: auditor, images: vec![image], wait_ms: 60 }),
        ),
    ];
    let mut v: BTreeMap<&'static str, Vec<u8>> =
        messages.into_iter().map(|(name, m)| (name, encode_gossip(&m).unwrap())).collect();
    v.insert("register_state_hash", reg.state_hash().to_vec());
    v.insert("range_fingerprint", fp(0, 1_764_000_000_000, &reg).fingerprint.to_vec());
    v
}

#[test]
fn every_envelope_kind_register_hash_and_fingerprint_match_the_vectors() {
    let computed = vectors();
    if std::env::var_os("ARGUS_WRITE_VECTORS").is_some() {
        let text: String = computed.iter().map(|(k, v)| format!("{k} {}\n", hex::encode(v))).collect();
        std::fs::write(FILE, text).unwrap();
    }
    let text = std::fs::read_to_string(FILE).unwrap();
    let stored: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.split_once(' ')).collect();
    assert_eq!(stored.len(), computed.len(), "one line per vector in {FILE}");
    for (name, bytes) in &computed {
        assert_eq!(stored.get(name).copied(), Some(hex::encode(bytes).as_str()), "vector {name}");
    }
    // Every envelope decodes back to the message it encodes.
    for (name, bytes) in computed.iter().filter(|(n, _)| n.starts_with("envelope_")) {
        assert!(argus_protocol::codec::decode_gossip(bytes).is_ok(), "{name} decodes");
    }
}

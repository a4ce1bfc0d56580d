//! Sample gossip messages for round-trip and rejection tests: one of every kind, valid, with
//! real signatures. Test-only.

use argus_protocol::Detection;
use argus_protocol::attestation::Attestation;
use argus_protocol::hlc::HlcTimestamp;
use argus_protocol::ids::ImageId;
use argus_protocol::messages::*;
use argus_protocol::result::result_digest;
use argus_protocol::sync::RangeFingerprint;
use serde_bytes::ByteBuf;

use super::{det, keypair, model, node_of};

pub const PNG_ISH: &[u8] = b"\x89PNG\r\n\x1a\n pretend image bytes";

pub fn dets() -> Vec<Detection> {
    vec![det(3, 0.91, 10.0, 20.0, 30.0, 40.0), det(0, 0.55, 0.0, 0.0, 5.5, 6.25)]
}

pub fn announce(inline: bool) -> ImageAnnouncement {
    ImageAnnouncement {
        image_id: ImageId::of_bytes(PNG_ISH),
        source: node_of(&keypair(9)),
        source_name: "cam-7".into(),
        model: "shapes".into(),
        seq: 42,
        captured_at_ms: 1_764_000_000_123,
        width: 640,
        height: 480,
        size_bytes: PNG_ISH.len() as u64,
        bytes: inline.then(|| ByteBuf::from(PNG_ISH.to_vec())),
    }
}

pub fn result_msg() -> DetectionResult {
    let worker = keypair(2);
    let image_id = ImageId::of_bytes(PNG_ISH);
    let digest = result_digest(&model(), &dets());
    let att =
        Attestation::sign(&worker, &image_id, &digest, HlcTimestamp::new(1_764_000_000_500, 3)).unwrap();
    DetectionResult {
        image_id,
        captured_at_ms: 1_764_000_000_123,
        worker: node_of(&worker),
        backend: "flex".into(),
        model: model(),
        inference_ms: 17,
        detections: dets(),
        digest,
        attestation: att.to_wire(),
        meta: argus_protocol::meta::ImageMeta {
            source: "cam-1".into(),
            thumbnail: Some(argus_protocol::meta::Thumbnail {
                width: 640,
                height: 480,
                jpeg: serde_bytes::ByteBuf::from(vec![0xff, 0xd8, 0xff, 0xd9]),
            }),
        },
    }
}

pub fn verdict(pass: bool) -> AuditVerdict {
    let r = result_msg();
    let auditor = keypair(4);
    let mine = vec![det(3, 0.88, 11.0, 20.0, 30.0, 40.0), det(0, 0.5, 0.0, 0.0, 5.5, 6.25)];
    let attestation = pass.then(|| {
        Attestation::sign(&auditor, &r.image_id, &r.digest, HlcTimestamp::new(1_764_000_000_900, 0))
            .unwrap()
            .to_wire()
    });
    AuditVerdict {
        image_id: r.image_id,
        worker: r.worker,
        auditor: node_of(&auditor),
        worker_digest: r.digest,
        auditor_digest: result_digest(&model(), &mine),
        model: model(),
        pass,
        attestation,
        auditor_detections: (!pass).then_some(mine),
    }
}

pub fn ranges() -> Vec<RangeFingerprint> {
    vec![
        RangeFingerprint { start_ms: 0, end_ms: 1000, count: 3, fingerprint: [7; 32] },
        RangeFingerprint { start_ms: 1000, end_ms: 2000, count: 0, fingerprint: [0; 32] },
    ]
}

pub fn heartbeat() -> Heartbeat {
    Heartbeat {
        node: node_of(&keypair(5)),
        seq: 9,
        uptime_ms: 120_000,
        queue_len: 2,
        avg_inference_ms: 14,
        backend: "ndarray".into(),
        models: vec![model(), super::other_model()],
        audit_ratio: 0.25,
        images_processed: 1234,
        audits_failed_against: 1,
        http_addr: Some("127.0.0.1:8080".into()),
    }
}

pub fn all_gossip() -> Vec<GossipMessage> {
    let image_id = ImageId::of_bytes(PNG_ISH);
    vec![
        GossipMessage::Announce(announce(true)),
        GossipMessage::Announce(announce(false)),
        GossipMessage::Bid(Bid { image_id, bidder: node_of(&keypair(1)), wait_ms: 250, queue_len: 4 }),
        GossipMessage::Claim(Claim {
            image_id,
            winner: node_of(&keypair(1)),
            wait_ms: 250,
            takeover: true,
            bid_ms: 200,
        }),
        GossipMessage::Result(result_msg()),
        GossipMessage::AuditRequest(AuditRequest {
            image_id,
            worker: node_of(&keypair(2)),
            digest: result_digest(&model(), &dets()),
            model: model(),
            auditors: vec![node_of(&keypair(3)), node_of(&keypair(4))],
        }),
        GossipMessage::AuditVerdict(verdict(true)),
        GossipMessage::AuditVerdict(verdict(false)),
        GossipMessage::Digest(ReplicaDigest { node: node_of(&keypair(6)), ranges: ranges() }),
        GossipMessage::Heartbeat(heartbeat()),
        GossipMessage::Steal(Steal {
            thief: node_of(&keypair(7)),
            victim: node_of(&keypair(1)),
            model: "shapes".into(),
            count: 16,
            wait_ms: 30,
            per_image_ms: 15,
        }),
        GossipMessage::Handoff(Handoff {
            from: node_of(&keypair(1)),
            to: node_of(&keypair(7)),
            images: vec![image_id, ImageId::of_bytes(b"another")],
            wait_ms: 270,
        }),
    ]
}

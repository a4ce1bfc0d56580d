//! Round trips of every gossip message and every request/response, checks that byte fields
//! travel as CBOR byte strings (not arrays of integers), and semantic rejections of each
//! message kind (`CodecError::Invalid`).

mod common;

use argus_protocol::attestation::Attestation;
use argus_protocol::codec::{CodecError, decode_gossip, decode_wire, encode_gossip, encode_wire};
use argus_protocol::hlc::HlcTimestamp;
use argus_protocol::ids::{ImageId, NodeId};
use argus_protocol::limits::*;
use argus_protocol::messages::*;
use argus_protocol::result::result_digest;
use argus_protocol::rpc::*;
use argus_protocol::sync::RangeFingerprint;
use argus_protocol::{Detection, WireMessage};
use common::{det, keypair, node_of};
use serde_bytes::ByteBuf;

const PNG_ISH: &[u8] = b"\x89PNG\r\n\x1a\n pretend image bytes";

fn dets() -> Vec<Detection> {
    vec![
        det(3, 0.91, 10.0, 20.0, 30.0, 40.0),
        det(0, 0.55, 0.0, 0.0, 5.5, 6.25),
    ]
}

fn announce(inline: bool) -> ImageAnnouncement {
    ImageAnnouncement {
        image_id: ImageId::of_bytes(PNG_ISH),
        source: node_of(&keypair(9)),
        source_name: "cam-7".into(),
        seq: 42,
        captured_at_ms: 1_764_000_000_123,
        width: 640,
        height: 480,
        size_bytes: PNG_ISH.len() as u64,
        bytes: inline.then(|| ByteBuf::from(PNG_ISH.to_vec())),
    }
}

fn result_msg() -> DetectionResult {
    let worker = keypair(2);
    let image_id = ImageId::of_bytes(PNG_ISH);
    let digest = result_digest(&dets());
    let att = Attestation::sign(
        &worker,
        &image_id,
        &digest,
        HlcTimestamp::new(1_764_000_000_500, 3),
    )
    .unwrap();
    DetectionResult {
        image_id,
        captured_at_ms: 1_764_000_000_123,
        worker: node_of(&worker),
        backend: "flex".into(),
        inference_ms: 17,
        detections: dets(),
        digest,
        attestation: att.to_wire(),
    }
}

fn verdict(pass: bool) -> AuditVerdict {
    let r = result_msg();
    let auditor = keypair(4);
    let mine = vec![
        det(3, 0.88, 11.0, 20.0, 30.0, 40.0),
        det(0, 0.5, 0.0, 0.0, 5.5, 6.25),
    ];
    let attestation = pass.then(|| {
        Attestation::sign(
            &auditor,
            &r.image_id,
            &r.digest,
            HlcTimestamp::new(1_764_000_000_900, 0),
        )
        .unwrap()
        .to_wire()
    });
    AuditVerdict {
        image_id: r.image_id,
        worker: r.worker,
        auditor: node_of(&auditor),
        worker_digest: r.digest,
        auditor_digest: result_digest(&mine),
        pass,
        attestation,
        auditor_detections: (!pass).then_some(mine),
    }
}

fn ranges() -> Vec<RangeFingerprint> {
    vec![
        RangeFingerprint {
            start_ms: 0,
            end_ms: 1000,
            count: 3,
            fingerprint: [7; 32],
        },
        RangeFingerprint {
            start_ms: 1000,
            end_ms: 2000,
            count: 0,
            fingerprint: [0; 32],
        },
    ]
}

fn heartbeat() -> Heartbeat {
    Heartbeat {
        node: node_of(&keypair(5)),
        seq: 9,
        uptime_ms: 120_000,
        queue_len: 2,
        avg_inference_ms: 14,
        backend: "ndarray".into(),
        audit_ratio: 0.25,
        images_processed: 1234,
        audits_failed_against: 1,
        http_addr: Some("127.0.0.1:8080".into()),
    }
}

fn all_gossip() -> Vec<GossipMessage> {
    let image_id = ImageId::of_bytes(PNG_ISH);
    vec![
        GossipMessage::Announce(announce(true)),
        GossipMessage::Announce(announce(false)),
        GossipMessage::Bid(Bid {
            image_id,
            bidder: node_of(&keypair(1)),
            wait_ms: 250,
            queue_len: 4,
        }),
        GossipMessage::Claim(Claim {
            image_id,
            winner: node_of(&keypair(1)),
            wait_ms: 250,
            takeover: true,
        }),
        GossipMessage::Result(result_msg()),
        GossipMessage::AuditRequest(AuditRequest {
            image_id,
            worker: node_of(&keypair(2)),
            digest: result_digest(&dets()),
            auditors: vec![node_of(&keypair(3)), node_of(&keypair(4))],
        }),
        GossipMessage::AuditVerdict(verdict(true)),
        GossipMessage::AuditVerdict(verdict(false)),
        GossipMessage::Digest(ReplicaDigest {
            node: node_of(&keypair(6)),
            ranges: ranges(),
        }),
        GossipMessage::Heartbeat(heartbeat()),
    ]
}

#[test]
fn every_gossip_message_round_trips() {
    for msg in all_gossip() {
        let bytes = encode_gossip(&msg).unwrap();
        assert!(bytes.len() <= MAX_GOSSIP_BYTES);
        assert_eq!(decode_gossip(&bytes).unwrap(), msg);
    }
}

#[test]
fn topics_are_assigned_per_purpose() {
    let topics: Vec<&str> = all_gossip().iter().map(GossipMessage::topic).collect();
    assert_eq!(
        topics,
        [
            TOPIC_IMAGES,
            TOPIC_IMAGES,
            TOPIC_BIDS,
            TOPIC_BIDS,
            TOPIC_RESULTS,
            TOPIC_AUDITS,
            TOPIC_AUDITS,
            TOPIC_AUDITS,
            TOPIC_DIGESTS,
            TOPIC_HEARTBEATS
        ]
    );
}

fn round_trip<T: WireMessage + PartialEq + std::fmt::Debug>(value: T) {
    let bytes = encode_wire(&value).unwrap();
    assert!(bytes.len() <= T::MAX_BYTES);
    assert_eq!(decode_wire::<T>(&bytes).unwrap(), value);
}

#[test]
fn every_request_and_response_round_trips() {
    let image_id = ImageId::of_bytes(PNG_ISH);
    round_trip(FetchRequest { image_id });
    round_trip(FetchResponse {
        bytes: Some(ByteBuf::from(PNG_ISH.to_vec())),
    });
    round_trip(FetchResponse { bytes: None });
    round_trip(QueryRequest { image_id });
    round_trip(QueryResponse { register: None });
    let p = common::pool();
    let reg = p.register(&[(0, 0, 0), (1, 0, 1), (2, 5, 2)]);
    round_trip(QueryResponse {
        register: Some(reg.to_wire()),
    });
    round_trip(SyncRequest::Fingerprints {
        start_ms: 0,
        end_ms: 86_400_000,
        parts: 16,
    });
    round_trip(SyncRequest::Fetch {
        start_ms: 5,
        end_ms: 10,
        limit: 100,
    });
    round_trip(SyncResponse::Fingerprints(ranges()));
    round_trip(SyncResponse::Registers {
        registers: vec![reg.to_wire(), reg.to_wire()],
        more: true,
    });
    let fetched = FetchResponse {
        bytes: Some(ByteBuf::from(PNG_ISH.to_vec())),
    };
    assert!(fetched.matches(&image_id));
    assert!(!fetched.matches(&ImageId::of_bytes(b"other")));
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn byte_fields_are_cbor_byte_strings() {
    let a = announce(true);
    let body =
        argus_protocol::encode(&GossipMessage::Announce(a.clone()), MAX_GOSSIP_BYTES).unwrap();
    // image id: major type 2, 1-byte length 32.
    assert!(contains(
        &body,
        &[&[0x58, 0x20][..], &a.image_id.0].concat()
    ));
    // node id: a byte string of the PeerId's bytes (38 for ed25519).
    let node = a.source.to_bytes();
    assert!(contains(
        &body,
        &[&[0x58, node.len() as u8][..], &node].concat()
    ));
    // inline image: a byte string holding the bytes.
    assert!(PNG_ISH.len() > 23 && PNG_ISH.len() < 256);
    assert!(contains(
        &body,
        &[&[0x58, PNG_ISH.len() as u8][..], PNG_ISH].concat()
    ));
    let r = result_msg();
    let body = argus_protocol::encode(&GossipMessage::Result(r.clone()), MAX_GOSSIP_BYTES).unwrap();
    assert!(contains(
        &body,
        &[&[0x58, 0x40][..], &r.attestation.signature].concat()
    ));
    let fp = argus_protocol::encode(&ranges()[0], 1024).unwrap();
    assert!(contains(&fp, &[&[0x58, 0x20][..], &[7; 32]].concat()));
    // The envelope's body too.
    let env = encode_gossip(&GossipMessage::Result(r)).unwrap();
    assert_eq!(&env[..4], &[0xa2, 0x61, b'v', 0x01]);
}

fn assert_invalid(msg: GossipMessage) {
    let err = encode_gossip(&msg).expect_err("invalid message encoded");
    assert!(matches!(err, CodecError::Invalid(_)), "{err:?}");
    // And a peer that skips validation when encoding is refused on decode.
    let body = argus_protocol::encode(&msg, MAX_GOSSIP_BYTES).unwrap();
    let env = argus_protocol::encode(
        &argus_protocol::Envelope {
            v: 1,
            body: ByteBuf::from(body),
        },
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
    r.digest = result_digest(&r.detections);
    assert_invalid(GossipMessage::Result(r));
    let mut r = result_msg();
    r.attestation.signature.truncate(10);
    assert_invalid(GossipMessage::Result(r));

    let GossipMessage::AuditRequest(req) = all_gossip().swap_remove(5) else {
        unreachable!()
    };
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
    v.auditor_digest = result_digest(&dets());
    assert_invalid(GossipMessage::AuditVerdict(v));

    let mut overlapping = ranges();
    overlapping[1].start_ms = 500;
    assert_invalid(GossipMessage::Digest(ReplicaDigest {
        node: node_of(&keypair(6)),
        ranges: overlapping,
    }));
    let many = vec![
        RangeFingerprint {
            start_ms: 0,
            end_ms: 0,
            count: 0,
            fingerprint: [0; 32]
        };
        MAX_RANGES + 1
    ];
    assert_invalid(GossipMessage::Digest(ReplicaDigest {
        node: node_of(&keypair(6)),
        ranges: many,
    }));

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

#[test]
fn ids_print_and_parse() {
    let id = ImageId::of_bytes(PNG_ISH);
    let s = id.to_string();
    assert_eq!(s.len(), 64);
    assert_eq!(s.parse::<ImageId>().unwrap(), id);
    assert!(s.to_uppercase().parse::<ImageId>().is_err());
    assert!(s[..63].parse::<ImageId>().is_err());
    assert!(format!("{}g", &s[..63]).parse::<ImageId>().is_err());
    let node = node_of(&keypair(1));
    assert_eq!(node.to_string().parse::<NodeId>().unwrap(), node);
    // JSON (human-readable) uses hex and base58.
    let json = serde_json::to_string(&(id, node)).unwrap();
    assert_eq!(json, format!("[\"{id}\",\"{node}\"]"));
    assert_eq!(
        serde_json::from_str::<(ImageId, NodeId)>(&json).unwrap(),
        (id, node)
    );
}

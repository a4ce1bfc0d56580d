//! The limits fit the largest legal messages: a register at every bound (model names of
//! maximum length included) fits `MAX_REGISTER_BYTES` and a query response; a packed sync
//! response fits its hard limit and decodes within the nesting limit; the largest result,
//! announcement, digest and heartbeat fit a gossip envelope.
//! Prints the measured sizes and the time to verify a full register.

mod common;

use std::time::Instant;

use argus_protocol::attestation::Attestation;
use argus_protocol::codec::{decode_gossip, decode_wire, encode_gossip, encode_wire};
use argus_protocol::detection::Detection;
use argus_protocol::ids::{ImageId, WeightsId};
use argus_protocol::limits::*;
use argus_protocol::messages::*;
use argus_protocol::model_ref::ModelRef;
use argus_protocol::register::Register;
use argus_protocol::register_wire::RegisterWire;
use argus_protocol::result::result_digest;
use argus_protocol::rpc::RegisterBatch;
use argus_protocol::rpc::{QueryResponse, SyncResponse};
use argus_protocol::sync::RangeFingerprint;
use common::{det, image, pool, ts};
use serde_bytes::ByteBuf;

/// `MAX_DETECTIONS` detections whose floats all need 4 bytes, distinct per `variant`.
fn full_detections(variant: usize) -> Vec<Detection> {
    (0..MAX_DETECTIONS)
        .map(|i| {
            let f = i as f32 * 1.001 + variant as f32 * 0.37;
            det(60_000 + i as u16, 0.123 + i as f32 * 1e-3, f + 0.1, f + 0.3, 100.7, 200.9)
        })
        .collect()
}

/// A model ref whose name has the maximum length, distinct per `variant`.
fn longest_model(variant: usize) -> ModelRef {
    let name = format!("{variant:0>width$}", width = MAX_MODEL_NAME_LEN);
    ModelRef::new(name, WeightsId::of_bytes(&variant.to_le_bytes()))
}

/// Meta at its bounds: the longest source name and the largest thumbnail.
fn full_meta() -> argus_protocol::meta::ImageMeta {
    argus_protocol::meta::ImageMeta {
        source: "s".repeat(MAX_NAME_LEN),
        thumbnail: Some(argus_protocol::meta::Thumbnail {
            width: MAX_IMAGE_SIDE_PX,
            height: MAX_IMAGE_SIDE_PX,
            jpeg: ByteBuf::from(vec![0xcd; MAX_THUMBNAIL_BYTES]),
        }),
    }
}

fn full_register() -> Register {
    let p = pool();
    let mut r = Register::new(image(), u64::MAX);
    r.join_meta(&full_meta()).unwrap();
    for c in 0..MAX_CANDIDATES {
        let (model, dets) = (longest_model(c), full_detections(c));
        let digest = result_digest(&model, &dets);
        for k in 0..MAX_ATTESTATIONS {
            let att = Attestation::sign(&p.keys[k], &image(), &digest, ts(2)).unwrap();
            r.insert(&model, &dets, att).unwrap();
        }
    }
    r
}

#[test]
fn a_register_at_every_bound_fits() {
    let r = full_register();
    assert_eq!(r.len(), MAX_CANDIDATES);
    assert!(r.candidates().all(|(_, c)| c.votes() == MAX_ATTESTATIONS));
    let wire = r.to_wire();
    let bytes = argus_protocol::encode(&wire, MAX_REGISTER_BYTES).unwrap();
    eprintln!("full register: {} bytes (limit {MAX_REGISTER_BYTES})", bytes.len());
    let query = encode_wire(&QueryResponse { register: Some(wire.clone()) }).unwrap();
    let back: QueryResponse = decode_wire(&query).unwrap();
    let t = Instant::now();
    let (verified, refused) = Register::from_wire(back.register.as_ref().unwrap()).unwrap();
    eprintln!(
        "from_wire of a full register ({} attestations): {:?}",
        MAX_CANDIDATES * MAX_ATTESTATIONS,
        t.elapsed()
    );
    assert!(refused.is_empty());
    assert_eq!(verified, r);
}

#[test]
fn a_packed_sync_response_fits_and_decodes() {
    let full = full_register().to_wire();
    let mut batch = RegisterBatch::new(MAX_SYNC_FETCH_LIMIT);
    let mut pushed = 0;
    while batch.push(full.clone()).unwrap() {
        pushed += 1;
    }
    assert!(pushed >= 1 && pushed < MAX_SYNC_FETCH_LIMIT as usize, "{pushed}");
    let bytes = encode_wire(&batch.into_response(true)).unwrap();
    eprintln!("sync response with {pushed} full registers: {} bytes", bytes.len());
    assert!(bytes.len() <= MAX_SYNC_RESPONSE_BYTES);
    let SyncResponse::Registers { registers, more } = decode_wire(&bytes).unwrap() else { panic!() };
    assert!(more);
    assert_eq!(registers.len(), pushed);
    // The count limit applies too.
    let small: RegisterWire = pool().register(&[(0, 0, 0)]).to_wire();
    let mut batch = RegisterBatch::new(3);
    assert_eq!(
        (0..5).map(|_| batch.push(small.clone()).unwrap()).collect::<Vec<_>>(),
        [true, true, true, false, false]
    );
}

#[test]
fn the_largest_gossip_messages_fit_the_envelope() {
    let p = pool();
    let (model, dets) = (longest_model(0), full_detections(0));
    let digest = result_digest(&model, &dets);
    let worker = &p.keys[0];
    let result = DetectionResult {
        image_id: image(),
        captured_at_ms: u64::MAX,
        worker: p.nodes[0],
        backend: "b".repeat(MAX_BACKEND_LEN),
        model,
        inference_ms: u32::MAX,
        detections: dets,
        digest,
        attestation: Attestation::sign(worker, &image(), &digest, ts(1)).unwrap().to_wire(),
        meta: full_meta(),
    };
    let inline = vec![0xab; MAX_INLINE_IMAGE_BYTES];
    let announce = ImageAnnouncement {
        image_id: ImageId::of_bytes(&inline),
        source: p.nodes[1],
        source_name: "n".repeat(MAX_NAME_LEN),
        model: "m".repeat(MAX_MODEL_NAME_LEN),
        seq: u64::MAX,
        captured_at_ms: u64::MAX,
        width: MAX_IMAGE_SIDE_PX,
        height: MAX_IMAGE_SIDE_PX,
        size_bytes: inline.len() as u64,
        bytes: Some(ByteBuf::from(inline)),
    };
    let ranges = (0..MAX_RANGES as u64)
        .map(|i| RangeFingerprint {
            start_ms: i << 40,
            end_ms: (i + 1) << 40,
            count: u64::MAX,
            fingerprint: [0xee; 32],
        })
        .collect();
    let heartbeat = Heartbeat {
        node: p.nodes[3],
        seq: u64::MAX,
        uptime_ms: u64::MAX,
        queue_len: u32::MAX,
        avg_inference_ms: u32::MAX,
        backend: "b".repeat(MAX_BACKEND_LEN),
        models: (0..MAX_MODELS).map(longest_model).collect(),
        audit_ratio: 0.123,
        images_processed: u64::MAX,
        audits_failed_against: u64::MAX,
        http_addr: Some("h".repeat(MAX_HTTP_ADDR_LEN)),
    };
    for msg in [
        GossipMessage::Result(result),
        GossipMessage::Announce(announce),
        GossipMessage::Digest(ReplicaDigest { node: p.nodes[2], ranges }),
        GossipMessage::Heartbeat(heartbeat),
    ] {
        let bytes = encode_gossip(&msg).unwrap();
        eprintln!("largest {}: {} bytes (limit {MAX_GOSSIP_BYTES})", msg.topic(), bytes.len());
        assert_eq!(decode_gossip(&bytes).unwrap(), msg);
    }
}

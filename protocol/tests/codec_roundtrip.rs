//! Round trips of every gossip message and every request/response, checks that byte fields
//! travel as CBOR byte strings (not arrays of integers), and semantic rejections of each
//! message kind (`CodecError::Invalid`).

mod common;

use argus_protocol::WireMessage;
use argus_protocol::codec::{CodecError, decode_gossip, decode_wire, encode_gossip, encode_wire};
use argus_protocol::ids::{ImageId, NodeId, WeightsId};
use argus_protocol::limits::*;
use argus_protocol::messages::*;
use argus_protocol::rpc::*;
use common::messages::*;
use common::{keypair, node_of};
use serde_bytes::ByteBuf;

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
            TOPIC_HEARTBEATS,
            TOPIC_BIDS,
            TOPIC_BIDS,
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
    round_trip(FetchResponse { bytes: Some(ByteBuf::from(PNG_ISH.to_vec())) });
    round_trip(FetchResponse { bytes: None });
    round_trip(QueryRequest { image_id });
    round_trip(QueryResponse { register: None });
    let p = common::pool();
    let reg = p.register(&[(0, 0, 0), (1, 0, 1), (2, 5, 2)]);
    round_trip(QueryResponse { register: Some(reg.to_wire()) });
    round_trip(SyncRequest::Fingerprints { start_ms: 0, end_ms: 86_400_000, parts: 16 });
    round_trip(SyncRequest::Fetch { start_ms: 5, end_ms: 10, limit: 100, after: None });
    round_trip(SyncRequest::Fetch { start_ms: 5, end_ms: 10, limit: 100, after: Some(ImageId([9; 32])) });
    round_trip(SyncResponse::Fingerprints(ranges()));
    round_trip(SyncResponse::Registers { registers: vec![reg.to_wire(), reg.to_wire()], more: true });
    let fetched = FetchResponse { bytes: Some(ByteBuf::from(PNG_ISH.to_vec())) };
    assert!(fetched.matches(&image_id));
    assert!(!fetched.matches(&ImageId::of_bytes(b"other")));
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn byte_fields_are_cbor_byte_strings() {
    let a = announce(true);
    let body = argus_protocol::encode(&GossipMessage::Announce(a.clone()), MAX_GOSSIP_BYTES).unwrap();
    // image id: major type 2, 1-byte length 32.
    assert!(contains(&body, &[&[0x58, 0x20][..], &a.image_id.0].concat()));
    // node id: a byte string of the PeerId's bytes (38 for ed25519).
    let node = a.source.to_bytes();
    assert!(contains(&body, &[&[0x58, node.len() as u8][..], &node].concat()));
    // inline image: a byte string holding the bytes.
    assert!(PNG_ISH.len() > 23 && PNG_ISH.len() < 256);
    assert!(contains(&body, &[&[0x58, PNG_ISH.len() as u8][..], PNG_ISH].concat()));
    let r = result_msg();
    let body = argus_protocol::encode(&GossipMessage::Result(r.clone()), MAX_GOSSIP_BYTES).unwrap();
    assert!(contains(&body, &[&[0x58, 0x40][..], &r.attestation.signature].concat()));
    // The thumbnail: a byte string holding the JPEG.
    let jpeg = &r.meta.thumbnail.as_ref().unwrap().jpeg;
    assert!(contains(&body, &[&[0x40 + jpeg.len() as u8][..], jpeg].concat()));
    let fp = argus_protocol::encode(&ranges()[0], 1024).unwrap();
    assert!(contains(&fp, &[&[0x58, 0x20][..], &[7; 32]].concat()));
    // The envelope's body too.
    let env = encode_gossip(&GossipMessage::Result(r)).unwrap();
    assert_eq!(&env[..4], &[0xa2, 0x61, b'v', 0x05]);
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
    assert_eq!(serde_json::from_str::<(ImageId, NodeId)>(&json).unwrap(), (id, node));
}

#[test]
fn weights_ids_and_model_refs_print_and_parse_like_image_ids() {
    let w = WeightsId::of_bytes(b"weights file");
    assert_eq!(w.0, *blake3::hash(b"weights file").as_bytes());
    let s = w.to_string();
    assert_eq!(s.parse::<WeightsId>().unwrap(), w);
    assert!(s.to_uppercase().parse::<WeightsId>().is_err());
    assert!(WeightsId::from_slice(&[0; 31]).is_err());
    let m = argus_protocol::ModelRef::new("coco", w);
    let json = serde_json::to_string(&m).unwrap();
    assert_eq!(json, format!("{{\"name\":\"coco\",\"weights\":\"{w}\"}}"));
    assert_eq!(serde_json::from_str::<argus_protocol::ModelRef>(&json).unwrap(), m);
    assert!(serde_json::from_str::<argus_protocol::ModelRef>(&json.replace('}', ",\"x\":1}")).is_err());
    // CBOR: weights as a 32-byte byte string.
    let cbor = argus_protocol::encode(&m, 1024).unwrap();
    assert!(contains(&cbor, &[&[0x58, 0x20][..], &w.0].concat()));
    assert_eq!(argus_protocol::decode::<argus_protocol::ModelRef>(&cbor, 1024).unwrap(), m);
}

/// docs/PROTOCOL.md §3: a key whose value may be null may be omitted; other keys may not.
#[test]
fn omitted_nullable_keys_decode_as_null() {
    let h = heartbeat();
    let without = |drop: &[&str]| {
        let mut value = ciborium::Value::serialized(&GossipMessage::Heartbeat(h.clone())).unwrap();
        let ciborium::Value::Map(outer) = &mut value else { panic!() };
        let ciborium::Value::Map(fields) = &mut outer[0].1 else { panic!() };
        fields.retain(|(k, _)| !drop.contains(&k.as_text().unwrap()));
        argus_protocol::encode(&value, MAX_GOSSIP_BYTES).unwrap()
    };
    let back: GossipMessage = argus_protocol::decode(&without(&["http_addr"]), MAX_GOSSIP_BYTES).unwrap();
    assert_eq!(back, GossipMessage::Heartbeat(Heartbeat { http_addr: None, ..h.clone() }));
    let res = argus_protocol::decode::<GossipMessage>(&without(&["seq"]), MAX_GOSSIP_BYTES);
    assert!(matches!(res, Err(CodecError::Malformed(_))), "{res:?}");
}

//! Test vectors printed in docs/PROTOCOL.md, so an implementation in another language can
//! check its encodings byte for byte. If one of these changes, the wire format changed: bump
//! `PROTOCOL_VERSION` and update the document.

use argus_protocol::attestation::{Attestation, signed_payload};
use argus_protocol::codec::encode_gossip;
use argus_protocol::detection::{BBox, Detection};
use argus_protocol::hlc::HlcTimestamp;
use argus_protocol::ids::{ImageId, NodeId, WeightsId};
use argus_protocol::messages::{Bid, GossipMessage};
use argus_protocol::model_ref::ModelRef;
use argus_protocol::result::{canonical_bytes, result_digest};
use libp2p_identity::{Keypair, PeerId};

/// Secret key: 32 bytes of 0x01. Image: the 5 bytes "argus". Model: "shapes", weights file: the
/// 7 bytes "weights". One detection: class 1, score 0.5, box (0, 10, 20, 30). Timestamp: wall
/// 1764000000000 ms, counter 1.
const PUBLIC_KEY: &str = "080112208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";
const NODE_ID: &str = "0024080112208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";
const NODE_ID_BASE58: &str = "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5";
const IMAGE_ID: &str = "da79468470024e0991724c0ec569ba6792fe8e8eba0fac7bbeec599651a08fcb";
const WEIGHTS_ID: &str = "3edc5c4a5df8c79ef4f8dbdc373cd21ca041ccf39fe5693250d004092094dc4a";
const MODEL_REF_CBOR: &str = concat!(
    "a2646e616d6566736861706573677765696768747358203edc5c4a5df8c79ef4",
    "f8dbdc373cd21ca041ccf39fe5693250d004092094dc4a",
);
const CANONICAL: &str = concat!(
    "61726775732f726573756c742f7632",
    "06",
    "736861706573",
    "3edc5c4a5df8c79ef4f8dbdc373cd21ca041ccf39fe5693250d004092094dc4a",
    "00000001",
    "0001",
    "3f000000",
    "00000000",
    "41200000",
    "41a00000",
    "41f00000",
);
const DIGEST: &str = "dd5f39d00efb6bfc3cb1ad03d702cfc4c2bd8ef0a78686d20458b9d303ba9a0d";
const TS: u64 = 115_605_504_000_000_001;
const PAYLOAD: &str = concat!(
    "61726775732f6174746573742f7631",
    "da79468470024e0991724c0ec569ba6792fe8e8eba0fac7bbeec599651a08fcb",
    "dd5f39d00efb6bfc3cb1ad03d702cfc4c2bd8ef0a78686d20458b9d303ba9a0d",
    "019ab697e8000001",
);
const SIGNATURE: &str = concat!(
    "c9e867c17fbbd5fd7909ee7ed72ca1958fdfe327b0d4bb4553fb0134ef8f7427",
    "9bf610bd530029a1ba14b789939932e2cba96fdf63103b365077ffe0752aee0a",
);
const BID_ENVELOPE: &str = concat!(
    "a261760564626f64795875a163426964a468696d6167655f69645820da794684",
    "70024e0991724c0ec569ba6792fe8e8eba0fac7bbeec599651a08fcb66626964",
    "64657258260024080112208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d",
    "94121bf3748801b40f6f5c67776169745f6d7318fa6971756575655f6c656e02",
);

fn key() -> Keypair {
    Keypair::ed25519_from_bytes([1u8; 32]).unwrap()
}

#[test]
fn wire_vectors() {
    let k = key();
    let node = NodeId(PeerId::from_public_key(&k.public()));
    let image = ImageId::of_bytes(b"argus");
    let dets = [Detection {
        class: 1,
        score: 0.5,
        bbox: BBox { x_min: 0.0, y_min: 10.0, x_max: 20.0, y_max: 30.0 },
    }];
    let model = ModelRef::new("shapes", WeightsId::of_bytes(b"weights"));
    let digest = result_digest(&model, &dets);
    let ts = HlcTimestamp::new(1_764_000_000_000, 1);
    let att = Attestation::sign(&k, &image, &digest, ts).unwrap();
    let bid = GossipMessage::Bid(Bid { image_id: image, bidder: node, wait_ms: 250, queue_len: 2 });
    assert_eq!(hex::encode(k.public().encode_protobuf()), PUBLIC_KEY);
    assert_eq!(hex::encode(node.to_bytes()), NODE_ID);
    assert_eq!(node.to_string(), NODE_ID_BASE58);
    assert_eq!(image.to_string(), IMAGE_ID);
    assert_eq!(model.weights.to_string(), WEIGHTS_ID);
    assert_eq!(hex::encode(argus_protocol::encode(&model, 1024).unwrap()), MODEL_REF_CBOR);
    assert_eq!(hex::encode(canonical_bytes(&model, &dets)), CANONICAL);
    assert_eq!(digest.to_string(), DIGEST);
    assert_eq!(ts.0, TS);
    assert_eq!(hex::encode(signed_payload(&image, &digest, ts)), PAYLOAD);
    assert_eq!(hex::encode(att.signature()), SIGNATURE);
    assert_eq!(hex::encode(encode_gossip(&bid).unwrap()), BID_ENVELOPE);
}

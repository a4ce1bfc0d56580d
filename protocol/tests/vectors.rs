//! Test vectors printed in docs/PROTOCOL.md, so an implementation in another language can
//! check its encodings byte for byte. If one of these changes, the wire format changed: bump
//! `PROTOCOL_VERSION` and update the document.

use argus_protocol::attestation::{Attestation, signed_payload};
use argus_protocol::codec::encode_gossip;
use argus_protocol::detection::{BBox, Detection};
use argus_protocol::hlc::HlcTimestamp;
use argus_protocol::ids::{ImageId, NodeId};
use argus_protocol::messages::{Bid, GossipMessage};
use argus_protocol::result::result_digest;
use libp2p_identity::{Keypair, PeerId};

/// Secret key: 32 bytes of 0x01. Image: the 5 bytes "argus". One detection: class 1, score
/// 0.5, box (0, 10, 20, 30). Timestamp: wall 1764000000000 ms, counter 1.
const PUBLIC_KEY: &str = "080112208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";
const NODE_ID: &str = "0024080112208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";
const NODE_ID_BASE58: &str = "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5";
const IMAGE_ID: &str = "da79468470024e0991724c0ec569ba6792fe8e8eba0fac7bbeec599651a08fcb";
const DIGEST: &str = "6efbc9f33bd284937c3693fb75b5f046e4a41e96ae30e5faf0997f6b7447e66c";
const TS: u64 = 115_605_504_000_000_001;
const PAYLOAD: &str = concat!(
    "61726775732f6174746573742f7631",
    "da79468470024e0991724c0ec569ba6792fe8e8eba0fac7bbeec599651a08fcb",
    "6efbc9f33bd284937c3693fb75b5f046e4a41e96ae30e5faf0997f6b7447e66c",
    "019ab697e8000001",
);
const SIGNATURE: &str = concat!(
    "8a605e067be41e0b7197f4d61105f0c62977ab342c4734d9d40a60aa0b201332",
    "81ad9c508c24b825dd2e11caf49874160aa69de96ae8e53ac1ee8b765521680a",
);
const BID_ENVELOPE: &str = concat!(
    "a261760164626f64795875a163426964a468696d6167655f69645820da794684",
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
    let digest = result_digest(&dets);
    let ts = HlcTimestamp::new(1_764_000_000_000, 1);
    let att = Attestation::sign(&k, &image, &digest, ts).unwrap();
    let bid = GossipMessage::Bid(Bid { image_id: image, bidder: node, wait_ms: 250, queue_len: 2 });
    assert_eq!(hex::encode(k.public().encode_protobuf()), PUBLIC_KEY);
    assert_eq!(hex::encode(node.to_bytes()), NODE_ID);
    assert_eq!(node.to_string(), NODE_ID_BASE58);
    assert_eq!(image.to_string(), IMAGE_ID);
    assert_eq!(digest.to_string(), DIGEST);
    assert_eq!(ts.0, TS);
    assert_eq!(hex::encode(signed_payload(&image, &digest, ts)), PAYLOAD);
    assert_eq!(hex::encode(att.signature()), SIGNATURE);
    assert_eq!(hex::encode(encode_gossip(&bid).unwrap()), BID_ENVELOPE);
}

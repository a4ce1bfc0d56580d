//! Never a panic: arbitrary bytes and mutated valid messages through every decoder return a
//! value or a typed error (1,000 cases each).

mod common;

use argus_protocol::codec::{decode, decode_gossip, decode_wire};
use argus_protocol::limits::MAX_GOSSIP_BYTES;
use argus_protocol::messages::{Bid, GossipMessage};
use argus_protocol::rpc::{QueryResponse, SyncResponse};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Arbitrary bytes never panic any decoder.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode_gossip(&bytes);
        let _ = decode::<GossipMessage>(&bytes, MAX_GOSSIP_BYTES);
        let _ = decode_wire::<QueryResponse>(&bytes);
        let _ = decode_wire::<SyncResponse>(&bytes);
    }

    /// Bit flips and cuts of a valid message give a message or a typed error, never a panic.
    #[test]
    fn mutated_messages_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), 0..8u8), 1..4),
                                    cut in any::<prop::sample::Index>()) {
        let mut bytes = argus_protocol::encode_gossip(&bid()).unwrap();
        for (i, bit) in flips {
            let i = i.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }
        let keep = cut.index(bytes.len() + 1);
        let _ = decode_gossip(&bytes[..keep]);
    }
}

fn bid() -> GossipMessage {
    let node = common::node_of(&common::keypair(1));
    GossipMessage::Bid(Bid { image_id: common::image(), bidder: node, wait_ms: 120, queue_len: 3 })
}

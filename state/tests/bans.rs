//! Bans seen from one state: a peer whose results carry attestations that do not verify is
//! banned at its third, the network side is told (`Out::Ban`), and its gossip is dropped from
//! then on; a peer whose garbage the network layer refused is banned the same way; an honest
//! peer's valid results count for it, never against it.

use argus_protocol::attestation::Attestation;
use argus_protocol::detection::{BBox, Detection};
use argus_protocol::hlc::HlcTimestamp;
use argus_protocol::ids::{ImageId, NodeId, WeightsId};
use argus_protocol::messages::{DetectionResult, GossipMessage};
use argus_protocol::model_ref::ModelRef;
use argus_protocol::result::result_digest;
use argus_state::reputation::Offence;
use argus_state::{Config, Durable, Identity, In, KnownModel, Now, Out, State};
use libp2p_identity::{Keypair, PeerId};
use serde_bytes::ByteBuf;

fn key(n: u8) -> Keypair {
    Keypair::ed25519_from_bytes([n; 32]).unwrap()
}

fn model() -> ModelRef {
    ModelRef::new("shapes", WeightsId([1; 32]))
}

fn state() -> State {
    let id = Identity { key: key(1), name: "me".into(), backend: "ndarray".into(), http_addr: None };
    let known = vec![KnownModel { name: "shapes".into(), classes: 5 }];
    State::new(id, Config::default(), known, vec![model()], Durable::default(), 7)
}

/// A result by `worker` for image `n`; `garbage` replaces its signature.
fn result(worker: &Keypair, n: u8, garbage: bool) -> GossipMessage {
    let image = ImageId::of_bytes(&[n; 16]);
    let detections = vec![Detection {
        class: 1,
        score: 0.9,
        bbox: BBox { x_min: 1.0, y_min: 2.0, x_max: 30.0, y_max: 40.0 },
    }];
    let digest = result_digest(&model(), &detections);
    let mut attestation =
        Attestation::sign(worker, &image, &digest, HlcTimestamp(1_000 << 16)).unwrap().to_wire();
    if garbage {
        attestation.signature = ByteBuf::from(vec![0xA5; 64]);
    }
    GossipMessage::Result(DetectionResult {
        image_id: image,
        captured_at_ms: 1_000,
        worker: NodeId(worker.public().to_peer_id()),
        backend: "ndarray".into(),
        model: model(),
        inference_ms: 5,
        detections,
        digest,
        attestation,
        meta: Default::default(),
    })
}

fn at(ms: u64) -> Now {
    Now { ms, wall_ms: 1_000 + ms }
}

fn bans(outs: &[Out]) -> Vec<PeerId> {
    outs.iter().filter_map(|o| if let Out::Ban(p) = o { Some(*p) } else { None }).collect()
}

#[test]
fn a_liar_is_banned_at_its_third_lie_and_its_gossip_dropped_after() {
    let (mut s, liar, honest) = (state(), key(2), key(3));
    let liar_id = liar.public().to_peer_id();
    for n in 0..10u8 {
        let outs = s.handle(
            In::Gossip { author: honest.public().to_peer_id(), msg: result(&honest, n, false) },
            at(n.into()),
        );
        assert!(outs.iter().any(|o| matches!(o, Out::Write { .. })), "an honest result is stored");
        assert!(bans(&outs).is_empty());
    }
    for n in 0..2u8 {
        let outs = s
            .handle(In::Gossip { author: liar_id, msg: result(&liar, 20 + n, true) }, at(100 + u64::from(n)));
        assert!(bans(&outs).is_empty(), "lie {n} alone does not ban");
        assert!(!outs.iter().any(|o| matches!(o, Out::Write { .. })), "a lie is not stored");
    }
    let outs = s.handle(In::Gossip { author: liar_id, msg: result(&liar, 22, true) }, at(102));
    assert_eq!(bans(&outs), vec![liar_id]);
    assert_eq!(s.counters().offences_bad_attestation, 3);
    assert_eq!(s.bans().map(|(p, _)| *p).collect::<Vec<_>>(), vec![liar_id]);

    // Banned: even a valid result of its own is dropped now, and counted.
    let outs = s.handle(In::Gossip { author: liar_id, msg: result(&liar, 23, false) }, at(103));
    assert!(outs.is_empty(), "{outs:?}");
    assert_eq!(s.counters().gossip_from_banned, 1);
    assert_eq!(s.counters().peers_banned, 1);
}

#[test]
fn refused_gossip_bans_its_sender_and_the_ban_ends() {
    let (mut s, flooder) = (state(), key(4).public().to_peer_id());
    let mut banned = Vec::new();
    for t in 0..3 {
        banned.extend(bans(&s.handle(In::Offence { peer: flooder, offence: Offence::BadGossip }, at(t))));
    }
    assert_eq!(banned, vec![flooder]);
    assert!(s.handle(In::PeerUp(flooder), at(10)).is_empty(), "a banned peer is not taken as connected");
    // Ten minutes later (the default ban), the next heartbeat ends it.
    let outs = s.handle(In::Heartbeat, at(600_010));
    assert!(outs.iter().any(|o| matches!(o, Out::Unban(p) if *p == flooder)), "{outs:?}");
    assert_eq!(s.bans().count(), 0);
}

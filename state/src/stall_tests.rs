//! A node that did not run for a while (`State::resume_after`): the time it missed counts
//! against no peer, and the silent-connection rule still works once it runs again.

use argus_protocol::ids::{NodeId, WeightsId};
use argus_protocol::messages::{GossipMessage, Heartbeat};
use argus_protocol::model_ref::ModelRef;
use libp2p_identity::{Keypair, PeerId};

use crate::events::{In, Now, Out};
use crate::state::{Config, Durable, Identity, KnownModel, State};

fn node() -> State {
    let id = Identity {
        key: Keypair::generate_ed25519(),
        name: "stall".into(),
        backend: "ndarray".into(),
        http_addr: None,
    };
    let model = ModelRef::new("shapes", WeightsId([1; 32]));
    let known = vec![KnownModel { name: "shapes".into(), classes: 5 }];
    State::new(id, Config::default(), known, vec![model], Durable::default(), 7)
}

fn heartbeat(peer: PeerId, seq: u64) -> In {
    let hb = Heartbeat {
        node: NodeId(peer),
        seq,
        uptime_ms: seq * 1_000,
        queue_len: 0,
        avg_inference_ms: 20,
        backend: "ndarray".into(),
        models: vec![ModelRef::new("shapes", WeightsId([1; 32]))],
        audit_ratio: 0.1,
        images_processed: 0,
        audits_failed_against: 0,
        http_addr: None,
    };
    In::Gossip { author: peer, msg: GossipMessage::Heartbeat(hb) }
}

/// Runs the node from `from` to `to` ms: a tick every 20 ms, our heartbeat every second, and
/// the peer's heartbeat every second when `peer_beats`. Returns the peers it disconnected.
fn run(s: &mut State, peer: PeerId, from: u64, to: u64, peer_beats: bool) -> Vec<PeerId> {
    let mut closed = Vec::new();
    let mut t = from;
    while t < to {
        let now = Now { ms: t, wall_ms: 1_700_000_000_000 + t };
        let mut outs = s.handle(In::Tick, now);
        if t % 1_000 == 0 {
            outs.extend(s.handle(In::Heartbeat, now));
            if peer_beats {
                outs.extend(s.handle(heartbeat(peer, t / 1_000), now));
            }
        }
        closed.extend(outs.into_iter().filter_map(|o| match o {
            Out::Disconnect(p) => Some(p),
            _ => None,
        }));
        t += 20;
    }
    closed
}

#[test]
fn a_stalled_node_does_not_count_its_own_stall_as_its_peers_silence() {
    let mut s = node();
    let peer = Keypair::generate_ed25519().public().to_peer_id();
    s.handle(In::PeerUp(peer), Now { ms: 0, wall_ms: 1_700_000_000_000 });
    assert!(run(&mut s, peer, 0, 3_000, true).is_empty(), "a peer heard every second is not silent");
    // We do not run for 6 s (more than the 4 s silence rule), then our heartbeat timer fires
    // before the peer's heartbeats waiting in our socket are read.
    assert!(run(&mut s, peer, 9_000, 9_020, false).is_empty(), "our stall is not the peer's silence");
    assert_eq!(s.counters().stalls, 1);
    // The peer really is silent from now on: the rule still closes its connection.
    let closed = run(&mut s, peer, 9_020, 15_000, false);
    assert_eq!(closed, vec![peer], "silent after the stall: closed once");
    assert_eq!(s.counters().stalls, 1, "ticks every 20 ms are no stall");
}

//! FAULT INJECTION (`argus node --fault flooder`): a member that floods every topic with
//! gossip no honest node sends, beside its normal work, so the scenarios can show that the
//! others refuse it, count it, score its sender down and ban it. Each 5 ms it publishes
//! undecodable bytes or a well-formed heartbeat on the wrong topic, and every 100th message
//! is over the size limit (under gossipsub's frame limit, so it reaches the receivers'
//! validation). Its own signature is on all of it: gossipsub signs what it publishes.

use std::time::Duration;

use argus_protocol::limits::MAX_GOSSIP_BYTES;
use argus_protocol::messages::{GossipMessage, Heartbeat};
use libp2p::PeerId;

use crate::net::topics::Topic;
use crate::net::{NetCommand, NetHandle};

const PERIOD: Duration = Duration::from_millis(5);

/// Floods until the swarm task is gone.
pub async fn flood(net: NetHandle, me: PeerId) {
    tracing::warn!("FAULT INJECTION: flooding every topic with garbage, oversized and misaddressed gossip");
    let mut tick = tokio::time::interval(PERIOD);
    for n in 0u64.. {
        tick.tick().await;
        let (topic, data) = if n % 100 == 99 {
            (Topic::Images, vec![0xA5; MAX_GOSSIP_BYTES + 1])
        } else if n % 2 == 0 {
            let garbage = (0..256u64).map(|i| (n.wrapping_mul(31).wrapping_add(i * 7) % 251) as u8).collect();
            (Topic::ALL[(n / 2 % 6) as usize], garbage)
        } else {
            (Topic::Bids, misaddressed(me, n))
        };
        if net.send(NetCommand::Publish { topic, data }).await.is_err() {
            return;
        }
    }
}

/// A valid heartbeat, signed by us, published on the bids topic.
fn misaddressed(me: PeerId, seq: u64) -> Vec<u8> {
    let hb = Heartbeat {
        node: argus_protocol::ids::NodeId(me),
        seq,
        uptime_ms: 0,
        queue_len: 0,
        avg_inference_ms: 0,
        backend: "flood".into(),
        models: Vec::new(),
        audit_ratio: 0.0,
        images_processed: 0,
        audits_failed_against: 0,
        http_addr: None,
    };
    argus_protocol::codec::encode_gossip(&GossipMessage::Heartbeat(hb)).unwrap_or_default()
}

/// FAULT INJECTION (`--fault oversize-once`): 5 s after the start (time to connect), one
/// frame over every other node's gossipsub frame limit on the heartbeats topic; nothing else.
pub async fn oversize_once(net: NetHandle) {
    tokio::time::sleep(Duration::from_secs(5)).await;
    let data = vec![0x5A; crate::net::behaviour::FRAME_LIMIT + 8 * 1024];
    tracing::warn!(bytes = data.len(), "FAULT INJECTION: publishing one gossip frame over the others' limit");
    let _ = net.send(NetCommand::Publish { topic: Topic::Heartbeats, data }).await;
}

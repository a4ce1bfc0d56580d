//! The monitor's view of the network. It joins as a peer with a fresh identity (like
//! `argus send`), dials the nodes it started at the addresses from their ready lines, answers
//! the requests any peer may receive with empty answers, and turns gossip into observations:
//! heartbeats and audit verdicts. It never publishes anything and stores nothing.

use std::sync::Arc;

pub use argus_interface::api::HeartbeatSummary;
use argus_protocol::ids::ImageId;
use argus_protocol::messages::GossipMessage;
use argus_protocol::rpc::{FetchResponse, QueryResponse, SyncResponse};
use libp2p::identity::Keypair;
use libp2p::metrics::Registry;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::mpsc;
use tracing::debug;

use super::MonitorError;
use super::config::MonitorConfig;
use crate::config::NetConfig;
use crate::metrics::Metrics;
use crate::net::{InboundRequest, NetCommand, NetEvent, NetHandle, Response};

#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    Heartbeat {
        node: PeerId,
        summary: HeartbeatSummary,
    },
    /// A node published its result for an image.
    Result {
        worker: PeerId,
        image: ImageId,
    },
    Verdict {
        worker: PeerId,
        image: ImageId,
        auditor: PeerId,
        pass: bool,
    },
    PeerUp(PeerId),
    PeerDown(PeerId),
}

/// Starts the monitor's swarm task with a fresh identity.
pub fn join(cfg: &MonitorConfig) -> Result<(NetHandle, mpsc::Receiver<NetEvent>, PeerId), MonitorError> {
    let key = Keypair::generate_ed25519();
    let me = key.public().to_peer_id();
    let net_cfg = NetConfig {
        listen: cfg.listen.clone(),
        peers: cfg.peers.clone(),
        mdns: cfg.mdns,
        network_key: cfg.network_key.clone(),
        ..Default::default()
    };
    // The monitor's own swarm counters are not exposed: its /metrics is the supervisor's view.
    let (net, events) =
        crate::net::start(&key, &net_cfg, Arc::new(Metrics::default()), &mut Registry::default())
            .map_err(|e| MonitorError::Net(e.to_string()))?;
    Ok((net, events, me))
}

/// Interprets one network event; inbound requests are answered here.
pub async fn observe(net: &NetHandle, ev: NetEvent) -> Option<Observation> {
    match ev {
        NetEvent::Gossip { msg, .. } => classify(*msg),
        NetEvent::Inbound { id, req, .. } => {
            // The monitor holds no images or results: empty answers, so askers do not wait.
            let resp = match req {
                InboundRequest::Fetch(_) => Response::Fetch(FetchResponse { bytes: None }),
                InboundRequest::Query(_) => Response::Query(QueryResponse { register: None }),
                InboundRequest::Sync(_) => {
                    Response::Sync(SyncResponse::Registers { registers: Vec::new(), more: false })
                }
            };
            let _ = net.send(NetCommand::Respond { id, resp }).await;
            None
        }
        NetEvent::PeerUp(p) => Some(Observation::PeerUp(p)),
        NetEvent::PeerDown(p) => Some(Observation::PeerDown(p)),
        NetEvent::Listening(addr) => {
            debug!(%addr, "monitor listening");
            None
        }
        // Counted by the network side; the monitor only watches.
        NetEvent::Refused { .. } => None,
    }
}

/// Heartbeats, results and verdicts; a verdict a node renders on itself is not evidence.
pub fn classify(msg: GossipMessage) -> Option<Observation> {
    match msg {
        GossipMessage::Heartbeat(h) => Some(Observation::Heartbeat {
            node: h.node.0,
            summary: HeartbeatSummary {
                seq: h.seq,
                uptime_ms: h.uptime_ms,
                queue_len: h.queue_len,
                audit_ratio: h.audit_ratio,
                images_processed: h.images_processed,
                audits_failed_against: h.audits_failed_against,
            },
        }),
        GossipMessage::Result(r) => Some(Observation::Result { worker: r.worker.0, image: r.image_id }),
        GossipMessage::AuditVerdict(v) if v.worker != v.auditor => Some(Observation::Verdict {
            worker: v.worker.0,
            image: v.image_id,
            auditor: v.auditor.0,
            pass: v.pass,
        }),
        _ => None,
    }
}

/// Dials a node at each of its listen addresses (with its PeerId, so a stale address that
/// now belongs to another process is refused by the handshake).
pub async fn dial(net: &NetHandle, peer: PeerId, addrs: &[Multiaddr]) {
    for a in addrs {
        if let Err(e) = net.send(NetCommand::Dial { addr: with_peer(a, peer) }).await {
            debug!(error = %e, "cannot dial: network task gone");
            return;
        }
    }
}

/// `addr` ending in `/p2p/peer` (added when absent).
pub fn with_peer(addr: &Multiaddr, peer: PeerId) -> Multiaddr {
    if addr.iter().any(|p| matches!(p, Protocol::P2p(_))) {
        addr.clone()
    } else {
        addr.clone().with(Protocol::P2p(peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_protocol::ids::NodeId;
    use argus_protocol::messages::Heartbeat;

    #[test]
    fn heartbeats_are_observed_and_addresses_get_the_peer_id() {
        let p = PeerId::random();
        let hb = Heartbeat {
            node: NodeId(p),
            seq: 4,
            uptime_ms: 10,
            queue_len: 2,
            avg_inference_ms: 3,
            backend: "flex".into(),
            models: Vec::new(),
            audit_ratio: 0.1,
            images_processed: 9,
            audits_failed_against: 1,
            http_addr: None,
        };
        let Some(Observation::Heartbeat { node, summary }) = classify(GossipMessage::Heartbeat(hb)) else {
            panic!()
        };
        assert_eq!((node, summary.seq, summary.images_processed), (p, 4, 9));
        let a: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        let full = with_peer(&a, p);
        assert_eq!(full.to_string(), format!("/ip4/127.0.0.1/tcp/4001/p2p/{p}"));
        assert_eq!(with_peer(&full, p), full);
    }
}

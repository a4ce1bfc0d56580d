//! The libp2p behaviour of a node: connection gating, gossipsub tuned for 2-50 peers with peer
//! scoring, optional mDNS, and the three request-response protocols. Building only: no event
//! handling here (that is `swarm.rs`).

use std::time::Duration;

use argus_protocol::limits;
use argus_protocol::rpc::{
    FetchRequest, FetchResponse, PROTOCOL_FETCH, PROTOCOL_QUERY, PROTOCOL_SYNC, QueryRequest, QueryResponse,
    SyncRequest, SyncResponse,
};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{StreamProtocol, allow_block_list, gossipsub, identity::Keypair, mdns, ping};

use super::codec::CborCodec;
use super::topics::Topic;

/// Room for gossipsub's own framing around an envelope (see `max_transmit_size`).
pub const GOSSIPSUB_FRAMING_BYTES: usize = 4 * 1024;

pub type FetchBehaviour = request_response::Behaviour<CborCodec<FetchRequest, FetchResponse>>;
pub type QueryBehaviour = request_response::Behaviour<CborCodec<QueryRequest, QueryResponse>>;
pub type SyncBehaviour = request_response::Behaviour<CborCodec<SyncRequest, SyncResponse>>;

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub blocks: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    pub gossipsub: gossipsub::Behaviour,
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    pub ping: ping::Behaviour,
    pub fetch: FetchBehaviour,
    pub query: QueryBehaviour,
    pub sync: SyncBehaviour,
}

/// Gossipsub for small clusters. The defaults (mesh 6, low 5, high 12) assume large networks;
/// with 2-50 peers a mesh of 4 (3..8) reaches everyone within two hops, and flood publishing
/// makes a message's first hop go to every connected peer, which keeps bid latency to one hop.
fn gossipsub_config(frame_limit: usize) -> Result<gossipsub::Config, String> {
    gossipsub::ConfigBuilder::default()
        .heartbeat_interval(Duration::from_millis(500))
        .mesh_n(4)
        .mesh_n_low(2)
        .mesh_n_high(8)
        .mesh_outbound_min(1)
        .gossip_lazy(4)
        .flood_publish(true)
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        // The envelope may be MAX_GOSSIP_BYTES; gossipsub adds its own framing (topic, sequence
        // number, key, signature: a few hundred bytes), so a legal envelope of the maximum size
        // must still pass.
        .max_transmit_size(frame_limit)
        .duplicate_cache_time(Duration::from_secs(120))
        // libp2p abandons a message that waited in a connection's send queue longer than 5 s
        // (published) or 1 s (forwarded). A peer whose CPU is overloaded reads its sockets late,
        // so those limits drop the very bids, claims and results that keep overloaded nodes
        // from doing the same work twice, and the heartbeats that keep them connected. Late
        // is better than never for all of them; the queue stays bounded by its length (5,000).
        .publish_queue_duration(Duration::from_secs(30))
        .forward_queue_duration(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())
}

/// Peer scoring: invalid messages weigh heavily; delivery-rate penalties (P3) are off because
/// quiet topics in a small cluster would punish honest peers; IP colocation is off because
/// loopback labs and NATed hosts put many honest peers behind one address.
fn score_params() -> (gossipsub::PeerScoreParams, gossipsub::PeerScoreThresholds) {
    let mut params = gossipsub::PeerScoreParams { ip_colocation_factor_weight: 0.0, ..Default::default() };
    for topic in Topic::ALL {
        let t = gossipsub::TopicScoreParams {
            topic_weight: 1.0,
            mesh_message_deliveries_weight: 0.0,
            mesh_failure_penalty_weight: 0.0,
            invalid_message_deliveries_weight: -20.0,
            invalid_message_deliveries_decay: 0.5,
            ..Default::default()
        };
        params.topics.insert(topic.hash(), t);
    }
    (params, gossipsub::PeerScoreThresholds::default())
}

/// Gossipsub's frame limit: the largest envelope and gossipsub's own framing.
pub const FRAME_LIMIT: usize = limits::MAX_GOSSIP_BYTES + GOSSIPSUB_FRAMING_BYTES;

/// `frame_limit` is `FRAME_LIMIT` except for fault injection (see `NetConfig::oversize_once`).
pub fn build(
    key: &Keypair,
    mdns_on: bool,
    request_timeout: Duration,
    frame_limit: usize,
) -> Result<Behaviour, String> {
    let peer_id = key.public().to_peer_id();
    let config = gossipsub_config(frame_limit)?;
    let mut gossipsub =
        gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), config)
            .map_err(|e| e.to_string())?;
    let (params, thresholds) = score_params();
    gossipsub.with_peer_score(params, thresholds)?;
    for topic in Topic::ALL {
        gossipsub.subscribe(&topic.ident()).map_err(|e| e.to_string())?;
    }
    let mdns = if mdns_on {
        // Query every 5 s instead of libp2p's 5 min: a node that comes back after a partition
        // or a restart is found again within seconds; a LAN barely notices the traffic.
        let cfg = mdns::Config {
            query_interval: Duration::from_secs(5),
            ttl: Duration::from_secs(60),
            ..Default::default()
        };
        Some(mdns::tokio::Behaviour::new(cfg, peer_id).map_err(|e| e.to_string())?)
    } else {
        None
    };
    let cfg = request_response::Config::default()
        .with_request_timeout(request_timeout)
        .with_max_concurrent_streams(256);
    let rr = |name: &'static str| [(StreamProtocol::new(name), ProtocolSupport::Full)];
    Ok(Behaviour {
        blocks: Default::default(),
        gossipsub,
        mdns: mdns.into(),
        // Liveness of each connection: a link cut without a TCP reset (a partition) is noticed
        // within the timeout and the connection closed, so redials find the peer after a heal.
        ping: ping::Behaviour::new(
            ping::Config::new().with_interval(Duration::from_secs(2)).with_timeout(Duration::from_secs(5)),
        ),
        fetch: request_response::Behaviour::with_codec(CborCodec::new(), rr(PROTOCOL_FETCH), cfg.clone()),
        query: request_response::Behaviour::with_codec(CborCodec::new(), rr(PROTOCOL_QUERY), cfg.clone()),
        sync: request_response::Behaviour::with_codec(CborCodec::new(), rr(PROTOCOL_SYNC), cfg),
    })
}

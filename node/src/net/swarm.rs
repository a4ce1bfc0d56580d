//! The swarm task: the only owner of the libp2p `Swarm`. Everything else talks to it through a
//! bounded command channel (with `oneshot` replies) and hears from it through a bounded event
//! channel. It validates every gossip message structurally (size, version, CBOR, topic, author)
//! and reports Accept/Reject to gossipsub so peer scores reflect misbehaviour.
//!
//! It must never block: events go out with `try_send` (dropped and counted when the node falls
//! behind), so the node's own sends into this task can never deadlock against it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::gossipsub::{self, MessageAcceptance};
use libp2p::metrics::Recorder;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, multiaddr::Protocol};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::behaviour::{Behaviour, BehaviourEvent};
use super::{InboundRequest, NetCommand, NetError, NetEvent, Outbound, Response};
use crate::metrics::Metrics;

/// Inbound requests waiting for the node's answer; beyond it new requests are refused.
const MAX_PENDING_INBOUND: usize = 1_024;
/// Outbound requests in flight; beyond it new requests fail at once.
const MAX_PENDING_OUTBOUND: usize = 1_024;
/// Peers remembered from mDNS for redialling (a LAN of the design size has at most 50).
const MAX_MDNS_PEERS: usize = 256;
const REDIAL_TICK: Duration = Duration::from_millis(500);
const REDIAL_MIN_BACKOFF: Duration = Duration::from_millis(500);

enum Channel {
    Fetch(ResponseChannel<argus_protocol::rpc::FetchResponse>),
    Query(ResponseChannel<argus_protocol::rpc::QueryResponse>),
    Sync(ResponseChannel<argus_protocol::rpc::SyncResponse>),
}

struct Bootstrap {
    addr: Multiaddr,
    peer: Option<PeerId>,
    next_attempt: Instant,
    backoff: Duration,
}

pub struct SwarmTask {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<NetCommand>,
    events: mpsc::Sender<NetEvent>,
    metrics: Arc<Metrics>,
    /// libp2p's swarm, gossipsub and ping metrics: only recorded here, never read.
    p2p: libp2p::metrics::Metrics,
    bootstrap: Vec<Bootstrap>,
    redial_max: Duration,
    inbound: HashMap<u64, Channel>,
    next_inbound: u64,
    outbound: HashMap<OutboundRequestId, oneshot::Sender<Result<Response, NetError>>>,
    blocked: HashSet<PeerId>,
    /// Peers learned by mDNS with their addresses, redialled while disconnected: libp2p's
    /// mDNS reports a peer only once per TTL, so after a partition heals no new event comes.
    mdns_peers: HashMap<PeerId, Bootstrap>,
    /// Gossip streams that stopped carrying anything (see `wedge`).
    wedges: super::wedge::Wedges,
}

fn strip_p2p(addr: &Multiaddr) -> Multiaddr {
    addr.iter().filter(|p| !matches!(p, Protocol::P2p(_))).collect()
}

impl SwarmTask {
    pub fn new(
        swarm: Swarm<Behaviour>,
        commands: mpsc::Receiver<NetCommand>,
        events: mpsc::Sender<NetEvent>,
        metrics: Arc<Metrics>,
        p2p: libp2p::metrics::Metrics,
        bootstrap: Vec<Multiaddr>,
        redial_max: Duration,
    ) -> Self {
        let now = Instant::now();
        let bootstrap = bootstrap
            .into_iter()
            .map(|addr| {
                let peer = addr.iter().find_map(|p| match p {
                    Protocol::P2p(id) => Some(id),
                    _ => None,
                });
                Bootstrap { addr, peer, next_attempt: now, backoff: REDIAL_MIN_BACKOFF }
            })
            .collect();
        Self {
            swarm,
            commands,
            events,
            metrics,
            p2p,
            bootstrap,
            redial_max,
            inbound: HashMap::new(),
            next_inbound: 0,
            outbound: HashMap::new(),
            blocked: HashSet::new(),
            mdns_peers: HashMap::new(),
            wedges: Default::default(),
        }
    }

    /// Runs until the command channel closes (the node is shutting down).
    pub async fn run(mut self) {
        let mut redial = tokio::time::interval(REDIAL_TICK);
        redial.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => break,
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = redial.tick() => {
                    self.redial();
                    self.unwedge();
                }
            }
        }
        debug!("swarm task stopped");
    }

    fn emit(&self, event: NetEvent) {
        if self.events.try_send(event).is_err() {
            self.metrics.net_events_dropped.fetch_add(1, Ordering::Relaxed);
            warn!("node is behind: dropped a network event");
        }
    }

    fn on_command(&mut self, cmd: NetCommand) {
        match cmd {
            NetCommand::Publish { topic, data } => {
                let len = data.len() as u64;
                match self.swarm.behaviour_mut().gossipsub.publish(topic.hash(), data) {
                    Ok(_) => {
                        self.metrics.gossip_bytes_sent.fetch_add(len, Ordering::Relaxed);
                    }
                    // No peers yet is normal for a lone node: it works alone.
                    Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
                    Err(e) => debug!(topic = topic.name(), error = %e, "publish failed"),
                }
            }
            NetCommand::Request { peer, req, reply } => self.send_request(peer, req, reply),
            NetCommand::Respond { id, resp } => self.respond(id, resp),
            NetCommand::Block { peers } => {
                for p in peers {
                    info!(peer = %p, "blocking peer");
                    self.swarm.behaviour_mut().blocks.block_peer(p);
                    self.blocked.insert(p);
                }
            }
            NetCommand::Unblock { peers } => {
                for p in peers {
                    self.swarm.behaviour_mut().blocks.unblock_peer(p);
                    self.blocked.remove(&p);
                }
            }
            NetCommand::UnblockAll => {
                for p in std::mem::take(&mut self.blocked) {
                    self.swarm.behaviour_mut().blocks.unblock_peer(p);
                }
            }
            NetCommand::Dial { addr } => {
                if let Err(e) = self.swarm.dial(addr) {
                    debug!(error = %e, "dial failed");
                }
            }
            NetCommand::Disconnect { peer } => {
                info!(%peer, "closing a silent connection");
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            NetCommand::Peers { reply } => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            NetCommand::ListenAddrs { reply } => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
        }
    }

    fn send_request(
        &mut self,
        peer: PeerId,
        req: Outbound,
        reply: oneshot::Sender<Result<Response, NetError>>,
    ) {
        if self.outbound.len() >= MAX_PENDING_OUTBOUND {
            let _ = reply.send(Err(NetError::Overloaded));
            return;
        }
        let b = self.swarm.behaviour_mut();
        let id = match req {
            Outbound::Fetch(r) => b.fetch.send_request(&peer, r),
            Outbound::Query(r) => b.query.send_request(&peer, r),
            Outbound::Sync(r) => b.sync.send_request(&peer, r),
        };
        self.outbound.insert(id, reply);
    }

    fn respond(&mut self, id: u64, resp: Response) {
        let Some(channel) = self.inbound.remove(&id) else {
            return;
        };
        let b = self.swarm.behaviour_mut();
        let ok = match (channel, resp) {
            (Channel::Fetch(c), Response::Fetch(r)) => b.fetch.send_response(c, r).is_ok(),
            (Channel::Query(c), Response::Query(r)) => b.query.send_response(c, r).is_ok(),
            (Channel::Sync(c), Response::Sync(r)) => b.sync.send_response(c, r).is_ok(),
            _ => {
                warn!(id, "response kind does not match the request");
                false
            }
        };
        if !ok {
            debug!(id, "response not sent: connection gone");
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        self.p2p.record(&event);
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(e)) => {
                self.p2p.record(&e);
                self.on_gossip(e)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(e)) => self.on_mdns(e),
            SwarmEvent::Behaviour(BehaviourEvent::Fetch(e)) => {
                self.on_rr(e, Channel::Fetch, InboundRequest::Fetch, Response::Fetch)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Query(e)) => {
                self.on_rr(e, Channel::Query, InboundRequest::Query, Response::Query)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(e)) => {
                self.on_rr(e, Channel::Sync, InboundRequest::Sync, Response::Sync)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Blocks(_)) => {}
            SwarmEvent::Behaviour(BehaviourEvent::Ping(e)) => {
                self.p2p.record(&e);
                if let Err(failure) = e.result {
                    debug!(peer = %e.peer, %failure, "ping failed: closing the connection");
                    self.swarm.close_connection(e.connection);
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(%address, "listening");
                self.emit(NetEvent::Listening(address));
            }
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, num_established, .. } => {
                if endpoint.is_dialer() {
                    let dialed = strip_p2p(endpoint.get_remote_address());
                    for b in self.bootstrap.iter_mut().filter(|b| strip_p2p(&b.addr) == dialed) {
                        b.peer = Some(peer_id);
                    }
                }
                if num_established.get() == 1 {
                    self.wedges.connected(peer_id, Instant::now());
                    info!(peer = %peer_id, "peer connected");
                    self.emit(NetEvent::PeerUp(peer_id));
                }
            }
            SwarmEvent::IncomingConnectionError { send_back_addr, error, .. } => {
                if let Some(n) = crate::metrics::log_worthy(&self.metrics.connections_refused) {
                    warn!(from = %send_back_addr, %error, refused = n, "incoming connection refused (logged at refusal 1, 2, 4, 8, ...)");
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established, .. } => {
                if num_established == 0 {
                    self.wedges.disconnected(&peer_id);
                    info!(peer = %peer_id, "peer disconnected");
                    self.emit(NetEvent::PeerDown(peer_id));
                }
            }
            _ => {}
        }
    }

    fn on_mdns(&mut self, event: libp2p::mdns::Event) {
        let found = match event {
            libp2p::mdns::Event::Discovered(found) => found,
            libp2p::mdns::Event::Expired(gone) => {
                // Expiry is not a failure detector (DESIGN.md); it only ends redialling.
                for (peer, addr) in gone {
                    if self.mdns_peers.get(&peer).is_some_and(|b| b.addr == addr) {
                        self.mdns_peers.remove(&peer);
                    }
                }
                return;
            }
        };
        let now = Instant::now();
        for (peer, addr) in found {
            if self.mdns_peers.len() >= MAX_MDNS_PEERS && !self.mdns_peers.contains_key(&peer) {
                continue;
            }
            let entry = Bootstrap {
                addr: addr.clone(),
                peer: Some(peer),
                next_attempt: now,
                backoff: REDIAL_MIN_BACKOFF,
            };
            self.mdns_peers.insert(peer, entry);
            if !self.swarm.is_connected(&peer) && !self.blocked.contains(&peer) {
                debug!(%peer, %addr, "mdns discovered");
                let _ = self.swarm.dial(addr.with(Protocol::P2p(peer)));
            }
        }
    }

    fn on_gossip(&mut self, event: gossipsub::Event) {
        let gossipsub::Event::Message { propagation_source, message_id, message } = event else {
            return;
        };
        if let Some(author) = message.source {
            self.wedges.seen(author, propagation_source, Instant::now());
        }
        let verdict = super::gossip::judge(&message, &propagation_source, &self.metrics);
        let acceptance = if verdict.is_ok() { MessageAcceptance::Accept } else { MessageAcceptance::Reject };
        self.swarm.behaviour_mut().gossipsub.report_message_validation_result(
            &message_id,
            &propagation_source,
            acceptance,
        );
        match verdict {
            Ok((author, msg)) => {
                self.metrics.gossip_received.fetch_add(1, Ordering::Relaxed);
                self.emit(NetEvent::Gossip { author, msg: Box::new(msg) });
            }
            Err(why) if why.is_offence() => self.emit(NetEvent::Refused { peer: propagation_source }),
            Err(_) => {}
        }
    }

    fn on_rr<Req, Resp>(
        &mut self,
        event: request_response::Event<Req, Resp>,
        wrap_channel: fn(ResponseChannel<Resp>) -> Channel,
        wrap_req: fn(Req) -> InboundRequest,
        wrap_resp: fn(Resp) -> Response,
    ) {
        use request_response::{Event, Message};
        match event {
            Event::Message { peer, message: Message::Request { request, channel, .. }, .. } => {
                if self.inbound.len() >= MAX_PENDING_INBOUND {
                    warn!(%peer, "too many pending inbound requests: refused");
                    return; // dropping the channel tells the peer
                }
                let id = self.next_inbound;
                self.next_inbound += 1;
                self.inbound.insert(id, wrap_channel(channel));
                self.emit(NetEvent::Inbound { id, peer, req: wrap_req(request) });
            }
            Event::Message { message: Message::Response { request_id, response }, .. } => {
                if let Some(reply) = self.outbound.remove(&request_id) {
                    let _ = reply.send(Ok(wrap_resp(response)));
                }
            }
            Event::OutboundFailure { request_id, error, peer, .. } => {
                debug!(%peer, %error, "request failed");
                if let Some(reply) = self.outbound.remove(&request_id) {
                    let _ = reply.send(Err(NetError::Request(error.to_string())));
                }
            }
            Event::InboundFailure { peer, error, .. } => {
                debug!(%peer, %error, "inbound request failed");
            }
            Event::ResponseSent { .. } => {}
        }
    }
}

#[path = "redial.rs"]
mod redial;

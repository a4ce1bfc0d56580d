//! Who is there, as one node sees it: the nodes heard in heartbeats (and whether we closed
//! their connection for silence), the sources seen announcing, our own heartbeat, and the
//! views built from them: live nodes, audit candidates, the bidders an auction waits for.

use argus_protocol::messages::{GossipMessage, Heartbeat};
use argus_protocol::model_ref::ModelRef;
use libp2p_identity::PeerId;

use crate::events::Out;
use crate::seen::{MAX_NODES_SEEN, NodeSeen};
use crate::state::State;

impl State {
    /// A peer's heartbeat.
    pub(crate) fn on_peer_heartbeat(&mut self, h: Heartbeat) {
        let per_s = self.nodes.get(&h.node.0).map_or(0.0, |p| {
            throughput(p.per_s, p.images_processed, h.images_processed, self.now.ms.saturating_sub(p.last_ms))
        });
        let seen = NodeSeen {
            last_ms: self.now.ms,
            uptime_ms: h.uptime_ms,
            models: h.models,
            closed: false,
            backend: h.backend,
            queue_len: h.queue_len,
            avg_inference_ms: h.avg_inference_ms,
            audit_ratio: h.audit_ratio,
            images_processed: h.images_processed,
            per_s,
        };
        // Heartbeats come every second: a gap of 2.5 s means some messages were lost.
        let gap_ms = self.cfg.node_live_ms / 2;
        if self.nodes.len() >= MAX_NODES_SEEN && !self.nodes.contains_key(&h.node.0) {
            // Forget the node heard from longest ago (ties: the lowest id).
            if let Some(old) = self.nodes.iter().min_by_key(|(p, s)| (s.last_ms, **p)).map(|(p, _)| *p) {
                self.nodes.remove(&old);
            }
        }
        let prev = self.nodes.insert(h.node.0, seen);
        if let Some(p) = &prev
            && !p.closed
            && self.peers.contains_key(&h.node.0)
        {
            let gap = self.now.ms.saturating_sub(p.last_ms);
            if gap <= self.silence_ms() {
                self.hb_gaps.sample(gap);
            }
        }
        if prev.as_ref().is_some_and(|p| h.uptime_ms < p.uptime_ms) {
            self.forgive_restarted(&h.node.0);
        }
        if prev.is_none_or(|p| self.now.ms.saturating_sub(p.last_ms) >= gap_ms) {
            self.node_back();
        }
    }

    /// Every node this one remembers from heartbeats, as the console shows it, by peer id.
    pub fn cluster(&self, now_ms: u64) -> Vec<crate::seen::PeerView> {
        let mut v: Vec<_> = self
            .nodes
            .iter()
            .map(|(p, s)| {
                let connected = self.peers.contains_key(p);
                crate::seen::PeerView {
                    peer: *p,
                    backend: s.backend.clone(),
                    models: s.models.iter().map(|m| m.name.clone()).collect(),
                    queue_len: s.queue_len,
                    avg_inference_ms: s.avg_inference_ms,
                    audit_ratio: s.audit_ratio,
                    images_processed: s.images_processed,
                    per_s: s.per_s,
                    uptime_ms: s.uptime_ms,
                    heard_ms_ago: now_ms.saturating_sub(s.last_ms),
                    live: self.is_live(p, s, now_ms),
                    connected,
                }
            })
            .collect();
        v.sort_by_key(|p| p.peer);
        v
    }

    /// A node is live: connected and heard from within the liveness window.
    fn is_live(&self, p: &PeerId, s: &NodeSeen, now_ms: u64) -> bool {
        self.peers.contains_key(p) && now_ms.saturating_sub(s.last_ms) < self.live_ms()
    }

    /// The liveness window: `node_live_ms`, longer while heartbeats run late (see
    /// `lateness::HeartbeatGaps`).
    pub(crate) fn live_ms(&self) -> u64 {
        self.hb_gaps.window_ms(self.cfg.node_live_ms)
    }

    /// How long a connected peer may go unheard before its connection is closed:
    /// `silent_connection_ms`, longer while heartbeats run late.
    pub(crate) fn silence_ms(&self) -> u64 {
        self.hb_gaps.window_ms(self.cfg.silent_connection_ms)
    }

    /// Live peers (see `is_live`), sorted.
    pub fn live_nodes(&self, now_ms: u64) -> Vec<PeerId> {
        let mut v: Vec<_> =
            self.nodes.iter().filter(|(p, s)| self.is_live(p, s, now_ms)).map(|(p, _)| *p).collect();
        v.sort();
        v
    }

    /// The peers an auction for an image of this model waits for before it closes early:
    /// every connected node whose last heartbeat, however old, advertised a model of this
    /// name (a node that restarted bids as soon as it reconnects, before its next heartbeat
    /// makes it live again), and every node not connected to us that did so within the
    /// liveness window (its gossip comes relayed by others). `None` while some connected peer
    /// is still unknown: neither heard in a heartbeat nor seen announcing as a source, and
    /// connected for less than `settle_ms`; until then this node cannot tell who will bid,
    /// and its auctions close by their timeout only (a peer that just joined). Also `None`
    /// during this node's first liveness window (`node_live_ms`) after it starts.
    pub(crate) fn expected_bidders(&self, model_name: &str) -> Option<Vec<PeerId>> {
        let now = self.now.ms;
        if now < self.cfg.node_live_ms {
            // Up for less than a liveness window: peers' loads are unknown too (the first
            // bids herd on cold estimates), and the full window spreads a start-up burst.
            return None;
        }
        let unknown = |(p, since): (&PeerId, &u64)| {
            !self.nodes.contains_key(p)
                && !self.sources.contains(p)
                && now.saturating_sub(*since) < self.cfg.settle_ms
        };
        if self.peers.iter().any(unknown) {
            return None;
        }
        let runs = |s: &NodeSeen| s.models.iter().any(|m| m.name == model_name);
        // Gossip also reaches nodes we have no connection to, through the peers we share
        // (a node that knows only a bootstrap peer): one heard within the liveness window
        // bids too, and every node must count it to draw the same candidates.
        let relayed = |p: &PeerId, s: &NodeSeen| {
            !self.peers.contains_key(p) && !s.closed && now.saturating_sub(s.last_ms) < self.live_ms()
        };
        let mut v: Vec<PeerId> = self
            .nodes
            .iter()
            .filter(|(p, s)| runs(s) && (self.peers.contains_key(p) || relayed(p, s)))
            .map(|(p, _)| *p)
            .collect();
        v.sort();
        Some(v)
    }

    /// We joined a settled network less than a liveness window ago: a peer's last heartbeat
    /// says it has been up for longer than that. We then hold our bids back (see
    /// `Entrants::newcomer`). In a network starting together every node is new, and they bid
    /// as usual, by the timeout of their windows.
    pub(crate) fn newcomer(&self) -> bool {
        let live = self.cfg.node_live_ms;
        self.now.ms < live && self.nodes.values().any(|s| s.uptime_ms >= live)
    }

    /// Live peers that run exactly this model and weights (candidate auditors).
    pub(crate) fn live_holders(&self, model: &ModelRef) -> Vec<PeerId> {
        let mut v = self.live_nodes(self.now.ms);
        v.retain(|p| self.nodes.get(p).is_some_and(|s| s.models.contains(model)));
        v
    }

    pub(crate) fn on_heartbeat(&mut self) {
        if !self.started {
            self.started = true;
            self.recheck_recorded();
        }
        self.heartbeat_seq += 1;
        let hb = Heartbeat {
            node: self.node_id(),
            seq: self.heartbeat_seq,
            uptime_ms: self.now.ms,
            queue_len: self.queued_jobs().min(u64::from(u32::MAX)) as u32,
            avg_inference_ms: self.load.avg_ms_overall(),
            backend: self.id.backend.clone(),
            models: self.served.clone(),
            audit_ratio: self.ratio.value() as f32,
            images_processed: self.counters.images_processed,
            audits_failed_against: self.counters.audits_failed_against,
            http_addr: self.id.http_addr.clone(),
        };
        self.publish(GossipMessage::Heartbeat(hb));
        self.drop_silent_connections();
        self.check_reputation();
        self.out.push(Out::SaveClock(self.hlc.last().0));
        self.images.expire(self.now.ms);
        self.audit_housekeeping();
    }

    fn drop_silent_connections(&mut self) {
        let now = self.now.ms;
        let limit = self.silence_ms();
        let mut silent: Vec<PeerId> = self
            .nodes
            .iter()
            .filter(|(p, s)| !s.closed && self.peers.contains_key(p) && now.saturating_sub(s.last_ms) > limit)
            .map(|(p, _)| *p)
            .collect();
        silent.sort();
        for peer in silent {
            // Closed once until it is heard again.
            if let Some(s) = self.nodes.get_mut(&peer) {
                s.closed = true;
            }
            self.counters.connections_closed_silent += 1;
            self.out.push(Out::Disconnect(peer));
        }
    }
}

/// Images a second, smoothed over heartbeats (weight 0.3 for the newest interval); a counter
/// that went back (a restart) or no time passed leaves the last value.
pub(crate) fn throughput(last: f32, before: u64, now: u64, elapsed_ms: u64) -> f32 {
    if now < before || elapsed_ms == 0 {
        return last;
    }
    let rate = (now - before) as f32 * 1_000.0 / elapsed_ms as f32;
    if last == 0.0 { rate } else { 0.7 * last + 0.3 * rate }
}

#[cfg(test)]
mod tests {
    #[test]
    fn throughput_is_smoothed_and_survives_a_restart() {
        use super::throughput;
        assert_eq!(throughput(0.0, 10, 20, 1_000), 10.0);
        assert!((throughput(10.0, 20, 40, 1_000) - 13.0).abs() < 1e-4);
        assert_eq!(throughput(13.0, 40, 3, 1_000), 13.0, "restarted: its counter went back");
    }
}

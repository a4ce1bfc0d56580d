//! The swarm task's periodic duties: redialling mDNS and bootstrap peers that are not
//! connected (with capped backoff), and replacing connections whose gossip stream from the
//! peer is wedged (see `wedge`).

use std::sync::atomic::Ordering;
use std::time::Instant;

use libp2p::multiaddr::Protocol;
use tracing::{debug, warn};

use super::{REDIAL_MIN_BACKOFF, SwarmTask};

impl SwarmTask {
    pub(super) fn redial(&mut self) {
        let now = Instant::now();
        let mut due = Vec::new();
        for (peer, b) in self.mdns_peers.iter_mut() {
            if self.swarm.is_connected(peer) || self.blocked.contains(peer) {
                b.backoff = REDIAL_MIN_BACKOFF;
                continue;
            }
            if now >= b.next_attempt {
                b.backoff = (b.backoff * 2).min(self.redial_max);
                b.next_attempt = now + b.backoff;
                due.push(b.addr.clone().with(Protocol::P2p(*peer)));
            }
        }
        for addr in due {
            if let Err(e) = self.swarm.dial(addr.clone()) {
                debug!(%addr, error = %e, "mdns redial failed");
            }
        }
        for i in 0..self.bootstrap.len() {
            let connected = self.bootstrap[i].peer.is_some_and(|p| self.swarm.is_connected(&p));
            let b = &mut self.bootstrap[i];
            if connected {
                b.backoff = REDIAL_MIN_BACKOFF;
                b.next_attempt = now + b.backoff;
                continue;
            }
            if now < b.next_attempt {
                continue;
            }
            b.backoff = (b.backoff * 2).min(self.redial_max);
            b.next_attempt = now + b.backoff;
            let addr = b.addr.clone();
            if let Err(e) = self.swarm.dial(addr.clone()) {
                debug!(%addr, error = %e, "bootstrap dial failed");
            }
        }
    }

    /// Closes the connections of the peers whose gossip stream to us is wedged; the redial
    /// (ours or theirs) opens fresh streams.
    pub(super) fn unwedge(&mut self) {
        for peer in self.wedges.wedged(Instant::now()) {
            let n = self.metrics.gossip_streams_wedged.fetch_add(1, Ordering::Relaxed) + 1;
            warn!(%peer, wedged = n, "its gossip reaches us only through others: our stream from it is wedged, reconnecting");
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }
}

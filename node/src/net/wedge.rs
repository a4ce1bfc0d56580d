//! Gossip streams that stopped carrying anything.
//!
//! Where it happens (libp2p-gossipsub 0.50.1, `handler.rs`): a frame over the receiver's
//! `max_transmit_size` makes the receiver's inbound stream yield a decode error; the handler
//! closes its side of that stream and drops it ("if the peer is still around, they will
//! re-establish their outbound stream"). The sender is not told: its outbound stream stays
//! open and its later frames go into a stream nobody reads, so every later message it sends us
//! on that connection is lost, with no event, no log above debug and no counter on either
//! side, until the connection is replaced. Nothing in argus can see the frame itself.
//!
//! What argus can see: it publishes with `flood_publish`, so each message a peer publishes
//! itself reaches every connected peer directly from it (propagation source = author). When a
//! connected peer's own messages keep arriving only relayed by others (at least
//! `RELAYED_MIN` of them) and none directly for `WEDGED_AFTER`, its stream to us is wedged:
//! the swarm task closes the connection, and the redial opens fresh streams. Without another
//! path the peer's messages stop altogether, and the state's silent-connection rule closes the
//! connection instead. Honest argus nodes cannot send such a frame (their own gossipsub
//! refuses to publish over the same limit), so this covers peers with another configuration.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// No direct message from a connected peer for this long, while its messages come relayed.
/// Only the first copy of a message is seen here (gossipsub drops later ones as duplicates),
/// and on an overloaded network a busy author's direct copy often comes after a relayed one:
/// with 10 s, a 40 s overload of 12 nodes on 2 cores replaced about 70 healthy connections,
/// dropping what was queued on them. A publish waits at most 30 s in a send queue (see
/// `behaviour`), so a stream that delivered nothing first for longer is of no use anyway.
pub const WEDGED_AFTER: Duration = Duration::from_secs(30);
/// Relayed messages of its own since its last direct one (a peer heartbeats every second).
pub const RELAYED_MIN: u32 = 24;
/// Peers tracked (connected ones only; a LAN of the design size has at most 50).
const MAX_TRACKED: usize = 1_024;

#[derive(Debug, Clone, Copy)]
struct Track {
    /// Its last message that came to us from it directly, or when it connected.
    direct: Instant,
    /// Its messages that came relayed since then.
    relayed: u32,
}

#[derive(Debug, Default)]
pub struct Wedges {
    peers: HashMap<PeerId, Track>,
}

impl Wedges {
    /// A new connection to `peer`: fresh streams, a fresh grace period.
    pub fn connected(&mut self, peer: PeerId, now: Instant) {
        if self.peers.len() < MAX_TRACKED || self.peers.contains_key(&peer) {
            self.peers.insert(peer, Track { direct: now, relayed: 0 });
        }
    }

    pub fn disconnected(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
    }

    /// A gossip message `author` published reached us from `via`.
    pub fn seen(&mut self, author: PeerId, via: PeerId, now: Instant) {
        if let Some(t) = self.peers.get_mut(&author) {
            if author == via {
                *t = Track { direct: now, relayed: 0 };
            } else {
                t.relayed = t.relayed.saturating_add(1);
            }
        }
    }

    /// The connected peers whose stream to us is wedged (see the module docs); each is
    /// reported once per connection.
    pub fn wedged(&mut self, now: Instant) -> Vec<PeerId> {
        let mut out: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, t)| t.relayed >= RELAYED_MIN && now.duration_since(t.direct) >= WEDGED_AFTER)
            .map(|(p, _)| *p)
            .collect();
        out.sort();
        for p in &out {
            self.peers.remove(p);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_heard_only_through_others_is_wedged_once() {
        let (mut w, t0) = (Wedges::default(), Instant::now());
        let (a, b, relay) = (PeerId::random(), PeerId::random(), PeerId::random());
        w.connected(a, t0);
        w.connected(b, t0);
        for s in 1..=32u64 {
            let now = t0 + Duration::from_secs(s);
            w.seen(a, relay, now); // a: relayed only, from its first second on
            w.seen(b, relay, now); // b: relayed, and directly every third second
            if s % 3 == 0 {
                w.seen(b, b, now);
            }
        }
        assert!(w.wedged(t0 + WEDGED_AFTER - Duration::from_millis(1)).is_empty(), "within the grace");
        assert_eq!(w.wedged(t0 + WEDGED_AFTER), vec![a]);
        assert!(w.wedged(t0 + Duration::from_secs(40)).is_empty(), "reported once; b is fine");
    }

    #[test]
    fn a_quiet_peer_is_not_wedged_and_strangers_are_not_tracked() {
        let (mut w, t0) = (Wedges::default(), Instant::now());
        let (a, stranger, relay) = (PeerId::random(), PeerId::random(), PeerId::random());
        w.connected(a, t0);
        w.seen(a, relay, t0); // a few relayed messages are normal (a relay may be faster)
        w.seen(stranger, relay, t0);
        assert!(w.wedged(t0 + Duration::from_secs(60)).is_empty());
        assert_eq!(w.peers.len(), 1);
        w.disconnected(&a);
        assert!(w.peers.is_empty());
    }
}

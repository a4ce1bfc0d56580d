//! Hostile peers: what each peer did wrong, and bans. A member of the network can still
//! misbehave (a bug, a compromised host, a peer that holds the network key): claim work and
//! never deliver it, sign garbage or replay other nodes' attestations, flood the topics with
//! messages nobody can decode. Every node keeps its own score per peer from what it saw
//! itself, so no peer can get another banned by saying so:
//!
//! - Offences that no honest node of this version commits (`Offence::weight`) add to a score
//!   that halves every `half_life_ms`; at `ban_score` the peer is banned.
//! - A peer that has held an image (in our view of its auction) for `stall_ms`, delivered
//!   nothing since it took it (no valid result, no valid PASS verdict, for any image), and
//!   kept heartbeating for `stall_ms` after it took it, is a black hole and is banned at once.
//!   Renewed claims keep a slow holder's images from being taken over, so without this rule
//!   a peer that renews and never delivers would hold images for ever. A busy honest holder
//!   delivers a result per inference however long its queue; one that crashed, paused or was
//!   cut off stops heartbeating, and its images are taken over as before.
//!
//! A ban lasts `ban_ms`: the peer's gossip is dropped (also when relayed by others), it leaves
//! every auction it was in, and the network layer closes its connections and refuses new
//! ones until the ban ends.

use std::collections::{BTreeMap, HashMap};

use libp2p_identity::PeerId;

use crate::seen::MAX_NODES_SEEN;

/// What a peer did wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offence {
    /// Gossip the network layer refused: unsigned, undecodable, over the size limit, or with
    /// an author that is not its signer. Gossipsub forwards only messages its receivers
    /// accepted, so the peer that handed it to us sent it. (Another protocol version is not an
    /// offence: a rolling upgrade mixes versions.)
    BadGossip,
    /// A result or audit verdict whose attestation does not verify (forged, replayed from
    /// another node or another result, or garbage), signed in an envelope by this peer.
    BadAttestation,
    /// Held an image for `stall_ms` without delivering anything (see the module docs).
    Stalled,
}

impl Offence {
    fn weight(self, cfg: &ReputationConfig) -> f64 {
        match self {
            Offence::BadGossip | Offence::BadAttestation => 4.0,
            Offence::Stalled => cfg.ban_score,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Offence::BadGossip => "bad_gossip",
            Offence::BadAttestation => "bad_attestation",
            Offence::Stalled => "stalled",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ReputationConfig {
    /// Score at which a peer is banned (each offence adds its weight: 4).
    pub ban_score: f64,
    pub half_life_ms: u64,
    pub ban_ms: u64,
    /// How long a peer may hold an image without delivering anything (see the module docs).
    /// It must exceed the slowest single inference (or audit) of any node, with its fetch;
    /// a busy honest node delivers a result per inference.
    pub stall_ms: u64,
}

impl Default for ReputationConfig {
    fn default() -> Self {
        Self { ban_score: 10.0, half_life_ms: 30_000, ban_ms: 600_000, stall_ms: 15_000 }
    }
}

/// A ban in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// Wall-clock ms of the ban, and when it ends (`Now::ms`).
    pub since_wall_ms: u64,
    pub until_ms: u64,
    pub offence: Offence,
}

#[derive(Debug, Default, Clone)]
struct Record {
    score: f64,
    at_ms: u64,
    /// When the peer last delivered (see `delivered`).
    delivered_ms: Option<u64>,
}

/// Scores and bans, bounded by `MAX_NODES_SEEN` peers each.
#[derive(Debug, Default)]
pub struct Reputation {
    cfg: ReputationConfig,
    records: HashMap<PeerId, Record>,
    bans: BTreeMap<PeerId, Ban>,
}

impl Reputation {
    pub fn new(cfg: ReputationConfig) -> Self {
        Self { cfg, ..Self::default() }
    }

    pub fn is_banned(&self, peer: &PeerId) -> bool {
        self.bans.contains_key(peer)
    }

    pub fn bans(&self) -> impl Iterator<Item = (&PeerId, &Ban)> {
        self.bans.iter()
    }

    fn record(&mut self, peer: PeerId) -> Option<&mut Record> {
        if self.records.len() >= MAX_NODES_SEEN && !self.records.contains_key(&peer) {
            // Forget the peer with the oldest activity (ties: the lowest id).
            let old = self.records.iter().min_by_key(|(p, r)| (r.at_ms, **p)).map(|(p, _)| *p)?;
            self.records.remove(&old);
        }
        Some(self.records.entry(peer).or_default())
    }

    /// Counts an offence; true when it bans the peer now.
    pub fn offend(&mut self, peer: PeerId, offence: Offence, now_ms: u64, wall_ms: u64) -> bool {
        if self.is_banned(&peer) {
            return false;
        }
        let cfg = self.cfg.clone();
        let Some(r) = self.record(peer) else { return false };
        let elapsed = now_ms.saturating_sub(r.at_ms) as f64;
        r.score = r.score * 0.5f64.powf(elapsed / cfg.half_life_ms.max(1) as f64) + offence.weight(&cfg);
        r.at_ms = now_ms;
        if r.score < cfg.ban_score {
            return false;
        }
        self.records.remove(&peer);
        if self.bans.len() >= MAX_NODES_SEEN {
            return false; // cannot happen with fewer peers than that; never grow unbounded
        }
        let ban = Ban { since_wall_ms: wall_ms, until_ms: now_ms + cfg.ban_ms, offence };
        self.bans.insert(peer, ban);
        true
    }

    /// The peer delivered: a valid result or a valid PASS verdict. (Handing some images on
    /// is no delivery: a black hole could hand on a few and hold the rest.)
    pub fn delivered(&mut self, peer: PeerId, now_ms: u64) {
        if let Some(r) = self.record(peer) {
            r.delivered_ms = Some(now_ms);
            r.at_ms = r.at_ms.max(now_ms);
        }
    }

    /// The black holes (see the module docs) among the holders: `holds` gives, per peer, since
    /// when it has held the image it has held longest; `heard` when its last heartbeat came.
    pub fn stalled(
        &self,
        now_ms: u64,
        holds: &BTreeMap<PeerId, u64>,
        heard: impl Fn(&PeerId) -> Option<u64>,
    ) -> Vec<PeerId> {
        let stall = self.cfg.stall_ms;
        holds
            .iter()
            .filter(|(p, since)| {
                let delivered = self.records.get(p).and_then(|r| r.delivered_ms);
                now_ms.saturating_sub(**since) >= stall
                    && delivered.is_none_or(|d| d < **since)
                    && heard(p).is_some_and(|h| h >= **since + stall)
                    && !self.is_banned(p)
            })
            .map(|(p, _)| *p)
            .collect()
    }

    /// Bans that ended by `now_ms`, removed.
    pub fn expired(&mut self, now_ms: u64) -> Vec<PeerId> {
        let ended: Vec<PeerId> =
            self.bans.iter().filter(|(_, b)| b.until_ms <= now_ms).map(|(p, _)| *p).collect();
        for p in &ended {
            self.bans.remove(p);
        }
        ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u64) -> PeerId {
        let mut secret = [1u8; 32];
        secret[..8].copy_from_slice(&n.to_le_bytes());
        libp2p_identity::Keypair::ed25519_from_bytes(secret).unwrap().public().to_peer_id()
    }

    fn rep() -> Reputation {
        Reputation::new(ReputationConfig::default())
    }

    #[test]
    fn three_offences_close_together_ban_two_do_not_and_scores_decay() {
        let (mut r, p) = (rep(), peer(1));
        assert!(!r.offend(p, Offence::BadGossip, 0, 0));
        assert!(!r.offend(p, Offence::BadAttestation, 100, 0));
        assert!(!r.is_banned(&p));
        assert!(r.offend(p, Offence::BadGossip, 200, 7), "4 + 4 + 4 >= 10");
        assert_eq!(r.bans().next().map(|(_, b)| (b.since_wall_ms, b.until_ms)), Some((7, 600_200)));
        assert!(!r.offend(p, Offence::BadGossip, 300, 0), "a banned peer is not banned twice");

        let q = peer(2);
        for i in 0..10u64 {
            // One offence a minute: each has halved twice before the next.
            assert!(!r.offend(q, Offence::BadGossip, i * 60_000, 0), "offence {i}");
        }
    }

    #[test]
    fn a_holder_heard_for_the_whole_stall_that_delivered_nothing_is_a_black_hole() {
        let (mut r, p, q, z) = (rep(), peer(1), peer(2), peer(3));
        // p and q have held an image since 1 s, z since 10 s; all heartbeat until 16 s.
        let holds = BTreeMap::from([(p, 1_000), (q, 1_000), (z, 10_000)]);
        r.delivered(q, 2_000); // q delivered a result after it took its image: busy, not a hole
        r.delivered(p, 500); // p's last delivery came before
        let heard = |_: &PeerId| Some(16_000);
        assert!(r.stalled(15_999, &holds, heard).is_empty());
        assert_eq!(r.stalled(16_000, &holds, heard), vec![p]);
        // Paused or cut off at 12 s: its heartbeats stopped before the stall ran out.
        assert!(r.stalled(20_000, &holds, |_| Some(12_000)).is_empty());
        assert!(r.stalled(20_000, &holds, |_| None).is_empty());
    }

    #[test]
    fn bans_end_and_the_records_stay_bounded() {
        let mut r = rep();
        let p = peer(1);
        assert!(r.offend(p, Offence::Stalled, 5, 5), "a stall bans at once");
        assert!(r.expired(600_004).is_empty());
        assert_eq!(r.expired(600_005), vec![p]);
        assert!(!r.is_banned(&p));
        for i in 0..(MAX_NODES_SEEN as u64 + 50) {
            r.delivered(peer(i + 10), i);
        }
        assert!(r.records.len() <= MAX_NODES_SEEN);
    }
}

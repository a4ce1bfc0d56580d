//! The state's side of `reputation`: offences seen here, bans and what they change, and the
//! hostile faults a state acts out for tests and scenarios (`fault::Hostile`).

use argus_protocol::attestation::AttestationWire;
use libp2p_identity::PeerId;
use serde_bytes::ByteBuf;
use tracing::{info, warn};

use crate::events::Out;
use crate::fault::Hostile;
use crate::reputation::{Ban, Offence};
use crate::state::State;

impl State {
    /// FAULT INJECTION: makes this node a black hole or a liar (see `fault::Fault`).
    pub fn set_hostile(&mut self, hostile: Hostile) {
        self.hostile = hostile;
    }

    /// The bans in force here.
    pub fn bans(&self) -> impl Iterator<Item = (&PeerId, &Ban)> {
        self.rep.bans()
    }

    /// True (and counted) when gossip from `author` must be dropped: it is banned.
    pub(crate) fn drop_banned(&mut self, author: &PeerId) -> bool {
        let banned = self.rep.is_banned(author);
        self.counters.gossip_from_banned += u64::from(banned);
        banned
    }

    pub(crate) fn is_banned(&self, peer: &PeerId) -> bool {
        self.rep.is_banned(peer)
    }

    /// A peer did something no honest node does: score it, and ban it at the threshold.
    pub(crate) fn offend(&mut self, peer: PeerId, offence: Offence) {
        if peer == self.me {
            return;
        }
        match offence {
            Offence::BadGossip => self.counters.offences_bad_gossip += 1,
            Offence::BadAttestation => self.counters.offences_bad_attestation += 1,
            Offence::Stalled => {}
        }
        if !self.rep.offend(peer, offence, self.now.ms, self.now.wall_ms) {
            return;
        }
        self.counters.peers_banned += 1;
        warn!(%peer, offence = offence.name(), ban_s = self.cfg.reputation.ban_ms / 1_000, "peer banned: its gossip is dropped and its connections refused");
        self.nodes.remove(&peer);
        self.sources.remove(&peer);
        self.peers.remove(&peer);
        self.counters.peers = self.peers.len() as u64;
        self.sched.forget(&peer);
        self.out.push(Out::Ban(peer));
    }

    /// At each heartbeat: ban the live holders that deliver nothing, and end the bans due.
    pub(crate) fn check_reputation(&mut self) {
        let holds = self.sched.holds();
        let nodes = &self.nodes;
        for peer in self.rep.stalled(self.now.ms, &holds, |p| nodes.get(p).map(|s| s.last_ms)) {
            self.offend(peer, Offence::Stalled);
        }
        for peer in self.rep.expired(self.now.ms) {
            info!(%peer, "ban ended");
            self.out.push(Out::Unban(peer));
        }
    }

    /// A liar's attestation in place of `honest`: one replayed from another node's result,
    /// and garbage, in turn.
    pub(crate) fn lie(&mut self, honest: AttestationWire) -> AttestationWire {
        self.lies += 1;
        match (&self.overheard, self.lies % 2) {
            (Some(other), 0) => other.clone(),
            _ => AttestationWire { signature: ByteBuf::from(vec![0xA5; 64]), ..honest },
        }
    }

    pub(crate) fn lying(&self) -> bool {
        self.hostile == Hostile::Liar
    }
}

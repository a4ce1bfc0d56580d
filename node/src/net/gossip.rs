//! Incoming gossip: structural validation (size, version, CBOR, topic, author), and the kinds
//! of refusal, each with its counter.

use libp2p::PeerId;
use tracing::warn;

use argus_protocol::messages::GossipMessage;

use super::topics::Topic;
use crate::metrics::Metrics;

/// The peer that must have signed a message: the author field of each kind.
pub fn author(msg: &GossipMessage) -> PeerId {
    match msg {
        GossipMessage::Announce(a) => a.source.0,
        GossipMessage::Bid(b) => b.bidder.0,
        GossipMessage::Claim(c) => c.winner.0,
        GossipMessage::Result(r) => r.worker.0,
        GossipMessage::AuditRequest(r) => r.worker.0,
        GossipMessage::AuditVerdict(v) => v.auditor.0,
        GossipMessage::Digest(d) => d.node.0,
        GossipMessage::Heartbeat(h) => h.node.0,
        GossipMessage::Steal(s) => s.thief.0,
        GossipMessage::Handoff(h) => h.from.0,
    }
}

/// Structural validation of one gossip message: it decodes within limits and version, travels
/// on its own topic, and names as its author the peer that signed it.
pub(crate) fn validate(message: &libp2p::gossipsub::Message) -> Result<(PeerId, GossipMessage), Rejected> {
    use argus_protocol::codec::CodecError;
    let source = message.source.ok_or(Rejected::Unsigned)?;
    let topic = Topic::from_hash(&message.topic).ok_or(Rejected::Misaddressed("unknown topic"))?;
    let msg = argus_protocol::codec::decode_gossip(&message.data).map_err(|e| match e {
        CodecError::WrongVersion { .. } => Rejected::WrongVersion,
        CodecError::TooLarge { .. } => Rejected::Oversized,
        _ => Rejected::Undecodable,
    })?;
    if Topic::of(&msg) != topic {
        return Err(Rejected::Misaddressed("message on the wrong topic"));
    }
    if author(&msg) != source {
        return Err(Rejected::Misaddressed("author field does not match the signer"));
    }
    Ok((source, msg))
}

/// Why a gossip message was refused; each kind has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejected {
    Unsigned,
    WrongVersion,
    Oversized,
    /// Malformed CBOR or an invalid message.
    Undecodable,
    /// Unknown or wrong topic, or an author field that is not the signer.
    Misaddressed(&'static str),
}

impl Rejected {
    /// Counts one rejected message (all kinds, and its kind); returns the kind's count when it
    /// is worth a log line (`metrics::log_worthy`).
    pub(crate) fn count(self, m: &Metrics) -> Option<u64> {
        m.gossip_rejected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        crate::metrics::log_worthy(match self {
            Rejected::Unsigned => &m.gossip_rejected_unsigned,
            Rejected::WrongVersion => &m.gossip_rejected_wrong_version,
            Rejected::Oversized => &m.gossip_rejected_oversized,
            Rejected::Undecodable => &m.gossip_rejected_undecodable,
            Rejected::Misaddressed(_) => &m.gossip_rejected_misaddressed,
        })
    }

    pub(crate) fn reason(self) -> &'static str {
        match self {
            Rejected::Unsigned => "unsigned message",
            Rejected::WrongVersion => "another protocol version",
            Rejected::Oversized => "over the size limit",
            Rejected::Undecodable => "undecodable or invalid message",
            Rejected::Misaddressed(why) => why,
        }
    }

    /// Whether the peer that handed us the message is to blame (see
    /// `argus_state::reputation::Offence::BadGossip`): gossipsub forwards only messages its
    /// receivers accepted. Another protocol version is no offence (a rolling upgrade).
    pub(crate) fn is_offence(self) -> bool {
        !matches!(self, Rejected::WrongVersion)
    }
}

/// Validates a message from `from`, counting and (rate-limited) logging a refusal.
pub(crate) fn judge(
    message: &libp2p::gossipsub::Message,
    from: &PeerId,
    metrics: &Metrics,
) -> Result<(PeerId, GossipMessage), Rejected> {
    let verdict = validate(message);
    if let Err(why) = &verdict
        && let Some(n) = why.count(metrics)
    {
        warn!(peer = %from, reason = why.reason(), count = n, "rejected gossip (logged at 1, 2, 4, ... of a kind)");
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_protocol::codec::{Envelope, encode};
    use argus_protocol::limits::MAX_GOSSIP_BYTES;

    fn message(source: Option<PeerId>, data: Vec<u8>) -> libp2p::gossipsub::Message {
        let topic = Topic::Heartbeats.hash();
        libp2p::gossipsub::Message { source, data, sequence_number: Some(1), topic }
    }

    #[test]
    fn each_kind_of_bad_gossip_is_told_apart() {
        let peer = Some(PeerId::random());
        assert_eq!(validate(&message(None, vec![1, 2, 3])).err(), Some(Rejected::Unsigned));
        assert_eq!(validate(&message(peer, vec![0xff; 64])).err(), Some(Rejected::Undecodable));
        assert_eq!(validate(&message(peer, vec![0; MAX_GOSSIP_BYTES + 1])).err(), Some(Rejected::Oversized));
        let envelope = Envelope { v: 999, body: serde_bytes::ByteBuf::from(vec![0xa0]) };
        let future = encode(&envelope, MAX_GOSSIP_BYTES).unwrap();
        assert_eq!(validate(&message(peer, future)).err(), Some(Rejected::WrongVersion));
        let m = crate::metrics::Metrics::default();
        let logged: Vec<Option<u64>> = (0..5).map(|_| Rejected::Oversized.count(&m)).collect();
        assert_eq!(logged, vec![Some(1), Some(2), None, Some(4), None], "logged at 1, 2, 4, ...");
        assert_eq!(m.gossip_rejected.load(std::sync::atomic::Ordering::Relaxed), 5);
    }
}

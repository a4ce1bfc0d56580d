//! The gossipsub topics of argus and the message kinds each may carry.

use argus_protocol::messages::{
    GossipMessage, TOPIC_AUDITS, TOPIC_BIDS, TOPIC_DIGESTS, TOPIC_HEARTBEATS, TOPIC_IMAGES, TOPIC_RESULTS,
};
use libp2p::gossipsub::{IdentTopic, TopicHash};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    Images,
    Bids,
    Results,
    Audits,
    Digests,
    Heartbeats,
}

impl Topic {
    pub const ALL: [Topic; 6] =
        [Topic::Images, Topic::Bids, Topic::Results, Topic::Audits, Topic::Digests, Topic::Heartbeats];

    pub fn name(self) -> &'static str {
        match self {
            Topic::Images => TOPIC_IMAGES,
            Topic::Bids => TOPIC_BIDS,
            Topic::Results => TOPIC_RESULTS,
            Topic::Audits => TOPIC_AUDITS,
            Topic::Digests => TOPIC_DIGESTS,
            Topic::Heartbeats => TOPIC_HEARTBEATS,
        }
    }

    pub fn ident(self) -> IdentTopic {
        IdentTopic::new(self.name())
    }

    pub fn hash(self) -> TopicHash {
        self.ident().hash()
    }

    pub fn from_hash(hash: &TopicHash) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.name() == hash.as_str())
    }

    /// The topic a message must travel on.
    pub fn of(msg: &GossipMessage) -> Topic {
        match msg {
            GossipMessage::Announce(_) => Topic::Images,
            GossipMessage::Bid(_)
            | GossipMessage::Claim(_)
            | GossipMessage::Steal(_)
            | GossipMessage::Handoff(_) => Topic::Bids,
            GossipMessage::Result(_) => Topic::Results,
            GossipMessage::AuditRequest(_) | GossipMessage::AuditVerdict(_) => Topic::Audits,
            GossipMessage::Digest(_) => Topic::Digests,
            GossipMessage::Heartbeat(_) => Topic::Heartbeats,
        }
    }
}

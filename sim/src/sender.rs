//! The image sender, as `argus send` behaves: it announces each image (inline or for fetching)
//! and announces again, every few seconds, the ones no node it reaches has stored yet.

use argus_protocol::ids::NodeId;
use argus_protocol::messages::{GossipMessage, ImageAnnouncement};

use crate::node::MODEL;
use crate::world::{EPOCH_WALL_MS, World, sender};

impl World {
    pub(crate) fn announce(&mut self, k: usize) {
        let (image, bytes) = self.images[k].clone();
        let inline = self.rng.chance(self.plan.inline);
        let ann = ImageAnnouncement {
            image_id: image,
            source: NodeId(self.sender_key.public().to_peer_id()),
            source_name: "sim-sender".into(),
            model: MODEL.into(),
            seq: k as u64,
            captured_at_ms: EPOCH_WALL_MS + self.plan.images[k],
            width: 64,
            height: 64,
            size_bytes: bytes.len() as u64,
            bytes: inline.then(|| serde_bytes::ByteBuf::from(bytes.to_vec())),
        };
        self.observed.announcements += 1;
        self.gossip(sender(&self.plan), GossipMessage::Announce(ann));
    }

    /// The sender asks a node it reaches whether each announced image is stored, and
    /// announces again the ones that are not (as `argus send` does).
    pub(crate) fn sender_check(&mut self) {
        let s = sender(&self.plan);
        let asked: Vec<usize> =
            (0..self.plan.nodes).filter(|&i| self.runnable(i) && self.reachable(s, i)).collect();
        for k in self.announced.clone() {
            let id = self.images[k].0;
            if !asked.iter().any(|&i| self.nodes[i].store.committed.contains_key(&id)) {
                self.announce(k);
            }
        }
    }
}

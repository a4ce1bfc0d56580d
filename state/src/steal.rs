//! Work stealing. Bids are estimates made when an image is announced; a burst is split by
//! estimates that turn out wrong (a node shares its core, a batch runs slower, audits join a
//! queue), and one node can end up with a long backlog while another sits idle. An idle node
//! therefore asks the peer that holds the most images in its view for some (`Steal`); the
//! holder gives up to half of the images still waiting in its backlog, from its end, and says
//! so to everyone (`Handoff`), so every node's deadline follows the new holder. Only the
//! holder decides, and only for images it has not started, so an image is never run twice by
//! it; a `Handoff` that is lost leaves the image with a holder that does not know, and the
//! takeover deadline hands it on as for any silent holder.

use argus_protocol::ids::{ImageId, NodeId};
use argus_protocol::limits::MAX_HANDOFF_IMAGES;
use argus_protocol::messages::{GossipMessage, Handoff, Steal};
use libp2p_identity::PeerId;
use tracing::debug;

use crate::sched::Action;
use crate::state::State;

/// How long an idle node waits after a `Steal` before asking again. Each steal that brings
/// nothing doubles the wait, up to `MAX_STEAL_RETRY_MS`, so idle nodes of a drained network
/// do not keep asking; images handed to us reset it.
pub const STEAL_RETRY_MS: u64 = 250;
pub const MAX_STEAL_RETRY_MS: u64 = 4_000;

impl State {
    /// At a tick: when this node is about to run dry, ask the busiest connected holder.
    pub(crate) fn maybe_steal(&mut self) {
        if self.now.ms < self.steal_quiet_until || !self.backlog.runs_dry(self.cfg.dispatch_depth) {
            return;
        }
        if self.sched.committed() > 0 {
            return;
        }
        let peers = &self.peers;
        let Some((victim, held, sample)) = self.sched.busiest_holder(|p| peers.contains_key(p)) else {
            return;
        };
        let Some(model) = self.images.get(&sample).map(|e| e.model.clone()) else { return };
        if held < 2 {
            return;
        }
        let count = (held / 2).clamp(1, self.cfg.dispatch_depth.clamp(1, MAX_HANDOFF_IMAGES));
        let steal = Steal {
            thief: self.node_id(),
            victim: NodeId(victim),
            model: model.name.clone(),
            count: count as u32,
            wait_ms: self.load.wait_ms(&model, 0, self.now.ms),
            per_image_ms: self.load.avg_ms(&model).min(u64::from(u32::MAX)) as u32,
        };
        let wait = self.steal_backoff_ms.max(STEAL_RETRY_MS);
        self.steal_quiet_until = self.now.ms + wait;
        self.steal_backoff_ms = (wait * 2).min(MAX_STEAL_RETRY_MS);
        self.counters.steals_sent += 1;
        debug!(%victim, held, count, "idle: asking the busiest holder for work");
        self.publish(GossipMessage::Steal(steal));
    }

    /// A peer asks us for work: give up to half of what waits in our backlog for its model,
    /// from the end of the backlog (what we would start last).
    pub(crate) fn on_steal(&mut self, thief: PeerId, s: Steal) {
        if s.victim.0 != self.me || thief == self.me {
            return;
        }
        let now = self.now.ms;
        let waiting: Vec<ImageId> = self
            .backlog
            .work_from_end(&s.model)
            .filter(|image| self.sched.holds_settled(image, now))
            .collect();
        let give = (waiting.len() / 2).min(s.count as usize).min(MAX_HANDOFF_IMAGES);
        if give == 0 {
            return;
        }
        let wait_ms = s.wait_ms.saturating_add((give as u32).saturating_mul(s.per_image_ms));
        let mut images = Vec::with_capacity(give);
        for image in waiting.into_iter().take(give) {
            if self.sched.hand_off(&image, thief, wait_ms, self.now.ms) {
                images.push(image);
            }
        }
        self.counters.images_handed_off += images.len() as u64;
        debug!(%thief, images = images.len(), "handing waiting images to an idle node");
        let handoff = Handoff { from: self.node_id(), to: NodeId(thief), images, wait_ms };
        self.publish(GossipMessage::Handoff(handoff));
    }

    /// We took an image on and cannot run it (its bytes are not to be had from here, the
    /// worker refused it): the next bidder becomes its holder, and a `Handoff` says so to
    /// everyone, so that it starts at once and nobody waits out our deadline (a holder cut off
    /// from the image's source would otherwise hold it silently until then). When every bidder
    /// has failed it, a live node that runs its model and did not bid (a standby candidate,
    /// maybe one that reaches the source) gets it instead, the first in the image's
    /// rendezvous order.
    pub(crate) fn give_up(&mut self, image: ImageId) {
        let (next, wait_ms) = match self.sched.on_local_failure(&image, self.now.ms) {
            Some(next) => next,
            None => {
                let Some(model) = self.images.get(&image).map(|e| e.model.clone()) else { return };
                let failed = self.sched.past_holders(&image);
                let standby: Vec<PeerId> = self
                    .live_nodes(self.now.ms)
                    .into_iter()
                    .filter(|p| !failed.contains(p))
                    .filter(|p| {
                        self.nodes.get(p).is_some_and(|s| s.models.iter().any(|m| m.name == model.name))
                    })
                    .collect();
                let Some(to) = crate::candidates::ranked(b"standby", &image, &standby).into_iter().next()
                else {
                    return;
                };
                let wait_ms = self.load.wait_ms(&model, 0, self.now.ms);
                // We are not running it, so this only names the new holder in our view.
                let _ = self.sched.on_handoff(&image, self.me, to, wait_ms, self.now.ms);
                (to, wait_ms)
            }
        };
        self.counters.images_given_up += 1;
        debug!(%image, %next, "cannot run an image taken on: handing it to another node");
        let handoff = Handoff { from: self.node_id(), to: NodeId(next), images: vec![image], wait_ms };
        self.publish(GossipMessage::Handoff(handoff));
    }

    /// A holder handed images to a node (maybe us): it is their holder from now on.
    pub(crate) fn on_handoff(&mut self, from: PeerId, h: Handoff) {
        if from == self.me {
            return;
        }
        let to = h.to.0;
        if to == self.me && !h.images.is_empty() {
            self.steal_backoff_ms = 0; // the next steal waits `STEAL_RETRY_MS` again
        }
        for image in &h.images {
            if let Some(Action::Run { image, takeover }) =
                self.sched.on_handoff(image, from, to, h.wait_ms, self.now.ms)
            {
                self.counters.images_stolen += 1;
                // The holder had it in its backlog, so it has the bytes when they did not travel.
                self.run_image(image, takeover, Some(from));
            }
        }
    }
}

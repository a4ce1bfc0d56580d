//! Prefetching: a candidate for an image whose bytes did not travel inline asks the source for
//! them as soon as it bids, so that the winner usually holds the bytes by the time it wins and
//! its worker never waits for the network. Only the few candidates fetch (see `candidates`),
//! so the bytes a node receives per image do not grow with the network; the losers' copies
//! serve later fetches and audits. Speculative fetches yield to the fetches of work won: at
//! most `MAX_PREFETCHING` are in flight, and a bounded queue holds the rest.

use argus_protocol::ids::ImageId;
use libp2p_identity::PeerId;

use crate::inflight::{MAX_FETCHING, MAX_PREFETCHING};
use crate::state::State;

impl State {
    /// We bid for an image whose bytes we lack: fetch them from its source ahead of the win.
    pub(crate) fn prefetch(&mut self, image: ImageId, source: PeerId) {
        if source == self.me {
            return;
        }
        if self.fetches.queue.len() >= self.cfg.sched.max_open {
            self.fetches.queue.pop_front();
        }
        self.fetches.queue.push_back((image, source));
        self.prefetch_more();
    }

    /// Starts queued prefetches while slots are free and no fetch of work or audits waits,
    /// skipping images that no longer need one (bytes here, finished, or fetched as won work).
    pub(crate) fn prefetch_more(&mut self) {
        while self.fetches.flying.len() < MAX_PREFETCHING
            && self.fetches.waiting.is_empty()
            && self.fetches.in_flight < MAX_FETCHING
        {
            let Some((image, source)) = self.fetches.queue.pop_front() else { break };
            let wanted = self.images.get(&image).is_some_and(|e| e.bytes.is_none())
                && !self.sched.is_done(&image)
                && !self.work_fetches.contains_key(&image)
                && !self.fetches.flying.contains(&image);
            if wanted {
                self.counters.prefetches_sent += 1;
                self.fetches.flying.insert(image);
                self.send_fetch(image, source);
            }
        }
    }

    /// We won an image: true when its prefetch is in flight (the answer serves the work too).
    pub(crate) fn prefetch_flying(&self, image: &ImageId) -> bool {
        self.fetches.flying.contains(image)
    }

    /// A fetch for the image answered: if it was a prefetch, its slot is free again.
    pub(crate) fn prefetch_landed(&mut self, image: &ImageId) {
        if self.fetches.flying.remove(image) {
            self.prefetch_more();
        }
    }
}

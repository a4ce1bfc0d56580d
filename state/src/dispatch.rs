//! The backlog between the auction and the inference worker. Jobs the node took on wait here,
//! and only `dispatch_depth` of them at a time sit in the worker's queue (enough to fill its
//! next batch). A work image that waits here can still yield: when a better claim or a peer's
//! result arrives before its turn, it is skipped instead of run a second time. Under overload
//! that turns late auctions (bids and claims delayed by a busy CPU) into a wait, not into
//! duplicate work, and the worker's queue never refuses a job.

use argus_protocol::ids::ImageId;
use tracing::{debug, warn};

use crate::events::{Job, Out, Purpose};
use crate::state::State;

/// The most waiting jobs `State::pump` looks at per call for settled ones.
pub const PUMP_SCAN: usize = 256;

impl State {
    /// A job this node takes on: into the backlog (bounded by the auction's `max_open`; beyond
    /// it the job is refused like one the worker could not take), then to the worker when it
    /// has room.
    pub(crate) fn submit(&mut self, job: Job) {
        if self.backlog.jobs.len() >= self.cfg.sched.max_open {
            return self.refuse(job);
        }
        if matches!(job.purpose, Purpose::Audit { .. }) {
            self.backlog.audits += 1;
        }
        self.backlog.jobs.push_back(job);
        self.pump();
    }

    /// Jobs waiting here or in the worker, as heartbeats, bids and the audit ratio report them.
    pub(crate) fn queued_jobs(&self) -> u64 {
        self.load.jobs() + self.backlog.jobs.len() as u64
    }

    /// Work this node has taken on or is about to, beyond the worker's queue: images in the
    /// auction's count (led, claimed, waiting here or being fetched) and audits waiting here.
    pub(crate) fn committed(&self) -> usize {
        self.sched.committed() + self.backlog.audits
    }

    /// The worker answered a job (or refused it): room for the next.
    pub(crate) fn left_worker(&mut self) {
        self.backlog.in_worker = self.backlog.in_worker.saturating_sub(1);
    }

    /// Hands backlog jobs to the worker while it has fewer than `dispatch_depth`. A work image
    /// whose auction moved on while it waited (a better claim, a result) is dropped here.
    /// Images taken on after a partial view of the bids wait behind the others (see
    /// `Scheduler::settled`) while the worker has anything to do; an idle worker takes them
    /// in order. At most `PUMP_SCAN` waiting jobs are looked at per call.
    pub(crate) fn pump(&mut self) {
        let depth = self.cfg.dispatch_depth.max(1);
        let mut i = 0;
        while self.backlog.in_worker < depth && i < self.backlog.jobs.len().min(PUMP_SCAN) {
            let job = &self.backlog.jobs[i];
            let ready = match job.purpose {
                Purpose::Audit { .. } => true,
                // Yielded already (a better claim or a result came): dropped below.
                Purpose::Work { .. } if !self.sched.holds_waiting(&job.image) => true,
                Purpose::Work { .. } => self.sched.settled(&job.image, self.now.ms),
            };
            if ready {
                self.dispatch_at(i);
            } else {
                i += 1;
            }
        }
        // Nothing settled is left and the worker is idle: the rest goes in order.
        while self.backlog.in_worker == 0 && !self.backlog.jobs.is_empty() {
            while self.backlog.in_worker < depth && !self.backlog.jobs.is_empty() {
                self.dispatch_at(0);
            }
        }
        self.counters.queue_len = self.queued_jobs();
    }

    /// Hands the backlog's job `i` to the worker, or drops it when its image yielded.
    fn dispatch_at(&mut self, i: usize) {
        let Some(job) = self.backlog.jobs.remove(i) else { return };
        match job.purpose {
            Purpose::Audit { .. } => self.backlog.audits -= 1,
            Purpose::Work { .. } if !self.sched.dispatch(&job.image) => {
                self.counters.runs_yielded += 1;
                return;
            }
            Purpose::Work { .. } => debug!(image = %job.image, "dispatching to inference"),
        }
        if self.hostile == crate::fault::Hostile::BlackHole {
            return; // FAULT INJECTION: taken on, and never run
        }
        self.load.queued(&job.model, self.now.ms);
        self.backlog.in_worker += 1;
        self.out.push(Out::Infer(job));
    }

    /// Someone took over an image we hold, or it is time to renew our claim: claim it again,
    /// with a wait no shorter than what is now ahead of it here, so a taker yields and every
    /// node gives us a fresh deadline.
    pub(crate) fn reassert(&mut self, image: ImageId, bid_ms: u32, renew: bool) {
        // Only an image really in hand (in inference, waiting here, or its bytes being
        // fetched) is kept. One the auction still counts as ours that nothing here will run (an
        // answer lost, a bug) would otherwise be reasserted against every taker, and nobody
        // would ever run it.
        let undispatched = self.sched.holds_waiting(&image);
        if undispatched && !self.backlog.has_work(&image) && !self.work_fetches.contains_key(&image) {
            self.counters.claims_released += 1;
            warn!(%image, "an image we hold is no longer in hand here: letting the next bidder run it");
            return self.give_up(image);
        }
        let ahead = self.committed();
        let fresh = self.images.get(&image).map_or(0, |e| self.load.wait_ms(&e.model, ahead, self.now.ms));
        if renew {
            self.counters.claims_renewed += 1;
            debug!(%image, "still holding an image: renewing our claim");
        } else {
            self.counters.claims_reasserted += 1;
            warn!(%image, "a peer took over an image we still hold: claiming it again");
        }
        let wait_ms = bid_ms.max(fresh);
        self.sched.claimed_again(&image, wait_ms, self.now.ms);
        let claim = argus_protocol::messages::Claim {
            image_id: image,
            winner: self.node_id(),
            wait_ms,
            takeover: false,
            bid_ms,
        };
        self.publish(argus_protocol::messages::GossipMessage::Claim(claim));
    }
}

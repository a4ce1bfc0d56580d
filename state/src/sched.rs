//! Wait-time bidding, claims and takeover: a pure state machine.
//!
//! Every node runs the same deterministic rule on the bids it has seen: once an image's bid
//! window has closed, the bidder with the earliest estimated finish (lowest `wait_ms`, ties to
//! the lowest node id) is the winner and claims it. If neither a claim nor a result from the
//! winner is seen by its deadline, the next bidder in that order takes over, and so on, so a
//! crashed winner loses no image while another bidder lives. Under a partition each side sees
//! only its own bids and works on what it sees.
//!
//! This module never touches sockets, clocks or threads: the caller passes `now_ms` and
//! carries out the returned [`Action`]s.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::Hash;

/// Timing and bounds of the auction; the node's config fills it.
#[derive(Debug, Clone)]
pub struct SchedConfig {
    /// How long bids are collected after an announcement is first seen.
    pub bid_window_ms: u64,
    /// How long after the window the winner has to publish its claim.
    pub claim_grace_ms: u64,
    /// Extra time on top of the winner's own `wait_ms` before a takeover; half of `wait_ms` is
    /// added as well (see [`allowance`]).
    pub result_slack_ms: u64,
    /// After claiming, we wait this long for a competing claim from a better bidder (one
    /// whose bid we missed) before running: it turns most missed bids into a yield instead
    /// of duplicate work.
    pub claim_confirm_ms: u64,
    /// Most images in the auction at once; the oldest open one is dropped beyond it.
    pub max_open: usize,
    /// How many finished image ids are remembered to ignore late messages.
    pub max_done: usize,
}

/// What the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<I> {
    /// Publish our bid for this image.
    Bid { image: I, wait_ms: u32 },
    /// We think we won (or take over): publish a claim carrying our bid's `wait_ms`. Every
    /// node compares claims by bid (lower wait, then lower id); a claim that carried a fresher
    /// estimate instead would let a node that missed our bid keep its own claim too.
    Claim { image: I, takeover: bool, wait_ms: u32 },
    /// No better claim came within the confirm period: queue the image for inference.
    Run { image: I, takeover: bool },
    /// The image was dropped from the auction because too many were open.
    Dropped { image: I },
}

#[derive(Debug)]
struct Open<P> {
    opened_ms: u64,
    /// bidder -> wait_ms; includes our own bid.
    bids: BTreeMap<P, u32>,
    /// Winner currently responsible and the time by which it must deliver.
    holder: Option<(P, u64)>,
    /// Bidders that missed their deadline, in the order they failed.
    failed: Vec<P>,
    /// When we published our claim (waiting for the confirm period), and whether it was a
    /// takeover.
    claimed: Option<(u64, bool)>,
    /// True once we queued it ourselves.
    running: bool,
}

/// The auction state of one node.
#[derive(Debug)]
pub struct Scheduler<I, P> {
    me: P,
    cfg: SchedConfig,
    /// Ordered, so that `tick` acts on images in the same order on every run (the simulator
    /// replays a seed exactly).
    open: BTreeMap<I, Open<P>>,
    /// Arrival order of open images, for the `max_open` bound.
    order: VecDeque<I>,
    done: VecDeque<I>,
    done_set: HashMap<I, ()>,
}

impl<I, P> Scheduler<I, P>
where
    I: Clone + Ord + Hash,
    P: Clone + Ord,
{
    pub fn new(me: P, cfg: SchedConfig) -> Self {
        assert!(cfg.max_open > 0 && cfg.max_done > 0, "scheduler bounds must be positive");
        Self {
            me,
            cfg,
            open: BTreeMap::new(),
            order: VecDeque::new(),
            done: VecDeque::new(),
            done_set: HashMap::new(),
        }
    }

    /// Number of images whose auction or processing is still open.
    pub fn open_len(&self) -> usize {
        self.open.len()
    }

    /// Images we are expected to process but have not queued yet: ones we claimed, and ones
    /// whose auction we currently lead. A bid counts them as future work, so that when many
    /// images are announced at once the nodes' bids diverge and the work spreads, instead of
    /// every auction seeing the same empty queues and going to the same tie-break winner.
    pub fn committed(&self) -> usize {
        self.open
            .values()
            .filter(|o| !o.running)
            .filter(|o| {
                o.claimed.is_some()
                    || (o.holder.is_none()
                        && next_bidder(&o.bids, &o.failed).is_some_and(|(p, _)| p == self.me))
            })
            .count()
    }

    pub fn is_done(&self, image: &I) -> bool {
        self.done_set.contains_key(image)
    }

    /// An image was announced (or first heard of). `wait_ms` is our own estimate.
    pub fn on_announce(&mut self, image: I, wait_ms: u32, now_ms: u64) -> Vec<Action<I>> {
        if self.done_set.contains_key(&image) || self.open.contains_key(&image) {
            return Vec::new();
        }
        let mut actions = Vec::new();
        if self.open.len() >= self.cfg.max_open
            && let Some(oldest) = self.order.pop_front()
        {
            self.open.remove(&oldest);
            actions.push(Action::Dropped { image: oldest });
        }
        let mut bids = BTreeMap::new();
        bids.insert(self.me.clone(), wait_ms);
        self.open.insert(
            image.clone(),
            Open { opened_ms: now_ms, bids, holder: None, failed: Vec::new(), claimed: None, running: false },
        );
        self.order.push_back(image.clone());
        actions.push(Action::Bid { image, wait_ms });
        actions
    }

    /// A peer's bid. Bids for images we have not seen announced are ignored.
    pub fn on_bid(&mut self, image: &I, bidder: P, wait_ms: u32) {
        if let Some(open) = self.open.get_mut(image) {
            open.bids.entry(bidder).or_insert(wait_ms);
        }
    }

    /// A peer claimed the image: it becomes the holder with a fresh deadline. If we claimed it
    /// too and have not started, the better bid (lower wait, then lower id) keeps it.
    pub fn on_claim(&mut self, image: &I, winner: P, wait_ms: u32, now_ms: u64) {
        let slack = self.cfg.result_slack_ms;
        let me = self.me.clone();
        let Some(open) = self.open.get_mut(image) else { return };
        let theirs = *open.bids.entry(winner.clone()).or_insert(wait_ms);
        if winner == me || open.running {
            return;
        }
        if open.claimed.is_some() {
            let mine = open.bids.get(&me).copied().unwrap_or(u32::MAX);
            if (mine, &me) < (theirs, &winner) {
                return; // our claim stands; theirs will yield when it sees ours
            }
            open.claimed = None;
        }
        open.holder = Some((winner, now_ms + allowance(wait_ms, slack)));
    }

    /// A result for the image was seen (ours or a peer's): the auction is over.
    pub fn on_result(&mut self, image: &I) {
        if self.open.remove(image).is_some() {
            self.order.retain(|i| i != image);
        }
        if self.done_set.insert(image.clone(), ()).is_none() {
            self.done.push_back(image.clone());
            if self.done.len() > self.cfg.max_done
                && let Some(old) = self.done.pop_front()
            {
                self.done_set.remove(&old);
            }
        }
    }

    /// Our own inference of the image failed or was abandoned: let the next bidder have it.
    pub fn on_local_failure(&mut self, image: &I, now_ms: u64) {
        if let Some(open) = self.open.get_mut(image) {
            open.running = false;
            open.claimed = None;
            open.failed.push(self.me.clone());
            open.holder = None;
            open.opened_ms = now_ms.saturating_sub(self.cfg.bid_window_ms);
        }
    }

    /// Advance time: close bid windows and hand images over when a holder misses its deadline.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Action<I>> {
        let mut actions = Vec::new();
        let cfg = &self.cfg;
        for (image, open) in self.open.iter_mut() {
            if open.running || now_ms < open.opened_ms + cfg.bid_window_ms {
                continue;
            }
            if let Some((at, takeover)) = open.claimed {
                if now_ms >= at + cfg.claim_confirm_ms {
                    open.claimed = None;
                    open.running = true;
                    actions.push(Action::Run { image: image.clone(), takeover });
                }
                continue;
            }
            if let Some((holder, deadline)) = &open.holder {
                // Sabotage (a test build only): a holder that misses its deadline keeps the image.
                if now_ms < *deadline || cfg!(feature = "sabotage-no-takeover") {
                    continue;
                }
                open.failed.push(holder.clone());
                open.holder = None;
            }
            let takeover = !open.failed.is_empty();
            if next_bidder(&open.bids, &open.failed).is_none() {
                // Every bidder missed its deadline: start the rotation again rather than
                // leave the image unprocessed while someone is alive.
                open.failed.clear();
            }
            let Some((next, wait_ms)) = next_bidder(&open.bids, &open.failed) else {
                continue;
            };
            if next == self.me {
                open.claimed = Some((now_ms, takeover));
                actions.push(Action::Claim { image: image.clone(), takeover, wait_ms });
            } else {
                // The first winner gets the claim grace; anyone after a failure is already late.
                let grace = if takeover { 0 } else { cfg.claim_grace_ms };
                let deadline = now_ms + grace + allowance(wait_ms, cfg.result_slack_ms);
                open.holder = Some((next, deadline));
            }
        }
        actions
    }
}

/// How long a holder that estimated `wait_ms` has to deliver: its estimate, half of it again,
/// and the fixed slack. Estimates made under load run long (other processes take the CPU,
/// audits join the queue), and a takeover of a slow but live holder is duplicate work, while
/// a dead holder's images are retaken half an estimate later than with a fixed slack alone.
fn allowance(wait_ms: u32, slack_ms: u64) -> u64 {
    let wait = u64::from(wait_ms);
    wait + wait / 2 + slack_ms
}

/// The best bidder that has not failed: lowest wait, then lowest id.
fn next_bidder<P: Clone + Ord>(bids: &BTreeMap<P, u32>, failed: &[P]) -> Option<(P, u32)> {
    bids.iter()
        .filter(|(p, _)| !failed.contains(p))
        .min_by(|a, b| a.1.cmp(b.1).then_with(|| a.0.cmp(b.0)))
        .map(|(p, w)| (p.clone(), *w))
}

#[cfg(test)]
#[path = "sched_tests.rs"]
mod tests;

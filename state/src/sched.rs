//! Wait-time bidding, claims and takeover: a pure state machine.
//!
//! Every node runs the same deterministic rule on the bids it has seen: once an image's bid
//! window has closed, the bidder with the earliest estimated finish (lowest `wait_ms`, ties to
//! the lowest node id) is the winner and claims it. The window closes as soon as a bid has
//! come from every peer expected to bid (the nodes that run the image's model, as the caller
//! knows them), and otherwise after `bid_window_ms`. A winner that saw the complete bid set
//! runs after `complete_confirm_ms` (a network delay: a claim from a node whose view differs
//! is already on its way then), instead of `claim_confirm_ms` (long enough for a missed bid's
//! owner to close its own window and claim). If neither a claim nor a result from the
//! winner is seen by its deadline, the next bidder in that order takes over, and so on, so a
//! crashed winner loses no image while another bidder lives. Under a partition each side sees
//! only its own bids and works on what it sees.
//!
//! This module never touches sockets, clocks or threads: the caller passes `now_ms` and
//! carries out the returned [`Action`]s.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::Hash;

use crate::auction::{Open, allowance};
use crate::lateness::Lateness;

/// Bids for images not announced yet (gossip from another node can overtake the announcement),
/// kept for at most this many images; the oldest image's are dropped first.
pub const MAX_EARLY_BIDS: usize = 4_096;
/// How soon an auction that was due but had nothing to do yet is looked at again.
pub const RECHECK_MS: u64 = 50;

pub use crate::auction::{Action, SchedConfig};

/// Who bids for an image, as this node sees it. With many nodes, only a few candidates bid
/// (`SchedConfig::bidders`): bids per image stay constant instead of growing with the network,
/// and only the candidates can ever think they won. The others follow the auction (claims,
/// deadlines) and bid only when it escalates: no candidate bid within the window, or every
/// bidder missed its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entrants<P> {
    /// The candidates whose bids close the window early (ourselves ignored). `None`: unknown;
    /// the window closes by its timeout only.
    pub expected: Option<Vec<P>>,
    /// We are a candidate: we bid at once.
    pub bid: bool,
    /// Only the candidates bid at first; the other nodes (`bid: false`) stand by until the
    /// auction escalates. False: every node is a candidate.
    pub standby: bool,
    /// We joined a settled network less than a liveness window ago and do not bid at first
    /// (`bid: false`): our view of the others, and so of the candidates, is not complete, and
    /// our empty queue's low bid would beat the claim of a candidate that decided on a
    /// complete view. We bid once a window has passed without any bid.
    pub newcomer: bool,
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
    /// Bids that arrived before their announcement, and the order their images arrived in
    /// (bounded). An image whose bids were taken (announced, or finished) stays in the order
    /// until it reaches the front, so no walk of the order is needed on the hot path.
    early: HashMap<I, Vec<(P, u32)>>,
    early_order: VecDeque<I>,
    /// How many open images count as our committed work (see `committed`), kept as images
    /// change instead of recounted.
    committed: usize,
    /// Bid windows closed early (every expected bid in) and by their timeout.
    pub closed_early: u64,
    pub timed_out: u64,
    /// Auctions opened to every node because no candidate was left.
    pub escalated: u64,
    /// Each open auction's next time to look at it (see `Open::next_check`): `tick` steps only
    /// the auctions whose time has come instead of walking every open one 50 times a second
    /// (with 540 images open, that walk was a large part of a flooded node's CPU).
    timers: BTreeSet<(u64, I)>,
    /// When our claims' confirm periods end, so the caller can wake then instead of waiting
    /// for the next tick. Entries whose claim has since changed are skipped when due.
    due: BTreeSet<(u64, I)>,
    /// The peers we still hear from (see `set_live`): a late holder among them gets overtime.
    live: BTreeSet<P>,
    /// How late bids arrive here; `cfg`'s window and confirm period follow it from `base`.
    late: Lateness,
    base: SchedConfig,
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
            base: cfg.clone(),
            late: Lateness::default(),
            cfg,
            open: BTreeMap::new(),
            order: VecDeque::new(),
            done: VecDeque::new(),
            done_set: HashMap::new(),
            early: HashMap::new(),
            early_order: VecDeque::new(),
            committed: 0,
            closed_early: 0,
            timed_out: 0,
            escalated: 0,
            due: BTreeSet::new(),
            timers: BTreeSet::new(),
            live: BTreeSet::new(),
        }
    }

    /// When the earliest confirm period of one of our claims ends (the caller wakes then and
    /// calls `run_due`).
    pub fn next_due(&self) -> Option<u64> {
        self.due.first().map(|(t, _)| *t)
    }

    /// The images whose confirm period has ended: run them (or yield, as `tick` would), without
    /// walking every open auction.
    pub fn run_due(&mut self, now_ms: u64) -> Vec<Action<I>> {
        let mut actions = Vec::new();
        while let Some((t, _)) = self.due.first()
            && *t <= now_ms
        {
            let Some((_, image)) = self.due.pop_first() else { break };
            actions.extend(self.step(&image, now_ms));
        }
        actions
    }

    /// Number of images whose auction or processing is still open.
    pub fn open_len(&self) -> usize {
        self.open.len()
    }

    /// Images we are expected to process but have not handed to inference yet: ones in our
    /// backlog (or being fetched), ones we claimed, and ones whose auction we currently lead. A bid counts them as future work, so that when many
    /// images are announced at once the nodes' bids diverge and the work spreads, instead of
    /// every auction seeing the same empty queues and going to the same tie-break winner.
    /// Kept up to date as each image changes, so a bid costs no walk over every auction.
    pub fn committed(&self) -> usize {
        self.committed
    }

    /// Applies `f` to an open image and keeps the committed count right.
    fn update<R>(&mut self, image: &I, f: impl FnOnce(&mut Open<P>, &SchedConfig) -> R) -> Option<R> {
        let open = self.open.get_mut(image)?;
        let before = open.counts(&self.me);
        let r = f(open, &self.cfg);
        let after = open.counts(&self.me);
        self.committed = self.committed + usize::from(after) - usize::from(before);
        let next = open.next_check(&self.cfg);
        if next != open.armed {
            if let Some(t) = open.armed {
                self.timers.remove(&(t, image.clone()));
            }
            if let Some(t) = next {
                self.timers.insert((t, image.clone()));
            }
            open.armed = next;
        }
        Some(r)
    }

    fn remove_open(&mut self, image: &I) -> bool {
        match self.open.remove(image) {
            Some(o) => {
                self.committed -= usize::from(o.counts(&self.me));
                if let Some(t) = o.armed {
                    self.timers.remove(&(t, image.clone()));
                }
                self.order.retain(|i| i != image);
                true
            }
            None => false,
        }
    }

    pub fn is_done(&self, image: &I) -> bool {
        self.done_set.contains_key(image)
    }

    /// An image was announced (or first heard of), and every node bids for it. `wait_ms` is
    /// our own estimate; `expected` the peers we expect a bid from (the nodes that run its
    /// model), or `None` when the caller cannot tell (then only the timeout closes the window).
    pub fn on_announce(
        &mut self,
        image: I,
        wait_ms: u32,
        expected: Option<&[P]>,
        now_ms: u64,
    ) -> Vec<Action<I>> {
        let entrants =
            Entrants { expected: expected.map(<[P]>::to_vec), bid: true, standby: false, newcomer: false };
        self.on_announce_with(image, wait_ms, entrants, now_ms)
    }

    /// An image was announced (or first heard of), with who bids for it first (see
    /// [`Entrants`]). `wait_ms` is our own estimate, published now when we bid, and held back
    /// for an escalation otherwise.
    pub fn on_announce_with(
        &mut self,
        image: I,
        wait_ms: u32,
        entrants: Entrants<P>,
        now_ms: u64,
    ) -> Vec<Action<I>> {
        if self.done_set.contains_key(&image) || self.open.contains_key(&image) {
            return Vec::new();
        }
        let mut actions = Vec::new();
        if self.open.len() >= self.cfg.max_open
            && let Some(oldest) = self.order.front().cloned()
        {
            self.remove_open(&oldest);
            actions.push(Action::Dropped { image: oldest });
        }
        let mut bids = BTreeMap::new();
        if entrants.bid {
            bids.insert(self.me.clone(), wait_ms);
        }
        for (p, w) in self.early.remove(&image).unwrap_or_default() {
            bids.entry(p).or_insert(w);
        }
        let without_me = |v: Vec<P>| v.into_iter().filter(|p| *p != self.me).collect::<Vec<P>>();
        let mut open = Open::new(now_ms, bids, entrants.expected.map(without_me), wait_ms);
        open.standby = entrants.standby;
        open.newcomer = entrants.newcomer;
        self.committed += usize::from(open.counts(&self.me));
        self.open.insert(image.clone(), open);
        self.order.push_back(image.clone());
        if entrants.bid {
            actions.push(Action::Bid { image: image.clone(), wait_ms });
        }
        actions.extend(self.step(&image, now_ms));
        actions
    }

    /// A peer's bid. One for an image not announced yet is kept (bounded) until it is; one that
    /// completes the expected bid set closes the window at once.
    pub fn on_bid(&mut self, image: &I, bidder: P, wait_ms: u32, now_ms: u64) -> Vec<Action<I>> {
        if self.done_set.contains_key(image) {
            return Vec::new();
        }
        let Some(opened_ms) = self.open.get(image).map(|o| o.opened_ms) else {
            self.keep_early(image, bidder, wait_ms);
            return Vec::new();
        };
        self.late.sample(now_ms.saturating_sub(opened_ms));
        self.cfg.bid_window_ms = self.late.window_ms(self.base.bid_window_ms);
        self.cfg.claim_confirm_ms = self.late.confirm_ms(self.base.claim_confirm_ms);
        self.update(image, |open, _| {
            open.bids.entry(bidder).or_insert(wait_ms);
        });
        self.step(image, now_ms)
    }

    fn keep_early(&mut self, image: &I, bidder: P, wait_ms: u32) {
        if !self.early.contains_key(image) {
            if self.early_order.len() >= MAX_EARLY_BIDS
                && let Some(old) = self.early_order.pop_front()
            {
                self.early.remove(&old);
            }
            self.early_order.push_back(image.clone());
        }
        let bids = self.early.entry(image.clone()).or_default();
        // A bid per bidder; more bidders than this are more than any network has.
        if bids.len() < 1_024 && !bids.iter().any(|(p, _)| *p == bidder) {
            bids.push((bidder, wait_ms));
        }
    }

    /// A peer claimed the image: it becomes the holder with a fresh deadline. If we claimed it
    /// too and have not dispatched it to inference (it is in its confirm period or in our
    /// backlog), the better bid (lower wait, then lower id) keeps it. A takeover claim for an
    /// image we hold and still have is answered with `Reassert`: we are slow, not gone, and
    /// the taker yields to our better bid instead of doing the work twice.
    pub fn on_claim(
        &mut self,
        image: &I,
        winner: P,
        bid_ms: u32,
        wait_ms: u32,
        takeover: bool,
        now_ms: u64,
    ) -> Option<Action<I>> {
        let me = self.me.clone();
        self.update(image, |open, cfg| {
            // Compared by the bid the claim carries (a renewal's `wait_ms` is raised to the
            // holder's estimate; taken as its bid by a node that missed the bid, it made both
            // claimants keep the image).
            let theirs = *open.bids.entry(winner.clone()).or_insert(bid_ms);
            if winner == me {
                return None;
            }
            if open.claimed.is_some() || open.running {
                let mine = open.bids.get(&me).copied().unwrap_or(u32::MAX);
                if (mine, &me) < (theirs, &winner) {
                    // Our claim stands; theirs yields when it sees ours. A taker has stopped
                    // waiting for us, so tell it again.
                    return (open.running && takeover).then(|| Action::Reassert {
                        image: image.clone(),
                        wait_ms: mine,
                        renew: false,
                    });
                }
                if open.dispatched {
                    return None; // already in inference: too late to yield
                }
                open.claimed = None;
                open.running = false;
            }
            let since = open.holder.as_ref().filter(|(h, _)| *h == winner).map(|_| open.held_since);
            open.set_holder(winner, now_ms + allowance(wait_ms, cfg.result_slack_ms), now_ms);
            // Claims from the holder count once half a slack has passed since its hold began
            // (a renewal comes half an allowance after the claim, at least that late); a copy of
            // the claim that began the hold comes at once and does not count. Later copies are
            // dropped by gossipsub itself (its duplicate cache), not here.
            if since.is_none_or(|t| now_ms >= t + cfg.result_slack_ms / 2) {
                open.holder_claims += 1;
            }
            None
        })
        .flatten()
    }

    /// Our backlog hands the image to inference: true when we still hold it (no better claim
    /// and no result came while it waited), and from now on it cannot yield.
    pub fn dispatch(&mut self, image: &I) -> bool {
        self.update(image, |open, _| {
            let ours = open.running && !open.dispatched;
            open.dispatched |= ours;
            ours
        })
        .unwrap_or(false)
    }

    /// A result for the image was seen (ours or a peer's): the auction is over.
    pub fn on_result(&mut self, image: &I) {
        self.remove_open(image);
        self.early.remove(image);
        if self.done_set.insert(image.clone(), ()).is_none() {
            self.done.push_back(image.clone());
            if self.done.len() > self.cfg.max_done
                && let Some(old) = self.done.pop_front()
            {
                self.done_set.remove(&old);
            }
        }
    }

    /// The peers we still hear from (connected and heartbeating): a holder among them that
    /// misses its deadline is waited for a while longer before a takeover (see `auction`).
    pub fn set_live(&mut self, live: impl IntoIterator<Item = P>) {
        self.live = live.into_iter().collect();
    }

    /// Advance time: close bid windows and hand images over when a holder misses its deadline.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Action<I>> {
        let mut actions = Vec::new();
        while self.timers.first().is_some_and(|(t, _)| *t <= now_ms) {
            let Some((_, image)) = self.timers.pop_first() else { break };
            match self.open.get_mut(&image) {
                Some(open) => open.armed = None,
                None => continue,
            }
            actions.extend(self.step(&image, now_ms));
            // Still due (a window that grew, a holder or candidate in its overtime): look again
            // a little later.
            if let Some(open) = self.open.get_mut(&image)
                && let Some(at) = open.armed.filter(|a| *a <= now_ms)
            {
                self.timers.remove(&(at, image.clone()));
                self.timers.insert((now_ms + RECHECK_MS, image));
                open.armed = Some(now_ms + RECHECK_MS);
            }
        }
        // Every claim that was due had its timer.
        while self.due.first().is_some_and(|(t, _)| *t <= now_ms) {
            self.due.pop_first();
        }
        actions
    }

    /// One image's auction at `now_ms` (see `Open::step`), keeping the committed count, the
    /// due claims and the window counters right.
    fn step(&mut self, image: &I, now_ms: u64) -> Vec<Action<I>> {
        let me = self.me.clone();
        let live = std::mem::take(&mut self.live);
        let step = self.update(image, |open, cfg| open.step(&me, cfg, image, now_ms, &live));
        self.live = live;
        let Some(step) = step else {
            return Vec::new();
        };
        if let Some(t) = step.due {
            self.due.insert((t, image.clone()));
        }
        self.escalated += u64::from(step.escalated);
        match step.closed {
            Some(true) => self.closed_early += 1,
            Some(false) => self.timed_out += 1,
            None => {}
        }
        step.actions
    }
}

#[path = "handoff.rs"]
mod handoff;

#[cfg(test)]
#[path = "sched_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "escalation_tests.rs"]
mod escalation_tests;

//! One image's auction as one node sees it: the bids, who holds the image and until when, our
//! claim and its confirm period. `Open::step` is the whole rule of a window closing, a claim,
//! a run and a takeover; `sched` keeps many of them and the bounds around them.

use std::collections::{BTreeMap, BTreeSet};

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
    /// The confirm period when we saw a bid from every expected peer: only a claim sent at
    /// the same moment by a node that thinks otherwise (one whose view of the peers differs,
    /// or that is behind on its messages) can still come; a network delay or two covers it.
    pub complete_confirm_ms: u64,
    /// Most images in the auction at once; the oldest open one is dropped beyond it.
    pub max_open: usize,
    /// How many finished image ids are remembered to ignore late messages.
    pub max_done: usize,
    /// How many nodes bid for an image at first (its candidates, drawn by rendezvous hashing
    /// of the image id and the node ids, see `candidates`); the others bid only if none of
    /// them is left. 0: every node bids.
    pub bidders: usize,
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
    /// No better claim came within the confirm period: take the image on (into our backlog;
    /// it reaches inference through `Scheduler::dispatch`).
    Run { image: I, takeover: bool },
    /// Someone took over an image we hold and still have (`renew: false`), or we have held it
    /// for half the time the other nodes allow us (`renew: true`): publish our claim again
    /// (with our bid's `wait_ms` for the comparison; the caller may raise it to a fresher
    /// estimate), so they wait for us instead of doing it a second time.
    Reassert { image: I, wait_ms: u32, renew: bool },
    /// The image was dropped from the auction because too many were open.
    Dropped { image: I },
}

#[derive(Debug)]
pub(crate) struct Open<P> {
    pub(crate) opened_ms: u64,
    /// bidder -> wait_ms; includes our own bid.
    pub(crate) bids: BTreeMap<P, u32>,
    /// The peers we expect a bid from (ourselves excluded); once all have bid the window
    /// closes early. `None`: the window closes by its timeout only.
    pub(crate) expected: Option<Vec<P>>,
    /// Winner currently responsible and the time by which it must deliver.
    pub(crate) holder: Option<(P, u64)>,
    /// Since when `holder` has been the same peer (renewals and new deadlines keep it), and
    /// how many claims it has published since (its first, then renewals and reassertions).
    pub(crate) held_since: u64,
    pub(crate) holder_claims: u32,
    /// Bidders that missed their deadline, in the order they failed.
    pub(crate) failed: Vec<P>,
    /// When our claim's confirm period ends (we run then unless a better claim came), and
    /// whether it is a takeover.
    pub(crate) claimed: Option<(u64, bool)>,
    /// True once our claim stood and we took the image on (it waits in our backlog, or runs).
    pub(crate) running: bool,
    /// True once the image left our backlog for the inference worker: it can no longer yield.
    pub(crate) dispatched: bool,
    /// When our claim stood and we took the image on (0: not by a claim of ours).
    pub(crate) taken_ms: u64,
    /// When this auction's timer is set (see `Scheduler::tick`), if it is.
    pub(crate) armed: Option<u64>,
    /// Our claim was made on a partial view (a bid was missing when the window closed, or it
    /// is a takeover): a better claim may still be on its way (see `Scheduler::settled`).
    pub(crate) partial: bool,
    /// While we hold it (`running`): when to renew our claim, well before the deadline the
    /// other nodes gave us (see `renew_after`).
    pub(crate) renew_at: Option<u64>,
    /// True once its bid window has closed (counted once, early or by timeout).
    pub(crate) closed: bool,
    /// Our estimate when the image was announced: our bid, or, when we are not one of its
    /// candidates, the bid we hold back until the auction escalates.
    pub(crate) mine: u32,
    /// Only the image's candidates bid at first; the other nodes stand by and bid once no
    /// candidate is left (see `escalate_at`). False: every node bid from the start, or the
    /// auction escalated already.
    pub(crate) standby: bool,
    /// We stand by as a newcomer (see `Entrants::newcomer`): we escalate one window after the
    /// announcement if no bid came at all.
    pub(crate) newcomer: bool,
}

/// What one step of an auction did.
pub(crate) struct Stepped<I> {
    pub actions: Vec<Action<I>>,
    /// Our claim's confirm period ends then.
    pub due: Option<u64>,
    /// The window closed in this step: early (`true`) or by its timeout.
    pub closed: Option<bool>,
    /// No candidate was left: the auction opened to every node (see `Open::standby`).
    pub escalated: bool,
}

impl<P: Clone + Ord> Open<P> {
    pub(crate) fn new(opened_ms: u64, bids: BTreeMap<P, u32>, expected: Option<Vec<P>>, mine: u32) -> Self {
        Open {
            mine,
            standby: false,
            newcomer: false,
            opened_ms,
            bids,
            expected,
            holder: None,
            held_since: opened_ms,
            holder_claims: 0,
            failed: Vec::new(),
            claimed: None,
            running: false,
            dispatched: false,
            taken_ms: 0,
            partial: false,
            armed: None,
            renew_at: None,
            closed: false,
        }
    }

    /// `p` holds the image until `deadline`; `held_since` moves only when the holder changes.
    pub(crate) fn set_holder(&mut self, p: P, deadline: u64, now_ms: u64) {
        if self.holder.as_ref().is_none_or(|(h, _)| *h != p) {
            self.held_since = now_ms;
            self.holder_claims = 0;
        }
        self.holder = Some((p, deadline));
    }

    /// Whether this image counts as committed work of `me`: taken on and waiting in our
    /// backlog (or being fetched), claimed and not yet taken on, or led by our bid while
    /// nobody holds it. Once dispatched it counts in the worker's queue instead.
    pub(crate) fn counts(&self, me: &P) -> bool {
        if self.running {
            return !self.dispatched;
        }
        self.claimed.is_some()
            || (self.holder.is_none() && next_bidder(&self.bids, &self.failed).is_some_and(|(p, _)| p == *me))
    }

    /// Our claim stood: we hold the image from now on, and renew the claim while we do.
    /// `wait_ms`: what the other nodes' deadline for us is based on.
    pub(crate) fn hold(&mut self, wait_ms: u32, now_ms: u64, slack_ms: u64) {
        self.running = true;
        self.renew_at = Some(now_ms + renew_after(wait_ms, slack_ms));
    }

    /// The earliest time `step` could act without a new message: a renewal, the window's end,
    /// the confirm period's end, the holder's deadline, or escalation (later still while a
    /// late holder or candidate gets overtime, or a window grew: the caller looks again).
    /// `None`: nothing to do until a message comes.
    pub(crate) fn next_check(&self, cfg: &SchedConfig) -> Option<u64> {
        if self.running {
            return self.renew_at;
        }
        if !self.closed {
            return Some(self.opened_ms + cfg.bid_window_ms);
        }
        if let Some((run_at, _)) = self.claimed {
            return Some(run_at);
        }
        if let Some((_, deadline)) = &self.holder {
            return Some(*deadline);
        }
        if self.standby {
            return Some(escalate_at(self.opened_ms, cfg, self.newcomer));
        }
        Some(self.opened_ms)
    }

    /// Our own bid (0 when we have none).
    fn my_bid(&self, me: &P) -> u32 {
        self.bids.get(me).copied().unwrap_or(0)
    }

    /// Every expected bid is in.
    pub(crate) fn complete(&self) -> bool {
        self.expected.as_ref().is_some_and(|e| e.iter().all(|p| self.bids.contains_key(p)))
    }

    /// The auction at `now_ms`: close the window when the time is up or every expected bid is
    /// in, claim (and run, after the confirm period) when we are next in line, hand the image
    /// over when its holder is late.
    pub(crate) fn step<I: Clone>(
        &mut self,
        me: &P,
        cfg: &SchedConfig,
        image: &I,
        now_ms: u64,
        live: &BTreeSet<P>,
    ) -> Stepped<I> {
        let mut out = Stepped { actions: Vec::new(), due: None, closed: None, escalated: false };
        if self.running {
            // Still ours and not finished: a slow holder renews its claim before the other
            // nodes' deadline for it passes, so they wait instead of taking it over.
            if let Some(t) = self.renew_at
                && now_ms >= t
            {
                let wait_ms = self.my_bid(me);
                self.hold(wait_ms, now_ms, cfg.result_slack_ms);
                out.actions.push(Action::Reassert { image: image.clone(), wait_ms, renew: true });
            }
            return out;
        }
        let complete = self.complete();
        // Once closed, a window stays closed (its timeout can grow later, see `lateness`).
        if !self.closed && now_ms < self.opened_ms + cfg.bid_window_ms && !complete {
            return out;
        }
        if !self.closed {
            self.closed = true;
            out.closed = Some(complete);
        }
        if let Some((run_at, takeover)) = self.claimed {
            if now_ms >= run_at {
                self.claimed = None;
                self.taken_ms = now_ms;
                self.hold(self.my_bid(me), now_ms, cfg.result_slack_ms);
                out.actions.push(Action::Run { image: image.clone(), takeover });
            }
            return out;
        }
        if let Some((holder, deadline)) = &self.holder {
            // Sabotage (a test build only): a holder that misses its deadline keeps the image.
            if now_ms < *deadline + overtime(holder, live, cfg) || cfg!(feature = "sabotage-no-takeover") {
                return out;
            }
            self.failed.push(holder.clone());
            self.holder = None;
        }
        let takeover = !self.failed.is_empty();
        if next_bidder(&self.bids, &self.failed).is_none() {
            if self.standby {
                // Candidates that have not bid yet may only be late; one we still hear from
                // is, and gets the overtime a late holder gets.
                if self.failed.is_empty() {
                    let overtime = self.expected.iter().flatten().map(|p| overtime(p, live, cfg)).max();
                    if now_ms < escalate_at(self.opened_ms, cfg, self.newcomer) + overtime.unwrap_or(0) {
                        return out;
                    }
                }
                // No candidate is left (none bid, or every bidder missed its deadline): the
                // auction escalates to every node that runs the model, with a window of its own.
                // It closes by its timeout only and its winner waits the full confirm period:
                // a late candidate's claim may still come, and beats a standby node's.
                self.standby = false;
                self.expected = None;
                self.opened_ms = now_ms;
                self.closed = false;
                out.escalated = true;
                if !self.bids.contains_key(me) {
                    self.bids.insert(me.clone(), self.mine);
                    out.actions.push(Action::Bid { image: image.clone(), wait_ms: self.mine });
                }
                return out;
            }
            // Every bidder missed its deadline: start the rotation again rather than leave the
            // image unprocessed while someone is alive.
            self.failed.clear();
        }
        let Some((next, wait_ms)) = next_bidder(&self.bids, &self.failed) else {
            return out;
        };
        if next == *me {
            self.partial = !complete || takeover;
            out.actions.push(Action::Claim { image: image.clone(), takeover, wait_ms });
            // Every expected bid is in and ours is the best: only a claim already on its way can
            // beat it, so the confirm period is a network delay, not a missed bid.
            // A takeover waits as long as a first winner has to claim: a holder that is only
            // slow (an overloaded machine, a queue of messages) answers our takeover claim by
            // claiming again, and we yield instead of running it a second time. Its deadline
            // passed seconds ago; the grace costs the image little.
            let confirm = match (complete, takeover) {
                (_, true) => cfg.claim_confirm_ms.max(cfg.claim_grace_ms),
                (true, false) => cfg.complete_confirm_ms,
                (false, false) => cfg.claim_confirm_ms,
            };
            if confirm == 0 {
                self.taken_ms = now_ms;
                self.hold(wait_ms, now_ms, cfg.result_slack_ms);
                out.actions.push(Action::Run { image: image.clone(), takeover });
            } else {
                self.claimed = Some((now_ms + confirm, takeover));
                out.due = Some(now_ms + confirm);
            }
        } else {
            // The first winner gets the claim grace; anyone after a failure is already late.
            let grace = if takeover { 0 } else { cfg.claim_grace_ms };
            let deadline = now_ms + grace + allowance(wait_ms, cfg.result_slack_ms);
            self.set_holder(next, deadline, now_ms);
        }
        out
    }
}

/// How long a holder that estimated `wait_ms` has to deliver: its estimate, half of it again,
/// and the fixed slack. Estimates made under load run long (other processes take the CPU,
/// audits join the queue), and a takeover of a slow but live holder is duplicate work, while
/// a dead holder's images are retaken half an estimate later than with a fixed slack alone.
pub(crate) fn allowance(wait_ms: u32, slack_ms: u64) -> u64 {
    let wait = u64::from(wait_ms);
    wait + wait / 2 + slack_ms
}

/// How long past its deadline a holder is still waited for: twice the slack when we still hear
/// from it (connected, and heartbeating within the liveness window), none otherwise. Under
/// overload a holder's renewals run late like every message, and a takeover then is duplicate
/// work; its heartbeats keep it live for seconds longer. A holder that crashed closes its
/// connections, and one that stopped or is cut off stops being live after the liveness window.
fn overtime<P: Ord>(holder: &P, live: &BTreeSet<P>, cfg: &SchedConfig) -> u64 {
    if live.contains(holder) { 2 * cfg.result_slack_ms } else { 0 }
}

/// How long after taking an image on (or renewing) a holder renews its claim: half of the
/// other nodes' allowance for its bid, so a renewal delayed by an overloaded machine or network
/// still arrives before they give up on the holder.
pub(crate) fn renew_after(wait_ms: u32, slack_ms: u64) -> u64 {
    allowance(wait_ms, slack_ms) / 2
}

/// When standby nodes bid for an image none of whose candidates has bid: as late as a first
/// winner that bid 0 ms would be taken over (and, while a candidate is live to us, its
/// overtime later still). Candidates that are only late (a busy machine, a flood of
/// announcements) then still win it, and escalation stays for candidates that are gone (their
/// connections not closed yet) or on the other side of a partition. Under overload an early
/// escalation feeds itself: every standby node's bid is more gossip for the late candidates.
/// A newcomer (see `Entrants::newcomer`) waits one window only: no bid at all by then means
/// no settled node is bidding.
pub(crate) fn escalate_at(opened_ms: u64, cfg: &SchedConfig, newcomer: bool) -> u64 {
    let late = if newcomer { 0 } else { cfg.claim_grace_ms + allowance(0, cfg.result_slack_ms) };
    opened_ms + cfg.bid_window_ms + late
}

/// The best bidder that has not failed: lowest wait, then lowest id.
pub(crate) fn next_bidder<P: Clone + Ord>(bids: &BTreeMap<P, u32>, failed: &[P]) -> Option<(P, u32)> {
    bids.iter()
        .filter(|(p, _)| !failed.contains(p))
        .min_by(|a, b| a.1.cmp(b.1).then_with(|| a.0.cmp(b.0)))
        .map(|(p, w)| (p.clone(), *w))
}

//! The scheduler's side of work stealing: which peer holds the most images we could run, and
//! handing an image that waits in our backlog to another node (see `steal` in the state).

use std::collections::BTreeMap;
use std::hash::Hash;

use super::{Action, Scheduler};
use crate::auction::allowance;

/// How long an image we took on after a partial view waits behind settled work at most (see
/// `Scheduler::settled`).
pub const UNSETTLED_MS: u64 = 5_000;

impl<I, P> Scheduler<I, P>
where
    I: Clone + Ord + Hash,
    P: Clone + Ord,
{
    /// The peer (one `eligible` accepts) that holds the most open images in our view, with
    /// how many and one of them. A walk over the open auctions: called by an idle node only.
    pub fn busiest_holder(&self, eligible: impl Fn(&P) -> bool) -> Option<(P, usize, I)> {
        let mut held: BTreeMap<&P, (usize, &I)> = BTreeMap::new();
        for (image, open) in &self.open {
            if let (false, None, Some((p, _))) = (open.running, open.claimed, &open.holder)
                && *p != self.me
                && eligible(p)
            {
                held.entry(p).or_insert((0, image)).0 += 1;
            }
        }
        let (p, (n, image)) = held.into_iter().max_by_key(|(_, (n, _))| *n)?;
        Some((p.clone(), n, image.clone()))
    }

    /// The nodes that held the image before and missed their deadline (they may have fetched
    /// its bytes), in the order they failed.
    pub fn past_holders(&self, image: &I) -> Vec<P> {
        self.open.get(image).map(|o| o.failed.clone()).unwrap_or_default()
    }

    /// True when we hold the image and it waits in our backlog: it may still be handed off.
    pub fn holds_waiting(&self, image: &I) -> bool {
        self.open.get(image).is_some_and(|o| o.running && !o.dispatched)
    }

    /// We did not run for `ms` (see `State::resume_after`): every holder gets that much longer.
    pub fn extend_deadlines(&mut self, ms: u64) {
        for open in self.open.values_mut() {
            if let Some((_, deadline)) = open.holder.as_mut() {
                *deadline += ms;
            }
        }
    }

    /// We published our claim on a held image again with `wait_ms` (our bid, or a fresher and
    /// longer estimate of our queue): the other nodes' deadline for us follows what they
    /// received, and so does our next renewal. Renewing at half of our first bid's allowance
    /// instead sent a claim per held image every second or two however long the queue was:
    /// under overload most gossip was renewals.
    pub fn claimed_again(&mut self, image: &I, wait_ms: u32, now_ms: u64) {
        if let Some(open) = self.open.get_mut(image)
            && open.running
        {
            open.hold(wait_ms, now_ms, self.cfg.result_slack_ms);
        }
    }

    /// True when we hold the image, it waits in our backlog, and our claim has stood for a
    /// confirm period: a better claim that crossed ours has come by then. Handing off an image
    /// taken on a moment ago gave it to a thief while the better claimant ran it too (2 of 3
    /// duplicates in a burst of 160 images over 8 nodes).
    pub fn holds_settled(&self, image: &I, now_ms: u64) -> bool {
        self.open
            .get(image)
            .is_some_and(|o| o.running && !o.dispatched && now_ms >= o.taken_ms + self.cfg.claim_confirm_ms)
    }

    /// Whether an image we hold may go to inference ahead of others: our claim was made on a
    /// complete view of the bids, the missing bids have come since, or `UNSETTLED_MS` passed
    /// since we took it on. A claim made on a partial view may have crossed a better one that
    /// is still on its way; on an overloaded network that takes seconds, and an image run at
    /// once was run twice (61 of 63 duplicates in a 12-node overload were such crossings).
    /// The backlog runs settled images first and the others only when nothing else is left
    /// (see `State::pump`), so waiting costs no throughput.
    pub fn settled(&self, image: &I, now_ms: u64) -> bool {
        self.open.get(image).is_none_or(|o| {
            !o.partial || (o.complete() && o.failed.is_empty()) || now_ms >= o.taken_ms + UNSETTLED_MS
        })
    }

    /// Gives an image that waits in our backlog to `to`, which has `wait_ms` to deliver it.
    /// False when it is not ours to give (started, or no longer open).
    pub fn hand_off(&mut self, image: &I, to: P, wait_ms: u32, now_ms: u64) -> bool {
        self.update(image, |open, cfg| {
            if !open.running || open.dispatched {
                return false;
            }
            open.running = false;
            open.set_holder(to, now_ms + allowance(wait_ms, cfg.result_slack_ms), now_ms);
            true
        })
        .unwrap_or(false)
    }

    /// Our own inference of the image failed or was abandoned (its bytes cannot be had here,
    /// the worker refused it): the next bidder that has not failed it becomes its holder, and
    /// is returned with its bid so that it can be told (a `Handoff`) instead of waiting out our
    /// deadline. None when no other bidder is left (the rotation starts again at the next step).
    pub fn on_local_failure(&mut self, image: &I, now_ms: u64) -> Option<(P, u32)> {
        let me = self.me.clone();
        self.update(image, |open, cfg| {
            open.running = false;
            open.dispatched = false;
            open.claimed = None;
            open.failed.push(me);
            open.holder = None;
            let (next, wait_ms) = crate::auction::next_bidder(&open.bids, &open.failed)?;
            open.set_holder(next.clone(), now_ms + allowance(wait_ms, cfg.result_slack_ms), now_ms);
            Some((next, wait_ms))
        })
        .flatten()
    }

    /// Per peer that renewed its claim twice to an image it holds in our view (ourselves excluded):
    /// since when it has held the one it has held longest (see `reputation`). A holder that
    /// does not renew is taken over at its deadline; one whose work fails (an undecodable
    /// image) stops renewing. A walk over the open auctions: once per heartbeat.
    pub fn holds(&self) -> BTreeMap<P, u64> {
        let mut out: BTreeMap<P, u64> = BTreeMap::new();
        for open in self.open.values() {
            if let Some((p, _)) = &open.holder
                && *p != self.me
                && open.holder_claims >= 3
            {
                let since = out.entry(p.clone()).or_insert(open.held_since);
                *since = (*since).min(open.held_since);
            }
        }
        out
    }

    /// A banned peer leaves every auction: its bids, its place in the expected bidders and its
    /// hold are gone, so the next step of each hands the image to the next bidder. A walk over
    /// the open auctions, for a ban only.
    pub fn forget(&mut self, peer: &P) {
        let images: Vec<I> = self.open.keys().cloned().collect();
        for image in images {
            self.update(&image, |open, _| {
                open.bids.remove(peer);
                if let Some(expected) = open.expected.as_mut() {
                    expected.retain(|p| p != peer);
                }
                if open.holder.as_ref().is_some_and(|(p, _)| p == peer) {
                    open.holder = None;
                }
            });
        }
        for bids in self.early.values_mut() {
            bids.retain(|(p, _)| p != peer);
        }
    }

    /// `from` handed the image to `to`: `to` becomes its holder; when that is us, we take it
    /// on (`Run`). An image we run ourselves is kept (two nodes then think they hold it; the
    /// results vote as for any duplicate). `from` will not run it: should `to` fail it too,
    /// the rotation passes `from` by, as a holder that missed its deadline.
    pub fn on_handoff(&mut self, image: &I, from: P, to: P, wait_ms: u32, now_ms: u64) -> Option<Action<I>> {
        let me = self.me.clone();
        self.update(image, |open, cfg| {
            if open.running {
                return None;
            }
            if !open.failed.contains(&from) {
                open.failed.push(from);
            }
            open.claimed = None;
            if to == me {
                open.holder = None;
                open.hold(wait_ms, now_ms, cfg.result_slack_ms);
                open.dispatched = false;
                return Some(Action::Run { image: image.clone(), takeover: false });
            }
            open.set_holder(to, now_ms + allowance(wait_ms, cfg.result_slack_ms), now_ms);
            None
        })
        .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fake-clock tests' timings: window 200 ms, slack 1,000 ms, confirm 50 ms (0 when
    /// every bid is in).
    fn sched(me: u8) -> Scheduler<u32, u8> {
        Scheduler::new(me, super::super::tests::cfg())
    }

    /// We (node 0) missed node 1's bid and first claim, won image 3 on a timed-out window with
    /// bid 50, and hold it; then node 1's renewal comes, its wait raised to a long queue.
    fn renewal_from_a_missed_claimant(their_bid: u32) -> Scheduler<u32, u8> {
        let mut s = sched(0);
        s.on_announce(3, 50, Some(&[1]), 0);
        assert_eq!(s.tick(200), vec![Action::Claim { image: 3, takeover: false, wait_ms: 50 }]);
        assert_eq!(s.tick(250), vec![Action::Run { image: 3, takeover: false }]);
        assert!(s.holds_waiting(&3));
        assert!(s.on_claim(&3, 1, their_bid, 5_000, false, 400).is_none());
        s
    }

    #[test]
    fn a_renewal_is_compared_by_the_bid_it_carries_not_its_raised_wait() {
        let mut better = renewal_from_a_missed_claimant(20);
        assert!(!better.holds_waiting(&3), "their bid 20 beats our 50: we yield");
        assert!(!better.dispatch(&3));
        let mut worse = renewal_from_a_missed_claimant(80);
        assert!(worse.holds_waiting(&3), "our bid 50 beats their 80: we keep it");
        assert!(worse.dispatch(&3));
    }

    /// Node 1's view of image 1 won by node 0 (bids: 0 -> 10 ms, 1 -> 50 ms), claimed at 1 ms.
    fn thief() -> Scheduler<u32, u8> {
        let mut thief = sched(1);
        thief.on_announce(1, 50, Some(&[0]), 0);
        thief.on_bid(&1, 0, 10, 0);
        thief.on_claim(&1, 0, 10, 10, false, 1);
        thief
    }

    #[test]
    fn a_forgotten_holder_leaves_the_auction_and_the_next_bidder_claims_at_once() {
        let mut s = thief();
        assert!(s.tick(500).is_empty(), "node 0 holds it until its deadline");
        s.forget(&0);
        let claimed = s.tick(501);
        // Every expected bid was in (the test config confirms those at once): claim and run.
        let expected = [
            Action::Claim { image: 1, takeover: false, wait_ms: 50 },
            Action::Run { image: 1, takeover: false },
        ];
        assert_eq!(claimed, expected);
    }

    /// Node 0 wins image 1 (bids: 0 -> 10 ms, 1 -> 50 ms) and takes it on at once.
    fn won_by_zero() -> Scheduler<u32, u8> {
        let mut s = sched(0);
        s.on_announce(1, 10, Some(&[1]), 0);
        let a = s.on_bid(&1, 1, 50, 0);
        assert_eq!(a.last(), Some(&Action::Run { image: 1, takeover: false }));
        s
    }

    #[test]
    fn a_waiting_image_is_handed_off_and_comes_back_when_the_thief_goes_silent() {
        let mut s = won_by_zero();
        assert!(s.holds_waiting(&1));
        assert_eq!(s.committed(), 1, "waiting in our backlog");
        assert!(s.hand_off(&1, 1, 100, 5));
        assert_eq!(s.committed(), 0);
        assert!(!s.dispatch(&1), "the backlog skips a handed-off image");
        assert_eq!(s.busiest_holder(|_| true), Some((1, 1, 1)));
        // Node 1's deadline: 5 + 100 + 50 + 1,000 = 1,155 ms. Then the image is ours again.
        assert!(s.tick(1_154).is_empty());
        assert_eq!(s.tick(1_155), vec![Action::Claim { image: 1, takeover: true, wait_ms: 10 }]);
    }

    #[test]
    fn a_holder_renews_its_claim_at_half_the_allowance_until_the_result() {
        let mut s = won_by_zero();
        assert!(s.dispatch(&1), "renewed in inference too");
        // Others allow node 0 10 + 5 + 1,000 ms from its claim at 0: it renews at half of that.
        assert!(s.tick(506).is_empty());
        let renew = vec![Action::Reassert { image: 1, wait_ms: 10, renew: true }];
        assert_eq!(s.tick(507), renew);
        assert!(s.tick(1_013).is_empty());
        assert_eq!(s.tick(1_014), renew);
        s.on_result(&1);
        assert!(s.tick(5_000).is_empty(), "a finished image is not renewed");
    }

    #[test]
    fn a_handed_image_is_renewed_against_the_handoff_wait() {
        let mut thief = thief();
        assert_eq!(thief.on_handoff(&1, 0, 1, 100, 5), Some(Action::Run { image: 1, takeover: false }));
        // (100 + 50 + 1,000) / 2 = 575 ms after the handoff.
        assert!(thief.tick(579).is_empty());
        assert_eq!(thief.tick(580), vec![Action::Reassert { image: 1, wait_ms: 50, renew: true }]);
    }

    #[test]
    fn a_dispatched_image_stays() {
        let mut s = won_by_zero();
        assert!(s.dispatch(&1));
        assert!(!s.holds_waiting(&1));
        assert!(!s.hand_off(&1, 1, 100, 5));
        assert_eq!(s.busiest_holder(|_| true), None);
    }

    #[test]
    fn the_thief_takes_a_handed_image_on_and_a_third_node_follows() {
        let mut thief = thief();
        assert_eq!(thief.busiest_holder(|_| true), Some((0, 1, 1)));
        assert_eq!(thief.on_handoff(&1, 0, 1, 100, 5), Some(Action::Run { image: 1, takeover: false }));
        assert_eq!(thief.committed(), 1);
        assert!(thief.dispatch(&1));

        let mut third = sched(2);
        third.on_announce(1, 90, Some(&[0, 1]), 0);
        third.on_bid(&1, 0, 10, 0);
        third.on_bid(&1, 1, 50, 0);
        third.on_claim(&1, 0, 10, 10, false, 1);
        assert_eq!(third.on_handoff(&1, 0, 1, 100, 5), None);
        assert_eq!(third.busiest_holder(|_| true), Some((1, 1, 1)), "node 1 holds it now");
        // Node 1's deadline (1,155 ms), not node 0's, decides when the next bidder moves in.
        // Node 0 gave it away and node 1 missed its deadline: the next bidder is node 2.
        assert!(third.tick(1_154).is_empty());
        assert_eq!(third.tick(1_155), vec![Action::Claim { image: 1, takeover: true, wait_ms: 90 }]);
    }
}
